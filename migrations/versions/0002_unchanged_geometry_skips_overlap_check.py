"""Parcel versions that keep their geometry skip the overlap check and its grid-cell locks.

A transfer, mortgage, land-use change or certificate re-issue opens a parcel's next version with
the very geometry of the version it closes in the same transaction (the same database
transaction: the closed row's xmin is the current transaction id). That geometry was active
until now and was checked when it was written, so it cannot newly overlap anything: a concurrent
writer's check sees either the old version (still active until this transaction commits) or the
new one. Skipping the check also skips its advisory locks on 1 km grid cells, so registrations on
different parcels of the same cell no longer wait for each other's commits (only for the
journal's lock, held from the journal row to the commit). New or changed geometry is checked
exactly as before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:35:00
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: True when this very database transaction (not a savepoint in it: then the check just runs)
#: closed a version of `parcel` with exactly this geometry, for registration `tx`. Only INSERTs
#: may skip, so no UPDATE can bring an old geometry back unchecked.
UNCHANGED = """
CREATE FUNCTION landdb_version_geom_unchanged(parcel bigint, tx bigint, g geometry) RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
  SELECT EXISTS (SELECT 1 FROM parcel_versions o
                  WHERE o.parcel_id = parcel AND o.closed_by_tx = tx AND o.geom = g
                    AND o.xmin = (txid_current() % 4294967296)::text::xid)
$$
"""

NO_OVERLAP = """
CREATE OR REPLACE FUNCTION landdb_check_parcel_overlaps() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  cell bigint;
  bad record;
BEGIN
  SELECT count(*) INTO n FROM new_rows r WHERE r.valid_to IS NULL AND NOT (TG_OP = 'INSERT' AND landdb_version_geom_unchanged(r.parcel_id, r.opened_by_tx, r.geom));
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n > 64 THEN
    PERFORM pg_advisory_xact_lock(5899, 0);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(5899, 0);
    FOR cell IN
      SELECT DISTINCT gx * 10000 + gy
      FROM new_rows r,
           generate_series(floor(ST_XMin(r.geom) / 1000)::int, floor(ST_XMax(r.geom) / 1000)::int) gx,
           generate_series(floor(ST_YMin(r.geom) / 1000)::int, floor(ST_YMax(r.geom) / 1000)::int) gy
      WHERE r.valid_to IS NULL AND NOT (TG_OP = 'INSERT' AND landdb_version_geom_unchanged(r.parcel_id, r.opened_by_tx, r.geom))
      ORDER BY 1
    LOOP
      PERFORM pg_advisory_xact_lock(5899, cell::int);
    END LOOP;
  END IF;

  SELECT a.parcel_code AS new_code, b.parcel_code AS old_code,
         round(ST_Area(ST_Intersection(r.geom, v.geom))::numeric, 2) AS area
    INTO bad
    FROM new_rows r
    JOIN parcel_versions v
      ON v.geom && r.geom AND v.valid_to IS NULL AND v.parcel_id <> r.parcel_id
    JOIN parcels a ON a.id = r.parcel_id
    JOIN parcels b ON b.id = v.parcel_id
   WHERE r.valid_to IS NULL AND NOT (TG_OP = 'INSERT' AND landdb_version_geom_unchanged(r.parcel_id, r.opened_by_tx, r.geom))
     AND ST_Intersects(r.geom, v.geom)
     AND NOT ST_Touches(r.geom, v.geom)
     AND ST_Area(ST_Intersection(r.geom, v.geom)) > 0.05
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'parcel % would overlap active parcel % by % m²', bad.new_code, bad.old_code, bad.area
      USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'parcel_versions_no_overlap';
  END IF;
  RETURN NULL;
END $$;
"""

#: The function as migration 0001 created it.
NO_OVERLAP_0001 = """
CREATE OR REPLACE FUNCTION landdb_check_parcel_overlaps() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  cell bigint;
  bad record;
BEGIN
  SELECT count(*) INTO n FROM new_rows WHERE valid_to IS NULL;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n > 64 THEN
    PERFORM pg_advisory_xact_lock(5899, 0);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(5899, 0);
    FOR cell IN
      SELECT DISTINCT gx * 10000 + gy
      FROM new_rows r,
           generate_series(floor(ST_XMin(r.geom) / 1000)::int, floor(ST_XMax(r.geom) / 1000)::int) gx,
           generate_series(floor(ST_YMin(r.geom) / 1000)::int, floor(ST_YMax(r.geom) / 1000)::int) gy
      WHERE r.valid_to IS NULL
      ORDER BY 1
    LOOP
      PERFORM pg_advisory_xact_lock(5899, cell::int);
    END LOOP;
  END IF;

  SELECT a.parcel_code AS new_code, b.parcel_code AS old_code,
         round(ST_Area(ST_Intersection(r.geom, v.geom))::numeric, 2) AS area
    INTO bad
    FROM new_rows r
    JOIN parcel_versions v
      ON v.geom && r.geom AND v.valid_to IS NULL AND v.parcel_id <> r.parcel_id
    JOIN parcels a ON a.id = r.parcel_id
    JOIN parcels b ON b.id = v.parcel_id
   WHERE r.valid_to IS NULL
     AND ST_Intersects(r.geom, v.geom)
     AND NOT ST_Touches(r.geom, v.geom)
     AND ST_Area(ST_Intersection(r.geom, v.geom)) > 0.05
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'parcel % would overlap active parcel % by % m²', bad.new_code, bad.old_code, bad.area
      USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'parcel_versions_no_overlap';
  END IF;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(UNCHANGED)
    op.execute(NO_OVERLAP)


def downgrade() -> None:
    op.execute(NO_OVERLAP_0001)
    op.execute("DROP FUNCTION landdb_version_geom_unchanged(bigint, bigint, geometry)")
