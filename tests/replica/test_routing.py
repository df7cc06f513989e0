"""Reads on the streaming replica, writes on the primary, read-your-writes tokens, either server stopped."""

from __future__ import annotations

import datetime as dt
import time

from prometheus_client.parser import text_string_to_metric_families


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def some_parcel(client) -> dict:
    resp = client.get("/api/v1/parcels?limit=1&land_use=ODT")
    assert resp.status_code == 200, resp.json
    return resp.json["features"][0]["properties"]


def change_land_use(client, pair, props, request_id):
    """Register a land-use change of the parcel (ODT ↔ TMD); the answer."""
    new_use = "TMD" if props["land_use"] == "ODT" else "ODT"
    return client.post("/api/v1/transactions", headers={**bearer(pair.officer_key), "X-Request-Id": request_id},
                       json={"kind": "land_use_change", "parcel": props["parcel_code"],
                             "expected_version": props["version"], "effective_date": dt.date.today().isoformat(),
                             "land_use": new_use})


def sample(client, name, **labels) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_reads_are_served_by_the_replica_and_registrations_by_the_primary(client, pair):
    props = some_parcel(client)
    code = props["parcel_code"]
    reads = {
        "rr-rest-get": lambda h: client.get(f"/api/v1/parcels/{code}", headers=h),
        "rr-rest-search": lambda h: client.get("/api/v1/parcels?land_use=ODT&limit=5", headers=h),
        "rr-wfs": lambda h: client.get("/wfs", headers=h, query_string={
            "service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
            "count": "3", "outputFormat": "application/json"}),
        "rr-rest-query": lambda h: client.post("/api/v1/parcels/query", headers=h, json={
            "geometry": {"type": "Point", "coordinates": [107.07, 20.95]}, "predicate": "intersects"}),
        "rr-tile": lambda h: client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/16/28865/52259", headers=h),
        "rr-ogc-items": lambda h: client.get("/ogc/collections/parcels/items?limit=2", headers=h),
        "rr-key-read": lambda h: client.get(f"/api/v1/parcels/{code}/history", headers={**h, **bearer(pair.officer_key)}),
    }
    for request_id, read in reads.items():
        resp = read({"X-Request-Id": request_id})
        assert resp.status_code in (200, 204), (request_id, resp.data[:300])
        assert resp.headers["X-Request-Id"] == request_id
        assert pair.seen("replica", request_id), request_id
        assert not pair.seen("primary", request_id), request_id

    resp = change_land_use(client, pair, props, "rr-register")
    assert resp.status_code == 201, resp.json
    assert pair.seen("primary", "rr-register") and not pair.seen("replica", "rr-register")
    version = pair.sql("primary", "SELECT version FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id"
                                  " WHERE p.parcel_code = :c AND v.valid_to IS NULL", c=code)[0]
    assert version == props["version"] + 1


def test_a_token_reads_its_own_write_while_replay_is_paused(client, pair):
    props = some_parcel(client)
    code = props["parcel_code"]
    pair.wait_until_replayed()
    pair.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        resp = change_land_use(client, pair, props, "rw-register")
        assert resp.status_code == 201, resp.json
        token = resp.headers["Consistency-Token"]
        # Without the token the replica answers, still with the old version: allowed to be stale.
        stale = client.get(f"/api/v1/parcels/{code}", headers={"X-Request-Id": "rw-stale"})
        assert stale.json["properties"]["version"] == props["version"]
        assert pair.seen("replica", "rw-stale")
        # With it, the replica is waited for (300 ms here), then the primary answers.
        waits = sample(client, "landdb_db_routed_requests_total", database="primary", reason="token_wait")
        started = time.perf_counter()
        fresh = client.get(f"/api/v1/parcels/{code}", headers={"Consistency-Token": token, "X-Request-Id": "rw-fresh"})
        elapsed = time.perf_counter() - started
        assert fresh.status_code == 200
        assert fresh.json["properties"]["version"] == props["version"] + 1
        assert elapsed >= 0.3
        assert pair.seen("primary", "rw-fresh") and not pair.seen("replica", "rw-fresh")
        assert sample(client, "landdb_db_routed_requests_total", database="primary", reason="token_wait") == waits + 1
    finally:
        pair.sql("replica", "SELECT pg_wal_replay_resume()")
    # Once replayed, the same token is served by the replica, without waiting out the bound.
    pair.wait_until_replayed()
    started = time.perf_counter()
    again = client.get(f"/api/v1/parcels/{code}", headers={"Consistency-Token": token, "X-Request-Id": "rw-later"})
    assert again.json["properties"]["version"] == props["version"] + 1
    assert time.perf_counter() - started < 0.3
    assert pair.seen("replica", "rw-later")


