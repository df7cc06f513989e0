"""The OpenAPI 3.0 document of `/ogc` (conformance class oas30), built from the feature types.

Items are described per collection (`/collections/parcels/items`, `/collections/wards/items`) so
each lists its own queryables as query parameters; GDAL's OAPIF driver reads them (and the
`filter-lang` enum) from here to decide which filters it may push to the server.
"""

from __future__ import annotations

from landdb.query import ogc_crs as crs

from . import documents

_JSON = {"application/json": {"schema": {"type": "object"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}


def _param(name: str, description: str, schema: dict, *, required: bool = False, style: str | None = None,
           explode: bool | None = None, where: str = "query", example=None) -> dict:
    out = {"name": name, "in": where, "description": description, "required": required, "schema": schema}
    if example is not None:
        out["example"] = example
    if style:
        out["style"] = style
    if explode is not None:
        out["explode"] = explode
    return out


def _crs_schema() -> dict:
    return {"type": "string", "format": "uri", "enum": crs.uris(), "default": crs.CRS84}


PARAMETERS = {
    "f": _param("f", "Định dạng (format): json, html; items also geojson", {"type": "string",
                "enum": ["json", "html", "geojson"]}, example="json"),
    "limit": _param("limit", "Số đối tượng tối đa một trang (1–10 000, mặc định 100)",
                    {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}, style="form", explode=False,
                    example=10),
    "bbox": _param("bbox", "minx,miny,maxx,maxy (or 6 numbers with heights) in bbox-crs (CRS84 by default)",
                   {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                   style="form", explode=False, example=[107.05, 20.94, 107.09, 20.97]),
    "bbox-crs": _param("bbox-crs", "CRS of bbox (Part 2)", _crs_schema(), style="form", explode=False,
                       example=crs.CRS84),
    "crs": _param("crs", "CRS of the answer's coordinates (Part 2)", _crs_schema(), style="form", explode=False,
                  example=crs.CRS84),
    "datetime": _param("datetime", "Sổ địa chính tại ngày YYYY-MM-DD (the register as of that day; as `at=`); "
                       "`..` or an open interval `../..` means now", {"type": "string"}, style="form", explode=False,
                       example="2025-06-30"),
    "filter": _param("filter", "CQL2 filter (Part 3; also on tiles)", {"type": "string"}, style="form", explode=False,
                     example="S_INTERSECTS(geometry, POINT(107.07 20.955))"),
    "filter-lang": _param("filter-lang", "cql2-text (default) or cql2-json; cql-text is read as cql2-text",
                          {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"},
                          style="form", explode=False, example="cql2-text"),
    "filter-crs": _param("filter-crs", "CRS of geometry literals in the filter", _crs_schema(), style="form",
                         explode=False, example=crs.CRS84),
    "sortby": _param("sortby", "Comma-separated properties, `-` before one for descending",
                     {"type": "array", "items": {"type": "string"}}, style="form", explode=False,
                     example=["-valid_from"]),
    "properties": _param("properties", "Only these properties (and `geometry`)",
                         {"type": "array", "items": {"type": "string"}}, style="form", explode=False,
                         example=["valid_from"]),
    "next": _param("next", "Opaque keyset cursor from a `next` link", {"type": "string"}, style="form",
                   explode=False, example="100"),
    "offset": _param("offset", "Skip this many features (sorted pages)", {"type": "integer", "minimum": 0},
                     style="form", explode=False, example=10),
    "collectionId": _param("collectionId", "parcels or wards", {"type": "string", "enum": ["parcels", "wards"]},
                           required=True, where="path", example="parcels"),
    "featureId": _param("featureId", "Feature id as in the GeoJSON (`parcels.42`)", {"type": "string"},
                        required=True, where="path", example="parcels.1"),
}

_ITEMS_PARAMS = ["f", "limit", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs",
                 "sortby", "properties", "next", "offset"]
_QUERYABLE_EXAMPLES = {"int": 1, "float": 100.0, "date": "2025-01-01"}
_TYPES = {"str": "string", "int": "integer", "float": "number", "date": "string"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _responses(content: dict, *, not_found: bool = False) -> dict:
    out = {"200": {"description": "OK", "content": content},
           "400": {"description": "Bad request: `detail` and `field` name the parameter or property",
                   "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/exception"}}}}}
    if not_found:
        out["404"] = {"description": "No such collection or feature",
                      "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/exception"}}}}
    return out


