"""/ogc/api covers every path served under /ogc (features and tiles), validates, and what it documents is accepted;
the tiles' documents validate against OGC API – Tiles 1.0's schemas, and /ogc/conformance declares what is proved here."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from tests.ogc.helpers import SCHEMAS as FEATURES_SCHEMAS

TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
#: OGC API – Tiles 1.0's OpenAPI components (schemas.opengis.net/ogcapi/tiles/part1/1.0/openapi), bundled.
BUNDLE = Path(__file__).parent / "schemas" / "ogcapi-tiles-1.bundled.json"
#: OGC API – Tiles 1.0 /req/oas30/operation-id: the suffixes of the operations served here.
SUFFIXES = {"/collections/{collectionId}/tiles": ".collection.vector.getTileSetsList",
            "/collections/{collectionId}/tiles/{tileMatrixSetId}": ".collection.vector.getTileSet",
            "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}":
                ".collection.vector.getTile"}


@pytest.fixture
def doc(client) -> dict:
    resp = client.get("/ogc/api")
    assert resp.status_code == 200
    return resp.get_json(force=True)


def _resolve(doc: dict, param: dict) -> dict:
    if "$ref" in param:
        return doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
    return param


def _operations(doc: dict):
    """(path, operation, its resolved parameters) for every GET the document lists."""
    for path, item in doc["paths"].items():
        op = item["get"]
        yield path, op, [_resolve(doc, p) for p in op.get("parameters", [])]


def _value(example) -> str:
    return ",".join(map(str, example)) if isinstance(example, list) else str(example)


def _url(path: str, params: list[dict]) -> str:
    for p in params:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", _value(p["example"]))
    assert "{" not in path, f"{path}: a path parameter without an example"
    return "/ogc" + ("" if path == "/" else path)


def test_the_document_is_valid_openapi_3_0(doc):
    meta = yaml.safe_load((FEATURES_SCHEMAS / "openapi_schema_v3.0.yaml").read_text())
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
              for e in jsonschema_rs.validator_for(meta).iter_errors(doc)]
    assert not errors, errors[:5]
    for path, op, params in _operations(doc):
        declared = set(path.replace("}", "{").split("{")[1::2])
        assert declared == {p["name"] for p in params if p["in"] == "path"}, path
    ids = [op["operationId"] for _, op, _ in _operations(doc)]
    assert len(ids) == len(set(ids))


def test_every_path_served_under_ogc_is_documented(app, doc):
    """Each Flask rule under /ogc is reached by a documented path (with its parameters' examples)."""
    adapter = app.url_map.bind("localhost")
    served = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/ogc")}
    documented = {adapter.match(_url(path, params), method="GET")[0] for path, _, params in _operations(doc)}
    assert served - documented == set(), "served under /ogc but not in /ogc/api"
    assert {"tiles.tile", "tiles.tileset", "tiles.tilesets", "tiles.tilejson", "tiles.tile_matrix_sets",
            "tiles.tile_matrix_set", "tiles.styles", "tiles.style_document"} <= documented


def test_tile_paths_document_their_parameters_and_responses(doc):
    tile = "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    op = doc["paths"][tile]["get"]
    names = {_resolve(doc, p)["name"] for p in op["parameters"]}
    assert {"collectionId", "tileMatrixSetId", "tileMatrix", "tileRow", "tileCol", "datetime", "at", "filter",
            "filter-lang", "filter-crs", "If-None-Match"} <= names
    assert {"200", "204", "304", "400", "404"} <= set(op["responses"])
    assert list(op["responses"]["200"]["content"]) == ["application/vnd.mapbox-vector-tile"]
    assert "ETag" in op["responses"]["200"]["headers"]
    for status in ("400", "404"):
        assert list(op["responses"][status]["content"]) == ["application/problem+json"]
    # The tiles' filter parameters are the OGC API's own: one parser, one description.
    assert {"$ref": "#/components/parameters/filter"} in op["parameters"]
    assert {"$ref": "#/components/parameters/filter"} in doc["paths"]["/collections/parcels/items"]["get"]["parameters"]
    for path, suffix in SUFFIXES.items():
        assert doc["paths"][path]["get"]["operationId"].endswith(suffix)


def _calls(doc: dict):
    """Every documented GET with each of its query parameters alone, set to the parameter's example."""
    out = []
    for path, op, params in _operations(doc):
        url = _url(path, params)
        out.append((op, url, {}))
        for p in params:
            if p["in"] == "query":
                out.append((op, url, {p["name"]: _value(p["example"])}))
    return out


def test_documented_parameters_are_accepted(client, doc):
    """What the document allows is answered (never a 400, never a 5xx), in a documented media type."""
    calls = _calls(doc)
    assert len(calls) > 60
    refused = []
    for op, url, query in calls:
        resp = client.get(url, query_string=query)
        ok = (200, 204) + ((404,) if op["operationId"] == "getFeature" else ())
        if resp.status_code not in ok:
            refused.append((url, query, resp.status_code, resp.get_data(as_text=True)[:200]))
            continue
        documented = op["responses"][str(resp.status_code)]
        if resp.status_code == 200:
            types = {t.split(";")[0] for t in documented["content"]}
            if resp.mimetype not in types:
                refused.append((url, query, f"answered {resp.mimetype}, documented {sorted(types)}"))
    assert not refused, refused[:5]


def test_a_documented_tile_revalidates_with_304(client, doc):
    tile = "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    url = _url(tile, [_resolve(doc, p) for p in doc["paths"][tile]["get"]["parameters"]])
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "application/vnd.mapbox-vector-tile"
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]


