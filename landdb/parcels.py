"""Parcel queries — thửa đất: lookup, search, spatial, history, rights, parties, wards, statistics.

Each query is one parameterised SQL statement that filters with an index and builds its JSON in
PostGIS (ST_AsGeoJSON, row_to_json, json_build_object, json_agg). Collections come back as a
`FeatureStream`: the count is read first (so a failing statement fails before any byte is
sent), then the features arrive as ready-made GeoJSON text in batches from a server-side
cursor. Python never loops over features to serialise them; it only joins the texts (as the
UTF-8 bytes PostgreSQL sent).

Coordinates: stored in EPSG:5899; `srid` picks the output CRS (4326, 3857 or 5899) and the
number of decimals (7 for degrees ≈ 1 cm, 3 for metres = 1 mm).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from pygeofilter import ast as pygeofilter_ast

from . import crs as crs_
from . import prepared, query, timetravel
from .geojson import check_geometry
from .errors import InvalidInput, NotFound
from .query import PARCELS, Bbox, FeatureQuery, GeometryLiteral
from .query.renderers import geojson_sql
from .query.types import PARCEL_JOINS, parcel_columns

PARCEL_CODE = re.compile(r"^(\d{5})-(\d{1,6})-(\d{1,7})$")
WARD_CODE = re.compile(r"^\d{5}$")
LAND_USE = re.compile(r"^[A-Za-z]{3}$")
SERIAL = re.compile(r"^([A-Za-z]{2})\s*(\d{6}|\d{8})$")
#: /parcels/query's predicates: the parcel (left) related to the posted geometry (right).
PREDICATES = {"intersects": pygeofilter_ast.GeometryIntersects, "within": pygeofilter_ast.GeometryWithin,
              "contains": pygeofilter_ast.GeometryContains}
NATIONAL_ID = re.compile(r"^[0-9b-hjkmnp-z]{12}$")
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
#: A posted geometry may have at most this many vertices.
MAX_VERTICES = 10_000
#: /parcels/near: the largest radius, in metres.
MAX_RADIUS_M = 2_000.0


def digits(srid: int) -> int:
    """Decimals that keep ~1 cm in degrees and 1 mm in metres."""
    return 7 if srid == 4326 else 3


@dataclass
class FeatureStream:
    """A page of features: counts known up front (`matched` None: more than the count limit),
    the features as chunks of comma-separated GeoJSON Feature texts in UTF-8 bytes (a list when
    the page was read whole, else an iterator over a server-side cursor)."""

    matched: int | None
    returned: int
    chunks: Iterable[bytes] = field(repr=False)

    def features(self) -> list[dict]:
        """The features parsed (reads the stream)."""
        body = b"".join(self.chunks)
        return json.loads(b"[" + body + b"]") if body else []


#: What the REST API shows of a parcel, in order (the feature type's properties by name).
REST_PROPERTIES = ["parcel_code", "ward_code", "ward_name", "sheet_no", "parcel_no", "national_id", "land_use",
                   "land_use_name", "legal_area_m2", "area_m2", "address", "status", "valid_from", "valid_to",
                   "version", "geometry"]


def _rest_query(srid: int, at: dt.date | None, limit: int, offset: int) -> FeatureQuery:
    return FeatureQuery(PARCELS, at=at, properties=list(REST_PROPERTIES), count=int(limit), start=int(offset),
                        srid=srid)


def _run(session: Session, q: FeatureQuery, count_limit: int | None) -> FeatureStream:
    """Render the REST page of `q` through the core: GeoJSON with the parcel code as id."""
    member = geojson_sql(q, id_style="code", digits=digits(q.srid))
    matched, chunks = query.render(session, q, "geojson", member=member, separator=",", count_limit=count_limit)
    if matched is None:
        returned = q.count or 0
    else:
        returned = max(0, min(q.count if q.count is not None else matched, matched - q.start))
    return FeatureStream(matched, returned, chunks)


def _out(srid: int) -> dict:
    return {"srid": srid, "digits": digits(srid)}


# --- one parcel ---------------------------------------------------------------------------------


def _scalar(session: Session, sql: str, params: dict, *, generic: bool = False):
    """The first column of the first row (or None): as a prepared statement when the session
    runs outside a transaction, where planning would cost more than running a one-parcel query."""
    rows = prepared.fetch(session, sql, params, generic=generic)
    return rows[0][0] if rows else None


def parse_code(code: str) -> tuple[str, int, int]:
    """`06691-12-345` → ('06691', 12, 345); InvalidInput when malformed."""
    m = PARCEL_CODE.match(code or "")
    if not m:
        raise InvalidInput(
            f"parcel code {code[:40]!r} is malformed: expected ward-sheet-number, e.g. 06691-12-345",
            field="parcel_code",
        )
    return m.group(1), int(m.group(2)), int(m.group(3))


#: The parcel a code names: the active one, else the most recently retired.
_TARGET = """
SELECT p.* FROM parcels p WHERE p.parcel_code = :code
 ORDER BY (p.retired_on IS NULL) DESC, p.id DESC LIMIT 1
