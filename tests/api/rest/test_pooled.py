"""The app as production runs it: its own pools, single reads on pooled autocommit connections as
prepared statements. Its answers equal those of the app the other tests use (sessions in the
test's transaction); keys are checked on the autocommit path too, revocation included; no
connection is left inside a transaction; small answers come whole, with their length."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api import create_app
from landdb import auth

from tests.factories import sample_parcels

from .conftest import bearer


@pytest.fixture(scope="module")
def pooled(settings):
    return create_app(settings.with_(rate_limit="", rate_limit_public=""), testing=True).test_client()


@pytest.fixture(scope="module")
def sample(engine):
    """Ten current parcels of the committed sample: code, and a point inside each (lon, lat)."""
    return sample_parcels(engine, 10)


def _without_timestamp(body: bytes) -> dict:
    doc = json.loads(body)
    doc.pop("timeStamp", None)
    return doc


def test_lookups_agree_with_the_transactional_path(pooled, api, sample):
    for code, lon, lat in sample:
        urls = [f"/api/v1/parcels/{code}", f"/api/v1/parcels/{code}?crs=EPSG:5899",
                f"/api/v1/parcels/at?lon={lon}&lat={lat}", f"/api/v1/parcels/near?lon={lon}&lat={lat}&radius=50"]
        for url in urls:
            expected = api.get(url)
            assert expected.status_code == 200, url
            for _ in range(3):  # prepared on first use, then executed
                got = pooled.get(url)
                assert got.status_code == 200, (url, got.get_data(as_text=True))
                assert _without_timestamp(got.data) == _without_timestamp(expected.data), url


def test_unknown_parcel_and_point_outside_are_404_on_the_pooled_path(pooled):
    assert pooled.get("/api/v1/parcels/99999-1-1").status_code == 404
    assert pooled.get("/api/v1/parcels/at?lon=107.5&lat=20.5").status_code == 404  # in the sea


def test_keys_are_checked_on_the_autocommit_path_and_revocation_is_immediate(pooled, engine, sample):
    with Session(engine) as session:
        plain, row = auth.create_key(session, "pooled-bank", "integration", [auth.RIGHTS_READ])
        session.commit()
        key_id = row.id
    try:
        url = f"/api/v1/parcels/{sample[0][0]}/rights"
        assert pooled.get(url, headers=bearer(plain)).status_code == 200
        assert pooled.get(url, headers=bearer(plain + "x")).status_code == 401
        with Session(engine) as session:
            auth.revoke_key(session, key_id)
            session.commit()
        assert pooled.get(url, headers=bearer(plain)).status_code == 401
    finally:
        with Session(engine) as session:
            session.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key_id})
            session.commit()


def test_no_pooled_connection_is_left_in_a_transaction(pooled, engine, sample):
    code, lon, lat = sample[0]
    for url in (f"/api/v1/parcels/{code}", f"/api/v1/parcels/at?lon={lon}&lat={lat}", "/api/v1/parcels/99999-1-1",
                f"/api/v1/parcels?limit=500&bbox={lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}",
                "/wfs?service=WFS&version=2.0.0&request=GetFeature&typeNames=landdb:parcels&count=5"):
        assert pooled.get(url).status_code in (200, 404)
    with engine.connect() as conn:
        stuck = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'landdb'"
            " AND datname = current_database() AND state LIKE 'idle in transaction%'")).scalar_one()
    assert stuck == 0


def test_small_answers_come_whole_with_their_length(pooled, sample):
    code, lon, lat = sample[0]
    for url in (f"/api/v1/parcels/near?lon={lon}&lat={lat}&radius=50",
                "/wfs?service=WFS&version=2.0.0&request=GetFeature&typeNames=landdb:parcels&count=5",
                "/wfs?service=WFS&version=2.0.0&request=GetFeature&typeNames=landdb:parcels&count=5"
                "&outputFormat=application/json"):
        resp = pooled.get(url)
        assert resp.status_code == 200
        assert int(resp.headers["Content-Length"]) == len(resp.data), url
    # The path is chosen by what comes back: a large page asked for that matches a few comes
    # whole, one that returns more than a buffered page may hold streams.
    resp = pooled.get(f"/api/v1/parcels?limit=1000&bbox={lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}")
    body = resp.get_json()
    assert resp.status_code == 200 and 0 < body["numberReturned"] == body["numberMatched"] < 1000
    assert int(resp.headers["Content-Length"]) == len(resp.data)


def test_search_arguments_are_read_by_schemas_built_once(pooled, sample, monkeypatch):
    """A REST search builds no marshmallow schema per request (each deep-copies its fields)."""
    import marshmallow

    built = []
    init = marshmallow.Schema.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        init(self, *args, **kwargs)

    monkeypatch.setattr(marshmallow.Schema, "__init__", counting)
    code, lon, lat = sample[0]
    for url in (f"/api/v1/parcels?limit=1000&bbox={lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}",
                f"/api/v1/parcels/{code}/history", f"/api/v1/parcels/{code}?crs=EPSG:5899"):
        assert pooled.get(url).status_code == 200, url
    resp = pooled.post("/api/v1/parcels/query", json={"geometry": {"type": "Point", "coordinates": [lon, lat]}})
    assert resp.status_code == 200 and resp.get_json()["features"][0]["id"] == code
    assert built == []


def test_answers_larger_than_a_buffered_page_stream(pooled, monkeypatch):
    # The sample holds fewer parcels than a buffered page: make the page smaller instead.
    from landdb.query import renderers

    monkeypatch.setattr(renderers, "BUFFERED_MAX", 100)
    resp = pooled.get("/wfs?service=WFS&version=2.0.0&request=GetFeature&typeNames=landdb:parcels"
                      "&count=1000&outputFormat=application/json")
    assert resp.status_code == 200 and "Content-Length" not in resp.headers
    body = resp.get_json()
    assert len(body["features"]) == body["numberReturned"] == 1000
    ids = [int(f["id"].split(".")[1]) for f in body["features"]]
    assert ids == sorted(set(ids))


def test_bench_floor_answers_what_the_lookup_answers(settings, pooled, sample):
    """The benchmark's framework floor is the same statement and body as the real lookup."""
    assert pooled.get(f"/api/v1/bench/floor/{sample[0][0]}").status_code == 404  # off by default
    bench = create_app(settings.with_(rate_limit="", rate_limit_public="", extra={"bench_routes": "1"}),
                       testing=True).test_client()
    for code, _lon, _lat in sample[:3]:
        floor = bench.get(f"/api/v1/bench/floor/{code}")
        assert floor.status_code == 200
        assert floor.data == pooled.get(f"/api/v1/parcels/{code}").data
    assert bench.get("/api/v1/bench/floor/99999-1-1").status_code == 404
