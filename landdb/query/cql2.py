"""CQL2 (OGC API – Features Part 3) text and JSON → the core's filter AST (pygeofilter nodes).

The one reader of the `filter`, `filter-lang` and `filter-crs` parameters: the OGC API's items
and its vector tiles both take their filters from `from_params`.

pygeofilter parses; this module checks the result against a collection's queryables (an unknown
property is a 400 naming it), turns `BBOX(…)` into a polygon, puts geometry literals in x/y order
of the `filter-crs` (EPSG:4326 by URI is latitude first, as the standard says), and gives LIKE
the CQL2 wildcards (`%`, `_`, `\\` escapes). The SQL is the core's business.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from typing import Any, Callable

from lark.exceptions import LarkError
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_json.parser import walk_cql_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from ..errors import InvalidInput

from .ogc_crs import Crs, parse as parse_crs

#: `filter-lang` values; `cql-text` is the name GDAL 3.6 (and drafts of Part 3) use for the text encoding.
LANGS = {"cql2-text": "text", "cql2-json": "json", "cql-text": "text"}
MAX_FILTER = 64 * 1024
#: CQL2 functions pygeofilter passes through as Function nodes, and what the core knows them as.
FUNCTIONS = {"lower": "casei", "casei": "casei", "accenti": "accenti"}


def from_params(args, *, names: set[str], geometry_name: str) -> tuple[Any, int]:
    """(the filter's AST or None, the SRID of its geometry literals) from the request parameters
    `filter`, `filter-lang` and `filter-crs` (a mapping of str); `names` are the queryables.
    InvalidInput names the bad parameter, or the unknown property in the filter. A `filter-lang`
    or `filter-crs` without a filter is still checked."""
    fcrs = parse_crs(args.get("filter-crs"), field="filter-crs")
    if not args.get("filter"):
        if args.get("filter-lang"):
            _lang(args["filter-lang"])
        return None, fcrs.srid
    return parse(args["filter"], args.get("filter-lang"), names=names, geometry_name=geometry_name,
                 filter_crs=fcrs), fcrs.srid


def _lang(lang: str | None) -> str:
    kind = LANGS.get((lang or "cql2-text").strip().lower())
    if kind is None:
        raise InvalidInput(f"filter-lang: {lang!r} is not supported; use cql2-text or cql2-json",
                           field="filter-lang")
    return kind


def parse(text: str, lang: str | None, *, names: set[str], geometry_name: str, filter_crs: Crs) -> Any:
    """The filter's AST, checked and normalised; InvalidInput (field `filter`, or the
    offending property's name) when it is malformed or refers to what the collection lacks.
    The same filter comes back on every page a client reads: parsed once per process (the AST
    is never changed afterwards)."""
    return _parse(text, lang, frozenset(names), geometry_name, filter_crs)


@lru_cache(maxsize=256)
def _parse(text: str, lang: str | None, names: frozenset[str], geometry_name: str, filter_crs: Crs) -> Any:
    if len(text) > MAX_FILTER:
        raise InvalidInput(f"filter: longer than {MAX_FILTER} characters", field="filter")
    kind = _lang(lang)
    try:
        if kind == "text":
            node = parse_text(text)
        else:
            node = parse_json(_json_compat(json.loads(text)))
    except (LarkError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"filter: not valid CQL2 {kind}: {first[:200]}", field="filter") from None
    return Normaliser(names, geometry_name, filter_crs).walk(node)


class Normaliser:
    """One pass over the AST: check property names, rewrite literals the core takes in one form."""

    def __init__(self, names: set[str], geometry_name: str, filter_crs: Crs):
        self.names = names
        self.geometry_name = geometry_name
        self.crs = filter_crs

    def walk(self, node: Any) -> Any:
        if isinstance(node, ast.Attribute):
            if node.name not in self.names and node.name != self.geometry_name:
                raise InvalidInput(
                    f"filter: unknown property {node.name!r}; queryables: "
                    + ", ".join(sorted(self.names | {self.geometry_name})), field=node.name)
            return node
        if isinstance(node, ast.Not):
            return ast.Not(self.walk(node.sub_node))
        if isinstance(node, ast.Function):
            return self.function(node)
        if isinstance(node, values.Geometry):
            return values.Geometry(self.xy(node.geometry))
        if isinstance(node, values.Envelope):
            return self.envelope([node.x1, node.y1, node.x2, node.y2])
        if isinstance(node, ast.Like):
            pattern = walk_cql_json(node.pattern) if isinstance(node.pattern, dict) else node.pattern
            node = dataclasses.replace(node, pattern=pattern, singlechar="_", escapechar="\\", wildcard="%")
        if isinstance(node, list):
            return [self.walk(n) for n in node]
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            changes = {f.name: self.walk(getattr(node, f.name)) for f in dataclasses.fields(node)}
            return dataclasses.replace(node, **changes)
        return node

    def function(self, node: ast.Function) -> Any:
        name = node.name.lower()
        if name == "bbox":
            return self.envelope(node.arguments)
        if name not in FUNCTIONS:
            raise InvalidInput(f"filter: function {node.name!r} is not supported; "
                               "supported: CASEI, ACCENTI, BBOX", field="filter")
        return ast.Function(FUNCTIONS[name], [self.walk(a) for a in node.arguments])

    def envelope(self, args: list) -> values.Geometry:
        try:
            nums = [float(a) for a in args]
        except (TypeError, ValueError):
            raise InvalidInput("filter: BBOX takes 4 (or 6) numbers", field="filter") from None
        if len(nums) == 6:
            nums = [nums[0], nums[1], nums[3], nums[4]]
        if len(nums) != 4:
            raise InvalidInput("filter: BBOX takes 4 (or 6) numbers", field="filter")
        # BBOX is written in the CRS's axis order, like the bbox parameter.
        x0, y0, x1, y1 = (nums[1], nums[0], nums[3], nums[2]) if self.crs.lat_first else nums
        if x0 > x1 or y0 > y1:
            raise InvalidInput("filter: a BBOX's lower corner must not exceed its upper corner", field="filter")
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        return values.Geometry({"type": "Polygon", "coordinates": [ring]})

    def xy(self, geometry: dict) -> dict:
        if not self.crs.lat_first:
            return geometry
        return _map_coords(geometry, lambda c: [c[1], c[0], *c[2:]])


def _json_compat(node: Any) -> Any:
    """CQL2 JSON as pygeofilter 0.4 reads it: ACCENTI as a function node, BETWEEN's bounds as
    one list (CQL2 1.0 writes them as two arguments)."""
    if isinstance(node, list):
        return [_json_compat(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _json_compat(v) for k, v in node.items()}
    op, args = node.get("op"), node.get("args")
    if op == "accenti" and isinstance(args, list):
        return {"function": {"name": "accenti", "arguments": args}}
    if op == "between" and isinstance(args, list) and len(args) == 3:
        return {**node, "args": [args[0], [args[1], args[2]]]}
    return node


def _map_coords(geometry: dict, fn: Callable[[list], list]) -> dict:
    def go(c):
        if c and isinstance(c[0], (int, float)):
            return fn(list(c))
        return [go(x) for x in c]

    if geometry.get("type") == "GeometryCollection":
        return {**geometry, "geometries": [_map_coords(g, fn) for g in geometry.get("geometries", [])]}
    return {**geometry, "coordinates": go(geometry.get("coordinates", []))}


def equals(name: str, value: Any) -> Any:
    """`name = value`: a queryable given as a query parameter (Part 3, queryables-query-parameters)."""
    return ast.Equal(ast.Attribute(name), value)


def conjunction(nodes: list) -> Any:
    """AND of the nodes (None when there are none)."""
    out = None
    for n in nodes:
        out = n if out is None else ast.And(out, n)
    return out
