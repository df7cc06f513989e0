"""Bulk import of parcels (nhập dữ liệu thửa đất) from Shapefile, GeoPackage, GeoJSON, DXF, DGN …

The file is read, mapped, reprojected to EPSG:5899 and checked in Python (`import_file`); the
rows that pass are staged with COPY into a temporary table and checked set-based in PostGIS
(codes and national IDs already registered; overlaps with active parcels and between rows);
then one `INSERT … SELECT` per table writes them, with one journal row of kind `import`, last.
All or nothing unless `skip_invalid`. The caller owns the transaction: `import_parcels` never
commits.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .errors import Conflict
from .import_file import (
    TARGETS,
    ImportResult,
    Problem,
    check_fields,
    check_geometries,
    file_sha256,
    read_layer,
    resolve_mapping,
    source_crs,
)
from .models import SRID

__all__ = ["TARGETS", "ImportResult", "Problem", "import_parcels"]

#: Interior intersections up to this area (m²) are drawing noise, as in the database trigger.
OVERLAP_TOLERANCE_M2 = 0.05
#: Two geometries whose symmetric difference is smaller than this (m²) are the same parcel.
SAME_GEOMETRY_TOLERANCE_M2 = 0.05

_TEMP = "landdb_import_rows"
#: Rows written before the statistics are refreshed in a large import (see `_insert`).
_FIRST_SLICE = 2000
#: Rows per COPY.
_COPY_SLICE = 20_000

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
    layer, frame = read_layer(path, layer)
    from_crs = source_crs(frame, crs)
    columns = resolve_mapping(frame, mapping or {}, {**(constants or {}), **({"ward_code": ward} if ward else {})})
    result = ImportResult(source=path.name, sha256=file_sha256(path), layer=layer, crs=from_crs.to_string(),
                          mapping={k: v for k, v in columns.items()}, effective_date=on,
                          dry_run=dry_run, skip_invalid=skip_invalid, read=len(frame))
    if crs and frame.crs is not None and CRS.from_user_input(frame.crs) != from_crs:
        result.problems.append(Problem(None, "crs_override", f"the file declares {frame.crs.to_string()}; "
                                       f"--crs {crs} used instead", "warning"))

    step("geometry")
    rows = pd.DataFrame({"row_no": np.arange(1, len(frame) + 1)})
    bad = np.zeros(len(frame), dtype=bool)
    geoms, geom_bad = check_geometries(frame, from_crs, make_valid, result)
    bad |= geom_bad

    step("fields")
    fields_bad = check_fields(conn, frame, columns, constants or {}, ward, on, geoms, rows, result)
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
