"""QGIS 3 (Debian's python3-qgis) loads both layers from the capabilities URL in WFS 2.0.0 and 1.1.0."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import shapely
from shapely.testing import assert_geometries_equal
from sqlalchemy import text

from .conftest import current_parcel_count

SCRIPT = Path(__file__).with_name("qgis_load.py")


def qgis_load(url: str, version: str, typename: str, tmp: Path, paging: str = "on") -> dict:
    runtime = tmp / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp)}
    env.pop("PYTHONPATH", None)
    out = subprocess.run(["/usr/bin/python3", str(SCRIPT), url, version, typename, paging], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("version", ["2.0.0", "1.1.0"])
def test_qgis_loads_parcels_in_the_right_place(live_url, grid, session, version, tmp_path):
    seen = qgis_load(live_url, version, "landdb:parcels", tmp_path)
    assert seen["valid"], seen["error"]
    assert seen["crs"] == "EPSG:5899"
    assert seen["count"] == current_parcel_count(session)
    rows = session.execute(text(
        "SELECT p.parcel_code, ST_AsText(v.geom) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "AND v.valid_to IS NULL WHERE p.parcel_code = ANY(:c)"), {"c": [g["code"] for g in grid]}).all()
    for code, wkt in rows:
        assert_geometries_equal(shapely.normalize(shapely.from_wkt(seen["features"][code])),
                                shapely.normalize(shapely.from_wkt(wkt)), tolerance=0.01)


@pytest.mark.parametrize("version", ["2.0.0", "1.1.0"])
def test_qgis_loads_wards(live_url, version, tmp_path):
    seen = qgis_load(live_url, version, "landdb:wards", tmp_path)
    assert seen["valid"], seen["error"]
    assert "06691" in seen["features"]
