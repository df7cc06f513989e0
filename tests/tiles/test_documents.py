"""The tiles' documents: tile matrix sets, tilesets, TileJSON 3.0 and the MapLibre style with its colour table."""

from __future__ import annotations

import csv
from importlib import resources

import pytest
from sqlalchemy import text

from .helpers import decode, tile_at


def test_tile_matrix_sets(client):
    listing = client.get("/ogc/tileMatrixSets").get_json()
    assert [s["id"] for s in listing["tileMatrixSets"]] == ["WebMercatorQuad"]
    href = listing["tileMatrixSets"][0]["links"][0]["href"]
    doc = client.get(href).get_json()
    assert doc["id"] == "WebMercatorQuad"
    assert doc["uri"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    assert doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    z14 = next(m for m in doc["tileMatrices"] if m["id"] == "14")
    assert z14["matrixWidth"] == z14["matrixHeight"] == 2 ** 14 and z14["tileWidth"] == 256
    assert z14["pointOfOrigin"] == pytest.approx([-20037508.342789244, 20037508.342789244])
    assert client.get("/ogc/tileMatrixSets/CanadianNAD83_LCC").status_code == 404


@pytest.mark.parametrize("cid, min_zoom", [("parcels", 14), ("wards", 0)])
def test_tileset_metadata_links_to_working_tiles(client, session, cid, min_zoom):
    listing = client.get(f"/ogc/collections/{cid}/tiles").get_json()
    href = next(link["href"] for link in listing["tilesets"][0]["links"] if link["rel"] == "self")
    doc = client.get(href).get_json()
    assert doc["dataType"] == "vector"
    assert doc["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert doc["layers"][0]["id"] == cid and doc["layers"][0]["minTileMatrix"] == str(min_zoom)
    rels = {link["rel"]: link for link in doc["links"]}
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"].endswith("/ogc/tileMatrixSets/WebMercatorQuad")
    template = rels["item"]["href"]
    assert rels["item"]["type"] == "application/vnd.mapbox-vector-tile" and rels["item"]["templated"]
    # The limits cover the city; the tile holding a sample parcel lies within them.
    code = session.execute(text("SELECT parcel_code FROM parcels WHERE retired_on IS NULL ORDER BY id LIMIT 1")).scalar_one()
    t = tile_at(session, code, 16)
    lim = next(li for li in doc["tileMatrixSetLimits"] if li["tileMatrix"] == "16")
    assert lim["minTileCol"] <= t.x <= lim["maxTileCol"] and lim["minTileRow"] <= t.y <= lim["maxTileRow"]
    url = template.replace("{tileMatrix}", "16").replace("{tileRow}", str(t.y)).replace("{tileCol}", str(t.x))
    resp = client.get(url.replace("http://localhost", ""))
    assert resp.status_code == 200 and decode(resp.data)[cid]["features"]


def test_tilejson(client, session):
    doc = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/tilejson.json").get_json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["vector_layers"] == [{
        "id": "parcels", "description": doc["vector_layers"][0]["description"], "minzoom": 14, "maxzoom": 22,
        "fields": {"parcel_code": "String", "land_use": "String", "legal_area_m2": "Number"}}]
    west, south, east, north = doc["bounds"]
    assert 106.7 < west < 107.07 < east < 107.5 and 20.7 < south < 20.95 < north < 21.3
    template = doc["tiles"][0]
    assert template.endswith("/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}")
    code = session.execute(text("SELECT parcel_code FROM parcels WHERE retired_on IS NULL ORDER BY id LIMIT 1")).scalar_one()
    t = tile_at(session, code, 15)
    url = template.format(z=t.z, x=t.x, y=t.y).replace("http://localhost", "")
    assert code in {f["properties"]["parcel_code"] for f in decode(client.get(url).data)["parcels"]["features"]}
    # A day asked of the TileJSON is carried into its tile URLs.
    dated = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/tilejson.json?at=2020-01-01").get_json()
    assert dated["tiles"][0].endswith("{z}/{y}/{x}?at=2020-01-01")


