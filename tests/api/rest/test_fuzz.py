"""A schema-driven fuzz run (schemathesis) over /api/v1/openapi.json against the app in-process:
no 500s, and every response agrees with the spec (status, content type, headers, body schema).

Bounded and deterministic: at most 25 examples per operation, derandomised.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import pytest

from .conftest import bearer, rest_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_app(settings, connection):
    app = rest_app(settings, connection)
    app.config["TESTING"] = True  # a 500 re-raises: the test fails with the traceback
    return app


def _spec_app():
    """An app only for reading the spec (it never connects): the calls go to `fuzz_app`."""
    from api import create_app
    from landdb.config import Settings

    return create_app(Settings(database_url="postgresql://nobody@/nowhere?host=/nonexistent"), testing=True)


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _spec_app())


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_agrees_with_its_spec(case, fuzz_app, keys):
    # Half the runs as the public, half as an officer (who reaches rights and parties).
    headers = bearer(keys["officer"]) if case.operation.path.endswith(("rights", "parties")) else None
    case.call_and_validate(app=fuzz_app, headers=headers, checks=CHECKS)
