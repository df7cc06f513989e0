"""The `filter` / `filter-lang` parameters of a tile request (CQL2 text or JSON) → the core's filter AST."""

from __future__ import annotations

import json
from typing import Any

from lark.exceptions import LarkError
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from landdb.errors import InvalidInput

LANGS = {"cql2-text": "text", "cql2-json": "json"}
MAX_FILTER = 16 * 1024


def from_request(args) -> tuple[Any, str]:
    """(AST or None, a normalised key of the filter for the ETag); InvalidInput when malformed."""
    text = args.get("filter")
    if not text:
        return None, ""
    if len(text) > MAX_FILTER:
        raise InvalidInput(f"filter: longer than {MAX_FILTER} characters", field="filter")
    lang = (args.get("filter-lang") or "cql2-text").strip().lower()
    kind = LANGS.get(lang)
    if kind is None:
        raise InvalidInput(f"filter-lang: {lang!r} is not supported; use cql2-text or cql2-json", field="filter-lang")
    try:
        node = parse_text(text) if kind == "text" else parse_json(json.loads(text))
    except (LarkError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"filter: not valid CQL2 {kind}: {first[:200]}", field="filter") from None
    return node, repr(node)
