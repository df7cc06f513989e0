"""Drafts of the geometric registrations (split, merge, geometry correction), worked out before they are sent.

An officer draws on a web map (WGS 84) or uploads a surveyed file; the register keeps EPSG:5899.
These functions turn what was drawn or uploaded into what a registration body carries — the
children of a split or a corrected boundary in EPSG:5899, cut and measured by PostGIS in the
register's own CRS — and judge it with the register's own checks (`registry_support`), so the
form can show areas and refusals before anything is sent. They only read: nothing is locked or
written, and the registration itself checks everything again.

- `split_by_line`: the parent's polygon cut by a line (or several) drawn across it (`ST_Split`).
- `split_children`: child polygons given whole (an upload), checked against the parent.
- `merge_selection`: parcels picked on the map: versions, adjacency, holders, the merged area.
- `correction`: a new boundary: its area beside the old one; `edit_vertices`: the boundary with vertices moved.
- `read_upload`: the geometries of an uploaded file (GeoJSON, GeoPackage, a zipped Shapefile).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import crs as crs_
from . import registry_support as rs
from .errors import InvalidInput, NotFound, Unprocessable
from .parcels import parse_geometry

#: The largest file an officer may upload for a draft, and the most features it may hold.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_FEATURES = 100
#: Digits of the EPSG:5899 coordinates handed back (metres: 1e-9 m, far below any tolerance).
_DIGITS_5899 = 9
_DIGITS_WGS84 = 9


def _current(session: Session, codes: list[str]) -> list[Any]:
    """The current versions of active parcels `codes`, in the order given.

    Raises InvalidInput for a malformed code, NotFound for an unknown one and Unprocessable for
    a parcel retired by a split or merge."""
    for code in codes:
        if not isinstance(code, str) or not rs.PARCEL_CODE.match(code):
            raise InvalidInput(f"{str(code)[:40]!r} is not a parcel code like 06691-12-345", field="parcels")
    rows = session.execute(text("""
        SELECT p.id, p.parcel_code AS code, p.ward_code, p.retired_on, v.id AS version_id, v.version,
               v.land_use, v.legal_area_m2, ST_Area(v.geom) AS area_m2,
               ST_AsGeoJSON(ST_Transform(v.geom, 4326), :d) AS wgs84
          FROM parcels p LEFT JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
         WHERE p.parcel_code = ANY(:codes)
    """), {"codes": list(codes), "d": _DIGITS_WGS84}).all()
    by_code = {r.code: r for r in rows}
    out = []
    for code in codes:
        r = by_code.get(code)
        if r is None:
            raise NotFound(f"no parcel {code}", field="parcels")
        if r.retired_on is not None or r.version_id is None:
            raise Unprocessable(f"parcel {code} was retired on {r.retired_on} (split or merged)", field="parcels")
        out.append(r)
    return out


def _parcel_view(r) -> dict:
    return {"code": r.code, "version": r.version, "land_use": r.land_use,
            "legal_area_m2": float(r.legal_area_m2) if r.legal_area_m2 is not None else None,
            "area_m2": round(r.area_m2, 2), "geometry": json.loads(r.wgs84)}


def _polygons_5899(session: Session, geometries: list[Any], srid: int, *, field: str) -> list[str]:
    """Posted polygons (GeoJSON in `srid`) → EWKB hex in EPSG:5899, as the register reads them."""
    out = []
    for i, geometry in enumerate(geometries):
        g = parse_geometry(geometry, srid)
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InvalidInput(f"{field}[{i}] must be a Polygon or MultiPolygon, not {g.geom_type}", field=field)
        out.append(session.execute(
            text("SELECT encode(ST_AsEWKB(ST_Multi(ST_Transform(ST_GeomFromWKB(decode(:wkb, 'hex'), :srid), "
                 ":storage))), 'hex')"),
            {"wkb": g.wkb_hex, "srid": srid, "storage": crs_.STORAGE_SRID}).scalar_one())
    return out


def _pieces(session: Session, geoms: list[str]) -> list[dict]:
    """Each EWKB geometry as GeoJSON in EPSG:5899 (what a body sends), in WGS 84 (what a map
    draws), its area in m² and a point inside it (for a label)."""
    rows = session.execute(text("""
        SELECT ST_AsGeoJSON(g, :d, 0) AS g5899, ST_AsGeoJSON(ST_Transform(g, 4326), :dw, 0) AS wgs84,
               ST_Area(g) AS area, ST_AsGeoJSON(ST_Transform(ST_PointOnSurface(g), 4326), 8, 0) AS label
          FROM unnest(CAST(:gs AS text[])) WITH ORDINALITY AS k(h, ord),
               LATERAL ST_GeomFromEWKB(decode(h, 'hex')) AS g
         ORDER BY ord
    """), {"gs": geoms, "d": _DIGITS_5899, "dw": _DIGITS_WGS84}).all()
    return [{"geometry": json.loads(r.g5899), "wgs84": json.loads(r.wgs84), "area_m2": round(r.area, 2),
             "label_point": json.loads(r.label)["coordinates"]} for r in rows]


def _partition(session: Session, parent, geoms: list[str]) -> dict:
    """The children judged as the register judges a split (`check_partition`), with the sums."""
    children = _pieces(session, geoms)
    total = sum(c["area_m2"] for c in children)
    out = {
        "parcel": parent.code, "version": parent.version, "crs": f"EPSG:{crs_.STORAGE_SRID}",
        "parent": _parcel_view(parent), "children": children, "sum_m2": round(total, 2),
        "difference_m2": round(total - parent.area_m2, 2), "tolerance_m2": rs.TOLERANCE_M2,
        "ok": True, "problem": None, "details": {},
    }
    if len(children) < 2:
        out.update(ok=False, problem="a split needs at least two children")
        return out
    try:
        rs.check_partition(session, parent.version_id, geoms)
    except Unprocessable as exc:
        out.update(ok=False, problem=exc.message, details=exc.details)
    return out


def split_by_line(session: Session, code: str, line: Any, *, crs: str | int | None = None) -> dict:
    """Parcel `code` cut by `line` (a GeoJSON LineString or MultiLineString in `crs`, default
    WGS 84), in EPSG:5899.

    Returns `{parcel, version, crs, parent, children: [{geometry (EPSG:5899), wgs84, area_m2,
    label_point}], sum_m2, difference_m2, tolerance_m2, ok, problem, details}`, the children
    ordered west to east, then south to north. Raises InvalidInput when the line is not a line
    or does not cut the parcel in two or more."""
    parent = _current(session, [code])[0]
    srid = crs_.parse_crs(crs, default=crs_.DEFAULT_SRID)
    g = parse_geometry(line, srid)
    if g.geom_type not in ("LineString", "MultiLineString"):
        raise InvalidInput(f"line must be a LineString or MultiLineString, not {g.geom_type}", field="line")
    geoms = session.execute(text("""
        SELECT encode(ST_AsEWKB(ST_Multi(piece)), 'hex')
          FROM (SELECT (ST_Dump(ST_Split(v.geom, ST_Transform(ST_GeomFromWKB(decode(:wkb, 'hex'), :srid), :storage)))).geom
                       AS piece
                  FROM parcel_versions v WHERE v.id = :v) s
         WHERE ST_Area(piece) > 0
         ORDER BY ST_X(ST_Centroid(piece)), ST_Y(ST_Centroid(piece))
    """), {"wkb": g.wkb_hex, "srid": srid, "storage": crs_.STORAGE_SRID, "v": parent.version_id}).scalars().all()
    if len(geoms) < 2:
        raise InvalidInput(f"the line does not cut parcel {code}: draw it from outside the parcel, across it, "
                           "to outside again", field="line")
    return _partition(session, parent, list(geoms))


def split_children(session: Session, code: str, geometries: list[Any], *, crs: str | int | None = None) -> dict:
    """Child polygons of parcel `code` given whole (GeoJSON in `crs`, default EPSG:5899 as surveys
    are), checked against the parent: the answer of `split_by_line`."""
    parent = _current(session, [code])[0]
    if not isinstance(geometries, list) or not geometries:
        raise InvalidInput("give the children's polygons", field="children")
    srid = crs_.parse_crs(crs, default=crs_.STORAGE_SRID)
    return _partition(session, parent, _polygons_5899(session, geometries, srid, field="children"))


def correction(session: Session, code: str, geometry: Any, *, crs: str | int | None = None) -> dict:
    """A corrected boundary of parcel `code`: `{parcel, version, crs, parent, geometry (EPSG:5899),
    wgs84, area_m2, old_area_m2, difference_m2}`; the register judges the rest (overlaps,
    neighbours) in the preview."""
    parent = _current(session, [code])[0]
    srid = crs_.parse_crs(crs, default=crs_.STORAGE_SRID)
    if isinstance(geometry, list):
        if len(geometry) != 1:
            raise InvalidInput(f"a correction takes one polygon, not {len(geometry)}", field="geometry")
        geometry = geometry[0]
    new = _pieces(session, _polygons_5899(session, [geometry], srid, field="geometry"))[0]
    return {"parcel": parent.code, "version": parent.version, "crs": f"EPSG:{crs_.STORAGE_SRID}",
            "parent": _parcel_view(parent), **new, "old_area_m2": round(parent.area_m2, 2),
            "difference_m2": round(new["area_m2"] - parent.area_m2, 2)}


def edit_vertices(session: Session, code: str, moves: list, *, base: Any = None) -> dict:
    """Parcel `code`'s boundary (or `base`, a GeoJSON polygon in EPSG:5899 being edited) with some
    vertices of its outer ring moved to points given in WGS 84: `moves` is `[{"i": index, "lon",
    "lat"}]`. Only the moved vertices are reprojected; every other one keeps its EPSG:5899
    coordinates exactly, so edges shared with neighbours stay where they are. Returns what
    `correction` returns."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    parent = _current(session, [code])[0]
    if base is None:
        base = json.loads(session.execute(text("SELECT ST_AsGeoJSON(geom, :d, 0) FROM parcel_versions WHERE id = :v"),
                                          {"d": _DIGITS_5899, "v": parent.version_id}).scalar_one())
    g = parse_geometry(base, crs_.STORAGE_SRID)
    if g.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("the boundary being edited must be a Polygon or MultiPolygon", field="geometry")
    parts = list(g.geoms) if g.geom_type == "MultiPolygon" else [g]
    ring = [tuple(c) for c in parts[0].exterior.coords[:-1]]
    if not isinstance(moves, list) or len(moves) > len(ring):
        raise InvalidInput("moves must list the vertices moved", field="geometry")
    for m in moves:
        try:
            i, lon, lat = int(m["i"]), float(m["lon"]), float(m["lat"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput('each move is {"i": vertex, "lon": …, "lat": …}', field="geometry") from None
        if not 0 <= i < len(ring):
            raise InvalidInput(f"vertex {i} does not exist (the ring has {len(ring)})", field="geometry")
        crs_.check_lonlat(lon, lat, field="geometry")
        ring[i] = tuple(session.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :storage) p"),
            {"x": lon, "y": lat, "storage": crs_.STORAGE_SRID}).one())
    parts[0] = Polygon(ring + [ring[0]], [list(h.coords) for h in parts[0].interiors])
    edited = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not shapely.is_valid(edited):
        raise InvalidInput(f"geometry: invalid geometry: {shapely.is_valid_reason(edited)}", field="geometry")
    return correction(session, code, json.loads(shapely.to_geojson(edited)), crs=crs_.STORAGE_SRID)


