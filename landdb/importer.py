"""Bulk import of parcels (nhập dữ liệu thửa đất) from Shapefile, GeoPackage, GeoJSON, DXF, DGN …

The file is read with pyogrio (GDAL), its fields mapped onto the register's, its geometries
reprojected to EPSG:5899 and checked in Python (vectorised shapely); the rows that pass are
staged with COPY into a temporary table and checked set-based in PostGIS (duplicates against the
register, overlaps, national IDs); then one `INSERT … SELECT` per table writes them, with one
journal row of kind `import`. All or nothing unless `skip_invalid`. The caller owns the
transaction: `import_parcels` never commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .errors import Conflict, InvalidInput
from .models import SRID

#: The register's fields an import file can fill.
TARGETS = ("ward_code", "sheet_no", "parcel_no", "land_use", "legal_area_m2", "address", "national_id")
REQUIRED = ("ward_code", "sheet_no", "parcel_no", "land_use")
#: Field names used by Vietnamese cadastral software (Circular 25/2014 exchange format, VILIS,
#: TMV.LIS, FAMIS exports), tried when the file has no field named like the target.
ALIASES = {
    "ward_code": ("MaXa", "MaDVHC", "MaDonViHanhChinh"),
    "sheet_no": ("SoHieuToBanDo", "SoToBanDo", "SHBANDO", "SoTo", "so_to"),
    "parcel_no": ("SoThuTuThua", "SoThua", "SHTHUA", "so_thua"),
    "land_use": ("KyHieuMucDichSuDung", "MucDichSuDung", "LoaiDat", "MDSD"),
    "legal_area_m2": ("DienTichPhapLy", "DienTich", "legal_area"),
    "address": ("DiaChi", "DiaChiThuaDat"),
    "national_id": ("MaDinhDanh", "MaDinhDanhThua"),
}
#: Interior intersections up to this area (m²) are drawing noise, as in the database trigger.
OVERLAP_TOLERANCE_M2 = 0.05
#: Two geometries whose symmetric difference is smaller than this (m²) are the same parcel.
SAME_GEOMETRY_TOLERANCE_M2 = 0.05

_NATIONAL_ID = re.compile(r"^[0-9b-hjkmnp-z]{12}$")
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
_TEMP = "landdb_import_rows"
#: Rows written before the statistics are refreshed in a large import (see `_insert`).
_FIRST_SLICE = 2000
#: Rows per COPY.
_COPY_SLICE = 20_000


@dataclass
class Problem:
    """One finding of the validation report; `row` is the 1-based feature index in the file."""

    row: int | None
    code: str
    message: str
    severity: str = "error"

    def __post_init__(self) -> None:
        self.row = None if self.row is None else int(self.row)

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class ImportResult:
    """What an import did (or would do): counts, the validation report and the journal row."""

    source: str
    sha256: str
    layer: str
    crs: str
    mapping: dict[str, str]
    effective_date: dt.date
    dry_run: bool = False
    skip_invalid: bool = False
    read: int = 0
    imported: int = 0
    unchanged: int = 0
    skipped_rows: list[int] = field(default_factory=list)
    repaired_rows: list[int] = field(default_factory=list)
    area_from_geometry_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    transaction_id: int | None = None
    seconds: float = 0.0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def rejected(self) -> bool:
        """True when errors stopped the import (nothing written)."""
        return bool(self.errors) and not self.skip_invalid

    @property
    def skipped(self) -> int:
        return len(self.skipped_rows)

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def counts(self) -> dict[str, int]:
        return {"read": self.read, "imported": self.imported, "unchanged": self.unchanged,
                "skipped": self.skipped, "repaired": len(self.repaired_rows),
                "area_from_geometry": len(self.area_from_geometry_rows)}

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        state = "REJECTED, nothing imported" if self.rejected else f"{verb} {self.imported}"
        return (f"{self.source}: read {self.read}, {state}, unchanged {self.unchanged}, "
                f"skipped {self.skipped}, repaired {len(self.repaired_rows)} "
                f"in {self.seconds:.1f} s ({self.rate:,.0f} parcels/s)")


ProgressFn = Callable[[str], None]


def import_parcels(
    db: Session | Connection,
    path: str | Path,
    *,
    layer: str | None = None,
    mapping: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    crs: str | None = None,
    ward: str | None = None,
    on: dt.date | None = None,
    skip_invalid: bool = False,
    make_valid: bool = False,
    dry_run: bool = False,
    actor: str | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Validate the parcels of a GIS file and add them to the register in the caller's transaction.

    mapping: target field → field of the file (`{"sheet_no": "SoHieuToBanDo"}`); unmapped targets
    use a field of the same name or a known alias. constants: target field → one value for every
    row (`ward` is the same for `ward_code`). crs: the file's CRS when it declares none (or to
    override a wrong one). on: the registration date (default today, UTC); ward codes must be
    valid on it.

    Returns an `ImportResult`; when it is `rejected` nothing was written. Raises InvalidInput for
    an unreadable file or bad options, Conflict when the database refuses the rows (e.g. a
    concurrent import wrote an overlapping parcel).
    """
    started = time.perf_counter()
    step = progress or (lambda stage: None)
    conn = db.connection() if isinstance(db, Session) else db
    on = on or dt.datetime.now(dt.timezone.utc).date()
    path = Path(path)

    step("read")
    layer, frame = _read(path, layer)
    source_crs = _source_crs(frame, crs)
    columns = _resolve_mapping(frame, mapping or {}, {**(constants or {}), **({"ward_code": ward} if ward else {})})
    result = ImportResult(source=path.name, sha256=_sha256(path), layer=layer, crs=source_crs.to_string(),
                          mapping={k: v for k, v in columns.items()}, effective_date=on,
                          dry_run=dry_run, skip_invalid=skip_invalid, read=len(frame))
    if crs and frame.crs is not None and CRS.from_user_input(frame.crs) != source_crs:
        result.problems.append(Problem(None, "crs_override", f"the file declares {frame.crs.to_string()}; "
                                       f"--crs {crs} used instead", "warning"))

    step("geometry")
    rows = pd.DataFrame({"row_no": np.arange(1, len(frame) + 1)})
    bad = np.zeros(len(frame), dtype=bool)
    geoms, geom_bad = _geometries(frame, source_crs, make_valid, result)
    bad |= geom_bad

    step("fields")
    fields_bad = _fields(conn, frame, columns, constants or {}, ward, on, geoms, rows, result)
    bad |= fields_bad
    rows["geom"] = geoms
    del frame, geoms  # `rows` has all that is needed from here on

    step("stage")
    staged = rows[~bad]
    _stage(conn, staged)

    step("check")
    sql_bad = _check_register(conn, result)
    # The overlap checks are the expensive part. A file that is otherwise clean goes straight to
    # the insert, where the database's overlap trigger checks it anyway; only when that trigger
    # refuses (or for a dry run, or a report that already has errors) do we run our own checks,
    # which name every offending row instead of the first one.
    overlaps_checked = dry_run or bool(result.errors)
    if overlaps_checked:
        sql_bad |= _check_overlaps(conn, result)
    python_bad = {int(r) for r in rows["row_no"][bad]}
    if result.errors and not skip_invalid:
        return _finish(conn, result, started)
    _skip(conn, result, python_bad | sql_bad)
    new = conn.execute(text(f"SELECT count(*) FROM {_TEMP} WHERE status = 'new'")).scalar_one()

    if dry_run or new == 0:
        result.imported = new if dry_run else 0
        return _finish(conn, result, started)
    step("write")
    try:
        result.transaction_id = _write(conn, result, on, actor)
    except _OverlapRefused:
        if overlaps_checked:
            raise Conflict("the database refused the import: an overlap appeared while importing "
                           "(a concurrent change?); try again") from None
        sql_bad |= _check_overlaps(conn, result)
        if not result.errors:
            raise Conflict("the database refused the import as overlapping, but no overlap was found "
                           "on checking again (a concurrent change?); try again") from None
        if not skip_invalid:
            return _finish(conn, result, started)
        _skip(conn, result, python_bad | sql_bad)
        new = conn.execute(text(f"SELECT count(*) FROM {_TEMP} WHERE status = 'new'")).scalar_one()
        if new:
            try:
                result.transaction_id = _write(conn, result, on, actor)
            except _OverlapRefused:
                raise Conflict("the database refused the import as overlapping (a concurrent change?); "
                               "try again") from None
    result.imported = new if result.transaction_id else 0
    step("done")
    return _finish(conn, result, started)