def _op(op_id: str, summary: str, params: list, content: dict, *, not_found: bool = False, tags=("Features",)) -> dict:
    return {"get": {"operationId": op_id, "summary": summary, "tags": list(tags), "parameters": params,
                    "responses": _responses(content, not_found=not_found)}}


def document(base: str, feature_types: dict, fragments: list[dict] = ()) -> dict:
    """The OpenAPI 3.0 document for the API at `base`, with the paths, parameters and tags other
    parts of the API served under it add (`fragments`: the tiles)."""
    paths = {
        "/": _op("getLandingPage", "Trang đầu (landing page)", [_ref("f")], {**_JSON, **_HTML}, tags=("Capabilities",)),
        "/conformance": _op("getConformance", "Lớp phù hợp (conformance classes)", [_ref("f")],
                            {**_JSON, **_HTML}, tags=("Capabilities",)),
        "/api": _op("getAPI", "This document", [_ref("f")],
                    {"application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}}, **_HTML},
                    tags=("Capabilities",)),
        "/collections": _op("getCollections", "Bộ dữ liệu (collections)", [_ref("f")], {**_JSON, **_HTML},
                            tags=("Capabilities",)),
        "/collections/{collectionId}": _op("describeCollection", "Một bộ dữ liệu (a collection)",
                                           [_ref("collectionId"), _ref("f")], {**_JSON, **_HTML}, not_found=True,
                                           tags=("Capabilities",)),
        "/collections/{collectionId}/queryables": _op(
            "getQueryables", "Thuộc tính lọc được (queryables, JSON Schema)", [_ref("collectionId"), _ref("f")],
            {"application/schema+json": {"schema": {"type": "object"}}, **_HTML}, not_found=True,
            tags=("Capabilities",)),
        "/collections/{collectionId}/items/{featureId}": _op(
            "getFeature", "Một đối tượng (one feature)", [_ref("collectionId"), _ref("featureId"), _ref("f"),
                                                           _ref("crs")],
            {"application/geo+json": {"schema": {"$ref": "#/components/schemas/featureGeoJSON"}}, **_HTML},
            not_found=True),
    }
    for name, ft in feature_types.items():
        queryables = [_param(p.name, f"{documents.LABELS.get(p.name, p.name)}: equal to this value",
                             {"type": _TYPES.get(p.kind, "string"), **({"format": "date"} if p.kind == "date" else {})},
                             style="form", explode=False, example=_QUERYABLE_EXAMPLES.get(p.kind, "x"))
                      for p in _published(ft)]
        paths[f"/collections/{name}/items"] = _op(
            f"getFeatures_{name}", f"{documents.COLLECTION_TITLES.get(name, name)}: đối tượng (features)",
            [_ref(p) for p in _ITEMS_PARAMS] + queryables,
            {"application/geo+json": {"schema": {"$ref": "#/components/schemas/featureCollectionGeoJSON"}},
             **_HTML})
    parameters, tags = dict(PARAMETERS), [{"name": "Capabilities"}, {"name": "Features"}]
    for frag in fragments:
        clash = (set(frag.get("paths", {})) & set(paths)) | (set(frag.get("parameters", {})) & set(parameters))
        if clash:
            raise ValueError(f"OpenAPI fragment redefines {sorted(clash)}")
        paths.update(frag.get("paths", {}))
        parameters.update(frag.get("parameters", {}))
        tags += frag.get("tags", [])
    return {
        "openapi": "3.0.3",
        "info": {"title": documents.TITLE, "description": documents.DESCRIPTION, "version": "1.0.0",
                 "license": {"name": "Public data of the Hạ Long land register"}},
        "servers": [{"url": base}],
        "tags": tags,
        "paths": paths,
        "components": {"parameters": parameters, "schemas": SCHEMAS},
    }


def _published(ft):
    return getattr(ft, "published", None) or ft.properties


_LINK = {"type": "object", "required": ["href"], "properties": {
    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
    "title": {"type": "string"}}}
SCHEMAS = {
    "link": _LINK,
    "exception": {"type": "object", "required": ["status", "detail"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": "string"}, "code": {"type": "string"}}},
    "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {"type": "object", "nullable": True},
        "properties": {"type": "object", "nullable": True},
        "id": {"type": "string"},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/link"}}}},
    "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/link"}},
        "timeStamp": {"type": "string", "format": "date-time"},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0}}},
}
