"""/api/v1/transactions and /api/v1/journal/head: register a change, read the journal."""

from __future__ import annotations

from contextlib import contextmanager

from flask import Flask, Response, json, request, url_for
from werkzeug.exceptions import PreconditionFailed

from landdb import auth as core_auth
from landdb import dry_run, journal, registration_schema, registry
from landdb import transactions as core
from landdb.errors import Conflict, InvalidInput

from ..auth import current_principal, record_personal_data_read, require
from ..db import get_session
from ..guards import json_body
from . import schemas as s
from .common import RestBlueprint, detail_level
from .render import conditional

PREFIX = "/api/v1"
blp = RestBlueprint("transactions", __name__, description="Registering changes and the tamper-evident journal")

_BODY_DOC = {
    "required": True,
    "description": (
        "`{kind, effective_date, dossier_no?, …}` plus, by kind: "
        "**first_registration** ward_code, sheet_no, parcel_no?, geometry (GeoJSON, `crs` default EPSG:5899), "
        "land_use, legal_area_m2, address?, holders [{party_id | id_number | kind+full_name+…, share}], "
        "certificate {serial, registry_no?, issued_on?}; "
        "**transfer / inheritance / gift** parcel, expected_version, transferors [{party_id | id_number, share?}], "
        "transferees [{party…, share?}], certificate, mortgagee_consent? [{party…}]; "
        "**mortgage** parcel, expected_version, mortgagee {party…}, secured_amount_vnd?, term_end?; "
        "**mortgage_release** parcel, expected_version, mortgage_id | mortgagee; "
        "**split** parcel, expected_version, children [{geometry, legal_area_m2, parcel_no?, land_use?, "
        "address?, certificate?}]; **merge** parcels [codes], expected_version {code: n}, parcel_no?, "
        "land_use?, certificate?; **land_use_change** parcel, expected_version, land_use; "
        "**certificate_reissue** parcel, expected_version, certificate; "
        "**geometry_correction** parcel, expected_version, geometry, legal_area_m2?."),
    # The same schemas check the body (landdb.registration_schema): the document and the server agree.
    "content": {"application/json": {"schema": {"oneOf": list(registration_schema.SCHEMAS.values())}}},
}
_TX_DOC = {"type": "object", "properties": {
    "id": {"type": "integer"}, "seq": {"type": "integer"}, "hash": {"type": "string"},
    "prev_hash": {"type": "string", "nullable": True}, "kind": {"type": "string"},
    "effective_date": {"type": "string", "format": "date"}, "registered_at": {"type": "string"},
    "parcels": {"type": "array", "items": {"type": "object"}},
    "closed": {"type": "object"}, "opened": {"type": "object"}}}

_DRY_RUN_DOC = {"type": "object", "required": ["dry_run"], "properties": {
    "dry_run": {"type": "boolean", "enum": [True]}, "kind": {"type": "string"},
    "effective_date": {"type": "string", "format": "date"}, "dossier_no": {"type": "string", "nullable": True},
    "parcels": {"type": "array", "items": {"type": "object"}},
    "closed": {"type": "object"}, "opened": {"type": "object"}}}


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _log_personal(session, answer: dict, endpoint: str) -> None:
    parties = core.party_ids_in(answer)
    if parties:
        record_personal_data_read(endpoint, core.parcel_ids_of(session, answer["id"]), parties)


