"""OGC API – Features Part 2 (CRS by reference): the CRS URIs we list, parse and write in Content-Crs.

Every collection lists CRS84 (WGS 84, longitude first: the default), EPSG:4326 (WGS 84 with the
axis order EPSG gives it: latitude first), EPSG:3857 and EPSG:5899 (VN-2000 / TM-3 107-45, the
register's own CRS: `storageCrs`). Clients name them by URI
(`http://www.opengis.net/def/crs/EPSG/0/4326`) or as a safe CURIE (`[EPSG:4326]`); the other
spellings `landdb.crs` reads (`EPSG:4326`, URNs) are accepted too, with the same axis-order rule
as the rest of the service (`EPSG:4326` written that way is longitude first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import crs as core_crs

CRS84 = core_crs.CRS84


@dataclass(frozen=True)
class Crs:
    """A CRS as the OGC API uses it: EPSG code, axis order on the wire, and its URI."""

    srid: int
    lat_first: bool
    uri: str


DEFAULT = Crs(4326, False, CRS84)
STORAGE = Crs(core_crs.STORAGE_SRID, False, core_crs.uri(core_crs.STORAGE_SRID))
#: what every collection offers, the default first.
SUPPORTED: tuple[Crs, ...] = (
    DEFAULT,
    Crs(4326, True, core_crs.uri(4326)),
    Crs(3857, False, core_crs.uri(3857)),
    STORAGE,
)
_CURIE = re.compile(r"^\[(EPSG):(\d+)\]$|^\[OGC:CRS84\]$", re.I)


def parse(value: str | None, *, field: str) -> Crs:
    """The CRS a `crs`, `bbox-crs` or `filter-crs` value names (CRS84 when absent).

    Raises InvalidInput naming `field` for a spelling we do not read or a CRS we do not offer.
    """
    if value is None or not value.strip():
        return DEFAULT
    text = value.strip()
    for c in SUPPORTED:
        if text == c.uri:
            return c
    m = _CURIE.match(text)
    if m:
        if m.group(2) is None:
            return DEFAULT
        text = f"http://www.opengis.net/def/crs/EPSG/0/{m.group(2)}"
    srid = core_crs.parse_crs(text, field=field)
    return Crs(srid, core_crs.lat_first(text), CRS84 if srid == 4326 and not core_crs.lat_first(text)
               else core_crs.uri(srid))


def uris() -> list[str]:
    """The `crs` list of a collection."""
    return [c.uri for c in SUPPORTED]


def to_xy(box: tuple[float, ...], c: Crs) -> tuple[float, float, float, float]:
    """A bbox as sent (2 or 3 dimensions, in `c`'s axis order) → minx, miny, maxx, maxy (x = east/lon)."""
    if len(box) == 6:
        box = (box[0], box[1], box[3], box[4])
    a0, b0, a1, b1 = box
    return (b0, a0, b1, a1) if c.lat_first else (a0, b0, a1, b1)