def _finish(conn, result: ImportResult, started: float) -> ImportResult:
    _drop(conn)
    result.seconds = time.perf_counter() - started
    return result


def _skip(conn, result: ImportResult, bad_rows: set[int]) -> None:
    """Leave the rows with errors out of the import (they are listed as skipped)."""
    if bad_rows:
        conn.execute(text(f"DELETE FROM {_TEMP} WHERE row_no = ANY(:rows)"), {"rows": sorted(bad_rows)})
    result.skipped_rows = sorted(bad_rows)
    result.unchanged = conn.execute(text(f"SELECT count(*) FROM {_TEMP} WHERE status = 'unchanged'")).scalar_one()


class _OverlapRefused(Exception):
    """The database's overlap trigger refused the insert; the savepoint was rolled back."""


# --- reading and mapping ----------------------------------------------------------------------


def _read(path: Path, layer: str | None) -> tuple[str, pd.DataFrame]:
    if not path.exists():
        raise InvalidInput(f"{path}: no such file")
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InvalidInput(f"{path.name}: not a file GDAL can read ({exc})") from None
    names = [str(name) for name, _ in layers]
    if layer is None:
        polygonal = [str(n) for n, kind in layers if kind is None or "polygon" in str(kind).lower()
                     or str(kind) == "Unknown"]
        candidates = polygonal if len(polygonal) >= 1 else names
        if len(candidates) != 1:
            raise InvalidInput(f"{path.name} has several layers; choose one with --layer: {', '.join(names)}",
                               field="layer")
        layer = candidates[0]
    elif layer not in names:
        raise InvalidInput(f"{path.name} has no layer {layer!r}; its layers: {', '.join(names)}", field="layer")
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise InvalidInput(f"{path.name}: cannot read layer {layer!r} ({exc})") from None
    return layer, frame


