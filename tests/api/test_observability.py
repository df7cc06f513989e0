"""/metrics in the Prometheus text format moves with requests; JSON logs and SQL carry the request id."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from api import create_app, logs
from landdb import auth, db


def metric(client, name, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    body = client.get("/metrics")
    assert body.status_code == 200 and body.mimetype == "text/plain"
    families = list(text_string_to_metric_families(body.get_data(as_text=True)))
    return sum(s.value for f in families for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_parse_and_move_with_requests(client):
    names = {f.name for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    assert {"landdb_http_requests", "landdb_http_request_duration_seconds", "landdb_db_pool_connections_in_use",
            "landdb_db_statement_timeouts", "landdb_registrations", "landdb_rate_limit_rejections",
            "landdb_database_up"} <= names
    route = {"method": "GET", "route": "/api/v1/parcels/<parcel_code>"}
    ok, missing = metric(client, "landdb_http_requests_total", status="200", **route), \
        metric(client, "landdb_http_requests_total", status="404", **route)
    timed = metric(client, "landdb_http_request_duration_seconds_count", **route)
    code = client.get("/api/v1/parcels?limit=1").json["features"][0]["properties"]["parcel_code"]
    for _ in range(3):
        with client.get(f"/api/v1/parcels/{code}") as resp:
            assert resp.status_code == 200
    with client.get("/api/v1/parcels/06691-999-999") as resp:
        assert resp.status_code == 404
    assert metric(client, "landdb_http_requests_total", status="200", **route) == ok + 3
    assert metric(client, "landdb_http_requests_total", status="404", **route) == missing + 1
    assert metric(client, "landdb_http_request_duration_seconds_count", **route) == timed + 4
    assert metric(client, "landdb_database_up", database="primary") == 1.0


def test_registrations_are_counted_by_kind_and_answer_a_consistency_token(client, session):
    key, _ = auth.create_key(session, "officer for the metrics test", "officer")
    props = client.get("/api/v1/parcels?limit=1&land_use=ODT").json["features"][0]["properties"]
    before = metric(client, "landdb_registrations_total", kind="land_use_change", status="201")
    resp = client.post("/api/v1/transactions", headers={"Authorization": f"Bearer {key}"}, json={
        "kind": "land_use_change", "parcel": props["parcel_code"], "expected_version": props["version"],
        "effective_date": dt.date.today().isoformat(), "land_use": "TMD"})
    assert resp.status_code == 201, resp.json
    assert db.parse_lsn(resp.headers["Consistency-Token"]) > 0
    assert metric(client, "landdb_registrations_total", kind="land_use_change", status="201") == before + 1
    total = metric(client, "landdb_registrations_total")
    dry = client.post("/api/v1/transactions?dry_run=true", headers={"Authorization": f"Bearer {key}"}, json={
        "kind": "land_use_change", "parcel": props["parcel_code"], "expected_version": props["version"] + 1,
        "effective_date": dt.date.today().isoformat(), "land_use": "ODT"})
    assert dry.status_code == 200, dry.json
    assert metric(client, "landdb_registrations_total") == total  # a dry run registers nothing


def test_rate_limit_rejections_are_counted(settings, connection):
    from sqlalchemy.orm import sessionmaker

    app = create_app(settings.with_(rate_limit_public="2/minute"), testing=True,
                     sessionmaker=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
    client = app.test_client()
    before = metric(client, "landdb_rate_limit_rejections_total", limit="addr")
    statuses = [client.get("/api/v1/journal/head").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert metric(client, "landdb_rate_limit_rejections_total", limit="addr") == before + 1


def test_statement_timeouts_are_counted(settings, client):
    from sqlalchemy.exc import OperationalError

    from landdb import prepared

    engine = db.get_engine(settings.with_(statement_timeout_ms=100))
    maker = db.make_sessionmaker(engine, db.get_engine(settings.with_(statement_timeout_ms=100), autocommit=True))
    before = metric(client, "landdb_db_statement_timeouts_total")
    with maker() as session:
        try:  # a single read, prepared on a pooled autocommit connection
            prepared.fetch(session, "SELECT pg_sleep(:s)", {"s": 0.5})
        except OperationalError as err:
            assert err.orig.pgcode == "57014"
    with maker() as session:
        try:  # a streamed read: the query runs on the server-side cursor's first fetch
            session.execute(text("SELECT pg_sleep(0.5)"), execution_options={"stream_results": True}).all()
        except OperationalError as err:
            assert err.orig.pgcode == "57014"
    assert metric(client, "landdb_db_statement_timeouts_total") == before + 2
    db.dispose_engines()


def test_access_log_is_json_with_the_request_id_which_also_reaches_postgresql(settings, engine):
    app = create_app(settings.with_(rate_limit_public=""), testing=True)
    stream = io.StringIO()
    handler = logs.make_handler("json", stream)
    logging.getLogger("landdb.access").addHandler(handler)
    logging.getLogger("landdb.access").setLevel(logging.INFO)
    try:
        # A lookup by code: one statement on a pooled autocommit connection, which pg_stat_activity
        # then shows as that backend's last query (a read in a transaction would show ROLLBACK).
        resp = app.test_client().get("/api/v1/parcels/06691-2-41", headers={"X-Request-Id": "obs-test-1"})
        with engine.connect() as conn:
            seen = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                                     " AND query LIKE '/* request_id=obs-test-1 */%'")).scalar_one()
        fresh = app.test_client().get("/api/v1/parcels/06691-2-41", headers={"X-Request-Id": "not a token */"})
    finally:
        logging.getLogger("landdb.access").removeHandler(handler)
    assert resp.status_code == 200 and resp.headers["X-Request-Id"] == "obs-test-1"
    assert fresh.headers["X-Request-Id"] not in ("", "not a token */")  # a new one instead
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    line = next(entry for entry in lines if entry["request_id"] == "obs-test-1")
    assert line["logger"] == "landdb.access" and line["status"] == 200
    assert line["route"] == "/api/v1/parcels/<parcel_code>" and line["method"] == "GET" and line["duration_ms"] > 0
    assert seen == 1
    db.dispose_engines()


def test_statement_tags_cannot_end_the_comment():
    db.tag_statements("request_id=a*/ DROP TABLE parcels; --")
    try:
        assert db.statement_tag() == "request_id=aDROPTABLEparcels--"
    finally:
        db.tag_statements(None)
