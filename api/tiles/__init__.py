"""OGC API – Tiles under /ogc: tile matrix sets, tilesets of parcels and wards, MVT tiles, TileJSON, the MapLibre style.

Thin: parameters are parsed here, tiles rendered by `landdb.tiles.mvt` and their ETags made by
`landdb.tiles.cache`. The OGC API – Features blueprint shares the /ogc prefix (landing page,
conformance, collections) and links to these documents with `landing_links()`,
`collection_links(cid)` and `CONFORMANCE`.
"""

from __future__ import annotations

import datetime as dt
import gzip
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, json, render_template, request, url_for

from landdb.errors import InvalidInput, NotFound
from landdb.query import FEATURE_TYPES, cql2
from landdb.tiles import cache, matrix, mvt, style
from landdb.timetravel import parse_at

from ..db import get_session
from . import openapi  # noqa: F401  (the app factory hands openapi.fragment to the OGC API's /api)

bp = Blueprint("tiles", __name__, url_prefix="/ogc", template_folder="templates")

STYLE_ID = "landdb"
JSON = "application/json"
TILEJSON = "application/json"
STYLE_MEDIA = "application/vnd.mapbox.style+json"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
#: zlib's fastest level: on z15 tiles (~170 KB) it takes ~3 ms against ~12 ms at level 5, for
#: 48 % of the size against 43 % (bench/RESULTS.md, tiles).
GZIP_LEVEL = 1
#: Cache-Control of the metadata documents (they change only with a deployment or the wards).
DOCUMENT_CACHE = "public, max-age=300"


#: The OGC API – Tiles 1.0 and 2D Tile Matrix Set 2.0 conformance classes served here, for
#: /ogc/conformance, each proved by tests/tiles. Not `datetime`: it asks for intervals (and
#: `subset=datetime(…)`), and a tile shows the register of one day.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]


def landing_links() -> list[dict]:
    """Links for the /ogc landing page: the tile matrix sets and the styles."""
    return [
        _link(url_for("tiles.tile_matrix_sets", _external=True), "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
              JSON, "Tile matrix sets"),
        _link(url_for("tiles.styles", _external=True), "http://www.opengis.net/def/rel/ogc/1.0/styles", JSON,
              "Map styles"),
    ]


def collection_links(cid: str) -> list[dict]:
    """Links for a collection's document (empty for a collection without tiles)."""
    if cid not in mvt.LAYERS:
        return []
    return [
        _link(url_for("tiles.tilesets", cid=cid, _external=True), REL_TILESETS, JSON, "Vector tilesets"),
        _link(url_for("tiles.tilejson", cid=cid, tms_id="WebMercatorQuad", _external=True), "describedby", TILEJSON,
              "TileJSON 3.0 (WebMercatorQuad)"),
    ]


def _setting(name: str, default: str = "") -> str:
    return current_app.config["LANDDB"].extra.get(name, default)


def _json(doc: dict, media_type: str = JSON, status: int = 200) -> Response:
    resp = Response(json.dumps(doc), status=status, mimetype=media_type)
    resp.headers["Cache-Control"] = DOCUMENT_CACHE
    return resp


def _passed_on() -> dict:
    """The query parameters that change what tiles hold (day, filter), to carry into tile URLs."""
    keep = ("at", "datetime", "filter", "filter-lang", "filter-crs")
    return {k: request.args[k] for k in keep if request.args.get(k)}


def _link(href: str, rel: str, type_: str, title: str = "", **extra) -> dict:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    link.update(extra)
    return link


# --- parameters ------------------------------------------------------------------------------