def merge_selection(session: Session, codes: list[str]) -> dict:
    """Parcels picked for a merge, as the register would judge them (without locking):
    `{parcels: [{code, version, land_use, legal_area_m2, area_m2, geometry (WGS 84)}], apart:
    [codes sharing no boundary with the first and the rest], other_ward, same_holders,
    land_uses, area_m2 (of the union), legal_area_m2 (the sum), ok}`."""
    if not isinstance(codes, list) or not codes:
        raise InvalidInput("pick the parcels to merge", field="parcels")
    if len(codes) > 50:
        raise InvalidInput("at most 50 parcels can be merged at once", field="parcels")
    codes = list(dict.fromkeys(codes))
    rows = _current(session, codes)
    apart = rs.detached(session, [SimpleNamespace(id=r.id, code=r.code, version_id=r.version_id) for r in rows])
    holders = session.execute(text("""
        SELECT parcel_id, array_agg(kind || ':' || party_id || ':' || coalesce(share::text, '') ORDER BY kind, party_id)
          FROM rights WHERE parcel_id = ANY(:ids) AND valid_to IS NULL AND kind IN ('land_use_right', 'house_ownership')
         GROUP BY parcel_id
    """), {"ids": [r.id for r in rows]}).all()
    sets = {pid: tuple(h) for pid, h in holders}
    first = sets.get(rows[0].id, ())
    differing = [r.code for r in rows if sets.get(r.id, ()) != first]
    area = session.execute(text("SELECT ST_Area(ST_Union(geom)) FROM parcel_versions WHERE id = ANY(:v)"),
                           {"v": [r.version_id for r in rows]}).scalar_one()
    other_ward = [r.code for r in rows if r.ward_code != rows[0].ward_code]
    legal = sum((r.legal_area_m2 for r in rows if r.legal_area_m2 is not None), Decimal(0))
    return {"parcels": [_parcel_view(r) for r in rows], "apart": apart, "other_ward": other_ward,
            "differing_holders": differing, "land_uses": sorted({r.land_use for r in rows}),
            "area_m2": round(area, 2), "legal_area_m2": float(legal),
            "ok": len(rows) >= 2 and not apart and not other_ward and not differing}


