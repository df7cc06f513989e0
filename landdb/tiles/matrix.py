"""Tile matrix sets (OGC Two Dimensional Tile Matrix Set 2.0): WebMercatorQuad, as morecantile defines it.

The definitions, tile bounds and the tiles covering an extent come from morecantile (the
reference Python implementation of the standard's tile matrix sets); this module only says
which sets and zoom levels the service offers, and checks a requested tile against them.
"""

from __future__ import annotations

from functools import lru_cache

import morecantile

from ..errors import NotFound

#: The tile matrix sets tiles are offered in (vector tiles in EPSG:3857, as every web map uses).
TILE_MATRIX_SETS = ("WebMercatorQuad",)
#: The deepest zoom served: a z22 tile is ~10 m wide, finer than any parcel needs.
MAX_ZOOM = 22


@lru_cache(maxsize=None)
def get(tms_id: str) -> morecantile.TileMatrixSet:
    """The tile matrix set `tms_id`; NotFound for a set the service does not offer."""
    if tms_id not in TILE_MATRIX_SETS:
        raise NotFound(f"unknown tile matrix set {tms_id!r}; offered: {', '.join(TILE_MATRIX_SETS)}",
                       field="tileMatrixSetId")
    return morecantile.tms.get(tms_id)


@lru_cache(maxsize=None)
def document(tms_id: str) -> dict:
    """The tile matrix set as its OGC 2DTMS 2.0 JSON document (without links)."""
    return get(tms_id).model_dump(mode="json", exclude_none=True)


def check_tile(tms_id: str, z: int, x: int, y: int) -> None:
    """NotFound unless tile (z, x = column, y = row) exists in the set and zoom range we serve."""
    tms = get(tms_id)
    if not 0 <= z <= min(MAX_ZOOM, tms.maxzoom):
        raise NotFound(f"tile matrix {z} is outside 0–{MAX_ZOOM}", field="tileMatrix")
    matrix = tms.matrix(z)
    if not 0 <= y < matrix.matrixHeight:
        raise NotFound(f"tile row {y} is outside 0–{matrix.matrixHeight - 1} at tile matrix {z}", field="tileRow")
    if not 0 <= x < matrix.matrixWidth:
        raise NotFound(f"tile column {x} is outside 0–{matrix.matrixWidth - 1} at tile matrix {z}", field="tileCol")


def tile_span(tms_id: str, z: int) -> float:
    """Width of a tile at zoom `z`, in the set's CRS units (metres for WebMercatorQuad)."""
    m = get(tms_id).matrix(z)
    return m.cellSize * m.tileWidth


def limits(tms_id: str, bounds: tuple[float, float, float, float], min_zoom: int, max_zoom: int) -> list[dict]:
    """tileMatrixSetLimits: per zoom, the rows and columns of the tiles covering lon/lat `bounds`."""
    tms = get(tms_id)
    west, south, east, north = bounds
    out = []
    for z in range(min_zoom, max_zoom + 1):
        nw, se = tms.tile(west, north, z), tms.tile(east, south, z)
        out.append({"tileMatrix": str(z), "minTileRow": nw.y, "maxTileRow": se.y,
                    "minTileCol": nw.x, "maxTileCol": se.x})
    return out
