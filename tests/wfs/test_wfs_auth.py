"""Errors raised before the WFS runs (bad key, rate limit) reach WFS clients as OWS
ExceptionReports, and keyless WFS traffic has its own, larger, rate limit."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy.orm import sessionmaker

OWS = "{http://www.opengis.net/ows/1.1}"


@pytest.fixture
def limited_app(settings, connection):
    from api import create_app

    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    return create_app(settings.with_(rate_limit_public="2/minute", rate_limit_wfs="3/minute"),
                      testing=True, sessionmaker=maker)


def test_bad_key_on_wfs_is_an_exception_report(client):
    resp = client.get("/wfs?service=WFS&request=GetCapabilities", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert "xml" in resp.mimetype
    root = etree.fromstring(resp.data)
    assert root.tag == f"{OWS}ExceptionReport"
    assert root.find(f"{OWS}Exception").get("exceptionCode") == "NoApplicableCode"
    assert "Bearer" in resp.headers["WWW-Authenticate"]


def test_wfs_has_its_own_public_rate_limit(limited_app):
    client = limited_app.test_client()
    url = "/wfs?service=WFS&request=GetCapabilities"
    # The JSON API's public limit (2/minute) is spent, the WFS's (3/minute) is not.
    assert [client.get("/api/v1/wards").status_code for _ in range(3)] == [200, 200, 429]
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(url)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    root = etree.fromstring(refused.data)
    assert root.tag == f"{OWS}ExceptionReport"
    assert "too many requests" in root.findtext(f"{OWS}Exception/{OWS}ExceptionText")


def test_wfs_1_0_errors_use_the_1_0_dialect(client):
    resp = client.get("/wfs?service=WFS&version=1.0.0&request=GetCapabilities",
                      headers={"Authorization": "Basic x"})
    assert resp.status_code == 401
    assert etree.fromstring(resp.data).tag == "{http://www.opengis.net/ogc}ServiceExceptionReport"
