"""The Flask application: a thin HTTP layer over the `landdb` core."""

from __future__ import annotations

from flask import Flask

from landdb.config import Settings


def create_app(settings: Settings | None = None, *, testing: bool = False, sessionmaker=None) -> Flask:
    """Build the app. Tests pass explicit settings (and may bind sessions to their own
    connection); production reads the environment."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["LANDDB"] = settings
    app.config["TESTING"] = testing
    if sessionmaker is not None:
        app.config["LANDDB_SESSIONMAKER"] = sessionmaker
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from . import auth, db, errors, guards, health, logs, metrics

    logs.init_app(app)
    metrics.init_app(app)
    db.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    guards.init_app(app)
    app.register_blueprint(health.bp)
    from . import wfs

    wfs.init_app(app)
    from .ogc import bp as ogc_bp

    app.register_blueprint(ogc_bp)

    from . import rest

    rest.init_app(app)
    from .rest import transactions

    transactions.init_app(app)
    from . import web

    web.init_app(app)
    from .tiles import bp as tiles_bp

    app.register_blueprint(tiles_bp)
    # The tiles are part of the same OGC API: their links and conformance classes join its documents.
    from . import ogc, tiles

    ogc.extend(app, landing_links=tiles.landing_links, collection_links=tiles.collection_links,
               conformance=tiles.CONFORMANCE, openapi=tiles.openapi.fragment)
    return app
