"""CQL2 parsing into the core's AST and the Part 2 CRS spellings (no database)."""

from __future__ import annotations

import pytest
from pygeofilter import ast, values

from landdb.query import cql2
from landdb.query import ogc_crs as crs
from landdb.errors import InvalidInput

NAMES = {"land_use", "address", "legal_area_m2"}


def parse(text, lang=None, c=crs.DEFAULT):
    return cql2.parse(text, lang, names=NAMES, geometry_name="geometry", filter_crs=c)


def test_text_and_json_give_the_same_tree():
    a = parse("land_use = 'ODT' AND legal_area_m2 > 200")
    b = parse('{"op": "and", "args": [{"op": "=", "args": [{"property": "land_use"}, "ODT"]}, '
              '{"op": ">", "args": [{"property": "legal_area_m2"}, 200]}]}', "cql2-json")
    assert a == b and isinstance(a, ast.And)
    # GDAL 3.6 names the text encoding cql-text.
    assert parse("land_use = 'ODT'", "cql-text") == parse("land_use = 'ODT'", "cql2-text")


def test_like_uses_cql2_wildcards():
    node = parse("address LIKE 'S_ 1%'")
    assert (node.wildcard, node.singlechar, node.escapechar) == ("%", "_", "\\")


def test_casei_and_accenti_become_core_functions():
    node = parse("ACCENTI(CASEI(address)) LIKE ACCENTI(CASEI('%hạ long%'))")
    assert node.lhs == ast.Function("accenti", [ast.Function("casei", [ast.Attribute("address")])])


def test_bbox_and_lat_first_literals_are_turned_to_x_y():
    lat_lon = crs.parse("http://www.opengis.net/def/crs/EPSG/0/4326", field="filter-crs")
    node = parse("S_INTERSECTS(geometry, BBOX(20.9, 107.0, 21.0, 107.1))", c=lat_lon)
    ring = node.rhs.geometry["coordinates"][0]
    assert ring[0] == [107.0, 20.9] and ring[2] == [107.1, 21.0]
    node = parse("S_INTERSECTS(geometry, POINT(20.95 107.07))", c=lat_lon)
    assert isinstance(node.rhs, values.Geometry) and node.rhs.geometry["coordinates"] == [107.07, 20.95]
    node = parse("S_INTERSECTS(geometry, POINT(107.07 20.95))")
    assert list(node.rhs.geometry["coordinates"]) == [107.07, 20.95]


@pytest.mark.parametrize("text,lang,field", [
    ("owner = 'x'", None, "owner"),
    ("land_use ==", None, "filter"),
    ("{", "cql2-json", "filter"),
    ("FOO(address) = 'x'", None, "filter"),
    ("land_use = 'x'", "ecql", "filter-lang"),
    ("S_INTERSECTS(geometry, BBOX(2, 1, 1, 2))", None, "filter"),
])
def test_errors_name_the_parameter_or_the_property(text, lang, field):
    with pytest.raises(InvalidInput) as err:
        parse(text, lang)
    assert err.value.field == field


def test_crs_spellings_and_axis_order():
    assert crs.parse(None, field="crs") == crs.DEFAULT
    assert crs.parse("http://www.opengis.net/def/crs/OGC/1.3/CRS84", field="crs") == crs.DEFAULT
    c = crs.parse("http://www.opengis.net/def/crs/EPSG/0/4326", field="crs")
    assert c.srid == 4326 and c.lat_first
    assert crs.parse("[EPSG:5899]", field="crs") == crs.STORAGE
    assert not crs.parse("EPSG:3857", field="crs").lat_first
    assert crs.to_xy((20.9, 107.0, 21.0, 107.1), c) == (107.0, 20.9, 107.1, 21.0)
    for bad in ("http://www.opengis.net/def/crs/EPSG/0/2154", "nonsense"):
        with pytest.raises(InvalidInput) as err:
            crs.parse(bad, field="bbox-crs")
        assert err.value.field == "bbox-crs"


def test_cql2_json_accenti_and_three_argument_between():
    node = parse('{"op": "like", "args": [{"op": "accenti", "args": [{"property": "address"}]}, '
                 '{"op": "accenti", "args": ["%ha long%"]}]}', "cql2-json")
    assert node.lhs == ast.Function("accenti", [ast.Attribute("address")])
    assert node.pattern == ast.Function("accenti", ["%ha long%"])
    node = parse('{"op": "between", "args": [{"property": "legal_area_m2"}, 100, 200]}', "cql2-json")
    assert (node.low, node.high) == (100, 200)
