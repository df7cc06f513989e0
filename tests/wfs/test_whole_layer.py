"""GIS clients at city scale: a register larger than the page cap reaches GDAL and QGIS whole,
in WFS 1.0.0, 1.1.0 and 2.0.0, with the clients' default settings.

WFS 1.0/1.1 clients do not page, so a 1.x GetFeature without maxFeatures answers every feature
(streamed); 2.0 clients follow the CountDefault they read in the capabilities. The cap is set
low here so that the sample register (3 000 parcels) is several pages of it.
"""

from __future__ import annotations

import pyogrio
import pytest

from api.wfs import capabilities

from .conftest import current_parcel_count
from .test_clients import run
from .test_qgis import qgis_load

CAP = 700
VERSIONS = ["1.0.0", "1.1.0", "2.0.0"]


@pytest.fixture
def low_cap(monkeypatch, session):
    monkeypatch.setattr(capabilities, "COUNT_DEFAULT", CAP)
    total = current_parcel_count(session)
    assert total > 3 * CAP
    return total


@pytest.mark.parametrize("version", VERSIONS)
def test_ogr2ogr_gets_every_parcel(live_url, low_cap, version, tmp_path):
    target = tmp_path / "parcels.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(target), f"WFS:{live_url}?VERSION={version}", "landdb:parcels",
        "-nln", "parcels")
    df = pyogrio.read_dataframe(target, layer="parcels", read_geometry=False)
    assert len(df) == low_cap and df["parcel_code"].is_unique


@pytest.mark.parametrize("version", VERSIONS)
def test_qgis_gets_every_parcel(live_url, low_cap, version, tmp_path):
    seen = qgis_load(live_url, version, "landdb:parcels", tmp_path, paging="default")
    assert seen["valid"], seen["error"]
    assert seen["count"] == low_cap


def test_a_1x_get_feature_without_max_features_is_not_capped(client, low_cap):
    for version in ("1.0.0", "1.1.0"):
        r = client.get(f"/wfs?service=WFS&version={version}&request=GetFeature&typeName=landdb:parcels"
                       "&outputFormat=application/json")
        assert r.status_code == 200
        assert len(r.json["features"]) == low_cap
    r = client.get("/wfs?service=WFS&version=2.0.0&request=GetFeature&typeNames=landdb:parcels"
                   "&outputFormat=application/json")
    assert len(r.json["features"]) == CAP and any(ln["rel"] == "next" for ln in r.json["links"])
