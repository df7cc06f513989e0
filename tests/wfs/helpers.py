"""WFS test helpers: one case sent as KVP (GET) or as XML (POST), and offline schema validation."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

SCHEMAS = Path(__file__).parent / "schemas"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {
    "wfs": "http://www.opengis.net/wfs/2.0",
    "wfs1": "http://www.opengis.net/wfs",
    "gml": "http://www.opengis.net/gml/3.2",
    "gml1": "http://www.opengis.net/gml",
    "ows": "http://www.opengis.net/ows/1.1",
    "ows1": "http://www.opengis.net/ows",
    "fes": "http://www.opengis.net/fes/2.0",
    "ogc": "http://www.opengis.net/ogc",
    "landdb": "https://landdb.halong/ns/landdb",
    "xs": "http://www.w3.org/2001/XMLSchema",
}


# --- one case, two encodings ------------------------------------------------------------------

def _wfs_ns(version: str) -> str:
    return NS["wfs"] if version == "2.0.0" else NS["wfs1"]


def _bbox_filter(version: str, value: str) -> str:
    parts = value.split(",")
    crs = f" srsName={quoteattr(parts[4])}" if len(parts) == 5 else ""
    lo, hi = f"{parts[0]} {parts[1]}", f"{parts[2]} {parts[3]}"
    if version == "2.0.0":
        return (f'<fes:Filter xmlns:fes="{NS["fes"]}" xmlns:gml="{NS["gml"]}"><fes:BBOX>'
                f"<gml:Envelope{crs}><gml:lowerCorner>{lo}</gml:lowerCorner><gml:upperCorner>{hi}</gml:upperCorner>"
                "</gml:Envelope></fes:BBOX></fes:Filter>")
    return (f'<ogc:Filter xmlns:ogc="{NS["ogc"]}" xmlns:gml="{NS["gml1"]}"><ogc:BBOX>'
            "<ogc:PropertyName>geometry</ogc:PropertyName>"
            f"<gml:Envelope{crs}><gml:lowerCorner>{lo}</gml:lowerCorner><gml:upperCorner>{hi}</gml:upperCorner>"
            "</gml:Envelope></ogc:BBOX></ogc:Filter>")


def _rid_filter(version: str, value: str) -> str:
    if version == "2.0.0":
        return f'<fes:Filter xmlns:fes="{NS["fes"]}">' + "".join(
            f"<fes:ResourceId rid={quoteattr(r)}/>" for r in value.split(",")) + "</fes:Filter>"
    return f'<ogc:Filter xmlns:ogc="{NS["ogc"]}">' + "".join(
        f"<ogc:FeatureId fid={quoteattr(r)}/>" for r in value.split(",")) + "</ogc:Filter>"


def to_xml(kvp: dict) -> str:
    """The XML (POST) encoding of a KVP request."""
    k = {key.upper(): str(v) for key, v in kvp.items()}
    op = k["REQUEST"]
    version = k.get("VERSION", "2.0.0")
    ns = _wfs_ns(version)
    ows = NS["ows"] if version == "2.0.0" else NS["ows1"]
    if op == "GetCapabilities":
        versions = k.get("ACCEPTVERSIONS") or k.get("VERSION")
        inner = ""
        if versions:
            inner = f'<ows:AcceptVersions xmlns:ows="{ows}">' + "".join(
                f"<ows:Version>{v}</ows:Version>" for v in versions.split(",")) + "</ows:AcceptVersions>"
        return f'<wfs:GetCapabilities xmlns:wfs="{ns}" service="WFS">{inner}</wfs:GetCapabilities>'
    if op == "DescribeFeatureType":
        names = k.get("TYPENAMES") or k.get("TYPENAME") or ""
        inner = "".join(f"<wfs:TypeName>{escape(n)}</wfs:TypeName>" for n in names.split(",") if n)
        return (f'<wfs:DescribeFeatureType xmlns:wfs="{ns}" xmlns:landdb="{NS["landdb"]}" service="WFS" '
                f'version="{version}">{inner}</wfs:DescribeFeatureType>')
    attrs = {"service": "WFS", "version": version}
    for key, attr in (("COUNT", "count"), ("MAXFEATURES", "maxFeatures"), ("STARTINDEX", "startIndex"),
                      ("RESULTTYPE", "resultType"), ("OUTPUTFORMAT", "outputFormat"),
                      ("VALUEREFERENCE", "valueReference")):
        if key in k:
            attrs[attr] = k[key]
    attr_text = "".join(f" {a}={quoteattr(v)}" for a, v in attrs.items())
    if "STOREDQUERY_ID" in k:
        query = (f"<wfs:StoredQuery id={quoteattr(k['STOREDQUERY_ID'])}>"
                 f"<wfs:Parameter name=\"ID\">{escape(k.get('ID', ''))}</wfs:Parameter></wfs:StoredQuery>")
    else:
        names = k.get("TYPENAMES") or k.get("TYPENAME")
        qattrs = f" {'typeNames' if version == '2.0.0' else 'typeName'}={quoteattr(names)}" if names else ""
        if "SRSNAME" in k:
            qattrs += f" srsName={quoteattr(k['SRSNAME'])}"
        inner = ""
        for p in (k.get("PROPERTYNAME") or "").split(","):
            if p:
                inner += f"<wfs:PropertyName>{escape(p)}</wfs:PropertyName>"
        if "FILTER" in k:
            inner += k["FILTER"]
        elif "BBOX" in k:
            inner += _bbox_filter(version, k["BBOX"])
        elif "RESOURCEID" in k or "FEATUREID" in k:
            inner += _rid_filter(version, k.get("RESOURCEID") or k["FEATUREID"])
        if "SORTBY" in k:
            sns, tag = (NS["fes"], "ValueReference") if version == "2.0.0" else (NS["ogc"], "PropertyName")
            inner += f'<s:SortBy xmlns:s="{sns}">'
            for term in k["SORTBY"].split(","):
                name, _, order = term.strip().partition(" ")
                inner += (f"<s:SortProperty><s:{tag}>{escape(name)}</s:{tag}>"
                          f"<s:SortOrder>{'DESC' if order.upper() in ('DESC', 'D') else 'ASC'}</s:SortOrder></s:SortProperty>")
            inner += "</s:SortBy>"
        query = f"<wfs:Query{qattrs}>{inner}</wfs:Query>"
    return f'<wfs:{op} xmlns:wfs="{ns}" xmlns:landdb="{NS["landdb"]}"{attr_text}>{query}</wfs:{op}>'


def call(client, mode: str, kvp: dict, xml: str | None = None):
    """Send the case as GET with KVP or as POST with its XML encoding."""
    if mode == "get":
        return client.get("/wfs?" + urlencode(kvp))
    body = xml if xml is not None else to_xml(kvp)
    return client.post("/wfs", data=body.encode("utf-8"), content_type="application/xml")


# --- validation without the network -----------------------------------------------------------

class _Resolver(etree.Resolver):
    def __init__(self, client):
        super().__init__()
        self.client = client

    def resolve(self, url, pubid, context):
        if url.startswith("http://localhost/"):
            parts = urlsplit(url)
            data = self.client.get(parts.path + "?" + parts.query).data
            return self.resolve_string(data, context)
        m = re.match(r"^https?://(schemas\.opengis\.net|www\.w3\.org)/(.+)$", url)
        if m:
            path = m.group(2).replace("2009/01/xml.xsd", "2001/xml.xsd")
            local = SCHEMAS / m.group(1) / path
            assert local.is_file(), f"schema {url} is not shipped in tests/wfs/schemas"
            # Keep the http URL as the base, so relative (and circular) includes resolve to the
            # same names and libxml2 loads each document once.
            return self.resolve_string(local.read_bytes(), context, base_url=url)
        if url.startswith(("http:", "https:")):
            raise AssertionError(f"validation tried to fetch {url}")
        return None


_cache: dict = {}


def _schema_for(pairs: tuple[tuple[str, str], ...], client) -> etree.XMLSchema:
    if pairs not in _cache:
        doc = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x-landdb-test">'
               + "".join(f"<xs:import namespace={quoteattr(ns)} schemaLocation={quoteattr(loc)}/>" for ns, loc in pairs)
               + "</xs:schema>")
        parser = etree.XMLParser(no_network=True)
        parser.resolvers.add(_Resolver(client))
        _cache[pairs] = etree.XMLSchema(etree.fromstring(doc.encode(), parser, base_url=str(SCHEMAS / "x.xsd")))
    return _cache[pairs]


def validate(data: bytes, client) -> etree._Element:
    """Validate an XML answer against the schemas named in its xsi:schemaLocation; return its root."""
    root = etree.fromstring(data)
    loc = root.get(f"{{{XSI}}}schemaLocation")
    assert loc, "the answer names no schema"
    words = loc.split()
    pairs = tuple(sorted(zip(words[::2], words[1::2])))
    schema = _schema_for(pairs, client)
    if not schema.validate(root):
        raise AssertionError("invalid against the OGC schemas:\n" + "\n".join(str(e) for e in schema.error_log[:10]))
    return root


def compile_schema(data: bytes, client) -> etree.XMLSchema:
    """Compile a DescribeFeatureType answer (imports resolved offline)."""
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_Resolver(client))
    return etree.XMLSchema(etree.fromstring(data, parser, base_url=str(SCHEMAS / "x.xsd")))
