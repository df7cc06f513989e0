"""A filter AST (pygeofilter nodes: FES from the WFS, CQL2 from the OGC API) → a parameterised WHERE.

Attributes are property names of the feature type (a namespace prefix or XPath is dropped);
literals become bind parameters converted to the property's kind; geometry literals are read
by PostGIS in their CRS, with their axis order, and transformed to the storage CRS.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from pygeofilter import ast, values

from ..crs import STORAGE_SRID
from ..errors import InvalidInput
from .query import FeatureQuery

#: CQL2's text functions as SQL over a text expression: CASEI is lower(), ACCENTI strips diacritics
#: (Vietnamese "Hạ Long" → "Ha Long", case kept); the two together are landdb_fold(), the expression
#: the address and name indexes are built on.
TEXT_FUNCTIONS = {"casei": "lower({})", "accenti": "public.unaccent('public.unaccent'::regdictionary, {})"}
FOLD_BOTH = "landdb_fold({})"
#: a spatial predicate with the literal first is the converse one with the property first.
CONVERSE = {"ST_Within": "ST_Contains", "ST_Contains": "ST_Within"}

#: The largest number of nodes a filter may have; deeper or bigger ones are refused.
MAX_NODES = 2_000
MAX_DEPTH = 64


@dataclass(frozen=True)
class GeometryLiteral:
    """A geometry in a filter: `kind` 'gml' (text), 'wkt', 'geojson' (text), 'wkb' (hex) or
    'envelope' ((x0, y0, x1, y1)), in `srid`, latitude-first when `lat_first`."""

    kind: str
    value: Any
    srid: int = 4326
    lat_first: bool = False


@dataclass(frozen=True)
class ResourceIds:
    """Feature keys (a WFS ResourceId/FeatureId list, already resolved to this type's keys)."""

    keys: tuple[int, ...]


def fail(message: str) -> InvalidInput:
    return InvalidInput(message, field="filter")


class Compiler:
    """Turns a filter AST into a WHERE fragment, adding bind parameters to `params`."""

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

    def __init__(self, q: FeatureQuery, params: dict):
        self.q = q
        self.ft = q.feature_type
        self.params = params
        self._n = itertools.count()
        self._nodes = 0

    def bind(self, value) -> str:
        name = f"_f{next(self._n)}"
        self.params[name] = value
        return f":{name}"

    # -- values --------------------------------------------------------------------------

    def prop(self, attr) -> tuple[str, str]:
        """(sql, kind) of a property reference; kind 'geom' for the geometry."""
        if not isinstance(attr, ast.Attribute):
            raise fail("expected a property name")
        name = re.split(r"[/:]", str(attr.name).strip())[-1].lstrip("@")
        if name == self.ft.geometry_name:
            return self.ft.storage_geometry, "geom"
        p = self.ft.property(name)
        if p is None:
            raise fail(f"{self.ft.name} has no property {attr.name!r}")
        return p.sql, p.kind

    def literal(self, value, kind: str) -> str:
        if isinstance(value, ast.Node) or isinstance(value, (values.Geometry, values.Envelope, GeometryLiteral)):
            raise fail(f"expected a {kind} value, not {type(value).__name__}")
        try:
            if kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(str(value).strip().removesuffix(".0"))
                if not -2**63 <= value < 2**63:
                    raise ValueError
            elif kind == "float":
                value = float(str(value))
            elif kind == "date":
                value = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
                if isinstance(value, dt.datetime):
                    value = value.date()
            else:
                value = str(value)
                if "\x00" in value:
                    raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise fail(f"{str(value)[:40]!r} is not a valid {kind} value") from None
        return self.bind(value)

    def geometry(self, value) -> str:
        """SQL of a geometry literal in the storage CRS."""
        if isinstance(value, values.Geometry):
            geometry = dict(value.geometry)
            geometry.pop("crs", None)
            value = GeometryLiteral("geojson", json.dumps(geometry), self.q.filter_srid)
        elif isinstance(value, values.Envelope):
            value = GeometryLiteral("envelope", (value.x1, value.y1, value.x2, value.y2), self.q.filter_srid)
        elif not isinstance(value, GeometryLiteral) and self.q.resolve is not None:
            value = self.q.resolve(value)
        if not isinstance(value, GeometryLiteral):
            raise fail("expected a geometry literal")
        srid = int(value.srid)
        if value.kind == "envelope":
            c = [float(v) for v in value.value]
            if value.lat_first:
                c = [c[1], c[0], c[3], c[2]]
            return self._to_storage("ST_MakeEnvelope({}, {}, {}, {}, {})".format(*(self.bind(v) for v in c), srid),
                                    srid)
        reader = {"gml": "ST_GeomFromGML({}, {})", "wkt": "ST_GeomFromText({}, {})",
                  "geojson": "ST_SetSRID(ST_GeomFromGeoJSON({}), {})",
                  "wkb": "ST_GeomFromWKB(decode({}, 'hex'), {})"}.get(value.kind)
        if reader is None:
            raise fail(f"geometry literals of kind {value.kind!r} are not supported")
        geom = reader.format(self.bind(value.value), srid)
        if value.lat_first:
            geom = f"ST_FlipCoordinates({geom})"
        return self._to_storage(geom, srid)

    @staticmethod
    def _to_storage(geom: str, srid: int) -> str:
        return geom if srid == STORAGE_SRID else f"ST_Transform({geom}, {STORAGE_SRID})"

    # -- operators -----------------------------------------------------------------------

    def compile(self, node, depth: int = 0) -> str:
        self._nodes += 1
        if self._nodes > MAX_NODES or depth > MAX_DEPTH:
            raise fail(f"the filter is too large: at most {MAX_NODES} conditions, nested at most {MAX_DEPTH} deep")
        if isinstance(node, ResourceIds):
            return f"{self.ft.key_sql} = ANY({self.bind(list(node.keys))})" if node.keys else "FALSE"
        if isinstance(node, (ast.And, ast.Or)):
            # A chain of one operator (FES and CQL2 parsers nest n-ary And/Or two by two) is
            # flattened without recursion, so only real nesting counts towards the depth.
            kind, operands, stack = type(node), [], [node]
            while stack:
                n = stack.pop()
                if type(n) is kind:
                    stack.extend((n.rhs, n.lhs))
                else:
                    operands.append(n)
            joiner = " AND " if kind is ast.And else " OR "
            return joiner.join(f"({self.compile(o, depth + 1)})" for o in operands)
        if isinstance(node, ast.Not):
            if isinstance(node.sub_node, ast.GeometryDisjoint):  # BBOX: index-friendly intersects
                return self.spatial("ST_Intersects", node.sub_node.lhs, node.sub_node.rhs)
            return f"NOT ({self.compile(node.sub_node, depth + 1)})"
        for cls, op in self.COMPARE.items():
            if type(node) is cls:
                lhs, rhs = node.lhs, node.rhs
                if isinstance(lhs, ast.Function) or isinstance(rhs, ast.Function):
                    return f"{self.text_operand(lhs)} {op} {self.text_operand(rhs)}"
                if not isinstance(lhs, ast.Attribute):
                    lhs, rhs, op = rhs, lhs, self.FLIP[op]
                col, kind = self.prop(lhs)
                if isinstance(rhs, ast.Attribute):
                    return f"{col} {op} {self.prop(rhs)[0]}"
                return f"{col} {op} {self.literal(rhs, kind)}"
        if isinstance(node, ast.Like):
            def pattern(text):
                return self.bind(self.like_pattern(str(text), node.wildcard, node.singlechar, node.escapechar))

            col = self.text_operand(node.lhs)
            sql = f"{col} {'ILIKE' if node.nocase else 'LIKE'} {self.text_operand(node.pattern, pattern)}"
            return f"NOT ({sql})" if node.not_ else sql
        if isinstance(node, ast.IsNull):
            col, _ = self.prop(node.lhs)
            return f"{col} IS {'NOT ' if node.not_ else ''}NULL"
        if isinstance(node, ast.Between):
            col, kind = self.prop(node.lhs)
            sql = f"{col} BETWEEN {self.literal(node.low, kind)} AND {self.literal(node.high, kind)}"
            return f"NOT ({sql})" if node.not_ else sql
        if isinstance(node, ast.In):
            if isinstance(node.lhs, ast.Function):
                col, items = self.text_operand(node.lhs), ", ".join(self.text_operand(v) for v in node.sub_nodes)
            else:
                col, kind = self.prop(node.lhs)
                items = ", ".join(self.literal(v, kind) for v in node.sub_nodes)
            return f"{col} {'NOT ' if node.not_ else ''}IN ({items})" if items else ("TRUE" if node.not_ else "FALSE")
        for cls, fn in self.SPATIAL.items():
            if type(node) is cls:
                return self.spatial(fn, node.lhs, node.rhs)
        if isinstance(node, ast.BBox):
            col = self.geom_prop(node.lhs)
            srid = self.q.filter_srid
            env = GeometryLiteral("envelope", (node.minx, node.miny, node.maxx, node.maxy), srid)
            return f"ST_Intersects({col}, {self.geometry(env)})"
        if isinstance(node, (ast.DistanceWithin, ast.DistanceBeyond)):
            factor = self.UNITS.get(str(node.units).lower())
            if factor is None:
                raise fail(f"distance unit {node.units!r} is not supported; use m or km")
            geom = self.geometry(node.rhs)
            col = self.geom_prop(node.lhs)
            sql = f"ST_DWithin({col}, {geom}, {self.bind(float(node.distance) * factor)})"
            return sql if isinstance(node, ast.DistanceWithin) else f"NOT {sql}"
        if self.q.resolve is not None and not isinstance(node, ast.Node):
            resolved = self.q.resolve(node)
            if isinstance(resolved, ResourceIds):
                return self.compile(resolved, depth)
        raise fail(f"filter operator {type(node).__name__} is not supported")

    def geom_prop(self, lhs) -> str:
        if lhs is None:
            return self.ft.storage_geometry
        col, kind = self.prop(lhs)
        if kind != "geom":
            raise fail(f"{lhs.name!r} is not a geometry property")
        return col

    def spatial(self, fn: str, lhs, rhs) -> str:
        if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            lhs, rhs, fn = rhs, lhs, CONVERSE.get(fn, fn)
        return f"{fn}({self.geom_prop(lhs)}, {self.geometry(rhs)})"

    def text_operand(self, node, literal=None) -> str:
        """SQL text of a comparison operand that is compared as text: a property, a string
        literal (bound as is, or through `literal`, e.g. a LIKE pattern), or CASEI / ACCENTI of
        one of those."""
        names = []
        while isinstance(node, ast.Function):
            name = str(node.name).lower()
            if name not in TEXT_FUNCTIONS or len(node.arguments) != 1:
                raise fail(f"function {node.name!r} is not supported here; supported: CASEI, ACCENTI")
            names.append(name)
            node = node.arguments[0]
        if isinstance(node, ast.Attribute):
            sql = f"({self.prop(node)[0]})::text"
        elif isinstance(node, (str, int, float)) and not isinstance(node, bool):
            sql = literal(node) if literal else self.bind(str(node))
        else:
            raise fail(f"expected a property or a text value, not {type(node).__name__}")
        if {"casei", "accenti"} <= set(names):
            return FOLD_BOTH.format(sql)
        for name in reversed(names):
            sql = TEXT_FUNCTIONS[name].format(sql)
        return sql

    @staticmethod
    def like_pattern(pattern: str, wild: str, single: str, esc: str) -> str:
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