def _dry_run_asked() -> bool:
    value = request.args.get("dry_run", "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidInput("dry_run must be true or false", field="dry_run")
    return value in ("true", "1")


def _dry_run(session, body, principal) -> Response:
    """The registration's checks and effects, rolled back: what would be closed and opened, 200."""
    try:
        answer, replayed = dry_run.dry_run(
            session, body, actor=f"{principal.role}:{principal.name}#{principal.key_id}",
            idempotency_key=request.headers.get("Idempotency-Key"),
            idempotency_scope=_idempotency_scope(principal))
    finally:
        session.rollback()
    # Parties by id only: a dry run writes nothing, not even an access-log row.
    return _json(core.redact(answer, "rights"), 200, {"Idempotent-Replayed": "true"} if replayed else None)


def _with_if_match(body):
    """`If-Match: "3"` (the ETag of GET /parcels/{code}) as the registration's expected_version;
    returns the body to register and whether the version came from the header."""
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return body, False
    tags = request.if_match.as_set()
    tag = next(iter(tags)) if len(tags) == 1 else ""
    if not tag.isdigit() or len(tag) > 18:
        raise InvalidInput('If-Match must be one parcel version as an entity tag, like "3"', field="If-Match")
    # A precondition that cannot hold is false (RFC 9110 §13.1.1): 412, nothing registered.
    if not isinstance(body, dict) or body.get("kind") in ("first_registration", "merge") \
            or isinstance(body.get("parcels"), list):
        raise PreconditionFailed("If-Match names the version of the one existing parcel a change is made to; "
                                 "a first registration has none and a merge gives expected_version per parcel")
    version = int(tag)
    if body.get("expected_version", version) != version:
        raise PreconditionFailed(f"If-Match says version {version} but expected_version says "
                                 f"{body['expected_version']!r}; give one")
    return {**body, "expected_version": version}, True


def _idempotency_scope(principal) -> str:
    """Whose Idempotency-Keys these are: the API key's (another key's retry is another request)."""
    return f"key:{principal.key_id}"


@contextmanager
def _precondition(from_header: bool):
    """A stale version that came from If-Match is that precondition failing: 412, not 409."""
    try:
        yield
    except Conflict as exc:
        if from_header and exc.field == "expected_version":
            raise PreconditionFailed(exc.message) from None
        raise


@blp.route("/transactions", methods=["POST"])
@require(core_auth.TRANSACTIONS_WRITE)
@blp.doc(requestBody=_BODY_DOC, security=[{"bearerAuth": []}], parameters=[{
    "in": "query", "name": "dry_run", "required": False, "schema": {"type": "boolean", "default": False},
    "description": "Run every check and effect and answer what would be closed and opened (200, "
                   "`dry_run: true`, no id/seq/hash), then roll back: nothing is written, not even the journal "
                   "row or the Idempotency-Key; refused exactly as the registration would be (400/404/409/422)"}, {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "pattern": registry.IDEMPOTENCY_KEY_PATTERN},
    "description": "Retrying with the same key and body returns the first answer and registers nothing new"}, {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string", "pattern": r'^"[0-9]{1,18}"$'},
    "description": "The parcel's ETag from GET /parcels/{code} (its version), instead of expected_version; "
                   "412 if the parcel changed since"}],
    responses={"201": {"description": "Registered (or, with a used Idempotency-Key, the first answer again)",
                       "content": {"application/json": {"schema": _TX_DOC}}},
               "200": {"description": "With dry_run=true: what the registration would close and open; nothing written",
                       "content": {"application/json": {"schema": _DRY_RUN_DOC}}}})