def requested_day() -> dt.date | None:
    """The register's day from `at=` (landdb's spelling) or `datetime=` (OGC's: a date or an
    instant, whose day in Hạ Long counts); both given must agree. None: now."""
    at = parse_at(request.args.get("at"), field="at")
    raw = (request.args.get("datetime") or "").strip()
    if not raw:
        return at
    if "/" in raw:
        raise InvalidInput("datetime: a tile shows one day; give a date or an instant, not an interval",
                           field="datetime")
    try:
        if "T" in raw or " " in raw:
            instant = dt.datetime.fromisoformat(raw.replace("z", "Z"))
            day = instant.astimezone(cache.LOCAL_TZ).date() if instant.tzinfo else instant.date()
        else:
            day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"datetime must be an RFC 3339 date or date-time, not {raw!r}", field="datetime") from None
    day = parse_at(day, field="datetime")
    if at is not None and at != day:
        raise InvalidInput("at and datetime name different days; give one", field="datetime")
    return day


def requested_filter(cid: str) -> tuple[object, int]:
    """The CQL2 `filter` (with `filter-lang`, `filter-crs`) over the collection's queryables, read
    as the OGC API – Features items read it: (AST or None, SRID of its geometry literals)."""
    ft = FEATURE_TYPES[cid]
    return cql2.from_params(request.args, names={p.name for p in ft.published}, geometry_name=ft.geometry_name)


# --- tile matrix sets ------------------------------------------------------------------------


@bp.get("/tileMatrixSets")
def tile_matrix_sets():
    sets = []
    for tms_id in matrix.TILE_MATRIX_SETS:
        tms = matrix.get(tms_id)
        sets.append({"id": tms_id, "title": tms.title, "uri": tms.uri, "links": [
            _link(url_for(".tile_matrix_set", tms_id=tms_id, _external=True), "self", JSON, tms.title)]})
    return _json({"tileMatrixSets": sets,
                  "links": [_link(url_for(".tile_matrix_sets", _external=True), "self", JSON)]})


@bp.get("/tileMatrixSets/<tms_id>")
def tile_matrix_set(tms_id: str):
    doc = dict(matrix.document(tms_id))
    doc["links"] = [_link(url_for(".tile_matrix_set", tms_id=tms_id, _external=True), "self", JSON)]
    return _json(doc)


# --- tilesets --------------------------------------------------------------------------------


def _tile_template(cid: str, tms_id: str) -> str:
    base = url_for(".tileset", cid=cid, tms_id=tms_id, _external=True) + "/{z}/{y}/{x}"
    extra = _passed_on()
    if extra:
        base += "?" + urlencode(extra)
    return base


@bp.get("/collections/<cid>/tiles")
def tilesets(cid: str):
    lyr = mvt.layer(cid)
    items = []
    for tms_id in matrix.TILE_MATRIX_SETS:
        tms = matrix.get(tms_id)
        items.append({
            "title": f"{lyr.title} — {tms_id}", "dataType": "vector", "tileMatrixSetURI": tms.uri,
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "links": [
                _link(url_for(".tileset", cid=cid, tms_id=tms_id, _external=True), "self", JSON, f"{lyr.title} tileset"),
                _link(url_for(".tile_matrix_set", tms_id=tms_id, _external=True), REL_TILING_SCHEME, JSON, tms_id),
            ]})
    return _json({"tilesets": items, "links": [
        _link(url_for(".tilesets", cid=cid, _external=True), "self", JSON)]})


@bp.get("/collections/<cid>/tiles/<tms_id>")
def tileset(cid: str, tms_id: str):
    lyr = mvt.layer(cid)
    matrix.get(tms_id)
    links = [
        _link(request.url, "self", JSON, f"{lyr.title} tileset"),
        _link(url_for(".tile_matrix_set", tms_id=tms_id, _external=True), REL_TILING_SCHEME, JSON, tms_id),
        _link(_tile_template(cid, tms_id).replace("{z}/{y}/{x}", "{tileMatrix}/{tileRow}/{tileCol}"),
              "item", mvt.MEDIA_TYPE, "Mapbox vector tiles", templated=True),
        _link(url_for(".tilejson", cid=cid, tms_id=tms_id, _external=True, **_passed_on()), "describedby",
              TILEJSON, "TileJSON 3.0"),
        _link(url_for(".style_document", style_id=STYLE_ID, _external=True), "describedby", STYLE_MEDIA,
              "MapLibre style"),
    ]
    return _json(style.tileset(lyr, tms_id, bounds=mvt.extent_wgs84(get_session()), links=links))


