"""What every /api/v1 blueprint shares: strict parameter parsing and its problem documents."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from flask import g
from sqlalchemy.orm import Session
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from landdb import crs

from ..db import get_session
from ..errors import problem
from ..guards import json_body


class ParcelCodeConverter(BaseConverter):
    """A parcel code in a path: any segment but `query`, so `GET /parcels/query` is the 405 of
    the POST-only search, not a lookup of parcel 'query' (malformed codes still get their 400)."""

    regex = r"(?!query$)[^/]+"


class StrictParser(FlaskParser):
    """Unknown query parameters are errors (a typo must not silently widen a search), and bad
    parameters are 400; bodies that parse but mean nothing valid are 422 (set per view)."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE,
                                   "querystring": ma.RAISE, "json": ma.RAISE}

    def _raw_load_json(self, req):
        # One reader for every JSON body: size, depth and NUL checks (api/guards.py).
        if not is_json_request(req):
            return webargs_core.missing
        return json_body()


def _flatten(messages, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = key if key not in ("query", "json", "querystring", "path") else ""
            out += _flatten(value, f"{prefix}.{name}".strip(".") if name else prefix)
    elif isinstance(messages, list):
        for value in messages:
            out += _flatten(value, prefix)
    else:
        out.append(f"{prefix}: {messages}" if prefix else str(messages))
    return out


def _validation_problem(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if not messages:
        return problem(exc.code or 400, exc.description or exc.name)
    lines = _flatten(messages)
    detail = "; ".join(lines[:10])
    return problem(exc.code or 400, detail, code="invalid_input", errors=messages)


class RestBlueprint(Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_error_handler(400, _validation_problem)
        self.register_error_handler(422, _validation_problem)


def detail_level() -> str:
    """How much of the register the caller may see: 'personal' (owners:read), 'rights'
    (rights:read) or 'public' — the `detail` the core's journal and history queries take."""
    from landdb import auth as core_auth

    from ..auth import current_principal

    principal = current_principal()
    if core_auth.sees_personal_data(principal):
        return "personal"
    return "rights" if principal.can(core_auth.RIGHTS_READ) else "public"


def output_srid(value: str | None) -> int:
    """The `crs` parameter as an EPSG code (InvalidInput → 400 when not supported)."""
    return crs.parse_crs(value, field="crs")


def read_session() -> Session:
    """The request's session, for views that only read. The core runs a single-statement read on
    a pooled autocommit connection the session lends (landdb.prepared.autocommit_connection) and a
    streamed page's server-side cursor in the session's own transaction."""
    return get_session()


def detach_session() -> Session:
    """Take the request's session away from the request's teardown, which runs as soon as the
    view returns (before a streamed body is sent): the response's generator closes it."""
    return g.pop("db_session")
