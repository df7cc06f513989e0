"""/api/v1 wards, land-use statistics and the (restricted) owner search."""

from __future__ import annotations

from landdb import auth as core_auth
from landdb import parcels as core

from ..auth import record_personal_data_read, require
from ..db import get_session
from . import schemas as s
from .common import RestBlueprint, output_srid, read_session
from .render import GEOJSON, text_response

blp = RestBlueprint("registers", __name__, description="Wards, statistics and owners")


@blp.route("/wards")
@blp.arguments(s.WardsArgs, location="query", as_kwargs=True)
@blp.response(200, s.WardCollection, content_type=GEOJSON,
              description="Wards and communes of every period (or those valid on `at`)")
@blp.alt_response("default", response="DEFAULT_ERROR")
def wards(at=None, crs=None):
    """Admin units (phường / xã) with their validity, boundaries (where known), current parcel
    counts and the 2025 mergers that formed or ended them. Codes are reused across periods, so
    each feature's id is `code@valid_from`."""
    srid = output_srid(crs)
    return text_response(core.list_wards(read_session(), at=at, srid=srid), mimetype=GEOJSON, srid=srid)


@blp.route("/wards/<code>", parameters=[{
    "in": "path", "name": "code", "required": True, "description": "5-digit GSO code, e.g. 06691",
    "schema": {"type": "string", "pattern": r"^\d{5}$"}}])
@blp.arguments(s.WardsArgs, location="query", as_kwargs=True)
@blp.response(200, s.WardFeature, content_type=GEOJSON)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response("default", response="DEFAULT_ERROR")
def ward(code, at=None, crs=None):
    """One ward or commune: the unit with this code valid on `at` (default: the current one, or
    the latest period of an abolished code)."""
    srid = output_srid(crs)
    return text_response(core.get_ward(read_session(), code, at=at, srid=srid), mimetype=GEOJSON, srid=srid)


@blp.route("/stats/land-use")
@blp.arguments(s.StatsArgs, location="query", as_kwargs=True)
@blp.response(200, s.LandUseStats)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response("default", response="DEFAULT_ERROR")
def land_use(ward=None):
    """Current parcels' count, legal area and geometric area per land-use code, in one ward or
    in the whole register."""
    return text_response(core.land_use_stats(read_session(), ward))


@blp.route("/parties")
@require(core_auth.OWNERS_READ)
@blp.arguments(s.PartiesArgs, location="query", as_kwargs=True)
@blp.response(200, s.Parties, description="Parties with the parcels they hold rights on now")
@blp.alt_response(401, response="UNAUTHORIZED", description="No (valid) API key")
@blp.alt_response(403, response="FORBIDDEN", description="The key lacks owners:read")
@blp.alt_response("default", response="DEFAULT_ERROR")
@blp.doc(security=[{"bearerAuth": []}])
def parties(q, limit, offset):
    """Owner search (officers and `owners:read` keys only): by ID number, or by name words with
    case and diacritics ignored ("nguyen van" finds "Nguyễn Văn …"). Personal data: each
    response that returns parties is written to the access log."""
    read = core.search_parties(get_session(), q, limit=limit, offset=offset)
    if read.party_ids:
        record_personal_data_read("GET /api/v1/parties", read.parcel_ids, read.party_ids)
    return text_response(read.body)