def _source_crs(frame, crs: str | None) -> CRS:
    if crs:
        try:
            return CRS.from_user_input(crs)
        except CRSError:
            raise InvalidInput(f"unknown CRS {crs!r} (write it as EPSG:5899, EPSG:4326, …)", field="crs") from None
    if frame.crs is None:
        raise InvalidInput("the file declares no coordinate reference system (a Shapefile without its .prj, a "
                           "DXF or DGN): give it with --crs, e.g. --crs EPSG:5899 for VN-2000 / TM-3 107-45",
                           field="crs")
    return CRS.from_user_input(frame.crs)


def _resolve_mapping(frame, mapping: dict[str, str], constants: dict[str, str]) -> dict[str, str]:
    """Target field → source field (or `=value` for a constant)."""
    available = [c for c in frame.columns if c != frame.geometry.name]
    by_lower = {c.lower(): c for c in available}
    for target in (*mapping, *constants):
        if target not in TARGETS:
            raise InvalidInput(f"unknown target field {target!r}; targets are {', '.join(TARGETS)}", field="map")
    both = set(mapping) & set(constants)
    if both:
        raise InvalidInput(f"{', '.join(sorted(both))} given both as a mapped field and as one value", field="map")
    columns: dict[str, str] = {}
    for target in TARGETS:
        if target in constants:
            columns[target] = f"={constants[target]}"
        elif target in mapping:
            source = mapping[target]
            found = source if source in available else by_lower.get(source.lower())
            if found is None:
                raise InvalidInput(f"--map {target}={source}: the layer has no field {source!r}; "
                                   f"its fields: {', '.join(available) or '(none)'}", field="map")
            columns[target] = found
        else:
            # Shapefiles (dBase) cut field names to 10 characters.
            for name in (target, *ALIASES.get(target, ())):
                found = by_lower.get(name.lower()) or by_lower.get(name[:10].lower())
                if found:
                    columns[target] = found
                    break
    missing = [t for t in REQUIRED if t not in columns]
    if missing:
        hints = ", ".join(f"--map {t}=FIELD" + (" (or --ward CODE)" if t == "ward_code" else "") for t in missing)
        raise InvalidInput(f"the layer has no field for {', '.join(missing)}: name them with {hints}; "
                           f"its fields: {', '.join(available) or '(none)'}", field="map")
    return columns


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- checks in Python -------------------------------------------------------------------------


