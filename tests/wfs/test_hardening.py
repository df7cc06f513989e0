"""Inputs that used to get a 500 from the WFS: each an OWS ExceptionReport with a 4xx."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from lxml import etree

from api.wfs.parse import MAX_FILTER_DEPTH, MAX_FILTER_OPERATORS

from .helpers import call
from .test_wfs import exception, fes, fids, get_feature, ogc

BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"


@pytest.fixture(params=["get", "post"])
def mode(request):
    return request.param


# --- 4. resource ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("rid", ["parcels.²", "parcels.٣", "parcels.99999999999999999999", "parcels.", "parcels.1x",
                                 "../etc.1"])
def test_a_malformed_resource_id_is_invalid_parameter_value(client, mode, rid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "resourceId": rid})
    exception(r, "InvalidParameterValue", 400, client=client)


@pytest.mark.parametrize("rid", ["parcels.²", "parcels.99999999999999999999"])
def test_get_feature_by_id_with_a_malformed_id_is_invalid_parameter_value(client, mode, rid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                            "storedQuery_id": BY_ID, "ID": rid})
    exception(r, "InvalidParameterValue", 400, "ID", client=client)


@pytest.mark.parametrize("version, flt", [
    ("2.0.0", fes('<fes:ResourceId rid="parcels.²"/>')),
    ("1.1.0", ogc('<ogc:FeatureId fid="parcels.²"/>')),
    ("1.1.0", ogc('<ogc:GmlObjectId gml:id="parcels.²"/>')),
    ("1.0.0", ogc('<ogc:FeatureId fid="parcels.99999999999999999999"/>')),
])
def test_a_malformed_id_in_a_filter_is_invalid_parameter_value(client, mode, version, flt):
    r = call(client, mode, {"service": "WFS", "version": version, "request": "GetFeature",
                            "typeNames": "landdb:parcels", "filter": flt})
    exception(r, "InvalidParameterValue", 400, "filter", client=client)


def test_a_well_formed_id_of_another_type_matches_nothing(client, mode, grid):
    r = get_feature(client, mode, resourceId=f"wards.{grid[0]['id']},{grid[1]['fid']}")
    assert fids(etree.fromstring(r.data)) == [grid[1]["fid"]]


# --- 5. filter size and depth ----------------------------------------------------------------------

def _or_of_nulls(n: int) -> str:
    return fes("<fes:Or>" + "<fes:PropertyIsNull><fes:ValueReference>address</fes:ValueReference>"
               "</fes:PropertyIsNull>" * n + "</fes:Or>")


def test_a_filter_at_the_operator_limit_works(client, mode, grid):
    # the Or itself is one operator
    r = get_feature(client, mode, filter=_or_of_nulls(MAX_FILTER_OPERATORS - 1), count="3")
    assert r.status_code == 200


@pytest.mark.parametrize("n", [MAX_FILTER_OPERATORS, 1000])
def test_a_filter_over_the_operator_limit_is_an_exception(client, n):
    # POST only: 1 000 operators do not fit a request line.
    r = call(client, "post", {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                              "typeNames": "landdb:parcels", "filter": _or_of_nulls(n)})
    exception(r, "InvalidParameterValue", 400, "filter", client=client)
    assert str(MAX_FILTER_OPERATORS) in r.get_data(as_text=True)


def _nested_nots(depth: int) -> str:
    inner = "<fes:PropertyIsNull><fes:ValueReference>address</fes:ValueReference></fes:PropertyIsNull>"
    return fes("<fes:Not>" * depth + inner + "</fes:Not>" * depth)


def test_nesting_up_to_the_limit_works_and_past_it_is_an_exception(client, mode, grid):
    assert get_feature(client, mode, filter=_nested_nots(MAX_FILTER_DEPTH), count="1").status_code == 200
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                            "typeNames": "landdb:parcels", "filter": _nested_nots(MAX_FILTER_DEPTH + 1)})
    exception(r, "InvalidParameterValue", 400, "filter", client=client)


# --- 1. NUL bytes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["typeNames=landdb:parcels%00", "typeNames=landdb:parcels&propertyName=a%00b",
                                   "typeNames=landdb:parcels&at=2024-01-01%00"])
def test_a_nul_byte_in_a_kvp_value_is_invalid_parameter_value(client, query):
    r = client.get("/wfs?service=WFS&version=2.0.0&request=GetFeature&" + query)
    exception(r, "InvalidParameterValue", 400, client=client)
    assert "NUL" in r.get_data(as_text=True)


def test_a_nul_byte_in_a_posted_form_is_invalid_parameter_value(client):
    r = client.post("/wfs", data="service=WFS&version=2.0.0&request=GetFeature&typeNames=" + quote("a\x00"),
                    content_type="application/x-www-form-urlencoded")
    exception(r, "InvalidParameterValue", 400, client=client)


# --- 9. filter errors in our words ------------------------------------------------------------------

@pytest.mark.parametrize("inner, words", [
    ("<fes:PropertyIsEqualTo><fes:ValueReference>land_use</fes:ValueReference></fes:PropertyIsEqualTo>",
     "PropertyIsEqualTo takes 2 operand"),
    ("<fes:PropertyIsBetween><fes:ValueReference>area_m2</fes:ValueReference></fes:PropertyIsBetween>",
     "PropertyIsBetween takes 3 operand"),
    ("<fes:And/>", "And takes at least 1 operand"),
    ("<fes:Not/>", "Not takes 1 operand"),
    ("<fes:Foo/>", "uses Foo, which this service does not support"),
    ("<fes:DWithin><fes:ValueReference>geometry</fes:ValueReference><gml:Point srsName='EPSG:5899'>"
     "<gml:pos>430000 2317000</gml:pos></gml:Point><fes:Distance uom='m'>abc</fes:Distance></fes:DWithin>",
     "Distance must be a number"),
])
def test_filter_errors_say_what_to_change_without_parser_internals(client, mode, inner, words):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                            "typeNames": "landdb:parcels", "filter": fes(inner)})
    exception(r, "InvalidParameterValue", 400, "filter", client=client)
    text = r.get_data(as_text=True)
    assert words in text
    for internal in ("positional argument", "index out of range", "Parser", "()", "could not convert"):
        assert internal not in text
