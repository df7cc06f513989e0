"""Renderers: a `FeatureQuery` → one SQL statement whose rows are features PostGIS wrote (GeoJSON, GML 3.2 / 3.1.1 / 2).

The statement filters, orders, pages, counts (cheaply) and renders; Python only joins the texts,
as the UTF-8 bytes PostgreSQL sent (never decoded to str and encoded back).
A page comes back whole when it is small (one prepared round trip) and streams from a
server-side cursor in constant memory when it is large — decided by what the query returns,
not by the page size asked: a request for 10 000 features that match 3 is answered whole.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

from .. import prepared, sqltext
from ..crs import STORAGE_SRID
from ..db import TEXT_AS_BYTES
from .filters import ResourceIds
from .query import Compiled, FeatureQuery, compile_where, source_sql
from .types import PREFIX, FeatureType

#: Output formats.
FORMATS = ("gml32", "gml311", "gml2", "geojson")

#: pages up to this size are read whole; larger answers stream from a server-side cursor.
BUFFERED_MAX = 5000

#: A first page of current features in a bbox no larger than this (its larger side, metres)
#: runs on the prepared statement's generic plan — the spatial index scan, the plan for any such
#: box — instead of being planned for its values each time (planning a ~1-feature page costs as
#: much as running it). A larger box may hold so much of the layer that walking the key order
#: is cheaper, which only a plan for its values finds.
GENERIC_BBOX_M = 2000.0


def precision(srid: int) -> int:
    """Decimals: 8 in degrees (≈ 1 mm), 3 in metres (1 mm)."""
    return 8 if srid == 4326 else 3


def geometry_sql(q: FeatureQuery) -> str:
    """The output geometry: the stored column in the output CRS when there is one, else
    transformed; axes swapped if asked; SRID cleared (the envelope names the CRS)."""
    ft = q.feature_type
    g = ft.geometry_column(q.srid) or f"ST_Transform({ft.storage_geometry}, {int(q.srid)})"
    if q.lat_first:
        g = f"ST_FlipCoordinates({g})"
    return f"ST_SetSRID({g}, 0)"


def feature_id_sql(ft: FeatureType, style: str = "typed") -> str:
    """SQL of a feature's id text: `parcels.42` (WFS, OGC API) or its code (the REST API)."""
    if style == "code":
        return ft.property(ft.code_property).sql
    return f"'{ft.name}.' || {ft.key_sql}"


def geojson_sql(q: FeatureQuery, *, id_style: str = "typed", digits: int | None = None) -> str:
    """SQL of one GeoJSON Feature text per row."""
    props, with_geom = q.selected()
    prec = precision(q.srid) if digits is None else digits
    geom = f"coalesce(ST_AsGeoJSON({geometry_sql(q)}, {prec}), 'null')" if with_geom else "'null'"
    pairs = [(p.name, p.sql) for p in props] + list(q.computed)
    return (
        f"""'{{"type":"Feature","id":' || to_json({feature_id_sql(q.feature_type, id_style)})::text"""
        f""" || ',"geometry":' || {geom} || ',"properties":' || {sqltext.json_object(pairs)} || '}}'"""
    )


def member_sql(q: FeatureQuery, fmt: str, *, wrap: bool = True, root_attributes: bool = False) -> str:
    """SQL of one output chunk per feature: a GeoJSON Feature, or a GML feature (in a
    wfs:member / gml:featureMember unless `wrap` is False). With `root_attributes` the feature
    element also carries the attributes bound to `:_root_attributes` (namespace declarations
    and schemaLocation of a feature answered as the document's root)."""
    if fmt == "geojson":
        return geojson_sql(q)
    ft = q.feature_type
    props, with_geom = q.selected()
    fid = feature_id_sql(ft)
    tag = f"{PREFIX}:{ft.name}"
    attrs = (
        "coalesce(xmlforest(" + ", ".join(f'{p.sql} AS "{PREFIX}:{p.name}"' for p in props) + ")::text, '')"
        if props else "''"
    )
    geom = f"coalesce({_gml_geometry(q, fmt)}, '')" if with_geom else "''"
    id_attr = "fid" if fmt == "gml2" else "gml:id"
    root = " || :_root_attributes" if root_attributes else ""
    feature = f"""'<{tag}'{root} || ' {id_attr}="' || {fid} || '">' || {attrs} || {geom} || '</{tag}>'"""
    if not wrap:
        return feature
    open_, close = {"gml32": ("<wfs:member>", "</wfs:member>")}.get(
        fmt, ("<gml:featureMember>", "</gml:featureMember>"))
    return f"'{open_}' || {feature} || '{close}'"


