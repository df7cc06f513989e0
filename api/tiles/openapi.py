"""The tiles' part of the /ogc OpenAPI 3.0 document: tile matrix sets, tilesets, tiles, TileJSON and styles.

The OGC API blueprint builds the document and merges this fragment into it (`api.ogc.extend`);
the filter parameters are the OGC API's own components (`filter`, `filter-lang`, `filter-crs`:
one reader, `landdb.query.cql2`). Operation ids end with the suffixes OGC API – Tiles 1.0 gives
them (/req/oas30/operation-id: `.collection.vector.getTile` …).
"""

from __future__ import annotations

from functools import lru_cache

from landdb.tiles import matrix, mvt

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/exception"}}}
JSON_DOC = {"application/json": {"schema": {"type": "object"}}}
#: Where the examples point: a tile of Hạ Long's centre (Bãi Cháy – Hồng Gai).
EXAMPLE_LONLAT, EXAMPLE_ZOOM = (107.07, 20.955), 16


@lru_cache(maxsize=None)
def _example_tile() -> tuple[int, int, int]:
    t = matrix.get(matrix.TILE_MATRIX_SETS[0]).tile(*EXAMPLE_LONLAT, EXAMPLE_ZOOM)
    return t.z, t.y, t.x


def _path(name: str, description: str, schema: dict, example) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema,
            "example": example}


def _query(name: str, description: str, schema: dict, example) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema,
            "style": "form", "explode": False, "example": example}


