"""Benchmark of the WFS GetFeature hot paths against PostGIS and the HTTP server's ceiling.

In one run, at the same concurrency, for each case —
  gml1000   GetFeature of a bbox holding ~1 000 parcels, GML 3.2 (the 2.0 default)
  json1000  the same bboxes as GeoJSON (outputFormat=application/json)
  one       GetFeature of a bbox holding one parcel, GML 3.2
— it measures:
  app     the /wfs request through the production server's command line (as
          `landdb serve` runs it, access log off), driven by wrk;
  raw     the very SQL the request runs (one SELECT that counts numberMatched and renders the
          features), fetched whole, sent straight to PostGIS with psycopg2 from N processes,
          prepared once per connection as the app does (bench_rest.run_raw);
  const   a constant body of the same size through the same server (bench-only route
          /wfs/_bench/constant, on only with LANDDB_WFS_BENCH=1) — the HTTP ceiling.
app and const are each measured --repeat times and the best run kept (harness.best_of).
Then the peak RSS of a server worker while it streams the whole parcel layer as GML 3.2.

Usage (a database of its own holding the parcels, e.g. from `landdb sample generate --parcels 200000`
then `landdb sample load`):

    apt-get install wrk
    DATABASE_URL=postgresql://landdb@127.0.0.1:54329/landdb_bench_wfs \\
        .venv/bin/python bench/bench_wfs.py --duration 10 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import best_of, body_size, ratio_table, resolve_server, server_args, start_server, stop_server  # noqa: E402,E501
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from api.wfs import operations  # noqa: E402
from api.wfs.parse import from_kvp  # noqa: E402
from landdb import query as features  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_rest import run_raw, run_wrk  # noqa: E402

CASES = ("gml1000", "json1000", "one")


def pick_boxes(engine, n: int, seed: int) -> dict[str, list[tuple[float, ...]]]:
    """EPSG:5899 boxes around ~1 000 neighbouring parcels, and tiny boxes inside one parcel."""
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000.0})
        centres = conn.execute(text("""
            SELECT ST_PointOnSurface(v.geom) AS g, ST_X(ST_PointOnSurface(v.geom)) AS x,
                   ST_Y(ST_PointOnSurface(v.geom)) AS y
              FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
             WHERE p.retired_on IS NULL ORDER BY random() LIMIT :n"""), {"n": n}).all()
        big = []
        for row in centres[: max(5, n // 10)]:
            box = conn.execute(text("""
                WITH k AS (SELECT v.geom FROM parcel_versions v WHERE v.valid_to IS NULL
                            ORDER BY v.geom <-> CAST(:g AS geometry) LIMIT 850)
                SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM k) s"""),
                {"g": row.g}).one()
            big.append(tuple(round(v, 2) for v in box))
        one = [(round(r.x - 0.2, 2), round(r.y - 0.2, 2), round(r.x + 0.2, 2), round(r.y + 0.2, 2)) for r in centres]
    return {"gml1000": big, "json1000": big, "one": one}


def kvp(case: str, box) -> dict[str, str]:
    params = {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
              "bbox": ",".join(map(str, box)) + ",urn:ogc:def:crs:EPSG::5899"}
    if case == "json1000":
        params["outputFormat"] = "application/json"
    return params


def statements(engine, params: dict) -> list[tuple[str, dict]]:
    """The SQL the WFS runs for this request (one statement: count + rendering), for psycopg2."""
    req = from_kvp(params)
    q = operations.build_query(req)
    fmt = req.format
    if fmt == "geojson":
        q.lat_first = False
    sql, p = features.select_sql(q, fmt)
    t = text(sql)
    compiled = t.bindparams(**{k: v for k, v in p.items() if k in t._bindparams}).compile(dialect=engine.dialect)
    return [(str(compiled), compiled.params)]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def full_layer_rss(database_url: str, port: int, n_parcels: int, server: str | None = None) -> dict:
    """Stream the whole layer as GML 3.2 from a one-worker server; sample the worker's RSS."""
    proc = start_server(database_url, port, 1, 1, env={"LANDDB_WFS_BENCH": "1", "LANDDB_POOL_SIZE": "1"},
                        server=server)
    try:
        worker = _children(proc.pid)[0]
        before = _rss_kb(worker)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _rss_kb(worker))
                time.sleep(0.02)

        t = threading.Thread(target=sample)
        t.start()
        url = f"http://127.0.0.1:{port}/wfs?" + urlencode(
            {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
             "count": max(n_parcels, 1)})
        t0 = time.perf_counter()
        size = 0
        with urllib.request.urlopen(url, timeout=600) as resp:
            while chunk := resp.read(1 << 20):
                size += len(chunk)
        elapsed = time.perf_counter() - t0
        done.set()
        t.join()
        return {"bytes": size, "seconds": elapsed, "rss_before_mb": before / 1024, "rss_peak_mb": peak[0] / 1024}
    finally:
        stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8766)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each HTTP cell; the best is kept")
    ap.add_argument("--inputs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_wfs.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (a database of its own, not the shared dev one)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    url = normalize_url(args.database_url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    engine = create_engine(url)
    with engine.connect() as conn:
        n_parcels = conn.execute(text("SELECT count(*) FROM parcels WHERE retired_on IS NULL")).scalar_one()
    boxes = pick_boxes(engine, args.inputs, args.seed)
    cases = args.cases.split(",")
    urls = {c: ["/wfs?" + urlencode(kvp(c, b)) for b in boxes[c]] for c in cases}
    sql = {c: [statements(engine, kvp(c, b)) for b in boxes[c]] for c in cases}
    engine.dispose()

    base = f"http://127.0.0.1:{args.port}"
    resolve_server(args)
    workers = args.workers
    results: dict = {"parcels": n_parcels, "concurrency": args.concurrency, "duration_s": args.duration,
                     "server": args.server, "workers": workers, "threads": args.threads, "repeat": args.repeat, "cpus": os.cpu_count(),
                     "cases": {}}
    server = start_server(url, args.port, workers, args.threads, server=args.server,
                          env={"LANDDB_WFS_BENCH": "1", "LANDDB_POOL_SIZE": str(args.threads)})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for case in cases:
                size = body_size(base, urls[case], 10)

                def http(paths: list[str]) -> dict:
                    return best_of(args.repeat, lambda: run_wrk(base, paths, args.concurrency, args.duration,
                                                                Path(tmp)))

                app = http(urls[case])
                raw = run_raw(dsn, sql[case], args.concurrency, args.duration)
                const = http([f"/wfs/_bench/constant?size={size}"])
                results["cases"][case] = {"body_bytes": size, "app": app, "raw": raw, "const": const,
                                          "app_vs_raw": app["rps"] / raw["rps"],
                                          "app_vs_const": app["rps"] / const["rps"]}
                print(f"{case}: {json.dumps(results['cases'][case])}", file=sys.stderr)
    finally:
        stop_server(server)
    if not args.skip_rss:
        results["full_layer_gml"] = full_layer_rss(url, args.port + 1, n_parcels, args.server)
        print(f"full layer: {json.dumps(results['full_layer_gml'])}", file=sys.stderr)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    lines = ratio_table(results, results["cases"], "case")
    if "full_layer_gml" in results:
        f = results["full_layer_gml"]
        lines += ["", f"Full-layer GML 3.2 download ({results['parcels']:,} parcels, {f['bytes'] / 1e6:.0f} MB in "
                      f"{f['seconds']:.1f} s): worker RSS {f['rss_before_mb']:.0f} MB before, "
                      f"peak {f['rss_peak_mb']:.0f} MB."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
