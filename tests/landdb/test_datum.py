"""VN-2000 / TM-3 107-45 (EPSG:5899) → WGS 84: PostGIS, pyproj and the published control
points agree, with the datum shift applied (ignoring it costs ~200 m)."""

from __future__ import annotations

import math

import pytest
from pyproj import Transformer
from sqlalchemy import text

# DOMAIN.md: the equivalent PROJ string with the 7-parameter shift (EPSG:6960).
VN2000_TM3_10745 = (
    "+proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
    "+towgs84=-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372,0.252906278 "
    "+units=m +no_defs"
)

CONTROL_POINTS = [
    # (name, lat, lon, E, N, tolerance in m of the published rounding)
    ("Hồng Gai", 20.95167, 107.07, 429_088, 2_317_756, 3.0),
    ("Bãi Cháy", 20.955, 107.045, 426_490, 2_318_136, 3.0),
]


def _metres(lon1, lat1, lon2, lat2) -> float:
    dy = (lat2 - lat1) * 110_574.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


@pytest.mark.parametrize("name, lat, lon, east, north, tol", CONTROL_POINTS)
def test_postgis_and_pyproj_agree_on_control_points(connection, name, lat, lon, east, north, tol):
    to_5899 = Transformer.from_crs("EPSG:4326", VN2000_TM3_10745, always_xy=True)
    e, n = to_5899.transform(lon, lat)
    assert abs(e - east) < tol and abs(n - north) < tol, (name, e, n)

    pg_lon, pg_lat = connection.execute(
        text("SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:e, :n), 5899), 4326) g"),
        {"e": e, "n": n},
    ).one()
    # pyproj's round trip is the reference: PostGIS must land within well under a metre of it.
    assert _metres(lon, lat, pg_lon, pg_lat) < 0.5, (name, pg_lon, pg_lat)


def test_datum_shift_is_applied(connection):
    """Without the shift the same coordinates land ~200 m away: prove we are not doing that."""
    lon, lat = connection.execute(
        text("SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(429088, 2317756), 5899), 4326) g")
    ).one()
    no_shift = Transformer.from_crs(
        VN2000_TM3_10745.split(" +towgs84")[0] + " +units=m +no_defs", "EPSG:4326", always_xy=True
    ).transform(429_088, 2_317_756)
    assert _metres(lon, lat, *no_shift) > 150
    assert _metres(lon, lat, 107.07, 20.95167) < 3
