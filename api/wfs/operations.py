"""WFS operations: a parsed `WFSRequest` + a database session → a response (no Flask here)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable
from urllib.parse import urlencode

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from landdb import query, timetravel
from landdb.errors import InvalidInput
from landdb.query import FEATURE_TYPES, Bbox, FeatureQuery, FeatureType

from . import capabilities, describe, filters, output, srs
from .exceptions import OWSException, invalid, missing
from .parse import GET_FEATURE_BY_ID, WFSRequest

#: a client may ask for at most this many features in one response (they stream).
MAX_COUNT = 1_000_000


@dataclass
class Result:
    """An answer: a document whole (str, or UTF-8 bytes), or chunks of UTF-8 bytes to stream."""

    body: str | bytes | Iterable[bytes]
    content_type: str
    status: int = 200


def execute(req: WFSRequest, session: Session, url: str, *, count_limit: int | None = None) -> Result:
    """Run one operation; raises OWSException for anything the client got wrong. numberMatched
    is counted up to `count_limit` features and "unknown" past it (None: always exact)."""
    handler = {
        "GetCapabilities": get_capabilities,
        "DescribeFeatureType": describe_feature_type,
        "GetFeature": get_feature,
        "GetPropertyValue": get_property_value,
        "ListStoredQueries": list_stored_queries,
        "DescribeStoredQueries": describe_stored_queries,
    }[req.operation]
    if req.version != "2.0.0" and req.operation in ("GetPropertyValue", "ListStoredQueries", "DescribeStoredQueries"):
        raise OWSException("OperationNotSupported", f"{req.operation} needs WFS 2.0.0", "request")
    try:
        if req.operation in ("GetFeature", "GetPropertyValue"):
            return handler(req, session, url, count_limit=count_limit)
        return handler(req, session, url)
    except InvalidInput as exc:
        # The core's word on a bad value (a filter literal, a bbox): the parameter it names.
        raise OWSException("InvalidParameterValue", exc.message, exc.field or None) from None


def get_capabilities(req: WFSRequest, session: Session, url: str) -> Result:
    extents = {name: query.extent_wgs84(session, ft) for name, ft in FEATURE_TYPES.items()}
    return Result(capabilities.capabilities(req.version, url, extents), "application/xml; charset=UTF-8")


def feature_type(name: str, locator: str = "typeNames") -> FeatureType:
    """The feature type a (possibly prefixed) type name means; clients pick their own prefixes."""
    ft = FEATURE_TYPES.get(name.split(":")[-1].split("}")[-1])
    if ft is None:
        raise invalid(locator, f"unknown feature type {name!r}; known: "
                      + ", ".join(t.qname for t in FEATURE_TYPES.values()))
    return ft


def describe_feature_type(req: WFSRequest, session: Session, url: str) -> Result:
    types = [feature_type(n, "typeName") for n in req.type_names] or list(FEATURE_TYPES.values())
    fmt = {"2.0.0": "gml32", "1.1.0": "gml311", "1.0.0": "gml2"}[req.version]
    if req.output_format:
        f = req.output_format.replace(" ", "").lower()
        fmt = ("gml32" if "3.2" in f else "gml311" if "3.1" in f or f == "gml3" else
               "gml2" if "2.1" in f or f in ("gml2", "xmlschema") else None)
        if fmt is None:
            raise invalid("outputFormat", f"outputFormat {req.output_format!r} is not supported")
    content = {"gml32": "application/gml+xml; version=3.2", "gml311": "text/xml; subtype=gml/3.1.1",
               "gml2": "text/xml; subtype=gml/2.1.2"}[fmt]
    return Result(describe.schema(types, fmt), content + "; charset=UTF-8")


def list_stored_queries(req: WFSRequest, session: Session, url: str) -> Result:
    return Result(capabilities.stored_queries_list(req.version), "application/xml; charset=UTF-8")


def describe_stored_queries(req: WFSRequest, session: Session, url: str) -> Result:
    for sid in req.stored_query_ids:
        if sid != GET_FEATURE_BY_ID:
            raise invalid("storedQuery_Id", f"unknown stored query {sid!r}")
    return Result(capabilities.stored_queries_describe(req.version), "application/xml; charset=UTF-8")


def _time_travel(req: WFSRequest, q: FeatureQuery) -> None:
    """Vendor parameter `at=YYYY-MM-DD` (KVP, or in a POST an attribute of the request element or
    the URL's query string): the layer as the register stood at the end of that day."""
    if not req.at:
        return
    try:
        q.at = timetravel.parse_at(req.at)
    except InvalidInput as exc:
        raise invalid("at", exc.message) from None


def _published(ft: FeatureType, name: str) -> bool:
    """A property of the layer's application schema (what DescribeFeatureType declares)."""
    p = ft.property(name)
    return p is not None and p.published


def build_query(req: WFSRequest) -> FeatureQuery:
    """The FeatureQuery a GetFeature / GetPropertyValue asks for (type, filters, CRS, paging)."""
    if req.stored_query_id:
        if req.stored_query_id != GET_FEATURE_BY_ID:
            raise invalid("storedQuery_Id", f"unknown stored query {req.stored_query_id!r}")
        if not req.resource_ids:
            raise missing("ID")
        rid = req.resource_ids[0]
        ft = FEATURE_TYPES.get(rid.rpartition(".")[0].split(":")[-1])
        if ft is None:
            raise OWSException("NotFound", f"no feature {rid!r}", "ID", 404)
        q = FeatureQuery(ft, filter=filters.resource_keys(ft, [rid]))
    else:
        if not req.type_names and not req.resource_ids:
            raise missing("typeNames")
        if len(req.type_names) > 1:
            raise OWSException("OperationNotSupported", "one feature type per request, please (no joins)",
                               "typeNames")
        if req.type_names:
            ft = feature_type(req.type_names[0])
        else:
            ft = FEATURE_TYPES.get(req.resource_ids[0].rpartition(".")[0].split(":")[-1])
            if ft is None:
                raise invalid("resourceId", f"unknown resource id {req.resource_ids[0]!r}")
        q = FeatureQuery(ft)
        exclusive = [n for n, v in (("resourceId", req.resource_ids), ("bbox", req.bbox),
                                    ("filter", req.filter is not None)) if v]
        if len(exclusive) > 1:
            raise invalid(exclusive[1], f"{', '.join(exclusive)} are mutually exclusive")
        if req.resource_ids:
            q.filter = filters.resource_keys(ft, req.resource_ids)
    _time_travel(req, q)
    out = srs.parse(req.srs_name, version=req.version) if req.srs_name else srs.storage(req.version)
    q.srid, q.lat_first, q.srs_name = out.srid, out.lat_first, out.name
    if req.bbox:
        coords, crs_name = req.bbox
        s = srs.parse(crs_name, locator="bbox", version=req.version) if crs_name else srs.storage(req.version)
        x0, y0, x1, y1 = coords
        if s.lat_first:
            x0, y0, x1, y1 = y0, x0, y1, x1
        try:
            q.bbox = Bbox(x0, y0, x1, y1, srid=s.srid)
        except InvalidInput as exc:
            raise invalid("bbox", exc.message.removeprefix("bbox: ")) from None
    if req.filter is not None:
        filters.apply(q, req.filter, req.version)
    if req.property_names is not None and req.property_names != ["*"]:
        names = [n.split("/")[-1].split(":")[-1] for n in req.property_names]
        for n in names:
            if n != ft.geometry_name and not _published(ft, n):
                raise invalid("propertyName", f"{ft.qname} has no property {n!r}")
        q.properties = names
    for name, desc in req.sort_by:
        local = name.split("/")[-1].split(":")[-1]
        if not _published(ft, local):
            raise invalid("sortBy", f"{ft.qname} has no sortable property {name!r}")
        q.sort.append((local, desc))
    if req.count is not None and req.count > MAX_COUNT:
        raise invalid("count", f"count may be at most {MAX_COUNT}")
    if req.count is None and req.version != "2.0.0":
        # WFS 1.0/1.1 clients (GDAL, QGIS) do not page: without maxFeatures they get every
        # feature, streamed, rather than a first page they would take for the whole layer.
        q.count = MAX_COUNT
    else:
        q.count = capabilities.COUNT_DEFAULT if req.count is None else req.count
    q.start = req.start_index
    return q


def _page_url(req: WFSRequest, url: str, start: int, count: int) -> str:
    params = dict(req.kvp) if req.kvp else _kvp_of(req)
    params["STARTINDEX"] = str(start)
    params["COUNT"] = str(count)
    params.pop("MAXFEATURES", None)
    return url + "?" + urlencode(params)


def _kvp_of(req: WFSRequest) -> dict[str, str]:
    """KVP equivalent of a POSTed GetFeature, for next/previous links (filters stay in the XML)."""
    from lxml import etree

    out = {"SERVICE": "WFS", "VERSION": req.version, "REQUEST": req.operation}
    if req.type_names:
        out["TYPENAMES"] = ",".join(req.type_names)
    if req.srs_name:
        out["SRSNAME"] = req.srs_name
    if req.output_format:
        out["OUTPUTFORMAT"] = req.output_format
    if req.filter is not None:
        out["FILTER"] = etree.tostring(req.filter).decode()
    if req.sort_by:
        out["SORTBY"] = ",".join(f"{n} {'DESC' if d else 'ASC'}" for n, d in req.sort_by)
    if req.property_names:
        out["PROPERTYNAME"] = ",".join(req.property_names)
    if req.resource_ids and not req.stored_query_id:
        out["RESOURCEID"] = ",".join(req.resource_ids)
    if req.at:
        out["AT"] = req.at
    return out


def _render(session: Session, q: FeatureQuery, fmt: str, **kw) -> tuple[int | None, Iterable[bytes]]:
    """Run the statement now (so a bad filter is a 400, not a broken stream)."""
    try:
        return query.render(session, q, fmt, **kw)
    except DBAPIError as exc:
        raise _db_failure(exc) from None


def _db_failure(exc: DBAPIError) -> OWSException:
    pgcode = getattr(exc.orig, "pgcode", None) or ""
    if pgcode == "57014":
        return OWSException("OperationProcessingFailed", "the query took longer than the server allows", None, 504)
    if pgcode.startswith(("22", "XX")):  # bad geometry or value in the request
        msg = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or "invalid value in the request"
        return OWSException("InvalidParameterValue", msg, "filter")
    raise exc


def _count(session: Session, q: FeatureQuery, count_limit: int | None) -> int | None:
    try:
        return query.count(session, q, count_limit)
    except DBAPIError as exc:
        session.rollback()
        raise _db_failure(exc) from None


def _returned(q: FeatureQuery, matched: int | None) -> int:
    """numberReturned: an unknown numberMatched means more than the page reaches (a full page)."""
    return q.count if matched is None else max(0, min(q.count, matched - q.start))


def get_feature(req: WFSRequest, session: Session, url: str, *, count_limit: int | None = None) -> Result:
    fmt = req.format
    q = build_query(req)
    if req.result_type == "hits":
        # WFS 1.1's numberOfFeatures has no "unknown": count it exactly.
        limit = count_limit if req.version == "2.0.0" or fmt == "geojson" else None
        return Result(output.hits(fmt, req.version, _count(session, q, limit)), output.CONTENT_TYPES[fmt])
    crs_name = None
    if fmt == "geojson":
        crs_name = None if q.srid == 4326 else q.srs_name
        q.lat_first = False  # GeoJSON is longitude-first whatever the spelling
    describe_url = _describe_url(url, req.version, q.feature_type.qname, fmt)
    if req.stored_query_id and req.version == "2.0.0" and fmt == "gml32":
        # GetFeatureById answers the bare feature, as the document's root.
        q.params["_root_attributes"] = (
            f' xmlns:{query.PREFIX}="{query.NAMESPACE}" xmlns:gml="http://www.opengis.net/gml/3.2"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            f' xsi:schemaLocation="{query.NAMESPACE} {_esc(describe_url)}"')
        member = query.member_sql(q, fmt, wrap=False, root_attributes=True)
        matched, body = _render(session, q, fmt, member=member, count_limit=count_limit)
        if matched == 0:
            raise OWSException("NotFound", f"no feature {req.resource_ids[0]!r}", "ID", 404)
        return Result(b'<?xml version="1.0" encoding="UTF-8"?>\n' + b"".join(body), output.CONTENT_TYPES[fmt])
    matched, body = _render(session, q, fmt, separator="," if fmt == "geojson" else "", count_limit=count_limit)
    if req.stored_query_id and matched == 0:
        raise OWSException("NotFound", f"no feature {req.resource_ids[0]!r}", "ID", 404)
    returned = _returned(q, matched)
    more = matched is None or q.start + returned < matched
    next_url = _page_url(req, url, q.start + q.count, q.count) if more and q.count else None
    prev_url = _page_url(req, url, max(0, q.start - q.count), q.count) if q.start > 0 and q.count else None
    head, tail = output.envelope(fmt, matched=matched, returned=returned, describe_url=describe_url,
                                 next_url=next_url, previous_url=prev_url, crs_name=crs_name)
    return _collection(head, body, tail, output.CONTENT_TYPES[fmt])


def _collection(head: str, body: Iterable[bytes], tail: str, content_type: str) -> Result:
    """The envelope around the members PostGIS rendered: a small page (already read) in one
    piece with its length, a large one streamed."""
    head_bytes, tail_bytes = head.encode(), tail.encode()
    if isinstance(body, list):
        return Result(b"".join((head_bytes, *body, tail_bytes)), content_type)

    def generate():
        yield head_bytes
        yield from body
        yield tail_bytes

    return Result(generate(), content_type)


@lru_cache(maxsize=256)
def _describe_url(url: str, version: str, qname: str, fmt: str) -> str:
    """The DescribeFeatureType URL a GetFeature answer points its schemaLocation at."""
    describe = {"service": "WFS", "version": version, "request": "DescribeFeatureType",
                "typeName" if version != "2.0.0" else "typeNames": qname}
    if fmt != {"2.0.0": "gml32", "1.1.0": "gml311", "1.0.0": "gml2"}[version] and fmt != "geojson":
        describe["outputFormat"] = {"gml32": "application/gml+xml; version=3.2", "gml311": "text/xml; subtype=gml/3.1.1",
                                    "gml2": "text/xml; subtype=gml/2.1.2"}[fmt]
    return url + "?" + urlencode(describe)


def _esc(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;")


def get_property_value(req: WFSRequest, session: Session, url: str, *, count_limit: int | None = None) -> Result:
    if not req.value_reference:
        raise missing("valueReference")
    q = build_query(req)
    name = req.value_reference.split("/")[-1].split(":")[-1].lstrip("@")
    ft = q.feature_type
    if name != ft.geometry_name and not _published(ft, name):
        raise invalid("valueReference", f"{ft.qname} has no property {req.value_reference!r}")
    if req.result_type == "hits":
        head, tail = output.value_collection(_count(session, q, count_limit), 0)
        return Result(head + tail, "application/xml; charset=UTF-8")
    matched, body = _render(session, q, "gml32", member=query.value_sql(q, name), count_limit=count_limit)
    returned = _returned(q, matched)
    head, tail = output.value_collection(matched, returned)
    return _collection(head, body, tail, "application/xml; charset=UTF-8")