# --- uploads ------------------------------------------------------------------------------------


#: Members a zipped Shapefile may hold beside its one .shp.
_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml"}


def _sniff(data: bytes, suffix: str, path: Path) -> str:
    """The path GDAL is to open, once the content is known to be what its name says.

    GDAL picks a driver by content, not by name: a file named .geojson holding a VRT could make it
    open files of this server. So only three formats are let through, each recognised here first:
    GeoJSON (it parses as JSON), GeoPackage (SQLite's header) and a zip holding one Shapefile and
    nothing but its sidecar files (opened by its .shp, whose header is checked)."""
    if suffix in (".geojson", ".json"):
        try:
            json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("the file could not be read as a vector file: it is not JSON", field="file") from None
        return str(path)
    if suffix == ".gpkg":
        if not data.startswith(b"SQLite format 3\x00"):
            raise InvalidInput("the file could not be read as a vector file: it is not a GeoPackage", field="file")
        return str(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            shp = [n for n in names if n.lower().endswith(".shp")]
            if len(shp) != 1 or any(Path(n).suffix.lower() not in _SHAPEFILE_PARTS for n in names) \
                    or any(".." in n or n.startswith("/") for n in names):
                raise InvalidInput("the zip must hold one Shapefile (.shp, .shx, .dbf, .prj) and nothing else",
                                   field="file")
            if z.read(shp[0])[:4] != b"\x00\x00\x27\x0a":
                raise InvalidInput("the file could not be read as a vector file: the .shp is not a Shapefile",
                                   field="file")
    except zipfile.BadZipFile:
        raise InvalidInput("the file could not be read as a vector file: not a zip", field="file") from None
    return f"/vsizip/{path}/{shp[0]}"


def read_upload(data: bytes, filename: str) -> tuple[list[dict], int]:
    """The geometries of an uploaded vector file and the EPSG code they are in.

    GeoJSON, GeoPackage or a zipped Shapefile (with its .shx, .dbf and .prj), recognised by
    content before GDAL reads it (`_sniff`). The CRS is the file's own; a GeoJSON without a `crs`
    member is WGS 84 (RFC 7946) unless its coordinates are plainly metres, which are read as
    VN-2000 / TM-3 (EPSG:5899), as Vietnamese survey software writes them. Returns GeoJSON
    geometry dicts (at most MAX_UPLOAD_FEATURES). Raises InvalidInput for an unreadable file,
    one with no geometry, or a CRS the service does not support."""
    import shapely
    from pyogrio.errors import DataLayerError, DataSourceError
    from pyogrio.raw import read as ogr_read
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if not data:
        raise InvalidInput("the file is empty", field="file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", field="file")
    suffix = Path(filename or "upload").suffix.lower()
    if suffix not in {".geojson", ".json", ".gpkg", ".zip"}:
        raise InvalidInput("the file must be GeoJSON (.geojson, .json), GeoPackage (.gpkg) or a zipped Shapefile "
                           "(.zip)", field="file")
    with tempfile.TemporaryDirectory(prefix="landdb-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        source = _sniff(data, suffix, path)
        try:
            meta, _fids, wkbs, _fields = ogr_read(source, read_geometry=True, max_features=MAX_UPLOAD_FEATURES + 1,
                                                 columns=[])
        except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
            raise InvalidInput(f"the file could not be read as a vector file: {str(exc).splitlines()[0][:160]}",
                               field="file") from None
    geoms = [shapely.from_wkb(w) for w in wkbs if w is not None]
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        raise InvalidInput("the file holds no geometry", field="file")
    if len(geoms) > MAX_UPLOAD_FEATURES:
        raise InvalidInput(f"the file holds more than {MAX_UPLOAD_FEATURES} features", field="file")
    srid = None
    if meta.get("crs"):
        try:
            srid = CRS.from_user_input(meta["crs"]).to_epsg()
        except CRSError:
            srid = None
        if srid is None:
            raise InvalidInput(f"the file's CRS ({str(meta['crs'])[:60]}) is not one this service knows; "
                               "save it in EPSG:5899, EPSG:4326 or EPSG:3857", field="file")
    if srid in (None, 4326) and suffix in (".geojson", ".json"):
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        if max(abs(x0), abs(x1)) > 360 or max(abs(y0), abs(y1)) > 360:
            srid = crs_.STORAGE_SRID
    srid = crs_.parse_crs(srid or crs_.DEFAULT_SRID, field="file")
    geoms = [shapely.force_2d(g) for g in geoms]
    return [json.loads(shapely.to_geojson(g)) for g in geoms], srid


def draft_from_upload(session: Session, form: str, code: str, data: bytes, filename: str) -> dict:
    """What an uploaded file means for form `form` ("split" or "geometry") of parcel `code`:
    lines cut the parcel, polygons are the children (split) or the new boundary (correction)."""
    geometries, srid = read_upload(data, filename)
    kinds = {g["type"] for g in geometries}
    if form == "split":
        if kinds <= {"LineString", "MultiLineString"}:
            lines = [c for g in geometries for c in ([g["coordinates"]] if g["type"] == "LineString" else g["coordinates"])]
            return split_by_line(session, code, {"type": "MultiLineString", "coordinates": lines}, crs=srid)
        return split_children(session, code, geometries, crs=srid)
    return correction(session, code, geometries, crs=srid)


__all__ = ["split_by_line", "split_children", "correction", "edit_vertices", "merge_selection", "read_upload", "draft_from_upload",
           "MAX_UPLOAD_BYTES"]
