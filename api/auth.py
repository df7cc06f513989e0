"""Who is asking (Bearer API keys), what they may see, rate limits and CORS, for the whole app.

How a view uses it (for everyone writing endpoints):

    from landdb import auth as core_auth
    from api.auth import current_principal, require, record_personal_data_read

    @bp.get("/parcels/<code>/rights")
    @require(core_auth.RIGHTS_READ)          # 401 for the public (a key would help), 403 for a
    def parcel_rights(code):                 # key without the scope, as problem+json
        principal = current_principal()      # never None: the public principal without a key
        with_owners = core_auth.sees_personal_data(principal)   # owners:read
        body, parcel_ids, party_ids = rights_of(get_session(), code, with_owners=with_owners)
        if with_owners and party_ids:        # only when personal data is really in the response
            record_personal_data_read("GET /parcels/{code}/rights", parcel_ids, party_ids)
        return body

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

What the hooks do: `Authorization: Bearer <key>` is looked up by its SHA-256 on each request
(one indexed query, no cache, so a revoked key is refused from the next request on and every
process agrees — the app stays stateless, DESIGN §8). No header: the public principal. A
malformed header or an unknown or revoked key: 401 problem+json with `WWW-Authenticate`, one
message for all, so nobody learns whether a key exists. Requests with a valid key are
rate-limited per key (`LANDDB_RATE_LIMIT`), all others per client address
(`LANDDB_RATE_LIMIT_PUBLIC`, bad keys included, which slows guessing); over the limit: 429
problem+json with `Retry-After`. Counters live in `LANDDB_RATELIMIT_STORAGE_URI`.
"""

from __future__ import annotations

import time
from functools import wraps
from typing import Callable, Iterable

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse_many

from landdb import auth as core
from landdb.config import Settings
from landdb.errors import Unauthorized

from .db import get_session
from .errors import problem

#: endpoints that answer whoever asks, without authentication or rate limits.
OPEN_ENDPOINTS = frozenset({"health.healthz"})

#: response headers a browser script may read across origins.
EXPOSED_HEADERS = (
    "Link", "Location", "ETag", "Retry-After", "Content-Crs", "WWW-Authenticate",
    "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
)
_ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_ALLOWED_HEADERS = "Authorization, Content-Type, Accept, If-None-Match, If-Match, Idempotency-Key"


# --- for views ----------------------------------------------------------------------------------


def current_principal() -> core.Principal:
    """The principal of the current request (the public one without a key or outside a request)."""
    if not has_request_context():
        return core.PUBLIC_PRINCIPAL
    return g.get("principal") or core.PUBLIC_PRINCIPAL


def require(scope: str) -> Callable:
    """Decorate a view so it runs only for principals holding `scope`: otherwise 401 (no key;
    one would help) or 403 (a key without the scope), both problem+json."""
    if scope not in core.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            denied = check(scope)
            return denied if denied is not None else view(*args, **kwargs)

        return wrapper

    return decorator


def check(scope: str) -> Response | None:
    """The problem response that denies the current request `scope`, or None when it may."""
    principal = current_principal()
    if principal.can(scope):
        return None
    if principal.is_public:
        return problem(401, f"this needs an API key with the {scope} scope", code="unauthorized")
    return problem(403, f"this API key lacks the {scope} scope", code="forbidden")


def record_personal_data_read(
    endpoint: str, parcel_ids: Iterable[int] = (), party_ids: Iterable[int] = ()
) -> None:
    """Log that this request's response carries personal data, and commit it (see the module
    docstring for when to call it)."""
    session = get_session()
    core.log_personal_data_access(
        session, current_principal(), endpoint, parcel_ids, party_ids, request.remote_addr
    )
    session.commit()


# --- hooks ------------------------------------------------------------------------------------


def _is_open() -> bool:
    return request.endpoint in OPEN_ENDPOINTS


def _authenticate() -> None:
    """Find the principal; a bad key is only noted here so the address's rate limit counts it
    before `_refuse_bad_key` answers 401."""
    g.principal = core.PUBLIC_PRINCIPAL
    header = request.headers.get("Authorization")
    if header is None or _is_open():
        return
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        g.auth_error = "the Authorization header must be `Bearer <API key>`"
        return
    try:
        g.principal = core.authenticate(get_session(), token.strip())
    except Unauthorized as exc:
        g.auth_error = exc.message


def _refuse_bad_key() -> Response | None:
    message = g.pop("auth_error", None)
    if message is None:
        return None
    resp = problem(401, message, code="unauthorized")
    resp.headers["WWW-Authenticate"] = 'Bearer realm="landdb", error="invalid_token"'
    return resp


def _key_of_principal() -> str:
    return f"key:{current_principal().key_id}"


def _key_of_address() -> str:
    return f"addr:{request.remote_addr or 'unknown'}"


def _limit_strings(value: str, setting: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{setting}={value!r} is not a rate limit like '600/minute'") from exc
    return value


def _make_limiter(app: Flask, settings: Settings) -> Limiter:
    limits = []
    per_key = _limit_strings(settings.rate_limit, "LANDDB_RATE_LIMIT")
    per_addr = _limit_strings(settings.rate_limit_public, "LANDDB_RATE_LIMIT_PUBLIC")
    if per_key:
        limits.append(ApplicationLimit(
            per_key, key_function=_key_of_principal, scope="key",
            exempt_when=lambda: current_principal().is_public,
            error_message=f"too many requests for this API key (limit {per_key})",
        ))
    if per_addr:
        limits.append(ApplicationLimit(
            per_addr, key_function=_key_of_address, scope="address",
            exempt_when=lambda: not current_principal().is_public,
            error_message=f"too many requests from this address without an API key (limit {per_addr})",
        ))
    limiter = Limiter(
        key_func=_key_of_address,
        application_limits=limits,
        storage_uri=settings.ratelimit_storage_uri or "memory://",
        strategy=settings.ratelimit_strategy or "fixed-window",
        headers_enabled=False,  # we write the headers ourselves, and Retry-After only on a 429
        key_prefix="landdb",
        enabled=bool(limits),
    )
    limiter.request_filter(lambda: _is_open() or request.method == "OPTIONS")
    limiter.init_app(app)
    return limiter


def _too_many(exc: RateLimitExceeded) -> Response:
    resp = problem(429, exc.description, code="rate_limited")
    limiter: Limiter = current_app.extensions["landdb_limiter"]
    current = limiter.current_limit
    wait = max(1, int(current.reset_at - time.time())) if current else 1
    resp.headers["Retry-After"] = str(wait)
    return resp


def _rate_limit_headers(resp: Response) -> Response:
    limiter: Limiter | None = current_app.extensions.get("landdb_limiter")
    current = limiter.current_limit if limiter is not None and limiter.enabled else None
    if current is not None:
        resp.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        resp.headers["X-RateLimit-Remaining"] = str(max(0, current.remaining))
        resp.headers["X-RateLimit-Reset"] = str(current.reset_at)
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
    """Install, in this order: CORS preflight, authentication, rate limits, the 401 for bad keys;
    and after each request the rate-limit and CORS headers."""
    settings: Settings = app.config["LANDDB"]
    app.extensions["landdb_cors"] = parse_origins(settings.cors_origins)
    app.before_request(_cors_preflight)
    app.before_request(_authenticate)
    app.extensions["landdb_limiter"] = _make_limiter(app, settings)
    app.before_request(_refuse_bad_key)
    app.register_error_handler(RateLimitExceeded, _too_many)
    app.after_request(_rate_limit_headers)
    app.after_request(_cors_headers)
