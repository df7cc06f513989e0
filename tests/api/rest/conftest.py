"""Fixtures for /api/v1 tests: an app on the test's transaction with rate limits off, and keys."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from api import create_app
from landdb import auth


def rest_app(settings, connection, **overrides):
    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    settings = settings.with_(rate_limit="", rate_limit_public="", **overrides)
    return create_app(settings, testing=True, sessionmaker=maker)


@pytest.fixture
def api(settings, connection):
    return rest_app(settings, connection).test_client()


@pytest.fixture
def keys(session):
    """Plaintext keys: an officer, a bank (rights:read), a notary (owners:read), a bare integration."""
    made = {
        "officer": auth.create_key(session, "officer", "officer"),
        "bank": auth.create_key(session, "bank", "integration", [auth.RIGHTS_READ]),
        "notary": auth.create_key(session, "notary", "integration", [auth.RIGHTS_READ, auth.OWNERS_READ]),
        "bare": auth.create_key(session, "bare", "integration", []),
    }
    session.commit()
    return {name: plain for name, (plain, _row) in made.items()}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    body = resp.json
    assert body["status"] == status and body["detail"]
    return body
