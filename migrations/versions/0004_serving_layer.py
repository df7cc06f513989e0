"""The serving layer: what the public reads, precomputed and kept in step by the register itself.

`parcel_features` holds one row per current parcel — names resolved, areas computed, the
boundary in EPSG:5899 and also in WGS 84 and Web Mercator — so a map, WFS or API page reads one
indexed table instead of joining four and transforming every boundary per request. Statement
triggers on `parcels`, `parcel_versions`, `admin_units` and `land_use_codes` rewrite the rows of
the parcels a statement touched, inside that statement's transaction: a reader never sees the
layer and the register disagree, and no job has to run. The view `parcel_features_source` is
the one definition of a row; `landdb db check` compares the table with it.

Admin units get their WGS 84 and Web Mercator boundaries as generated columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:40:00
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SOURCE = """
CREATE VIEW parcel_features_source AS
  SELECT p.id AS parcel_id, v.id AS version_id, p.parcel_code, p.ward_id, p.ward_code, w.name AS ward_name,
         p.sheet_no, p.parcel_no, p.national_id, v.land_use, lu.name_vi AS land_use_name, v.legal_area_m2,
         round(ST_Area(v.geom)::numeric, 1)::numeric(12, 1) AS area_m2, v.address, v.valid_from, v.version,
         v.geom, ST_Transform(v.geom, 4326) AS geom_4326, ST_Transform(v.geom, 3857) AS geom_3857
    FROM parcels p
    JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
    JOIN admin_units w ON w.id = p.ward_id
    JOIN land_use_codes lu ON lu.code = v.land_use
   WHERE p.retired_on IS NULL;

-- Runs as the tables' owner: the application's role reads the layer but cannot write it.
CREATE FUNCTION landdb_serve_parcels(ids bigint[]) RETURNS void LANGUAGE sql
SECURITY DEFINER SET search_path FROM CURRENT AS $$
  -- Joins, not `= ANY (ids)`: a bulk load passes hundreds of thousands of ids, and an array
  -- parameter is searched linearly for every row.
  DELETE FROM parcel_features f USING unnest(ids) AS u(id) WHERE f.parcel_id = u.id;
  INSERT INTO parcel_features SELECT s.* FROM parcel_features_source s WHERE s.parcel_id IN (SELECT unnest(ids));
$$;

