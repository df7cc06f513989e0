"""CRS spellings, bbox parsing and Vietnam's extent (landdb.crs)."""

from __future__ import annotations

import pytest

from landdb import crs
from landdb.errors import InvalidInput


@pytest.mark.parametrize(
    "spelling, srid",
    [
        ("EPSG:4326", 4326),
        ("epsg:3857", 3857),
        ("urn:ogc:def:crs:EPSG::5899", 5899),
        ("urn:ogc:def:crs:EPSG:9.9.1:4326", 4326),
        ("http://www.opengis.net/def/crs/EPSG/0/5899", 5899),
        ("https://www.opengis.net/def/crs/EPSG/0/3857", 3857),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326),
        (None, 4326),
        ("", 4326),
    ],
)
def test_spellings(spelling, srid):
    assert crs.parse_crs(spelling) == srid


@pytest.mark.parametrize("bad", ["EPSG:2154", "4326", "EPSG:abc", "urn:ogc:def:crs:EPSG::", "WGS84"])
def test_unknown_or_unsupported(bad):
    with pytest.raises(InvalidInput):
        crs.parse_crs(bad)


def test_axis_order_of_spellings():
    assert crs.lat_first("urn:ogc:def:crs:EPSG::4326")
    assert crs.lat_first("http://www.opengis.net/def/crs/EPSG/0/4326")
    assert not crs.lat_first("EPSG:4326")
    assert not crs.lat_first(crs.CRS84)
    assert not crs.lat_first("urn:ogc:def:crs:EPSG::5899")


def test_bbox():
    assert crs.parse_bbox("107.0,20.9,107.1,21.0") == (107.0, 20.9, 107.1, 21.0)
    assert crs.parse_bbox("429000,2317000,430000,2318000", 5899) == (429000, 2317000, 430000, 2318000)
    for bad in ["1,2,3", "a,b,c,d", "107.1,20.9,107.0,21.0", "2,2,3,3", "nan,1,2,3",
                "429000,2317000,430000,2318000", "-200,20,107,21"]:
        with pytest.raises(InvalidInput):
            crs.parse_bbox(bad)
    with pytest.raises(InvalidInput):
        crs.parse_bbox("0,0,10,10", 3857)


def test_point_checks_and_transform():
    crs.check_lonlat(107.07, 20.95167)
    with pytest.raises(InvalidInput):
        crs.check_lonlat(20.95, 107.07)  # latitude first by mistake
    # Hồng Gai control point (DOMAIN.md): E 429 088, N 2 317 756 in EPSG:5899.
    e, n = crs.transform(107.07, 20.95167, 4326, 5899)
    assert abs(e - 429_088) < 2 and abs(n - 2_317_756) < 2

