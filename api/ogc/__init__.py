"""The /ogc blueprint: OGC API – Features Parts 1–3 over the read core; thin over `documents`, `items`.

Each resource answers JSON (GeoJSON for features) or HTML, chosen by `f=` or the Accept header.
Errors are problem+json (the app's one error table) whose `field` names the parameter or the
filter's property. Features come from `landdb.query` like every other reader's.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context

from landdb.errors import InvalidInput, NotFound
from landdb.query import FEATURE_TYPES, extent_wgs84, render
from landdb.query import ogc_crs as crs

from . import documents, items, openapi

bp = Blueprint("ogc", __name__, url_prefix="/ogc", template_folder="templates")

#: the collection extents, per process, re-read after this many seconds.
EXTENT_TTL = 300.0
_extents: dict[str, tuple[float, object]] = {}


def extend(app, *, landing_links=None, collection_links=None, conformance=(), openapi=None) -> None:
    """Let another OGC API part served under /ogc (the tiles) add its links to the landing page
    (`landing_links()` → links) and to collection documents (`collection_links(id)` → links), its
    conformance classes to /conformance, and its paths to /api (`openapi()` → a fragment with
    `paths`, `parameters` and `tags`). The app factory wires them; blueprints do not import each
    other."""
    ext = app.extensions.setdefault("landdb_ogc", _no_extensions())
    if landing_links:
        ext["landing"].append(landing_links)
    if collection_links:
        ext["collection"].append(collection_links)
    ext["conformance"].extend(conformance)
    if openapi:
        ext["openapi"].append(openapi)


def _no_extensions() -> dict:
    return {"landing": [], "collection": [], "conformance": [], "openapi": []}


def _extensions() -> dict:
    return current_app.extensions.get("landdb_ogc", _no_extensions())


@bp.app_template_filter("ogc_bounds")
def _bounds(geojson: dict) -> list[list[float]] | None:
    """[[west, south], [east, north]] of a Feature or FeatureCollection in lon/lat (for the map)."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(c):
        if c and isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for x in c:
                walk(x)

    for f in geojson.get("features", [geojson]):
        if f.get("geometry"):
            walk(f["geometry"]["coordinates"])
    return [[min(xs), min(ys)], [max(xs), max(ys)]] if xs else None


def _base() -> str:
    return request.url_root.rstrip("/") + bp.url_prefix


def _format(allowed=("json", "html")) -> str:
    f = (request.args.get("f") or "").strip().lower()
    if f:
        if f == "geojson" and "geojson" in allowed:
            return "json"
        if f not in allowed:
            raise InvalidInput(f"f: {f!r} is not offered here; use one of {', '.join(allowed)}", field="f")
        return f
    best = request.accept_mimetypes.best_match(["application/geo+json", "application/json", "text/html",
                                                "application/vnd.oai.openapi+json;version=3.0",
                                                "application/schema+json"], default="application/json")
    return "html" if best == "text/html" else "json"


def _json(doc: dict, mimetype: str = documents.JSON, status: int = 200) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), status=status, mimetype=mimetype)


def _html(template: str, **context) -> Response:
    return Response(render_template(f"ogc/{template}", base=_base(), **context), mimetype="text/html")


def _collection(collection_id: str):
    ft = FEATURE_TYPES.get(collection_id)
    if ft is None:
        raise NotFound(f"no collection {collection_id!r}; collections: {', '.join(FEATURE_TYPES)}")
    return ft


def _session():
    return current_app.config["LANDDB_SESSIONMAKER"]()


def _extent(session, ft):
    hit = _extents.get(ft.name)
    if hit is None or time.monotonic() - hit[0] > EXTENT_TTL or current_app.testing:
        hit = (time.monotonic(), extent_wgs84(session, ft))
        _extents[ft.name] = hit
    return hit[1]


def _extra_links(collection_id: str) -> list[dict]:
    return [ln for fn in _extensions()["collection"] for ln in fn(collection_id)]


def _only(*names: str) -> None:
    """Part 1: a parameter the resource does not know is a 400."""
    for key in request.args:
        if key not in names:
            raise InvalidInput(f"{key}: unknown parameter; known here: {', '.join(names)}", field=key)


@bp.route("/", strict_slashes=False)
def landing() -> Response:
    _only("f")
    fmt = _format()
    doc = documents.landing(_base(), fmt)
    doc["links"] += [ln for fn in _extensions()["landing"] for ln in fn()]
    if fmt == "html":
        return _html("landing.html", doc=doc, collections=list(FEATURE_TYPES.values()),
                     titles=documents.COLLECTION_TITLES)
    return _json(doc)


@bp.route("/conformance")
def conformance() -> Response:
    _only("f")
    fmt = _format()
    doc = documents.conformance(_base(), fmt)
    doc["conformsTo"] += [c for c in _extensions()["conformance"] if c not in doc["conformsTo"]]
    return _html("conformance.html", doc=doc) if fmt == "html" else _json(doc)


