"""The production HTTP server's command line: how `landdb serve` (and the benchmarks) run the web app.

Two servers can run it, both from PyPI and pinned: granian (the default, the faster one on this
app, see the README's Serving section) and gunicorn (`landdb serve --server gunicorn`). The web
app is named, never imported (`api.wsgi:app`): the core knows nothing of HTTP.

Request size limits, which GIS clients meet first (a WFS FILTER in the URL is often 4–10 KB), as
measured (README, Serving):
- granian: request target ≤ 65 534 bytes (else 414), ≤ 100 headers (else 431), a head of up to
  ~0.5 MB (1 MB: 431); answered by granian with an empty body and the connection closed.
- gunicorn: request line ≤ 8 190 bytes (its maximum, set here; its default is 4 094; else 414),
  ≤ 100 headers of ≤ 8 190 bytes each (else 431); answered by gunicorn with an HTML body.
"""

from __future__ import annotations

import os

SERVERS = ("granian", "gunicorn")
DEFAULT_SERVER = "granian"
APP = "api.wsgi:app"
#: Threads per worker process that run the app (granian's blocking threads, gunicorn's gthread threads).
THREADS = 4
#: granian: its HTTP/1 read buffer, in bytes (its default, spelled out).
HEAD_BYTES = 417_792
#: gunicorn: the longest request line (its maximum short of "unlimited").
GUNICORN_REQUEST_LINE = 8190


def default_workers(server: str = DEFAULT_SERVER) -> int:
    """Worker processes by default: one per core for granian (its I/O runs in Rust threads beside
    each process's Python threads), 2 × cores + 1 for gunicorn (its own advice)."""
    cores = os.cpu_count() or 1
    return cores if server == "granian" else 2 * cores + 1


def gunicorn_args(host: str, port: int, workers: int, threads: int = THREADS, *, access_log: bool = True,
                  worker_class: str = "gthread") -> list[str]:
    """gunicorn's module and arguments (for `python -m`); `worker_class` other than gthread is for
    the benchmarks (bench/bench_servers.py)."""
    args = ["gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers), "--worker-class", worker_class,
            "--limit-request-line", str(GUNICORN_REQUEST_LINE)]
    if worker_class == "gthread":
        args += ["--threads", str(threads)]
    if access_log:
        args += ["--access-logfile", "-"]
    return args + [APP]


def granian_args(host: str, port: int, workers: int, threads: int = THREADS, *, access_log: bool = True) -> list[str]:
    """granian's module and arguments (for `python -m`): the WSGI interface, `threads` blocking
    threads per worker (as many as the database pool holds connections by default), workers
    respawned if they die."""
    args = ["granian", "--interface", "wsgi", "--host", host, "--port", str(port), "--workers", str(workers),
            "--blocking-threads", str(threads), "--http1-buffer-size", str(HEAD_BYTES),
            "--respawn-failed-workers", "--no-ws"]
    if access_log:
        args += ["--access-log"]
    return args + [APP]


def command(server: str, host: str, port: int, workers: int | None = None, threads: int = THREADS, *,
            access_log: bool = True) -> list[str]:
    """The module and arguments to run with `python -m` for `server` (one of SERVERS)."""
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}; one of {', '.join(SERVERS)}")
    build = granian_args if server == "granian" else gunicorn_args
    return build(host, port, workers or default_workers(server), threads, access_log=access_log)
