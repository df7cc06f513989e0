"""Who is asking (Bearer API keys), what they may see, rate limits and CORS, for the whole app.

How a view uses it (for everyone writing endpoints):

    from landdb import auth as core_auth, parcels
    from api.auth import current_principal, require, record_personal_data_read

    @bp.get("/parcels/<code>/rights")
    @require(core_auth.RIGHTS_READ)          # 401 for the public (a key would help), 403 for a
    def parcel_rights(code):                 # key without the scope, as problem+json
        principal = current_principal()      # never None: the public principal without a key
        with_owners = core_auth.sees_personal_data(principal)   # owners:read
        read = parcels.parcel_rights(get_session(), code, personal=with_owners)
        if with_owners and read.party_ids:   # only when personal data is really in the response
            record_personal_data_read("GET /parcels/{code}/rights", [read.parcel_id], read.party_ids)
        return read.body

- Decide with `sees_personal_data(current_principal())` *before* building the SQL, so the query
  for the public never selects a name, ID number, birth year or personal address at all.
- `record_personal_data_read(endpoint, parcel_ids, party_ids)` takes `parcels.id` and
  `parties.id` integers (not codes), inserts one `personal_data_access_log` row for the request
  (key, role, client address, time) and COMMITS the request's session so the row survives
  though the request only reads. Call it after the personal data is fetched (the ids are known)
  and before returning; never while a server-side cursor of the same session is still being
  streamed (the commit would close it) and never in a view with uncommitted writes of its own.
  Use the route's pattern as `endpoint` (e.g. "GET /parties"), not the raw URL.
- Public paths need no decorator (`parcels:read` is public); `require(PARCELS_READ)` is harmless.
- `/healthz` and CORS preflights are neither authenticated nor rate-limited.
- `ensure(scope)` is the same check inside a view (raises Unauthorized / Forbidden, which
  api/errors renders as 401 with WWW-Authenticate / 403 problem+json).
- Rate limits are on by default (public: 120/minute per address; keys: 600/minute per key),
  in tests too: a test or fuzz run that sends more requests to one app builds it with
  `settings.with_(rate_limit="", rate_limit_public="")`, and a benchmark runs the server with
  `LANDDB_RATE_LIMIT_PUBLIC= LANDDB_RATE_LIMIT=` (empty switches a limit off). OpenAPI: 401,
  403 and 429 answers are problem+json; 429 carries `Retry-After`.

What the hooks do: `Authorization: Bearer <key>` is looked up by its SHA-256 on each request
(one indexed query, no cache, so a revoked key is refused from the next request on and every
process agrees — the app keeps no state between requests, so any number of processes or hosts
may serve it). No header: the public principal. A
malformed header or an unknown or revoked key: 401 problem+json with `WWW-Authenticate`, one
message for all, so nobody learns whether a key exists. Requests with a valid key are
rate-limited per key (`LANDDB_RATE_LIMIT`), all others per client address
(`LANDDB_RATE_LIMIT_PUBLIC`, bad keys included, which slows guessing); over the limit: 429
problem+json with `Retry-After`. Counters live in `LANDDB_RATELIMIT_STORAGE_URI`.
"""

from __future__ import annotations

import logging
import math
import time
from functools import wraps
from typing import Callable, Iterable

from flask import Flask, Response, current_app, g, has_request_context, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES
from werkzeug.middleware.proxy_fix import ProxyFix

from landdb import auth as core
from landdb.config import Settings
from landdb.errors import Forbidden, Unauthorized

from landdb import metrics

from .db import get_primary_session, get_session
from .errors import problem

log = logging.getLogger(__name__)

#: endpoints that answer whoever asks, without authentication or rate limits.
OPEN_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.scrape",
                            # the web application's own files (scripts, styles, MapLibre): a page
                            # load fetches several, and they are the same for everyone
                            "static", "web.static"})

#: response headers a browser script may read across origins.
EXPOSED_HEADERS = (
    "Link", "Location", "ETag", "Retry-After", "Content-Crs", "WWW-Authenticate",
    "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Consistency-Token", "X-Request-Id",
)
_ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_ALLOWED_HEADERS = ("Authorization, Content-Type, Accept, If-None-Match, If-Match, Idempotency-Key,"
                    " Consistency-Token, X-Request-Id")


# --- for views ----------------------------------------------------------------------------------


