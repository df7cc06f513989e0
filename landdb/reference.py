"""Reference data kept as CSV tables in `landdb/data/` (admin units, their 2025 successions,
land-use codes), synchronised into the database by `landdb db upgrade`.

These values come from official texts and third-party lists (see DOMAIN.md); keeping them as
data means a wrong code is corrected by editing a CSV, not the code.
"""

from __future__ import annotations

import csv
from importlib import resources

from sqlalchemy import text
from sqlalchemy.orm import Session


def read_table(name: str) -> list[dict[str, str | None]]:
    """Rows of `landdb/data/{name}.csv`, with empty cells as None."""
    with resources.files("landdb.data").joinpath(f"{name}.csv").open(encoding="utf-8") as fh:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(fh)]


def sync_reference_data(session: Session) -> dict[str, int]:
    """Insert or update the reference tables from the CSVs; boundaries are left alone.

    Returns the number of rows seen per table.
    """
    codes = read_table("land_use_codes")
    # Codes that others replace must exist first: insert without replaced_by, then set it.
    session.execute(
        text(
            """
            INSERT INTO land_use_codes (code, name_vi, name_en, category, legal_basis, valid_from, valid_to)
            VALUES (:code, :name_vi, :name_en, :category, :legal_basis, :valid_from, :valid_to)
            ON CONFLICT (code) DO UPDATE SET
              name_vi = EXCLUDED.name_vi, name_en = EXCLUDED.name_en, category = EXCLUDED.category,
              legal_basis = EXCLUDED.legal_basis, valid_from = EXCLUDED.valid_from,
              valid_to = EXCLUDED.valid_to
            """
        ),
        codes,
    )
    session.execute(
        text("UPDATE land_use_codes SET replaced_by = :replaced_by WHERE code = :code"),
        [{"code": c["code"], "replaced_by": c["replaced_by"]} for c in codes],
    )

    units = read_table("admin_units")
    for unit in units:
        updated = session.execute(
            text(
                """
                UPDATE admin_units SET name = :name, level = :level, parent_code = :parent_code,
                       valid_to = :valid_to
                 WHERE code = :code AND valid_from = :valid_from
                """
            ),
            unit,
        ).rowcount
        if not updated:
            session.execute(
                text(
                    """
                    INSERT INTO admin_units (code, name, level, parent_code, valid_from, valid_to)
                    VALUES (:code, :name, :level, :parent_code, :valid_from, :valid_to)
                    """
                ),
                unit,
            )

    successions = read_table("admin_unit_successions")
    session.execute(
        text(
            """
            INSERT INTO admin_unit_successions (predecessor_id, successor_id, extent, effective_on, source)
            SELECT p.id, s.id, :extent, :effective_on, :source
              FROM admin_units p, admin_units s
             WHERE p.code = :predecessor_code AND p.valid_from = :predecessor_valid_from
               AND s.code = :successor_code AND s.valid_from = :successor_valid_from
            ON CONFLICT (predecessor_id, successor_id) DO UPDATE SET
              extent = EXCLUDED.extent, effective_on = EXCLUDED.effective_on, source = EXCLUDED.source
            """
        ),
        successions,
    )
    return {"land_use_codes": len(codes), "admin_units": len(units), "admin_unit_successions": len(successions)}
