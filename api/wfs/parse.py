"""WFS requests: KVP (GET) and XML (POST) bodies parsed into one `WFSRequest`.

The XML parser refuses DTDs, external entities and network access (no XXE, no billion laughs)
and oversized bodies; no Flask here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from .exceptions import OWSException, invalid, missing

VERSIONS = ("2.0.0", "1.1.0", "1.0.0")
OPERATIONS = (
    "GetCapabilities",
    "DescribeFeatureType",
    "GetFeature",
    "GetPropertyValue",
    "ListStoredQueries",
    "DescribeStoredQueries",
)
GET_FEATURE_BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
MAX_BODY = 1_000_000
#: a filter may hold at most this many operators (comparisons, spatial and logical operators,
#: resource ids) ...
MAX_FILTER_OPERATORS = 500
#: ... nested at most this deep (And/Or/Not inside one another).
MAX_FILTER_DEPTH = 20
#: a resource id as this service issues them: feature type, dot, number (`parcels.42`), ASCII,
#: optionally prefixed (`landdb:parcels.42`); the number fits PostgreSQL's bigint.
RESOURCE_ID = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_.-]*:)?[A-Za-z_][A-Za-z0-9_-]*\.[0-9]{1,18}")
_LOGICAL = {"And", "Or", "Not"}
_OPERATORS = _LOGICAL | {
    "BBOX", "Intersects", "Within", "Contains", "Disjoint", "Equals", "Touches", "Overlaps", "Crosses",
    "DWithin", "Beyond", "ResourceId", "FeatureId", "GmlObjectId", "Function", "After", "Before", "Begins",
    "BegunBy", "TContains", "During", "EndedBy", "Ends", "TEquals", "Meets", "MetBy", "TOverlaps", "OverlappedBy",
    "AnyInteracts"}
#: how many operand elements each operator takes (min, max): checked here, so that a missing
#: operand is named in our words rather than by the filter parser's internals.
_COMPARISON = ("PropertyIsEqualTo", "PropertyIsNotEqualTo", "PropertyIsLessThan", "PropertyIsGreaterThan",
               "PropertyIsLessThanOrEqualTo", "PropertyIsGreaterThanOrEqualTo", "PropertyIsLike")
_SPATIAL = ("BBOX", "Intersects", "Within", "Contains", "Disjoint", "Equals", "Touches", "Overlaps", "Crosses")
OPERANDS = {**{n: (2, 2) for n in _COMPARISON}, **{n: (1, 2) for n in _SPATIAL},
            "PropertyIsNull": (1, 1), "PropertyIsNil": (1, 2), "PropertyIsBetween": (3, 3),
            "And": (1, None), "Or": (1, None), "Not": (1, 1), "DWithin": (2, 3), "Beyond": (2, 3)}
_FILTER_NAMESPACES = ("http://www.opengis.net/fes/2.0", "http://www.opengis.net/ogc")
_ID_ATTRIBUTES = ("rid", "fid", "{http://www.opengis.net/gml}id", "{http://www.opengis.net/gml/3.2}id")

WFS20 = "http://www.opengis.net/wfs/2.0"
WFS = "http://www.opengis.net/wfs"
FES20 = "http://www.opengis.net/fes/2.0"
OGC = "http://www.opengis.net/ogc"
OWS11 = "http://www.opengis.net/ows/1.1"
OWS = "http://www.opengis.net/ows"

#: outputFormat spellings → our format names.
FORMATS = {
    "application/gml+xml;version=3.2": "gml32",
    "text/xml;subtype=gml/3.2": "gml32",
    "text/xml;subtype=gml/3.2.1": "gml32",
    "application/gml+xml;version=3.2.1": "gml32",
    "gml32": "gml32",
    "text/xml;subtype=gml/3.1.1": "gml311",
    "application/gml+xml;version=3.1": "gml311",
    "gml3": "gml311",
    "gml311": "gml311",
    "text/xml;subtype=gml/2.1.2": "gml2",
    "gml2": "gml2",
    "application/json": "geojson",
    "application/geo+json": "geojson",
    "json": "geojson",
    "geojson": "geojson",
}
DEFAULT_FORMAT = {"2.0.0": "gml32", "1.1.0": "gml311", "1.0.0": "gml2"}


@dataclass
class WFSRequest:
    """One request, whatever its encoding."""

    operation: str
    version: str = "2.0.0"
    type_names: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    bbox: tuple[list[float], str | None] | None = None
    filter: etree._Element | None = None
    property_names: list[str] | None = None
    sort_by: list[tuple[str, bool]] = field(default_factory=list)
    count: int | None = None
    start_index: int = 0
    result_type: str = "results"
    srs_name: str | None = None
    output_format: str | None = None
    stored_query_id: str | None = None
    stored_query_ids: list[str] = field(default_factory=list)
    value_reference: str | None = None
    #: vendor parameter: the day (YYYY-MM-DD, unparsed) the register is asked about; None = now.
    at: str | None = None
    #: the KVP parameters as given (upper-case keys), to build next/previous links.
    kvp: dict[str, str] = field(default_factory=dict)
    post: bool = False

    @property
    def format(self) -> str:
        if not self.output_format:
            return DEFAULT_FORMAT[self.version]
        key = re.sub(r"\s+", "", self.output_format).replace('"', "").lower()
        fmt = FORMATS.get(key)
        if fmt is None:
            raise OWSException("InvalidParameterValue", f"outputFormat {self.output_format!r} is not supported",
                               "outputFormat")
        return fmt


# --- XML safety -------------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          dtd_validation=False, remove_comments=True)


def parse_xml(data: bytes | str, *, locator: str = "request") -> etree._Element:
    """Parse untrusted XML; refuses DTDs (and so entity tricks) and oversized input."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_BODY:
        raise OWSException("OperationParsingFailed", f"the XML is larger than {MAX_BODY} bytes", locator, 413)
    if re.search(rb"<!DOCTYPE|<!ENTITY", data, re.I):
        raise OWSException("OperationParsingFailed", "DTDs and entity declarations are not accepted", locator)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise OWSException("OperationParsingFailed", f"malformed XML: {exc}", locator) from None
    if root.getroottree().docinfo.doctype:
        raise OWSException("OperationParsingFailed", "DTDs are not accepted", locator)
    return root


