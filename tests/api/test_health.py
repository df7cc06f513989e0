"""GET /healthz answers 200 when PostGIS answers and 503 when it does not."""

from __future__ import annotations

from landdb.config import Settings


def test_healthz_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "database": "ok"}


def test_healthz_database_down():
    from api import create_app

    # A socket directory where no server listens.
    settings = Settings(database_url="postgresql://landdb@/nowhere?host=/nonexistent&connect_timeout=1")
    resp = create_app(settings, testing=True).test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.json["database"] == "unavailable"


def test_unknown_path_is_a_problem_document(client):
    resp = client.get("/no/such/thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == 404
