"""The register: admin units, land-use codes, parcels and versions, parties, rights,
certificates, the journal, API keys and the personal-data access log, with the integrity rules
that the database enforces whoever writes.

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 14:35:01.283429
"""
from alembic import op
import geoalchemy2
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

EXTENSIONS = ("postgis", "unaccent", "pg_trgm", "btree_gist")

#: Lower case without diacritics ("Nguyễn Đức" → "nguyen duc"), immutable so it can be indexed.
FOLD = """
CREATE FUNCTION landdb_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$
"""

#: Active parcels never overlap: an interior intersection over 0.05 m² is refused. Writers that
#: could collide take an advisory lock per 1 km grid cell they touch (bulk statements lock the
#: whole layer), so two concurrent inserts cannot both miss each other.
NO_OVERLAP = """
CREATE FUNCTION landdb_check_parcel_overlaps() RETURNS trigger
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

CREATE TRIGGER parcel_versions_no_overlap_ins AFTER INSERT ON parcel_versions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION landdb_check_parcel_overlaps();
CREATE TRIGGER parcel_versions_no_overlap_upd AFTER UPDATE ON parcel_versions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION landdb_check_parcel_overlaps();
"""

#: Shares of one kind of right on a parcel sum to at most 1 among the active rights.
SHARES = """
CREATE FUNCTION landdb_check_right_shares() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  bad record;
BEGIN
  SELECT count(*) INTO n FROM new_rows WHERE share IS NOT NULL AND valid_to IS NULL;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n > 1000 THEN
    LOCK TABLE rights IN SHARE ROW EXCLUSIVE MODE;
  ELSE
    PERFORM 1 FROM parcels
      WHERE id IN (SELECT parcel_id FROM new_rows WHERE share IS NOT NULL AND valid_to IS NULL)
      ORDER BY id FOR NO KEY UPDATE;
  END IF;
  SELECT p.parcel_code, r.kind, sum(r.share) AS total
    INTO bad
    FROM rights r JOIN parcels p ON p.id = r.parcel_id
   WHERE r.valid_to IS NULL AND r.share IS NOT NULL
     AND (r.parcel_id, r.kind) IN (SELECT parcel_id, kind FROM new_rows)
   GROUP BY p.parcel_code, r.kind
  HAVING sum(r.share) > 1
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'shares of % on parcel % sum to %, more than 1', bad.kind, bad.parcel_code, bad.total
      USING ERRCODE = 'check_violation', CONSTRAINT = 'rights_shares_sum';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER rights_shares_sum_ins AFTER INSERT ON rights
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION landdb_check_right_shares();
CREATE TRIGGER rights_shares_sum_upd AFTER UPDATE ON rights
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION landdb_check_right_shares();
"""

#: The journal is a hash chain: each row's hash covers its content and the previous row's hash.
#: The text hashed is spelled out here and in landdb.journal; both must agree.
JOURNAL = """
CREATE FUNCTION landdb_journal_hash(prev_hash text, seq bigint, id bigint, kind text,
                                    effective_date date, registered_at timestamptz,
                                    dossier_no text, actor text, payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT encode(sha256(convert_to(
    coalesce(prev_hash, '') || E'\\n' || seq::text || E'\\n' || id::text || E'\\n' || kind || E'\\n'
    || to_char(effective_date, 'YYYY-MM-DD') || E'\\n'
    || to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\\n'
    || coalesce(dossier_no, '') || E'\\n' || coalesce(actor, '') || E'\\n' || payload::text,
    'UTF8')), 'hex')
$$;

CREATE FUNCTION landdb_journal_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  last record;
BEGIN
  -- One writer at a time extends the chain; the lock is held to commit, so registrations
  -- write their journal row last.
  PERFORM pg_advisory_xact_lock(5899, -1);
  SELECT t.seq, t.hash INTO last FROM transactions t WHERE t.seq IS NOT NULL ORDER BY t.seq DESC LIMIT 1;
  NEW.seq := coalesce(last.seq, 0) + 1;
  NEW.prev_hash := last.hash;
  NEW.registered_at := coalesce(NEW.registered_at, now());
  NEW.payload := coalesce(NEW.payload, '{}'::jsonb);
  NEW.hash := landdb_journal_hash(NEW.prev_hash, NEW.seq, NEW.id, NEW.kind, NEW.effective_date,
                                  NEW.registered_at, NEW.dossier_no, NEW.actor, NEW.payload);
  RETURN NEW;
END $$;

CREATE FUNCTION landdb_journal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the journal (transactions) is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER transactions_chain BEFORE INSERT ON transactions
  FOR EACH ROW EXECUTE FUNCTION landdb_journal_chain();
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
  FOR EACH ROW EXECUTE FUNCTION landdb_journal_append_only();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION landdb_journal_append_only();
"""