def check_resource_id(rid: str, locator: str) -> str:
    """A resource id shaped like the ones we issue (`parcels.42`), else InvalidParameterValue."""
    if not RESOURCE_ID.fullmatch(rid):
        raise invalid(locator, f"resource id {rid[:80]!r} is not a feature id like parcels.42 "
                               "(a feature type, a dot and a number)")
    return rid


def check_filter(root: etree._Element) -> etree._Element:
    """Refuse a filter over MAX_FILTER_OPERATORS operators or MAX_FILTER_DEPTH logical levels, or
    with a malformed resource id, before any filter parser walks it (iteratively: no recursion)."""
    operators = 0
    todo: list[tuple[etree._Element, int]] = [(root, 0)]
    while todo:
        el, depth = todo.pop()
        name = _local(el)
        if name.startswith("PropertyIs") or name in _OPERATORS:
            operators += 1
            if operators > MAX_FILTER_OPERATORS:
                raise invalid("filter", f"the filter holds more than {MAX_FILTER_OPERATORS} operators; "
                                        "split the request or use a bbox")
        if name in ("ResourceId", "FeatureId", "GmlObjectId"):
            rid = next((el.get(a) for a in _ID_ATTRIBUTES if el.get(a) is not None), None)
            if rid is not None:
                check_resource_id(rid, "filter")
        if name in OPERANDS and etree.QName(el).namespace in _FILTER_NAMESPACES:
            _check_operands(el, name)
        if name in _LOGICAL:
            depth += 1
            if depth > MAX_FILTER_DEPTH:
                raise invalid("filter", f"the filter nests And/Or/Not more than {MAX_FILTER_DEPTH} deep")
        todo.extend((c, depth) for c in el if isinstance(c.tag, str))
    return root


def _check_operands(el: etree._Element, name: str) -> None:
    low, high = OPERANDS[name]
    n = sum(1 for c in el if isinstance(c.tag, str))
    if n < low or (high is not None and n > high):
        want = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
        raise invalid("filter", f"{name} takes {want} operand(s) (property, literal, geometry…), not {n}")
    if name in ("DWithin", "Beyond"):
        distance = next((c for c in el if isinstance(c.tag, str) and _local(c) == "Distance"), None)
        if distance is None:
            raise invalid("filter", f"{name} needs a Distance (with uom m or km)")
        try:
            float((distance.text or "").strip())
        except ValueError:
            raise invalid("filter", f"{name}'s Distance must be a number, not {(distance.text or '')[:40]!r}") from None