@bp.route("/api")
def api() -> Response:
    _only("f")
    fmt = _format()
    doc = openapi.document(_base(), FEATURE_TYPES, [fn() for fn in _extensions()["openapi"]])
    if fmt == "html":
        return _html("api.html", doc=doc)
    return _json(doc, mimetype=documents.OPENAPI)


def _collection_doc(session, ft, fmt: str) -> dict:
    return documents.collection(_base(), ft, _extent(session, ft), None, fmt, _extra_links)


@bp.route("/collections")
def collections() -> Response:
    _only("f")
    fmt = _format()
    with _session() as session:
        docs = [_collection_doc(session, ft, "json") for ft in FEATURE_TYPES.values()]
    doc = documents.collections(_base(), docs, fmt)
    return _html("collections.html", doc=doc) if fmt == "html" else _json(doc)


@bp.route("/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    ft = _collection(collection_id)
    _only("f")
    fmt = _format()
    with _session() as session:
        doc = _collection_doc(session, ft, fmt)
    if fmt == "html":
        return _html("collection.html", doc=doc, ft=ft, labels=documents.LABELS)
    return _json(doc)


@bp.route("/collections/<collection_id>/queryables")
def queryables(collection_id: str) -> Response:
    ft = _collection(collection_id)
    _only("f")
    fmt = _format()
    doc = documents.queryables(_base(), ft)
    if fmt == "html":
        return _html("queryables.html", doc=doc, ft=ft)
    # A JSON Schema (Part 3); a client that asks for plain JSON only (GDAL 3.6) gets it as that.
    accept = request.accept_mimetypes
    plain = accept.provided and not accept[documents.SCHEMA] and (accept["application/json"]
                                                                  or accept["application/geo+json"])
    return _json(doc, mimetype=documents.JSON if plain else documents.SCHEMA)


def _timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _content_crs(resp: Response, uri: str) -> Response:
    resp.headers["Content-Crs"] = f"<{uri}>"
    return resp


@bp.route("/collections/<collection_id>/items")
def features(collection_id: str) -> Response:
    ft = _collection(collection_id)
    fmt = _format(("json", "html", "geojson"))
    args = request.args.to_dict()
    page = items.parse_items(ft, args)
    items_url = request.base_url
    session = _session()
    try:
        body, links, buffered = items.feature_collection(
            session, page, items_url, count_limit=current_app.config["LANDDB"].count_limit,
            timestamp=_timestamp())
    except BaseException:
        session.close()
        raise
    if buffered:
        session.close()
        text = b"".join(body)
        if fmt == "html":
            return _html("items.html", fc=json.loads(text), ft=ft, labels=documents.LABELS,
                         show_map=page.out_crs == crs.DEFAULT,
                         collection_title=documents.COLLECTION_TITLES.get(ft.name, ft.title), args=args)
        resp = Response(text, mimetype=documents.GEOJSON)
        header = ", ".join(f'<{ln["href"]}>; rel="{ln["rel"]}"' for ln in links if ln["rel"] in ("next", "prev"))
        if header:
            resp.headers["Link"] = header
        return _content_crs(resp, page.out_crs.uri)
    if fmt == "html":
        session.close()
        raise InvalidInput(f"limit: an HTML page shows at most {items.HTML_MAX} features", field="limit")

    def closing():
        try:
            yield from body
        finally:
            session.close()

    return _content_crs(Response(stream_with_context(closing()), mimetype=documents.GEOJSON), page.out_crs.uri)


@bp.route("/collections/<collection_id>/items/<feature_id>")
def feature(collection_id: str, feature_id: str) -> Response:
    ft = _collection(collection_id)
    fmt = _format(("json", "html", "geojson"))
    q, out = items.feature_query(ft, feature_id, request.args.to_dict())
    with _session() as session:
        _, chunks = render(session, q, "geojson")
        text = b"".join(chunks)
    if not text:
        raise NotFound(f"{ft.name} has no feature {feature_id!r}")
    feat = json.loads(text)
    url = request.base_url
    feat["links"] = [
        documents.link(url + "?f=json", "self", documents.GEOJSON, "Đối tượng này"),
        documents.link(url + "?f=html", "alternate", documents.HTML, "HTML"),
        documents.link(url.rsplit("/items/", 1)[0], "collection", documents.JSON, "Bộ dữ liệu"),
    ]
    if fmt == "html":
        return _html("item.html", feature=feat, ft=ft, labels=documents.LABELS, show_map=out == crs.DEFAULT,
                     collection_title=documents.COLLECTION_TITLES.get(ft.name, ft.title))
    return _content_crs(_json(feat, mimetype=documents.GEOJSON), out.uri)
