"""GET /healthz answers 200 when PostGIS answers and 503 when it does not; /readyz likewise."""

from __future__ import annotations

from landdb.config import Settings


def test_healthz_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "database": "ok", "primary": {"status": "ok"}}
    assert client.get("/readyz").json == {"status": "ready", "databases": ["primary"]}


def test_healthz_database_down():
    from api import create_app

    # A socket directory where no server listens.
    settings = Settings(database_url="postgresql://landdb@/nowhere?host=/nonexistent&connect_timeout=1")
    client = create_app(settings, testing=True).test_client()
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json["database"] == "unavailable" and resp.json["primary"] == {"status": "unavailable"}
    assert int(resp.headers["Retry-After"]) > 0
    assert client.get("/readyz").status_code == 503


def test_unknown_path_is_a_problem_document(client):
    resp = client.get("/no/such/thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == 404