@bp.get("/collections/<cid>/tiles/<tms_id>/tilejson.json")
def tilejson(cid: str, tms_id: str):
    lyr = mvt.layer(cid)
    matrix.get(tms_id)
    at = requested_day()
    node, srid = requested_filter(cid)
    # Compiled (not run) as a tile would be, so that a filter the core refuses is a 400 here too.
    mvt.statement(mvt.Tile(cid, tms_id, lyr.min_zoom, 0, 0, at=at, filter=node, filter_srid=srid))
    doc = style.tilejson(lyr, tiles_url=_tile_template(cid, tms_id), bounds=mvt.extent_wgs84(get_session()),
                         attribution=_setting("tiles_attribution", "landdb — Hạ Long"))
    return _json(doc, TILEJSON)


# --- tiles -----------------------------------------------------------------------------------


@bp.get("/collections/<cid>/tiles/<tms_id>/<int:z>/<int:y>/<int:x>")
def tile(cid: str, tms_id: str, z: int, y: int, x: int):
    mvt.layer(cid)
    matrix.check_tile(tms_id, z, x, y)
    at = requested_day()
    node, srid = requested_filter(cid)
    t = mvt.Tile(cid, tms_id, z, x, y, at=at, filter=node, filter_key="" if node is None else f"{srid}:{node!r}",
                 filter_srid=srid)
    session = get_session()
    headers = {"Cache-Control": cache.cache_control(t, int(_setting("tiles_max_age", "0") or 0)),
               "Vary": "Accept-Encoding"}
    asked = request.headers.get("If-None-Match")
    if asked:
        # A revalidation: the versions the tile shows, without building it.
        state = mvt.state(session, t)
        if state is not None and cache.matches(asked, cache.etag(t, state)):
            return Response(status=304, headers={**headers, "ETag": cache.etag(t, state)})
    body, state = mvt.render(session, t)
    etag = cache.etag(t, state if state is not None else cache.state_of_body(body))
    if cache.matches(asked, etag):
        return Response(status=304, headers={**headers, "ETag": etag})
    headers["ETag"] = etag
    if not body:
        # OGC API – Tiles: an empty tile inside the limits may be 204 No Content.
        return Response(status=204, headers=headers)
    if "gzip" in (request.headers.get("Accept-Encoding") or "").lower():
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status=200, mimetype=mvt.MEDIA_TYPE, headers=headers)


# --- styles ----------------------------------------------------------------------------------


@bp.get("/styles")
def styles():
    return _json({"styles": [{"id": STYLE_ID, "title": "Parcels by land use, wards", "links": [
        _link(url_for(".style_document", style_id=STYLE_ID, _external=True), "stylesheet", STYLE_MEDIA,
              "MapLibre / Mapbox style"),
        _link(url_for(".style_document", style_id=STYLE_ID, f="html", _external=True), "preview", "text/html",
              "map"),
    ]}], "links": [_link(url_for(".styles", _external=True), "self", JSON)]})


@bp.get("/styles/<style_id>")
def style_document(style_id: str):
    if style_id != STYLE_ID:
        raise NotFound(f"no style {style_id!r}; there is {STYLE_ID!r}", field="styleId")
    requested_day()
    fmt = (request.args.get("f") or "mapbox").lower()
    if fmt == "html":
        return render_template(
            "tiles_map.html", style_url=url_for(".style_document", style_id=style_id, _external=True, **_passed_on()),
            legend=style.legend())
    if fmt not in ("mapbox", "json"):
        raise InvalidInput(f"f: {fmt!r} is not offered; use mapbox (the style) or html (a map)", field="f")
    urls = {cid: url_for(".tilejson", cid=cid, tms_id="WebMercatorQuad", _external=True, **_passed_on())
            for cid in mvt.LAYERS}
    doc = style.style(tilejson_urls=urls, name=STYLE_ID, basemap=_setting("tiles_basemap"),
                      basemap_attribution=_setting("tiles_basemap_attribution"))
    return _json(doc, STYLE_MEDIA)
