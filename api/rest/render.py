"""Rendering for the REST API: GeoJSON text from PostGIS into responses, paging links, Content-Crs."""

from __future__ import annotations

import datetime as dt
import json

from flask import Response, request, stream_with_context, url_for

from landdb import crs
from landdb.parcels import FeatureStream

GEOJSON = "application/geo+json"
JSON = "application/json"


def crs_uri(srid: int) -> str:
    """The CRS URI for Content-Crs: CRS84 for lon/lat (the axis order we send), else EPSG's."""
    return crs.CRS84 if srid == 4326 else crs.uri(srid)


def text_response(body: str, *, mimetype: str = JSON, srid: int | None = None) -> Response:
    """A body PostGIS already rendered."""
    resp = Response(body, mimetype=mimetype)
    if srid is not None:
        resp.headers["Content-Crs"] = f"<{crs_uri(srid)}>"
    return resp


def parcel_etag(feature: str) -> str:
    """The entity tag of a parcel as GeoJSON text: its version (what `expected_version` and
    `If-Match` name), marked when the parcel is retired (its last version, closed)."""
    props = json.loads(feature)["properties"]
    return f"{props['version']}" + ("" if props.get("status", "current") == "current" else "-retired")


def conditional(resp: Response, etag: str, *, varies_by_key: bool = False) -> Response:
    """Tag `resp` with a strong ETag and answer a matching If-None-Match with 304 Not Modified.

    `varies_by_key`: the representation depends on the API key's scopes (say so in Vary, and
    the caller puts the detail level into the tag)."""
    resp.set_etag(etag)
    if varies_by_key:
        resp.vary.add("Authorization")
    return resp.make_conditional(request)


def _url(**changes) -> str:
    args = request.args.to_dict()
    args.update({k: str(v) for k, v in changes.items()})
    return url_for(request.endpoint, _external=True, **(request.view_args or {}), **args)


def _more(matched: int | None, returned: int, offset: int) -> bool:
    """More matches follow this page (an unknown count means the page was full)."""
    return matched is None or offset + returned < matched


def paging_links(matched: int | None, returned: int, limit: int, offset: int, *, paged: bool = True) -> list[dict]:
    """self / next / prev links for a page (next only when more matches follow)."""
    links = [{"href": request.url, "rel": "self", "type": GEOJSON}]
    if paged and request.method == "GET":
        if _more(matched, returned, offset):
            links.append({"href": _url(offset=offset + limit, limit=limit), "rel": "next", "type": GEOJSON})
        if offset > 0:
            links.append({"href": _url(offset=max(0, offset - limit), limit=limit), "rel": "prev", "type": GEOJSON})
    return links


def feature_collection(stream: FeatureStream, *, srid: int, limit: int, offset: int = 0,
                       paged: bool = True, next_body: dict | None = None, session=None) -> Response:
    """Stream a FeatureCollection: a small head written here, the features as PostGIS wrote them.

    `session` (detached from the request, see common.detach_session) is closed when the body has
    been sent or the client went away.
    """
    links = paging_links(stream.matched, stream.returned, limit, offset, paged=paged)
    if next_body is not None and _more(stream.matched, stream.returned, offset):
        # POST searches page by posting again; say with which body.
        links.append({"href": request.url, "rel": "next", "type": GEOJSON, "method": "POST",
                      "body": {**next_body, "offset": offset + limit}})
    head = {
        "type": "FeatureCollection",
        "numberMatched": stream.matched,
        "numberReturned": stream.returned,
        "timeStamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    if srid != 4326:
        head["crs"] = {"type": "name", "properties": {"name": crs.urn(srid)}}
    # The standard library's json as the app's provider is set (api.create_app), without its dispatch.
    head_bytes = (json.dumps(head, ensure_ascii=False)[:-1] + ',"features":[').encode()
    if isinstance(stream.chunks, list):
        # A page read whole: one piece with its length, and the connection back to the pool now.
        if session is not None:
            session.close()
        resp = Response(b"".join((head_bytes, *stream.chunks, b"]}")), mimetype=GEOJSON)
        return _collection_headers(resp, srid, links)

    def body():
        try:
            yield head_bytes
            yield from stream.chunks
            yield b"]}"
        finally:
            if session is not None:
                session.close()

    return _collection_headers(Response(stream_with_context(body()), mimetype=GEOJSON), srid, links)


def _collection_headers(resp: Response, srid: int, links: list[dict]) -> Response:
    resp.headers["Content-Crs"] = f"<{crs_uri(srid)}>"
    link_header = ", ".join(f'<{ln["href"]}>; rel="{ln["rel"]}"' for ln in links
                            if ln["rel"] in ("next", "prev") and "method" not in ln)
    if link_header:
        resp.headers["Link"] = link_header
    return resp