def test_a_browser_reads_its_own_write_through_the_token_cookie(app, client, pair):
    browser = app.test_client()  # keeps cookies
    props = some_parcel(client)
    pair.wait_until_replayed()
    pair.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        resp = change_land_use(browser, pair, props, "ck-register")
        assert resp.status_code == 201, resp.json
        cookie = browser.get_cookie("landdb_consistency")
        assert cookie.value == resp.headers["Consistency-Token"] and cookie.http_only
        # The page after the form: no header, only the cookie, and it sees the change.
        page = browser.get(f"/api/v1/parcels/{props['parcel_code']}")
        assert page.json["properties"]["version"] == props["version"] + 1
        # Another client, without the cookie, may still read the replica's older state.
        other = client.get(f"/api/v1/parcels/{props['parcel_code']}")
        assert other.json["properties"]["version"] == props["version"]
    finally:
        pair.sql("replica", "SELECT pg_wal_replay_resume()")


def test_a_malformed_token_is_a_problem(client):
    resp = client.get("/api/v1/parcels?limit=1", headers={"Consistency-Token": "yesterday"})
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert "Consistency-Token" in resp.json["detail"]


def test_reads_answer_with_the_replica_stopped(client, pair):
    code = some_parcel(client)["parcel_code"]  # the pool now holds replica connections
    failures = sample(client, "landdb_replica_failures_total")
    pair.replica.halt()
    try:
        for i in range(3):
            resp = client.get(f"/api/v1/parcels/{code}", headers={"X-Request-Id": f"rd-{i}"})
            assert resp.status_code == 200, resp.data[:300]
            assert pair.seen("primary", f"rd-{i}")
        wfs = client.get("/wfs", query_string={"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                               "typeNames": "landdb:parcels", "count": "2"})
        assert wfs.status_code == 200
        assert sample(client, "landdb_replica_failures_total") >= failures + 1
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json["primary"] == {"status": "ok"} and health.json["replica"] == {"status": "unavailable"}
        assert client.get("/readyz").json == {"status": "ready", "databases": ["primary"]}
    finally:
        pair.replica.restart()
    pair.wait_until_answering("replica")
    time.sleep(0.6)  # replica_retry_ms
    resp = client.get(f"/api/v1/parcels/{code}", headers={"X-Request-Id": "rd-back"})
    assert resp.status_code == 200 and pair.seen("replica", "rd-back")


def test_with_the_primary_stopped_registrations_get_503_and_reads_answer(client, pair):
    props = some_parcel(client)
    pair.primary.halt()
    try:
        resp = change_land_use(client, pair, props, "pd-register")
        assert resp.status_code == 503
        assert resp.mimetype == "application/problem+json"
        assert int(resp.headers["Retry-After"]) > 0
        read = client.get(f"/api/v1/parcels/{props['parcel_code']}", headers=bearer(pair.officer_key))
        assert read.status_code == 200 and read.json["properties"]["parcel_code"] == props["parcel_code"]
        assert client.get("/api/v1/parcels?limit=3").status_code == 200
        assert client.get("/readyz").json == {"status": "ready", "databases": ["replica"]}
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json["primary"] == {"status": "unavailable"}
        assert health.json["replica"]["status"] == "ok"
    finally:
        pair.primary.restart()
    pair.wait_until_answering("primary")


def test_healthz_and_metrics_report_the_replica_lag(client, pair):
    pair.wait_until_replayed()
    health = client.get("/healthz")
    assert health.status_code == 200, health.json
    assert health.json["primary"] == {"status": "ok"}
    replica = health.json["replica"]
    assert replica["status"] == "ok" and replica["standby"] is True
    assert replica["lag_seconds"] == 0 and 0 <= replica["lag_bytes"] < 1_000_000
    assert sample(client, "landdb_database_up", database="replica") == 1.0
    assert sample(client, "landdb_replica_lag_seconds") == 0.0
    # A transaction replayed since the replica (re)started gives the lag in seconds a start.
    assert change_land_use(client, pair, some_parcel(client), "lag-register-1").status_code == 201
    pair.wait_until_replayed()
    pair.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        assert change_land_use(client, pair, some_parcel(client), "lag-register-2").status_code == 201
        time.sleep(0.3)
        assert sample(client, "landdb_replica_lag_bytes") > 0
        assert sample(client, "landdb_replica_lag_seconds") > 0
    finally:
        pair.sql("replica", "SELECT pg_wal_replay_resume()")


def _wait_for(predicate, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_read_cancelled_by_a_recovery_conflict_runs_again_on_the_primary(client, pair):
    """A real conflict with recovery (SQLSTATE 40001 on the replica) during a read: the read is
    answered from the primary, and the metrics say why.

    The primary takes ACCESS EXCLUSIVE on `parcel_lineage` (replayed on the replica), the history
    read on the replica takes its locks on `parcels` first and waits for `parcel_lineage`; then the
    primary locks `parcels` too: replaying that lock conflicts with the read, which the replica
    cancels at once (max_standby_streaming_delay = 0). The app runs the read again on the primary,
    where it waits for the primary's transaction to end."""
    import threading

    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    code = some_parcel(client)["parcel_code"]
    conflicts = sample(client, "landdb_db_routed_requests_total", database="primary", reason="replica_conflict")
    replica_admin = create_engine(pair.replica_url, isolation_level="AUTOCOMMIT")
    primary = create_engine(pair.primary_url)

    def replica_value(statement: str):
        with replica_admin.connect() as conn:
            return conn.execute(sql(statement)).scalar()

    answer = {}
    with replica_admin.connect() as conn:
        conn.execute(sql("ALTER SYSTEM SET max_standby_streaming_delay = 0"))
        conn.execute(sql("SELECT pg_reload_conf()"))
    try:
        _wait_for(lambda: replica_value("SHOW max_standby_streaming_delay") == "0", "the replica kept its delay")
        with primary.connect() as locker:
            locker.execute(sql("LOCK TABLE parcel_lineage IN ACCESS EXCLUSIVE MODE"))
            locker.execute(sql("SELECT pg_switch_wal()"))  # ship the lock record now
            _wait_for(lambda: replica_value("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock'"
                                            " AND relation = 'parcel_lineage'::regclass") > 0,
                      "the replica did not replay the lock")
            reader = threading.Thread(target=lambda: answer.update(resp=client.get(
                f"/api/v1/parcels/{code}/history", headers={"X-Request-Id": "rc-history"})))
            reader.start()
            _wait_for(lambda: replica_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                            " AND query LIKE '%request_id=rc-history %'") > 0,
                      "the read did not wait on the replica")
            locker.execute(sql("LOCK TABLE parcels IN ACCESS EXCLUSIVE MODE"))
            locker.execute(sql("SELECT pg_switch_wal()"))
            _wait_for(lambda: pair.seen("primary", "rc-history"), "the read did not run again on the primary")
            locker.rollback()
        reader.join(timeout=30)
    finally:
        with replica_admin.connect() as conn:
            conn.execute(sql("ALTER SYSTEM RESET max_standby_streaming_delay"))
            conn.execute(sql("SELECT pg_reload_conf()"))
        replica_admin.dispose()
        primary.dispose()
    resp = answer["resp"]
    assert resp.status_code == 200, resp.data[:300]
    assert resp.json["parcel_code"] == code
    assert sample(client, "landdb_db_routed_requests_total", database="primary",
                  reason="replica_conflict") == conflicts + 1
    # the replica was not marked down: the next read goes to it again
    again = client.get(f"/api/v1/parcels/{code}", headers={"X-Request-Id": "rc-after"})
    assert again.status_code == 200 and pair.seen("replica", "rc-after")
