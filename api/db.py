"""A database session per request, from the process-wide engine."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from landdb.db import get_engine, make_sessionmaker


def init_app(app: Flask) -> None:
    settings = app.config["LANDDB"]
    if "LANDDB_SESSIONMAKER" not in app.config:
        app.config["LANDDB_SESSIONMAKER"] = make_sessionmaker(
            get_engine(settings), autocommit_engine=get_engine(settings, autocommit=True))
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The request's session; a read-only view never needs to commit it."""
    if "db_session" not in g:
        g.db_session = current_app.config["LANDDB_SESSIONMAKER"]()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
