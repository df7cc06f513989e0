"""FES 2.0 / Filter 1.1 and 1.0 → parameterised SQL on a feature type.

pygeofilter parses the comparison, logical and spatial operators; we add what it lacks:
ResourceId / FeatureId / GmlObjectId, geometry literals read by PostGIS with our own
axis-order rules, reprojection to the storage CRS, and the SQL itself (bind parameters only).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

from lxml import etree
from pygeofilter import ast
from pygeofilter.parsers.fes.util import NodeParsingError
from pygeofilter.parsers.fes.v11 import FES11Parser
from pygeofilter.parsers.fes.v20 import FES20Parser

from landdb.crs import STORAGE_SRID
from landdb.features import FeatureQuery, FeatureType

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
        raise OWSException("InvalidParameterValue", f"cannot read the filter: {exc}", "filter") from None


class Compiler:
    """Turns a filter AST into a WHERE fragment, adding bind parameters to the query."""

    def __init__(self, q: FeatureQuery, version: str):
        self.q = q
        self.ft: FeatureType = q.feature_type
        self.version = version
        self._n = itertools.count()

    def bind(self, value) -> str:
        name = f"f{next(self._n)}"
        self.q.params[name] = value
        return f":{name}"

    def fail(self, message: str) -> OWSException:
        return OWSException("InvalidParameterValue", message, "filter")

    # -- values --------------------------------------------------------------------------

    def prop(self, attr) -> tuple[str, str]:
        """(sql, kind) of a property reference; kind 'geom' for the geometry."""
        if not isinstance(attr, ast.Attribute):
            raise self.fail("expected a property name (ValueReference/PropertyName)")
        name = re.split(r"[/:]", attr.name.strip())[-1].lstrip("@")
        if name == self.ft.geometry_name:
            return self.ft.geom_sql, "geom"
        p = self.ft.property(name)
        if p is None:
            raise self.fail(f"{self.ft.qname} has no property {attr.name!r}")
        return p.sql, p.kind

    def literal(self, value, kind: str) -> str:
        try:
            if kind == "int":
                value = int(str(value))
            elif kind == "float":
                value = float(str(value))
            elif kind == "date":
                value = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise self.fail(f"{value!r} is not a valid {kind} literal") from None
        return self.bind(value)

    def geometry(self, value) -> str:
        """SQL of a geometry literal in the storage CRS."""
        if not isinstance(value, GmlGeometry):
            raise self.fail("expected a GML geometry")
        node = value.node
        srs_name = next((e.get("srsName") for e in node.iter() if isinstance(e.tag, str) and e.get("srsName")), None)
        s = srs_mod.parse(srs_name, locator="filter", version=self.version) if srs_name else srs_mod.storage(self.version)
        local = etree.QName(node).localname
        if local in ("Envelope", "Box"):
            corners = self._corners(node)
            if s.lat_first:
                corners = [corners[1], corners[0], corners[3], corners[2]]
            geom = "ST_MakeEnvelope({}, {}, {}, {}, {})".format(*(self.bind(c) for c in corners), int(s.srid))
        else:
            copy = etree.fromstring(etree.tostring(node))
            for e in copy.iter():
                if isinstance(e.tag, str) and "srsName" in e.attrib:
                    del e.attrib["srsName"]
            geom = f"ST_GeomFromGML({self.bind(etree.tostring(copy).decode())}, {int(s.srid)})"
            if s.lat_first:
                geom = f"ST_FlipCoordinates({geom})"
        if s.srid != STORAGE_SRID:
            geom = f"ST_Transform({geom}, {STORAGE_SRID})"
        return geom

    def _corners(self, node) -> list[float]:
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
            raise self.fail("an Envelope needs lowerCorner and upperCorner (or a Box its coordinates)") from None
        if len(out) != 4:
            raise self.fail("an Envelope needs two 2-D corners")
        return out

    # -- operators -----------------------------------------------------------------------

    COMPARE = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
               ast.GreaterThan: ">", ast.GreaterEqual: ">="}
    FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "<>": "<>"}
    SPATIAL = {ast.GeometryIntersects: "ST_Intersects", ast.GeometryWithin: "ST_Within",
               ast.GeometryContains: "ST_Contains", ast.GeometryEquals: "ST_Equals",
               ast.GeometryTouches: "ST_Touches", ast.GeometryOverlaps: "ST_Overlaps",
               ast.GeometryCrosses: "ST_Crosses", ast.GeometryDisjoint: "ST_Disjoint"}
    UNITS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0, "km": 1000.0,
             "kilometer": 1000.0, "kilometers": 1000.0, "urn:ogc:def:uom:epsg::9001": 1.0,
             "http://www.opengis.net/def/uom/epsg/0/9001": 1.0}

    def compile(self, node) -> str:
        if isinstance(node, ResourceIds):
            return self.resource_ids(node.ids)
        if isinstance(node, ast.And):
            return f"({self.compile(node.lhs)}) AND ({self.compile(node.rhs)})"
        if isinstance(node, ast.Or):
            return f"({self.compile(node.lhs)}) OR ({self.compile(node.rhs)})"
        if isinstance(node, ast.Not):
            if isinstance(node.sub_node, ast.GeometryDisjoint):  # BBOX: index-friendly intersects
                return self.spatial("ST_Intersects", node.sub_node.lhs, node.sub_node.rhs)
            return f"NOT ({self.compile(node.sub_node)})"
        for cls, op in self.COMPARE.items():
            if type(node) is cls:
                lhs, rhs = node.lhs, node.rhs
                if not isinstance(lhs, ast.Attribute):
                    lhs, rhs, op = rhs, lhs, self.FLIP[op]
                col, kind = self.prop(lhs)
                if isinstance(rhs, ast.Attribute):
                    return f"{col} {op} {self.prop(rhs)[0]}"
                return f"{col} {op} {self.literal(rhs, kind)}"
        if isinstance(node, ast.Like):
            col, _ = self.prop(node.lhs)
            pattern = self.like_pattern(str(node.pattern), node.wildcard, node.singlechar, node.escapechar)
            return f"{col}::text {'ILIKE' if node.nocase else 'LIKE'} {self.bind(pattern)}"
        if isinstance(node, ast.IsNull):
            col, _ = self.prop(node.lhs)
            return f"{col} IS {'NOT ' if node.not_ else ''}NULL"
        if isinstance(node, ast.Between):
            col, kind = self.prop(node.lhs)
            return f"{col} BETWEEN {self.literal(node.low, kind)} AND {self.literal(node.high, kind)}"
        for cls, fn in self.SPATIAL.items():
            if type(node) is cls:
                return self.spatial(fn, node.lhs, node.rhs)
        if isinstance(node, (ast.DistanceWithin, ast.DistanceBeyond)):
            factor = self.UNITS.get(str(node.units).lower())
            if factor is None:
                raise self.fail(f"distance unit {node.units!r} is not supported; use m or km")
            geom = self.geometry(node.rhs)
            col = self.geom_prop(node.lhs)
            sql = f"ST_DWithin({col}, {geom}, {self.bind(float(node.distance) * factor)})"
            return sql if isinstance(node, ast.DistanceWithin) else f"NOT {sql}"
        raise OWSException("InvalidParameterValue",
                           f"filter operator {type(node).__name__} is not supported", "filter")

    def geom_prop(self, lhs) -> str:
        if lhs is None:
            return self.ft.geom_sql
        col, kind = self.prop(lhs)
        if kind != "geom":
            raise self.fail(f"{lhs.name!r} is not a geometry property")
        return col

    def spatial(self, fn: str, lhs, rhs) -> str:
        if isinstance(lhs, GmlGeometry):
            lhs, rhs = rhs, lhs
        return f"{fn}({self.geom_prop(lhs)}, {self.geometry(rhs)})"

    def like_pattern(self, pattern: str, wild: str, single: str, esc: str) -> str:
        out = []
        i = 0
        while i < len(pattern):
            ch = pattern[i]
            if esc and ch == esc and i + 1 < len(pattern):
                nxt = pattern[i + 1]
                out.append("\\" + nxt if nxt in "%_\\" else nxt)
                i += 2
                continue
            if ch == wild:
                out.append("%")
            elif ch == single:
                out.append("_")
            elif ch in "%_\\":
                out.append("\\" + ch)
            else:
                out.append(ch)
            i += 1
        return "".join(out)

    def resource_ids(self, ids: list[str]) -> str:
        return resource_id_sql(self.q, ids, bind=self.bind)


def resource_id_sql(q: FeatureQuery, ids: list[str], bind=None) -> str:
    """`key IN (...)` for ids like `parcels.42` of this feature type (others match nothing)."""
    ft = q.feature_type
    keys = []
    for rid in ids:
        prefix, _, num = rid.rpartition(".")
        if prefix.split(":")[-1] == ft.name and num.isdigit():
            keys.append(int(num))
    if not keys:
        return "FALSE"
    if bind is None:
        q.params["_rids"] = keys
        return f"{ft.key_sql} = ANY(:_rids)"
    return f"{ft.key_sql} = ANY({bind(keys)})"


def apply(q: FeatureQuery, node: etree._Element, version: str) -> None:
    """Parse the filter element and add its SQL to the query."""
    q.where.append(Compiler(q, version).compile(parse(node)))