def current_principal() -> core.Principal:
    """The principal of the current request (the public one without a key or outside a request)."""
    if not has_request_context():
        return core.PUBLIC_PRINCIPAL
    return g.get("principal") or core.PUBLIC_PRINCIPAL


def require(scope: str) -> Callable:
    """Decorate a view so it runs only for principals holding `scope` (see `ensure`). Put it
    right under the route decorator."""
    if scope not in core.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            ensure(scope)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def ensure(scope: str) -> core.Principal:
    """The current principal if it holds `scope`; else raise Unauthorized (the public: a key
    would help; 401 with WWW-Authenticate) or Forbidden (a key without the scope; 403)."""
    principal = current_principal()
    if principal.can(scope):
        return principal
    if principal.is_public:
        raise Unauthorized(f"this needs an API key with the {scope} scope")
    raise Forbidden(f"this API key lacks the {scope} scope")


def record_personal_data_read(
    endpoint: str, parcel_ids: Iterable[int] = (), party_ids: Iterable[int] = ()
) -> None:
    """Log that this request's response carries personal data, and commit it (see the module
    docstring for when to call it). The row goes to the primary also when the request reads
    from the replica."""
    session = get_primary_session()
    core.log_personal_data_access(
        session, current_principal(), endpoint, parcel_ids, party_ids, request.remote_addr
    )
    session.commit()


# --- hooks ------------------------------------------------------------------------------------


#: Map and GIS clients (WFS, OGC API features and vector tiles) ask for many pieces per view
#: without a key: the WFS's larger per-address limit.
GIS_BLUEPRINTS = ("wfs", "ogc", "tiles")


def _is_open() -> bool:
    return request.endpoint in OPEN_ENDPOINTS


def _authenticate_and_limit() -> Response | None:
    """Find the principal, count the request, and refuse it when over the limit (429) or when it
    came with a bad key (401). A bad key counts against its address, which slows guessing."""
    g.principal = core.PUBLIC_PRINCIPAL
    if request.method == "OPTIONS" or _is_open():
        return None
    error = None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            error = "the Authorization header must be `Bearer <API key>`"
        else:
            try:
                g.principal = core.authenticate(get_session(), token.strip())
            except Unauthorized as exc:
                error = exc.message
    limits: RateLimits = current_app.extensions["landdb_rate_limits"]
    refusal = limits.check(g.principal, request.remote_addr, wfs=request.blueprint in GIS_BLUEPRINTS)
    if refusal is not None:
        return refusal
    if error is not None:
        resp = problem(401, error, code="unauthorized")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="landdb", error="invalid_token"'
        return resp
    return None


# --- rate limits ------------------------------------------------------------------------------
# The `limits` library's counters and strategies, called directly: one storage hit per request
# (~5 µs in memory) where flask-limiter's generic machinery cost ~100 µs, and the order
# "authenticate, then count by key or by address, then refuse a bad key" is stated in one hook.


class RateLimits:
    """Request counters per API key and per client address, in a `limits` storage."""

    def __init__(self, settings: Settings):
        self.per_key = _parse_limits(settings.rate_limit, "LANDDB_RATE_LIMIT")
        self.per_address = _parse_limits(settings.rate_limit_public, "LANDDB_RATE_LIMIT_PUBLIC")
        self.per_address_wfs = _parse_limits(settings.rate_limit_wfs, "LANDDB_RATE_LIMIT_WFS")
        self.strategy = None
        if self.per_key or self.per_address or self.per_address_wfs:
            name = settings.ratelimit_strategy or "moving-window"
            if name not in STRATEGIES:
                raise ValueError(f"LANDDB_RATELIMIT_STRATEGY must be one of {', '.join(STRATEGIES)}")
            store = storage_from_string(settings.ratelimit_storage_uri or "memory://")
            try:
                self.strategy = STRATEGIES[name](store)
            except NotImplementedError as exc:  # memcached has no moving window
                raise ValueError(
                    f"LANDDB_RATELIMIT_STRATEGY={name} is not available with this storage;"
                    " use fixed-window or sliding-window-counter"
                ) from exc
        self._last_warning = 0.0

    def check(self, principal: core.Principal, addr: str | None, wfs: bool = False) -> Response | None:
        """Count one request; the 429 problem when it is over a limit, else None. Remembers the
        tightest limit for the X-RateLimit-* headers. Keyless WFS requests have their own,
        larger, counter (`wfs`)."""
        if principal.is_public and wfs:
            items, ident = self.per_address_wfs, ("wfs-addr", addr or "unknown")
            what = "to the WFS / OGC API from this address without an API key"
        elif principal.is_public:
            items, ident = self.per_address, ("addr", addr or "unknown")
            what = "from this address without an API key"
        else:
            items, ident = self.per_key, ("key", str(principal.key_id))
            what = "for this API key"
        if not items or self.strategy is None:
            return None
        try:
            breached = next((i for i in items if not self.strategy.hit(i, "landdb", *ident)), None)
            shown = breached or min(items, key=lambda i: i.get_expiry())
            reset_at, remaining = self.strategy.get_window_stats(shown, "landdb", *ident)
        except StorageError as exc:  # an unreachable shared store must not take the API down
            if time.monotonic() - self._last_warning > 60:
                self._last_warning = time.monotonic()
                log.warning("rate-limit storage unavailable, not limiting: %s", exc)
            return None
        g.rate_limit = (shown.amount, max(0, remaining), int(reset_at))
        if breached is None:
            return None
        metrics.RATE_LIMITED.labels(ident[0]).inc()
        resp = problem(429, f"too many requests {what} (limit {breached}); retry later", code="rate_limited")
        resp.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
        return resp


