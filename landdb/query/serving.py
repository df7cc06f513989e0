"""The serving layer's consistency check: `parcel_features` against what the register computes now."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Columns compared; geometries by their binary form, so a single moved vertex shows.
_COLUMNS = ("parcel_id, version_id, parcel_code, ward_id, ward_code, ward_name, sheet_no, parcel_no, national_id,"
            " land_use, land_use_name, legal_area_m2, area_m2, address, valid_from, version,"
            " ST_AsEWKB(geom) AS geom, ST_AsEWKB(geom_4326) AS geom_4326, ST_AsEWKB(geom_3857) AS geom_3857")


@dataclass(frozen=True)
class ServingCheck:
    """Rows only in the layer (stale or extra), rows only in the register (missing), and a few
    parcel codes of each, for the report."""

    rows: int
    stale: int
    missing: int
    examples: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.stale == 0 and self.missing == 0


def check(session: Session) -> ServingCheck:
    """Compare every row of the serving layer with the register's definition of it."""
    row = session.execute(text(f"""
    WITH layer AS (SELECT {_COLUMNS} FROM parcel_features),
         register AS (SELECT {_COLUMNS} FROM parcel_features_source),
         stale AS (SELECT * FROM layer EXCEPT ALL SELECT * FROM register),
         missing AS (SELECT * FROM register EXCEPT ALL SELECT * FROM layer)
    SELECT (SELECT count(*) FROM layer), (SELECT count(*) FROM stale), (SELECT count(*) FROM missing),
           ARRAY(SELECT parcel_code FROM (SELECT parcel_code FROM stale UNION SELECT parcel_code FROM missing) x
                 ORDER BY 1 LIMIT 10)
    """)).one()
    return ServingCheck(row[0], row[1], row[2], tuple(row[3]))