def _geometries(frame, source_crs: CRS, make_valid: bool, result: ImportResult) -> tuple[np.ndarray, np.ndarray]:
    """Reproject to EPSG:5899, drop Z, check validity; return MultiPolygons and a bad-row mask."""
    series = frame.geometry.set_crs(source_crs, allow_override=True)
    if source_crs.to_epsg() != SRID:
        series = series.to_crs(SRID)
    geoms = shapely.force_2d(np.asarray(series.array, dtype=object))
    bad = np.zeros(len(geoms), dtype=bool)
    add = result.problems.append

    # CAD files draw parcels as closed polylines.
    types = shapely.get_type_id(geoms)
    lines = np.flatnonzero(np.isin(types, (1, 2)) & shapely.is_closed(geoms))
    for i in lines:
        if shapely.get_num_coordinates(geoms[i]) >= 4:
            geoms[i] = shapely.polygons(shapely.get_coordinates(geoms[i]))
    types = shapely.get_type_id(geoms)

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        add(Problem(i + 1, "empty_geometry", "no geometry (empty)"))
    not_polygon = ~missing & ~np.isin(types, (3, 6))
    for i in np.flatnonzero(not_polygon):
        add(Problem(i + 1, "not_polygon", f"geometry is a {_TYPE_NAMES.get(int(types[i]), 'geometry')}, "
                                          "not a polygon"))
    bad |= missing | not_polygon

    polygonal = ~bad
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[polygonal] = ~shapely.is_valid(geoms[polygonal])
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        if not make_valid:
            add(Problem(i + 1, "invalid_geometry", f"invalid geometry: {reason} (EPSG:5899); "
                                                   "--make-valid repairs it"))
            bad[i] = True
            continue
        repaired = _polygonal_part(shapely.make_valid(geoms[i]))
        if repaired is None:
            add(Problem(i + 1, "invalid_geometry", f"invalid geometry: {reason}; repair left no polygon"))
            bad[i] = True
        else:
            geoms[i] = repaired
            result.repaired_rows.append(int(i) + 1)
            add(Problem(i + 1, "repaired", f"geometry repaired ({reason}) into {len(repaired.geoms)} "
                                           f"polygon(s), {repaired.area:.1f} m²", "warning"))

    single = np.flatnonzero(~bad & (shapely.get_type_id(geoms) == 3))
    if len(single):
        geoms[single] = shapely.multipolygons(geoms[single][:, np.newaxis])
    areas = np.zeros(len(geoms))
    areas[~bad] = shapely.area(geoms[~bad])
    for i in np.flatnonzero(~bad & (areas <= 0)):
        add(Problem(i + 1, "non_positive_area", "the geometry has no area"))
        bad[i] = True
    return geoms, bad


def _polygonal_part(geom) -> shapely.MultiPolygon | None:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    polys = [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])]
    return shapely.MultiPolygon(polys) if polys else None


def _column(frame, columns: dict[str, str], target: str) -> pd.Series | None:
    source = columns.get(target)
    if source is None:
        return None
    if source.startswith("="):
        return pd.Series([source[1:]] * len(frame), index=frame.index, dtype=object)
    return frame[source].reset_index(drop=True)


def _as_text(col: pd.Series) -> pd.Series:
    """Text values (pandas "string" dtype, NA when empty), whole numbers written without `.0`."""
    if pd.api.types.is_bool_dtype(col) or not (pd.api.types.is_numeric_dtype(col)):
        out = col.astype("string").str.strip()
    else:
        values = col.astype("float64")
        whole = values.notna() & (values % 1 == 0)
        out = values.astype("string")
        out[whole] = values[whole].astype("int64").astype("string")
    return out.mask(out == "")


