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
FORMAT_VERSION = 4
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: Tiles run their statement's generic plan from the first execution (landdb.prepared): the plan
#: PostgreSQL settles on after five runs anyway (it prices the index scan on `&&` with a
#: parameter far below its custom plans), without those five plannings per pooled connection
#: and statement (5–17 ms each on the 200 000-parcel sample) nor the parallel bitmap scans the
#: custom plans choose, which cost more than they save with 8 tiles at a time on 2 cores.
GENERIC_PLAN = True


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
    #: the SRID of the filter's geometry literals (`filter-crs`).
    filter_srid: int = 4326

    @property
    def layer(self) -> TileLayer:
        return layer(self.collection)

    @property
    def empty(self) -> bool:
        """True when the layer has no content at this zoom (no query needed)."""
        return not self.layer.min_zoom <= self.z <= self.layer.max_zoom


def _select(tile: Tile) -> tuple[object, str, dict, str]:
    """(feature type, FROM … WHERE of the rows the tile shows, parameters, their Web Mercator geometry)."""
    lyr = tile.layer
    ft = FEATURE_TYPES[lyr.name]
    q = FeatureQuery(ft)
    q.at = tile.at
    q.filter = tile.filter
    q.filter_srid = tile.filter_srid
    geom = ft.geometry_column(3857)
    # The indexed bbox test on the Web Mercator column, with the tile's margin.
    q.add(f"{geom} && ST_TileEnvelope(:_tz, :_tx, :_ty, margin => {BUFFER / EXTENT})",
          _tz=tile.z, _tx=tile.x, _ty=tile.y)
    if lyr.name == "wards" and tile.at is None:
        q.add("f.valid_to IS NULL")  # the units of today, not those the 2025 reform ended
    c = compile_where(q)
    return ft, f"{c.source} WHERE {c.where}", dict(c.params), geom


def _versions(ft) -> tuple[str, str] | None:
    """SQL of a row's key and version number, for a feature type whose rows are versioned."""
    version = ft.property("version")
    return None if version is None else (ft.key_sql, version.sql)


#: What sums up which versions a tile's rows are, without sorting them: their number, the sums
#: of their keys and version numbers, and the XOR of a 64-bit hash of each (key, version).
STATE = ("count(*) || '.' || coalesce(sum(s._k), 0) || '.' || coalesce(sum(s._v), 0) || '.' || "
         "coalesce(bit_xor(hashint8extended(s._k * 1000003 + s._v, 0)), 0)")


def statement(tile: Tile) -> tuple[str, dict]:
    """(SQL, params) of the one statement that renders `tile`: a single row of the MVT (bytea)
    and, for a versioned layer (parcels), the digest of the versions it shows (else NULL)."""
    lyr = tile.layer
    ft, rows, params, geom = _select(tile)
    if lyr.simplify:
        # One MVT unit at this zoom: finer detail vanishes in ST_AsMVTGeom's grid anyway.
        params["_tol"] = matrix.tile_span(tile.tms, tile.z) / EXTENT
        geom = f"ST_Simplify({geom}, :_tol, true)"
    names, with_ids = lyr.content(tile.z)
    columns = ([f"{ft.key_sql} AS id"] if with_ids else []) + [_column(ft, name) for name in names]
    shown = ["geom"] + (["id"] if with_ids else []) + [f'"{name}"' for name in names]
    id_column = ", 'id'" if with_ids else ""
    mvt_geom = f"ST_AsMVTGeom({geom}, ST_TileEnvelope(:_tz, :_tx, :_ty), {EXTENT}, {BUFFER}, true) AS geom"
    versions = _versions(ft)
    if versions is None:
        sql = (f"SELECT ST_AsMVT(t, '{lyr.name}', {EXTENT}, 'geom'{id_column}), NULL::text FROM ("
               f"SELECT {mvt_geom}, {', '.join(columns)} FROM {rows}) t WHERE t.geom IS NOT NULL")
        return sql, params
    # The tile's features are the rows with a geometry left after clipping (m: only the columns
    # the tile carries); the digest is over every row selected, as state_statement selects them.
    sql = (f"SELECT ST_AsMVT(m, '{lyr.name}', {EXTENT}, 'geom'{id_column}) FILTER (WHERE s.geom IS NOT NULL), "
           f"{STATE} FROM (SELECT {mvt_geom}, {', '.join(columns)}, {versions[0]} AS _k, {versions[1]} AS _v "
           f"FROM {rows}) s CROSS JOIN LATERAL (SELECT {', '.join('s.' + c for c in shown)}) m")
    return sql, params


def state_statement(tile: Tile) -> tuple[str, dict] | None:
    """(SQL, params) of the digest of the versions `tile` shows, without rendering it; None for
    a layer without versions."""
    ft, rows, params, _ = _select(tile)
    versions = _versions(ft)
    if versions is None:
        return None
    return f"SELECT {STATE} FROM (SELECT {versions[0]} AS _k, {versions[1]} AS _v FROM {rows}) s", params


def _column(ft, name: str) -> str:
    prop = ft.property(name)
    sql = prop.sql
    # MVT values are strings, numbers and booleans: numerics go as doubles, not as text.
    if prop.kind == "float":
        sql = f"({sql})::float8"
    return f'{sql} AS "{name}"'


def render(session: Session, tile: Tile) -> tuple[bytes, str | None]:
    """The tile as MVT bytes (b"" when it holds no feature) and the digest of the versions it
    shows (None for a layer without versions; "empty" below the layer's zooms). Raises
    InvalidInput for a filter the core refuses, NotFound for a tile outside the matrix set."""
    matrix.check_tile(tile.tms, tile.z, tile.x, tile.y)
    if tile.empty:
        return b"", "empty"
    sql, params = statement(tile)
    rows = prepared.fetch(session, sql, params, generic=GENERIC_PLAN)
    body, state = rows[0] if rows else (None, None)
    return (bytes(body) if body is not None else b""), state


def state(session: Session, tile: Tile) -> str | None:
    """The digest of the versions `tile` shows, without rendering it (None: a layer without versions)."""
    matrix.check_tile(tile.tms, tile.z, tile.x, tile.y)
    if tile.empty:
        return "empty"
    stmt = state_statement(tile)
    if stmt is None:
        return None
    return prepared.fetch(session, *stmt, generic=GENERIC_PLAN)[0][0]


def extent_wgs84(session: Session) -> tuple[float, float, float, float] | None:
    """Lon/lat bounds of today's wards and communes (every parcel lies inside one), or None."""
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Transform(ST_SetSRID("
        f"ST_Extent(geom)::geometry, {STORAGE_SRID}), 4326) AS e FROM admin_units "
        "WHERE level IN ('ward', 'commune') AND valid_to IS NULL AND geom IS NOT NULL) s")).one()
    return None if row[0] is None else tuple(float(v) for v in row)
