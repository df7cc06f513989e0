"""Cheap requests that used to get a 500 or slip through: each a clear 4xx, nothing written."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import text

from landdb import auth

from ..registry_helpers import X0, Y0, first_registration_body, person, serial
from .rest.conftest import assert_problem, bearer

X, Y = X0 + 2600, Y0 + 2600


def journal_length(session) -> int:
    return session.execute(text("SELECT count(*) FROM transactions")).scalar_one()


# --- 1. NUL characters -------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/v1/parcels?address=ha%00long", "/api/v1/parties?q=a%00b",
                                 "/api/v1/parcels?ward%00=1", "/api/v1/transactions?parcel=0%00"])
def test_a_nul_byte_in_the_query_is_400(api, officer, url):
    body = assert_problem(api.get(url, headers=officer), 400)
    assert "NUL" in body["detail"]


def test_a_nul_character_in_a_json_body_is_400_and_writes_nothing(api, officer, session):
    before = journal_length(session)
    payload = first_registration_body(X, Y)
    payload["address"] = "Tổ 5\u0000"
    body = assert_problem(api.post("/api/v1/transactions", json=payload, headers=officer), 400)
    assert "NUL" in body["detail"]
    assert journal_length(session) == before


# --- 2. numbers past bigint --------------------------------------------------------------------

@pytest.mark.parametrize("query", ["offset=9223372036854775808", "limit=9223372036854775808",
                                   "after=99999999999999999999999", "offset=-1", "after=x"])
def test_journal_paging_numbers_are_bounded(api, query):
    body = assert_problem(api.get(f"/api/v1/transactions?{query}"), 400)
    assert query.split("=")[0] in body["detail"]


def test_a_transaction_id_past_bigint_is_404(api):
    assert_problem(api.get("/api/v1/transactions/99999999999999999999999"), 404)


# --- 3. deeply nested JSON ---------------------------------------------------------------------

@pytest.mark.parametrize("path, data", [
    ("/api/v1/parcels/query", '{"geometry":' + "[" * 1000 + "]" * 1000 + "}"),
    ("/api/v1/transactions", "[" * 100_000 + "]" * 100_000),
    ("/api/v1/transactions", '{"a":' * 100_000 + "1" + "}" * 100_000),
])
def test_deeply_nested_json_is_400(api, officer, session, path, data):
    before = journal_length(session)
    body = assert_problem(api.post(path, data=data, content_type="application/json", headers=officer), 400)
    assert "deeper than" in body["detail"]
    assert journal_length(session) == before


# --- 6. strict types on registrations ----------------------------------------------------------

def _registered(api, officer) -> str:
    resp = api.post("/api/v1/transactions", json=first_registration_body(X, Y, sheet=881), headers=officer)
    assert resp.status_code == 201, resp.json
    return resp.json["opened"]["parcels"][0]


@pytest.mark.parametrize("change, field", [
    ({"expected_version": "1"}, "expected_version"),
    ({"expected_version": 1.0}, "expected_version"),
    ({"expected_version": True}, "expected_version"),
    ({"land_use": 7}, "land_use"),
    ({"effective_date": 20240601}, "effective_date"),
    ({"dossier_no": ["HS"]}, "dossier_no"),
    ({"parcel": 6691}, "parcel"),
    ({"surprise": 1}, "surprise"),
])
def test_a_registration_with_a_wrongly_typed_field_writes_nothing(api, officer, session, change, field):
    code = _registered(api, officer)
    before = journal_length(session)
    payload = {"kind": "land_use_change", "parcel": code, "expected_version": 1,
               "effective_date": "2024-06-01", "land_use": "TMD", **change}
    body = assert_problem(api.post("/api/v1/transactions", json=payload, headers=officer), 400)
    assert field in body["detail"]
    assert journal_length(session) == before
    assert api.get(f"/api/v1/parcels/{code}").json["properties"]["version"] == 1


@pytest.mark.parametrize("change, field", [
    ({"sheet_no": "881"}, "sheet_no"),
    ({"legal_area_m2": "100"}, "legal_area_m2"),
    ({"holders": [dict(person(1), share="1")]}, "holders[0].share"),
    ({"holders": [dict(person(1), birth_year="1980", share=1)]}, "holders[0].birth_year"),
    ({"certificate": {"serial": serial(), "colour": "red"}}, "certificate.colour"),
    ({"geometry": "POLYGON((0 0, 1 0, 1 1, 0 0))"}, "geometry"),
])
def test_a_first_registration_with_a_wrongly_typed_field_writes_nothing(api, officer, session, change, field):
    before = journal_length(session)
    payload = {**first_registration_body(X, Y + 40, sheet=882), **change}
    body = assert_problem(api.post("/api/v1/transactions", json=payload, headers=officer), 400)
    assert field in body["detail"]
    assert journal_length(session) == before


# --- 8. bodies: one limit, closed rings ---------------------------------------------------------

def test_an_unclosed_ring_is_422(api):
    ring = [[107.07, 20.95], [107.08, 20.95], [107.08, 20.96]]
    body = assert_problem(api.post("/api/v1/parcels/query",
                                   json={"geometry": {"type": "Polygon", "coordinates": [ring]}}), 422)
    assert "at least 4" in body["detail"]
    ring4 = ring + [[107.07, 20.96]]
    body = assert_problem(api.post("/api/v1/parcels/query",
                                   json={"geometry": {"type": "Polygon", "coordinates": [ring4]}}), 422)
    assert "not closed" in body["detail"]


@pytest.mark.parametrize("path", ["/api/v1/parcels/query", "/api/v1/transactions"])
def test_every_json_endpoint_refuses_a_large_body_with_413(api, officer, session, path):
    before = journal_length(session)
    big = b'{"kind": "split", "x": "' + b"a" * 2_100_000 + b'"}'
    assert_problem(api.post(path, data=big, content_type="application/json", headers=officer), 413)
    # Sent chunked (no Content-Length), by a server that terminates the stream itself.
    resp = api.post(path, input_stream=io.BytesIO(big), content_type="application/json",
                    headers={**officer, "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert_problem(resp, 413)
    assert journal_length(session) == before


# --- 9. details in our words -------------------------------------------------------------------

@pytest.mark.parametrize("geometry", [
    {"type": "Point", "coordinates": ["107.07", "20.95"]},
    {"type": "Polygon", "coordinates": [[[107.07, 20.95], [107.08, 20.95], [107.07, 20.95]]]},
    {"type": "MultiPolygon", "coordinates": [[107.07, 20.95]]},
    {"type": "LineString", "coordinates": [[107.07, 20.95, 1, 2]]},
])
def test_geometry_errors_name_no_library_internals(api, geometry):
    body = assert_problem(api.post("/api/v1/parcels/query", json={"geometry": geometry}), 422)
    for internal in ("Error", "Exception", "np.", "GEOS", "shapely"):
        assert internal not in body["detail"]
    assert body["detail"].startswith("geometry: ")


# --- 11. dossier numbers: one rule --------------------------------------------------------------

def test_history_shows_dossier_numbers_only_with_rights_read(api, officer, session):
    code = _registered(api, officer)
    bank, _ = auth.create_key(session, "bank", "integration", [auth.RIGHTS_READ])
    session.commit()
    public = api.get(f"/api/v1/parcels/{code}/history").json
    assert "dossier_no" not in public["transactions"][0]
    assert "dossier_no" not in public["versions"][0]["opened_by"]
    tx = public["transactions"][0]["id"]
    assert "dossier_no" not in api.get(f"/api/v1/transactions/{tx}").json
    seen = api.get(f"/api/v1/parcels/{code}/history", headers=bearer(bank)).json
    assert seen["transactions"][0]["dossier_no"] == "HS-0001"
    assert seen["versions"][0]["opened_by"]["dossier_no"] == "HS-0001"
    assert api.get(f"/api/v1/transactions/{tx}", headers=bearer(bank)).json["dossier_no"] == "HS-0001"


# --- 12. GET on the POST-only search ------------------------------------------------------------

def test_get_on_the_geometry_search_is_405_with_allow_post(api):
    resp = api.get("/api/v1/parcels/query")
    assert_problem(resp, 405)
    assert "POST" in resp.headers["Allow"] and "GET" not in resp.headers["Allow"]
    # a code that merely starts like it is still a (malformed) parcel code
    assert_problem(api.get("/api/v1/parcels/queryx"), 400)
