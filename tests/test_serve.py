"""`landdb serve` runs the app under gunicorn, the production server, and answers /healthz."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from sqlalchemy.engine import make_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_under_gunicorn_answers_healthz(database_url):
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=make_url(database_url).render_as_string(hide_password=False))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from landdb.cli import main; main()", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    body = json.loads(resp.read())
                    status = resp.status
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("gunicorn did not come up: " + proc.stdout.read1().decode(errors="replace"))
                time.sleep(0.2)
        assert status == 200
        assert body == {"status": "ok", "database": "ok"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        proc.stdout.close()
