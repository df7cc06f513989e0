"""Checks every request passes before a view sees it: body size, JSON shape, no NUL characters.

PostgreSQL text cannot hold a NUL character and Python's JSON parser recurses once per nesting
level, so both are refused here, for every endpoint at once, with a 4xx that says what to change
(problem+json; the WFS blueprint re-dresses it as an OWS ExceptionReport).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from landdb.errors import InvalidInput

#: the largest request body any endpoint reads (JSON, forms); larger ones get 413.
MAX_BODY_BYTES = 2_000_000
#: the deepest nesting a JSON body may have: a MultiPolygon inside a split's children is 8 deep.
MAX_JSON_DEPTH = 20

_JSON_TYPES = ("application/json",)


def _has_nul(value: str) -> bool:
    return "\x00" in value


def _refuse_nul_in_query() -> None:
    for name, value in request.args.items(multi=True):
        if _has_nul(name) or _has_nul(value):
            raise InvalidInput(f"query parameter {name.replace(chr(0), '')!r} holds a NUL character (%00); "
                               "remove it", field=name.replace("\x00", ""))
    if _has_nul(request.path):
        raise InvalidInput("the path holds a NUL character (%00); remove it", field="path")
    if request.mimetype == "application/x-www-form-urlencoded":
        for name, value in request.form.items(multi=True):
            if _has_nul(name) or _has_nul(value):
                raise InvalidInput(f"form field {name.replace(chr(0), '')!r} holds a NUL character; remove it",
                                   field=name.replace("\x00", ""))


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a parsed JSON value nested deeper than `max_depth` or holding a NUL character.

    Walks iteratively, so no input can exhaust the stack here."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, str):
            if _has_nul(item):
                raise InvalidInput("the JSON body holds a NUL character (\\u0000) in a string; remove it")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > max_depth:
            raise InvalidInput(f"the JSON body nests deeper than {max_depth} levels of arrays and objects")
        if isinstance(item, dict):
            for key, member in item.items():
                if _has_nul(key):
                    raise InvalidInput("the JSON body holds a NUL character (\\u0000) in a member name; remove it")
                todo.append((member, depth + 1))
        else:
            todo.extend((member, depth + 1) for member in item)


def json_body() -> Any:
    """The request's JSON body, read once: at most MAX_BODY_BYTES (413 past it, also when sent
    chunked), well-formed, at most MAX_JSON_DEPTH deep and free of NUL characters (400)."""
    if "json_body" in g:
        return g.json_body
    data = request.get_data(cache=True)  # RequestEntityTooLarge (413) past MAX_CONTENT_LENGTH
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        # A chunked body is cut at the limit rather than refused: what reached it was larger.
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    if not data.strip():
        raise InvalidInput("the request needs a JSON body (Content-Type: application/json)")
    try:
        value = json.loads(data)
    except RecursionError:
        raise InvalidInput(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects") from None
    except UnicodeDecodeError:
        raise InvalidInput("the JSON body must be UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f" at line {line}, column {col}" if line else ""
        raise InvalidInput(f"the body is not valid JSON{where}: {getattr(exc, 'msg', 'malformed')}") from None
    check_json(value)
    g.json_body = value
    return value


def init_app(app: Flask) -> None:
    """Apply the body limit and the NUL check to every request of `app`."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY_BYTES
    app.before_request(_refuse_nul_in_query)
