"""Benchmark of the HTTP server under the app: granian and gunicorn's worker classes, same app, same requests.

For each server configuration (module and arguments as `landdb serve` builds them, access log off,
rate limits off), one after the other, it measures with wrk at the same concurrency:
  constant  the bench-only constant route (/api/v1/bench/constant, LANDDB_BENCH_ROUTES=1) with a
            body the size of a one-parcel answer: the server and Flask, no database;
  lookup    GET /api/v1/parcels/{code} for random current parcels (bench_rest's "code" inputs);
  wfs_one   WFS 2.0 GetFeature of a 3 m bbox (EPSG:4326) holding one parcel, GeoJSON in EPSG:4326
            (bench_flat's "one" request).
each the best of --repeat rounds (a round measures every configuration once, so a drift of the
machine's background load is spread over all of them; see harness.best_of for why the best).

Configurations (--configs, comma-separated; NAME=WORKERSxTHREADS):
  gthread-5x4   gunicorn gthread, 5 workers × 4 threads (`landdb serve --server gunicorn` on 2 cores)
  sync-5        gunicorn sync, 5 workers (one request at a time each)
  sync-9        gunicorn sync, 9 workers
  gevent-5      gunicorn gevent, 5 workers (greenlets; psycopg2 is not made cooperative here, so a
                worker waits for the database while its other greenlets wait for it)
  granian-2x4   granian WSGI, 2 workers × 4 blocking threads (`landdb serve` on 2 cores)
  granian-5x4   granian WSGI, 5 workers × 4 blocking threads
gevent needs `pip install gevent` (not a dependency of landdb; configurations whose worker class
is not installed are skipped with a note). bjoern 3.2.2 and meinheld 1.0.2 do not install on
Python 3.11 here (bjoern needs libev's headers; meinheld pins greenlet < 0.5, which does not build).

Usage (a database holding the parcels, e.g. the one bench_flat.py loads):

    DATABASE_URL=postgresql://landdb@127.0.0.1:54341/landdb_flat \\
        .venv/bin/python bench/bench_servers.py --duration 10 --repeat 2

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import body_size, start_server, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from bench_rest import pick_inputs, run_wrk  # noqa: E402
from landdb import server as servers  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

CONFIGS = ("gthread-5x4", "sync-5", "sync-9", "gevent-5", "granian-2x4", "granian-5x4")
ROUTES = ("constant", "lookup", "wfs_one")
#: the module each gunicorn worker class needs beyond gunicorn
NEEDS = {"gevent": "gevent", "tornado": "tornado"}


def config_command(name: str, port: int) -> list[str]:
    """`python -m` module and arguments for a configuration named KIND-WORKERS[xTHREADS]."""
    kind, _, size = name.partition("-")
    workers, _, threads = size.partition("x")
    t = int(threads or 1)
    if kind == "granian":
        return servers.granian_args("127.0.0.1", port, int(workers), t, access_log=False)
    return servers.gunicorn_args("127.0.0.1", port, int(workers), t, access_log=False, worker_class=kind)


def one_parcel_boxes(engine, n: int, seed: int) -> list[tuple[float, float, float, float]]:
    """3 m lon/lat boxes around interior points of random current parcels (bench_flat's "one")."""
    from bench_flat import pick_boxes

    return pick_boxes(engine, n, seed, big=0)["one"]


def wfs_one(box) -> str:
    from bench_flat import wfs_params

    return "/wfs?" + urlencode(wfs_params(box, "geojson"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--inputs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--port", type=int, default=8780)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--routes", default=",".join(ROUTES))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_servers.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    url = normalize_url(args.database_url)
    engine = create_engine(url)
    inputs = pick_inputs(engine, args.inputs, args.seed)
    boxes = one_parcel_boxes(engine, args.inputs, args.seed)
    engine.dispose()
    urls = {"lookup": [f"/api/v1/parcels/{c}" for c in inputs["codes"]], "wfs_one": [wfs_one(b) for b in boxes]}
    base = f"http://127.0.0.1:{args.port}"
    results: dict = {"concurrency": args.concurrency, "duration_s": args.duration, "repeat": args.repeat,
                     "cpus": os.cpu_count(), "load_before": os.getloadavg(), "configs": {}}
    routes = args.routes.split(",")
    configs = []
    for name in args.configs.split(","):
        kind = name.partition("-")[0]
        if kind in NEEDS and importlib.util.find_spec(NEEDS[kind]) is None:
            print(f"{name}: skipped ({NEEDS[kind]} is not installed)", file=sys.stderr)
        else:
            configs.append(name)
    runs: dict[str, dict[str, list[dict]]] = {n: {r: [] for r in routes} for n in configs}
    with tempfile.TemporaryDirectory() as tmp:
        # Rounds over every configuration rather than each one's runs back to back: on a shared
        # machine the background load drifts, and this spreads each configuration over the run.
        for _ in range(args.repeat):
            for name in configs:
                proc = start_server(url, args.port, env={"LANDDB_BENCH_ROUTES": "1"},
                                    command=config_command(name, args.port))
                try:
                    if "constant" in routes and "constant" not in urls:
                        size = body_size(base, urls["lookup"], 20)
                        urls["constant"] = [f"/api/v1/bench/constant?size={size}"]
                        results["constant_body_bytes"] = size
                    run_wrk(base, urls["lookup"], args.concurrency, 1, Path(tmp))  # warm-up
                    for route in routes:
                        r = run_wrk(base, urls[route], args.concurrency, args.duration, Path(tmp))
                        if r.get("non_2xx") or r.get("socket_errors"):
                            print(f"WARNING {name} {route}: {r}", file=sys.stderr)
                        runs[name][route].append(r)
                finally:
                    stop_server(proc)
                print(f"{name}: " + ", ".join(f"{r} {runs[name][r][-1]['rps']:.0f}" for r in routes), file=sys.stderr)
    for name in configs:
        row = {"command": " ".join(config_command(name, args.port))}
        for route in routes:
            best = max(runs[name][route], key=lambda r: r["rps"])
            row[route] = {**best, "runs": [round(r["rps"], 1) for r in runs[name][route]]}
        results["configs"][name] = row
    results["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    routes = [r for r in ROUTES if any(r in row for row in results["configs"].values())]
    head = {"constant": f"constant ({results.get('constant_body_bytes', 0) / 1000:.1f} kB)",
            "lookup": "lookup by code", "wfs_one": "WFS ~1 parcel"}
    lines = [f"{results['concurrency']} concurrent clients (wrk), {results['duration_s']:g} s per cell, best of "
             f"{results['repeat']} rounds; {results['cpus']} CPUs shared by server, PostGIS and wrk; load average "
             f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after.", "",
             "| server | " + " | ".join(f"{head[r]} req/s | p50 / p99 ms" for r in routes) + " |",
             "|---|" + "---|---|" * len(routes)]
    for name, row in results["configs"].items():
        cells = [f"{row[r]['rps']:.0f} | {row[r]['p50_ms']:.1f} / {row[r]['p99_ms']:.1f}" for r in routes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    runs = "; ".join(f"{n} " + ", ".join(f"{r} {row[r]['runs']}" for r in routes) for n, row in
                     results["configs"].items())
    return "\n".join(lines + ["", f"Every run's req/s: {runs}."])


if __name__ == "__main__":
    main()
