"""Real OGC API – Features clients against the app served as `make run` serves it (`landdb serve`,
gunicorn): GDAL's OAPIF driver (ogrinfo, ogr2ogr), OWSLib's `Features` and QGIS's OAPIF provider.

The server reads the committed sample register; its access log shows what the clients asked, so
the tests can check that a spatial or attribute filter was sent to the server, not applied by
the client afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pyogrio
import pytest
import shapely
from owslib.ogcapi.features import Features
from shapely.testing import assert_geometries_equal
from sqlalchemy import text
from sqlalchemy.engine import make_url

QGIS_SCRIPT = Path(__file__).with_name("qgis_load.py")
#: a box over central Hồng Gai (CRS84) holding a few dozen sample parcels.
BOX = (107.068, 20.949, 107.074, 20.954)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`landdb serve` (its default server) on a free port; `requests()` reads its access log."""

    def __init__(self, database_url: str, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/ogc"
        self.log = log
        env = dict(os.environ, DATABASE_URL=make_url(database_url).render_as_string(hide_password=False),
                   LANDDB_RATE_LIMIT_PUBLIC="", LANDDB_RATE_LIMIT="", LANDDB_RATE_LIMIT_WFS="",
                   # granian (landdb serve's default) logs the path without the query unless told
                   # to; gunicorn's access log has the whole request line anyway.
                   GRANIAN_LOG_ACCESS_FMT='"%(method)s %(path)s?%(query_string)s %(protocol)s" %(status)d')
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from landdb.cli import main; main()", "serve", "--port", str(self.port),
             "--workers", "2"], env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise AssertionError("gunicorn did not come up: " + log.read_text(errors="replace")[-2000:])
                time.sleep(0.2)

    def mark(self) -> int:
        return self.log.stat().st_size

    def requests(self, since: int = 0) -> list[tuple[str, dict]]:
        """(path, query) of every request logged since `since` (a byte offset from mark())."""
        out = []
        with open(self.log, "rb") as f:
            f.seek(since)
            for line in f.read().decode(errors="replace").splitlines():
                if '"GET ' not in line:
                    continue
                target = line.split('"GET ', 1)[1].split(" ", 1)[0]
                parts = urlsplit(target)
                out.append((parts.path, parse_qs(parts.query)))
        return out

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        finally:
            self._out.close()


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    server = Served(database_url, tmp_path_factory.mktemp("ogc-serve") / "access.log")
    try:
        yield server
    finally:
        server.stop()


def run(*args: str) -> str:
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr, out.stderr
    return out.stdout


def current_parcels(session, where: str = "TRUE", params: dict | None = None) -> dict[str, str]:
    """parcel_code → WKT in lon/lat of the committed register's current parcels."""
    rows = session.execute(text(
        "SELECT p.parcel_code, ST_AsText(ST_Transform(v.geom, 4326)) FROM parcels p JOIN parcel_versions v "
        f"ON v.parcel_id = p.id AND v.valid_to IS NULL WHERE p.retired_on IS NULL AND {where}"), params or {}).all()
    return dict(rows)


def in_box(session, box, where: str = "TRUE") -> set[str]:
    return set(current_parcels(session, f"ST_Intersects(ST_Transform(v.geom, 4326), "
                                        f"ST_MakeEnvelope(:a, :b, :c, :d, 4326)) AND {where}",
                               dict(zip("abcd", box))))


def test_ogrinfo_lists_both_collections(served):
    out = run("ogrinfo", "-ro", "-q", f"OAPIF:{served.url}")
    assert "parcels" in out and "wards" in out