def _parse_limits(value: str, setting: str) -> list[RateLimitItem]:
    value = (value or "").strip()
    if not value:
        return []
    try:
        return parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{setting}={value!r} is not a rate limit like '600/minute'") from exc


def _rate_limit_headers(resp: Response) -> Response:
    rate = g.get("rate_limit")
    if rate is not None:
        limit, remaining, reset_at = rate
        resp.headers["X-RateLimit-Limit"] = str(limit)
        resp.headers["X-RateLimit-Remaining"] = str(remaining)
        resp.headers["X-RateLimit-Reset"] = str(reset_at)  # Unix time the window frees up
    return resp


# --- CORS -------------------------------------------------------------------------------------
# A few lines of our own rather than flask-cors: the preflight must be answered before the
# authentication and rate-limit hooks run, and every answer (401 and 429 problems included)
# must carry the same headers; both are simplest stated here, next to those hooks.


def _allowed_origin(origins: frozenset[str]) -> str | None:
    origin = request.headers.get("Origin")
    if not origin or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/") in origins else None


def _cors_preflight() -> Response | None:
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    allowed = _allowed_origin(current_app.extensions["landdb_cors"])
    if allowed is None:
        return None  # not ours to allow: Flask's own OPTIONS answer carries no CORS headers
    resp = Response(status=204)
    del resp.headers["Content-Type"]
    resp.headers["Access-Control-Allow-Origin"] = allowed
    resp.headers["Access-Control-Allow-Methods"] = _ALLOWED_METHODS
    resp.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
    resp.headers["Access-Control-Max-Age"] = "600"
    resp.vary.add("Origin")
    return resp


def _cors_headers(resp: Response) -> Response:
    allowed = _allowed_origin(current_app.extensions["landdb_cors"])
    if allowed is not None and "Access-Control-Allow-Origin" not in resp.headers:
        resp.headers["Access-Control-Allow-Origin"] = allowed
        resp.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
    if current_app.extensions["landdb_cors"]:
        resp.vary.add("Origin")
    return resp


def parse_origins(value: str) -> frozenset[str]:
    """`LANDDB_CORS_ORIGINS` ("https://a.example, https://b.example" or "*") as a set."""
    return frozenset(o.strip().rstrip("/") for o in (value or "").split(",") if o.strip())


# --- wiring -----------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Install, in this order: the CORS preflight answer, then authentication and rate limits;
    and after each request the rate-limit and CORS headers."""
    settings: Settings = app.config["LANDDB"]
    if settings.proxy_count > 0:
        # Behind n proxies the client is the n-th address from the right of X-Forwarded-For;
        # without this every public client would share the proxy's address and its limit.
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.extensions["landdb_cors"] = parse_origins(settings.cors_origins)
    app.extensions["landdb_rate_limits"] = RateLimits(settings)
    app.before_request(_cors_preflight)
    app.before_request(_authenticate_and_limit)
    app.after_request(_rate_limit_headers)
    app.after_request(_cors_headers)