def _fields(conn, frame, columns, constants, ward, on, geoms, rows: pd.DataFrame, result: ImportResult) -> np.ndarray:
    """Check and normalise the attribute fields into `rows`; return the bad-row mask."""
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    add = result.problems.append

    def require(target: str) -> pd.Series:
        col = _column(frame, columns, target)
        if col is None:
            return pd.Series([pd.NA] * n, dtype="string")
        return _as_text(col)

    ward_code = require("ward_code")
    ward_code = ward_code.where(~ward_code.str.fullmatch(r"[0-9]{1,4}").fillna(False), ward_code.str.zfill(5))
    land_use = require("land_use").str.upper()
    numbers = {}
    for target in ("sheet_no", "parcel_no"):
        raw = require(target)
        value = pd.to_numeric(raw, errors="coerce")
        ok = value.notna() & (value % 1 == 0) & (value > 0) & (value < 2**31)
        for i in np.flatnonzero(raw.notna() & ~ok):
            add(Problem(i + 1, "bad_number", f"{target} {raw.iloc[i]!r} is not a positive whole number"))
            bad[i] = True
        numbers[target] = value.where(ok).astype("Int64")

    for target, col in (("ward_code", ward_code), ("sheet_no", require("sheet_no")),
                        ("parcel_no", require("parcel_no")), ("land_use", land_use)):
        for i in np.flatnonzero(col.isna().to_numpy()):
            add(Problem(i + 1, "missing_value", f"{target} is missing"))
            bad[i] = True

    on_params = {"d": on}
    wards = dict(conn.execute(text(
        "SELECT code, id FROM admin_units WHERE level IN ('ward', 'commune') AND valid_from <= :d "
        "AND (valid_to IS NULL OR valid_to > :d)"), on_params).all())
    unknown = ward_code.notna() & ~ward_code.isin(list(wards))
    for i in np.flatnonzero(unknown.to_numpy()):
        add(Problem(i + 1, "unknown_ward", f"no ward or commune has code {ward_code.iloc[i]!r} on {on.isoformat()}"))
        bad[i] = True
    codes = set(conn.execute(text("SELECT code FROM land_use_codes")).scalars())
    unknown = land_use.notna() & ~land_use.isin(list(codes))
    for i in np.flatnonzero(unknown.to_numpy()):
        add(Problem(i + 1, "unknown_land_use", f"unknown land-use code {land_use.iloc[i]!r}"))
        bad[i] = True

    # Legal area: from the file, else the geometric area (the report says which rows).
    area_col = _column(frame, columns, "legal_area_m2")
    geometric = np.round(np.where(shapely.is_missing(geoms), 0.0, shapely.area(geoms)), 1)
    if area_col is None:
        legal = pd.Series(geometric)
        result.area_from_geometry_rows = list(range(1, n + 1))
    else:
        text_area = _as_text(area_col).str.replace(",", ".", regex=False)
        legal = pd.to_numeric(text_area, errors="coerce")
        for i in np.flatnonzero((text_area.notna() & legal.isna()).to_numpy()):
            add(Problem(i + 1, "bad_area", f"legal_area_m2 {area_col.iloc[i]!r} is not a number"))
            bad[i] = True
        absent = text_area.isna().to_numpy()
        result.area_from_geometry_rows = [int(i) + 1 for i in np.flatnonzero(absent)]
        legal = pd.Series(np.where(absent, geometric, legal.round(1)))
    for i in np.flatnonzero(((legal <= 0) | (legal >= 1e11)).to_numpy() & ~bad):
        add(Problem(i + 1, "non_positive_area", f"legal area {legal.iloc[i]} m² must be positive"))
        bad[i] = True
    if result.area_from_geometry_rows:
        rows_txt = _row_list(result.area_from_geometry_rows)
        add(Problem(None, "area_from_geometry", f"legal_area_m2 not given for {len(result.area_from_geometry_rows)} "
                                                f"row(s) ({rows_txt}): the geometric area rounded to 0.1 m² was used",
                    "warning"))

    national = require("national_id").str.lower()
    wrong = national.notna() & ~national.str.fullmatch(_NATIONAL_ID.pattern).fillna(False)
    for i in np.flatnonzero(wrong.to_numpy()):
        add(Problem(i + 1, "bad_national_id", f"national_id {national.iloc[i]!r} is not a 12-character GeoHash"))
        bad[i] = True

    key = ward_code.astype(object) + "-" + numbers["sheet_no"].astype(str) + "-" + numbers["parcel_no"].astype(str)
    keyed = ward_code.notna() & numbers["sheet_no"].notna() & numbers["parcel_no"].notna()
    _duplicates(key.where(keyed), "parcel code", bad, add)
    _duplicates(national.where(national.notna() & ~wrong), "national_id", bad, add)

    rows["ward_code"] = ward_code
    rows["ward_id"] = ward_code.map(wards, na_action="ignore").astype("Int64")
    rows["sheet_no"] = numbers["sheet_no"]
    rows["parcel_no"] = numbers["parcel_no"]
    rows["land_use"] = land_use
    rows["legal_area_m2"] = legal
    rows["address"] = require("address")
    rows["national_id"] = national
    return bad


