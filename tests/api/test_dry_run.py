"""POST /api/v1/transactions?dry_run=true: the registration's answer without a trace — every table,
the journal head and the idempotency key as they were — and the same refusals as the real call."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from landdb import auth, journal

from ..registry_helpers import BANK, X0, Y0, first_registration_body, person, serial, transfer_body

X, Y = X0 + 1800, Y0 + 1800


@pytest.fixture
def keys(session):
    officer, _ = auth.create_key(session, "officer for dry runs", "officer")
    reader, _ = auth.create_key(session, "bank integration", "integration", [auth.RIGHTS_READ])
    return {"officer": officer, "reader": reader}


def post(client, key, body, *, dry_run=False, **headers):
    url = "/api/v1/transactions" + ("?dry_run=true" if dry_run else "")
    return client.post(url, json=body, headers={"Authorization": f"Bearer {key}", **headers})


def snapshot(session) -> dict:
    """Row count of every table in the database, and the journal head."""
    tables = session.execute(text(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1")).scalars().all()
    assert "public.transactions" in tables and "public.parcel_features" in tables
    # The names come from the catalogue (quote_ident), not from input.
    counts = {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
    return {"counts": counts, "head": journal.head(session)}


def registered_parcel(client, key) -> str:
    holders = [dict(person(1), share=0.5), dict(person(2), share=0.5)]
    r = post(client, key, first_registration_body(X, Y, w=20, holders=holders))
    assert r.status_code == 201, r.json
    return r.json["opened"]["parcels"][0]


def test_dry_run_answers_what_would_change_and_writes_nothing(client, keys, session):
    k = keys["officer"]
    code = registered_parcel(client, k)
    body = {"kind": "transfer", "parcel": code, "expected_version": 1, "effective_date": "2024-06-01",
            "transferors": [{"id_number": person(1)["id_number"]}],
            "transferees": [dict(person(3, "Người Mua Thử"), share=0.5)], "certificate": {"serial": serial()}}
    before = snapshot(session)

    dry = post(client, k, body, dry_run=True, **{"Idempotency-Key": "form-1"})
    assert dry.status_code == 200, dry.json
    assert dry.json["dry_run"] is True and dry.json["kind"] == "transfer"
    assert not {"id", "seq", "hash", "prev_hash", "registered_at"} & set(dry.json)
    assert dry.json["closed"]["versions"][0]["version"] == 1
    assert dry.json["opened"]["versions"][0]["version"] == 2
    assert len(dry.json["closed"]["rights"]) == 2 and len(dry.json["opened"]["rights"]) == 2
    assert all("party_name" not in r for side in ("closed", "opened") for r in dry.json[side]["rights"])
    assert snapshot(session) == before

    # The key was not spent, and the deferred foreign keys are deferred again: the real call registers.
    real = post(client, k, body, **{"Idempotency-Key": "form-1"})
    assert real.status_code == 201, real.json
    assert "Idempotent-Replayed" not in real.headers
    for side in ("closed", "opened"):
        assert real.json[side]["versions"] == dry.json[side]["versions"]
        assert real.json[side]["parcels"] == dry.json[side]["parcels"]
        assert [(r["kind"], r["share"]) for r in real.json[side]["rights"]] == \
            [(r["kind"], r["share"]) for r in dry.json[side]["rights"]]
    assert journal.head(session)["seq"] == (before["head"] or {"seq": 0})["seq"] + 1

    # A dry run of a body already registered under its key says so, and still writes nothing.
    after = snapshot(session)
    again = post(client, k, body, dry_run=True, **{"Idempotency-Key": "form-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert "seq" not in again.json
    assert snapshot(session) == after
    assert journal.verify(session).ok


def test_dry_run_of_a_first_registration_creates_no_parcel_and_no_party(client, keys, session):
    before = snapshot(session)
    body = first_registration_body(X, Y + 40, holders=[dict(person(7, "Người Chưa Có"), share=1)])
    r = post(client, keys["officer"], body, dry_run=True)
    assert r.status_code == 200, r.json
    assert len(r.json["opened"]["parcels"]) == 1
    assert snapshot(session) == before
    # The journal's chain lock, taken by the dry run's journal row, went with the savepoint:
    # another connection can take it while this test's transaction is still open.
    other = create_engine(session.get_bind().engine.url)
    try:
        with other.connect() as conn:
            assert conn.execute(text("SELECT pg_try_advisory_xact_lock(5899, -1)")).scalar_one()
    finally:
        other.dispose()


def test_dry_run_is_refused_exactly_as_the_registration(client, keys, session):
    k = keys["officer"]
    code = registered_parcel(client, k)
    seller = {"id_number": person(1)["id_number"]}
    cases = [
        ({"kind": "transfer"}, 400),
        (dict(transfer_body(code, 1, 3), colour="red"), 400),
        ({**transfer_body("06691-701-999999", 1, 3), "transferors": [seller]}, 404),
        ({**transfer_body(code, 1, 3, version=9), "transferors": [seller]}, 409),
        ({**transfer_body(code, 1, 3), "transferors": [seller],
          "transferees": [dict(person(3), share=0.6), dict(person(4), share=0.3)]}, 422),
        ({**transfer_body(code, 1, 3), "transferors": [seller], "effective_date": "2099-01-01"}, 422),
        ({"kind": "mortgage_release", "parcel": code, "expected_version": 1, "effective_date": "2024-05-01",
          "mortgagee": {"id_number": BANK["id_number"]}}, 422),
    ]
    before = snapshot(session)
    for body, status in cases:
        dry = post(client, k, body, dry_run=True)
        assert snapshot(session) == before, body
        real = post(client, k, body)
        assert (dry.status_code, real.status_code) == (status, status), (body, dry.json, real.json)
        assert dry.mimetype == "application/problem+json"
        assert {x: dry.json.get(x) for x in ("title", "detail", "field")} == \
            {x: real.json.get(x) for x in ("title", "detail", "field")}
    assert snapshot(session) == before
    # A key already used for another body: 422 for both.
    post(client, k, {**transfer_body(code, 1, 3), "transferors": [seller]}, **{"Idempotency-Key": "used"})
    other = {"kind": "land_use_change", "parcel": code, "expected_version": 2, "effective_date": "2024-07-01",
             "land_use": "TMD"}
    assert post(client, k, other, dry_run=True, **{"Idempotency-Key": "used"}).status_code == 422
    assert post(client, k, other, **{"Idempotency-Key": "used"}).status_code == 422


def test_dry_run_needs_the_write_scope_and_a_boolean(client, keys, session):
    code = registered_parcel(client, keys["officer"])
    body = {"kind": "land_use_change", "parcel": code, "expected_version": 1, "effective_date": "2024-07-01",
            "land_use": "TMD"}
    assert post(client, keys["reader"], body, dry_run=True).status_code == 403
    assert client.post("/api/v1/transactions?dry_run=true", json=body).status_code == 401
    r = client.post("/api/v1/transactions?dry_run=maybe", json=body,
                    headers={"Authorization": f"Bearer {keys['officer']}"})
    assert r.status_code == 400 and r.json["field"] == "dry_run"
    r = client.post("/api/v1/transactions?dry_run=false", json=body,
                    headers={"Authorization": f"Bearer {keys['officer']}"})
    assert r.status_code == 201 and r.json["seq"]


def test_openapi_documents_the_dry_run(client):
    post_op = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/transactions"]["post"]
    param = next(p for p in post_op["parameters"] if p["name"] == "dry_run")
    assert param["in"] == "query" and param["schema"]["type"] == "boolean"
    assert "200" in post_op["responses"] and "201" in post_op["responses"]
