"""The file side of `landdb import`: reading the layer, its CRS and field mapping, the Python checks.

The checks are vectorised (shapely, pandas) and run before anything reaches the database; this
module also holds the report's types. Row numbers are 1-based feature indices in the file's
reading order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import text

from .errors import InvalidInput
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
_NATIONAL_ID = re.compile(r"^[0-9b-hjkmnp-z]{12}$")
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}



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


# --- reading and mapping ----------------------------------------------------------------------


def read_layer(path: Path, layer: str | None) -> tuple[str, pd.DataFrame]:
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


def source_crs(frame, crs: str | None) -> CRS:
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


def resolve_mapping(frame, mapping: dict[str, str], constants: dict[str, str]) -> dict[str, str]:
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- checks in Python -------------------------------------------------------------------------


def check_geometries(frame, source_crs: CRS, make_valid: bool, result: ImportResult) -> tuple[np.ndarray, np.ndarray]:
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


def check_fields(conn, frame, columns, constants, ward, on, geoms, rows: pd.DataFrame, result: ImportResult) -> np.ndarray:
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