def parameters() -> dict:
    """The components/parameters the tiles add (keys prefixed `tiles-` where the OGC API has its own)."""
    z, y, x = _example_tile()
    return {
        "tiles-collectionId": _path("collectionId", "A collection served as vector tiles",
                                    {"type": "string", "enum": list(mvt.LAYERS)}, "parcels"),
        "tileMatrixSetId": _path("tileMatrixSetId", "A tile matrix set (OGC 2D Tile Matrix Set 2.0)",
                                 {"type": "string", "enum": list(matrix.TILE_MATRIX_SETS)}, matrix.TILE_MATRIX_SETS[0]),
        "tileMatrix": _path("tileMatrix", f"Zoom level (tile matrix identifier), 0–{matrix.MAX_ZOOM}",
                            {"type": "integer", "minimum": 0, "maximum": matrix.MAX_ZOOM}, z),
        "tileRow": _path("tileRow", "Row of the tile in its tile matrix (0 at the top)",
                         {"type": "integer", "minimum": 0}, y),
        "tileCol": _path("tileCol", "Column of the tile in its tile matrix (0 at the left)",
                         {"type": "integer", "minimum": 0}, x),
        "styleId": _path("styleId", "A map style", {"type": "string", "enum": ["landdb"]}, "landdb"),
        "tiles-datetime": _query(
            "datetime", "Sổ địa chính tại ngày (the register as of a day): an RFC 3339 date or date-time, whose "
            "day in Hạ Long counts; one day, not an interval. A past day's tiles are immutable.",
            {"type": "string"}, "2025-06-30"),
        "tiles-at": _query("at", "The register as of this day (YYYY-MM-DD), landdb's spelling of `datetime`",
                           {"type": "string", "format": "date"}, "2025-06-30"),
        "f-style": _query("f", "mapbox (the style document, default) or html (a map of it)",
                          {"type": "string", "enum": ["mapbox", "json", "html"]}, "mapbox"),
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _errors(*statuses: int) -> dict:
    text = {400: "Bad request: `detail` and `field` name the parameter or the filter's property",
            404: "No such collection, tile matrix set, tile or style (`field` says which)"}
    return {str(s): {"description": text[s], "content": PROBLEM} for s in statuses}


def _get(op_id: str, summary: str, params: list, responses: dict, tag: str) -> dict:
    return {"get": {"operationId": op_id, "summary": summary, "tags": [tag], "parameters": params,
                    "responses": responses}}


_DAY_AND_FILTER = ["tiles-datetime", "tiles-at", "filter", "filter-lang", "filter-crs"]
_CACHED = {"ETag": {"description": "Changes exactly when the tile's content can (see README)",
                    "schema": {"type": "string"}},
           "Cache-Control": {"description": "`immutable` for a past day's tile", "schema": {"type": "string"}}}


def paths() -> dict:
    """The tiles' paths, relative to /ogc."""
    tile = "/collections/{collectionId}/tiles/{tileMatrixSetId}"
    mvt_content = {mvt.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
    return {
        "/tileMatrixSets": _get("getTileMatrixSetsList", "Tile matrix sets offered", [],
                                {"200": {"description": "The tile matrix sets", "content": JSON_DOC}}, "Tiles"),
        "/tileMatrixSets/{tileMatrixSetId}": _get(
            "getTileMatrixSet", "A tile matrix set (OGC 2DTMS 2.0 JSON)", [_ref("tileMatrixSetId")],
            {"200": {"description": "The tile matrix set", "content": JSON_DOC}, **_errors(404)}, "Tiles"),
        "/collections/{collectionId}/tiles": _get(
            "tiles.collection.vector.getTileSetsList", "Vector tilesets of a collection",
            [_ref("tiles-collectionId")],
            {"200": {"description": "The tilesets list", "content": JSON_DOC}, **_errors(404)}, "Tiles"),
        tile: _get(
            "tiles.collection.vector.getTileSet", "Tileset metadata (its tile URL template carries day and filter)",
            [_ref("tiles-collectionId"), _ref("tileMatrixSetId")] + [_ref(p) for p in _DAY_AND_FILTER],
            {"200": {"description": "The tileset", "content": JSON_DOC}, **_errors(400, 404)}, "Tiles"),
        tile + "/tilejson.json": _get(
            "tiles.collection.vector.getTileJSON", "TileJSON 3.0 of a collection, for map libraries",
            [_ref("tiles-collectionId"), _ref("tileMatrixSetId")] + [_ref(p) for p in _DAY_AND_FILTER],
            {"200": {"description": "TileJSON 3.0.0", "content": JSON_DOC}, **_errors(400, 404)}, "Tiles"),
        tile + "/{tileMatrix}/{tileRow}/{tileCol}": _get(
            "tiles.collection.vector.getTile", "A Mapbox vector tile (gzip when the client accepts it)",
            [_ref("tiles-collectionId"), _ref("tileMatrixSetId"), _ref("tileMatrix"), _ref("tileRow"),
             _ref("tileCol")] + [_ref(p) for p in _DAY_AND_FILTER] + [
                {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "An ETag of the tile: 304 when it has not changed"}],
            {"200": {"description": "The tile", "content": mvt_content, "headers": {
                **_CACHED, "Content-Encoding": {"description": "gzip when asked with Accept-Encoding",
                                                "schema": {"type": "string"}}}},
             "204": {"description": "An empty tile (no feature there, or below the layer's zooms)",
                     "headers": _CACHED},
             "304": {"description": "Not modified (If-None-Match named the tile's ETag)", "headers": _CACHED},
             **_errors(400, 404)}, "Tiles"),
        "/styles": _get("getStyles", "Map styles", [],
                        {"200": {"description": "The styles", "content": JSON_DOC}}, "Styles"),
        "/styles/{styleId}": _get(
            "getStyle", "The MapLibre style (parcels by land use, ward outlines), or a map of it",
            [_ref("styleId"), _ref("f-style"), _ref("tiles-datetime"), _ref("tiles-at")],
            {"200": {"description": "The style", "content": {
                "application/vnd.mapbox.style+json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}}}}, **_errors(400, 404)}, "Styles"),
    }


def fragment() -> dict:
    """What the tiles add to the /ogc OpenAPI document: paths, parameters and tags."""
    return {"paths": paths(), "parameters": parameters(), "tags": [{"name": "Tiles"}, {"name": "Styles"}]}
