"""A schema-driven fuzz run (schemathesis) over /api/v1/openapi.json against the app in-process,
with an officer key (who reaches every operation): no 500s, every response agrees with the spec
(status, content type, headers, body schema), and no request the spec allows is refused as
malformed. A 422 is not a disagreement: the register's rules (a valid geometry inside Vietnam,
shares summing to 1, a holder who holds) are beyond what a schema can say.

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

#: Rules the document states in words, as OpenAPI 3.0 cannot say them per field: no NUL character
#: anywhere (the API's description); a bbox inside Vietnam in its own CRS, min ≤ max, and bbox-crs
#: only beside a bbox (the parameters' descriptions).
STATED_IN_WORDS = ("NUL character", "outside Vietnam", "min must not exceed max", "only meaningful with bbox")


def spec_allows_server_accepts(ctx, response, case):
    """A request generated from the spec (positive data) is never answered as malformed."""
    meta = case.meta
    if response.status_code == 400 and any(rule in response.text for rule in STATED_IN_WORDS):
        return
    if meta is not None and meta.generation.mode.is_positive and response.status_code in (400, 413, 415):
        raise AssertionError(f"the spec allows {case.method} {case.formatted_path} {case.query or ''} "
                             f"{case.body if case.body is not None else ''} but the server answered "
                             f"{response.status_code}: {response.text[:300]}")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, spec_allows_server_accepts]


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
    case.call_and_validate(app=fuzz_app, headers=bearer(keys["officer"]), checks=CHECKS)
