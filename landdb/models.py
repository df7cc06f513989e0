"""The register's tables (SQLAlchemy 2 + GeoAlchemy2), in LADM terms with their Vietnamese names.

The schema only changes through Alembic (`migrations/`); a test proves that these models and
the migrations agree. Integrity rules that must hold whoever writes (overlaps, share sums, the
append-only journal) live in the database as triggers, created by the migrations.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, TSVECTOR, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: The official cadastral CRS of Quảng Ninh: VN-2000 / TM-3 107-45.
SRID = 5899

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PARTY_KINDS = ("individual", "couple", "household", "organization", "religious", "community")
RIGHT_KINDS = ("land_use_right", "house_ownership", "lease", "mortgage")
TRANSACTION_KINDS = (
    "first_registration",
    "transfer",
    "inheritance",
    "gift",
    "mortgage",
    "mortgage_release",
    "split",
    "merge",
    "land_use_change",
    "certificate_reissue",
    "geometry_correction",
    "import",
)
ROLES = ("officer", "integration", "admin")
#: roles of people who sign in to the web application (not API keys).
USER_ROLES = ("officer", "admin", "viewer")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AdminUnit(Base):
    """Admin unit — đơn vị hành chính: province, city, ward (phường) or commune (xã).

    Versioned: the 1 July 2025 reorganisation reused codes for different territory, so a code
    is unique only within its validity period.
    """

    __tablename__ = "admin_units"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(5))
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(5))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=True)
    #: the boundary as web maps and tiles read it (generated: always in step with `geom`).
    geom_4326 = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
                              Computed("ST_Transform(geom, 4326)", persisted=True), nullable=True)
    geom_3857 = mapped_column(Geometry("MULTIPOLYGON", srid=3857, spatial_index=False),
                              Computed("ST_Transform(geom, 3857)", persisted=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("id", "code"),
        Index("ix_admin_units_geom", "geom", postgresql_using="gist"),
        Index("ix_admin_units_geom_4326", "geom_4326", postgresql_using="gist"),
        Index("ix_admin_units_geom_3857", "geom_3857", postgresql_using="gist"),
        CheckConstraint(_in("level", ("province", "city", "district", "ward", "commune")), name="level"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity"),
        CheckConstraint("code ~ '^[0-9]{2,5}$'", name="code_format"),
        CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name="geom_valid"),
        ExcludeConstraint(
            ("code", "="),
            (text("daterange(valid_from, valid_to)"), "&&"),
            name="ex_admin_units_code_period",
            using="gist",
        ),
    )


class AdminUnitSuccession(Base):
    """Which units a unit was formed from (the 2025 merger): predecessor → successor."""

    __tablename__ = "admin_unit_successions"

    predecessor_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)
    successor_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), primary_key=True)
    #: 'whole' when all of the predecessor went into the successor, 'part' otherwise.
    extent: Mapped[str] = mapped_column(String(8))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint(_in("extent", ("whole", "part")), name="extent"),)


class LandUseCode(Base):
    """Land-use code — mã loại đất (ODT, ONT, LUC, CLN, …), versioned by the legal text that defines it."""

    __tablename__ = "land_use_codes"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name_vi: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    #: when new registrations stopped using it; old records keep it.
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    replaced_by: Mapped[str | None] = mapped_column(ForeignKey("land_use_codes.code"))

    __table_args__ = (
        CheckConstraint("code ~ '^[A-Z]{3}$'", name="code_format"),
        CheckConstraint(
            _in("category", ("agricultural", "residential", "non_agricultural", "unused", "water")),
            name="category",
        ),
    )


class Parcel(Base):
    """Parcel — thửa đất (LADM spatial unit): its identity, stable across versions.

    Identified by ward code + map sheet (số tờ bản đồ) + parcel number (số thửa); `parcel_code`
    is `{ward_code}-{sheet_no}-{parcel_no}`. A split or merge retires parcels and creates new
    ones; any other change makes a new version (`ParcelVersion`).
    """

    __tablename__ = "parcels"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ward_id: Mapped[int] = mapped_column(Integer)
    ward_code: Mapped[str] = mapped_column(String(5))
    sheet_no: Mapped[int] = mapped_column(Integer)
    parcel_no: Mapped[int] = mapped_column(Integer)
    parcel_code: Mapped[str] = mapped_column(
        Text, Computed("(ward_code || '-' || sheet_no || '-' || parcel_no)", persisted=True)
    )
    #: mã định danh thửa đất: 12-character GeoHash, opaque to us.
    national_id: Mapped[str | None] = mapped_column(String(12), unique=True)
    registered_on: Mapped[dt.date] = mapped_column(Date)
    retired_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        ForeignKeyConstraint(["ward_id", "ward_code"], ["admin_units.id", "admin_units.code"]),
        CheckConstraint("sheet_no > 0 AND parcel_no > 0", name="numbers_positive"),
        CheckConstraint("national_id IS NULL OR national_id ~ '^[0-9b-hjkmnp-z]{12}$'", name="national_id_format"),
        CheckConstraint("retired_on IS NULL OR retired_on >= registered_on", name="lifespan"),
        Index(
            "uq_parcels_active_code",
            "ward_code",
            "sheet_no",
            "parcel_no",
            unique=True,
            postgresql_where=text("retired_on IS NULL"),
        ),
        Index("ix_parcels_parcel_code", "parcel_code"),
    )


class ParcelVersion(Base):
    """One version of a parcel: what it was from `valid_from` until `valid_to` (open = current)."""

    __tablename__ = "parcel_versions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    land_use: Mapped[str] = mapped_column(ForeignKey("land_use_codes.code"))
    #: diện tích pháp lý: the area written on the certificate, m².
    legal_area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 1))
    address: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    opened_by_tx: Mapped[int] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))
    closed_by_tx: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))

    __table_args__ = (
        UniqueConstraint("parcel_id", "version"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("legal_area_m2 > 0", name="legal_area_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        CheckConstraint("(valid_to IS NULL) = (closed_by_tx IS NULL)", name="closed_consistently"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        Index(
            "uq_parcel_versions_current",
            "parcel_id",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index("ix_parcel_versions_geom", "geom", postgresql_using="gist"),
        # What every map, bbox, point and WFS query reads: the current versions only.
        Index("ix_parcel_versions_geom_current", "geom", postgresql_using="gist",
              postgresql_where=text("valid_to IS NULL")),
        Index("ix_parcel_versions_land_use", "land_use", postgresql_where=text("valid_to IS NULL")),
    )


# Diacritics- and case-insensitive search ("nguyen van an" finds "Nguyễn Văn An").
Index(
    "ix_parcel_versions_address_trgm",
    func.landdb_fold(ParcelVersion.address).label("address_fold"),
    postgresql_using="gin",
    postgresql_ops={"address_fold": "gin_trgm_ops"},
)


class ParcelFeature(Base):
    """The serving layer: one row per current parcel as the public reads it (migration 0004).

    Written only by the register's own triggers, in the transaction of the statement that
    changed the parcel; the view `parcel_features_source` is the definition of a row and
    `landdb.query.serving.check` compares the two.
    """

    __tablename__ = "parcel_features"

    parcel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version_id: Mapped[int] = mapped_column(BigInteger)
    parcel_code: Mapped[str] = mapped_column(Text)
    ward_id: Mapped[int] = mapped_column(Integer)
    ward_code: Mapped[str] = mapped_column(String(5))
    ward_name: Mapped[str] = mapped_column(Text)
    sheet_no: Mapped[int] = mapped_column(Integer)
    parcel_no: Mapped[int] = mapped_column(Integer)
    national_id: Mapped[str | None] = mapped_column(String(12))
    land_use: Mapped[str] = mapped_column(String(3))
    land_use_name: Mapped[str] = mapped_column(Text)
    legal_area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 1))
    area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 1))
    address: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    geom_4326 = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    geom_3857 = mapped_column(Geometry("MULTIPOLYGON", srid=3857, spatial_index=False), nullable=False)
    #: the address's words, folded, for the address search (migration 0009)
    address_words: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple'::regconfig, landdb_fold(address))", persisted=True))

    __table_args__ = (
        Index("uq_parcel_features_parcel_code", "parcel_code", unique=True),
        Index("ix_parcel_features_code_parts", "ward_code", "sheet_no", "parcel_no"),
        Index("ix_parcel_features_geom", "geom", postgresql_using="gist"),
        Index("ix_parcel_features_geom_4326", "geom_4326", postgresql_using="gist"),
        Index("ix_parcel_features_geom_3857", "geom_3857", postgresql_using="gist"),
        #: the search box's lookup by national parcel ID (migration 0006)
        Index("ix_parcel_features_national_id", "national_id"),
        Index("ix_parcel_features_address_words", "address_words", postgresql_using="gin"),
    )


Index(
    "ix_parcel_features_address_trgm",
    func.landdb_fold(ParcelFeature.address).label("address_fold"),
    postgresql_using="gin",
    postgresql_ops={"address_fold": "gin_trgm_ops"},
)


class ParcelLineage(Base):
    """Lineage of splits (tách thửa) and merges (hợp thửa): parent parcel → child parcel."""

    __tablename__ = "parcel_lineage"

    parent_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))
    kind: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        CheckConstraint(_in("kind", ("split", "merge")), name="kind"),
        CheckConstraint("parent_id <> child_id", name="not_self"),
        Index("ix_parcel_lineage_child_id", "child_id"),
    )


class Party(Base):
    """Party — chủ sử dụng / chủ sở hữu: an individual, household or organisation. Personal data."""

    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    full_name: Mapped[str] = mapped_column(Text)
    #: 'cccd' (12-digit citizen ID), 'cmnd' (old 9-digit ID), 'passport', 'business_reg', 'other'.
    id_kind: Mapped[str | None] = mapped_column(String(16))
    id_number: Mapped[str | None] = mapped_column(String(20))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    address: Mapped[str | None] = mapped_column(Text)
    #: the name's words, folded ("Nguyễn Văn An" → 'an' 'nguyen' 'van'), for the owner search.
    name_words: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple'::regconfig, landdb_fold(full_name))", persisted=True))

    __table_args__ = (
        CheckConstraint(_in("kind", PARTY_KINDS), name="kind"),
        CheckConstraint(
            "id_kind IS NULL OR " + _in("id_kind", ("cccd", "cmnd", "passport", "business_reg", "other")),
            name="id_kind",
        ),
        CheckConstraint("id_kind <> 'cccd' OR id_number ~ '^[0-9]{12}$'", name="cccd_format"),
        CheckConstraint("birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100", name="birth_year"),
        Index("ix_parties_id_number", "id_number"),
        Index("ix_parties_name_words", "name_words", postgresql_using="gin"),
        # a page of a common name's matches, read in name order (see search_parties)
        Index("ix_parties_full_name", "full_name", "id", postgresql_include=["name_words"]),
    )


class Certificate(Base):
    """Certificate — Giấy chứng nhận ("sổ đỏ / sổ hồng"), LADM BAUnit evidence."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: số phát hành: two letters, a space, six (2014–2024 form) or eight (2024 form) digits.
    serial: Mapped[str] = mapped_column(String(11), unique=True)
    #: số vào sổ, e.g. CH00111 or CS23305/DA; kept as text.
    registry_no: Mapped[str | None] = mapped_column(Text)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issued_by: Mapped[str | None] = mapped_column(Text)
    cancelled_on: Mapped[dt.date | None] = mapped_column(Date)
    opened_by_tx: Mapped[int] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))
    closed_by_tx: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))

    __table_args__ = (
        CheckConstraint("serial ~ '^[A-Z]{2} [0-9]{6}([0-9]{2})?$'", name="serial_format"),
        CheckConstraint("cancelled_on IS NULL OR cancelled_on >= issued_on", name="lifespan"),
    )


