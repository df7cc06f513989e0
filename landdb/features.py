"""Public feature types (parcels — thửa đất, wards — đơn vị hành chính) as SQL that renders GML and GeoJSON.

Framework-free: the WFS (and any other interface) builds a `FeatureQuery` and gets back text
chunks that PostGIS rendered (ST_AsGML / ST_AsGeoJSON / xmlforest), read through a server-side
cursor so a full-layer download runs in constant memory. Python never serialises a feature.

Only public attributes appear here: no party, right or certificate data, by design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import prepared, sqltext
from .crs import STORAGE_SRID

#: XML namespace of our application schema, and the prefix used everywhere.
NAMESPACE = "https://landdb.halong/ns/landdb"
PREFIX = "landdb"

GML32_NS = "http://www.opengis.net/gml/3.2"
GML_NS = "http://www.opengis.net/gml"

#: Output formats this module renders.
FORMATS = ("gml32", "gml311", "gml2", "geojson")


@dataclass(frozen=True)
class Property:
    """One attribute of a feature type: its name, XML Schema type and SQL expression."""

    name: str
    xsd: str
    sql: str
    #: the Python type literals in filters are converted to.
    kind: str = "str"


@dataclass(frozen=True)
class FeatureType:
    """A layer: where its rows come from, their key, geometry and public attributes."""

    name: str
    title: str
    abstract: str
    keywords: tuple[str, ...]
    from_sql: str
    where_sql: str
    key_sql: str
    geom_sql: str
    properties: tuple[Property, ...]
    geometry_name: str = "geometry"
    #: a cheaper FROM for counting, without joins that only look up names (never drop rows).
    count_from_sql: str = ""
    #: the aliases those lookup joins introduce.
    lookup_aliases: tuple[str, ...] = ()

    @property
    def qname(self) -> str:
        return f"{PREFIX}:{self.name}"

    def property(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)


PARCELS = FeatureType(
    name="parcels",
    title="Parcels (thửa đất) — current",
    abstract="The current version of every active cadastral parcel of Hạ Long: identity, land use, "
    "legal and measured area, address and boundary. Public attributes only; no owner data.",
    keywords=("cadastre", "parcels", "thửa đất", "land use", "Hạ Long", "Quảng Ninh"),
    from_sql=(
        "parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL "
        "JOIN land_use_codes lu ON lu.code = v.land_use "
        "JOIN admin_units w ON w.id = p.ward_id"
    ),
    where_sql="p.retired_on IS NULL",
    key_sql="p.id",
    geom_sql="v.geom",
    count_from_sql="parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL",
    lookup_aliases=("lu", "w"),
    properties=(
        Property("parcel_code", "string", "p.parcel_code"),
        Property("ward_code", "string", "p.ward_code"),
        Property("ward_name", "string", "w.name"),
        Property("sheet_no", "int", "p.sheet_no", "int"),
        Property("parcel_no", "int", "p.parcel_no", "int"),
        Property("national_id", "string", "p.national_id"),
        Property("land_use", "string", "v.land_use"),
        Property("land_use_name", "string", "lu.name_vi"),
        Property("legal_area_m2", "decimal", "v.legal_area_m2", "float"),
        Property("area_m2", "decimal", "round(ST_Area(v.geom)::numeric, 1)", "float"),
        Property("address", "string", "v.address"),
        Property("valid_from", "date", "v.valid_from", "date"),
    ),
)

WARDS = FeatureType(
    name="wards",
    title="Administrative units (đơn vị hành chính)",
    abstract="Province, city, wards (phường) and communes (xã) of Hạ Long with their GSO codes and "
    "validity periods: the 1 July 2025 reorganisation reused codes, so a code is unique only "
    "within its period.",
    keywords=("administrative units", "wards", "phường", "xã", "Hạ Long", "Quảng Ninh"),
    from_sql="admin_units a",
    where_sql="TRUE",
    key_sql="a.id",
    geom_sql="a.geom",
    properties=(
        Property("code", "string", "a.code"),
        Property("name", "string", "a.name"),
        Property("level", "string", "a.level"),
        Property("valid_from", "date", "a.valid_from", "date"),
        Property("valid_to", "date", "a.valid_to", "date"),
    ),
)

FEATURE_TYPES: dict[str, FeatureType] = {ft.name: ft for ft in (PARCELS, WARDS)}


@dataclass
class FeatureQuery:
    """What to select and how to render it. `where`/`params` are parameterised SQL fragments."""

    feature_type: FeatureType
    where: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    #: (property name, descending) pairs; the primary key always breaks ties.
    sort: list[tuple[str, bool]] = field(default_factory=list)
    start: int = 0
    count: int | None = None
    srid: int = STORAGE_SRID
    #: swap axes on output (the URN/URI spellings of EPSG:4326 are latitude-first).
    lat_first: bool = False
    #: the CRS spelling written into the output, as the client asked for it.
    srs_name: str = f"urn:ogc:def:crs:EPSG::{STORAGE_SRID}"
    #: properties to output (None = all); the geometry is included when named or when None.
    properties: list[str] | None = None

    def add(self, sql: str, **params) -> None:
        """Add a WHERE condition with its bind parameters."""
        self.where.append(sql)
        self.params.update(params)


def _where(q: FeatureQuery) -> str:
    return " AND ".join([q.feature_type.where_sql, *(f"({w})" for w in q.where)])


def _precision(srid: int) -> int:
    return 8 if srid == 4326 else 3


def _geom_expr(q: FeatureQuery) -> str:
    """The output geometry: transformed, axes swapped if asked, SRID cleared (we write srsName)."""
    g = q.feature_type.geom_sql
    if q.srid != STORAGE_SRID:
        g = f"ST_Transform({g}, {int(q.srid)})"
    if q.lat_first:
        g = f"ST_FlipCoordinates({g})"
    return f"ST_SetSRID({g}, 0)"


def _selected(q: FeatureQuery) -> tuple[tuple[Property, ...], bool]:
    ft = q.feature_type
    if q.properties is None:
        return ft.properties, True
    props = tuple(p for p in ft.properties if p.name in q.properties)
    return props, ft.geometry_name in q.properties


def member_sql(q: FeatureQuery, fmt: str) -> str:
    """SQL text of one output chunk per feature (a GML member or a GeoJSON Feature)."""
    ft = q.feature_type
    props, with_geom = _selected(q)
    fid = f"'{ft.name}.' || {ft.key_sql}"
    tag = f"{PREFIX}:{ft.name}"
    g = _geom_expr(q)
    prec = _precision(q.srid)
    if fmt == "geojson":
        geom = f"coalesce(ST_AsGeoJSON({g}, {prec}), 'null')" if with_geom else "'null'"
        return (
            f"""'{{"type":"Feature","id":"' || {fid} || '","geometry":' || {geom} || """
            f"""',"properties":' || {sqltext.json_object((p.name, p.sql) for p in props)} || '}}'"""
        )
    attrs = (
        "coalesce(xmlforest(" + ", ".join(f'{p.sql} AS "{PREFIX}:{p.name}"' for p in props) + ")::text, '')"
        if props else "''"
    )
    geom = f"coalesce({_geom_body(q, fmt)}, '')" if with_geom else "''"
    id_attr = "fid" if fmt == "gml2" else "gml:id"
    open_ = f"""'<{tag} {id_attr}="' || {fid} || '">'"""
    wrap = {"gml32": ("<wfs:member>", "</wfs:member>")}.get(fmt, ("<gml:featureMember>", "</gml:featureMember>"))
    return f"'{wrap[0]}' || {open_} || {attrs} || {geom} || '</{tag}>{wrap[1]}'"


def _geom_body(q: FeatureQuery, fmt: str) -> str:
    """SQL of the geometry property element in GML `fmt` (NULL when the feature has none)."""
    ft = q.feature_type
    fid = f"'{ft.name}.' || {ft.key_sql}"
    g = _geom_expr(q)
    prec = _precision(q.srid)
    gtag = f"{PREFIX}:{ft.geometry_name}"
    if fmt == "gml32":
        # GML 3.2 wants a gml:id on every polygon, which ST_AsGML of a multi-polygon repeats from
        # the parent: members are written one by one. Most parcels have one polygon, written
        # without the per-feature subquery (≈ 2 µs a feature less).
        member = ("'<gml:surfaceMember>' || ST_AsGML(3, {m}, " + str(prec) + ", 0, 'gml', " + fid
                  + " || '.g.' || {n}) || '</gml:surfaceMember>'")
        parts = (
            f"CASE WHEN ST_NumGeometries({ft.geom_sql}) = 1 THEN {member.format(m=f'ST_GeometryN({g}, 1)', n='1')} "
            f"ELSE (SELECT string_agg({member.format(m='d.geom', n='d.path[1]')}, '' ORDER BY d.path[1]) "
            f"FROM ST_Dump({g}) d) END"
        )
        return (
            f"""'<{gtag}><gml:MultiSurface gml:id="' || {fid} || '.g" srsName="' || :srs_name || '">' """
            f"|| {parts} || '</gml:MultiSurface></{gtag}>'"
        )
    if fmt == "gml311":
        return (
            f"""'<{gtag}><gml:MultiSurface srsName="' || :srs_name || '"' || """
            f"substr(ST_AsGML(3, {g}, {prec}, 0), 18) || '</{gtag}>'"
        )
    return (
        f"""'<{gtag}><gml:MultiPolygon srsName="' || :srs_name || '"' || """
        f"substr(ST_AsGML(2, {g}, {prec}, 0), 18) || '</{gtag}>'"
    )


def value_sql(q: FeatureQuery, name: str) -> str:
    """SQL of one `wfs:member` per feature holding the value of property `name` (GetPropertyValue)."""
    ft = q.feature_type
    if name == ft.geometry_name:
        body = f"coalesce({_geom_body(q, 'gml32')}, '')"
    else:
        prop = ft.property(name)
        body = f"""coalesce(xmlforest({prop.sql} AS "{PREFIX}:{prop.name}")::text, '')"""
    return f"'<wfs:member>' || {body} || '</wfs:member>'"


def _order(q: FeatureQuery) -> str:
    ft = q.feature_type
    terms = []
    for name, desc in q.sort:
        prop = ft.property(name)
        if prop is not None:
            terms.append(f"{prop.sql} {'DESC' if desc else 'ASC'} NULLS LAST")
    terms.append(ft.key_sql)
    return ", ".join(terms)


def _count_sql(q: FeatureQuery, capped: bool = False) -> str:
    """count(*) of the matches, without the lookup joins when no condition needs them; `capped`
    stops counting at `:_cap` rows (a bind parameter), so a big layer is never counted in full."""
    ft = q.feature_type
    where = _where(q)
    source = ft.from_sql
    if ft.count_from_sql and not any(re.search(rf"\b{a}\.", where) for a in ft.lookup_aliases):
        source = ft.count_from_sql
    if capped:
        return f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where} LIMIT :_cap) c"
    return f"SELECT count(*) FROM {source} WHERE {where}"


def _cap(q: FeatureQuery, count_limit: int) -> int:
    """Rows the capped count reads: one past the limit, and never fewer than the page reaches
    (counting those costs no more than the page's own OFFSET), so a count at the cap means the
    page is full and more than the limit match."""
    return max(count_limit, q.start + (q.count or 0)) + 1


def select_sql(q: FeatureQuery, fmt: str, member: str | None = None, *, count_limit: int | None = None,
               lazy_count: bool = False) -> tuple[str, dict]:
    """The one statement that counts, filters, orders, pages and renders: (sql, params).

    Each row is (numberMatched, rendered feature); the count is an uncorrelated subquery, so
    PostgreSQL runs it once (an InitPlan) and the client needs one round trip, not two. Past
    the first page the keys are paged in a subquery first: PostgreSQL would otherwise render
    every skipped feature too.

    With `count_limit` the count stops at `_cap(q, count_limit)` rows (a count at the cap means
    "more than the limit"). With `lazy_count` only the last row of a full page carries the
    count (the others NULL): PostgreSQL evaluates an InitPlan when first needed, so a short
    page (the last one) is never counted at all.
    """
    ft = q.feature_type
    params = dict(q.params)
    params["srs_name"] = q.srs_name
    paging = ""
    if q.count is not None:
        paging += " LIMIT :_limit"
        params["_limit"] = q.count
    if q.start:
        paging += " OFFSET :_offset"
        params["_offset"] = q.start
    where = _where(q)
    if q.start:
        where = (f"{ft.key_sql} IN (SELECT {ft.key_sql} FROM {ft.from_sql} WHERE {where} "
                 f"ORDER BY {_order(q)}{paging})")
        paging = ""
    counted = _count_sql(q, capped=count_limit is not None)
    if count_limit is not None:
        params["_cap"] = _cap(q, count_limit)
    if lazy_count and q.count:
        page = (f"SELECT {member or member_sql(q, fmt)} AS m "
                f"FROM {ft.from_sql} WHERE {where} ORDER BY {_order(q)}{paging}")
        sql = f"SELECT CASE WHEN row_number() OVER () = :_limit THEN ({counted}) END AS n, m FROM ({page}) page"
        return sql, params
    sql = (f"SELECT ({counted}) AS n, {member or member_sql(q, fmt)} AS m "
           f"FROM {ft.from_sql} WHERE {where} ORDER BY {_order(q)}{paging}")
    return sql, params


def count(session: Session, q: FeatureQuery, count_limit: int | None = None) -> int | None:
    """How many features match (ignoring paging); None ("unknown") when more than `count_limit`."""
    if count_limit is None:
        return session.execute(text(_count_sql(q)), q.params).scalar_one()
    n = session.execute(text(_count_sql(q, capped=True)), {**q.params, "_cap": count_limit + 1}).scalar_one()
    return None if n > count_limit else n


#: pages up to this size are fetched in one go; larger ones stream from a server-side cursor.
BUFFERED_MAX = 5000


def render(session: Session, q: FeatureQuery, fmt: str, *, member: str | None = None, separator: str = "",
           batch: int = 1000, count_limit: int | None = None) -> tuple[int | None, Iterable[str]]:
    """(numberMatched, rendered features in chunks). The statement has run when this returns,
    so a bad filter fails here, before any byte is sent. A small page comes as a list (all of it
    read: the caller may answer it in one piece and release the session at once); a large page
    as an iterator streaming from a server-side cursor (the caller keeps the session open until
    it is exhausted).

    With `count_limit`, numberMatched is None ("unknown") when more than that many features
    match; the page is then full. A short page (the last) is start + its length, uncounted
    when buffered; a streamed page needs its count before its first byte, so it is counted
    (capped)."""
    def matched_of(n: int) -> int | None:
        return None if count_limit is not None and n >= _cap(q, count_limit) else n

    if q.count is not None and q.count <= BUFFERED_MAX:
        sql, params = select_sql(q, fmt, member, count_limit=count_limit, lazy_count=True)
        # One statement that only reads needs no transaction: on a pooled autocommit connection
        # (when the session lends one; not in a caller's transaction, e.g. a test's) it skips
        # BEGIN and ROLLBACK, two of the three round trips of a small request.
        rows = prepared.fetch(session, sql, params)
        if not rows:
            # A page past the end: the count stops at start + 1 at most, so it is exact.
            return (count(session, q, None if count_limit is None else max(count_limit, q.start)) if q.start
                    else 0), []
        body = [separator.join(r[1] for r in rows)]
        if q.count and len(rows) == q.count:
            return matched_of(rows[-1][0]), body
        return q.start + len(rows), body
    sql, params = select_sql(q, fmt, member, count_limit=count_limit)
    conn = session.connection()
    # A cursor's plan is tuned for the first rows by default, which picks a primary-key walk
    # over the spatial index; we read every row, so say so.
    conn.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    # Per-statement options: the connection itself must not switch to server-side cursors.
    result = conn.execute(text(sql), params, execution_options={"stream_results": True, "max_row_buffer": batch})
    first = result.fetchmany(batch)
    if not first:
        result.close()
        return (count(session, q, None if count_limit is None else max(count_limit, q.start)) if q.start
                else 0), []

    def chunks() -> Iterator[str]:
        try:
            yield separator.join(r[1] for r in first)
            while rows := result.fetchmany(batch):
                yield separator + separator.join(r[1] for r in rows)
        finally:
            result.close()

    return matched_of(first[0][0]), chunks()


def extent_wgs84(session: Session, ft: FeatureType) -> tuple[float, float, float, float] | None:
    """The layer's bounding box in lon/lat, or None when it has no geometry."""
    row = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
            f"SELECT ST_Transform(ST_SetSRID(ST_Extent({ft.geom_sql})::geometry, {STORAGE_SRID}), 4326) AS e "
            # The extent needs no name lookups: the join-free source the count uses will do.
            f"FROM {ft.count_from_sql or ft.from_sql} WHERE {ft.where_sql}) s"
        )
    ).one()
    return None if row[0] is None else tuple(float(v) for v in row)
