"""/api/v1/parcels…: lookup, search, at a point, near a point, by geometry, history, rights."""

from __future__ import annotations

from flask import current_app

from landdb import auth as core_auth
from landdb import crs as crs_
from landdb import parcels as core
from landdb.errors import InvalidInput

from ..auth import current_principal, record_personal_data_read, require
from ..db import get_session
from ..guards import json_body
from . import schemas as s
from .common import RestBlueprint, detach_session, detail_level, output_srid, read_session
from .render import GEOJSON, conditional, feature_collection, parcel_etag, text_response

blp = RestBlueprint("parcels", __name__, description="Cadastral parcels (thửa đất) as GeoJSON")

CODE_PARAM = [{
    "in": "path", "name": "parcel_code", "required": True,
    "description": "ward code - map sheet - parcel number, e.g. 06691-12-345",
    "schema": {"type": "string", "pattern": r"^\d{5}-\d{1,6}-\d{1,7}$"},
}]
#: schema instances: webargs would build one per request from a class (a deep copy of every
#: field: a third of the app's time on a one-parcel search).
_LOOKUP_ARGS, _AT_ARGS, _NEAR_ARGS, _SEARCH_ARGS = s.LookupArgs(), s.AtArgs(), s.NearArgs(), s.SearchArgs()
_QUERY_BODY, _CRS_ARGS = s.QueryBody(), s.CrsArgs()


def _count_limit() -> int:
    """numberMatched is counted up to this many parcels and null ("more") past it."""
    return current_app.config["LANDDB"].count_limit


@blp.route("/parcels")
@blp.arguments(_SEARCH_ARGS, location="query", as_kwargs=True)
@blp.response(200, s.ParcelCollection, content_type=GEOJSON, description="A page of parcels, ordered by code")
@blp.alt_response("default", response="DEFAULT_ERROR")
def search(limit, offset, crs=None, bbox=None, bbox_crs=None, at=None, **filters):
    """Search current parcels by ward, sheet, number, land use, address, certificate or bbox.

    Every filter given must match. `numberMatched` counts the matches of a full page up to the
    server's count limit (null past it) and is exact on the last page, which is never counted;
    follow the `next` link (also in the `Link` header) for the next page.
    """
    srid = output_srid(crs)
    box, box_srid = None, 4326
    if bbox is not None:
        box_srid = crs_.parse_crs(bbox_crs, field="bbox-crs")
        box = crs_.parse_bbox(bbox, box_srid)
    elif bbox_crs is not None:
        raise InvalidInput("bbox-crs: only meaningful with bbox", field="bbox-crs")
    f = core.SearchFilters(bbox=box, bbox_srid=box_srid, **filters)
    stream = core.search_parcels(read_session(), f, limit=limit, offset=offset, srid=srid, at=at,
                                 count_limit=_count_limit())
    return feature_collection(stream, srid=srid, limit=limit, offset=offset, session=detach_session())


@blp.route("/parcels/at")
@blp.arguments(_AT_ARGS, location="query", as_kwargs=True)
@blp.response(200, s.ParcelFeature, content_type=GEOJSON, description="The parcel containing the point")
@blp.alt_response(404, response="NOT_FOUND", description="No current parcel contains the point")
@blp.alt_response("default", response="DEFAULT_ERROR")
def at(lon, lat, crs=None, at=None):
    """The current parcel that contains a point (lon/lat in EPSG:4326); with `at`, the one that day."""
    srid = output_srid(crs)
    return text_response(core.parcel_at(read_session(), lon, lat, srid, at=at), mimetype=GEOJSON, srid=srid)


@blp.route("/parcels/near")
@blp.arguments(_NEAR_ARGS, location="query", as_kwargs=True)
@blp.response(200, s.ParcelCollection, content_type=GEOJSON,
              description="Parcels within the radius, nearest first, each with `distance_m`")
@blp.alt_response("default", response="DEFAULT_ERROR")
def near(lon, lat, radius, limit, crs=None, at=None):
    """Current parcels within `radius` metres of a point, nearest first."""
    srid = output_srid(crs)
    stream = core.parcels_near(read_session(), lon, lat, radius=radius, limit=limit, srid=srid, at=at)
    return feature_collection(stream, srid=srid, limit=limit, paged=False, session=detach_session())


