"""A database session per request, routed by the request: reads to the replica, writes to the primary.

With `READ_DATABASE_URL` set, every request that only reads — GET and HEAD anywhere, and the
POSTs that only read (WFS, OGC API, `POST /api/v1/parcels/query`) — gets sessions on the
replica's pools; every other request (registrations, sign-in, anything new) gets the primary's.
The decision is taken once per request, before authentication, and holds for every session the
request opens: `get_session()` and `current_app.config["LANDDB_SESSIONMAKER"]()` alike, so it
holds whatever the read code does with them.

Read-your-writes: an answer whose request committed on the primary carries `Consistency-Token`
(a WAL position at or past its commit), also as a cookie valid for a minute (browsers). A later
request sending it back (the header, else the cookie) is served by the replica once the replica
has replayed that far (waiting at most `LANDDB_REPLICA_WAIT_MS`), else by the primary. A replica that does not answer is left alone for `LANDDB_REPLICA_RETRY_MS`
(reads go to the primary, logged and counted); a read that fails because the replica went away
under it is run again on the primary. A database that does not answer gives 503 with
`Retry-After`.

Views that must write while answering a read (the personal-data access log) use
`get_primary_session()`.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from landdb import db as core_db
from landdb import metrics
from landdb.config import Settings

log = logging.getLogger(__name__)

TOKEN_HEADER = "Consistency-Token"
#: the same token as a short-lived cookie, for browsers: the page a form's POST redirects to
#: (the web application's registrations) reads its own write without any script.
TOKEN_COOKIE = "landdb_consistency"
TOKEN_COOKIE_SECONDS = 60
#: POSTs that only read: WFS and OGC API requests in XML/JSON bodies, the REST query by geometry.
READ_ONLY_POSTS = re.compile(r"^/(?:wfs|ogc)(?:/|$)|^/api/v1/parcels/query/?$")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: seconds a client should wait before retrying when a database does not answer.
RETRY_AFTER_S = 5


class Databases:
    """The app's databases: sessionmakers for the primary and (when configured) the replica,
    the primary's autocommit engine (for commit positions and health) and the replica's state."""

    def __init__(self, settings: Settings, primary: sessionmaker | None = None):
        self.primary_engine = core_db.get_engine(settings, autocommit=True)
        self.primary = primary or core_db.make_sessionmaker(core_db.get_engine(settings),
                                                            autocommit_engine=self.primary_engine)
        self.replica_engine = None
        self.replica: sessionmaker | None = None
        self.state: core_db.Replica | None = None
        # Tests bind sessions to their own connection: then everything stays on it.
        if settings.read_database_url and primary is None:
            self.replica_engine = core_db.get_engine(settings, read_only=True, autocommit=True)
            self.replica = core_db.make_sessionmaker(core_db.get_engine(settings, read_only=True),
                                                     autocommit_engine=self.replica_engine)
            self.state = core_db.Replica(self.replica_engine, probe_s=settings.replica_probe_ms / 1000,
                                         retry_s=settings.replica_retry_ms / 1000)
        self.wait_s = settings.replica_wait_ms / 1000
        event.listen(self.primary, "after_commit", _committed)


class RoutedSessionmaker:
    """Called like a sessionmaker: a new session on the database the current request is routed
    to (the primary outside a request)."""

    def __init__(self, databases: Databases):
        self.databases = databases

    def __call__(self, **kwargs) -> Session:
        dbs = self.databases
        if dbs.replica is not None and has_request_context() and route() == "replica":
            return dbs.replica(**kwargs)
        return dbs.primary(**kwargs)


def databases() -> Databases:
    return current_app.extensions["landdb_databases"]


def init_app(app: Flask) -> None:
    settings = app.config["LANDDB"]
    dbs = Databases(settings, app.config.get("LANDDB_SESSIONMAKER"))
    app.extensions["landdb_databases"] = dbs
    app.config["LANDDB_SESSIONMAKER"] = RoutedSessionmaker(dbs)
    app.before_request(_route_request)
    app.after_request(_answer_headers)
    app.teardown_appcontext(_close_session)
    _run_reads_again_on_the_primary(app)


# --- for views ------------------------------------------------------------------------------------


def get_session() -> Session:
    """The request's session, on the database the request is routed to."""
    if "db_session" not in g:
        g.db_session = current_app.config["LANDDB_SESSIONMAKER"]()
    return g.db_session


def get_primary_session() -> Session:
    """A session on the primary for this request, also when its reads go to the replica: for
    the writes a read makes (the personal-data access log). The request's own session when the
    request is routed to the primary."""
    if route() != "replica":
        return get_session()
    if "db_primary_session" not in g:
        g.db_primary_session = databases().primary()
    return g.db_primary_session


