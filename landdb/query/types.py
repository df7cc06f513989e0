"""The public feature types — parcels (thửa đất), wards (đơn vị hành chính) — and where their rows come from.

A feature type knows its sources (the serving layer for "now", the versioned register for a
past day), its key, its geometry columns and its public attributes. Every reader (REST, WFS,
OGC API, tiles) names attributes by these properties; nothing else knows a column.

Only public attributes appear here: no party, right or certificate data, by design.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .. import timetravel
from ..crs import STORAGE_SRID

#: XML namespace of our application schema, and the prefix used everywhere.
NAMESPACE = "https://landdb.halong/ns/landdb"
PREFIX = "landdb"


@dataclass(frozen=True)
class Property:
    """One attribute: its name, XML Schema type, SQL expression over the source `f`, and the
    Python kind literals in filters are converted to. `published` ones make the WFS/OGC schema
    and the default property set; the others are asked for by name (the REST API's status)."""

    name: str
    xsd: str
    sql: str
    kind: str = "str"
    published: bool = True
    #: a description for schemas and queryables.
    title: str = ""


@dataclass(frozen=True)
class FeatureType:
    """A layer: its sources, key, geometry columns and attributes."""

    name: str
    title: str
    abstract: str
    keywords: tuple[str, ...]
    #: FROM of the current rows, aliased `f`.
    current_sql: str
    #: FROM of the rows valid on the date bound to `:at`, aliased `f`, with the same columns.
    at_sql: str
    #: the key column of `f` (an integer), the tie-breaker of every order and the keyset.
    key: str
    properties: tuple[Property, ...]
    #: geometry columns of `f` by SRID; the first is the stored (EPSG:5899) one.
    geometries: tuple[tuple[int, str], ...]
    #: SRIDs whose geometry column is indexed in each source (a bbox in another CRS is transformed).
    indexed_now: tuple[int, ...]
    indexed_at: tuple[int, ...]
    geometry_name: str = "geometry"
    #: the property that names a feature in the REST API (its GeoJSON id there).
    code_property: str = ""

    @property
    def qname(self) -> str:
        return f"{PREFIX}:{self.name}"

    @property
    def key_sql(self) -> str:
        return f"f.{self.key}"

    @property
    def storage_geometry(self) -> str:
        return f"f.{self.geometries[0][1]}"

    @property
    def published(self) -> tuple[Property, ...]:
        return tuple(p for p in self.properties if p.published)

    @cached_property
    def _by_name(self) -> dict[str, Property]:
        return {p.name: p for p in self.properties}

    def property(self, name: str) -> Property | None:
        return self._by_name.get(name)

    def geometry_column(self, srid: int) -> str | None:
        """`f.<column>` holding the geometry in `srid`, or None."""
        return next((f"f.{c}" for s, c in self.geometries if s == srid), None)


def parcel_columns(status_sql: str) -> str:
    """The select list of a parcel row from `parcels p` and a version `v` (with the joins of
    `PARCEL_JOINS`), with the serving layer's columns: what a parcel is, for sources that
    cannot read the serving layer (a past day, a retired parcel)."""
    return ("p.id AS parcel_id, v.id AS version_id, p.parcel_code, p.ward_id, p.ward_code, w.name AS ward_name,"
            " p.sheet_no, p.parcel_no, p.national_id, v.land_use, lu.name_vi AS land_use_name, v.legal_area_m2,"
            " round(ST_Area(v.geom)::numeric, 1) AS area_m2, v.address, v.valid_from, v.version,"
            f" v.valid_to, {status_sql} AS status,"
            " v.geom, ST_Transform(v.geom, 4326) AS geom_4326, ST_Transform(v.geom, 3857) AS geom_3857")


#: The joins `parcel_columns` needs beside `parcels p` and `parcel_versions v`.
PARCEL_JOINS = "JOIN admin_units w ON w.id = p.ward_id JOIN land_use_codes lu ON lu.code = v.land_use"


def _at_parcels() -> str:
    # The register as of a day: the version valid that day of every parcel (PostgreSQL
    # flattens the subquery, so a column nobody reads costs nothing).
    return (f"(SELECT {parcel_columns(timetravel.parcel_status('p', 'at'))}"
            f" FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id {PARCEL_JOINS}"
            f" WHERE {timetravel.valid_at('v')}) f")


PARCELS = FeatureType(
    name="parcels",
    title="Parcels (thửa đất) — current",
    abstract="The current version of every active cadastral parcel of Hạ Long: identity, land use, "
    "legal and measured area, address and boundary. Public attributes only; no owner data.",
    keywords=("cadastre", "parcels", "thửa đất", "land use", "Hạ Long", "Quảng Ninh"),
    current_sql=("(SELECT s.*, NULL::date AS valid_to, 'current'::text AS status FROM parcel_features s) f"),
    at_sql=_at_parcels(),
    key="parcel_id",
    code_property="parcel_code",
    geometries=((STORAGE_SRID, "geom"), (4326, "geom_4326"), (3857, "geom_3857")),
    indexed_now=(STORAGE_SRID, 4326, 3857),
    indexed_at=(STORAGE_SRID,),
    properties=(
        Property("parcel_code", "string", "f.parcel_code", title="ward code - map sheet - parcel number"),
        Property("ward_code", "string", "f.ward_code", title="GSO code of the ward or commune"),
        Property("ward_name", "string", "f.ward_name", title="name of the ward or commune"),
        Property("sheet_no", "int", "f.sheet_no", "int", title="map sheet number (số tờ bản đồ)"),
        Property("parcel_no", "int", "f.parcel_no", "int", title="parcel number on the sheet (số thửa)"),
        Property("national_id", "string", "f.national_id", title="national parcel ID (mã định danh thửa đất)"),
        Property("land_use", "string", "f.land_use", title="land-use code (mã loại đất)"),
        Property("land_use_name", "string", "f.land_use_name", title="land use, in Vietnamese"),
        Property("legal_area_m2", "decimal", "f.legal_area_m2", "float", title="legal area in m² (diện tích pháp lý)"),
        Property("area_m2", "decimal", "f.area_m2", "float", title="area of the boundary in EPSG:5899, m²"),
        Property("address", "string", "f.address", title="address"),
        Property("status", "string", "f.status", published=False, title="current or retired"),
        Property("valid_from", "date", "f.valid_from", "date", title="the version's first day"),
        Property("valid_to", "date", "f.valid_to", "date", published=False, title="the day after the version's last"),
        Property("version", "int", "f.version", "int", published=False, title="version number"),
    ),
)

WARDS = FeatureType(
    name="wards",
    title="Administrative units (đơn vị hành chính)",
    abstract="Province, city, wards (phường) and communes (xã) of Hạ Long with their GSO codes and "
    "validity periods: the 1 July 2025 reorganisation reused codes, so a code is unique only "
    "within its period.",
    keywords=("administrative units", "wards", "phường", "xã", "Hạ Long", "Quảng Ninh"),
    current_sql="admin_units f",
    at_sql=f"(SELECT a.* FROM admin_units a WHERE {timetravel.valid_at('a')}) f",
    key="id",
    code_property="code",
    geometries=((STORAGE_SRID, "geom"), (4326, "geom_4326"), (3857, "geom_3857")),
    indexed_now=(STORAGE_SRID, 4326, 3857),
    indexed_at=(STORAGE_SRID, 4326, 3857),
    properties=(
        Property("code", "string", "f.code", title="GSO code"),
        Property("name", "string", "f.name", title="name"),
        Property("level", "string", "f.level", title="province, city, district, ward or commune"),
        Property("valid_from", "date", "f.valid_from", "date", title="first day of the unit"),
        Property("valid_to", "date", "f.valid_to", "date", title="the day after its last (empty: current)"),
    ),
)

FEATURE_TYPES: dict[str, FeatureType] = {ft.name: ft for ft in (PARCELS, WARDS)}