def _duplicates(values: pd.Series, what: str, bad: np.ndarray, add) -> None:
    dup = values.notna() & values.duplicated(keep=False)
    if not dup.any():
        return
    groups = values[dup].groupby(values[dup]).groups
    for value, index in groups.items():
        rows = [int(i) + 1 for i in index]
        for r in rows:
            others = ", ".join(str(o) for o in rows if o != r)
            add(Problem(r, "duplicate", f"{what} {value} appears more than once in the file (also row {others})"))
            bad[r - 1] = True


def _row_list(rows: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return f"rows {shown}" + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


# --- staging and checks in PostGIS ------------------------------------------------------------


def _stage(conn, staged: pd.DataFrame) -> None:
    """COPY the rows that passed the Python checks into a temporary table with a GiST index."""
    conn.execute(text(f"DROP TABLE IF EXISTS {_TEMP}"))
    # No index on row_no: the planner would AND a range scan on it into the overlap self-join
    # (a.row_no < b.row_no), which makes that join quadratic.
    conn.execute(text(f"""
        CREATE TEMP TABLE {_TEMP} (
          row_no integer NOT NULL, ward_code varchar(5), ward_id integer, sheet_no integer,
          parcel_no integer, land_use varchar(3), legal_area_m2 numeric(12, 1), address text,
          national_id varchar(12), geom geometry(MultiPolygon, {SRID}),
          status text NOT NULL DEFAULT 'new', parcel_id bigint
        ) ON COMMIT DROP"""))
    columns = ["row_no", "ward_code", "ward_id", "sheet_no", "parcel_no", "land_use", "legal_area_m2", "address",
               "national_id"]
    copy = (f"COPY {_TEMP} ({', '.join(columns)}, geom) FROM STDIN WITH (FORMAT csv)")
    raw = conn.connection.driver_connection
    # In slices, so the CSV text of a large file is never all in memory at once.
    with raw.cursor() as cur:
        for start in range(0, len(staged), _COPY_SLICE):
            part = staged.iloc[start:start + _COPY_SLICE]
            out = part[columns].copy()
            # EWKB (hex) with the SRID inside, as PostGIS reads it from text.
            out["geom"] = shapely.to_wkb(shapely.set_srid(part["geom"].to_numpy(), SRID), hex=True,
                                         include_srid=True, output_dimension=2)
            buf = io.StringIO(out.to_csv(index=False, header=False, na_rep=""))
            del out
            cur.copy_expert(copy, buf)
    conn.execute(text(f"CREATE INDEX ON {_TEMP} (ward_code, sheet_no, parcel_no)"))
    conn.execute(text(f"ANALYZE {_TEMP}"))


def _check_register(conn, result: ImportResult) -> set[int]:
    """Parcel codes and national IDs already in the register; returns the bad rows."""
    bad: set[int] = set()
    add = result.problems.append
    tol = {"tol": SAME_GEOMETRY_TOLERANCE_M2}

    # Parcel codes already active: the same geometry is 'unchanged', another one is an error.
    for row_no, code, same, diff, land_use, file_land_use in conn.execute(text(f"""
        WITH m AS (
          SELECT t.row_no, p.id, p.parcel_code, v.land_use, t.land_use AS file_land_use,
                 CASE WHEN ST_OrderingEquals(t.geom, v.geom) THEN 0
                      ELSE ST_Area(ST_SymDifference(t.geom, v.geom)) END AS diff
            FROM {_TEMP} t
            JOIN parcels p ON p.ward_code = t.ward_code AND p.sheet_no = t.sheet_no
                          AND p.parcel_no = t.parcel_no AND p.retired_on IS NULL
            JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL)
        UPDATE {_TEMP} t SET status = CASE WHEN m.diff < :tol THEN 'unchanged' ELSE 'changed' END,
                             parcel_id = m.id
          FROM m WHERE m.row_no = t.row_no
        RETURNING t.row_no, m.parcel_code, m.diff < :tol, m.diff, m.land_use, m.file_land_use"""), tol):
        if not same:
            add(Problem(row_no, "code_exists", f"parcel {code} is already registered with a different geometry "
                                               f"({diff:.2f} m² differ); an import does not change registered parcels"))
            bad.add(row_no)
        elif land_use != file_land_use:
            add(Problem(row_no, "unchanged_differs", f"parcel {code} is already registered with this geometry; "
                                                     f"its land use {land_use} (file: {file_land_use}) is kept",
                        "warning"))

    for row_no, code in conn.execute(text(f"""
        SELECT t.row_no, p.parcel_code FROM {_TEMP} t JOIN parcels p ON p.national_id = t.national_id
         WHERE t.status = 'new'""")):
        add(Problem(row_no, "national_id_exists", f"national_id is already used by parcel {code}"))
        bad.add(row_no)
    return bad


def _check_overlaps(conn, result: ImportResult) -> set[int]:
    """Overlaps of new rows with active parcels and with each other; returns the bad rows."""
    bad: set[int] = set()
    add = result.problems.append
    tol = {"overlap": OVERLAP_TOLERANCE_M2}
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {_TEMP}_geom ON {_TEMP} USING gist (geom)"))
    conn.execute(text(f"ANALYZE {_TEMP}"))

    for row_no, code, area in conn.execute(text(f"""
        SELECT t.row_no, p.parcel_code, ST_Area(ST_Intersection(t.geom, v.geom))
          FROM {_TEMP} t
          JOIN parcel_versions v ON v.geom && t.geom AND v.valid_to IS NULL
          JOIN parcels p ON p.id = v.parcel_id
         WHERE t.status = 'new' AND ST_Relate(t.geom, v.geom, 'T********')
           AND ST_Area(ST_Intersection(t.geom, v.geom)) > :overlap
         ORDER BY 1, 2"""), tol):
        add(Problem(row_no, "overlaps_register", f"overlaps active parcel {code} by {area:.2f} m²"))
        bad.add(row_no)

    # Between rows of the file the later row is reported, naming the earlier one.
    for row_no, other, area in conn.execute(text(f"""
        SELECT b.row_no, a.row_no, ST_Area(ST_Intersection(a.geom, b.geom))
          FROM {_TEMP} a JOIN {_TEMP} b ON a.geom && b.geom AND a.row_no < b.row_no
         WHERE a.status = 'new' AND b.status = 'new' AND ST_Relate(a.geom, b.geom, 'T********')
           AND ST_Area(ST_Intersection(a.geom, b.geom)) > :overlap
         ORDER BY 1, 2"""), tol):
        add(Problem(row_no, "overlaps_row", f"overlaps row {other} of the file by {area:.2f} m²"))
        bad.add(row_no)
    return bad


def _write(conn, result: ImportResult, on: dt.date, actor: str | None) -> int:
    """Insert the new parcels, their first versions and the journal row (last); return its id.

    Runs under a savepoint: when the overlap trigger refuses the rows, everything written here
    is undone and `_OverlapRefused` raised, so the caller can report and retry.
    """
    conn.execute(text("SAVEPOINT landdb_import"))
    try:
        tx = _insert(conn, result, on, actor)
    except DBAPIError as exc:
        conn.execute(text("ROLLBACK TO SAVEPOINT landdb_import"))
        if getattr(exc.orig, "pgcode", None) == "23P01":  # exclusion_violation: the overlap trigger
            raise _OverlapRefused() from None
        # Another rule of the database (unique codes, national IDs) caught what changed since
        # the checks, e.g. a concurrent import: nothing of this import stays.
        diag = getattr(exc.orig, "diag", None)
        raise Conflict(f"the database refused the import: {diag.message_primary if diag else exc.orig}") from None
    conn.execute(text("RELEASE SAVEPOINT landdb_import"))
    return tx


def _insert(conn, result: ImportResult, on: dt.date, actor: str | None) -> int:
    tx = conn.execute(text("SELECT nextval(pg_get_serial_sequence('transactions', 'id'))")).scalar_one()
    # Ids first, so each table gets one plain INSERT … SELECT. (One statement with chained
    # data-modifying CTEs was tried: the overlap trigger then ran quadratically.)
    conn.execute(text(f"UPDATE {_TEMP} SET parcel_id = nextval(pg_get_serial_sequence('parcels', 'id')) "
                      "WHERE status = 'new'"))
    params = {"d": on, "tx": tx}
    conn.execute(text(f"""
        INSERT INTO parcels (id, ward_id, ward_code, sheet_no, parcel_no, national_id, registered_on)
        SELECT parcel_id, ward_id, ward_code, sheet_no, parcel_no, national_id, :d
          FROM {_TEMP} WHERE status = 'new' ORDER BY row_no"""), params)
    # The overlap trigger joins the new rows to parcel_versions and parcels with plans made
    # from the statistics of before the insert; for a table that was empty (or looked empty)
    # they are nested loops over whole tables, quadratic in the rows imported. So a large import
    # writes a first slice, refreshes the statistics, then writes the rest.
    versions = f"""
        INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, address, geom,
                                     opened_by_tx)
        SELECT parcel_id, 1, :d, land_use, legal_area_m2, address, geom, :tx
          FROM {_TEMP} WHERE status = 'new' AND row_no {{}} ORDER BY row_no"""
    new = conn.execute(text(f"SELECT count(*), min(row_no) FROM {_TEMP} WHERE status = 'new'")).one()
    if new[0] > _FIRST_SLICE * 5:
        cut = conn.execute(text(f"SELECT row_no FROM {_TEMP} WHERE status = 'new' ORDER BY row_no "
                                f"OFFSET {_FIRST_SLICE} LIMIT 1")).scalar_one()
        conn.execute(text(versions.format("< :cut")), {**params, "cut": cut})
        conn.execute(text("ANALYZE parcels"))
        conn.execute(text("ANALYZE parcel_versions"))
        conn.execute(text(versions.format(">= :cut")), {**params, "cut": cut})
    else:
        conn.execute(text(versions.format(">= :cut")), {**params, "cut": new[1] or 0})
    conn.execute(text(f"""
        INSERT INTO transaction_parcels (transaction_id, parcel_id, role)
        SELECT :tx, parcel_id, 'target' FROM {_TEMP} WHERE status = 'new'"""), params)
    counts = result.counts()
    counts["imported"] = conn.execute(text(f"SELECT count(*) FROM {_TEMP} WHERE status = 'new'")).scalar_one()
    payload = {
        "source": result.source, "sha256": result.sha256, "layer": result.layer, "crs": result.crs,
        "mapping": result.mapping, "counts": counts, "skipped_rows": result.skipped_rows,
        "repaired_rows": result.repaired_rows,
    }
    conn.execute(text("""
        INSERT INTO transactions (id, kind, effective_date, actor, payload)
        VALUES (:tx, 'import', :d, :actor, CAST(:payload AS jsonb))"""),
                 {**params, "actor": actor, "payload": json.dumps(payload, ensure_ascii=False)})
    return tx


def _drop(conn) -> None:
    conn.execute(text(f"DROP TABLE IF EXISTS {_TEMP}"))
