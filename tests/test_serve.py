"""`landdb serve` runs the app under the production server (granian, or gunicorn on request) over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from lxml import etree
from sqlalchemy import text
from sqlalchemy.engine import make_url

from landdb import server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=server.SERVERS)
def served(request, database_url):
    """`landdb serve --server NAME` on a free port, one worker: (name, base URL)."""
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=make_url(database_url).render_as_string(hide_password=False),
               LANDDB_RATE_LIMIT="", LANDDB_RATE_LIMIT_PUBLIC="", LANDDB_RATE_LIMIT_WFS="")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from landdb.cli import main; main()", "serve", "--server", request.param,
         "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"{request.param} did not come up: "
                                         + proc.stdout.read1().decode(errors="replace"))
                time.sleep(0.2)
        yield request.param, base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        proc.stdout.close()


def test_serve_answers_healthz(served):
    name, base = served
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
        assert resp.status == 200
        body = json.loads(resp.read())
        assert body["status"] == "ok" and body["primary"] == {"status": "ok"}
        if name == "granian":
            assert resp.headers["server"] == "granian"


def test_serve_takes_a_long_wfs_filter_in_the_url(served, engine):
    """GIS clients put 4–8 KB FES filters in a GetFeature URL: both servers must take them whole."""
    _, base = served
    with engine.connect() as conn:
        code = conn.execute(text("SELECT parcel_code FROM parcels WHERE retired_on IS NULL ORDER BY id LIMIT 1")
                            ).scalar_one()
    # One real parcel code among 38 that match nothing: ~7 KB of URL, under gunicorn's 8 190-byte line.
    codes = [f"06691-99-{90000 + i}" for i in range(37)] + [code]
    terms = "".join(f"<fes:PropertyIsEqualTo><fes:ValueReference>parcel_code</fes:ValueReference>"
                    f"<fes:Literal>{c}</fes:Literal></fes:PropertyIsEqualTo>" for c in codes)
    fes = f'<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:Or>{terms}</fes:Or></fes:Filter>'
    path = "/wfs?" + urlencode({"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                "typeNames": "landdb:parcels", "filter": fes})
    assert 6000 < len(path) < server.GUNICORN_REQUEST_LINE - 20
    with urllib.request.urlopen(base + path, timeout=30) as resp:
        assert resp.status == 200
        doc = etree.fromstring(resp.read())
    assert doc.get("numberMatched") == "1"
    assert [e.text for e in doc.iter("{*}parcel_code")] == [code]


def test_ogr_reads_the_served_wfs(served, engine):
    """GDAL's WFS driver, a real GIS client, counts every current parcel through the served app."""
    _, base = served
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM parcels WHERE retired_on IS NULL")).scalar_one()
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"WFS:{base}/wfs", "landdb:parcels"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "GDAL_HTTP_TIMEOUT": "60"})
    assert out.returncode == 0, out.stderr
    assert f"Feature Count: {n}" in out.stdout


def _raw(base: str, head: bytes) -> bytes:
    """Send a raw request head and return what the server answers (status line first)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and len(data) > 4096:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    return data


def test_malformed_and_oversized_request_lines_are_4xx_from_the_server(served):
    """What never reaches the app is still a 4xx (the server's own, as README's Serving says),
    never a 500 nor a traceback: raw non-ASCII bytes in the request line, and a request target
    past the server's limit."""
    name, base = served
    bad = _raw(base, b"GET /wfs?service=WFS&\xff\xfe=\x80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status = bad.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 4"), bad[:300]
    assert b"Traceback" not in bad
    limit = 65_534 if name == "granian" else server.GUNICORN_REQUEST_LINE
    long = _raw(base, b"GET /wfs?f=" + b"a" * (limit + 10) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert long.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 414"), long[:300]


def test_serve_takes_a_wfs_filter_of_20_kb_under_granian(served, engine):
    """QGIS and GDAL send FES filters of several KB (a drawn polygon: tens of KB) in the URL."""
    name, base = served
    if name != "granian":
        pytest.skip("gunicorn's request line stops at 8 190 bytes (README, Serving)")
    codes = [f"06691-99-{90000 + i}" for i in range(120)]
    terms = "".join(f"<fes:PropertyIsEqualTo><fes:ValueReference>parcel_code</fes:ValueReference>"
                    f"<fes:Literal>{c}</fes:Literal></fes:PropertyIsEqualTo>" for c in codes)
    fes = f'<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:Or>{terms}</fes:Or></fes:Filter>'
    path = "/wfs?" + urlencode({"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                "typeNames": "landdb:parcels", "filter": fes})
    assert 20_000 < len(path) < 65_000
    with urllib.request.urlopen(base + path, timeout=30) as resp:
        assert resp.status == 200
        assert etree.fromstring(resp.read()).get("numberMatched") == "0"
