"""The /wfs blueprint: OGC WFS 2.0.0 / 1.1.0 / 1.0.0 over KVP (GET) and XML (POST); thin over `operations`."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from landdb.errors import InvalidInput

from . import operations
from .exceptions import OWSException, report
from .parse import MAX_BODY, from_kvp, from_xml

bp = Blueprint("wfs", __name__, url_prefix="/wfs")


def _version_hint() -> str:
    v = next((val for key, val in request.args.items() if key.upper() in ("VERSION", "ACCEPTVERSIONS")), "") or ""
    v = v.split(",")[0].strip()
    return v if v in ("1.0.0", "1.1.0") else "2.0.0"


def _error(exc: OWSException, version: str) -> Response:
    body, ctype = report(exc, version)
    return Response(body, status=exc.status, content_type=ctype)


#: Headers of an app-wide answer worth keeping when it is re-dressed as an ExceptionReport.
_KEPT_HEADERS = ("Retry-After", "WWW-Authenticate", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                 "X-RateLimit-Reset", "Allow")


#: exceptionCode for an app-wide answer, by status (OWS Common 2.0 table 28).
_CODES = {400: "InvalidParameterValue", 413: "OperationParsingFailed", 404: "NotFound"}


@bp.after_request
def _problems_as_exception_reports(resp: Response) -> Response:
    """Answers made outside the WFS (a bad API key: 401, a rate limit: 429, a database outage:
    503, a wrong method: 405) speak OWS to WFS clients too, not problem+json."""
    if resp.mimetype != "application/problem+json":
        return resp
    try:
        problem = json.loads(resp.get_data())
    except ValueError:
        problem = {}
    detail = problem.get("detail") or resp.status
    code = _CODES.get(resp.status_code, "NoApplicableCode")
    body, ctype = report(OWSException(code, detail, problem.get("field"), resp.status_code), _version_hint())
    out = Response(body, status=resp.status_code, content_type=ctype)
    for name in _KEPT_HEADERS:
        if name in resp.headers:
            out.headers[name] = resp.headers[name]
    return out


@bp.route("", methods=["GET", "POST"], strict_slashes=False)
def wfs() -> Response:
    version = _version_hint()
    try:
        if request.method == "POST":
            if (request.content_length or 0) > MAX_BODY:
                raise OWSException("OperationParsingFailed", f"the request body is larger than {MAX_BODY} bytes",
                                   "request", 413)
            if request.mimetype == "application/x-www-form-urlencoded":
                req = from_kvp(request.form.to_dict())
            else:
                data = request.stream.read(MAX_BODY + 1)
                req = from_xml(data, request.args.to_dict())
        else:
            req = from_kvp(request.args.to_dict())
        version = req.version
        # The session outlives the request context when the answer streams, so the view owns
        # it (the request-scoped one is closed at teardown, before the body is sent).
        session = current_app.config["LANDDB_SESSIONMAKER"]()
        try:
            result = operations.execute(req, session, request.base_url,
                                        count_limit=current_app.config["LANDDB"].count_limit)
        except BaseException:
            session.close()
            raise
    except OWSException as exc:
        return _error(exc, version)
    except InvalidInput as exc:
        return _error(OWSException("InvalidParameterValue", exc.message, exc.field), version)
    if isinstance(result.body, (str, bytes)):
        session.close()
        return Response(result.body, status=result.status, content_type=result.content_type)
    return Response(_closing(result.body, session), status=result.status, content_type=result.content_type)


def _closing(body, session):
    try:
        yield from body
    finally:
        session.close()


#: bench-only (bench/bench_wfs.py): registered only with LANDDB_WFS_BENCH=1 (see init_app).
bench_bp = Blueprint("wfs_bench", __name__, url_prefix="/wfs")


@bench_bp.route("/_bench/constant")
def bench_constant() -> Response:
    """A constant response of a given size: the HTTP ceiling for benchmarks."""
    try:
        size = min(max(int(request.args.get("size", "1000")), 0), 10_000_000)
    except ValueError:
        return _error(OWSException("InvalidParameterValue", "size must be a whole number", "size"), "2.0.0")
    return Response(b"x" * size, content_type="application/gml+xml; version=3.2")


def init_app(app) -> None:
    """Register /wfs on `app`, and the benchmarks' constant route only when LANDDB_WFS_BENCH=1."""
    app.register_blueprint(bp)
    if app.config["LANDDB"].extra.get("wfs_bench") == "1":
        app.register_blueprint(bench_bp)
