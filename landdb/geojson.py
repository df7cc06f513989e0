"""GeoJSON geometry shape checks (RFC 7946 §3.1) before any geometry library reads the value.

Shapely quietly closes an open ring and raises its own exceptions on bad coordinates; posted
geometries are checked here first so that every refusal says, in our words, what to change.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InvalidInput

#: positions an array nests per geometry type (Point: a position itself).
NESTING = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"geometry: {message}", field="geometry", details={"status": 422})


def _position(value: Any, where: str) -> None:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise _bad(f"malformed coordinates at {where}: a position is [x, y] or [x, y, z]")
    for c in value:
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            raise _bad(f"malformed coordinates at {where}: coordinates must be numbers, not {type(c).__name__}")
        if not math.isfinite(c):
            raise _bad(f"malformed coordinates at {where}: coordinates must be finite numbers")


def _positions(value: Any, where: str, *, at_least: int) -> int:
    if not isinstance(value, list):
        raise _bad(f"malformed coordinates at {where}: expected an array of positions")
    for i, p in enumerate(value):
        _position(p, f"{where}[{i}]")
    if len(value) < at_least:
        raise _bad(f"malformed coordinates at {where}: {len(value)} position(s); at least {at_least} are needed")
    return len(value)


def _ring(value: Any, where: str) -> int:
    n = _positions(value, where, at_least=4)
    if value[0][:2] != value[-1][:2]:
        raise _bad(f"the ring at {where} is not closed: its last position must repeat its first")
    return n


def _array(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise _bad(f"malformed coordinates at {where}: expected an array")
    return value


def check_geometry(geometry: Any, *, types: tuple[str, ...] = tuple(NESTING), max_vertices: int | None = None) -> int:
    """Check a GeoJSON geometry's structure; return its number of positions.

    Raises InvalidInput (status 422) naming the place: unknown type, missing or malformed
    coordinates, a ring that is not closed or has fewer than four positions, too many vertices.
    """
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise _bad("expected a GeoJSON geometry object with 'type' and 'coordinates'")
    kind = geometry["type"]
    if kind not in types:
        raise _bad(f"type must be one of {', '.join(types)}")
    if "coordinates" not in geometry:
        raise _bad("missing 'coordinates'")
    c = geometry["coordinates"]
    where = "coordinates"
    if kind == "Point":
        _position(c, where)
        n = 1
    elif kind == "MultiPoint":
        n = _positions(c, where, at_least=1)
    elif kind == "LineString":
        n = _positions(c, where, at_least=2)
    elif kind == "MultiLineString":
        n = sum(_positions(line, f"{where}[{i}]", at_least=2) for i, line in enumerate(_array(c, where)))
    elif kind == "Polygon":
        n = sum(_ring(r, f"{where}[{i}]") for i, r in enumerate(_array(c, where)))
    else:
        n = sum(_ring(r, f"{where}[{i}][{j}]") for i, poly in enumerate(_array(c, where))
                for j, r in enumerate(_array(poly, f"{where}[{i}]")))
    if n == 0:
        raise _bad("the geometry is empty")
    if max_vertices is not None and n > max_vertices:
        raise _bad(f"{n} vertices; at most {max_vertices} are accepted")
    return n
