"""Who is signed in to the web application: the session cookie, its expiry, CSRF, the language.

The cookie (Flask's signed session) holds `uid`, `epoch` (the account's session epoch),
`since` (sign-in time) and `seen` (last request), both Unix seconds, and the language. Each
request of the web blueprint checks the account in the database (one primary-key read), so a
disabled account or a reset password ends its sessions at once, on every process.
"""

from __future__ import annotations

import time

from flask import Flask, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.db import get_session
from landdb import users

#: `seen` is rewritten (and the cookie re-sent) at most this often.
_TOUCH_EVERY_S = 60


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with `Secure` set whenever the request came over HTTPS
    (directly or, with LANDDB_PROXY_COUNT, through a proxy's X-Forwarded-Proto)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (has_request_context() and request.is_secure))


def locale() -> str:
    """The session's language: Vietnamese unless English was chosen."""
    if has_request_context() and session.get("lang") == "en":
        return "en"
    return "vi"


def current_user() -> users.SignedIn | None:
    return g.get("web_user")


def sign_in(user: users.SignedIn) -> None:
    """Start a fresh session for `user` (a new CSRF token too: no fixation)."""
    lang = session.get("lang")
    session.clear()
    now = int(time.time())
    session.update(uid=user.user_id, epoch=user.session_epoch, since=now, seen=now)
    if lang:
        session["lang"] = lang
    session.permanent = True
    generate_csrf()


def sign_out() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def _load_user() -> None:
    """Before each web request: end an expired or outdated session, else make the user the
    request's principal (for the access log and the scopes)."""
    g.web_user = None
    uid = session.get("uid")
    if uid is None:
        return
    now = int(time.time())
    idle = current_app.config["WEB_IDLE"].total_seconds()
    total = current_app.permanent_session_lifetime.total_seconds()
    user = None
    if now - session.get("seen", 0) <= idle and now - session.get("since", 0) <= total:
        user = users.active_user(get_session(), int(uid), int(session.get("epoch", -1)))
    if user is None:
        sign_out()
        g.session_ended = True
        return
    if now - session.get("seen", 0) >= _TOUCH_EVERY_S:
        session["seen"] = now
    g.web_user = user
    g.principal = users.principal(user)


class SignInLimiter:
    """Sign-in attempts per client address (`LANDDB_WEB_SIGNIN_RATE_LIMIT`, '20/minute'), in the
    same counter storage as the API's rate limits; the per-account lock is in landdb.users."""

    def __init__(self, app: Flask):
        value = app.config["WEB_SIGNIN_LIMIT"].strip()
        self.item = parse(value) if value else None
        settings = app.config["LANDDB"]
        self.strategy = MovingWindowRateLimiter(storage_from_string(settings.ratelimit_storage_uri or "memory://"))

    def allow(self, addr: str | None) -> bool:
        return self.item is None or self.strategy.hit(self.item, "landdb-signin", addr or "unknown")


def init_app(app: Flask) -> None:
    app.extensions["landdb_signin_limiter"] = SignInLimiter(app)


def signin_allowed() -> bool:
    return current_app.extensions["landdb_signin_limiter"].allow(request.remote_addr)
