"""Marshmallow schemas of the REST API: query parameters (validated) and responses (documented).

Response bodies are built by PostGIS as text; these schemas describe them for the OpenAPI
document (and the schema-driven fuzz test checks that they agree).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from landdb import crs
from landdb.parcels import MAX_RADIUS_M, PREDICATES

#: a parcel code `{ward_code}-{sheet_no}-{parcel_no}` as the API accepts it.
PARCEL_CODE_PATTERN = r"^\d{5}-\d{1,6}-\d{1,7}$"
#: the largest journal seq or id a request may name (PostgreSQL bigint).
MAX_SEQ = 2**63 - 1

CRS_HELP = ("Output CRS: EPSG:4326 (default, lon/lat), EPSG:3857 or EPSG:5899 (VN-2000 / TM-3 107-45); "
            "also urn:ogc:def:crs:EPSG::n or http://www.opengis.net/def/crs/EPSG/0/n")


def _crs_field(description: str = CRS_HELP, **kw):
    # The server also takes other spellings (lower case, versioned URNs); the document lists the usual ones.
    return f.String(load_default=None, metadata={"description": description, "example": "EPSG:5899",
                                                 "enum": crs.spellings()}, **kw)


def _lon():
    return f.Float(required=True, allow_nan=False,
                   validate=v.Range(crs.VIETNAM_LON[0], crs.VIETNAM_LON[1]),
                   metadata={"description": "Longitude (EPSG:4326), within Vietnam", "example": 107.07})


def _lat():
    return f.Float(required=True, allow_nan=False,
                   validate=v.Range(crs.VIETNAM_LAT[0], crs.VIETNAM_LAT[1]),
                   metadata={"description": "Latitude (EPSG:4326), within Vietnam", "example": 20.9517})


class CrsArgs(ma.Schema):
    crs = _crs_field()


def _at_field():
    return f.Date(load_default=None, metadata={
        "description": "Time travel: the register as it stood at the end of this day (YYYY-MM-DD); default now",
        "example": "2024-06-30"})


class LookupArgs(CrsArgs):
    at = _at_field()


class PagingArgs(ma.Schema):
    limit = f.Integer(load_default=100, validate=v.Range(1, 1000),
                      metadata={"description": "Page size (default 100, at most 1000)"})
    offset = f.Integer(load_default=0, validate=v.Range(0, 10_000_000),
                       metadata={"description": "How many matches to skip"})


class SearchArgs(PagingArgs):
    ward = f.String(load_default=None, validate=v.Regexp(r"^\d{5}$"),
                    metadata={"description": "Ward/commune code the parcel was registered under", "example": "06691"})
    sheet = f.Integer(load_default=None, validate=v.Range(1, 999_999), metadata={"description": "Map sheet number (số tờ)"})
    number = f.Integer(load_default=None, validate=v.Range(1, 9_999_999), metadata={"description": "Parcel number (số thửa)"})
    land_use = f.String(load_default=None, validate=v.Regexp(r"^[A-Za-z]{3}$"),
                        metadata={"description": "Land-use code (mã loại đất), e.g. ODT"})
    address = f.String(load_default=None, validate=v.Length(1, 200),
                       metadata={"description": "Words of the address, every one must match as a whole word, the last "
                                                "one as a prefix; case and diacritics are ignored ('ha long 25' "
                                                "finds '25 Hạ Long', 'ben doa' finds 'Bến Đoan'). With `at`, each "
                                                "word may be any part of the address"})
    certificate = f.String(load_default=None, validate=v.Regexp(r"^[A-Za-z]{2} ?(\d{6}|\d{8})$"),
                           metadata={"description": "Certificate serial (số phát hành), e.g. 'CS 123456'"})
    bbox = f.String(load_default=None, validate=v.Length(1, 200),
                    metadata={"description": "minx,miny,maxx,maxy (lon/lat unless bbox-crs says otherwise), "
                                             "min ≤ max, inside Vietnam (lon 102–110, lat 8–24)",
                              "example": "107.06,20.94,107.08,20.96",
                              "pattern": r"^-?[0-9]{1,9}(\.[0-9]{1,12})?(,-?[0-9]{1,9}(\.[0-9]{1,12})?){3}$"})
    bbox_crs = _crs_field("CRS of bbox, only given with a bbox; " + CRS_HELP, data_key="bbox-crs")
    crs = _crs_field()
    at = _at_field()


class AtArgs(ma.Schema):
    lon = _lon()
    lat = _lat()
    crs = _crs_field()
    at = _at_field()


class NearArgs(ma.Schema):
    lon = _lon()
    lat = _lat()
    radius = f.Float(load_default=100.0, allow_nan=False, validate=v.Range(0, MAX_RADIUS_M),
                     metadata={"description": f"Metres (default 100, at most {MAX_RADIUS_M:g})"})
    limit = f.Integer(load_default=10, validate=v.Range(1, 1000), metadata={"description": "At most this many (default 10)"})
    crs = _crs_field()
    at = _at_field()


class QueryBody(ma.Schema):
    geometry = f.Dict(required=True, metadata={
        "description": "A GeoJSON geometry (Point, LineString, Polygon or their Multi- forms), at most "
                       "10 000 vertices, valid (no self-intersections), in lon/lat unless `crs` says otherwise",
        "example": {"type": "Point", "coordinates": [107.07, 20.9517]}})
    predicate = f.String(load_default="intersects", validate=v.OneOf(list(PREDICATES)), metadata={
        "description": "intersects: parcels touching or overlapping the shape; within: parcels inside "
                       "it; contains: parcels containing it"})
    limit = f.Integer(load_default=100, validate=v.Range(1, 1000))
    offset = f.Integer(load_default=0, validate=v.Range(0, 10_000_000))
    crs = _crs_field("CRS of the posted geometry (default EPSG:4326)")


class WardsArgs(ma.Schema):
    at = f.Date(load_default=None, metadata={"description": "Only units valid on this date (YYYY-MM-DD)"})
    crs = _crs_field()


class StatsArgs(ma.Schema):
    ward = f.String(load_default=None, validate=v.Regexp(r"^\d{5}$"), metadata={"description": "Ward/commune code"})


class TransactionListArgs(ma.Schema):
    parcel = f.String(load_default=None, validate=v.Regexp(PARCEL_CODE_PATTERN), metadata={
        "description": "Only transactions that touched this parcel code", "example": "06691-12-345"})
    since = f.Date(load_default=None, metadata={"description": "Only those effective on or after this date"})
    after = f.Integer(load_default=None, validate=v.Range(0, MAX_SEQ), metadata={
        "description": "Only those after this journal seq (to follow the journal)"})
    limit = f.Integer(load_default=100, validate=v.Range(1, 1000), metadata={"description": "Page size (at most 1000)"})
    offset = f.Integer(load_default=0, validate=v.Range(0, 10_000_000), metadata={"description": "How many to skip"})


class PartiesArgs(ma.Schema):
    q = f.String(required=True, validate=v.Length(2, 100),
                 metadata={"description": "Name words (case and diacritics ignored) or an ID number"})
    limit = f.Integer(load_default=50, validate=v.Range(1, 200))
    offset = f.Integer(load_default=0, validate=v.Range(0, 10_000_000))


# --- responses ------------------------------------------------------------------------------------


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (extension members allowed)."""

    class Meta:
        unknown = ma.INCLUDE

    type = f.String(metadata={"description": "A URI for the kind of problem (about:blank)"})
    title = f.String()
    status = f.Integer()
    detail = f.String(metadata={"description": "What went wrong and what to change"})
    instance = f.String(allow_none=True)
    code = f.String(metadata={"description": "A stable machine-readable code"})
    field = f.String(allow_none=True, metadata={"description": "The parameter or member at fault"})
    errors = f.Dict(metadata={"description": "Validation messages per location and field"})


