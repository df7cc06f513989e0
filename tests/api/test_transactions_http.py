"""POST /api/v1/transactions for every kind, with the REST answer right after; GET of one
transaction and of the journal; keys and scopes; Idempotency-Key; 16 concurrent clients."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from api import create_app
from landdb import auth, journal

from ..registry_helpers import (BANK, X0, Y0, commit_parcel, first_registration_body, own_database_url, person,
                                rect, serial, transfer_body)

X, Y = X0 + 1400, Y0 + 1400


@pytest.fixture
def keys(session):
    officer, _ = auth.create_key(session, "officer for tests", "officer")
    writer, _ = auth.create_key(session, "notary integration", "integration", [auth.TRANSACTIONS_WRITE])
    reader, _ = auth.create_key(session, "bank integration", "integration", [auth.RIGHTS_READ])
    return {"officer": officer, "writer": writer, "reader": reader}


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def post(client, key, body, **headers):
    return client.post("/api/v1/transactions", json=body, headers={**bearer(key), **headers})


def parcel(client, code):
    resp = client.get(f"/api/v1/parcels/{code}")
    assert resp.status_code == 200, resp.json
    return resp.json["properties"]


def wfs(client, session, code):
    """The parcel as the WFS serves it right now (GeoJSON), or None when it is not served."""
    pid = session.execute(text("SELECT max(id) FROM parcels WHERE parcel_code = :c"), {"c": code}).scalar_one()
    r = client.get("/wfs", query_string={"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                         "typeNames": "landdb:parcels", "resourceId": f"parcels.{pid}",
                                         "outputFormat": "application/json"})
    assert r.status_code == 200, r.data[:300]
    features = r.json["features"]
    return features[0]["properties"] if features else None


def party(session, n):
    return session.execute(text("SELECT id FROM parties WHERE id_number = :n"),
                           {"n": person(n)["id_number"]}).scalar_one()


def test_every_kind_over_http_with_the_rest_answer_right_after(client, keys, session):
    k = keys["officer"]
    holders = [dict(person(1), share=0.5), dict(person(2), share=0.5)]
    r = post(client, k, first_registration_body(X, Y, w=20, holders=holders))
    assert r.status_code == 201, r.json
    assert r.headers["Location"].endswith(f"/api/v1/transactions/{r.json['id']}")
    a = r.json["opened"]["parcels"][0]
    assert {"id", "seq", "hash", "kind", "closed", "opened"} <= set(r.json)
    assert parcel(client, a)["version"] == 1
    # the neighbour b, for the merge later
    b = post(client, k, first_registration_body(X, Y + 10, w=20, holders=holders)).json["opened"]["parcels"][0]

    steps = [
        ({"kind": "mortgage", "parcel": a, "expected_version": 1, "effective_date": "2024-04-01",
          "mortgagee": BANK, "secured_amount_vnd": 1_500_000_000}, lambda p: p["version"] == 2),
        ({"kind": "mortgage_release", "parcel": a, "expected_version": 2, "effective_date": "2024-05-01",
          "mortgagee": {"id_number": BANK["id_number"]}}, lambda p: p["version"] == 3),
        ({"kind": "transfer", "parcel": a, "expected_version": 3, "effective_date": "2024-06-01",
          "transferors": [{"id_number": person(1)["id_number"]}], "transferees": [dict(person(3), share=0.5)],
          "certificate": {"serial": serial()}}, lambda p: p["version"] == 4),
        ({"kind": "inheritance", "parcel": a, "expected_version": 4, "effective_date": "2024-06-02",
          "transferors": [{"id_number": person(3)["id_number"]}], "transferees": [dict(person(1), share=0.5)],
          "certificate": {"serial": serial()}}, lambda p: p["version"] == 5),
        ({"kind": "land_use_change", "parcel": a, "expected_version": 5, "effective_date": "2024-07-01",
          "land_use": "TMD"}, lambda p: p["land_use"] == "TMD" and p["version"] == 6),
        ({"kind": "certificate_reissue", "parcel": a, "expected_version": 6, "effective_date": "2024-07-02",
          "certificate": {"serial": serial("AA")}}, lambda p: p["version"] == 7),
        ({"kind": "geometry_correction", "parcel": a, "expected_version": 7, "effective_date": "2024-07-03",
          "geometry": rect(X, Y, 20, 10), "legal_area_m2": 200}, lambda p: p["legal_area_m2"] == 200.0),
        ({"kind": "land_use_change", "parcel": b, "expected_version": 1, "effective_date": "2024-07-01",
          "land_use": "TMD"}, lambda p: p["land_use"] == "TMD"),
    ]
    for body, check in steps:
        r = post(client, k, body)
        assert r.status_code == 201, (body["kind"], r.json)
        assert r.json["kind"] == body["kind"]
        assert check(parcel(client, body["parcel"])), body["kind"]
        assert check(dict(parcel(client, body["parcel"]), **(wfs(client, session, body["parcel"]) or {}))), body["kind"]
        got = client.get(r.headers["Location"], headers=bearer(k))
        assert got.status_code == 200 and got.json["hash"] == r.json["hash"]

    r = post(client, k, {"kind": "merge", "parcels": [a, b], "expected_version": {a: 8, b: 2},
                         "effective_date": "2024-08-01", "certificate": {"serial": serial()}})
    assert r.status_code == 201, r.json
    merged = r.json["opened"]["parcels"][0]
    assert parcel(client, a)["status"] == "retired" and parcel(client, merged)["legal_area_m2"] == 400.0

    r = post(client, k, {"kind": "split", "parcel": merged, "expected_version": 1, "effective_date": "2024-09-01",
                         "children": [{"geometry": rect(X, Y, 20, 12), "legal_area_m2": 240},
                                      {"geometry": rect(X, Y + 12, 20, 8), "legal_area_m2": 160}]})
    assert r.status_code == 201, r.json
    kids = r.json["opened"]["parcels"]
    assert [parcel(client, c)["legal_area_m2"] for c in kids] == [240.0, 160.0]
    assert parcel(client, merged)["status"] == "retired"
    assert [wfs(client, session, c)["legal_area_m2"] for c in kids] == [240.0, 160.0]
    assert wfs(client, session, merged) is None  # the WFS serves current parcels
    history = client.get(f"/api/v1/parcels/{kids[0]}/history").json
    assert history["parents"] == [{"parcel_code": merged, "kind": "split", "transaction_id": r.json["id"]}]
    merged_history = client.get(f"/api/v1/parcels/{merged}/history").json
    assert sorted(p["parcel_code"] for p in merged_history["parents"]) == sorted([a, b])
    assert sorted(c["parcel_code"] for c in merged_history["children"]) == sorted(kids)
    old_a = client.get(f"/api/v1/parcels/{a}/history").json
    assert [v["version"] for v in old_a["versions"]] == list(range(1, 9))  # nothing lost
    assert old_a["versions"][0]["valid_to"] == "2024-04-01" and old_a["status"] == "retired"

    listed = client.get(f"/api/v1/transactions?parcel={a}").json
    assert [t["kind"] for t in listed["transactions"]] == [
        "first_registration", "mortgage", "mortgage_release", "transfer", "inheritance", "land_use_change",
        "certificate_reissue", "geometry_correction", "merge"]
    assert journal.verify(session).ok
    head = client.get("/api/v1/journal/head").json
    assert head["hash"] == r.json["hash"] and head["seq"] == r.json["seq"]


def test_errors_are_problem_documents_with_the_right_status(client, keys):
    k = keys["officer"]
    code = post(client, k, first_registration_body(X, Y)).json["opened"]["parcels"][0]
    seller = {"id_number": person(1)["id_number"]}
    cases = [
        (None, transfer_body(code, 1, 3), 401),
        (keys["reader"], transfer_body(code, 1, 3), 403),
        (k, {"kind": "transfer"}, 400),
        (k, dict(transfer_body(code, 1, 3), colour="red"), 400),
        (k, {**transfer_body("06691-701-999999", 1, 3), "transferors": [seller]}, 404),
        (k, {**transfer_body(code, 1, 3, version=9), "transferors": [seller]}, 409),
        (k, {**transfer_body(code, 1, 3), "transferors": [seller],
             "transferees": [dict(person(3), share=0.6), dict(person(4), share=0.3)]}, 422),
        (k, {**transfer_body(code, 1, 3), "transferors": [seller], "effective_date": "2099-01-01"}, 422),
    ]
    for key, body, status in cases:
        r = client.post("/api/v1/transactions", json=body, headers=bearer(key) if key else {})
        assert r.status_code == status, (body, r.json)
        assert r.mimetype == "application/problem+json" and r.json["detail"]
    r = client.post("/api/v1/transactions", data="not json", headers={**bearer(k), "Content-Type": "application/json"})
    assert r.status_code == 400
    assert client.get("/api/v1/transactions/999999999").status_code == 404
    assert client.get("/api/v1/transactions?colour=red").status_code == 400


def test_integration_key_with_the_scope_registers_without_seeing_names(client, keys):
    r = post(client, keys["writer"], first_registration_body(X, Y))
    assert r.status_code == 201, r.json
    rights = r.json["opened"]["rights"]
    assert rights and all("party_name" not in x for x in rights)
    public = client.get(r.headers["Location"]).json
    assert "rights" not in public["opened"] and "actor" not in public
    officer = client.get(r.headers["Location"], headers=bearer(keys["officer"])).json
    assert officer["opened"]["rights"][0]["party_name"] == person(1)["full_name"]
    assert officer["payload"]["request"]["body"]["kind"] == "first_registration"


def test_same_idempotency_key_twice_registers_once(client, keys, session):
    body = first_registration_body(X, Y)
    first = post(client, keys["officer"], body, **{"Idempotency-Key": "retry-me-1"})
    n = session.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    again = post(client, keys["officer"], body, **{"Idempotency-Key": "retry-me-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert session.execute(text("SELECT count(*) FROM transactions")).scalar_one() == n
    other = post(client, keys["officer"], dict(body, dossier_no="HS-9"), **{"Idempotency-Key": "retry-me-1"})
    assert other.status_code == 422 and "different request body" in other.json["detail"]


def test_transaction_list_by_parcel_and_date(client, keys):
    k = keys["officer"]
    code = post(client, k, first_registration_body(X, Y)).json["opened"]["parcels"][0]
    post(client, k, {"kind": "land_use_change", "parcel": code, "expected_version": 1,
                     "effective_date": "2024-07-01", "land_use": "TMD"})
    both = client.get(f"/api/v1/transactions?parcel={code}").json
    assert both["matched"] == 2 and "dossier_no" not in both["transactions"][0]
    late = client.get(f"/api/v1/transactions?parcel={code}&since=2024-06-01").json
    assert [t["kind"] for t in late["transactions"]] == ["land_use_change"]
    assert client.get("/api/v1/transactions?parcel=06691-701-999999").status_code == 404
    last = both["transactions"][0]["seq"]
    newer = client.get(f"/api/v1/transactions?after={last}").json
    assert [t["kind"] for t in newer["transactions"]] == ["land_use_change"]
    assert client.get("/api/v1/transactions?after=-1").status_code == 400


def test_openapi_documents_the_transaction_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/transactions"])
    assert "/api/v1/transactions/{tx_id}" in paths and "/api/v1/journal/head" in paths


# --- 16 clients at once, against committed data -----------------------------------------------


def test_sixteen_clients_transfer_one_parcel_one_201_fifteen_409(settings, pg_server):
    url = own_database_url(pg_server)  # this test commits: not in the shared test database
    engine = create_engine(url)
    code, seller = commit_parcel(engine)
    with Session(engine) as s, s.begin():
        key, _ = auth.create_key(s, "officer for the concurrency test", "officer")
    app = create_app(settings.with_(database_url=url, pool_size=17, max_overflow=0, rate_limit=""), testing=True)
    barrier = threading.Barrier(16)
    statuses: list[int] = []

    def client_thread(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post("/api/v1/transactions", json=transfer_body(code, seller, 700 + i), headers=bearer(key))
        statuses.append(r.status_code)

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert sorted(statuses) == [201] + [409] * 15
        with Session(engine) as s:
            n = s.execute(text("SELECT count(DISTINCT transaction_id) FROM transaction_parcels tp "
                               "JOIN parcels p ON p.id = tp.parcel_id WHERE p.parcel_code = :c"),
                          {"c": code}).scalar_one()
            assert n == 2
            assert journal.verify(s).ok
    finally:
        with Session(engine) as s, s.begin():
            auth.revoke_key(s, key[:12])
        engine.dispose()


def test_reads_of_names_are_access_logged(client, keys, session):
    r = post(client, keys["officer"], first_registration_body(X, Y))
    assert r.json["opened"]["rights"][0]["party_name"] == person(1)["full_name"]
    client.get(r.headers["Location"], headers=bearer(keys["officer"]))
    rows = session.execute(text(
        "SELECT endpoint, party_ids, parcel_ids FROM personal_data_access_log ORDER BY id DESC LIMIT 2")).all()
    assert [x.endpoint for x in rows] == ["GET /api/v1/transactions/{id}", "POST /api/v1/transactions"]
    assert all(x.party_ids == [party(session, 1)] and len(x.parcel_ids) == 1 for x in rows)
    writer = post(client, keys["writer"], first_registration_body(X + 50, Y, holders=[dict(person(5), share=1)]))
    assert writer.status_code == 201 and "party_name" not in writer.json["opened"]["rights"][0]
    assert session.execute(text("SELECT count(*) FROM personal_data_access_log")).scalar_one() == 2 + (
        session.execute(text("SELECT count(*) FROM personal_data_access_log WHERE endpoint NOT LIKE '%transactions%'"))
        .scalar_one())


# --- time travel: at=YYYY-MM-DD on the parcel queries -------------------------------------------


def test_at_shows_the_register_as_it_stood_that_day(client, keys, session):
    from landdb import crs

    k = keys["officer"]
    sheet = 760
    parent = post(client, k, first_registration_body(X, Y, w=20, sheet=sheet)).json["opened"]["parcels"][0]
    post(client, k, {"kind": "land_use_change", "parcel": parent, "expected_version": 1,
                     "effective_date": "2024-05-01", "land_use": "TMD"})
    kids = post(client, k, {"kind": "split", "parcel": parent, "expected_version": 2, "effective_date": "2024-09-01",
                            "children": [{"geometry": rect(X, Y, 12, 10), "legal_area_m2": 120},
                                         {"geometry": rect(X + 12, Y, 8, 10), "legal_area_m2": 80}]}).json["opened"]["parcels"]

    def one(code, day):
        r = client.get(f"/api/v1/parcels/{code}", query_string={"at": day} if day else {})
        return (r.json["properties"]["version"], r.json["properties"]["land_use"]) if r.status_code == 200 else r.status_code

    assert one(parent, "2024-02-29") == 404
    assert one(parent, "2024-04-30") == (1, "ODT")
    assert one(parent, "2024-05-01") == (2, "TMD")
    assert one(parent, "2024-09-01") == 404  # split that day
    assert one(kids[0], "2024-08-31") == 404 and one(kids[0], "2024-09-01") == (1, "TMD")

    def codes(day, **q):
        r = client.get("/api/v1/parcels", query_string={"ward": "06691", "sheet": sheet, "at": day, **q})
        assert r.status_code == 200, r.json
        return sorted(f["id"] for f in r.json["features"])

    assert codes("2024-06-01") == [parent]
    assert codes("2024-10-01") == sorted(kids)
    assert codes("2024-06-01", land_use="ODT") == [] and codes("2024-04-01", land_use="ODT") == [parent]

    lon, lat = crs.transform(X + 15, Y + 5, 5899, 4326)  # inside the second child
    at_point = client.get("/api/v1/parcels/at", query_string={"lon": lon, "lat": lat, "at": "2024-06-01"})
    assert at_point.json["id"] == parent
    assert client.get("/api/v1/parcels/at", query_string={"lon": lon, "lat": lat, "at": "2024-10-01"}).json["id"] == kids[1]
    assert client.get("/api/v1/parcels/at", query_string={"lon": lon, "lat": lat, "at": "2024-01-01"}).status_code == 404
    near = client.get("/api/v1/parcels/near", query_string={"lon": lon, "lat": lat, "radius": 30, "at": "2024-06-01"})
    assert parent in [f["id"] for f in near.json["features"]] and kids[0] not in [f["id"] for f in near.json["features"]]
    shape = {"type": "Polygon", "coordinates": [[list(crs.transform(x, y, 5899, 4326)) for x, y in
                                                 ((X + 1, Y + 1), (X + 19, Y + 1), (X + 19, Y + 9), (X + 1, Y + 9), (X + 1, Y + 1))]]}
    found = client.post("/api/v1/parcels/query?at=2024-10-01", json={"geometry": shape})
    assert sorted(f["id"] for f in found.json["features"]) == sorted(kids)
    assert client.get(f"/api/v1/parcels/{parent}", query_string={"at": "2024-13-01"}).status_code == 400


def test_at_answers_match_a_replay_of_the_sample_journal(client, session):
    from landdb.sample import replay

    day = "2021-06-30"
    state = replay.replay_database(session, until=day)
    rows = session.execute(text(
        "SELECT p.id, p.parcel_code FROM parcels p WHERE p.sheet_no < 700 ORDER BY p.id LIMIT 3000")).all()
    open_versions = {pid: (n, v) for (pid, n), v in state.versions.items() if v["valid_to"] is None}
    checked = 0
    for pid, code in rows[::60]:
        r = client.get(f"/api/v1/parcels/{code}", query_string={"at": day})
        if pid in open_versions and state.parcels[pid]["retired_on"] is None:
            # the newest incarnation of the code that day is this parcel (codes are unique among active ones)
            assert r.status_code == 200, (code, r.json)
            n, v = open_versions[pid]
            props = r.json["properties"]
            assert (props["version"], props["land_use"], str(props["legal_area_m2"])) == (
                n, v["land_use"], str(float(v["legal_area_m2"]))), code
            checked += 1
        elif not any(p["ward_code"] + "-" + str(p["sheet_no"]) + "-" + str(p["parcel_no"]) == code
                     for q, p in state.parcels.items() if p["retired_on"] is None and q in open_versions):
            assert r.status_code == 404, (code, r.json)
    assert checked > 10
def test_wfs_get_feature_at_a_date(client, keys, session):
    k = keys["officer"]
    parent = post(client, k, first_registration_body(X, Y, w=20, sheet=761)).json["opened"]["parcels"][0]
    post(client, k, {"kind": "land_use_change", "parcel": parent, "expected_version": 1,
                     "effective_date": "2024-05-01", "land_use": "TMD"})
    kids = post(client, k, {"kind": "split", "parcel": parent, "expected_version": 2, "effective_date": "2024-09-01",
                            "children": [{"geometry": rect(X, Y, 12, 10), "legal_area_m2": 120},
                                         {"geometry": rect(X + 12, Y, 8, 10), "legal_area_m2": 80}]}).json["opened"]["parcels"]

    def get(code, day):
        pid = session.execute(text("SELECT id FROM parcels WHERE parcel_code = :c ORDER BY id DESC LIMIT 1"),
                              {"c": code}).scalar_one()
        r = client.get("/wfs", query_string={"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                             "typeNames": "landdb:parcels", "resourceId": f"parcels.{pid}",
                                             "outputFormat": "application/json", "at": day})
        assert r.status_code == 200, r.data[:300]
        return [f["properties"]["land_use"] for f in r.json["features"]]

    assert get(parent, "2024-04-30") == ["ODT"] and get(parent, "2024-05-01") == ["TMD"]
    assert get(parent, "2024-09-01") == [] and get(kids[0], "2024-08-31") == [] and get(kids[0], "2024-09-01") == ["TMD"]
    bad = client.get("/wfs", query_string={"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                           "typeNames": "landdb:parcels", "at": "someday"})
    assert bad.status_code == 400 and b"InvalidParameterValue" in bad.data
    caps = client.get("/wfs", query_string={"service": "WFS", "version": "2.0.0", "request": "GetCapabilities"})
    assert b'<ows:Parameter name="at">' in caps.data