def test_ogr2ogr_copies_the_whole_collection_page_by_page(served, session, tmp_path):
    expected = current_parcels(session)
    target = tmp_path / "parcels.gpkg"
    since = served.mark()
    run("ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{served.url}", "parcels", "-oo", "PAGE_SIZE=700")
    df = pyogrio.read_dataframe(target, layer="parcels")
    assert len(df) == len(expected) and df["parcel_code"].is_unique and set(df["parcel_code"]) == set(expected)
    df = df.set_index("parcel_code")
    for code in sorted(expected)[:25]:
        assert_geometries_equal(shapely.normalize(df.loc[code].geometry),
                                shapely.normalize(shapely.from_wkt(expected[code])), tolerance=1e-7)
    pages = [q for path, q in served.requests(since) if path.endswith("/collections/parcels/items")]
    # Paged by keyset: every page after the first follows a `next` cursor, none uses an offset.
    followed = [q for q in pages if "next" in q]
    assert len(followed) >= len(expected) // 700 and not any("offset" in q for q in pages), pages


def test_ogrinfo_pushes_spat_and_where_to_the_server(served, session):
    since = served.mark()
    out = run("ogrinfo", "-ro", "-q", f"OAPIF:{served.url}", "parcels", "-spat", *map(str, BOX),
              "-where", "land_use = 'ODT' AND legal_area_m2 > 100")
    want = in_box(session, BOX, "v.land_use = 'ODT' AND v.legal_area_m2 > 100")
    assert want and out.count("OGRFeature(") == len(want)
    got = {line.split("=", 1)[1].strip() for line in out.splitlines() if "parcel_code (String) =" in line}
    assert got == want
    asked = [q for path, q in served.requests(since) if path.endswith("/collections/parcels/items")]
    assert asked, "no items request reached the server"
    bboxes = [q["bbox"][0] for q in asked if "bbox" in q]
    assert bboxes and all([float(v) for v in b.split(",")] == pytest.approx(list(BOX)) for b in bboxes)
    filters = [unquote(q["filter"][0]) for q in asked if "filter" in q]
    assert filters and all("land_use = 'ODT'" in f and "legal_area_m2 > 100" in f for f in filters)


def test_owslib_features_reads_collections_and_items(served, session):
    api = Features(served.url, timeout=60)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert ids == {"parcels", "wards"}
    assert api.collection("parcels")["storageCrs"].endswith("/5899")
    assert "land_use" in api.collection_queryables("parcels")["properties"]
    conf = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    body = api.collection_items("parcels", bbox=list(BOX), limit=1000)
    assert {f["properties"]["parcel_code"] for f in body["features"]} == in_box(session, BOX)
    body = api.collection_items("parcels", bbox=list(BOX), limit=1000, filter="land_use = 'ODT'")
    assert {f["properties"]["parcel_code"] for f in body["features"]} == in_box(session, BOX, "v.land_use = 'ODT'")
    one = body["features"][0]
    item = api.collection_item("parcels", one["id"])
    assert item["properties"]["parcel_code"] == one["properties"]["parcel_code"]


def qgis_load(url: str, collection: str, tmp: Path, rect=None) -> dict:
    runtime = tmp / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp)}
    env.pop("PYTHONPATH", None)
    args = ["/usr/bin/python3", str(QGIS_SCRIPT), url, collection] + ([",".join(map(str, rect))] if rect else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_qgis_loads_parcels_with_extent_and_a_filter_rectangle(served, session, tmp_path):
    seen = qgis_load(served.url, "parcels", tmp_path, rect=BOX)
    assert seen["valid"], seen["error"]
    assert seen["crs"] == "EPSG:4326"
    expected = current_parcels(session)
    assert seen["count"] == len(expected) and set(seen["features"]) == set(expected)
    for code in sorted(expected)[:25]:
        assert_geometries_equal(shapely.normalize(shapely.from_wkt(seen["features"][code])),
                                shapely.normalize(shapely.from_wkt(expected[code])), tolerance=1e-6)
    ext = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(ST_Transform(v.geom, 4326)) e "
        "FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL "
        "WHERE p.retired_on IS NULL) s")).one()
    assert seen["extent"] == pytest.approx(list(ext), abs=1e-4)
    assert set(seen["in_rect"]) == in_box(session, BOX)


def test_qgis_loads_wards(served, session, tmp_path):
    seen = qgis_load(served.url, "wards", tmp_path)
    assert seen["valid"], seen["error"]
    n = session.execute(text("SELECT count(*) FROM admin_units")).scalar_one()
    assert seen["count"] == n and "06691" in seen["features"]
