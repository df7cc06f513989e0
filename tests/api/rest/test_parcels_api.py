"""/api/v1 over HTTP on parcels made in the empty test area: GeoJSON, paging links, CRSs,
problem documents for bad input, and personal data only for keys allowed to see it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from landdb.models import PersonalDataAccess

from ...factories import TEST_AREA, make_parcel, make_party, make_right, square
from .conftest import assert_problem, bearer

X0, Y0 = TEST_AREA


def lonlat(session, x, y):
    return session.execute(text(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 5899), 4326) g) s"),
        {"x": x, "y": y}).one()


@pytest.fixture
def grid(session):
    """A 5 × 5 grid of 10 m parcels on sheet 981, numbered row by row."""
    for j in range(5):
        for i in range(5):
            make_parcel(session, wkt=square(X0 + 10 * i, Y0 + 10 * j), sheet_no=981, parcel_no=1 + i + 5 * j,
                        address=f"{1 + i + 5 * j} Đường Hạ Long")
    session.commit()


def test_one_parcel(api, grid):
    resp = api.get("/api/v1/parcels/06691-981-7")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    assert resp.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    body = resp.json
    assert body["id"] == "06691-981-7" and body["properties"]["address"] == "7 Đường Hạ Long"
    lon, lat = body["geometry"]["coordinates"][0][0][0]
    assert 107 < lon < 108 and 20 < lat < 22


def test_crs_parameter(api, grid):
    resp = api.get("/api/v1/parcels/06691-981-1?crs=urn:ogc:def:crs:EPSG::5899")
    assert resp.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/5899>"
    assert [X0, Y0] in resp.json["geometry"]["coordinates"][0][0]
    merc = api.get("/api/v1/parcels/06691-981-1?crs=EPSG:3857").json["geometry"]["coordinates"][0][0][0]
    assert 11.9e6 < merc[0] < 12.0e6
    assert_problem(api.get("/api/v1/parcels/06691-981-1?crs=EPSG:2154"), 400)


def test_search_pages_with_links(api, grid):
    resp = api.get("/api/v1/parcels?sheet=981&limit=10")
    body = resp.json
    assert resp.status_code == 200 and body["numberMatched"] == 25 and body["numberReturned"] == 10
    assert [f["properties"]["parcel_no"] for f in body["features"]] == list(range(1, 11))
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "offset=10" in nxt and 'rel="next"' in resp.headers["Link"]
    last = api.get(nxt.replace("offset=10", "offset=20")).json
    assert last["numberReturned"] == 5 and not any(link["rel"] == "next" for link in last["links"])
    assert any(link["rel"] == "prev" for link in last["links"])


def test_search_by_address_and_bbox(api, grid, session):
    body = api.get("/api/v1/parcels", query_string={"sheet": 981, "address": "duong ha long 13"}).json
    assert [f["properties"]["parcel_no"] for f in body["features"]] == [13]
    lon0, lat0 = lonlat(session, X0 + 1, Y0 + 1)
    lon1, lat1 = lonlat(session, X0 + 19, Y0 + 9)
    body = api.get("/api/v1/parcels", query_string={"bbox": f"{lon0},{lat0},{lon1},{lat1}"}).json
    assert sorted(f["properties"]["parcel_no"] for f in body["features"]) == [1, 2]
    body = api.get("/api/v1/parcels", query_string={"bbox": f"{X0 + 41},{Y0 + 41},{X0 + 49},{Y0 + 49}",
                                                     "bbox-crs": "EPSG:5899", "crs": "EPSG:5899"}).json
    assert [f["properties"]["parcel_no"] for f in body["features"]] == [25]
    assert body["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::5899"


def test_at_near_and_query(api, grid, session):
    lon, lat = lonlat(session, X0 + 25, Y0 + 25)
    assert api.get(f"/api/v1/parcels/at?lon={lon}&lat={lat}").json["id"] == "06691-981-13"
    near = api.get(f"/api/v1/parcels/near?lon={lon}&lat={lat}&radius=6&limit=3").json
    assert near["features"][0]["id"] == "06691-981-13" and near["features"][0]["properties"]["distance_m"] == 0
    assert near["numberMatched"] == 5 and near["numberReturned"] == 3
    shape = {"type": "Polygon", "coordinates": [[[X0 + 20, Y0 + 20], [X0 + 30, Y0 + 20], [X0 + 30, Y0 + 30],
                                                  [X0 + 20, Y0 + 30], [X0 + 20, Y0 + 20]]]}
    resp = api.post("/api/v1/parcels/query", json={"geometry": shape, "crs": "EPSG:5899"})
    assert resp.status_code == 200
    assert sorted(f["properties"]["parcel_no"] for f in resp.json["features"]) == [7, 8, 9, 12, 13, 14, 17, 18, 19]
    within = api.post("/api/v1/parcels/query", json={"geometry": shape, "crs": "EPSG:5899", "predicate": "within"})
    assert [f["id"] for f in within.json["features"]] == ["06691-981-13"]
    far_lon, far_lat = lonlat(session, X0 + 900, Y0 + 900)
    assert_problem(api.get(f"/api/v1/parcels/at?lon={far_lon}&lat={far_lat}"), 404)


@pytest.mark.parametrize("url, status, words", [
    ("/api/v1/parcels/06691-981-999", 404, "no parcel"),
    ("/api/v1/parcels/not-a-code", 400, "malformed"),
    ("/api/v1/parcels?limit=abc", 400, "limit"),
    ("/api/v1/parcels?limit=5000", 400, "limit"),
    ("/api/v1/parcels?limt=5", 400, "limt"),
    ("/api/v1/parcels?bbox=107.1,20.9,107.0,21.0", 400, "min"),
    ("/api/v1/parcels?bbox=1,2,3", 400, "four"),
    ("/api/v1/parcels?bbox=2,40,3,41", 400, "outside Vietnam"),
    ("/api/v1/parcels?bbox-crs=EPSG:5899", 400, "bbox"),
    ("/api/v1/parcels/at?lon=2.35&lat=48.85", 400, "lon"),
    ("/api/v1/parcels/at?lon=107.07", 400, "lat"),
    ("/api/v1/parcels/near?lon=107.07&lat=20.95&radius=9000", 400, "radius"),
    ("/api/v1/parcels/near?lon=107.07&lat=20.95&radius=nan", 400, "radius"),
    ("/api/v1/wards/abc", 400, "5 digits"),
    ("/api/v1/wards/99999", 404, "no ward"),
    ("/api/v1/wards?at=2025-13-45", 400, "at"),
    ("/api/v1/stats/land-use?ward=99999", 404, "no ward"),
])
def test_bad_requests_are_problems(api, url, status, words):
    body = assert_problem(api.get(url), status)
    assert words in body["detail"]


@pytest.mark.parametrize("payload, status, words", [
    ({"geometry": {"type": "Polygon", "coordinates": [[[107.0, 20.9], [107.1, 21.0], [107.1, 20.9],
                                                       [107.0, 21.0], [107.0, 20.9]]]}}, 422, "Self-intersection"),
    ({"geometry": {"type": "Point", "coordinates": [107.07]}}, 422, "malformed"),
    ({"geometry": {"type": "Point", "coordinates": [107.07, 20.95]}, "predicate": "touches"}, 422, "predicate"),
    ({"geometry": {"type": "Point", "coordinates": [107.07, 20.95]}, "extra": 1}, 422, "extra"),
    ({"predicate": "within"}, 422, "geometry"),
    ({"geometry": {"type": "Point", "coordinates": [107.07, 20.95]}, "limit": 0}, 422, "limit"),
])
def test_bad_bodies_are_422(api, payload, status, words):
    body = assert_problem(api.post("/api/v1/parcels/query", json=payload), status)
    assert words in body["detail"]


def test_oversized_bodies_are_413(api):
    ring = [[107.0 + i * 1e-7, 20.9] for i in range(200_000)]
    resp = api.post("/api/v1/parcels/query", json={"geometry": {"type": "LineString", "coordinates": ring}})
    assert_problem(resp, 413)


def test_malformed_json_is_400(api):
    resp = api.post("/api/v1/parcels/query", data="{not json", content_type="application/json")
    assert_problem(resp, 400)


def test_history(api, grid):
    body = api.get("/api/v1/parcels/06691-981-3/history").json
    assert body["status"] == "current" and len(body["versions"]) == 1
    assert body["versions"][0]["opened_by"]["kind"] == "first_registration"


@pytest.fixture
def owned(session):
    pid, _ = make_parcel(session, wkt=square(X0 + 300, Y0), sheet_no=982, parcel_no=1)
    an = make_party(session, "Nguyễn Văn Thửnghiệm", "022099990001")
    make_right(session, pid, an, 1.0)
    session.commit()
    return pid, an


def test_rights_need_a_key_and_owners_need_the_scope(api, keys, owned, session):
    assert_problem(api.get("/api/v1/parcels/06691-982-1/rights"), 401)
    assert_problem(api.get("/api/v1/parcels/06691-982-1/rights", headers=bearer(keys["bare"])), 403)
    bank = api.get("/api/v1/parcels/06691-982-1/rights", headers=bearer(keys["bank"]))
    assert bank.status_code == 200 and bank.json["personal_data"] is False
    assert "Thửnghiệm" not in bank.get_data(as_text=True) and "022099990001" not in bank.get_data(as_text=True)
    before = len(session.scalars(select(PersonalDataAccess)).all())
    assert before == 0
    for who in ("notary", "officer"):
        resp = api.get("/api/v1/parcels/06691-982-1/rights", headers=bearer(keys[who]))
        assert resp.json["rights"][0]["party"]["full_name"] == "Nguyễn Văn Thửnghiệm"
    rows = session.scalars(select(PersonalDataAccess).order_by(PersonalDataAccess.id)).all()
    assert len(rows) == 2
    assert rows[0].endpoint == "GET /api/v1/parcels/{parcel_code}/rights"
    assert rows[0].parcel_ids == [owned[0]] and rows[0].party_ids == [owned[1]]


def test_parties_search_is_for_owner_readers_only(api, keys, owned, session):
    assert_problem(api.get("/api/v1/parties?q=nguyen"), 401)
    assert_problem(api.get("/api/v1/parties?q=nguyen", headers=bearer(keys["bank"])), 403)
    resp = api.get("/api/v1/parties?q=nguyen thunghiem", headers=bearer(keys["officer"]))
    assert resp.status_code == 200
    assert [p["id_number"] for p in resp.json["parties"]] == ["022099990001"]
    by_id = api.get("/api/v1/parties?q=022099990001", headers=bearer(keys["officer"])).json
    assert [p["full_name"] for p in by_id["parties"]] == ["Nguyễn Văn Thửnghiệm"]
    rows = session.scalars(select(PersonalDataAccess).order_by(PersonalDataAccess.id)).all()
    assert len(rows) == 2 and rows[0].endpoint == "GET /api/v1/parties"
    assert rows[0].party_ids == [owned[1]] and rows[0].parcel_ids == [owned[0]]
    assert_problem(api.get("/api/v1/parties", headers=bearer(keys["officer"])), 400)


def test_wards_and_stats(api, grid):
    wards = api.get("/api/v1/wards?at=2024-01-01")
    assert wards.status_code == 200 and wards.mimetype == "application/geo+json"
    names = {f["properties"]["name"] for f in wards.json["features"]}
    assert "Hồng Gai" in names and "Yết Kiêu" in names
    current = api.get("/api/v1/wards?at=2025-08-01").json
    assert "Bạch Đằng" not in {f["properties"]["name"] for f in current["features"]}
    assert api.get("/api/v1/wards/06691").json["properties"]["parcel_count"] >= 25
    stats = api.get("/api/v1/stats/land-use?ward=06691").json
    assert stats["parcels"] >= 25 and any(r["land_use"] == "ODT" for r in stats["land_use"])


def test_openapi_and_docs(api):
    spec = api.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ["/api/v1/parcels", "/api/v1/parcels/{parcel_code}", "/api/v1/parcels/at", "/api/v1/parcels/near",
                 "/api/v1/parcels/query", "/api/v1/parcels/{parcel_code}/history",
                 "/api/v1/parcels/{parcel_code}/rights", "/api/v1/parties", "/api/v1/wards",
                 "/api/v1/wards/{code}", "/api/v1/stats/land-use"]:
        assert path in paths
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "application/problem+json" in spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    docs = api.get("/api/v1/docs")
    html = docs.get_data(as_text=True)
    assert docs.status_code == 200 and "/api/v1/docs/assets/swagger-ui-bundle.js" in html
    assert "http" not in html.split("<script>")[0].replace("http-equiv", "")  # no CDN
    asset = api.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.data
    asset.close()


def test_bench_route_is_off_by_default(api, settings, connection):
    assert api.get("/api/v1/bench/constant").status_code == 404
    from .conftest import rest_app

    on = rest_app(settings, connection, extra={"bench_routes": "1"}).test_client()
    assert len(on.get("/api/v1/bench/constant?size=5000").data) == 5000


def test_large_pages_stream_completely(api, session):
    """A page bigger than one cursor batch arrives whole (the body outlives the view's teardown)."""
    total = session.execute(text("SELECT count(*) FROM parcel_versions WHERE valid_to IS NULL")).scalar_one()
    assert total > 1000, "the sample data should be loaded"
    resp = api.get("/api/v1/parcels?limit=1000")
    body = resp.json
    assert body["numberMatched"] == total and body["numberReturned"] == len(body["features"]) == 1000
    codes = [f["id"] for f in body["features"]]
    assert len(set(codes)) == 1000
    nxt = api.get("/api/v1/parcels?limit=1000&offset=1000").json
    assert not set(codes) & {f["id"] for f in nxt["features"]}
