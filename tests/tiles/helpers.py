"""Fetching and decoding tiles in tests, and where the sample's parcels are."""

from __future__ import annotations

import gzip

import mapbox_vector_tile
import morecantile
from pyproj import Transformer
import numpy as np
import shapely
from shapely import wkb
from shapely.geometry import box, shape
from sqlalchemy import text

MERCATOR = morecantile.tms.get("WebMercatorQuad")
TO_3857 = Transformer.from_crs(5899, 3857, always_xy=True)
TO_4326 = Transformer.from_crs(5899, 4326, always_xy=True)


def tile_url(collection: str, z: int, x: int, y: int, query: str = "") -> str:
    return f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}" + (f"?{query}" if query else "")


def decode(body: bytes) -> dict:
    """The layers of an MVT (gzip or not), with tile coordinates y-down as in the tile."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True}) if body else {}


def features(client, collection: str, z: int, x: int, y: int, query: str = "") -> list[dict]:
    resp = client.get(tile_url(collection, z, x, y, query))
    assert resp.status_code in (200, 204), resp.get_data(as_text=True)
    return decode(resp.data).get(collection, {}).get("features", [])


def codes(client, z: int, x: int, y: int, query: str = "") -> set[str]:
    return {f["properties"]["parcel_code"] for f in features(client, "parcels", z, x, y, query)}


def tile_at(session, parcel_code: str, z: int) -> morecantile.Tile:
    """The tile at zoom z holding the representative point of a current parcel."""
    lon, lat = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) p "
        "FROM parcels x JOIN parcel_versions v ON v.parcel_id = x.id AND v.valid_to IS NULL "
        "WHERE x.parcel_code = :c AND x.retired_on IS NULL) s"), {"c": parcel_code}).one()
    return MERCATOR.tile(lon, lat, z)


def tile_box(t: morecantile.Tile):
    """The tile's envelope in EPSG:3857, as a shapely box."""
    b = MERCATOR.xy_bounds(t)
    return box(b.left, b.bottom, b.right, b.top)


def parcels_near(session, t: morecantile.Tile, *, at=None) -> dict[str, object]:
    """parcel_code → boundary in EPSG:3857 (transformed by pyproj, not PostGIS) of the parcels
    valid now (or on `at`) near tile t, read from the register's own tables."""
    b = MERCATOR.bounds(t)
    pad = (b.right - b.left) / 2
    rows = session.execute(text(
        "SELECT p.parcel_code, ST_AsBinary(v.geom) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "WHERE v.geom && ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), 5899) AND "
        + ("v.valid_to IS NULL AND p.retired_on IS NULL" if at is None else
           "v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at)")),
        {"x0": b.left - pad, "y0": b.bottom - pad, "x1": b.right + pad, "y1": b.top + pad, "at": at}).all()
    return {code: shapely.transform(wkb.loads(bytes(g)), _reproject) for code, g in rows}


def expected_codes(session, t: morecantile.Tile, *, at=None) -> tuple[set[str], set[str]]:
    """(parcels that must be in the tile: well inside it; parcels that may be: touching it with
    its margin) — computed with shapely and pyproj, independently of PostGIS's MVT functions."""
    tb = tile_box(t)
    span = tb.bounds[2] - tb.bounds[0]
    inner, outer = tb.buffer(-span / 100, join_style=2), tb.buffer(span * 80 / 4096, join_style=2)
    near = parcels_near(session, t, at=at)
    must = {c for c, g in near.items() if g.intersects(inner) and not g.buffer(0).boundary.is_empty
            and g.intersection(inner).area > 1.0}
    may = {c for c, g in near.items() if g.intersects(outer)}
    return must, may


def to_mercator(feature: dict, t: morecantile.Tile, extent: int = 4096):
    """A decoded feature's geometry (tile units, y down) back in EPSG:3857."""
    b = MERCATOR.xy_bounds(t)
    sx, sy = (b.right - b.left) / extent, (b.top - b.bottom) / extent
    return shapely.transform(shape(feature["geometry"]),
                             lambda c: np.column_stack((b.left + c[:, 0] * sx, b.top - c[:, 1] * sy)))


def _reproject(coords):
    return np.column_stack(TO_3857.transform(coords[:, 0], coords[:, 1]))
