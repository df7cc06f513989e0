"""The read core: feature types over the serving layer, one query value, renderers built in PostGIS.

Every reader — the REST search, the WFS, the OGC API, the tiles — builds a `FeatureQuery` and
renders it here; nothing above `landdb/` edits SQL text.
"""

from .filters import GeometryLiteral, ResourceIds
from .query import Bbox, Compiled, FeatureQuery, compile_where
from .renderers import BUFFERED_MAX, FORMATS, count, extent_wgs84, member_sql, render, select_sql, value_sql
from .types import FEATURE_TYPES, NAMESPACE, PARCELS, PREFIX, WARDS, FeatureType, Property

__all__ = [
    "BUFFERED_MAX", "FEATURE_TYPES", "FORMATS", "NAMESPACE", "PARCELS", "PREFIX", "WARDS", "Bbox", "Compiled",
    "FeatureQuery", "FeatureType", "GeometryLiteral", "Property", "ResourceIds", "compile_where", "count",
    "extent_wgs84", "member_sql", "render", "select_sql", "value_sql",
]
