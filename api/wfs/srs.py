"""CRS spellings as WFS clients write them, on top of `landdb.crs`: EPSG code and axis order.

The convention GeoServer, QGIS and GDAL share: `urn:ogc:def:crs:EPSG::4326`,
`urn:x-ogc:def:crs:EPSG:4326` and `http://www.opengis.net/def/crs/EPSG/0/4326` are
latitude-first; `EPSG:4326` and `http://www.opengis.net/gml/srs/epsg.xml#4326` are
longitude-first. The projected CRSs we serve (3857, 5899) are east-first in every spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from landdb import crs
from landdb.errors import InvalidInput

from .exceptions import OWSException

_GML_SRS = re.compile(r"^https?://www\.opengis\.net/gml/srs/epsg\.xml#(\d+)$", re.I)
_X_OGC = re.compile(r"^urn:(?:x-)?ogc:def:crs:EPSG:(?:[0-9.]*:)?(\d+)$", re.I)


@dataclass(frozen=True)
class SRS:
    srid: int
    lat_first: bool
    name: str


def parse(value: str, *, locator: str = "srsName", version: str = "2.0.0") -> SRS:
    """The EPSG code and axis order a CRS spelling means; OWSException when unsupported."""
    text = value.strip()
    m = _GML_SRS.match(text)
    normal = f"EPSG:{m.group(1)}" if m else text
    m = _X_OGC.match(text)
    if m:
        normal = f"urn:ogc:def:crs:EPSG::{m.group(1)}"
    try:
        srid = crs.parse_crs(normal, field=locator)
        lat_first = crs.lat_first(normal)
    except InvalidInput as exc:
        raise OWSException("InvalidParameterValue", exc.message, locator) from None
    if version.startswith("1.0"):
        lat_first = False
    return SRS(srid, lat_first, text)


def storage(version: str = "2.0.0") -> SRS:
    """The default CRS of every feature type: the storage CRS, in the version's usual spelling."""
    if version.startswith("1.0"):
        return SRS(crs.STORAGE_SRID, False, f"EPSG:{crs.STORAGE_SRID}")
    return SRS(crs.STORAGE_SRID, False, crs.urn(crs.STORAGE_SRID))


def spellings(srid: int, version: str) -> str:
    """How capabilities write a CRS for this version."""
    return f"EPSG:{srid}" if version.startswith("1.0") else crs.urn(srid)
