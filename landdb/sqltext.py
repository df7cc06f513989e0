"""SQL text builders the REST and WFS renderers share."""

from __future__ import annotations

from typing import Iterable


def json_object(pairs: Iterable[tuple[str, str]]) -> str:
    """SQL of the compact JSON object text of (name, SQL expression) pairs, in order.

    row_to_json of a one-row sub-select: about a fifth cheaper per row than json_build_object and
    without its " : " and ", " spacing (≈ 60 bytes less per parcel). Values keep their JSON types
    (numbers, ISO dates, null); names must be plain identifiers."""
    cols = ", ".join(f'{sql} AS "{name}"' for name, sql in pairs)
    return f"row_to_json((SELECT r FROM (SELECT {cols}) r))::text" if cols else "'{}'"
