"""Filters on tiles (CQL2 text and JSON, filter-crs): the OGC API items' parser, the same 400s."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import text

from .helpers import MERCATOR, codes, tile_at, tile_url

ITEMS = "/ogc/collections/parcels/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture
def known(session):
    """A current sample parcel in the urban core: code, land use, and a point inside it in
    lon/lat and in EPSG:5899."""
    return session.execute(text(
        "SELECT p.parcel_code, v.land_use, ST_X(c) AS x, ST_Y(c) AS y, ST_X(ll) AS lon, ST_Y(ll) AS lat "
        "FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL "
        "CROSS JOIN LATERAL (SELECT ST_PointOnSurface(v.geom) AS c) pt "
        "CROSS JOIN LATERAL (SELECT ST_Transform(pt.c, 4326) AS ll) w "
        "WHERE p.retired_on IS NULL AND p.ward_code = '06691' ORDER BY p.id LIMIT 1")).one()


def items_codes(client, args: dict) -> set[str]:
    resp = client.get(ITEMS, query_string={**args, "limit": 10000})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {f["properties"]["parcel_code"] for f in resp.get_json(force=True)["features"]}


def query(args: dict) -> str:
    return urlencode(args)


@pytest.mark.parametrize("args", [
    {"filter": "land_use = 'ODT' AND legal_area_m2 > 150"},
    {"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "and", "args": [{"op": "=", "args": [{"property": "land_use"}, "ODT"]},
                               {"op": ">", "args": [{"property": "legal_area_m2"}, 150]}]})},
    {"filter-lang": "cql-text", "filter": "land_use IN ('ODT', 'ONT') AND legal_area_m2 BETWEEN 100 AND 400"},
    {"filter": "CASEI(land_use) = casei('odt')"},
    {"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "like", "args": [{"property": "parcel_code"}, "%-_-1_7"]})},
])
def test_a_filtered_tile_holds_what_the_same_filter_selects_as_items(client, session, known, args):
    """Both languages, the advanced operators and the case-insensitive function: the tile holds
    exactly the filter's parcels among those in it, as the items of the same filter say."""
    t = tile_at(session, known.parcel_code, 16)
    everything = codes(client, t.z, t.x, t.y)
    got = codes(client, t.z, t.x, t.y, query(args))
    selected = items_codes(client, {**args, "bbox": ",".join(map(str, _bounds(t)))})
    assert got, "the filter should keep some of the tile's parcels"
    assert got < everything
    assert got == selected & everything


def _bounds(t):
    """The tile's lon/lat bounds widened beyond its margin (a tile also holds what touches its margin)."""
    b = MERCATOR.bounds(t)
    dx, dy = (b.right - b.left) / 16, (b.top - b.bottom) / 16
    return (b.left - dx, b.bottom - dy, b.right + dx, b.top + dy)


@pytest.mark.parametrize("crs, point", [
    (None, "POINT({lon} {lat})"),
    (EPSG + "4326", "POINT({lat} {lon})"),
    (EPSG + "5899", "POINT({x} {y})"),
])
def test_filter_crs_places_a_geometry_literal_on_tiles(client, session, known, crs, point):
    t = tile_at(session, known.parcel_code, 17)
    args = {"filter": f"S_INTERSECTS(geometry, {point.format(**known._mapping)})"}
    if crs:
        args["filter-crs"] = crs
    assert codes(client, t.z, t.x, t.y, query(args)) == {known.parcel_code}
    as_json = {"filter-lang": "cql2-json", "filter": json.dumps({"op": "s_intersects", "args": [
        {"property": "geometry"}, {"type": "Point", "coordinates": [known.lon, known.lat]}]})}
    assert codes(client, t.z, t.x, t.y, query(as_json)) == {known.parcel_code}


def test_filter_crs_is_part_of_the_etag(client, session, known):
    t = tile_at(session, known.parcel_code, 17)
    flt = {"filter": f"S_INTERSECTS(geometry, POINT({known.x} {known.y}))"}
    etags = {client.get(tile_url("parcels", t.z, t.x, t.y, query({**flt, "filter-crs": c}))).headers.get("ETag")
             for c in (EPSG + "5899", EPSG + "3857")}
    assert len(etags) == 2 and None not in etags


@pytest.mark.parametrize("args, field", [
    ({"filter": "owner_name = 'x'"}, "owner_name"),
    ({"filter-lang": "cql2-json", "filter": '{"op": "=", "args": [{"property": "secret"}, 1]}'}, "secret"),
    ({"filter": "land_use = "}, "filter"),
    ({"filter-lang": "cql2-json", "filter": "{not json"}, "filter"),
    ({"filter": "S_INTERSECTS(geometry, POINT(1))"}, "filter"),
    ({"filter": "legal_area_m2 > 'big'"}, "filter"),
    ({"filter": "FOO(address) = 'x'"}, "filter"),
    ({"filter-lang": "sql", "filter": "parcel_code = 'x'"}, "filter-lang"),
    ({"filter-lang": "sql"}, "filter-lang"),
    ({"filter": "land_use = 'ODT'", "filter-crs": "EPSG:99999"}, "filter-crs"),
    ({"filter-crs": "urn:nonsense"}, "filter-crs"),
])
def test_a_bad_filter_on_a_tile_is_the_items_400(client, session, known, args, field):
    """Same parameter, same problem document as /items: the one parser answers both."""
    t = tile_at(session, known.parcel_code, 16)
    on_tile = client.get(tile_url("parcels", t.z, t.x, t.y, query(args)))
    on_items = client.get(ITEMS, query_string=args)
    assert on_tile.status_code == on_items.status_code == 400, on_tile.get_data(as_text=True)
    assert on_tile.mimetype == "application/problem+json"
    body = on_tile.get_json()
    assert body["field"] == field, body
    same = {k: v for k, v in on_items.get_json().items() if k != "instance"}
    assert {k: v for k, v in body.items() if k != "instance"} == same
    tilejson = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/tilejson.json", query_string=args)
    assert tilejson.status_code == 400 and tilejson.get_json()["field"] == field


def test_a_filter_is_carried_into_the_tilejson_tile_urls(client):
    args = {"filter-lang": "cql2-json", "filter": '{"op":"=","args":[{"property":"land_use"},"ODT"]}',
            "filter-crs": EPSG + "5899"}
    doc = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/tilejson.json", query_string=args).get_json()
    carried = {k: v[0] for k, v in parse_qs(urlsplit(doc["tiles"][0]).query).items()}
    assert carried == args
