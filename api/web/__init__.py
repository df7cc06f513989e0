"""The officers' web application at `/`: sign-in, search, parcel card, map, extract (Vietnamese first).

Server-rendered Jinja pages with a little JavaScript (`static/web.js`) and MapLibre GL JS served
from `/static/vendor/`. Text lives in message catalogues (Flask-Babel): the templates and views
write Vietnamese, `translations/en` gives the English; the language is chosen per session.

Sign-in state is Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure whenever the
request came over HTTPS) holding the user id, the account's session epoch, the time of sign-in
and of the last request: `session.py` ends it after `LANDDB_WEB_IDLE_MINUTES` idle or
`LANDDB_WEB_MAX_HOURS` in all, or as soon as the account is disabled or its password reset. Only
this blueprint reads the cookie: the JSON API and the WFS still know only API keys, so a browser
session can never be used across origins against them. Every POST here carries a CSRF token
(Flask-WTF); one without gets 400.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from landdb.config import LOCAL_URL_FILE

from . import session as web_session
from .views import bp
from . import forms  # noqa: F401,E402  (the registration forms' routes, on the same blueprint)

csrf = CSRFProtect()
TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = ("vi", "en")


def _secret_key(settings) -> str:
    """`LANDDB_SECRET_KEY`, else one kept in `.landdb/secret_key` (made on first use), so every
    worker process of `make run` signs cookies with the same key."""
    key = settings.extra.get("secret_key")
    if key:
        return key
    path = LOCAL_URL_FILE.parent / "secret_key"
    if not path.is_file():
        # Written aside and linked into place: a worker never reads a half-written key, and when
        # several start at once the first link wins and the others read it.
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def init_app(app: Flask) -> None:
    """Configure sessions, CSRF and translations, and mount the application at `/`."""
    settings = app.config["LANDDB"]
    extra = settings.extra
    if not app.config.get("SECRET_KEY"):
        # Under test without a configured key: one per app, nothing written to disk.
        app.config["SECRET_KEY"] = (secrets.token_urlsafe(32) if app.testing and not extra.get("secret_key")
                                    else _secret_key(settings))
    app.config.update(
        SESSION_COOKIE_NAME="landdb_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=float(extra.get("web_max_hours", 8))),
        WEB_IDLE=dt.timedelta(minutes=float(extra.get("web_idle_minutes", 30))),
        WEB_SIGNIN_LIMIT=extra.get("web_signin_rate_limit", "20/minute"),
        # Only this blueprint checks tokens (the API takes API keys, not cookies).
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which expires itself
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )
    app.session_interface = web_session.CookieSessions()
    csrf.init_app(app)
    Babel(app, locale_selector=web_session.locale)
    web_session.init_app(app)
    app.register_blueprint(bp)
