"""ETag, If-None-Match and If-Match: what CORS advertises, the API does."""

from __future__ import annotations

import pytest
from sqlalchemy import text


from ..registry_helpers import X0, Y0, first_registration_body
from .rest.conftest import assert_problem

X, Y = X0 + 3100, Y0 + 2900


@pytest.fixture
def code(api, officer):
    resp = api.post("/api/v1/transactions", json=first_registration_body(X, Y, sheet=883), headers=officer)
    assert resp.status_code == 201, resp.json
    return resp.json["opened"]["parcels"][0]


def land_use_change(code, land_use="TMD", **extra):
    return {"kind": "land_use_change", "parcel": code, "effective_date": "2024-06-01", "land_use": land_use, **extra}


def test_a_parcel_carries_its_version_as_etag_and_if_none_match_gives_304(api, officer, code):
    first = api.get(f"/api/v1/parcels/{code}")
    assert first.headers["ETag"] == '"1"'
    again = api.get(f"/api/v1/parcels/{code}", headers={"If-None-Match": '"1"'})
    assert again.status_code == 304 and again.data == b""
    assert api.post("/api/v1/transactions", json=land_use_change(code, expected_version=1),
                    headers=officer).status_code == 201
    changed = api.get(f"/api/v1/parcels/{code}", headers={"If-None-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    assert changed.json["properties"]["land_use"] == "TMD"


def test_if_match_is_the_expected_version_and_a_stale_one_is_412(api, officer, code, session):
    tag = api.get(f"/api/v1/parcels/{code}").headers["ETag"]
    ok = api.post("/api/v1/transactions", json=land_use_change(code), headers={**officer, "If-Match": tag})
    assert ok.status_code == 201, ok.json
    journal = session.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    stale = api.post("/api/v1/transactions", json=land_use_change(code, "CLN"), headers={**officer, "If-Match": tag})
    assert_problem(stale, 412)
    assert session.execute(text("SELECT count(*) FROM transactions")).scalar_one() == journal
    assert_problem(api.post("/api/v1/transactions", json=land_use_change(code, "CLN", expected_version=1),
                            headers={**officer, "If-Match": '"2"'}), 412)
    assert_problem(api.post("/api/v1/transactions", json=land_use_change(code, "CLN"),
                            headers={**officer, "If-Match": "W/\"2\""}), 400)


def test_a_transaction_is_tagged_per_detail_level(api, officer, code):
    tx = api.get(f"/api/v1/parcels/{code}/history").json["transactions"][0]["id"]
    public = api.get(f"/api/v1/transactions/{tx}")
    full = api.get(f"/api/v1/transactions/{tx}", headers=officer)
    assert public.headers["ETag"] != full.headers["ETag"]
    assert "Authorization" in public.headers["Vary"]
    again = api.get(f"/api/v1/transactions/{tx}", headers={"If-None-Match": public.headers["ETag"]})
    assert again.status_code == 304
    assert api.get(f"/api/v1/transactions/{tx}", headers={**officer, "If-None-Match": public.headers["ETag"]}
                   ).status_code == 200