-- One trigger function per transition-table shape: PostgreSQL allows one event per trigger
-- that names transition tables.
CREATE FUNCTION landdb_serve_new_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM landdb_serve_parcels(ARRAY(SELECT DISTINCT parcel_id FROM new_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION landdb_serve_old_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM landdb_serve_parcels(ARRAY(SELECT DISTINCT parcel_id FROM old_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION landdb_serve_changed_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM landdb_serve_parcels(ARRAY(SELECT parcel_id FROM new_rows UNION SELECT parcel_id FROM old_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION landdb_serve_changed_parcels() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM landdb_serve_parcels(ARRAY(SELECT id FROM new_rows UNION SELECT id FROM old_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION landdb_serve_renamed_units() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM landdb_serve_parcels(ARRAY(
    SELECT p.id FROM parcels p JOIN new_rows n ON n.id = p.ward_id JOIN old_rows o ON o.id = n.id
     WHERE n.name IS DISTINCT FROM o.name AND p.retired_on IS NULL));
  RETURN NULL;
END $$;

CREATE FUNCTION landdb_serve_renamed_land_uses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM landdb_serve_parcels(ARRAY(
    SELECT v.parcel_id FROM parcel_versions v JOIN new_rows n ON n.code = v.land_use
      JOIN old_rows o ON o.code = n.code
     WHERE n.name_vi IS DISTINCT FROM o.name_vi AND v.valid_to IS NULL));
  RETURN NULL;
END $$;

CREATE FUNCTION landdb_serve_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE parcel_features;
  RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER parcel_versions_serve_insert AFTER INSERT ON parcel_versions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_new_versions();
CREATE TRIGGER parcel_versions_serve_update AFTER UPDATE ON parcel_versions
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_changed_versions();
CREATE TRIGGER parcel_versions_serve_delete AFTER DELETE ON parcel_versions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_old_versions();
CREATE TRIGGER parcels_serve_update AFTER UPDATE ON parcels
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_changed_parcels();
CREATE TRIGGER admin_units_serve_update AFTER UPDATE ON admin_units
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_renamed_units();
CREATE TRIGGER land_use_codes_serve_update AFTER UPDATE ON land_use_codes
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_renamed_land_uses();
CREATE TRIGGER parcel_versions_serve_truncate AFTER TRUNCATE ON parcel_versions
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_truncated();
CREATE TRIGGER parcels_serve_truncate AFTER TRUNCATE ON parcels
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_serve_truncated();
"""


def upgrade() -> None:
    op.execute("""
    CREATE TABLE parcel_features (
      parcel_id bigint NOT NULL,
      version_id bigint NOT NULL,
      parcel_code text NOT NULL,
      ward_id integer NOT NULL,
      ward_code varchar(5) NOT NULL,
      ward_name text NOT NULL,
      sheet_no integer NOT NULL,
      parcel_no integer NOT NULL,
      national_id varchar(12),
      land_use varchar(3) NOT NULL,
      land_use_name text NOT NULL,
      legal_area_m2 numeric(12, 1) NOT NULL,
      area_m2 numeric(12, 1) NOT NULL,
      address text,
      valid_from date NOT NULL,
      version integer NOT NULL,
      geom geometry(MultiPolygon, 5899) NOT NULL,
      geom_4326 geometry(MultiPolygon, 4326) NOT NULL,
      geom_3857 geometry(MultiPolygon, 3857) NOT NULL,
      CONSTRAINT pk_parcel_features PRIMARY KEY (parcel_id)
    )""")
    op.execute("CREATE UNIQUE INDEX uq_parcel_features_parcel_code ON parcel_features (parcel_code)")
    op.execute("CREATE INDEX ix_parcel_features_code_parts ON parcel_features (ward_code, sheet_no, parcel_no)")
    op.execute("CREATE INDEX ix_parcel_features_land_use ON parcel_features (land_use)")
    op.execute("CREATE INDEX ix_parcel_features_geom ON parcel_features USING gist (geom)")
    op.execute("CREATE INDEX ix_parcel_features_geom_4326 ON parcel_features USING gist (geom_4326)")
    op.execute("CREATE INDEX ix_parcel_features_geom_3857 ON parcel_features USING gist (geom_3857)")
    op.execute("CREATE INDEX ix_parcel_features_address_trgm ON parcel_features "
               "USING gin (landdb_fold(address) gin_trgm_ops)")
    op.execute(_SOURCE)
    op.execute(_TRIGGERS)
    op.execute("INSERT INTO parcel_features SELECT * FROM parcel_features_source")
    op.execute("ALTER TABLE admin_units ADD COLUMN geom_4326 geometry(MultiPolygon, 4326) "
               "GENERATED ALWAYS AS (ST_Transform(geom, 4326)) STORED")
    op.execute("ALTER TABLE admin_units ADD COLUMN geom_3857 geometry(MultiPolygon, 3857) "
               "GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
    op.execute("CREATE INDEX ix_admin_units_geom_4326 ON admin_units USING gist (geom_4326)")
    op.execute("CREATE INDEX ix_admin_units_geom_3857 ON admin_units USING gist (geom_3857)")


def downgrade() -> None:
    op.execute("ALTER TABLE admin_units DROP COLUMN geom_3857, DROP COLUMN geom_4326")
    for trigger, table in (("parcel_versions_serve_insert", "parcel_versions"),
                           ("parcel_versions_serve_update", "parcel_versions"),
                           ("parcel_versions_serve_delete", "parcel_versions"),
                           ("parcels_serve_update", "parcels"),
                           ("admin_units_serve_update", "admin_units"),
                           ("land_use_codes_serve_update", "land_use_codes"),
                           ("parcel_versions_serve_truncate", "parcel_versions"),
                           ("parcels_serve_truncate", "parcels")):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for fn in ("landdb_serve_truncated()", "landdb_serve_renamed_land_uses()", "landdb_serve_renamed_units()",
               "landdb_serve_changed_parcels()", "landdb_serve_changed_versions()",
               "landdb_serve_old_versions()", "landdb_serve_new_versions()", "landdb_serve_parcels(bigint[])"):
        op.execute(f"DROP FUNCTION {fn}")
    op.execute("DROP TABLE parcel_features")
    op.execute("DROP VIEW parcel_features_source")