class Link(ma.Schema):
    href = f.String(required=True)
    rel = f.String(required=True)
    type = f.String()
    title = f.String()
    method = f.String(metadata={"description": "POST for the next page of /parcels/query"})
    body = f.Dict(metadata={"description": "The body to POST for that page"})


class ParcelProperties(ma.Schema):
    parcel_code = f.String(required=True, metadata={"example": "06691-12-345"})
    ward_code = f.String(required=True)
    ward_name = f.String(required=True)
    sheet_no = f.Integer(required=True)
    parcel_no = f.Integer(required=True)
    national_id = f.String(required=True, allow_none=True, metadata={"description": "mã định danh thửa đất (GeoHash)"})
    land_use = f.String(required=True)
    land_use_name = f.String(required=True, metadata={"description": "Vietnamese name of the land use"})
    legal_area_m2 = f.Float(required=True, metadata={"description": "Area on the certificate (diện tích pháp lý)"})
    area_m2 = f.Float(required=True, metadata={"description": "Geometric area in EPSG:5899"})
    address = f.String(required=True, allow_none=True)
    status = f.String(required=True, validate=v.OneOf(["current", "retired"]))
    valid_from = f.Date(required=True)
    valid_to = f.Date(required=True, allow_none=True)
    version = f.Integer(required=True)
    distance_m = f.Float(metadata={"description": "Only from /parcels/near: metres from the point"})


class Geometry(ma.Schema):
    type = f.String(required=True)
    coordinates = f.List(f.Raw(), required=True)


class ParcelFeature(ma.Schema):
    type = f.String(required=True, validate=v.Equal("Feature"))
    id = f.String(required=True)
    geometry = f.Nested(Geometry, required=True)
    properties = f.Nested(ParcelProperties, required=True)


class NamedCrs(ma.Schema):
    type = f.String()
    properties = f.Dict()


class ParcelCollection(ma.Schema):
    type = f.String(required=True, validate=v.Equal("FeatureCollection"))
    numberMatched = f.Integer(required=True)
    numberReturned = f.Integer(required=True)
    timeStamp = f.String()
    links = f.List(f.Nested(Link))
    crs = f.Nested(NamedCrs, metadata={"description": "Present when the coordinates are not lon/lat"})
    features = f.List(f.Nested(ParcelFeature), required=True)


