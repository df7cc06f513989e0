"""Acceptance on the Hạ Long sample: for 30 sampled parcels, every way of finding a parcel finds
it; coordinates are exact in EPSG:5899 and agree with pyproj in EPSG:4326; public responses
never carry a party's name or ID number, an officer's do and are logged."""

from __future__ import annotations

import json
import math

import pytest
from pyproj import Transformer
from sqlalchemy import select, text

from landdb.models import PersonalDataAccess

from .conftest import bearer

#: VN-2000 / TM-3 107-45 with the 7-parameter shift to WGS 84 (DOMAIN.md).
VN2000 = ("+proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 "
          "+towgs84=-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372,0.252906278 "
          "+units=m +no_defs")
N = 30


@pytest.fixture
def sample(session):
    """30 current sample parcels picked by a fixed hash, with an interior point and exact geometry."""
    rows = session.execute(text("""
        SELECT p.id, p.parcel_code, ST_AsGeoJSON(v.geom, 15) AS geom5899,
               ST_X(ST_Transform(pt, 4326)) AS lon, ST_Y(ST_Transform(pt, 4326)) AS lat
          FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL,
               LATERAL (SELECT ST_PointOnSurface(v.geom) AS pt) s
         WHERE p.retired_on IS NULL
         ORDER BY md5(p.parcel_code || 'seed-7') LIMIT :n"""), {"n": N}).mappings().all()
    assert len(rows) == N, "the sample data should be loaded"
    return rows


def _coords(geometry) -> list[tuple[float, float]]:
    return [tuple(c) for poly in geometry["coordinates"] for ring in poly for c in ring]


def test_every_way_of_finding_a_parcel_finds_it(api, session, sample):
    for p in sample:
        code = p["parcel_code"]
        assert api.get(f"/api/v1/parcels/{code}").json["id"] == code
        at = api.get("/api/v1/parcels/at", query_string={"lon": p["lon"], "lat": p["lat"]})
        assert at.status_code == 200 and at.json["id"] == code
        near = api.get("/api/v1/parcels/near", query_string={"lon": p["lon"], "lat": p["lat"], "radius": 50}).json
        first = near["features"][0]
        assert first["id"] == code and first["properties"]["distance_m"] == 0
        assert all(f["properties"]["distance_m"] > 0 for f in near["features"][1:])
        expected = set(session.execute(text("""
            SELECT q.parcel_code FROM parcels q JOIN parcel_versions w ON w.parcel_id = q.id AND w.valid_to IS NULL
             WHERE ST_Intersects(w.geom, (SELECT geom FROM parcel_versions WHERE parcel_id = :id AND valid_to IS NULL))"""),
            {"id": p["id"]}).scalars())
        resp = api.post("/api/v1/parcels/query",
                        json={"geometry": json.loads(p["geom5899"]), "crs": "EPSG:5899", "limit": 1000})
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        found = {f["id"] for f in resp.json["features"]}
        assert code in found and found == expected


def test_coordinates_are_exact_in_5899_and_agree_with_pyproj_in_4326(api, sample):
    to_wgs84 = Transformer.from_crs(VN2000, "EPSG:4326", always_xy=True)
    worst_5899 = worst_4326 = 0.0
    for p in sample:
        stored = _coords(json.loads(p["geom5899"]))
        exact = _coords(api.get(f"/api/v1/parcels/{p['parcel_code']}?crs=EPSG:5899").json["geometry"])
        assert len(exact) == len(stored)
        worst_5899 = max(worst_5899, max(math.dist(a, b) for a, b in zip(stored, exact)))
        lonlat = _coords(api.get(f"/api/v1/parcels/{p['parcel_code']}").json["geometry"])
        for (x, y), (lon, lat) in zip(stored, lonlat):
            plon, plat = to_wgs84.transform(x, y)
            dx = (lon - plon) * 111_320 * math.cos(math.radians(lat))
            dy = (lat - plat) * 110_574
            worst_4326 = max(worst_4326, math.hypot(dx, dy))
    assert worst_5899 <= 0.001
    assert worst_4326 <= 0.5


def test_hong_gai_control_point_through_the_api(api):
    """The parcel search by a bbox in EPSG:5899 around the control point's E/N finds the same
    parcels as the lon/lat bbox around 20.95167 N, 107.07 E (DOMAIN.md control point)."""
    e, n = 429_088, 2_317_756
    by_metres = api.get("/api/v1/parcels", query_string={
        "bbox": f"{e - 150},{n - 150},{e + 150},{n + 150}", "bbox-crs": "EPSG:5899", "limit": 1000}).json
    d_lat, d_lon = 148 / 110_574, 148 / (111_320 * math.cos(math.radians(20.95167)))
    by_degrees = api.get("/api/v1/parcels", query_string={
        "bbox": f"{107.07 - d_lon},{20.95167 - d_lat},{107.07 + d_lon},{20.95167 + d_lat}", "limit": 1000}).json
    inner = {f["id"] for f in by_degrees["features"]}
    outer = {f["id"] for f in by_metres["features"]}
    assert inner <= outer  # a 296 m box in degrees lies inside the 300 m box in metres