class Right(Base):
    """Right or restriction — quyền / hạn chế (LADM RRR) of a party on a parcel.

    A mortgage (thế chấp) is a restriction whose party is the mortgagee (the bank); it has no share.
    """

    __tablename__ = "rights"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    kind: Mapped[str] = mapped_column(String(16))
    share: Mapped[Decimal | None] = mapped_column(Numeric(7, 6))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    #: thời hạn sử dụng: end of the term, or NULL for long-term (lâu dài).
    term_end: Mapped[dt.date | None] = mapped_column(Date)
    #: nguồn gốc sử dụng, e.g. "Nhà nước giao đất có thu tiền sử dụng đất".
    origin: Mapped[str | None] = mapped_column(Text)
    secured_amount_vnd: Mapped[Decimal | None] = mapped_column(Numeric(18, 0))
    opened_by_tx: Mapped[int] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))
    closed_by_tx: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"))

    __table_args__ = (
        CheckConstraint(_in("kind", RIGHT_KINDS), name="kind"),
        CheckConstraint("share IS NULL OR (share > 0 AND share <= 1)", name="share_range"),
        CheckConstraint("(kind = 'mortgage') = (share IS NULL)", name="share_presence"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        CheckConstraint("(valid_to IS NULL) = (closed_by_tx IS NULL)", name="closed_consistently"),
        Index("ix_rights_parcel_id", "parcel_id", "kind"),
        Index("ix_rights_party_id", "party_id"),
        Index("ix_rights_certificate_id", "certificate_id"),
    )


class Transaction(Base):
    """Transaction — đăng ký biến động (LADM administrative source): the append-only journal.

    Each row carries a SHA-256 over its content and the previous row's hash; the database fills
    `seq`, `prev_hash` and `hash` and refuses UPDATE, DELETE and TRUNCATE. Rows that point at a
    transaction do so through deferred foreign keys, so a registration writes its journal row
    last and holds the journal's lock only for an instant.
    """

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: position in the hash chain, given by the database when the row is written.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: số hồ sơ: the dossier the registration was filed under.
    dossier_no: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    #: the client's Idempotency-Key within its scope, `key:<api key id>/<key>` (registry.scoped_idempotency_key).
    idempotency_key: Mapped[str | None] = mapped_column(Text, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(_in("kind", TRANSACTION_KINDS), name="kind"),
        Index("ix_transactions_effective_date", "effective_date"),
    )


class TransactionParcel(Base):
    """Which parcels a transaction touched, and how ('subject', 'source' or 'target')."""

    __tablename__ = "transaction_parcels"

    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", deferrable=True, initially="DEFERRED"), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)

    __table_args__ = (
        CheckConstraint(_in("role", ("subject", "source", "target")), name="role"),
        Index("ix_transaction_parcels_parcel_id", "parcel_id"),
    )


class ApiKey(Base):
    """An API key: only its SHA-256 is stored, with a role and scopes."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)


class User(Base):
    """A person who signs in to the web application (cán bộ): Argon2 hash, role, lock state."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(Text, server_default=text("''"))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    #: bumped when the password is reset or the account disabled: older sessions stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("role", USER_ROLES), name="role"),
        CheckConstraint("username ~ '^[a-z0-9._-]{2,64}$'", name="username_format"),
    )


class PersonalDataAccess(Base):
    """One read of personal data (Decree 13/2023, Law 91/2025): who, what, when."""

    __tablename__ = "personal_data_access_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    #: the signed-in officer, for reads through the web application.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(Text)
    parcel_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=text("'{}'"))
    party_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=text("'{}'"))
    client_addr: Mapped[str | None] = mapped_column(INET)

    __table_args__ = (Index("ix_personal_data_access_log_at", "at"),)
