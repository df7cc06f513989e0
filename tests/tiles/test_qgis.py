"""QGIS (Debian's python3-qgis, headless) loads the parcels as a vector tile layer and draws them in landdb's colours."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy import text

from tests.browser import artifact_path

SCRIPT = Path(__file__).with_name("qgis_tiles.py")


def test_qgis_draws_the_parcel_tiles_with_the_landdb_style(live_server, session, tmp_path):
    lon, lat, use = session.execute(text(
        "SELECT ST_X(c), ST_Y(c), v.land_use FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "AND v.valid_to IS NULL, LATERAL (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) c) x "
        "WHERE p.retired_on IS NULL AND v.land_use = 'ODT' ORDER BY p.id LIMIT 1")).one()
    png = artifact_path("qgis-parcel-tiles")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": "", "HOME": str(tmp_path)}
    run = subprocess.run(["/usr/bin/python3", str(SCRIPT), live_server, str(lon), str(lat), str(png)],
                         capture_output=True, text=True, timeout=180, env=env)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, run.stdout + run.stderr
    seen = json.loads(lines[-1])
    assert seen["valid"] and seen["min_zoom"] == 14 and seen["max_zoom"] == 22
    assert seen["converted"], seen["warnings"]
    # The parcel at the centre is urban residential land: the style's ODT fill is drawn (fill
    # opacity 0.85 over white), with other colours than the background beside it.
    assert any(abs(int(c[1:3], 16) - 0xFF) <= 2 and abs(int(c[3:5], 16) - 0xAD) <= 6 and abs(int(c[5:7], 16) - 0xFF) <= 2
               for c in seen["colours"]), seen["colours"]
    assert png.stat().st_size > 0