def route() -> str:
    """`primary` or `replica`: where this request's sessions go."""
    return g.get("db_route") or "primary"


def is_read_only() -> bool:
    """Does this request only read? GET/HEAD/OPTIONS, and the POSTs in READ_ONLY_POSTS."""
    return request.method in _READ_METHODS or (request.method == "POST" and bool(READ_ONLY_POSTS.match(request.path)))


# --- hooks ------------------------------------------------------------------------------------------


def _route_request() -> Response | None:
    """Decide where this request's sessions go (see the module docstring); 400 for a malformed token."""
    dbs = databases()
    token = request.headers.get(TOKEN_HEADER)
    lsn = None
    if token is not None:
        try:
            lsn = core_db.parse_lsn(token.strip())
        except ValueError:
            from .errors import problem

            return problem(400, f"{TOKEN_HEADER} must be a token from an earlier answer, like 0/16B3748",
                           code="invalid_input", field=TOKEN_HEADER)
    elif TOKEN_COOKIE in request.cookies:
        try:
            lsn = core_db.parse_lsn(request.cookies[TOKEN_COOKIE])
        except ValueError:
            pass  # a stale or mangled cookie: read without it
    if not is_read_only():
        g.db_route, reason = "primary", "write"
    elif dbs.state is None:
        g.db_route, reason = "primary", "no_replica"
    elif not dbs.state.usable():
        g.db_route, reason = "primary", "replica_down"
    elif lsn is not None:
        g.db_route, reason = _route_token(dbs, lsn)
    else:
        g.db_route, reason = "replica", "read"
    metrics.ROUTED.labels(g.db_route, reason).inc()
    return None


def _route_token(dbs: Databases, lsn: int) -> tuple[str, str]:
    started = time.perf_counter()
    try:
        caught_up = dbs.state.has_replayed(lsn, dbs.wait_s)
    except DBAPIError as err:
        dbs.state.mark_down(f"consistency-token check: {err.orig.__class__.__name__}")
        return "primary", "replica_down"
    finally:
        metrics.TOKEN_WAIT.observe(time.perf_counter() - started)
    return ("replica", "read") if caught_up else ("primary", "token_wait")


def _committed(session: Session) -> None:
    if has_request_context():
        g.db_committed = True


def _answer_headers(resp: Response) -> Response:
    """The consistency token on answers to requests that committed on the primary; Retry-After
    on 503s (a database not answering)."""
    if g.get("db_committed") and not is_read_only() and resp.status_code < 400:
        try:
            token = core_db.format_lsn(core_db.commit_lsn(databases().primary_engine))
            resp.headers[TOKEN_HEADER] = token
            resp.set_cookie(TOKEN_COOKIE, token, max_age=TOKEN_COOKIE_SECONDS, httponly=True, samesite="Lax",
                            secure=request.is_secure)
        except DBAPIError as exc:  # committed, but the primary went away since: no token
            log.warning("no consistency token: %s", exc.__class__.__name__)
    if resp.status_code == 503 and "Retry-After" not in resp.headers:
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


def _close_session(exc: BaseException | None) -> None:
    for name in ("db_session", "db_primary_session"):
        session = g.pop(name, None)
        if session is not None:
            session.close()


# --- replica failures -------------------------------------------------------------------------------


def _unreachable(err: DBAPIError) -> bool:
    """Did the statement fail because its server went away (not because of the statement)?"""
    if not isinstance(err, (OperationalError, InterfaceError)):
        return False
    code = getattr(err.orig, "pgcode", None)
    return err.connection_invalidated or code is None or code.startswith("08") or code in ("57P01", "57P02", "57P03")


def _run_reads_again_on_the_primary(app: Flask) -> None:
    """A read whose replica went away under it runs once more, on the primary (its view had not
    answered yet, so nothing was sent; it wrote nothing, so running it again is safe)."""
    dispatch = app.dispatch_request

    def dispatch_request():
        try:
            return dispatch()
        except DBAPIError as err:
            dbs = databases()
            if route() != "replica" or dbs.state is None:
                raise
            if getattr(err.orig, "pgcode", None) == "40001":
                # cancelled by a conflict with recovery (the primary vacuumed rows this read
                # needed): the replica is fine, this read runs on the primary instead
                metrics.ROUTED.labels("primary", "replica_conflict").inc()
            elif _unreachable(err):
                dbs.state.mark_down(f"{err.orig.__class__.__name__} during {request.method} {request.path}")
                metrics.ROUTED.labels("primary", "replica_down").inc()
            else:
                raise
            _close_session(None)
            g.db_route = "primary"
            return dispatch()

    app.dispatch_request = dispatch_request
