"""Fixtures the HTTP tests under tests/api share."""

from __future__ import annotations

import pytest

from landdb import auth

from .rest.conftest import bearer, rest_app


@pytest.fixture
def api(settings, connection):
    return rest_app(settings, connection).test_client()


@pytest.fixture
def officer(session):
    """Authorization headers of a new officer key."""
    key, _ = auth.create_key(session, "officer", "officer")
    session.commit()
    return bearer(key)
