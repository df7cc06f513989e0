"""Mapbox Vector Tiles of the public layers (parcels — thửa đất, wards — đơn vị hành chính), built by ST_AsMVT.

A tile is one SQL statement over the read core's query value: the core compiles the feature
type's source (the serving layer now, the versioned register for `at=`), the time-travel
condition and the CQL2 filter; this module adds the tile's envelope test on the indexed Web
Mercator geometry and wraps the rows in ST_AsMVTGeom / ST_AsMVT. Python never touches a feature.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from .. import prepared
from ..crs import STORAGE_SRID
from ..errors import NotFound
from . import matrix

from ..query import FEATURE_TYPES, FeatureQuery, compile_where

#: MVT geometry units per tile side, and the margin (in those units) kept around a tile so that
#: strokes and labels do not stop at its edge.
EXTENT = 4096
BUFFER = 64
#: Raised whenever what a tile holds changes shape (layers, properties, simplification):
#: it is part of every ETag, so caches drop tiles made by older code.
FORMAT_VERSION = 2
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileLayer:
    """A collection served as vector tiles: its feature type, the few properties a map needs,
    the zooms at which it has content, and whether its outlines are simplified per zoom."""

    name: str
    title: str
    description: str
    properties: tuple[str, ...]
    min_zoom: int
    max_zoom: int = matrix.MAX_ZOOM
    simplify: bool = False
    #: for the tileset's metadata and TileJSON: property → TileJSON field type.
    fields: dict[str, str] = field(default_factory=dict)
    #: up to this zoom, only these properties and no feature ids (None: always all of them).
    overview_until: int | None = None
    overview_properties: tuple[str, ...] = ()

    def content(self, z: int) -> tuple[tuple[str, ...], bool]:
        """(properties, with feature ids) of a tile at zoom z."""
        if self.overview_until is not None and z <= self.overview_until:
            return self.overview_properties, False
        return self.properties, True


#: Parcels appear from this zoom on; below it a parcels tile is empty. Measured on the 200 000-
#: parcel sample (bench/bench_tiles.py, bench/RESULTS.md): the densest z13 tile holds ~29 000
#: parcels (1.7 MB with all properties); the densest z14 tile ~18 000 (1.0 MB with all
#: properties, 455 KB with the land use alone and no ids), the densest z15 tile ~6 700 (383 KB
#: with all). So z14 is an overview zoom: every parcel, its land use only; from z15 on, all of
#: a parcel's tile properties. No tile is over 500 KB.
PARCELS_MIN_ZOOM = 14
PARCELS_OVERVIEW_UNTIL = 14

LAYERS: dict[str, TileLayer] = {
    "parcels": TileLayer(
        "parcels", "Parcels (thửa đất)",
        "Current parcels (or those of the day asked with at=/datetime=), coloured by land use in the "
        f"landdb style; from zoom {PARCELS_MIN_ZOOM} on, with only their land use (and no feature ids) up "
        f"to zoom {PARCELS_OVERVIEW_UNTIL}.",
        ("parcel_code", "land_use", "legal_area_m2"), PARCELS_MIN_ZOOM,
        fields={"parcel_code": "String", "land_use": "String", "legal_area_m2": "Number"},
        overview_until=PARCELS_OVERVIEW_UNTIL, overview_properties=("land_use",)),
    "wards": TileLayer(
        "wards", "Wards and communes (phường, xã)",
        "Administrative units valid now (or on the day asked), at every zoom, outlines simplified per zoom.",
        ("code", "name", "level"), 0, simplify=True,
        fields={"code": "String", "name": "String", "level": "String"}),
}


def layer(collection: str) -> TileLayer:
    """The tile layer of `collection`; NotFound for one that has no tiles."""
    try:
        return LAYERS[collection]
    except KeyError:
        raise NotFound(f"no collection {collection!r} with tiles; there are: {', '.join(LAYERS)}",
                       field="collectionId") from None


@dataclass(frozen=True)
class Tile:
    """One tile asked for: collection, tile matrix set, zoom, column (x), row (y), and the
    register's day (`at`, None: now) and filter (a pygeofilter AST, None: all)."""

    collection: str
    tms: str
    z: int
    x: int
    y: int
    at: dt.date | None = None
    filter: Any = None
    #: the filter as the client wrote it, normalised (part of the ETag).
    filter_key: str = ""

    @property
    def layer(self) -> TileLayer:
        return layer(self.collection)

    @property
    def empty(self) -> bool:
        """True when the layer has no content at this zoom (no query needed)."""
        return not self.layer.min_zoom <= self.z <= self.layer.max_zoom


