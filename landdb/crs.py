"""Coordinate reference systems the service speaks: parsing their spellings, bboxes, Vietnam's extent.

The register stores geometry in VN-2000 / TM-3 107-45 (EPSG:5899); clients get EPSG:4326 (the
default for JSON and web maps), EPSG:3857 or EPSG:5899. A CRS may be written `EPSG:n`,
`urn:ogc:def:crs:EPSG::n` (also with a version, `urn:ogc:def:crs:EPSG:9.9:n`),
`http(s)://www.opengis.net/def/crs/EPSG/0/n`, or OGC's CRS84 (WGS 84 longitude first).

Framework-free and small on purpose: the REST API and the WFS both use it. Axis order is the
caller's business (`lat_first()` says what the URN/URI spellings of EPSG:4326 mean); every
function here takes and returns x/y = east/north = lon/lat.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from .errors import InvalidInput

#: Where geometry is stored.
STORAGE_SRID = 5899
#: The default for GeoJSON (RFC 7946) and web clients.
DEFAULT_SRID = 4326
SUPPORTED = (4326, 3857, 5899)
NAMES = {
    4326: "WGS 84 (longitude, latitude)",
    3857: "WGS 84 / Pseudo-Mercator",
    5899: "VN-2000 / TM-3 107-45 (Quảng Ninh)",
}

#: Vietnam's extent in lon/lat, generously: anything outside is a client mistake.
VIETNAM_LON = (102.0, 110.0)
VIETNAM_LAT = (8.0, 24.0)

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

_SPELLINGS = [
    re.compile(r"^EPSG:(\d+)$", re.I),
    re.compile(r"^urn:ogc:def:crs:EPSG:[0-9.]*:(\d+)$", re.I),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$", re.I),
]
_CRS84 = re.compile(r"^(https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|urn:ogc:def:crs:OGC:1\.3:CRS84|CRS:84)$", re.I)


def parse_crs(value: str | int | None, *, default: int = DEFAULT_SRID, field: str = "crs") -> int:
    """The EPSG code of a CRS written in any accepted spelling.

    Raises InvalidInput for an unknown spelling or a CRS the service does not support.
    """
    if value is None or value == "":
        return default
    if isinstance(value, int):
        srid = value
    else:
        text = value.strip()
        if _CRS84.match(text):
            return 4326
        srid = None
        for pattern in _SPELLINGS:
            m = pattern.match(text)
            if m:
                srid = int(m.group(1))
                break
        if srid is None:
            raise InvalidInput(
                f"{field}: {value[:80]!r} is not a CRS spelling this service understands; "
                f"use e.g. EPSG:4326, urn:ogc:def:crs:EPSG::5899 or {uri(3857)}",
                field=field,
            )
    if srid not in SUPPORTED:
        raise InvalidInput(
            f"{field}: EPSG:{srid} is not supported; supported: "
            + ", ".join(f"EPSG:{s}" for s in SUPPORTED),
            field=field,
        )
    return srid


def lat_first(value: str) -> bool:
    """True when this spelling means latitude-first axes (the URN/URI forms of EPSG:4326).

    `EPSG:4326` and CRS84 are longitude-first by convention; the projected CRSs are east-first.
    """
    return parse_crs(value) == 4326 and not value.strip().upper().startswith("EPSG:") and not _CRS84.match(value.strip())


def uri(srid: int) -> str:
    """The OGC http URI of an EPSG code."""
    return f"http://www.opengis.net/def/crs/EPSG/0/{srid}"


def urn(srid: int) -> str:
    """The OGC URN of an EPSG code."""
    return f"urn:ogc:def:crs:EPSG::{srid}"


def spellings() -> list[str]:
    """The usual spellings of every supported CRS, for API documents (parse_crs takes more)."""
    return [s for srid in SUPPORTED for s in (f"EPSG:{srid}", urn(srid), uri(srid))] + [CRS84]


def in_vietnam(lon: float, lat: float) -> bool:
    return VIETNAM_LON[0] <= lon <= VIETNAM_LON[1] and VIETNAM_LAT[0] <= lat <= VIETNAM_LAT[1]


def check_lonlat(lon: float, lat: float, *, field: str = "lon/lat") -> None:
    """Raise InvalidInput unless (lon, lat) is a finite point in Vietnam."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(f"{field}: coordinates must be finite numbers", field=field)
    if not in_vietnam(lon, lat):
        raise InvalidInput(
            f"{field}: ({lon}, {lat}) is outside Vietnam (longitude {VIETNAM_LON[0]:g}–{VIETNAM_LON[1]:g}, "
            f"latitude {VIETNAM_LAT[0]:g}–{VIETNAM_LAT[1]:g}); give longitude first, in degrees",
            field=field,
        )


@lru_cache(maxsize=16)
def _transformer(src: int, dst: int):
    from pyproj import Transformer

    return Transformer.from_crs(f"EPSG:{src}", f"EPSG:{dst}", always_xy=True)


def transform(x: float, y: float, src: int, dst: int) -> tuple[float, float]:
    """Transform one point (x/y = east/north = lon/lat) between supported CRSs with PROJ."""
    if src == dst:
        return x, y
    return _transformer(src, dst).transform(x, y)


def parse_bbox(value: str, srid: int = DEFAULT_SRID, *, field: str = "bbox") -> tuple[float, float, float, float]:
    """`minx,miny,maxx,maxy` in CRS `srid` → four floats, checked.

    Raises InvalidInput when it is not four finite numbers, when a min exceeds its max, or when
    the box lies outside Vietnam.
    """
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) != 4:
        raise InvalidInput(f"{field}: expected four comma-separated numbers minx,miny,maxx,maxy", field=field)
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"{field}: {value[:80]!r} is not four numbers", field=field) from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInput(f"{field}: coordinates must be finite numbers", field=field)
    if minx > maxx or miny > maxy:
        raise InvalidInput(f"{field}: min must not exceed max (minx,miny,maxx,maxy)", field=field)
    check_bbox_in_vietnam((minx, miny, maxx, maxy), srid, field=field)
    return minx, miny, maxx, maxy


def check_bbox_in_vietnam(bbox: tuple[float, float, float, float], srid: int, *, field: str = "bbox") -> None:
    """Raise InvalidInput when the box does not touch Vietnam's extent (or is not a box in `srid`)."""
    minx, miny, maxx, maxy = bbox
    if srid == 4326:
        if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
            raise InvalidInput(f"{field}: longitudes must lie in -180..180 and latitudes in -90..90", field=field)
        lon0, lat0, lon1, lat1 = minx, miny, maxx, maxy
    else:
        corners = [transform(x, y, srid, 4326) for x in (minx, maxx) for y in (miny, maxy)]
        lons = [c[0] for c in corners]
        lats = [c[1] for c in corners]
        if not all(math.isfinite(v) for v in lons + lats):
            raise InvalidInput(f"{field}: not a valid box in EPSG:{srid}", field=field)
        lon0, lat0, lon1, lat1 = min(lons), min(lats), max(lons), max(lats)
    if lon1 < VIETNAM_LON[0] or lon0 > VIETNAM_LON[1] or lat1 < VIETNAM_LAT[0] or lat0 > VIETNAM_LAT[1]:
        raise InvalidInput(
            f"{field}: the box lies outside Vietnam; in EPSG:{srid}"
            + (" give minlon,minlat,maxlon,maxlat in degrees" if srid == 4326 else ""),
            field=field,
        )