"""


def _lookup_feature(srid: int) -> str:
    """SQL of the REST GeoJSON Feature of the row `f` (see `query.types.parcel_columns`)."""
    return geojson_sql(_rest_query(srid, None, 1, 0), id_style="code", digits=digits(srid))


@lru_cache(maxsize=None)
def _get_sql(at: bool, srid: int) -> str:
    """The statement of `get_parcel`: `:code` (and `:at`) bound."""
    if at:
        return f"""
        SELECT {_lookup_feature(srid)} FROM (
          SELECT {parcel_columns(timetravel.parcel_status("p", "at"))}
            FROM (SELECT p.* FROM parcels p WHERE p.parcel_code = :code AND {timetravel.parcel_existed_at("p")}
                   ORDER BY p.id DESC LIMIT 1) p
            JOIN parcel_versions v ON v.parcel_id = p.id AND {timetravel.valid_at("v")}
            {PARCEL_JOINS}) f
        """
    return f"""
    SELECT {_lookup_feature(srid)} FROM (
      SELECT {parcel_columns(timetravel.parcel_status("p"))} FROM ({_TARGET}) p
        JOIN LATERAL (SELECT * FROM parcel_versions v WHERE v.parcel_id = p.id
                       ORDER BY v.version DESC LIMIT 1) v ON true
        {PARCEL_JOINS}) f
    """


def get_parcel(session: Session, code: str, srid: int = 4326, at: dt.date | None = None) -> str:
    """One parcel (its latest version, or with `at` the version valid that day) as GeoJSON
    Feature text. Raises NotFound."""
    parse_code(code)
    if at is not None:
        row = _scalar(session, _get_sql(True, srid), {"code": code, "at": at})
        if row is None:
            raise NotFound(f"no parcel {code} on {at}", field="parcel_code")
        return row
    row = _scalar(session, _get_sql(False, srid), {"code": code})
    if row is None:
        raise NotFound(f"no parcel {code}", field="parcel_code")
    return row


_POINT = "ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 5899)"


@lru_cache(maxsize=None)
def _at_sql(at: bool, srid: int) -> str:
    """The statement of `parcel_at`: the serving layer now, the versioned register on a day."""
    source = PARCELS.at_sql if at else PARCELS.current_sql
    return f"""
    SELECT {_lookup_feature(srid)} FROM {source}
     WHERE ST_Intersects(f.geom, {_POINT}) ORDER BY f.parcel_code LIMIT 1
    """


def parcel_at(session: Session, lon: float, lat: float, srid: int = 4326, at: dt.date | None = None) -> str:
    """The current parcel (or with `at` the one that day) containing (lon, lat) (EPSG:4326) as
    Feature text. Raises NotFound."""
    crs_.check_lonlat(lon, lat)
    params = {"lon": lon, "lat": lat} if at is None else {"lon": lon, "lat": lat, "at": at}
    # The planner prices the generic plan (GiST scan around a parameter point) far above the
    # custom ones, so it would plan every run; it is the same plan and as fast.
    row = _scalar(session, _at_sql(at is not None, srid), params, generic=True)
    if row is None:
        raise NotFound(f"no parcel at longitude {lon}, latitude {lat}")
    return row


# --- collections ---------------------------------------------------------------------------------


@dataclass
class SearchFilters:
    """What /parcels filters on; every member optional."""

    ward: str | None = None
    sheet: int | None = None
    number: int | None = None
    land_use: str | None = None
    address: str | None = None
    certificate: str | None = None
    #: the national parcel ID (mã định danh thửa đất, 12-character GeoHash).
    national_id: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int = 4326


def _like_words(value: str) -> list[str]:
    """Words of a free-text filter, escaped for LIKE (all must match)."""
    words = [w for w in re.split(r"[\s,;]+", value.strip()) if w]
    return [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words[:8]]


def _address_filter(session: Session, q: FeatureQuery, address: str, at: dt.date | None) -> None:
    """Every word of `address` in the parcel's address, ignoring case and diacritics.

    Today's parcels: whole words, the last one as a prefix (`ben doa` finds "Bến Đoan"), through
    the serving layer's word index (`address_words`, migration 0009). A past day's parcels are
    read from the versioned register, which has no such column: each word anywhere in the
    address, as before."""
    if at is None:
        words = words_query(session, address)
        if words is None:
            raise InvalidInput("address: give at least one word", field="address")
        q.add("f.address_words @@ to_tsquery('simple', :addr_words)", addr_words=words)
        # A street's parcels lie in one ward: the word index then the sort, never the code-order walk.
        q.sort_from_index = False
        return
    words = _like_words(address)
    if not words:
        raise InvalidInput("address: give at least one word", field="address")
    for i, w in enumerate(words):
        q.add(f"landdb_fold(f.address) LIKE '%' || landdb_fold(:addr{i}) || '%'", **{f"addr{i}": w})


def normalize_serial(value: str) -> str:
    m = SERIAL.match(value.strip())
    if not m:
        raise InvalidInput("certificate: expected a serial like 'CS 123456' or 'AA 06654954'", field="certificate")
    return f"{m.group(1).upper()} {m.group(2)}"


def search_parcels(session: Session, f: SearchFilters, *, limit: int = 100, offset: int = 0,
                   srid: int = 4326, at: dt.date | None = None, count_limit: int | None = None) -> FeatureStream:
    """Current parcels (or with `at` those of that day) matching every filter given, by code.

    numberMatched follows the WFS's rule: a short (last) page is never counted, a full one is
    counted up to `count_limit` and "unknown" (None) past it."""
    q = _rest_query(srid, at, limit, offset)
    q.sort = [("ward_code", False), ("sheet_no", False), ("parcel_no", False)]
    if f.ward is not None:
        if not WARD_CODE.match(f.ward):
            raise InvalidInput("ward: expected a 5-digit ward code, e.g. 06691", field="ward")
        q.add("f.ward_code = :ward", ward=f.ward)
    if f.sheet is not None:
        q.add("f.sheet_no = :sheet", sheet=f.sheet)
    if f.number is not None:
        q.add("f.parcel_no = :number", number=f.number)
    if f.land_use is not None:
        if not LAND_USE.match(f.land_use):
            raise InvalidInput("land_use: expected a 3-letter land-use code, e.g. ODT", field="land_use")
        q.add("f.land_use = :land_use", land_use=f.land_use.upper())
    if f.address is not None:
        _address_filter(session, q, f.address, at)
    if f.certificate is not None:
        rights_valid, _ = timetravel.version_filter("r", at)
        q.add("f.parcel_id IN (SELECT r.parcel_id FROM certificates c JOIN rights r ON r.certificate_id = c.id"
              f" WHERE c.serial = :serial AND {rights_valid})", serial=normalize_serial(f.certificate))
    if f.national_id is not None:
        if not NATIONAL_ID.match(f.national_id):
            raise InvalidInput("national_id: expected a 12-character GeoHash, e.g. w7sphqjurf6e", field="national_id")
        q.add("f.national_id = :nid", nid=f.national_id)
    if f.bbox is not None:
        q.bbox = Bbox(*f.bbox, srid=f.bbox_srid)
    return _run(session, q, count_limit)


def parcels_near(session: Session, lon: float, lat: float, *, radius: float = 100.0, limit: int = 10,
                 srid: int = 4326, at: dt.date | None = None) -> FeatureStream:
    """Current parcels within `radius` metres of (lon, lat), nearest first, with `distance_m`."""
    crs_.check_lonlat(lon, lat)
    if not (math.isfinite(radius) and 0 <= radius <= MAX_RADIUS_M):
        raise InvalidInput(f"radius: must be between 0 and {MAX_RADIUS_M:g} metres", field="radius")
    q = _rest_query(srid, at, limit, 0)
    q.computed = [("distance_m", f"round(ST_Distance(f.geom, {_POINT})::numeric, 2)")]
    q.sort = [("distance_m", False), ("parcel_code", False)]
    q.add(f"ST_DWithin(f.geom, {_POINT}, :radius)", lon=lon, lat=lat, radius=radius)
    return _run(session, q, None)


def parse_geometry(geometry: object, srid: int = 4326):
    """A posted GeoJSON geometry → a valid shapely geometry in CRS `srid`.

    Raises InvalidInput (status 422) saying why: not GeoJSON, unsupported type, too many
    vertices, empty, invalid (self-intersection, with where), or outside Vietnam.
    """
    import shapely
    from shapely.geometry import shape

    def bad(msg: str) -> InvalidInput:
        return InvalidInput(f"geometry: {msg}", field="geometry", details={"status": 422})

    check_geometry(geometry, types=GEOMETRY_TYPES, max_vertices=MAX_VERTICES)
    try:
        g = shape(geometry)
    except Exception:  # the structure was checked; anything left is still the client's input
        raise bad("malformed coordinates; see RFC 7946 section 3.1 for each type's nesting") from None
    if g.is_empty:
        raise bad("the geometry is empty")
    n = shapely.get_num_coordinates(g)
    if n > MAX_VERTICES:
        raise bad(f"{n} vertices; at most {MAX_VERTICES} are accepted")
    coords = shapely.get_coordinates(g)
    if not all(math.isfinite(c) for c in coords.ravel()):
        raise bad("coordinates must be finite numbers")
    if shapely.get_coordinate_dimension(g) > 2:
        g = shapely.force_2d(g)
    reason = shapely.is_valid_reason(g)
    if reason != "Valid Geometry":
        raise bad(f"invalid geometry: {reason}")
    x0, y0, x1, y1 = g.bounds
    if srid != 4326:
        corners = [crs_.transform(x, y, srid, 4326) for x in (x0, x1) for y in (y0, y1)]
        x0, y0 = min(c[0] for c in corners), min(c[1] for c in corners)
        x1, y1 = max(c[0] for c in corners), max(c[1] for c in corners)
    if not (crs_.in_vietnam(x0, y0) and crs_.in_vietnam(x1, y1)):
        raise bad("coordinates lie outside Vietnam" + (" (give longitude first, in degrees)" if srid == 4326 else ""))
    return g


def query_parcels(session: Session, geometry, predicate: str = "intersects", *, geometry_srid: int = 4326,
                  limit: int = 100, offset: int = 0, srid: int = 4326, at: dt.date | None = None,
                  count_limit: int | None = None) -> FeatureStream:
    """Current parcels related to a (validated, shapely) geometry by `predicate`, ordered by code.

    intersects: parcels touching or overlapping it; within: parcels inside it; contains: parcels
    that contain it.
    """
    import shapely

    op = PREDICATES.get(predicate)
    if op is None:
        raise InvalidInput(f"predicate: one of {', '.join(PREDICATES)}", field="predicate", details={"status": 422})
    q = _rest_query(srid, at, limit, offset)
    q.sort = [("parcel_code", False)]
    literal = GeometryLiteral("wkb", shapely.to_wkb(geometry, hex=True), geometry_srid)
    q.filter = op(pygeofilter_ast.Attribute(PARCELS.geometry_name), literal)
    return _run(session, q, count_limit)


# --- history, rights ------------------------------------------------------------------------------

_TX = """CASE WHEN {t}.id IS NULL THEN NULL ELSE json_build_object(
  'id', {t}.id, 'seq', {t}.seq, 'kind', {t}.kind, 'effective_date', {t}.effective_date,
  'registered_at', {t}.registered_at{dossier}, 'hash', {t}.hash) END"""


def parcel_history(session: Session, code: str, srid: int = 4326, *, detail: str = "public") -> str:
    """A parcel's versions, the transactions that made them and its lineage, as JSON text.

    Journal payloads and actors are left out: they may name people. Dossier numbers only for a
    `detail` that shows them (transactions.shows_dossier: rights:read), as everywhere else.
    """
    from .transactions import shows_dossier

    parse_code(code)
    dossier = ", 'dossier_no', {t}.dossier_no" if shows_dossier(detail) else ""
    tx = _TX.replace("{dossier}", dossier)
    sql = f"""
    SELECT json_build_object(
      'parcel_code', t.parcel_code, 'national_id', t.national_id,
      'registered_on', t.registered_on, 'retired_on', t.retired_on,
      'status', CASE WHEN t.retired_on IS NULL THEN 'current' ELSE 'retired' END,
      'versions', (SELECT json_agg(json_build_object(
           'version', v.version, 'valid_from', v.valid_from, 'valid_to', v.valid_to,
           'land_use', v.land_use, 'legal_area_m2', v.legal_area_m2,
           'area_m2', round(ST_Area(v.geom)::numeric, 1), 'address', v.address,
           'geometry', ST_AsGeoJSON(ST_Transform(v.geom, CAST(:srid AS integer)), CAST(:digits AS integer), 0)::json,
           'opened_by', {tx.format(t='o')}, 'closed_by', {tx.format(t='c')}) ORDER BY v.version)
         FROM parcel_versions v JOIN transactions o ON o.id = v.opened_by_tx
         LEFT JOIN transactions c ON c.id = v.closed_by_tx WHERE v.parcel_id = t.id),
      'parents', (SELECT coalesce(json_agg(json_build_object('parcel_code', x.parcel_code, 'kind', l.kind,
           'transaction_id', l.transaction_id) ORDER BY x.parcel_code), '[]')
         FROM parcel_lineage l JOIN parcels x ON x.id = l.parent_id WHERE l.child_id = t.id),
      'children', (SELECT coalesce(json_agg(json_build_object('parcel_code', x.parcel_code, 'kind', l.kind,
           'transaction_id', l.transaction_id) ORDER BY x.parcel_code), '[]')
         FROM parcel_lineage l JOIN parcels x ON x.id = l.child_id WHERE l.parent_id = t.id),
      'transactions', (SELECT coalesce(json_agg(json_build_object(
           'id', x.id, 'seq', x.seq, 'kind', x.kind, 'effective_date', x.effective_date,
           'registered_at', x.registered_at{dossier.format(t='x')}, 'hash', x.hash, 'role', x.role)
           ORDER BY x.seq NULLS LAST, x.id), '[]')
         FROM (SELECT DISTINCT ON (tx.id) tx.*, tp.role FROM (
                 SELECT transaction_id AS id, role FROM transaction_parcels WHERE parcel_id = t.id
                 UNION ALL SELECT opened_by_tx, 'subject' FROM parcel_versions WHERE parcel_id = t.id
                 UNION ALL SELECT closed_by_tx, 'subject' FROM parcel_versions
                            WHERE parcel_id = t.id AND closed_by_tx IS NOT NULL) tp
               JOIN transactions tx ON tx.id = tp.id ORDER BY tx.id, tp.role) x)
    )::text FROM ({_TARGET}) t
    """
    row = _scalar(session, sql, {"code": code, **_out(srid)})
    if row is None:
        raise NotFound(f"no parcel {code}", field="parcel_code")
    return row


@dataclass
class RightsRead:
    """The rights document and, for the access log, whose personal data it carries."""

    body: str
    parcel_id: int
    party_ids: list[int]


def parcel_rights(session: Session, code: str, *, personal: bool, at: dt.date | None = None) -> RightsRead:
    """Current rights and restrictions (mortgages) of a parcel with their certificates — or with
    `at` those valid that day, of the parcel with that code that day — as JSON text.

    With `personal` the holders' names, ID numbers, birth years and addresses are included;
    without it only each holder's kind (and the right's share) — nothing that identifies a person.
    A certificate cancelled after `at` shows as it stood then (not cancelled). Raises NotFound.
    """
    parse_code(code)
    rights_valid, params = timetravel.version_filter("r", at)
    if at is None:
        target, status = _TARGET, timetravel.parcel_status("t")
    else:
        target = (f"SELECT p.* FROM parcels p WHERE p.parcel_code = :code AND {timetravel.parcel_existed_at('p')}"
                  " ORDER BY p.id DESC LIMIT 1")
        status = timetravel.parcel_status("t", "at")
    cancelled = "c.cancelled_on" if at is None else "CASE WHEN c.cancelled_on <= :at THEN c.cancelled_on END"
    party = (
        "json_build_object('id', q.id, 'kind', q.kind, 'full_name', q.full_name, 'id_kind', q.id_kind,"
        " 'id_number', q.id_number, 'birth_year', q.birth_year, 'address', q.address)"
        if personal else "json_build_object('kind', q.kind)"
    )
    item = f"""json_build_object('id', r.id, 'kind', r.kind, 'share', r.share, 'valid_from', r.valid_from,
        'term_end', r.term_end, 'origin', r.origin, 'secured_amount_vnd', r.secured_amount_vnd,
        'certificate', CASE WHEN c.id IS NULL THEN NULL ELSE json_build_object('serial', c.serial,
            'registry_no', c.registry_no, 'issued_on', c.issued_on, 'issued_by', c.issued_by,
            'cancelled_on', {cancelled}) END,
        'party', {party})"""
    sql = f"""
    WITH t AS ({target}),
    cur AS (SELECT r.*, {item} AS doc FROM t JOIN rights r ON r.parcel_id = t.id
              JOIN parties q ON q.id = r.party_id LEFT JOIN certificates c ON c.id = r.certificate_id
             WHERE {rights_valid})
    SELECT json_build_object(
      'parcel_code', t.parcel_code,
      'status', {status},
      'personal_data', CAST(:personal AS boolean),
      'rights', (SELECT coalesce(json_agg(doc ORDER BY kind, id), '[]') FROM cur WHERE kind <> 'mortgage'),
      'restrictions', (SELECT coalesce(json_agg(doc ORDER BY valid_from, id), '[]') FROM cur WHERE kind = 'mortgage'),
      'mortgaged', EXISTS (SELECT 1 FROM cur WHERE kind = 'mortgage')
    )::text AS body, t.id AS parcel_id,
    (SELECT coalesce(array_agg(DISTINCT party_id), '{{}}') FROM cur) AS party_ids
    FROM t
    """
    row = session.execute(text(sql), {"code": code, "personal": personal, **params}).one_or_none()
    if row is None:
        raise NotFound(f"no parcel {code}" + (f" on {at}" if at else ""), field="parcel_code")
    return RightsRead(row.body, row.parcel_id, list(row.party_ids))


# --- parties -----------------------------------------------------------------------------------------


@dataclass
class PartiesRead:
    body: str
    parcel_ids: list[int]
    party_ids: list[int]


def search_parties(session: Session, q: str, *, limit: int = 50, offset: int = 0,
                   count_limit: int | None = None) -> PartiesRead:
    """Parties (personal data!) whose ID number equals `q` or whose name has all its words,
    ignoring case and diacritics (the last word may be the start of one: "nguyen van a" finds
    "Nguyễn Văn An"), in name order; each with the parcels they hold rights on now.

    Matches are counted up to `count_limit` (None: all); past it numberMatched is null."""
    q = (q or "").strip()
    if len(q) < 2:
        raise InvalidInput("q: give at least two characters of a name or an ID number", field="q")
    params: dict = {"limit": limit, "offset": offset}
    if re.fullmatch(r"[0-9A-Za-z\-/]{6,20}", q) and any(ch.isdigit() for ch in q):
        where = "q.id_number = :idn"
        params["idn"] = q
    else:
        words = words_query(session, q)
        if words is None:
            return PartiesRead('{"numberMatched":0,"numberReturned":0,"parties":[]}', [], [])
        where = "q.name_words @@ to_tsquery('simple', :words)"
        params["words"] = words
    # The page and the count are separate queries over the same predicate, each able to stop
    # early: the page's ids come from a walk of (full_name, id) that carries the words (an
    # index-only scan) for a common name, from the GIN index for a rare one; the count stops
    # past count_limit.
    counted = "" if count_limit is None else "LIMIT :count_cap"
    if count_limit is not None:
        params.update(count_cap=count_limit + 1, count_limit=count_limit)
    matched = ("(SELECT CASE WHEN " + ("n > :count_limit" if count_limit is not None else "false")
               + f" THEN NULL ELSE n END FROM (SELECT count(*) AS n FROM (SELECT 1 FROM parties q WHERE {where}"
               f" {counted}) c) k)")
    sql = f"""
    WITH ids AS MATERIALIZED (SELECT q.id FROM parties q WHERE {where}
                               ORDER BY q.full_name, q.id LIMIT :limit OFFSET :offset),
    page AS MATERIALIZED (SELECT q.id, q.kind, q.full_name, q.id_kind, q.id_number, q.birth_year, q.address
                            FROM ids JOIN parties q ON q.id = ids.id),
    held AS (SELECT r.party_id, p.id AS parcel_id, json_agg(json_build_object('parcel_code', p.parcel_code,
                    'kind', r.kind, 'share', r.share) ORDER BY p.parcel_code) AS parcels
               FROM page JOIN rights r ON r.party_id = page.id AND r.valid_to IS NULL
               JOIN parcels p ON p.id = r.parcel_id GROUP BY r.party_id, p.id)
    SELECT json_build_object(
      'numberMatched', {matched},
      'numberReturned', (SELECT count(*) FROM page),
      'parties', (SELECT coalesce(json_agg(json_build_object('id', page.id, 'kind', page.kind,
            'full_name', page.full_name, 'id_kind', page.id_kind, 'id_number', page.id_number,
            'birth_year', page.birth_year, 'address', page.address,
            'parcels', (SELECT coalesce(json_agg(e ORDER BY e->>'parcel_code'), '[]')
                          FROM held, json_array_elements(held.parcels) e WHERE held.party_id = page.id))
            ORDER BY page.full_name, page.id), '[]') FROM page)
    )::text AS body,
    (SELECT coalesce(array_agg(DISTINCT parcel_id), '{{}}') FROM held) AS parcel_ids,
    (SELECT coalesce(array_agg(id), '{{}}') FROM page) AS party_ids
    """
    row = session.execute(text(sql), params).one()
    return PartiesRead(row.body, list(row.parcel_ids), list(row.party_ids))


def words_query(session: Session, q: str) -> str | None:
    """The text search query (tsquery text) of the words in `q`, folded and split by the
    database exactly as `parties.name_words` and `parcel_features.address_words` are, all
    required, the last as a prefix; None when `q` has no word.

    Computed apart so the page's statement carries it as a constant: the planner then estimates
    how common the words are and picks the name-order walk or the word index."""
    lexemes = session.execute(text(
        "SELECT lexeme, positions[array_upper(positions, 1)] AS last"
        " FROM unnest(to_tsvector('simple', landdb_fold(:q))) ORDER BY last"), {"q": q}).all()
    if not lexemes:
        return None
    quoted = ["'" + row.lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for row in lexemes[-16:]]
    quoted[-1] += ":*"
    return " & ".join(quoted)


# --- wards, statistics -----------------------------------------------------------------------------


#: Current parcels registered under unit `u` (the partial index on ward_code finds them).
_WARD_COUNT = "(SELECT count(*) FROM parcels p WHERE p.ward_code = u.code AND p.ward_id = u.id AND p.retired_on IS NULL)"


def _ward_feature(parcel_count: str = _WARD_COUNT) -> str:
    return (
        """'{"type":"Feature","id":' || to_json(u.code || '@' || u.valid_from)::text"""
        """ || ',"geometry":' || coalesce(ST_AsGeoJSON(ST_Transform(u.geom, :srid), :digits, 0), 'null')"""
        """ || ',"properties":' || json_build_object('code', u.code, 'name', u.name, 'level', u.level,"""
        """ 'parent_code', u.parent_code, 'valid_from', u.valid_from, 'valid_to', u.valid_to,"""
        """ 'current', u.valid_to IS NULL OR u.valid_to > current_date,"""
        """ 'parcel_count', """ + parcel_count + ""","""
        """ 'predecessors', (SELECT coalesce(json_agg(json_build_object('code', a.code, 'name', a.name,"""
        """     'valid_from', a.valid_from, 'extent', s.extent, 'effective_on', s.effective_on) ORDER BY a.code), '[]')"""
        """   FROM admin_unit_successions s JOIN admin_units a ON a.id = s.predecessor_id WHERE s.successor_id = u.id),"""
        """ 'successors', (SELECT coalesce(json_agg(json_build_object('code', a.code, 'name', a.name,"""
        """     'valid_from', a.valid_from, 'extent', s.extent, 'effective_on', s.effective_on) ORDER BY a.code), '[]')"""
        """   FROM admin_unit_successions s JOIN admin_units a ON a.id = s.successor_id WHERE s.predecessor_id = u.id)"""
        """)::text || '}'"""
    )


_VALID_AT = "(CAST(:at AS date) IS NULL OR (u.valid_from <= :at AND (u.valid_to IS NULL OR u.valid_to > :at)))"


def list_wards(session: Session, *, at: dt.date | None = None, srid: int = 4326) -> str:
    """Wards and communes (every period, or those valid on `at`) as FeatureCollection text."""
    sql = f"""
    SELECT '{{"type":"FeatureCollection","numberReturned":' || count(*) || ',"features":['
           || coalesce(string_agg(f, ',' ORDER BY code, valid_from), '') || ']}}'
      FROM (SELECT u.code, u.valid_from, {_ward_feature("coalesce(n.parcels, 0)")} AS f FROM admin_units u
              LEFT JOIN (SELECT ward_id, count(*) AS parcels FROM parcels WHERE retired_on IS NULL
                          GROUP BY ward_id) n ON n.ward_id = u.id
             WHERE u.level IN ('ward', 'commune') AND {_VALID_AT}) x
    """
    return session.execute(text(sql), {"at": at, **_out(srid)}).scalar_one()


def get_ward(session: Session, code: str, *, at: dt.date | None = None, srid: int = 4326) -> str:
    """The unit with `code` valid on `at` (default: today, else its latest period) as Feature text."""
    if not WARD_CODE.match(code or ""):
        raise InvalidInput("ward code: expected 5 digits, e.g. 06691", field="code")
    sql = f"""
    SELECT {_ward_feature()} FROM admin_units u
     WHERE u.code = :code AND u.level IN ('ward', 'commune') AND {_VALID_AT}
     ORDER BY (u.valid_to IS NULL OR u.valid_to > current_date) DESC, u.valid_from DESC LIMIT 1
    """
    row = session.execute(text(sql), {"code": code, "at": at, **_out(srid)}).scalar()
    if row is None:
        raise NotFound(f"no ward or commune {code}" + (f" on {at}" if at else ""), field="code")
    return row


def land_use_stats(session: Session, ward: str | None = None) -> str:
    """Current parcels' count, legal and geometric area per land-use code (in one ward or all)."""
    if ward is not None and not WARD_CODE.match(ward):
        raise InvalidInput("ward: expected a 5-digit ward code, e.g. 06691", field="ward")
    sql = """
    WITH s AS (SELECT v.land_use, count(*) AS n, sum(v.legal_area_m2) AS legal, sum(ST_Area(v.geom)) AS area
                 FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id
                WHERE v.valid_to IS NULL AND p.retired_on IS NULL
                  AND (CAST(:ward AS text) IS NULL OR p.ward_code = :ward)
                GROUP BY v.land_use)
    SELECT json_build_object(
      'ward', CAST(:ward AS text),
      'parcels', coalesce((SELECT sum(n) FROM s), 0),
      'legal_area_m2', coalesce((SELECT sum(legal) FROM s), 0),
      'area_m2', coalesce((SELECT round(sum(area)::numeric, 1) FROM s), 0),
      'land_use', (SELECT coalesce(json_agg(json_build_object('land_use', s.land_use, 'land_use_name', lu.name_vi,
           'land_use_name_en', lu.name_en, 'category', lu.category, 'parcels', s.n, 'legal_area_m2', s.legal,
           'area_m2', round(s.area::numeric, 1)) ORDER BY s.land_use), '[]')
         FROM s JOIN land_use_codes lu ON lu.code = s.land_use)
    )::text, CAST(:ward AS text) IS NULL OR EXISTS (SELECT 1 FROM admin_units WHERE code = :ward)
    """
    body, known = session.execute(text(sql), {"ward": ward}).one()
    if not known:
        raise NotFound(f"no ward or commune {ward}", field="ward")
    return body