def statement(tile: Tile) -> tuple[str, dict]:
    """(SQL, params) of the one statement that renders `tile` as an MVT (a single bytea row)."""
    lyr = tile.layer
    ft = FEATURE_TYPES[lyr.name]
    q = FeatureQuery(ft)
    q.at = tile.at
    q.filter = tile.filter
    geom = ft.geometry_column(3857)
    # The indexed bbox test on the Web Mercator column, with the tile's margin.
    q.add(f"{geom} && ST_TileEnvelope(:_tz, :_tx, :_ty, margin => {BUFFER / EXTENT})",
          _tz=tile.z, _tx=tile.x, _ty=tile.y)
    if lyr.name == "wards" and tile.at is None:
        q.add("f.valid_to IS NULL")  # the units of today, not those the 2025 reform ended
    c = compile_where(q)
    params = dict(c.params)
    if lyr.simplify:
        # One MVT unit at this zoom: finer detail vanishes in ST_AsMVTGeom's grid anyway.
        params["_tol"] = matrix.tile_span(tile.tms, tile.z) / EXTENT
        geom = f"ST_Simplify({geom}, :_tol, true)"
    names, with_ids = lyr.content(tile.z)
    columns = ", ".join(([f"{ft.key_sql} AS id"] if with_ids else []) + [_column(ft, name) for name in names])
    id_column = ", 'id'" if with_ids else ""
    sql = (
        f"SELECT ST_AsMVT(t, '{lyr.name}', {EXTENT}, 'geom'{id_column}) FROM ("
        f"SELECT ST_AsMVTGeom({geom}, ST_TileEnvelope(:_tz, :_tx, :_ty), {EXTENT}, {BUFFER}, true) AS geom, "
        f"{columns} FROM {c.source} WHERE {c.where}) t WHERE t.geom IS NOT NULL"
    )
    return sql, params


def _column(ft, name: str) -> str:
    prop = ft.property(name)
    sql = prop.sql
    # MVT values are strings, numbers and booleans: numerics go as doubles, not as text.
    if prop.kind == "float":
        sql = f"({sql})::float8"
    return f'{sql} AS "{name}"'


def render(session: Session, tile: Tile) -> bytes:
    """The tile as MVT bytes (b"" when it holds no feature). Raises InvalidInput for a filter
    the core refuses, NotFound for a tile outside the matrix set."""
    matrix.check_tile(tile.tms, tile.z, tile.x, tile.y)
    if tile.empty:
        return b""
    sql, params = statement(tile)
    rows = prepared.fetch(session, sql, params)
    return bytes(rows[0][0]) if rows and rows[0][0] is not None else b""


def extent_wgs84(session: Session) -> tuple[float, float, float, float] | None:
    """Lon/lat bounds of today's wards and communes (every parcel lies inside one), or None."""
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Transform(ST_SetSRID("
        f"ST_Extent(geom)::geometry, {STORAGE_SRID}), 4326) AS e FROM admin_units "
        "WHERE level IN ('ward', 'commune') AND valid_to IS NULL AND geom IS NOT NULL) s")).one()
    return None if row[0] is None else tuple(float(v) for v in row)
