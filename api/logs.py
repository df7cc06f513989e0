"""Request ids, and structured (JSON) access and error logs that carry them.

Each request gets an id: the client's (or the proxy's) `X-Request-Id` when it is a plain token
of up to 64 characters, else a new one. It is echoed in the answer's `X-Request-Id`, added to
every log record written while the request runs, and put before every SQL statement the request
sends as a comment (`/* request_id=… */`), so a slow query in pg_stat_activity or the server's
log leads back to the request's access-log line.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, current_app, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from landdb.db import tag_statements

from .metrics import route_pattern

HEADER = "X-Request-Id"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = logging.getLogger("landdb.access")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records written while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def make_handler(log_format: str, stream=None) -> logging.Handler:
    """A handler writing JSON lines (`json`) or plain text to `stream` (stderr), with request ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                                           json_ensure_ascii=False))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    return handler


def configure(log_format: str) -> None:
    """Install `make_handler(log_format)` on the root logger, once per process, at level INFO."""
    root = logging.getLogger()
    if any(getattr(h, "landdb", False) for h in root.handlers):
        return
    handler = make_handler(log_format)
    handler.landdb = True
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def _begin() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _GOOD_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    tag_statements(f"request_id={g.request_id}")


def _finish(resp: Response) -> Response:
    resp.headers[HEADER] = g.get("request_id", "")
    if current_app.extensions["landdb_access_log"] and access_log.isEnabledFor(logging.INFO):
        from .auth import current_principal

        started = g.get("request_started")
        access_log.info("%s %s %s", request.method, request.path, resp.status_code, extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": request.path,
            "route": route_pattern() if request.url_rule is not None else None,
            "status": resp.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "database": g.get("db_route"),
            "client": request.remote_addr,
            "key_id": current_principal().key_id,
        })
    return resp


def init_app(app: Flask) -> None:
    settings = app.config["LANDDB"]
    if not app.testing:
        configure(settings.log_format)
    app.extensions["landdb_access_log"] = bool(settings.access_log)
    app.before_request(_begin)
    app.after_request(_finish)