# --- KVP ----------------------------------------------------------------------------------------

def _int(value: str, name: str, minimum: int = 0) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid(name, f"{name} must be an integer") from None
    if n < minimum:
        raise invalid(name, f"{name} must be at least {minimum}")
    return n


def negotiate(version: str | None, accept: str | None, service_required: bool = False) -> str:
    """The version to answer in (VERSION or AcceptVersions, default 2.0.0)."""
    if accept:
        for v in (a.strip() for a in accept.split(",")):
            if v in VERSIONS:
                return v
        raise OWSException("VersionNegotiationFailed",
                           f"none of the versions {accept!r} is supported; supported: {', '.join(VERSIONS)}",
                           "AcceptVersions")
    if version:
        if version in VERSIONS:
            return version
        if version in ("2.0", "2"):
            return "2.0.0"
        if version == "1.1":
            return "1.1.0"
        raise OWSException("InvalidParameterValue" if not version.startswith(("1", "2")) else "VersionNegotiationFailed",
                           f"version {version!r} is not supported; supported: {', '.join(VERSIONS)}", "version")
    return "2.0.0"


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.strip("()").split(",") if n.strip()]


def _sort(value: str) -> list[tuple[str, bool]]:
    out = []
    for term in value.split(","):
        parts = term.strip().split()
        if not parts:
            continue
        direction = parts[1].upper() if len(parts) > 1 else "ASC"
        if direction not in ("ASC", "DESC", "A", "D"):
            raise invalid("sortBy", f"sort direction {parts[1]!r} must be ASC or DESC")
        out.append((parts[0], direction in ("DESC", "D")))
    return out


def from_kvp(args: dict[str, str]) -> WFSRequest:
    """Parse KVP parameters (keys in any case)."""
    kvp = {k.upper(): v for k, v in args.items()}
    req_name = kvp.get("REQUEST")
    if not req_name:
        raise missing("request")
    op = next((o for o in OPERATIONS if o.lower() == req_name.lower()), None)
    if op is None:
        raise OWSException("OperationNotSupported", f"request {req_name!r} is not supported", "request")
    service = kvp.get("SERVICE")
    if op != "GetCapabilities" and not service:
        raise missing("service")
    if service and service.upper() != "WFS":
        raise invalid("service", f"service {service!r} is not WFS")
    if op == "GetCapabilities":
        version = negotiate(None, kvp.get("ACCEPTVERSIONS") or kvp.get("VERSION"))
    else:
        if not kvp.get("VERSION"):
            raise missing("version")
        version = negotiate(kvp.get("VERSION"), None)
    r = WFSRequest(op, version, kvp=kvp)
    names = kvp.get("TYPENAMES") or kvp.get("TYPENAME")
    if names:
        r.type_names = _names(names)
    ids = kvp.get("RESOURCEID") or kvp.get("FEATUREID")
    if ids:
        locator = "resourceId" if kvp.get("RESOURCEID") else "featureId"
        r.resource_ids = [check_resource_id(i, locator) for i in _names(ids)]
    if kvp.get("BBOX"):
        parts = kvp["BBOX"].split(",")
        if len(parts) not in (4, 5):
            raise invalid("bbox", "bbox must be minx,miny,maxx,maxy[,crs]")
        try:
            coords = [float(p) for p in parts[:4]]
        except ValueError:
            raise invalid("bbox", "bbox coordinates must be numbers") from None
        r.bbox = (coords, parts[4] if len(parts) == 5 else None)
    if kvp.get("FILTER"):
        text = kvp["FILTER"].strip()
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1]
        r.filter = check_filter(parse_xml(text, locator="filter"))
    if kvp.get("FILTER_LANGUAGE") and "filter" not in kvp["FILTER_LANGUAGE"].lower():
        raise invalid("filter_language", f"filter language {kvp['FILTER_LANGUAGE']!r} is not supported")
    if kvp.get("PROPERTYNAME"):
        r.property_names = _names(kvp["PROPERTYNAME"])
    if kvp.get("SORTBY"):
        r.sort_by = _sort(kvp["SORTBY"])
    count = kvp.get("COUNT") or kvp.get("MAXFEATURES")
    if count:
        r.count = _int(count, "count" if "COUNT" in kvp else "maxFeatures")
    if kvp.get("STARTINDEX"):
        r.start_index = _int(kvp["STARTINDEX"], "startIndex")
    if kvp.get("RESULTTYPE"):
        r.result_type = kvp["RESULTTYPE"].lower()
        if r.result_type not in ("results", "hits"):
            raise invalid("resultType", "resultType must be results or hits")
    r.srs_name = kvp.get("SRSNAME") or None
    r.output_format = kvp.get("OUTPUTFORMAT") or None
    r.stored_query_id = kvp.get("STOREDQUERY_ID") or None
    if r.stored_query_id:
        if kvp.get("ID"):
            r.resource_ids = [check_resource_id(kvp["ID"], "ID")]
    if kvp.get("STOREDQUERY_ID") and op == "DescribeStoredQueries":
        r.stored_query_ids = _names(kvp["STOREDQUERY_ID"])
    r.value_reference = kvp.get("VALUEREFERENCE") or None
    r.at = kvp.get("AT") or None
    return r


