"""Part 3: CQL2 text and JSON filters, each conformance class we declare, and their errors."""

from __future__ import annotations

import json

import pytest

from landdb.crs import transform

ITEMS = "/ogc/collections/parcels/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def codes(client, flt, lang=None, **params):
    args = {"filter": flt if isinstance(flt, str) else json.dumps(flt), "limit": 1000, **params}
    if lang:
        args["filter-lang"] = lang
    resp = client.get(ITEMS, query_string=args)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return sorted(f["properties"]["parcel_code"] for f in resp.get_json(force=True)["features"])


def mine(grid, pred=lambda i, g: True):
    return sorted(g["code"] for i, g in enumerate(grid) if pred(i, g))


def in_grid(flt: str) -> str:
    return f"sheet_no = 77 AND ({flt})"


def test_basic_cql2_text_and_json(client, grid):
    want = mine(grid, lambda i, g: g["land_use"] == "ONT" and 100 + i > 103)
    assert codes(client, in_grid("land_use = 'ONT' AND legal_area_m2 > 103")) == want
    assert codes(client, {"op": "and", "args": [
        {"op": "=", "args": [{"property": "sheet_no"}, 77]},
        {"op": "=", "args": [{"property": "land_use"}, "ONT"]},
        {"op": ">", "args": [{"property": "legal_area_m2"}, 103]}]}, "cql2-json") == want
    assert codes(client, in_grid("NOT (land_use = 'ODT') AND parcel_no <> 100")) == \
        mine(grid, lambda i, g: g["land_use"] == "ONT" and i != 0)
    assert codes(client, in_grid("valid_from >= DATE('2024-03-01')")) == mine(grid)
    assert codes(client, in_grid("address IS NULL")) == []


def test_advanced_comparison_operators(client, grid):
    assert codes(client, in_grid("legal_area_m2 BETWEEN 102 AND 104")) == mine(grid, lambda i, g: 2 <= i <= 4)
    assert codes(client, in_grid("parcel_no IN (100, 105, 999)")) == mine(grid, lambda i, g: i in (0, 5))
    assert codes(client, in_grid("parcel_no NOT IN (100, 105)")) == mine(grid, lambda i, g: i not in (0, 5))
    assert codes(client, in_grid("address LIKE '1_ Phố%'")) == mine(grid, lambda i, g: 10 <= i <= 11)
    assert codes(client, in_grid("address LIKE '%& Co'")) == mine(grid)
    assert codes(client, in_grid("address NOT LIKE '1%'")) == mine(grid, lambda i, g: not str(i).startswith("1"))


def test_case_and_accent_insensitive_comparison(client, grid):
    assert codes(client, in_grid("CASEI(address) LIKE CASEI('%PHỐ LƯỚI%')")) == mine(grid)
    assert codes(client, in_grid("ACCENTI(address) LIKE ACCENTI('%Pho Luoi%')")) == mine(grid)
    assert codes(client, in_grid("CASEI(land_use) = CASEI('ont')")) == mine(grid, lambda i, g: g["land_use"] == "ONT")
    assert codes(client, in_grid("ACCENTI(CASEI(address)) = ACCENTI(CASEI('3 PHO LUOI & CO'))")) == \
        mine(grid, lambda i, g: i == 3)
    assert codes(client, {"op": "and", "args": [
        {"op": "=", "args": [{"property": "sheet_no"}, 77]},
        {"op": "like", "args": [{"op": "accenti", "args": [{"op": "casei", "args": [{"property": "address"}]}]},
                                {"op": "accenti", "args": [{"op": "casei", "args": ["%pho luoi%"]}]}]}]},
                 "cql2-json") == mine(grid)


def test_property_property_comparison(client, grid):
    # The grid's squares measure 100 m²; legal areas are 100 + i.
    assert codes(client, in_grid("legal_area_m2 > area_m2")) == mine(grid, lambda i, g: i > 0)
    assert codes(client, in_grid("area_m2 = legal_area_m2")) == mine(grid, lambda i, g: i == 0)


def _lonlat(x, y):
    return transform(x, y, 5899, 4326)