@blp.route("/parcels/query", methods=["POST"])
@blp.arguments(_QUERY_BODY, location="json", error_status_code=422)
@blp.arguments(_LOOKUP_ARGS, location="query", as_kwargs=True)
@blp.response(200, s.ParcelCollection, content_type=GEOJSON, description="Parcels related to the shape, by code")
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@blp.alt_response("default", response="DEFAULT_ERROR")
def query(body, crs=None, at=None):
    """Parcels that intersect, lie within or contain a posted GeoJSON geometry (a planning zone,
    a road corridor). Invalid or self-intersecting shapes get 422 with the reason."""
    srid = output_srid(crs)
    geometry_srid = crs_.parse_crs(body.get("crs"), field="crs")
    geometry = core.parse_geometry(body["geometry"], geometry_srid)
    limit, offset = body["limit"], body["offset"]
    stream = core.query_parcels(read_session(), geometry, body["predicate"], geometry_srid=geometry_srid,
                                limit=limit, offset=offset, srid=srid, at=at, count_limit=_count_limit())
    return feature_collection(stream, srid=srid, limit=limit, offset=offset,
                              next_body={**json_body()}, session=detach_session())


@blp.route("/parcels/<parcel_code:parcel_code>", parameters=CODE_PARAM + [{
    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
    "description": "An ETag seen before: 304 while the parcel is still at that version"}])
@blp.arguments(_LOOKUP_ARGS, location="query", as_kwargs=True)
@blp.response(200, s.ParcelFeature, content_type=GEOJSON, description="The parcel's latest version (or on `at`)",
              headers={"ETag": {"description": "The parcel's version, e.g. \"3\" (for If-None-Match, and as "
                                               "If-Match on a registration)", "schema": {"type": "string"}}})
@blp.alt_response(304, description="Not modified: the If-None-Match tag is still the parcel's version")
@blp.alt_response(404, response="NOT_FOUND", description="No parcel has this code")
@blp.alt_response("default", response="DEFAULT_ERROR")
def get(parcel_code, crs=None, at=None):
    """One parcel by its code `{ward_code}-{sheet_no}-{parcel_no}` (a retired parcel's last version
    when no current parcel has the code)."""
    srid = output_srid(crs)
    feature = core.get_parcel(read_session(), parcel_code, srid, at=at)
    return conditional(text_response(feature, mimetype=GEOJSON, srid=srid), parcel_etag(feature))


@blp.route("/parcels/<parcel_code:parcel_code>/history", parameters=CODE_PARAM)
@blp.arguments(_CRS_ARGS, location="query", as_kwargs=True)
@blp.response(200, s.History, description="Versions, the transactions that made them, split/merge lineage")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response("default", response="DEFAULT_ERROR")
def history(parcel_code, crs=None):
    """The parcel's versions (with geometry), the journal transactions that opened and closed
    them, and the parent and child parcels of splits and merges. Dossier numbers only with
    `rights:read`, as in /transactions."""
    srid = output_srid(crs)
    return text_response(core.parcel_history(read_session(), parcel_code, srid, detail=detail_level()), srid=srid)


@blp.route("/parcels/<parcel_code:parcel_code>/rights", parameters=CODE_PARAM)
@require(core_auth.RIGHTS_READ)
@blp.arguments(s.ma.Schema.from_dict({})(), location="query")
@blp.response(200, s.Rights, description="Current rights, mortgages and certificates")
@blp.alt_response(401, response="UNAUTHORIZED", description="No (valid) API key")
@blp.alt_response(403, response="FORBIDDEN", description="The key lacks rights:read")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response("default", response="DEFAULT_ERROR")
@blp.doc(security=[{"bearerAuth": []}])
def rights(_args, parcel_code):
    """Current rights (land use, house ownership, lease), restrictions (mortgages) and the
    certificates evidencing them. Needs `rights:read`; holders' names, ID numbers, birth years
    and addresses only with `owners:read` (each such response is written to the access log),
    otherwise only each holder's kind and share."""
    personal = core_auth.sees_personal_data(current_principal())
    read = core.parcel_rights(get_session(), parcel_code, personal=personal)
    if personal and read.party_ids:
        record_personal_data_read("GET /api/v1/parcels/{parcel_code}/rights", [read.parcel_id], read.party_ids)
    return text_response(read.body)
