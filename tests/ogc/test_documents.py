"""The OGC API's documents: landing page, conformance, OpenAPI, collections, queryables — JSON and HTML."""

from __future__ import annotations

import jsonschema_rs
import pytest
import yaml

from .helpers import SCHEMAS, validate

F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"


def test_landing_page_links_the_api_conformance_and_data(client):
    resp = client.get("/ogc/")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = resp.get_json()
    validate(doc, "landingPage")
    rels = {ln["rel"]: ln for ln in doc["links"]}
    assert rels["service-desc"]["href"].endswith("/ogc/api")
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["conformance"]["href"].endswith("/ogc/conformance")
    assert rels["data"]["href"].endswith("/ogc/collections")
    assert rels["self"]["type"] == "application/json" and rels["alternate"]["type"] == "text/html"
    assert client.get("/ogc").status_code == 200


def test_conformance_lists_the_classes_the_tests_cover(client):
    doc = client.get("/ogc/conformance").get_json()
    validate(doc, "confClasses")
    conf = set(doc["conformsTo"])
    for c in ("core", "geojson", "html", "oas30"):
        assert F1 + c in conf
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conf
    assert "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison" in conf
    # Nothing we do not do: no GML, no temporal functions, no arrays, no arithmetic.
    assert not any(c.endswith(("/gmlsf0", "/gmlsf2", "/temporal-functions", "/array-functions", "/arithmetic"))
                   for c in conf)


def test_openapi_document_is_valid_openapi_3_0(client):
    resp = client.get("/ogc/api")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.oai.openapi+json"
    doc = resp.get_json(force=True)
    meta = yaml.safe_load((SCHEMAS / "openapi_schema_v3.0.yaml").read_text())
    errors = [e.message for e in jsonschema_rs.validator_for(meta).iter_errors(doc)]
    assert not errors, errors[:5]
    paths = doc["paths"]
    for path in ("/", "/conformance", "/api", "/collections", "/collections/{collectionId}",
                 "/collections/parcels/items", "/collections/wards/items",
                 "/collections/{collectionId}/items/{featureId}", "/collections/{collectionId}/queryables"):
        assert path in paths, path
    names = {p.get("$ref", "").split("/")[-1] or p["name"] for p in paths["/collections/parcels/items"]["get"]["parameters"]}
    assert {"limit", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs", "sortby",
            "properties", "land_use", "parcel_code"} <= names
    assert doc["servers"][0]["url"].endswith("/ogc")


def test_collections_describe_both_layers_with_extent_and_crs(client):
    doc = client.get("/ogc/collections").get_json()
    validate(doc, "collections")
    by_id = {c["id"]: c for c in doc["collections"]}
    assert set(by_id) == {"parcels", "wards"}
    parcels = by_id["parcels"]
    assert parcels["title"].startswith("Thửa đất")
    west, south, east, north = parcels["extent"]["spatial"]["bbox"][0]
    # The sample lies in Hạ Long: lon 106.88–107.22, lat 20.90–21.25.
    assert 106.8 < west < east < 107.3 and 20.8 < south < north < 21.3
    assert parcels["crs"][0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert {"http://www.opengis.net/def/crs/EPSG/0/4326", "http://www.opengis.net/def/crs/EPSG/0/3857",
            "http://www.opengis.net/def/crs/EPSG/0/5899"} <= set(parcels["crs"])
    assert parcels["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/5899"
    rels = {(ln["rel"], ln["type"]) for ln in parcels["links"]}
    assert ("items", "application/geo+json") in rels and ("items", "text/html") in rels
    assert ("http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json") in rels


def test_one_collection_and_unknown_ones(client):
    doc = client.get("/ogc/collections/wards").get_json()
    validate(doc, "collection")
    assert doc["id"] == "wards"
    resp = client.get("/ogc/collections/roads")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert "roads" in resp.get_json()["detail"]
    assert client.get("/ogc/collections/roads/items").status_code == 404


def test_queryables_are_a_json_schema_of_the_public_properties(client):
    resp = client.get("/ogc/collections/parcels/queryables")
    assert resp.status_code == 200 and resp.mimetype == "application/schema+json"
    doc = resp.get_json(force=True)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith("/ogc/collections/parcels/queryables")
    props = doc["properties"]
    assert props["land_use"]["type"] == "string" and props["legal_area_m2"]["type"] == "number"
    assert props["sheet_no"]["type"] == "integer" and props["valid_from"]["format"] == "date"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert props["address"]["title"] == "Địa chỉ"
    # Public attributes only: nothing about owners.
    assert not {"owner", "party", "id_number", "name"} & set(props)
    jsonschema_rs.validator_for(doc)  # itself a valid schema


@pytest.mark.parametrize("path", ["/ogc/", "/ogc/conformance", "/ogc/collections", "/ogc/collections/parcels",
                                  "/ogc/collections/parcels/queryables", "/ogc/api"])
def test_html_pages_in_vietnamese(client, path):
    resp = client.get(path + "?f=html")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    text = resp.get_data(as_text=True)
    assert '<html lang="vi">' in text and "Trang đầu" in text
    # The browser's Accept header picks HTML too.
    assert client.get(path, headers={"Accept": "text/html,application/xhtml+xml"}).mimetype == "text/html"


def test_bad_format_and_unknown_parameters_are_400_naming_them(client):
    resp = client.get("/ogc/collections?f=xml")
    assert resp.status_code == 400 and resp.get_json()["field"] == "f"
    resp = client.get("/ogc/conformance?foo=1")
    assert resp.status_code == 400 and resp.get_json()["field"] == "foo"


def test_the_tiles_join_the_landing_page_collections_and_conformance(client):
    landing = client.get("/ogc/").get_json()
    schemes = [ln for ln in landing["links"] if ln["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"]
    assert schemes and client.get(schemes[0]["href"]).status_code == 200
    parcels = client.get("/ogc/collections/parcels").get_json()
    validate(parcels, "collection")
    tilesets = [ln for ln in parcels["links"] if ln["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"]
    assert tilesets and client.get(tilesets[0]["href"]).status_code == 200
    conf = client.get("/ogc/conformance").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core" in conf and len(conf) == len(set(conf))
