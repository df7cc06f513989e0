"""Loads a sample GeoPackage (from `landdb.sample.generate`) into an empty register with COPY."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput

SRID = 5899
DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "sample_parcels" / "halong_sample.gpkg"

#: Tables in load order (foreign keys to the journal are deferred, the others are not) and the
#: columns each takes from the GeoPackage.
COLUMNS: dict[str, tuple[str, ...]] = {
    "parties": ("id", "kind", "full_name", "id_kind", "id_number", "birth_year", "address"),
    "transactions": ("id", "kind", "effective_date", "registered_at", "dossier_no", "actor", "payload"),
    "certificates": ("id", "serial", "registry_no", "issued_on", "issued_by", "cancelled_on",
                     "opened_by_tx", "closed_by_tx"),
    "parcels": ("id", "ward_id", "ward_code", "sheet_no", "parcel_no", "national_id", "registered_on",
                "retired_on"),
    "parcel_versions": ("id", "parcel_id", "version", "valid_from", "valid_to", "land_use", "legal_area_m2",
                        "address", "geom", "opened_by_tx", "closed_by_tx"),
    "parcel_lineage": ("parent_id", "child_id", "transaction_id", "kind"),
    "rights": ("id", "parcel_id", "party_id", "kind", "share", "certificate_id", "valid_from", "valid_to",
               "term_end", "origin", "secured_amount_vnd", "opened_by_tx", "closed_by_tx"),
    "transaction_parcels": ("transaction_id", "parcel_id", "role"),
}
INTEGER_COLUMNS = {"id", "birth_year", "opened_by_tx", "closed_by_tx", "ward_id", "sheet_no", "parcel_no",
                   "parcel_id", "version", "child_id", "parent_id", "transaction_id", "party_id",
                   "certificate_id"}
#: Tables whose identity sequence must move past the ids the sample brings.
IDENTITY_TABLES = ("parties", "transactions", "certificates", "parcels", "parcel_versions", "rights")


def _read(path: Path, layer: str) -> pd.DataFrame:
    df = pyogrio.read_dataframe(path, layer=layer)
    if "geometry" in df:
        geoms = shapely.set_srid(np.asarray(df.geometry.values, dtype=object), SRID)
        df = pd.DataFrame(df.drop(columns="geometry"))
        df["geom"] = shapely.to_wkb(geoms, hex=True, include_srid=True)
    for col in df.columns:
        if col in INTEGER_COLUMNS and df[col].dtype != object:
            df[col] = df[col].astype("Int64")
    return df


#: Rights go in batches this small: the share trigger checks a batch of at most 1 000 rows by
#: index, while its whole-table path over one huge batch grows with the square of the size.
RIGHTS_BATCH = 1000


def _copy(cursor, table: str, df: pd.DataFrame) -> None:
    cols = COLUMNS[table]
    sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"
    text_rows = df.loc[:, list(cols)].to_csv(index=False, header=False, na_rep="", lineterminator="\n")
    if table != "rights" or len(df) == 0:
        cursor.copy_expert(sql, io.StringIO(text_rows))
        return
    lines = text_rows.split("\n")
    if len(lines) != len(df) + 1:
        raise InvalidInput("a right's text holds a line break; the sample file is damaged")
    # Closed rights and mortgages do not count towards a share sum: one COPY, which the trigger
    # passes at once. Open shared rights go in batches the trigger checks by index.
    counted = (df["share"].notna() & df["valid_to"].isna()).to_numpy()
    rest = np.flatnonzero(~counted)
    if rest.size:
        cursor.copy_expert(sql, io.StringIO("\n".join(lines[i] for i in rest) + "\n"))
    shared = np.flatnonzero(counted)
    next_analyze = 1
    for k, start in enumerate(range(0, shared.size, RIGHTS_BATCH), start=1):
        chunk = shared[start:start + RIGHTS_BATCH]
        cursor.copy_expert(sql, io.StringIO("\n".join(lines[i] for i in chunk) + "\n"))
        if k == next_analyze:
            # Fresh statistics make the trigger re-plan its check for the table's new size
            # (a plan made when the table was empty would scan it whole for every batch).
            cursor.execute("ANALYZE rights")
            next_analyze *= 2


def _remap_wards(payload: str, remap: dict[int, int]) -> str:
    doc = json.loads(payload)
    for op in doc.get("effects", []):
        if op.get("op") == "parcel" and op.get("ward_id") in remap:
            op["ward_id"] = remap[op["ward_id"]]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def sample_layers(path: Path) -> set[str]:
    return {name for name, _ in pyogrio.list_layers(path)}


def load_sample(session: Session, path: Path | str = DEFAULT_SAMPLE, progress: bool = False) -> dict[str, int]:
    """Load the sample GeoPackage at `path` into the caller's transaction; the register must be empty.

    Reference data must already be there (`landdb.reference.sync_reference_data`). Sets the
    admin units' boundaries, copies every table with COPY, and moves the identity sequences past
    the sample's ids. Returns the number of rows loaded per table.

    Raises InvalidInput for a missing or foreign file, Conflict when parcels already exist.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no sample file at {path}: run `landdb sample generate` first")
    layers = sample_layers(path)
    missing = ({"admin_units"} | set(COLUMNS)) - layers
    if missing:
        raise InvalidInput(f"{path} is not a landdb sample: no layer {', '.join(sorted(missing))}")
    if session.execute(text("SELECT EXISTS (SELECT 1 FROM parcels)")).scalar():
        raise Conflict("the register already has parcels: the sample loads only into an empty one")

    counts: dict[str, int] = {}
    units = _read(path, "admin_units")
    known = {
        (code, vf.isoformat()): uid
        for uid, code, vf in session.execute(text("SELECT id, code, valid_from FROM admin_units"))
    }
    rows = [{"id": known[(u.code, u.valid_from)], "geom": u.geom}
            for u in units.itertuples() if (u.code, u.valid_from) in known]
    if len(rows) != len(units):
        raise InvalidInput("the sample's admin units do not match the reference data: run `landdb db upgrade`")
    # The sample's payloads name wards by the ids a new database gives them; map if these differ.
    remap = {int(u.id): known[(u.code, u.valid_from)] for u in units.itertuples()
             if int(u.id) != known[(u.code, u.valid_from)]}
    session.execute(text("UPDATE admin_units SET geom = ST_GeomFromEWKB(decode(:geom, 'hex')) WHERE id = :id"), rows)
    counts["admin_units"] = len(rows)

    cursor = session.connection().connection.cursor()
    tables = list(COLUMNS)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tables), unit="table", desc="loading")
    try:
        for table in tables:
            df = _read(path, table)
            if table == "parcels":
                df["ward_id"] = [known[(c, v)] for c, v in zip(df["ward_code"], df["ward_valid_from"])]
            if table == "transactions" and remap:
                df["payload"] = [_remap_wards(p, remap) for p in df["payload"]]
            _copy(cursor, table, df)
            cursor.execute(f"ANALYZE {table}")
            counts[table] = len(df)
            if bar:
                bar.set_postfix_str(f"{table} {len(df)}")
                bar.update()
    finally:
        if bar:
            bar.close()
    for table in IDENTITY_TABLES:
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    return counts
