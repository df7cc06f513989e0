"""The query value: what a reader asks of a feature type, compiled once into parameterised SQL.

REST, WFS, OGC API and tiles all build a `FeatureQuery` (type, bbox and its CRS, a filter AST,
`at`, properties, sort, paging by offset or keyset, output CRS) and hand it to the renderers;
none of them edits SQL text. Every value from a request reaches PostgreSQL as a bind parameter.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..crs import STORAGE_SRID
from ..errors import InvalidInput
from .types import FeatureType, Property


@dataclass(frozen=True)
class Bbox:
    """An envelope in a CRS, axes already in x/y (easting/northing, longitude/latitude) order."""

    x0: float
    y0: float
    x1: float
    y1: float
    srid: int = 4326

    def __post_init__(self):
        if not all(math.isfinite(v) for v in (self.x0, self.y0, self.x1, self.y1)):
            raise InvalidInput("bbox: coordinates must be finite numbers", field="bbox")
        if self.x0 > self.x1 or self.y0 > self.y1:
            raise InvalidInput("bbox: the lower corner must not exceed the upper corner", field="bbox")

    def span_m(self) -> float:
        """The box's larger side in metres, at most (a degree taken as 111.32 km, its length on
        the equator)."""
        side = max(self.x1 - self.x0, self.y1 - self.y0)
        return side * 111_320.0 if self.srid == 4326 else side


@dataclass
class FeatureQuery:
    """What to select and how to render it."""

    feature_type: FeatureType
    bbox: Bbox | None = None
    #: a pygeofilter AST (attributes named by property names), or None.
    filter: Any = None
    #: CRS of geometry literals in the filter that do not name their own.
    filter_srid: int = 4326
    #: turns nodes the core does not know (a WFS's GML geometries and resource ids) into core
    #: ones (`GeometryLiteral`, `ResourceIds`).
    resolve: Callable[[Any], Any] | None = None
    #: the register as it stood at the end of that day (None: now).
    at: dt.date | None = None
    #: conditions the core itself adds (e.g. the REST search's text filters), with their parameters.
    where: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    #: properties to output (None: the published ones); the geometry when named or when None.
    properties: list[str] | None = None
    #: (property name, descending) pairs; the key always breaks ties.
    sort: list[tuple[str, bool]] = field(default_factory=list)
    start: int = 0
    count: int | None = None
    #: keyset paging: only features whose key is greater (the default order only).
    after: int | None = None
    srid: int = STORAGE_SRID
    #: swap axes on output (the URN/URI spellings of EPSG:4326 are latitude-first).
    lat_first: bool = False
    #: the CRS spelling written into GML output, as the client asked for it.
    srs_name: str = f"urn:ogc:def:crs:EPSG::{STORAGE_SRID}"
    #: extra computed output properties (name, SQL over `f`) the core adds, e.g. a distance.
    computed: list[tuple[str, str]] = field(default_factory=list)
    #: with geometry in the output (GeoJSON "geometry": null when False).
    with_geometry: bool = True
    #: False when a filter is known to be selective in a way the planner cannot see (words of an
    #: address cluster in a few streets): the order is then not read from an index (walking it
    #: would read most of the layer before a page of matches), PostgreSQL sorts the matches.
    sort_from_index: bool = True

    def add(self, sql: str, **params) -> None:
        """Add a WHERE condition (SQL over the source `f`, from code) with its bind parameters."""
        self.where.append(sql)
        self.params.update(params)

    def selected(self) -> tuple[tuple[Property, ...], bool]:
        """(properties to output, whether the geometry is output)."""
        ft = self.feature_type
        if self.properties is None:
            return ft.published, self.with_geometry
        props = tuple(p for name in self.properties if (p := ft.property(name)) is not None)
        return props, self.with_geometry and ft.geometry_name in self.properties

    def order_terms(self) -> list[str]:
        ft = self.feature_type
        computed = dict(self.computed)
        # A leading term that is false on every row orders nothing, and no index serves it.
        terms = [] if self.sort_from_index else [f"({ft.key_sql} IS NULL)"]
        for name, desc in self.sort:
            prop = ft.property(name)
            sql = prop.sql if prop is not None else computed.get(name)
            if sql is None:
                raise InvalidInput(f"sortby: {ft.name} has no property {name!r}", field="sortby")
            terms.append(f"{sql} {'DESC' if desc else 'ASC'} NULLS LAST")
        terms.append(ft.key_sql)
        return terms


@dataclass(frozen=True)
class Compiled:
    """A query's FROM and WHERE with its bind parameters (paging and rendering not included)."""

    source: str
    where: str
    params: dict


def source_sql(q: FeatureQuery) -> str:
    ft = q.feature_type
    return ft.at_sql if q.at is not None else ft.current_sql


def bbox_sql(q: FeatureQuery, params: dict) -> str:
    """The bbox test, on the geometry column indexed in the bbox's CRS when the source has one,
    else on the stored geometry against the envelope transformed (its edges followed)."""
    b, ft = q.bbox, q.feature_type
    params.update(_bx0=b.x0, _by0=b.y0, _bx1=b.x1, _by1=b.y1)
    env = f"ST_MakeEnvelope(:_bx0, :_by0, :_bx1, :_by1, {int(b.srid)})"
    indexed = ft.indexed_at if q.at is not None else ft.indexed_now
    column = ft.geometry_column(b.srid) if b.srid in indexed else None
    if column is None:
        column = ft.storage_geometry
        if b.srid != STORAGE_SRID:
            # Edges of a lon/lat box curve in a transverse Mercator: follow them.
            params["_bseg"] = max(b.x1 - b.x0, b.y1 - b.y0, 1e-9) / 4
            env = f"ST_Transform(ST_Segmentize({env}, :_bseg), {STORAGE_SRID})"
    return f"ST_Intersects({column}, {env})"


def compile_where(q: FeatureQuery) -> Compiled:
    """The query's source, WHERE and parameters: the one place filters become SQL."""
    from .filters import Compiler

    params = dict(q.params)
    where = list(q.where)
    if q.at is not None:
        params["at"] = q.at
    if q.bbox is not None:
        where.append(bbox_sql(q, params))
    if q.filter is not None:
        where.append(Compiler(q, params).compile(q.filter))
    if q.after is not None:
        if q.sort:
            raise InvalidInput("a keyset page (after) follows the default order only, not sortby", field="after")
        where.append(f"{q.feature_type.key_sql} > :_after")
        params["_after"] = int(q.after)
    return Compiled(source_sql(q), " AND ".join(f"({w})" for w in where) or "TRUE", params)
