"""What the HTTP benchmarks share: the app under the production server (`landdb serve`), wrk tables, body sizes."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_server(database_url: str, port: int, workers: int | None = None, threads: int = 4,
                 env: dict[str, str] | None = None, tries: int = 150, server: str | None = None,
                 command: list[str] | None = None, root: Path | None = None) -> subprocess.Popen:
    """The app under the production server's command line (`landdb serve`: `server`, default
    landdb.server.DEFAULT_SERVER, its default workers × `threads`) on 127.0.0.1:`port`, with rate
    limits and the access log off; `command` (module and arguments for `python -m`) runs another
    server instead; `root`, another checkout, runs that checkout's app with its own virtualenv.
    Returns once /healthz answers."""
    from landdb import server as servers

    try:  # another server on the port would be measured instead of ours
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
        taken = True
    except urllib.error.HTTPError:
        taken = True
    except OSError:
        taken = False
    if taken:
        raise SystemExit(f"something already answers on port {port}: stop it or pass --port")
    full_env = {**os.environ, "DATABASE_URL": database_url,
                "LANDDB_RATE_LIMIT": "", "LANDDB_RATE_LIMIT_PUBLIC": "", "LANDDB_RATE_LIMIT_WFS": "",
                "LANDDB_ACCESS_LOG": "0", **(env or {})}
    command = command or servers.command(server or servers.DEFAULT_SERVER, "127.0.0.1", port, workers, threads,
                                         access_log=False)
    python = sys.executable
    if root is not None:
        python, full_env["PYTHONPATH"] = str(root / ".venv" / "bin" / "python"), str(root)
    cmd = [python, "-m", *command]
    proc = subprocess.Popen(cmd, cwd=root or ROOT, env=full_env, start_new_session=True)
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"{command[0]} did not answer /healthz")


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


def best_of(runs: int, measure) -> dict:
    """The best (highest req/s) of `runs` measurements, with every run's req/s under "runs".

    The server's workers share one listening socket, and the few kept-alive connections of a load
    run are spread over them by chance: now and then most land on one worker, which then caps the
    run at one core. Repeating and keeping the best measures the server, not that draw."""
    results = [measure() for _ in range(max(1, runs))]
    best = max(results, key=lambda r: r["rps"])
    return {**best, "runs": [round(r["rps"], 1) for r in results]}


def server_args(ap, *, port: int) -> None:
    """The options every HTTP benchmark takes: the database, the load, landdb's server."""
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--server", default=None, help="landdb's HTTP server (default: as `landdb serve`)")
    ap.add_argument("--workers", type=int, default=None, help="its worker processes (default: as `landdb serve`)")
    ap.add_argument("--threads", type=int, default=4, help="app threads per worker")
    ap.add_argument("--port", type=int, default=port, help="landdb's server")


def resolve_server(args) -> None:
    """Fill in `server_args`' --server and --workers with `landdb serve`'s defaults."""
    from landdb import server as servers

    args.server = args.server or servers.DEFAULT_SERVER
    args.workers = args.workers or servers.default_workers(args.server)


def fastcgi_procs() -> int:
    """FastCGI processes for the other servers (MapServer, QGIS Server): one request each at a
    time, so as many as a pre-forking server's 2 × cores + 1."""
    return 2 * (os.cpu_count() or 1) + 1


def server_label(results: dict) -> str:
    """"granian 2 workers × 4 threads": the server a result was measured on (gunicorn gthread
    for results written before the server was recorded)."""
    name = results.get("server", "gunicorn")
    kind = " gthread" if name == "gunicorn" else ""
    return f"{name} {results['workers']}{kind} workers × {results['threads']} threads"


def ratio_table(results: dict, rows: dict, first: str) -> list[str]:
    """The lines of an app / raw PostGIS / HTTP ceiling table (bench_rest, bench_wfs): a head
    saying how it was run, one row per entry of `rows`, and every run's req/s."""
    lines = [
        f"{results['parcels']:,} current parcels; {results['concurrency']} concurrent clients; "
        f"{results['duration_s']:g} s per cell, best of {results.get('repeat', 1)} for the HTTP cells; "
        f"{server_label(results)} (`landdb serve`'s command line); "
        f"{results['cpus']} CPUs shared by server, PostGIS and load generator.",
        "",
        f"| {first} | body | app req/s | p50 / p99 ms | raw PostGIS req/s | p50 / p99 ms | HTTP ceiling req/s "
        "| p50 / p99 ms | app ÷ raw | app ÷ ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        a, w, c = r["app"], r["raw"], r["const"]
        lines.append(
            f"| {name} | {r['body_bytes'] / 1000:.1f} kB | {a['rps']:.0f} | {a['p50_ms']:.1f} / {a['p99_ms']:.1f} "
            f"| {w['rps']:.0f} | {w['p50_ms']:.1f} / {w['p99_ms']:.1f} | {c['rps']:.0f} "
            f"| {c['p50_ms']:.1f} / {c['p99_ms']:.1f} | {r['app_vs_raw']:.2f} | {r['app_vs_const']:.2f} |"
        )
    runs = "; ".join(f"{name} app {r['app'].get('runs')}, ceiling {r['const'].get('runs')}" for name, r in rows.items())
    return lines + ["", f"Every run's req/s: {runs}."]
