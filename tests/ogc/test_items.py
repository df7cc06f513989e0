"""/items and /items/{featureId}: paging, bbox, CRS (Part 2), datetime, sortby, properties, errors."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from shapely.testing import assert_geometries_equal
from sqlalchemy import text

from landdb.crs import transform

from .helpers import validate

ITEMS = "/ogc/collections/parcels/items"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def lonlat_box(box):
    x0, y0, x1, y1 = box
    lo = transform(x0, y0, 5899, 4326)
    hi = transform(x1, y1, 5899, 4326)
    return lo[0], lo[1], hi[0], hi[1]


def get(client, path=ITEMS, **params):
    resp = client.get(path, query_string=params)
    return resp


def ids(body):
    return [f["id"] for f in body["features"]]


def test_default_page_is_100_geojson_features_in_crs84(client):
    resp = get(client)
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    assert resp.headers["Content-Crs"] == f"<{CRS84}>"
    body = resp.get_json(force=True)
    validate(body, "featureCollectionGeoJSON")
    assert body["numberReturned"] == len(body["features"]) == 100
    assert body["numberMatched"] >= 3000
    lon, lat = body["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 106.8 < lon < 107.3 and 20.8 < lat < 21.3
    assert "crs" not in body
    rels = [ln["rel"] for ln in body["links"]]
    assert rels.count("self") == 1 and "next" in rels and "prev" not in rels
    props = body["features"][0]["properties"]
    assert {"parcel_code", "land_use", "legal_area_m2", "address", "ward_name"} <= set(props)


def test_bbox_in_crs84_returns_what_intersects_it(client, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    body = get(client, bbox=f"{x0},{y0},{x1},{y1}").get_json(force=True)
    assert sorted(ids(body)) == sorted(g["fid"] for g in grid)
    assert body["numberMatched"] == body["numberReturned"] == 12
    assert "next" not in [ln["rel"] for ln in body["links"]]


def test_bbox_crs_and_lat_lon_axis_order(client, grid, grid_box):
    x0, y0, x1, y1 = grid_box
    first = (x0, y0, x0 + 12, y0 + 12)  # touches only the first square
    body = get(client, bbox=",".join(map(str, first)), **{"bbox-crs": EPSG + "5899"}).get_json(force=True)
    assert ids(body) == [grid[0]["fid"]]
    lon0, lat0, lon1, lat1 = lonlat_box(first)
    # EPSG:4326 by URI is latitude first: the same box as lat,lon.
    body = get(client, bbox=f"{lat0},{lon0},{lat1},{lon1}", **{"bbox-crs": EPSG + "4326"}).get_json(force=True)
    assert ids(body) == [grid[0]["fid"]]
    # Six numbers (with heights) are accepted.
    body = get(client, bbox=f"{lon0},{lat0},0,{lon1},{lat1},100").get_json(force=True)
    assert ids(body) == [grid[0]["fid"]]


@pytest.mark.parametrize("srid,lat_first", [(5899, False), (3857, False), (4326, True)])
def test_crs_of_the_answer(client, session, grid, srid, lat_first):
    g = grid[4]
    resp = get(client, f"{ITEMS}/{g['fid']}", crs=EPSG + str(srid))
    assert resp.status_code == 200
    assert resp.headers["Content-Crs"] == f"<{EPSG}{srid}>"
    feat = resp.get_json(force=True)
    validate(feat, "featureGeoJSON")
    got = shapely.geometry.shape(feat["geometry"])
    if lat_first:
        got = shapely.transform(got, lambda a: a[:, ::-1])
    wkt = session.execute(text("SELECT ST_AsText(ST_Transform(v.geom, :s)) FROM parcel_versions v "
                               "WHERE v.parcel_id = :p AND v.valid_to IS NULL"), {"s": srid, "p": g["id"]}).scalar_one()
    assert_geometries_equal(shapely.normalize(got), shapely.normalize(shapely.from_wkt(wkt)),
                            tolerance=1e-6 if srid == 4326 else 0.01)
    # The collection says which CRS too.
    body = get(client, crs=EPSG + str(srid), limit=1).get_json(force=True)
    assert body["crs"]["properties"]["name"] == EPSG + str(srid)


def test_paging_by_keyset_visits_every_feature_once(client, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    seen, url, pages = [], f"{ITEMS}?bbox={x0},{y0},{x1},{y1}&limit=5", 0
    while url:
        body = client.get(url).get_json(force=True)
        validate(body, "featureCollectionGeoJSON")
        seen += ids(body)
        pages += 1
        nxt = [ln["href"] for ln in body["links"] if ln["rel"] == "next"]
        url = nxt[0] if nxt else None
        if url:
            assert "offset" not in parse_qs(urlsplit(url).query) and "next" in parse_qs(urlsplit(url).query)
    assert pages == 3 and sorted(seen) == sorted(g["fid"] for g in grid) and len(set(seen)) == 12


def test_next_link_also_in_the_link_header_and_keeps_the_query(client, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    resp = get(client, bbox=f"{x0},{y0},{x1},{y1}", limit=4, filter="land_use = 'ODT'")
    assert 'rel="next"' in resp.headers["Link"]
    nxt = next(ln["href"] for ln in resp.get_json(force=True)["links"] if ln["rel"] == "next")
    q = parse_qs(urlsplit(nxt).query)
    assert q["filter"] == ["land_use = 'ODT'"] and q["limit"] == ["4"]


def test_number_matched_is_not_counted_for_a_short_page(client, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    body = get(client, bbox=f"{x0},{y0},{x1},{y1}", limit=50).get_json(force=True)
    assert body["numberMatched"] == body["numberReturned"] == 12


def test_sorted_pages_go_by_offset_with_prev_links(client, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    body = get(client, bbox=f"{x0},{y0},{x1},{y1}", sortby="-legal_area_m2", limit=5).get_json(force=True)
    areas = [f["properties"]["legal_area_m2"] for f in body["features"]]
    assert areas == sorted(areas, reverse=True) and areas[0] == 111.0
    nxt = next(ln["href"] for ln in body["links"] if ln["rel"] == "next")
    body2 = client.get(nxt).get_json(force=True)
    assert [f["properties"]["legal_area_m2"] for f in body2["features"]] == [106.0, 105.0, 104.0, 103.0, 102.0]
    assert any(ln["rel"] == "prev" for ln in body2["links"])


def test_properties_selects_attributes(client, grid):
    feat = get(client, bbox=None, properties="parcel_code,land_use", limit=1).get_json(force=True)["features"][0]
    assert set(feat["properties"]) == {"parcel_code", "land_use"} and feat["geometry"]


def test_limit_bounds(client):
    assert len(get(client, limit=3).get_json(force=True)["features"]) == 3
    for bad in ("0", "-1", "x"):
        resp = get(client, limit=bad)
        assert resp.status_code == 400 and resp.get_json()["field"] == "limit"
    # Over the maximum is read as the maximum, not an error.
    assert get(client, limit=20000, properties="parcel_code").status_code == 200


def test_datetime_is_the_register_as_of_that_day(client, session, grid):
    before = get(client, datetime="2024-02-29", filter=f"parcel_code = '{grid[0]['code']}'").get_json(force=True)
    assert before["features"] == []
    on = get(client, datetime="2024-03-01", filter=f"parcel_code = '{grid[0]['code']}'").get_json(force=True)
    assert ids(on) == [grid[0]["fid"]]
    assert get(client, datetime="2024-03-01T10:00:00Z", limit=1).status_code == 200
    assert get(client, datetime="../..", limit=1).status_code == 200
    for bad in ("yesterday", "2020-01-01/2021-01-01"):
        resp = get(client, datetime=bad)
        assert resp.status_code == 400 and resp.get_json()["field"] == "datetime"


def test_wards_as_of_a_day_before_and_after_the_2025_merger(client):
    def names(day):
        body = get(client, "/ogc/collections/wards/items", datetime=day, filter="code = '06685'", limit=10)
        return [f["properties"]["name"] for f in body.get_json(force=True)["features"]]

    assert names("2024-01-01") == ["Trần Hưng Đạo"]
    assert names("2025-08-01") == ["Hồng Gai"]


def test_one_feature_and_missing_ones(client, grid):
    g = grid[2]
    resp = get(client, f"{ITEMS}/{g['fid']}")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    feat = resp.get_json(force=True)
    assert feat["id"] == g["fid"] and feat["properties"]["parcel_code"] == g["code"]
    assert {ln["rel"] for ln in feat["links"]} >= {"self", "alternate", "collection"}
    for missing in ("parcels.999999999", "wards.1", "nope", "parcels.", "9" * 40):
        resp = get(client, f"{ITEMS}/{missing}")
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json", missing


def test_bad_parameters_are_400_naming_them(client):
    cases = {
        "bbox": {"bbox": "1,2,3"}, "bbox-crs": {"bbox": "1,2,3,4", "bbox-crs": "EPSG:9999"},
        "crs": {"crs": "http://www.opengis.net/def/crs/EPSG/0/2154"}, "sortby": {"sortby": "owner"},
        "properties": {"properties": "parcel_code,owner_name"}, "colour": {"colour": "red"},
        "next": {"next": "abc"}, "filter-lang": {"filter": "x = 1", "filter-lang": "sql"},
    }
    for field, params in cases.items():
        resp = get(client, **params)
        assert resp.status_code == 400, (field, resp.get_data(as_text=True))
        body = resp.get_json()
        assert resp.mimetype == "application/problem+json" and body["field"] == field, (field, body)
    resp = get(client, bbox="107.0,21.0,106.9,20.9")
    assert resp.status_code == 400 and resp.get_json()["field"] == "bbox"


def test_items_html_page_has_a_table_and_a_map(client, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    resp = get(client, bbox=f"{x0},{y0},{x1},{y1}", limit=5, f="html")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "Mã loại đất" in page and "Diện tích pháp lý (m²)" in page and grid[0]["code"] in page
    assert "/static/vendor/maplibre-gl/maplibre-gl.js" in page and 'rel="next"' in page
    item = get(client, f"{ITEMS}/{grid[0]['fid']}", f="html").get_data(as_text=True)
    assert grid[0]["code"] in item and "maplibregl.Map" in item


def test_geojson_body_is_valid_json_for_a_streamed_page(client):
    # A page over the buffered size streams from a server-side cursor; links come after the features.
    resp = get(client, limit=6000, properties="parcel_code")
    body = json.loads(resp.get_data(as_text=True))
    assert body["numberReturned"] == len(body["features"]) == min(6000, body["numberReturned"])
    assert any(ln["rel"] == "self" for ln in body["links"])