def _csv(name: str) -> list[dict]:
    with resources.files("landdb.data").joinpath(f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_colour_table_covers_every_land_use_code_and_names_its_sources():
    codes = {r["code"] for r in _csv("land_use_codes")}
    colours = _csv("land_use_colours")
    assert {r["code"] for r in colours} == codes and len(colours) == len(codes)
    groups = {r["group"] for r in _csv("land_use_groups")}
    sources = {r["source"] for r in _csv("land_use_colour_sources")}
    for row in colours:
        assert row["group"] in groups and row["source"] in sources
        assert len(row["colour"]) == 7 and int(row["colour"][1:], 16) >= 0


def test_style_colours_parcels_by_land_use_and_draws_wards(client):
    styles = client.get("/ogc/styles").get_json()["styles"]
    href = next(link["href"] for link in styles[0]["links"] if link["rel"] == "stylesheet")
    resp = client.get(href.replace("http://localhost", ""))
    assert resp.mimetype == "application/vnd.mapbox.style+json"
    doc = resp.get_json()
    assert doc["version"] == 8 and "glyphs" not in doc and "sprite" not in doc
    # No external basemap by default: every source is ours.
    assert set(doc["sources"]) == {"parcels", "wards"}
    for src in doc["sources"].values():
        assert src["url"].startswith("http://localhost/ogc/collections/")
        assert client.get(src["url"].replace("http://localhost", "")).get_json()["tilejson"] == "3.0.0"
    layers = {layer["id"]: layer for layer in doc["layers"]}
    fill = layers["parcels-fill"]["paint"]["fill-color"]
    assert fill[:2] == ["match", ["get", "land_use"]]
    pairs = {code: colour for codes, colour in zip(fill[2:-1:2], fill[3:-1:2]) for code in codes}
    assert pairs == {r["code"]: r["colour"] for r in _csv("land_use_colours")}
    assert pairs["ODT"] == "#FFA0FF" and pairs["RSX"] == "#B4FFB4" and fill[-1] == "#E8E8E8"
    assert layers["wards-outline"]["type"] == "line" and layers["wards-label"]["layout"]["text-field"] == ["get", "name"]
    legend = doc["metadata"]["landdb:legend"]
    assert {g["group"] for g in legend} >= {"residential", "agricultural", "forest", "special_use", "unused"}


def test_style_can_add_a_basemap(settings, connection):
    from sqlalchemy.orm import sessionmaker

    from api import create_app

    s = settings.with_(extra={"tiles_basemap": "https://tiles.example/{z}/{x}/{y}.png",
                              "tiles_basemap_attribution": "© example"})
    app = create_app(s, testing=True, sessionmaker=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
    doc = app.test_client().get("/ogc/styles/landdb").get_json()
    assert doc["sources"]["basemap"]["tiles"] == ["https://tiles.example/{z}/{x}/{y}.png"]
    assert [layer["id"] for layer in doc["layers"]][:2] == ["background", "basemap"]


def test_unknown_style_and_format(client):
    assert client.get("/ogc/styles/osm-bright").status_code == 404
    resp = client.get("/ogc/styles/landdb?f=sld")
    assert resp.status_code == 400 and resp.get_json()["field"] == "f"


def test_links_for_the_features_landing_page_and_collections_resolve(app, client):
    from api import tiles

    with app.test_request_context("/ogc"):
        links = tiles.landing_links() + tiles.collection_links("parcels") + tiles.collection_links("wards")
        assert tiles.collection_links("owners") == []
    assert len(links) == 6
    for link in links:
        resp = client.get(link["href"].replace("http://localhost", ""))
        assert resp.status_code == 200 and resp.is_json, link
    assert all(c.startswith("http://www.opengis.net/spec/") for c in tiles.CONFORMANCE)