class Transaction(ma.Schema):
    id = f.Integer(required=True)
    seq = f.Integer(allow_none=True)
    kind = f.String(required=True)
    effective_date = f.Date(required=True)
    registered_at = f.String(required=True)
    dossier_no = f.String(allow_none=True)
    hash = f.String(allow_none=True)
    role = f.String()


class Version(ma.Schema):
    version = f.Integer(required=True)
    valid_from = f.Date(required=True)
    valid_to = f.Date(allow_none=True)
    land_use = f.String(required=True)
    legal_area_m2 = f.Float(required=True)
    area_m2 = f.Float(required=True)
    address = f.String(allow_none=True)
    geometry = f.Nested(Geometry, required=True)
    opened_by = f.Nested(Transaction, required=True)
    closed_by = f.Nested(Transaction, allow_none=True)


class LineageLink(ma.Schema):
    parcel_code = f.String(required=True)
    kind = f.String(required=True, validate=v.OneOf(["split", "merge"]))
    transaction_id = f.Integer(required=True)


class History(ma.Schema):
    parcel_code = f.String(required=True)
    national_id = f.String(allow_none=True)
    registered_on = f.Date(required=True)
    retired_on = f.Date(allow_none=True)
    status = f.String(required=True)
    versions = f.List(f.Nested(Version), required=True)
    parents = f.List(f.Nested(LineageLink), required=True)
    children = f.List(f.Nested(LineageLink), required=True)
    transactions = f.List(f.Nested(Transaction), required=True)


class Party(ma.Schema):
    """A right holder; everything but `kind` only with the owners:read scope."""

    id = f.Integer()
    kind = f.String(required=True)
    full_name = f.String()
    id_kind = f.String(allow_none=True)
    id_number = f.String(allow_none=True)
    birth_year = f.Integer(allow_none=True)
    address = f.String(allow_none=True)


class Certificate(ma.Schema):
    serial = f.String(required=True)
    registry_no = f.String(allow_none=True)
    issued_on = f.Date(required=True)
    issued_by = f.String(allow_none=True)
    cancelled_on = f.Date(allow_none=True)


class RightItem(ma.Schema):
    id = f.Integer(required=True)
    kind = f.String(required=True)
    share = f.Float(allow_none=True)
    valid_from = f.Date(required=True)
    term_end = f.Date(allow_none=True)
    origin = f.String(allow_none=True)
    secured_amount_vnd = f.Float(allow_none=True)
    certificate = f.Nested(Certificate, allow_none=True)
    party = f.Nested(Party, required=True)


class Rights(ma.Schema):
    parcel_code = f.String(required=True)
    status = f.String(required=True)
    personal_data = f.Boolean(required=True, metadata={"description": "Whether holders' personal data is included"})
    rights = f.List(f.Nested(RightItem), required=True)
    restrictions = f.List(f.Nested(RightItem), required=True, metadata={"description": "Mortgages"})
    mortgaged = f.Boolean(required=True)


class HeldParcel(ma.Schema):
    parcel_code = f.String(required=True)
    kind = f.String(required=True)
    share = f.Float(allow_none=True)


class PartyFound(Party):
    parcels = f.List(f.Nested(HeldParcel), required=True)


class Parties(ma.Schema):
    numberMatched = f.Integer(required=True)
    numberReturned = f.Integer(required=True)
    parties = f.List(f.Nested(PartyFound), required=True)


class Succession(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    valid_from = f.Date(required=True)
    extent = f.String(required=True)
    effective_on = f.Date(required=True)


class WardProperties(ma.Schema):
    code = f.String(required=True)
    name = f.String(required=True)
    level = f.String(required=True)
    parent_code = f.String(allow_none=True)
    valid_from = f.Date(required=True)
    valid_to = f.Date(allow_none=True)
    current = f.Boolean(required=True)
    parcel_count = f.Integer(required=True)
    predecessors = f.List(f.Nested(Succession), required=True)
    successors = f.List(f.Nested(Succession), required=True)


class WardFeature(ma.Schema):
    type = f.String(required=True, validate=v.Equal("Feature"))
    id = f.String(required=True, metadata={"description": "code@valid_from: codes are reused across periods"})
    geometry = f.Nested(Geometry, required=True, allow_none=True)
    properties = f.Nested(WardProperties, required=True)


class WardCollection(ma.Schema):
    type = f.String(required=True, validate=v.Equal("FeatureCollection"))
    numberReturned = f.Integer(required=True)
    crs = f.Nested(NamedCrs)
    features = f.List(f.Nested(WardFeature), required=True)


class LandUseRow(ma.Schema):
    land_use = f.String(required=True)
    land_use_name = f.String(required=True)
    land_use_name_en = f.String(required=True)
    category = f.String(required=True)
    parcels = f.Integer(required=True)
    legal_area_m2 = f.Float(required=True)
    area_m2 = f.Float(required=True)


class LandUseStats(ma.Schema):
    ward = f.String(allow_none=True)
    parcels = f.Integer(required=True)
    legal_area_m2 = f.Float(required=True)
    area_m2 = f.Float(required=True)
    land_use = f.List(f.Nested(LandUseRow), required=True)