@blp.alt_response(400, response="BAD_REQUEST", description="Malformed body or unknown field")
@blp.alt_response(401, response="UNAUTHORIZED")
@blp.alt_response(403, response="FORBIDDEN", description="The key lacks transactions:write")
@blp.alt_response(404, response="NOT_FOUND", description="Unknown parcel")
@blp.alt_response(409, response="CONFLICT", description="The parcel changed since expected_version")
@blp.alt_response(412, response="PRECONDITION_FAILED", description="The parcel changed since the If-Match version")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Refused by the register's rules")
def post_transaction():
    """Register one change (đăng ký biến động) as one database transaction: it is registered
    completely, with its journal row, or not at all."""
    if not request.is_json:
        raise InvalidInput("the body must be a JSON object (Content-Type: application/json)")
    body, from_header = _with_if_match(json_body())
    principal = current_principal()
    session = get_session()
    if _dry_run_asked():
        with _precondition(from_header):
            return _dry_run(session, body, principal)
    # The writer sees the rights it registered (party ids); names only with owners:read.
    detail = "personal" if core_auth.sees_personal_data(principal) else "rights"
    try:
        with _precondition(from_header):
            answer, created = registry.register(
                session, body, actor=f"{principal.role}:{principal.name}#{principal.key_id}",
                idempotency_key=request.headers.get("Idempotency-Key"),
                idempotency_scope=_idempotency_scope(principal))
        parties = core.party_ids_in(answer) if detail == "personal" else []
        if parties:  # logged in the registration's own transaction: one commit for both
            core_auth.log_personal_data_access(session, principal, "POST /api/v1/transactions",
                                               core.parcel_ids_of(session, answer["id"]), parties,
                                               request.remote_addr)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    answer = core.redact(answer, detail)
    headers = {"Location": url_for("transactions.get_transaction", tx_id=answer["id"])}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return _json(answer, 201, headers)


@blp.route(f"/transactions/<int(max={s.MAX_SEQ}):tx_id>", parameters=[{
    "in": "path", "name": "tx_id", "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": s.MAX_SEQ}}])
@blp.doc(parameters=[{"in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
                      "description": "An ETag seen before: 304 (a transaction never changes)"}],
         responses={"200": {"description": "The transaction, what it closed and opened",
                            "content": {"application/json": {"schema": _TX_DOC}},
                            "headers": {"ETag": {"description": "id and detail level", "schema": {"type": "string"}}}},
                    "304": {"description": "Not modified"}})
@blp.alt_response(404, response="NOT_FOUND")
def get_transaction(tx_id: int):
    """One registered change: its place in the journal (seq, hash), the parcels it touched and
    the versions, rights and certificates it closed and opened. Rights need `rights:read`; the
    parties' names, the actor and the registered request need `owners:read` (access-logged)."""
    session = get_session()
    detail = detail_level()
    answer = core.get_transaction(session, tx_id, detail=detail)
    if detail == "personal":
        _log_personal(session, answer, "GET /api/v1/transactions/{id}")
    # A registered transaction never changes; what a caller sees of it depends on the key.
    return conditional(_json(answer), f"{tx_id}-{detail}", varies_by_key=True)


@blp.route("/transactions", methods=["GET"])
@blp.arguments(s.TransactionListArgs, location="query", as_kwargs=True)
@blp.doc(responses={"200": {"description": "`{matched, transactions: [summary…]}` in journal order"}})
@blp.alt_response(400, response="BAD_REQUEST")
@blp.alt_response(404, response="NOT_FOUND")
def list_transactions(parcel, since, after, limit, offset):
    """The journal in order, optionally for one parcel and from a date; summaries only (no
    personal data): follow each id for the details."""
    body = core.list_transactions(get_session(), parcel=parcel, since=since, after=after,
                                  limit=limit, offset=offset, detail=detail_level())
    return Response(body, mimetype="application/json")


@blp.route("/journal/head", methods=["GET"])
@blp.doc(responses={"200": {"description": "`{seq, id, hash, registered_at}` of the newest journal row"}})
def journal_head():
    """The journal's head: keep its hash elsewhere; `landdb journal verify` proves every row up
    to it unaltered. Public."""
    return _json(journal.head(get_session()) or {"seq": 0, "id": None, "hash": None, "registered_at": None})


def init_app(app: Flask) -> None:
    """Register the blueprint under /api/v1, in the REST API's OpenAPI document when there is one."""
    apis = app.extensions.get("flask-smorest", {}).get("apis", {})
    api = next((a["ext_obj"] for a in apis.values()), None)
    if api is not None:
        api.register_blueprint(blp, url_prefix=PREFIX)
    else:
        app.register_blueprint(blp, url_prefix=PREFIX)