def _gml_geometry(q: FeatureQuery, fmt: str) -> str:
    """SQL of the geometry property element in GML `fmt` (NULL when the feature has none)."""
    ft = q.feature_type
    fid = feature_id_sql(ft)
    g = geometry_sql(q)
    prec = precision(q.srid)
    gtag = f"{PREFIX}:{ft.geometry_name}"
    if fmt == "gml32":
        # GML 3.2 wants a gml:id on every polygon, which ST_AsGML of a multi-polygon repeats from
        # the parent: members are written one by one. Most parcels have one polygon, written
        # without the per-feature subquery.
        member = ("'<gml:surfaceMember>' || ST_AsGML(3, {m}, " + str(prec) + ", 0, 'gml', " + fid
                  + " || '.g.' || {n}) || '</gml:surfaceMember>'")
        parts = (
            f"CASE WHEN ST_NumGeometries({ft.geometry_column(q.srid) or ft.storage_geometry}) = 1 "
            f"THEN {member.format(m=f'ST_GeometryN({g}, 1)', n='1')} "
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
        body = f"coalesce({_gml_geometry(q, 'gml32')}, '')"
    else:
        prop = ft.property(name)
        body = f"""coalesce(xmlforest({prop.sql} AS "{PREFIX}:{prop.name}")::text, '')"""
    return f"'<wfs:member>' || {body} || '</wfs:member>'"


def _count_sql(q: FeatureQuery, capped: bool = False) -> tuple[str, dict]:
    """count(*) of the matches; `capped` stops counting at `:_cap` rows, so a big layer is
    never counted in full."""
    c = compile_where(q)
    if capped:
        return f"SELECT count(*) FROM (SELECT 1 FROM {c.source} WHERE {c.where} LIMIT :_cap) c", c.params
    return f"SELECT count(*) FROM {c.source} WHERE {c.where}", c.params


def _cap(q: FeatureQuery, count_limit: int) -> int:
    """Rows the capped count reads: one past the limit, and never fewer than the page reaches
    (counting those costs no more than the page's own OFFSET), so a count at the cap means the
    page is full and more than the limit match."""
    return max(count_limit, q.start + (q.count or 0)) + 1


def _window(q: FeatureQuery, count_limit: int | None) -> int:
    """Rows a first page's own scan counts: twice the page and one more, never past the cap.

    The count is a window over the matches, which PostgreSQL holds in memory; it is bounded so
    that a box over the whole layer does not pull every feature into it. A count that reaches
    this bound below the cap is finished by the capped count (a second scan, as for later pages).
    """
    bound = 2 * (q.count or 0) + 1
    return bound if count_limit is None else min(bound, _cap(q, count_limit))


def select_sql(q: FeatureQuery, fmt: str, member: str | None = None, *, count_limit: int | None = None,
               lazy_count: bool = False, counted: bool = True) -> tuple[str, dict]:
    """The one statement that counts, filters, orders, pages and renders: (sql, params).

    Each row is (numberMatched, rendered feature); the count is an uncorrelated subquery, so
    PostgreSQL runs it once (an InitPlan). Past the first page the keys are paged in a
    subquery first: PostgreSQL would otherwise render every skipped feature too.

    With `count_limit` the count stops at `_cap(q, count_limit)` rows (a count at the cap means
    "more than the limit").

    With `lazy_count` the count costs no second scan when it can be helped. A first page counts
    in its own scan: an inner query filters, orders and keeps `_window(q, count_limit)` rows,
    counted by `count(*) OVER ()`, pages them, and the features are rendered outside it (every
    row carries the count). Only when that many match below the cap is the capped count run
    (an InitPlan, evaluated when first needed). A later page carries the count on its last row
    only (the others NULL), so a short page (the last one) is never counted at all.

    Without `counted` the rows carry no count (NULL): for a probe whose count is never read.
    """
    c = compile_where(q)
    params = dict(c.params)
    params["srs_name"] = q.srs_name
    order = ", ".join(q.order_terms())
    rendered = member or member_sql(q, fmt)
    if q.count is not None:
        params["_limit"] = q.count
    if lazy_count and q.count and not q.start and counted:
        return _first_page_sql(q, c, order, rendered, params, count_limit)
    paging = ""
    if q.count is not None:
        paging += " LIMIT :_limit"
    if q.start:
        paging += " OFFSET :_offset"
        params["_offset"] = q.start
    where = c.where
    key = q.feature_type.key_sql
    if q.start:
        where = f"{key} IN (SELECT {key} FROM {c.source} WHERE {where} ORDER BY {order}{paging})"
        paging = ""
    if not counted:
        sql = f"SELECT NULL::bigint AS n, {rendered} AS m FROM {c.source} WHERE {where} ORDER BY {order}{paging}"
        return sql, params
    count_sql, count_params = _count_sql(q, capped=count_limit is not None)
    params.update(count_params)
    if count_limit is not None:
        params["_cap"] = _cap(q, count_limit)
    if lazy_count and q.count:
        page = f"SELECT {rendered} AS m FROM {c.source} WHERE {where} ORDER BY {order}{paging}"
        sql = f"SELECT CASE WHEN row_number() OVER () = :_limit THEN ({count_sql}) END AS n, m FROM ({page}) page"
        return sql, params
    sql = f"SELECT ({count_sql}) AS n, {rendered} AS m FROM {c.source} WHERE {where} ORDER BY {order}{paging}"
    return sql, params


def _first_page_sql(q: FeatureQuery, c: Compiled, order: str, rendered: str, params: dict,
                    count_limit: int | None) -> tuple[str, dict]:
    """A first page counted in its own scan (see `select_sql`)."""
    window = _window(q, count_limit)
    params["_window"] = window
    matches = f"SELECT f.* FROM {c.source} WHERE {c.where} ORDER BY {order} LIMIT :_window"
    page = f"SELECT f.*, count(*) OVER () AS _n FROM ({matches}) f ORDER BY {order} LIMIT :_limit"
    if count_limit is not None and window == _cap(q, count_limit):
        # The window reaches the cap: a count at it already means "more than the limit".
        n = "f._n"
    else:
        count_sql, count_params = _count_sql(q, capped=count_limit is not None)
        params.update(count_params)
        if count_limit is not None:
            params["_cap"] = _cap(q, count_limit)
        n = f"CASE WHEN f._n < :_window THEN f._n ELSE ({count_sql}) END"
    return f"SELECT {n} AS n, {rendered} AS m FROM ({page}) f", params


def count(session: Session, q: FeatureQuery, count_limit: int | None = None) -> int | None:
    """How many features match (ignoring paging); None ("unknown") when more than `count_limit`."""
    if count_limit is None:
        sql, params = _count_sql(q)
        return session.execute(text(sql), params).scalar_one()
    sql, params = _count_sql(q, capped=True)
    n = session.execute(text(sql), {**params, "_cap": count_limit + 1}).scalar_one()
    return None if n > count_limit else n


def _past_the_end(session: Session, q: FeatureQuery, count_limit: int | None) -> int:
    # A page past the end: the count stops at start + 1 at most, so it is exact.
    if not q.start:
        return 0
    return count(session, q, None if count_limit is None else max(count_limit, q.start))


def _generic(q: FeatureQuery) -> bool:
    """Whether the first page of `q` runs on the generic plan: features by id (the key's index,
    whatever the ids) or in a small bbox (see GENERIC_BBOX_M)."""
    if q.start or q.at is not None:
        return False
    if isinstance(q.filter, ResourceIds):
        return True
    return q.bbox is not None and q.bbox.span_m() <= GENERIC_BBOX_M


def _buffered(session: Session, q: FeatureQuery, fmt: str, member: str | None, separator: bytes,
              count_limit: int | None) -> tuple[int | None, list[bytes]] | None:
    """The page read whole as a prepared statement; None when more rows came back than a
    buffered page may hold (then the caller streams)."""
    probe = q if q.count is not None and q.count <= BUFFERED_MAX else replace(q, count=BUFFERED_MAX + 1)
    # A probe's count is never read: past BUFFERED_MAX rows the page streams, below it it is short.
    sql, params = select_sql(probe, fmt, member, count_limit=count_limit, lazy_count=True, counted=probe is q)
    # One statement that only reads needs no transaction: on a pooled autocommit connection
    # (when the session lends one) it skips BEGIN and ROLLBACK.
    rows = prepared.fetch(session, sql, params, as_bytes=True, generic=probe is q and _generic(q))
    if probe is not q and len(rows) > BUFFERED_MAX:
        return None
    if not rows:
        return _past_the_end(session, q, count_limit), []
    body = [separator.join(r[1] for r in rows)]
    if len(rows) == probe.count:
        n = rows[-1][0]
        return (None if count_limit is not None and n >= _cap(q, count_limit) else n), body
    return q.start + len(rows), body


def render(session: Session, q: FeatureQuery, fmt: str, *, member: str | None = None, separator: str = "",
           batch: int = 1000, count_limit: int | None = None) -> tuple[int | None, Iterable[bytes]]:
    """(numberMatched, rendered features in chunks of UTF-8 bytes, as PostgreSQL sent them: they
    go to the client as they are, never decoded). The statement has run when this returns,
    so a bad filter fails here, before any byte is sent. A small answer comes as a list (all of
    it read: the caller may answer it in one piece and release the session at once); a large
    one as an iterator streaming from a server-side cursor (the caller keeps the session open
    until it is exhausted).

    With `count_limit`, numberMatched is None ("unknown") when more than that many features
    match; the page is then full. A short page (the last) is start + its length, uncounted."""
    sep = separator.encode()
    done = _buffered(session, q, fmt, member, sep, count_limit)
    if done is not None:
        return done
    sql, params = select_sql(q, fmt, member, count_limit=count_limit)
    conn = session.connection()
    # A cursor's plan is tuned for the first rows by default, which picks a key-order walk
    # over the spatial index; we read every row, so say so.
    conn.execute(text("SET LOCAL cursor_tuple_fraction = 1.0; SET LOCAL max_parallel_workers_per_gather = 0"))
    # Per-statement options: the connection itself must not switch to server-side cursors.
    result = conn.execute(text(sql), params, execution_options={"stream_results": True, "max_row_buffer": batch,
                                                                 TEXT_AS_BYTES: True})
    first = result.fetchmany(batch)
    if not first:
        result.close()
        return _past_the_end(session, q, count_limit), []

    def chunks() -> Iterator[bytes]:
        try:
            yield sep.join(r[1] for r in first)
            while rows := result.fetchmany(batch):
                yield sep + sep.join(r[1] for r in rows)
        finally:
            result.close()

    n = first[0][0]
    return (None if count_limit is not None and n >= _cap(q, count_limit) else n), chunks()


def extent_wgs84(session: Session, ft: FeatureType) -> tuple[float, float, float, float] | None:
    """The layer's bounding box in lon/lat, or None when it has no geometry."""
    column = ft.geometry_column(4326)
    row = session.execute(text(
        f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        f"(SELECT ST_Extent({column})::geometry AS e FROM {source_sql(FeatureQuery(ft))}) s"
    )).one()
    return None if row[0] is None else tuple(float(v) for v in row)


__all__ = ["FORMATS", "BUFFERED_MAX", "STORAGE_SRID", "render", "count", "select_sql", "member_sql", "value_sql",
           "geojson_sql", "geometry_sql", "extent_wgs84", "precision"]
