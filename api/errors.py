"""The one table that maps errors to HTTP: application/problem+json (RFC 9457) everywhere.

Blueprints that speak another error language (the WFS's OWS ExceptionReport) register their
own handlers; everything else lands here. Unexpected errors are logged and answered with a bare
500 that shows no internals; under testing they are re-raised so bugs fail tests.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from landdb import errors as core

log = logging.getLogger(__name__)

STATUS = {
    core.InvalidInput: 400,
    core.Unauthorized: 401,
    core.Forbidden: 403,
    core.NotFound: 404,
    core.Conflict: 409,
    core.Unprocessable: 422,
    core.DatabaseUnavailable: 503,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(status: int, detail: str, *, type_: str = "about:blank", **extra) -> Response:
    """An application/problem+json response."""
    body = {"type": type_, "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    body["instance"] = request.path if request else None
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="landdb"'
    return resp


def _core_error(exc: core.LandDBError) -> Response:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    status = exc.details.get("status", status)
    return problem(status, exc.message, code=exc.code, field=exc.field)


def _http_error(exc: HTTPException) -> Response:
    resp = problem(exc.code or 500, exc.description or exc.name)
    for key in ("Allow", "Retry-After"):
        if exc.get_response().headers.get(key):
            resp.headers[key] = exc.get_response().headers[key]
    return resp


def _db_error(exc: DBAPIError) -> Response:
    pgcode = getattr(exc.orig, "pgcode", None)
    if isinstance(exc, IntegrityError) or (pgcode or "").startswith("23"):
        # The database's own integrity rules (overlaps, shares, uniqueness) speak for themselves.
        message = str(getattr(exc.orig, "diag", None) and exc.orig.diag.message_primary or "conflict")
        return problem(409, message, code="conflict")
    if pgcode == "57014":  # query_canceled: the statement timeout
        return problem(504, "the query took longer than the server allows; narrow it down", code="timeout")
    if isinstance(exc, OperationalError):
        log.error("database unavailable: %s", exc)
        return problem(503, "the database is not answering; try again shortly", code="database_unavailable")
    raise exc


def _unexpected(exc: Exception) -> Response:
    from flask import current_app

    if current_app.testing:
        raise exc
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "internal error; it has been logged")


def init_app(app: Flask) -> None:
    app.register_error_handler(core.LandDBError, _core_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _db_error)
    app.register_error_handler(Exception, _unexpected)