FUNCTIONS = (
    "landdb_journal_append_only()",
    "landdb_journal_chain()",
    "landdb_journal_hash(text, bigint, bigint, text, date, timestamptz, text, text, jsonb)",
    "landdb_check_right_shares()",
    "landdb_check_parcel_overlaps()",
)


def upgrade() -> None:
    for ext in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    op.execute(FOLD)
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_geospatial_table('admin_units',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=5), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=5), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=5899, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    postgresql.ExcludeConstraint((sa.column('code'), '='), (sa.text('daterange(valid_from, valid_to)'), '&&'), using='gist', name='ex_admin_units_code_period'),
    sa.CheckConstraint("code ~ '^[0-9]{2,5}$'", name=op.f('ck_admin_units_code_format')),
    sa.CheckConstraint("level IN ('province', 'city', 'district', 'ward', 'commune')", name=op.f('ck_admin_units_level')),
    sa.CheckConstraint('geom IS NULL OR ST_IsValid(geom)', name=op.f('ck_admin_units_geom_valid')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_admin_units_validity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_units')),
    sa.UniqueConstraint('id', 'code', name=op.f('uq_admin_units_id_code'))
    )
    op.create_geospatial_index('ix_admin_units_geom', 'admin_units', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('scopes', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('officer', 'integration', 'admin')", name=op.f('ck_api_keys_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('land_use_codes',
    sa.Column('code', sa.String(length=3), nullable=False),
    sa.Column('name_vi', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('replaced_by', sa.String(length=3), nullable=True),
    sa.CheckConstraint("category IN ('agricultural', 'residential', 'non_agricultural', 'unused', 'water')", name=op.f('ck_land_use_codes_category')),
    sa.CheckConstraint("code ~ '^[A-Z]{3}$'", name=op.f('ck_land_use_codes_code_format')),
    sa.ForeignKeyConstraint(['replaced_by'], ['land_use_codes.code'], name=op.f('fk_land_use_codes_replaced_by_land_use_codes')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_land_use_codes'))
    )
    op.create_table('parties',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('full_name', sa.Text(), nullable=False),
    sa.Column('id_kind', sa.String(length=16), nullable=True),
    sa.Column('id_number', sa.String(length=20), nullable=True),
    sa.Column('birth_year', sa.SmallInteger(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.CheckConstraint("id_kind <> 'cccd' OR id_number ~ '^[0-9]{12}$'", name=op.f('ck_parties_cccd_format')),
    sa.CheckConstraint("id_kind IS NULL OR id_kind IN ('cccd', 'cmnd', 'passport', 'business_reg', 'other')", name=op.f('ck_parties_id_kind')),
    sa.CheckConstraint("kind IN ('individual', 'couple', 'household', 'organization', 'religious', 'community')", name=op.f('ck_parties_kind')),
    sa.CheckConstraint('birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100', name=op.f('ck_parties_birth_year')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parties'))
    )
    op.create_index('ix_parties_id_number', 'parties', ['id_number'], unique=False)
    op.create_index('ix_parties_name_trgm', 'parties', [sa.literal_column('landdb_fold(full_name) gin_trgm_ops')], unique=False, postgresql_using='gin')
    op.create_table('transactions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('dossier_no', sa.Text(), nullable=True),
    sa.Column('actor', sa.Text(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('idempotency_key', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('first_registration', 'transfer', 'inheritance', 'gift', 'mortgage', 'mortgage_release', 'split', 'merge', 'land_use_change', 'certificate_reissue', 'geometry_correction', 'import')", name=op.f('ck_transactions_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_transactions_idempotency_key')),
    sa.UniqueConstraint('seq', name=op.f('uq_transactions_seq'))
    )
    op.create_index('ix_transactions_effective_date', 'transactions', ['effective_date'], unique=False)
    op.create_table('admin_unit_successions',
    sa.Column('predecessor_id', sa.Integer(), nullable=False),
    sa.Column('successor_id', sa.Integer(), nullable=False),
    sa.Column('extent', sa.String(length=8), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.CheckConstraint("extent IN ('whole', 'part')", name=op.f('ck_admin_unit_successions_extent')),
    sa.ForeignKeyConstraint(['predecessor_id'], ['admin_units.id'], name=op.f('fk_admin_unit_successions_predecessor_id_admin_units')),
    sa.ForeignKeyConstraint(['successor_id'], ['admin_units.id'], name=op.f('fk_admin_unit_successions_successor_id_admin_units')),
    sa.PrimaryKeyConstraint('predecessor_id', 'successor_id', name=op.f('pk_admin_unit_successions'))
    )
    op.create_table('certificates',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('serial', sa.String(length=11), nullable=False),
    sa.Column('registry_no', sa.Text(), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('issued_by', sa.Text(), nullable=True),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('opened_by_tx', sa.BigInteger(), nullable=False),
    sa.Column('closed_by_tx', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("serial ~ '^[A-Z]{2} [0-9]{6}([0-9]{2})?$'", name=op.f('ck_certificates_serial_format')),
    sa.CheckConstraint('cancelled_on IS NULL OR cancelled_on >= issued_on', name=op.f('ck_certificates_lifespan')),
    sa.ForeignKeyConstraint(['closed_by_tx'], ['transactions.id'], name=op.f('fk_certificates_closed_by_tx_transactions'), initially='DEFERRED', deferrable=True),
    sa.ForeignKeyConstraint(['opened_by_tx'], ['transactions.id'], name=op.f('fk_certificates_opened_by_tx_transactions'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('serial', name=op.f('uq_certificates_serial'))
    )
    op.create_table('parcels',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('ward_id', sa.Integer(), nullable=False),
    sa.Column('ward_code', sa.String(length=5), nullable=False),
    sa.Column('sheet_no', sa.Integer(), nullable=False),
    sa.Column('parcel_no', sa.Integer(), nullable=False),
    sa.Column('parcel_code', sa.Text(), sa.Computed("(ward_code || '-' || sheet_no || '-' || parcel_no)", persisted=True), nullable=False),
    sa.Column('national_id', sa.String(length=12), nullable=True),
    sa.Column('registered_on', sa.Date(), nullable=False),
    sa.Column('retired_on', sa.Date(), nullable=True),
    sa.CheckConstraint("national_id IS NULL OR national_id ~ '^[0-9b-hjkmnp-z]{12}$'", name=op.f('ck_parcels_national_id_format')),
    sa.CheckConstraint('retired_on IS NULL OR retired_on >= registered_on', name=op.f('ck_parcels_lifespan')),
    sa.CheckConstraint('sheet_no > 0 AND parcel_no > 0', name=op.f('ck_parcels_numbers_positive')),
    sa.ForeignKeyConstraint(['ward_id', 'ward_code'], ['admin_units.id', 'admin_units.code'], name=op.f('fk_parcels_ward_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parcels')),
    sa.UniqueConstraint('national_id', name=op.f('uq_parcels_national_id'))
    )
    op.create_index('ix_parcels_parcel_code', 'parcels', ['parcel_code'], unique=False)
    op.create_index('uq_parcels_active_code', 'parcels', ['ward_code', 'sheet_no', 'parcel_no'], unique=True, postgresql_where=sa.text('retired_on IS NULL'))
    op.create_table('personal_data_access_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('parcel_ids', postgresql.ARRAY(sa.BigInteger()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('party_ids', postgresql.ARRAY(sa.BigInteger()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('client_addr', postgresql.INET(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_personal_data_access_log_api_key_id_api_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_data_access_log'))
    )
    op.create_index('ix_personal_data_access_log_at', 'personal_data_access_log', ['at'], unique=False)
    op.create_table('parcel_lineage',
    sa.Column('parent_id', sa.BigInteger(), nullable=False),
    sa.Column('child_id', sa.BigInteger(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.CheckConstraint("kind IN ('split', 'merge')", name=op.f('ck_parcel_lineage_kind')),
    sa.CheckConstraint('parent_id <> child_id', name=op.f('ck_parcel_lineage_not_self')),
    sa.ForeignKeyConstraint(['child_id'], ['parcels.id'], name=op.f('fk_parcel_lineage_child_id_parcels')),
    sa.ForeignKeyConstraint(['parent_id'], ['parcels.id'], name=op.f('fk_parcel_lineage_parent_id_parcels')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_parcel_lineage_transaction_id_transactions'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('parent_id', 'child_id', name=op.f('pk_parcel_lineage'))
    )
    op.create_index('ix_parcel_lineage_child_id', 'parcel_lineage', ['child_id'], unique=False)
    op.create_geospatial_table('parcel_versions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('parcel_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('land_use', sa.String(length=3), nullable=False),
    sa.Column('legal_area_m2', sa.Numeric(precision=12, scale=1), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=5899, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('opened_by_tx', sa.BigInteger(), nullable=False),
    sa.Column('closed_by_tx', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('(valid_to IS NULL) = (closed_by_tx IS NULL)', name=op.f('ck_parcel_versions_closed_consistently')),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name=op.f('ck_parcel_versions_geom_valid')),
    sa.CheckConstraint('legal_area_m2 > 0', name=op.f('ck_parcel_versions_legal_area_positive')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_parcel_versions_validity')),
    sa.CheckConstraint('version > 0', name=op.f('ck_parcel_versions_version_positive')),
    sa.ForeignKeyConstraint(['closed_by_tx'], ['transactions.id'], name=op.f('fk_parcel_versions_closed_by_tx_transactions'), initially='DEFERRED', deferrable=True),
    sa.ForeignKeyConstraint(['land_use'], ['land_use_codes.code'], name=op.f('fk_parcel_versions_land_use_land_use_codes')),
    sa.ForeignKeyConstraint(['opened_by_tx'], ['transactions.id'], name=op.f('fk_parcel_versions_opened_by_tx_transactions'), initially='DEFERRED', deferrable=True),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_parcel_versions_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parcel_versions')),
    sa.UniqueConstraint('parcel_id', 'version', name=op.f('uq_parcel_versions_parcel_id_version'))
    )
    op.create_index('ix_parcel_versions_address_trgm', 'parcel_versions', [sa.literal_column('landdb_fold(address) gin_trgm_ops')], unique=False, postgresql_using='gin')
    op.create_geospatial_index('ix_parcel_versions_geom', 'parcel_versions', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_parcel_versions_land_use', 'parcel_versions', ['land_use'], unique=False, postgresql_where=sa.text('valid_to IS NULL'))
    op.create_index('uq_parcel_versions_current', 'parcel_versions', ['parcel_id'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))
    op.create_table('rights',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('parcel_id', sa.BigInteger(), nullable=False),
    sa.Column('party_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('share', sa.Numeric(precision=7, scale=6), nullable=True),
    sa.Column('certificate_id', sa.BigInteger(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('term_end', sa.Date(), nullable=True),
    sa.Column('origin', sa.Text(), nullable=True),
    sa.Column('secured_amount_vnd', sa.Numeric(precision=18, scale=0), nullable=True),
    sa.Column('opened_by_tx', sa.BigInteger(), nullable=False),
    sa.Column('closed_by_tx', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("(kind = 'mortgage') = (share IS NULL)", name=op.f('ck_rights_share_presence')),
    sa.CheckConstraint("kind IN ('land_use_right', 'house_ownership', 'lease', 'mortgage')", name=op.f('ck_rights_kind')),
    sa.CheckConstraint('(valid_to IS NULL) = (closed_by_tx IS NULL)', name=op.f('ck_rights_closed_consistently')),
    sa.CheckConstraint('share IS NULL OR (share > 0 AND share <= 1)', name=op.f('ck_rights_share_range')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name=op.f('ck_rights_validity')),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_rights_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['closed_by_tx'], ['transactions.id'], name=op.f('fk_rights_closed_by_tx_transactions'), initially='DEFERRED', deferrable=True),
    sa.ForeignKeyConstraint(['opened_by_tx'], ['transactions.id'], name=op.f('fk_rights_opened_by_tx_transactions'), initially='DEFERRED', deferrable=True),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_rights_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['party_id'], ['parties.id'], name=op.f('fk_rights_party_id_parties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights'))
    )
    op.create_index('ix_rights_certificate_id', 'rights', ['certificate_id'], unique=False)
    op.create_index('ix_rights_parcel_id', 'rights', ['parcel_id', 'kind'], unique=False)
    op.create_index('ix_rights_party_id', 'rights', ['party_id'], unique=False)
    op.create_table('transaction_parcels',
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('parcel_id', sa.BigInteger(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.CheckConstraint("role IN ('subject', 'source', 'target')", name=op.f('ck_transaction_parcels_role')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_transaction_parcels_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_transaction_parcels_transaction_id_transactions'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('transaction_id', 'parcel_id', 'role', name=op.f('pk_transaction_parcels'))
    )
    op.create_index('ix_transaction_parcels_parcel_id', 'transaction_parcels', ['parcel_id'], unique=False)
    # ### end Alembic commands ###
    op.execute(NO_OVERLAP)
    op.execute(SHARES)
    op.execute(JOURNAL)


def downgrade() -> None:
    # The journal refuses TRUNCATE/DELETE; dropping the table drops its triggers with it.
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index('ix_transaction_parcels_parcel_id', table_name='transaction_parcels')
    op.drop_table('transaction_parcels')
    op.drop_index('ix_rights_party_id', table_name='rights')
    op.drop_index('ix_rights_parcel_id', table_name='rights')
    op.drop_index('ix_rights_certificate_id', table_name='rights')
    op.drop_table('rights')
    op.drop_index('uq_parcel_versions_current', table_name='parcel_versions', postgresql_where=sa.text('valid_to IS NULL'))
    op.drop_index('ix_parcel_versions_land_use', table_name='parcel_versions', postgresql_where=sa.text('valid_to IS NULL'))
    op.drop_geospatial_index('ix_parcel_versions_geom', table_name='parcel_versions', postgresql_using='gist', column_name='geom')
    op.drop_index('ix_parcel_versions_address_trgm', table_name='parcel_versions', postgresql_using='gin')
    op.drop_geospatial_table('parcel_versions')
    op.drop_index('ix_parcel_lineage_child_id', table_name='parcel_lineage')
    op.drop_table('parcel_lineage')
    op.drop_index('ix_personal_data_access_log_at', table_name='personal_data_access_log')
    op.drop_table('personal_data_access_log')
    op.drop_index('uq_parcels_active_code', table_name='parcels', postgresql_where=sa.text('retired_on IS NULL'))
    op.drop_index('ix_parcels_parcel_code', table_name='parcels')
    op.drop_table('parcels')
    op.drop_table('certificates')
    op.drop_table('admin_unit_successions')
    op.drop_index('ix_transactions_effective_date', table_name='transactions')
    op.drop_table('transactions')
    op.drop_index('ix_parties_name_trgm', table_name='parties', postgresql_using='gin')
    op.drop_index('ix_parties_id_number', table_name='parties')
    op.drop_table('parties')
    op.drop_table('land_use_codes')
    op.drop_table('api_keys')
    op.drop_geospatial_index('ix_admin_units_geom', table_name='admin_units', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('admin_units')
    # ### end Alembic commands ###
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP FUNCTION IF EXISTS landdb_fold(text)")
    # The extensions stay: they may serve other schemas, and only a superuser may recreate them.
