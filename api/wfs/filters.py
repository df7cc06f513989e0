"""FES 2.0 / Filter 1.1 and 1.0 → the read core's filter AST.

pygeofilter parses the comparison, logical and spatial operators; we add what it lacks:
ResourceId / FeatureId / GmlObjectId, and GML geometry literals with the WFS's axis-order rules
(their srsName read here, the geometry itself read by PostGIS). The core compiles the AST to
SQL with bind parameters only (`landdb.query.filters`).
"""

from __future__ import annotations

import re

from lxml import etree
from pygeofilter import ast
from pygeofilter.parsers.fes.util import NodeParsingError
from pygeofilter.parsers.fes.v11 import FES11Parser
from pygeofilter.parsers.fes.v20 import FES20Parser

from landdb.query import FeatureQuery, FeatureType, GeometryLiteral
from landdb.query import ResourceIds as CoreResourceIds

from . import srs as srs_mod
from .exceptions import OWSException

GML_NAMESPACES = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")


class GmlGeometry:
    """A geometry literal, kept as its XML until it becomes SQL."""

    def __init__(self, node: etree._Element):
        self.node = node


class ResourceIds:
    def __init__(self, ids: list[str]):
        self.ids = ids


def _gml(self, node):
    return GmlGeometry(node)


def _resource_id(self, node):
    rid = node.get("rid") or node.get("fid") or node.get("{http://www.opengis.net/gml}id") \
        or node.get("{http://www.opengis.net/gml/3.2}id")
    return ResourceIds([rid] if rid else [])


def _filter(self, node, *preds):
    if preds and all(isinstance(p, ResourceIds) for p in preds):
        return ResourceIds([i for p in preds for i in p.ids])
    if len(preds) != 1:
        raise NodeParsingError("a Filter holds one operator (or only resource ids)")
    return preds[0]


def _like(self, node, lhs, rhs):
    return ast.Like(lhs, rhs, wildcard=node.get("wildCard", "*"), singlechar=node.get("singleChar", "?"),
                    escapechar=node.get("escapeChar") or node.get("escape") or "\\",
                    nocase=node.get("matchCase", "true").lower() == "false", not_=False)


def _configure(parser_cls, ns: str, rid_tags: tuple[str, ...]) -> None:
    # pygeofilter's metaclass lets base-class handlers win, so we set ours on the maps directly.
    base = parser_cls.__mro__[1]  # the metaclass only reads direct bases, so start from the parent's maps
    parser_cls.namespace_map = {**base.namespace_map, **{n: _gml for n in GML_NAMESPACES}}
    _gml.subiter = False
    tag_map = dict(base.tag_map)
    for t in rid_tags:
        tag_map[f"{{{ns}}}{t}"] = _resource_id
    tag_map[f"{{{ns}}}Filter"] = _filter
    tag_map[f"{{{ns}}}PropertyIsLike"] = _like
    _resource_id.subiter = False
    _filter.subiter = True
    _like.subiter = True
    parser_cls.tag_map = tag_map


class _FES20(FES20Parser):
    pass


class _FES11(FES11Parser):
    pass


_configure(_FES20, "http://www.opengis.net/fes/2.0", ("ResourceId",))
_configure(_FES11, "http://www.opengis.net/ogc", ("FeatureId", "GmlObjectId"))


def parse(node: etree._Element):
    """The filter's AST (pygeofilter nodes, GmlGeometry, ResourceIds)."""
    ns = etree.QName(node).namespace
    parser = {"http://www.opengis.net/fes/2.0": _FES20, "http://www.opengis.net/ogc": _FES11}.get(ns)
    if parser is None or etree.QName(node).localname != "Filter":
        raise OWSException("InvalidParameterValue", "the filter must be a fes:Filter (2.0) or ogc:Filter (1.1/1.0)",
                           "filter")
    try:
        return parser().parse(node)
    except (NodeParsingError, KeyError, ValueError, IndexError, TypeError) as exc:
        # The parser's own words name its internals; say what to check instead.
        unknown = re.search(r"Cannot parse XML tag \{[^}]*\}(\w+)", str(exc))
        message = (f"the filter uses {unknown.group(1)}, which this service does not support" if unknown
                   else "cannot read the filter: check that each operator has its operands, in FES 2.0 or Filter 1.1")
        raise OWSException("InvalidParameterValue", message, "filter") from None


def _resolver(ft: FeatureType, version: str):
    """What the core asks us to translate: resource ids into keys, GML into geometry literals."""
    def resolve(value):
        if isinstance(value, ResourceIds):
            return resource_keys(ft, value.ids)
        return gml_literal(value, version)
    return resolve


def gml_literal(value, version: str) -> GeometryLiteral:
    """A GML geometry of a filter as the core's literal: its CRS and axis order by the WFS's rules."""
    if not isinstance(value, GmlGeometry):
        raise OWSException("InvalidParameterValue", "expected a GML geometry", "filter")
    node = value.node
    srs_name = next((e.get("srsName") for e in node.iter() if isinstance(e.tag, str) and e.get("srsName")), None)
    s = srs_mod.parse(srs_name, locator="filter", version=version) if srs_name else srs_mod.storage(version)
    if etree.QName(node).localname in ("Envelope", "Box"):
        return GeometryLiteral("envelope", _corners(node), s.srid, s.lat_first)
    copy = etree.fromstring(etree.tostring(node))
    for e in copy.iter():
        if isinstance(e.tag, str) and "srsName" in e.attrib:
            del e.attrib["srsName"]
    return GeometryLiteral("gml", etree.tostring(copy).decode(), s.srid, s.lat_first)


def _corners(node) -> list[float]:
    try:
        lower = node.find("{*}lowerCorner")
        upper = node.find("{*}upperCorner")
        if lower is not None and upper is not None:
            vals = lower.text.split() + upper.text.split()
        else:
            coords = node.find("{*}coordinates")
            if coords is not None:
                vals = re.split(r"[,\s]+", coords.text.strip())
            else:
                vals = [v for c in node.findall("{*}coord") for v in (c.findtext("{*}X"), c.findtext("{*}Y"))]
        out = [float(v) for v in vals]
    except (AttributeError, TypeError, ValueError):
        raise OWSException("InvalidParameterValue",
                           "an Envelope needs lowerCorner and upperCorner (or a Box its coordinates)", "filter") from None
    if len(out) != 4:
        raise OWSException("InvalidParameterValue", "an Envelope needs two 2-D corners", "filter")
    return out


#: The largest feature key (a PostgreSQL bigint).
_KEY_MAX = 2**63 - 1


def resource_keys(ft: FeatureType, ids: list[str]) -> CoreResourceIds:
    """The keys of ids like `parcels.42` that name features of this type (others match nothing)."""
    keys = []
    for rid in ids:
        prefix, _, num = rid.rpartition(".")
        if prefix.split(":")[-1] == ft.name and num.isascii() and num.isdigit() and int(num) <= _KEY_MAX:
            keys.append(int(num))
    return CoreResourceIds(tuple(keys))


def apply(q: FeatureQuery, node: etree._Element, version: str) -> None:
    """Parse the filter element into the query's filter AST (compiled by the core)."""
    q.filter = parse(node)
    q.resolve = _resolver(q.feature_type, version)