@pytest.fixture
def secrets(session) -> tuple[list[str], list[str]]:
    """Every party's name and ID number, less names that also occur in public text (a street
    called after a person is not a leak)."""
    public = "\n".join(session.execute(text(
        "SELECT coalesce(address, '') FROM parcel_versions UNION ALL SELECT name FROM admin_units "
        "UNION ALL SELECT name_vi FROM land_use_codes")).scalars())
    rows = session.execute(text("SELECT full_name, id_number FROM parties")).all()
    assert len(rows) > 100
    names = sorted({r.full_name for r in rows if r.full_name not in public})
    ids = sorted({r.id_number for r in rows if r.id_number})
    return names, ids


class _Reading:
    """A test client that reads each body at once (a streamed body must be read before the next
    request starts, as any real client does)."""

    def __init__(self, client):
        self.client = client

    def get(self, *args, **kwargs):
        resp = self.client.get(*args, **kwargs)
        resp.get_data()
        return resp

    def post(self, *args, **kwargs):
        resp = self.client.post(*args, **kwargs)
        resp.get_data()
        return resp


def _public_responses(api, sample, keys) -> list:
    api = _Reading(api)
    p = sample[0]
    code, ward = p["parcel_code"], p["parcel_code"][:5]
    shape = json.loads(p["geom5899"])
    return [
        api.get(f"/api/v1/parcels/{code}"),
        api.get(f"/api/v1/parcels?ward={ward}&limit=1000"),
        api.get("/api/v1/parcels?address=ha long&limit=1000"),
        api.get("/api/v1/parcels/at", query_string={"lon": p["lon"], "lat": p["lat"]}),
        api.get("/api/v1/parcels/near", query_string={"lon": p["lon"], "lat": p["lat"], "radius": 500, "limit": 1000}),
        api.post("/api/v1/parcels/query", json={"geometry": shape, "crs": "EPSG:5899"}),
        *[api.get(f"/api/v1/parcels/{q['parcel_code']}/history") for q in sample],
        *[api.get(f"/api/v1/parcels/{q['parcel_code']}/rights") for q in sample],
        *[api.get(f"/api/v1/parcels/{q['parcel_code']}/rights", headers=bearer(keys["bank"])) for q in sample],
        api.get("/api/v1/parties?q=nguyen"),
        api.get("/api/v1/parties?q=nguyen", headers=bearer(keys["bank"])),
        api.get("/api/v1/wards"),
        api.get(f"/api/v1/wards/{ward}"),
        api.get("/api/v1/stats/land-use"),
        api.get(f"/api/v1/parcels/{code}-9/rights"),
        api.get("/api/v1/openapi.json"),
    ]


def test_public_responses_carry_no_personal_data(api, sample, keys, secrets, session):
    names, ids = secrets
    responses = _public_responses(api, sample, keys)
    statuses = {r.status_code for r in responses}
    assert {200, 401, 403} <= statuses
    for resp in responses:
        body = resp.get_data(as_text=True)
        leaked = [s for s in names + ids if s in body]
        assert not leaked, (resp.request.path, leaked[:5])
    assert session.scalars(select(PersonalDataAccess)).all() == []


def test_officers_see_owners_and_each_read_is_logged(api, sample, keys, session):
    holders = session.execute(text("""
        SELECT p.parcel_code, array_agg(DISTINCT q.full_name) AS names, array_agg(DISTINCT q.id) AS ids
          FROM parcels p JOIN rights r ON r.parcel_id = p.id AND r.valid_to IS NULL
          JOIN parties q ON q.id = r.party_id
         WHERE p.parcel_code = ANY(:codes) GROUP BY p.parcel_code"""),
        {"codes": [p["parcel_code"] for p in sample]}).all()
    assert len(holders) >= N // 2
    for code, names, ids in holders:
        body = api.get(f"/api/v1/parcels/{code}/rights", headers=bearer(keys["officer"])).get_data(as_text=True)
        assert all(name in body for name in names)
    rows = session.scalars(select(PersonalDataAccess).order_by(PersonalDataAccess.id)).all()
    assert len(rows) == len(holders)
    for row, (code, _names, ids) in zip(rows, holders):
        assert sorted(row.party_ids) == sorted(ids) and row.role == "officer"
    name = holders[0][1][0]
    found = api.get("/api/v1/parties", query_string={"q": name}, headers=bearer(keys["officer"]))
    assert name in found.get_data(as_text=True)
    assert len(session.scalars(select(PersonalDataAccess)).all()) == len(holders) + 1