def test_spatial_functions_with_wkt_and_geojson_literals(client, grid):
    g = grid[5]
    cx, cy = g["x0"] + 5, g["y0"] + 5
    lon, lat = _lonlat(cx, cy)
    assert codes(client, f"S_INTERSECTS(geometry, POINT({lon} {lat}))") == [g["code"]]
    assert codes(client, {"op": "s_intersects", "args": [{"property": "geometry"},
                                                         {"type": "Point", "coordinates": [lon, lat]}]},
                 "cql2-json") == [g["code"]]
    (x0, y0), (x1, y1) = _lonlat(g["x0"] - 1, g["y0"] - 1), _lonlat(g["x0"] + 11, g["y0"] + 11)
    assert codes(client, f"S_WITHIN(geometry, BBOX({x0},{y0},{x1},{y1}))") == [g["code"]]
    poly = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
    assert codes(client, f"S_WITHIN(geometry, {poly})") == [g["code"]]
    assert codes(client, in_grid(f"S_DISJOINT(geometry, {poly})")) == mine(grid, lambda i, gg: i != 5)
    line = f"LINESTRING({x0} {y0},{x1} {y1})"
    assert codes(client, f"S_CROSSES(geometry, {line})") == [g["code"]]
    assert codes(client, f"S_INTERSECTS(geometry, POINT({cx} {cy}))", **{"filter-crs": EPSG + "5899"}) == [g["code"]]
    # EPSG:4326 by URI: literals latitude first.
    assert codes(client, f"S_INTERSECTS(geometry, POINT({lat} {lon}))", **{"filter-crs": EPSG + "4326"}) == [g["code"]]


def test_queryables_as_query_parameters(client, grid):
    resp = client.get(ITEMS, query_string={"sheet_no": "77", "land_use": "ONT", "limit": 100})
    assert sorted(f["properties"]["parcel_code"] for f in resp.get_json(force=True)["features"]) == \
        mine(grid, lambda i, g: g["land_use"] == "ONT")


@pytest.mark.parametrize("flt,lang,field", [
    ("owner_name = 'x'", None, "owner_name"),
    ("land_use = ", None, "filter"),
    ("S_INTERSECTS(geometry, POINT(1))", None, "filter"),
    ('{"op": "=", "args": [{"property": "secret"}, 1]}', "cql2-json", "secret"),
    ("{not json", "cql2-json", "filter"),
    ("legal_area_m2 > 'big'", None, "filter"),
    ("FOO(address) = 'x'", None, "filter"),
    ("parcel_code = 'x'", "sql", "filter-lang"),
])
def test_bad_filters_are_400_naming_the_parameter_or_property(client, flt, lang, field):
    args = {"filter": flt}
    if lang:
        args["filter-lang"] = lang
    resp = client.get(ITEMS, query_string=args)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert resp.mimetype == "application/problem+json" and body["field"] == field, body


def test_every_spatial_function_in_the_storage_crs(client, grid):
    """S_CONTAINS, S_EQUALS, S_OVERLAPS, S_TOUCHES (with S_INTERSECTS, S_WITHIN, S_DISJOINT and
    S_CROSSES above): the spatial-functions class, literals in EPSG:5899."""
    g = grid[6]
    x0, y0 = g["x0"], g["y0"]
    x1, y1 = x0 + 10, y0 + 10

    def poly(a, b, c, d):
        return f"POLYGON(({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))"

    storage = {"filter-crs": EPSG + "5899"}
    assert codes(client, in_grid(f"S_CONTAINS(geometry, POINT({x0 + 5} {y0 + 5}))"), **storage) == [g["code"]]
    assert codes(client, in_grid(f"S_EQUALS(geometry, MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},"
                                 f"{x0} {y0}))))"), **storage) == [g["code"]]
    assert codes(client, in_grid(f"S_OVERLAPS(geometry, {poly(x0 + 5, y0 + 5, x1 + 5, y1 + 5)})"), **storage) == \
        [g["code"]]
    assert codes(client, in_grid(f"S_TOUCHES(geometry, {poly(x1, y0, x1 + 5, y1)})"), **storage) == [g["code"]]
    assert codes(client, in_grid(f"S_INTERSECTS(geometry, {poly(x0 - 1, y0 - 1, x1 + 1, y1 + 1)})"), **storage) == \
        [g["code"]]