# --- XML (POST) -------------------------------------------------------------------------------

def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def from_xml(data: bytes, args: dict[str, str] | None = None) -> WFSRequest:
    """Parse a POSTed XML request; `args` is the POST URL's query string, read for vendor
    parameters only (`at`, also accepted as an attribute of GetFeature/GetPropertyValue)."""
    root = parse_xml(data)
    ns = etree.QName(root).namespace
    op = _local(root)
    if ns not in (WFS20, WFS) or op not in OPERATIONS:
        raise OWSException("OperationNotSupported", f"{op!r} is not a WFS request this service supports", "request")
    service = root.get("service")
    if service is not None and service.upper() != "WFS":
        raise invalid("service", f"service {service!r} is not WFS")
    if op == "GetCapabilities":
        accept = [v.text.strip() for v in root.iter(f"{{{OWS11}}}Version", f"{{{OWS}}}Version") if v.text]
        version = negotiate(root.get("version"), ",".join(accept) or None)
    else:
        version = negotiate(root.get("version") or ("2.0.0" if ns == WFS20 else "1.1.0"), None)
    r = WFSRequest(op, version, post=True)
    if op == "DescribeFeatureType":
        r.type_names = [t.text.strip() for t in _children(root, "TypeName") if t.text]
    if op == "DescribeStoredQueries":
        r.stored_query_ids = [t.text.strip() for t in _children(root, "StoredQueryId") if t.text]
    if op in ("GetFeature", "GetPropertyValue"):
        count = root.get("count") or root.get("maxFeatures")
        if count:
            r.count = _int(count, "count")
        if root.get("startIndex"):
            r.start_index = _int(root.get("startIndex"), "startIndex")
        r.result_type = (root.get("resultType") or "results").lower()
        if r.result_type not in ("results", "hits"):
            raise invalid("resultType", "resultType must be results or hits")
        # OWSLib writes the attribute in lower case.
        r.output_format = root.get("outputFormat") or root.get("outputformat")
        r.value_reference = root.get("valueReference")
        in_url = next((v for k, v in (args or {}).items() if k.upper() == "AT"), None) or None
        r.at = root.get("at") or in_url
        if in_url and r.at != in_url:
            raise invalid("at", f"at is given twice, as {r.at!r} in the XML and {in_url!r} in the URL")
        queries = _children(root, "Query")
        stored = _children(root, "StoredQuery")
        if len(queries) + len(stored) != 1:
            raise OWSException("OperationNotSupported" if queries or stored else "MissingParameterValue",
                               "exactly one Query or StoredQuery per request is supported", "Query")
        if stored:
            q = stored[0]
            r.stored_query_id = q.get("id")
            for p in _children(q, "Parameter"):
                if p.get("name", "").upper() == "ID" and p.text:
                    r.resource_ids = [check_resource_id(p.text.strip(), "ID")]
        else:
            q = queries[0]
            r.type_names = _names(q.get("typeNames") or q.get("typeName") or "")
            r.srs_name = q.get("srsName")
            props = [p.text.strip() for p in q if isinstance(p.tag, str)
                     and _local(p) in ("PropertyName",) and p.text]
            r.property_names = props or None
            for f in _children(q, "Filter"):
                r.filter = check_filter(f)
            for s in _children(q, "SortBy"):
                for prop in _children(s, "SortProperty"):
                    name = next((c.text for c in prop if _local(c) in ("ValueReference", "PropertyName")), None)
                    order = next((c.text for c in prop if _local(c) == "SortOrder"), "ASC") or "ASC"
                    if name:
                        r.sort_by.append((name.strip(), order.strip().upper() in ("DESC", "D")))
    return r
