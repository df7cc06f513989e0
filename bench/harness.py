"""What the HTTP benchmarks share: the app under gunicorn as in production, and body sizes."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_server(database_url: str, port: int, workers: int, threads: int,
                 env: dict[str, str] | None = None, tries: int = 150) -> subprocess.Popen:
    """gunicorn serving the app on 127.0.0.1:`port`, rate limits off; returns once /healthz answers."""
    full_env = {**os.environ, "DATABASE_URL": database_url,
                "LANDDB_RATE_LIMIT": "", "LANDDB_RATE_LIMIT_PUBLIC": "", "LANDDB_RATE_LIMIT_WFS": "",
                "LANDDB_POOL_SIZE": str(max(2, threads)), "LANDDB_MAX_OVERFLOW": "2", **(env or {})}
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30",
           "--log-level", "warning", "api.wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, start_new_session=True)
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit("gunicorn did not answer /healthz")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def body_size(base: str, urls: list[str], sample: int = 20) -> int:
    """Mean size in bytes of the answers to the first `sample` URLs."""
    sizes = []
    for url in urls[:sample]:
        with urllib.request.urlopen(base + url) as resp:
            sizes.append(len(resp.read()))
    return int(statistics.mean(sizes))