# --- OGC API – Tiles 1.0: documents against the standard's schemas, conformance ---------------


@lru_cache(maxsize=None)
def _tiles_validator(schema: str):
    bundle = json.loads(BUNDLE.read_text())
    return jsonschema_rs.validator_for({"$ref": schema, "components": bundle["components"]})


def _valid(doc: dict, schema: str) -> None:
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in _tiles_validator(schema).iter_errors(doc)]
    assert not errors, f"not a valid {schema}: " + "; ".join(errors[:10])


@pytest.mark.parametrize("cid", ["parcels", "wards"])
def test_tilesets_and_tileset_documents_follow_the_standard(client, cid):
    """tilesets-list, tileset and geodata-tilesets: the documents validate, link as required."""
    coll = client.get(f"/ogc/collections/{cid}").get_json()
    rel = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
    href = next(ln["href"] for ln in coll["links"] if ln["rel"] == rel)
    assert href.endswith(f"/ogc/collections/{cid}/tiles")
    listing = client.get(href.replace("http://localhost", "")).get_json()
    _valid(listing, "#/components/responses/TileSetsList/content/application~1json/schema")
    for item in listing["tilesets"]:
        rels = {ln["rel"] for ln in item["links"]}
        assert {"self", "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"} <= rels
        assert item["dataType"] == "vector" and item["crs"]
        self_href = next(ln["href"] for ln in item["links"] if ln["rel"] == "self")
        tileset = client.get(self_href.replace("http://localhost", "")).get_json()
        _valid(tileset, "#/components/schemas/tileSet")
        item_links = [ln for ln in tileset["links"] if ln["rel"] == "item"]
        assert item_links and all(ln["templated"] is True and ln["type"] == "application/vnd.mapbox-vector-tile"
                                  for ln in item_links)
        assert all(v in item_links[0]["href"] for v in ("{tileMatrix}", "{tileRow}", "{tileCol}"))


def test_tile_matrix_sets_follow_the_standard(client):
    listing = client.get("/ogc/tileMatrixSets").get_json()
    _valid(listing, "#/components/responses/TileMatrixSetsList/content/application~1json/schema")
    for item in listing["tileMatrixSets"]:
        tms = client.get(item["links"][0]["href"].replace("http://localhost", "")).get_json()
        _valid(tms, "#/components/schemas/tileMatrixSet")


def test_conformance_declares_the_tiles_classes_proved_here(client):
    conf = set(client.get("/ogc/conformance").get_json()["conformsTo"])
    tiles = {c.removeprefix(TILES) for c in conf if c.startswith(TILES)}
    # core, mvt: tests/tiles/test_tiles.py (tiles decoded, 204 for empty ones, 404 out of range);
    # tileset, tilesets-list, geodata-tilesets, oas30: this module.
    assert tiles == {"core", "tileset", "tilesets-list", "geodata-tilesets", "mvt", "oas30"}
