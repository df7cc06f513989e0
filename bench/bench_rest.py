"""Benchmark of the REST API's hot paths against the database's and the HTTP server's ceilings.

For each operation — code lookup, point lookup, near, and a bbox search returning 1 000 parcels —
it measures, in the same run and at the same concurrency:

  app     the endpoint through the production server (`landdb serve`'s), driven by wrk;
  raw     the very SQL statements the endpoint runs (captured from the core), sent straight to
          PostGIS with psycopg2 from N processes — the database's ceiling; a single statement is
          prepared once per connection and executed, as the app does;
  const   a constant body of the same size through the same server (the bench-only route
          /api/v1/bench/constant, on only with LANDDB_BENCH_ROUTES=1) — the HTTP ceiling;
  floor   (code lookup only) /api/v1/bench/floor/{code}: the lookup's prepared statement on a
          pooled connection and its text as the body, nothing else — the least any
          database-backed answer costs in this app on this machine.

The server is started with the production command line (`landdb serve`'s server and arguments,
access log off); app, const and floor are each measured --repeat times and the best run kept
(see harness.best_of).

Usage (the database must hold the parcels already, e.g. from `landdb sample generate`):

    apt-get install wrk     # Debian's wrk is the load generator
    DATABASE_URL=postgresql://landdb@127.0.0.1:54329/landdb_bench_rest \\
        .venv/bin/python bench/bench_rest.py --duration 10 --concurrency 8

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import best_of, body_size, ratio_table, resolve_server, server_args, start_server, stop_server  # noqa: E402,E501

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402

from landdb import parcels  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

OPS = ("code", "point", "near", "bbox1000")


# --- inputs ---------------------------------------------------------------------------------------


def pick_inputs(engine, n: int, seed: int) -> dict[str, list]:
    """Random current parcels' codes and interior points, and bboxes around ~1 000 parcels."""
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": seed / 1000.0 % 1})
        rows = conn.execute(text("""
            SELECT p.parcel_code, ST_X(pt) AS lon, ST_Y(pt) AS lat
              FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL,
                   LATERAL (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) AS pt) s
             WHERE p.retired_on IS NULL ORDER BY random() LIMIT :n"""), {"n": n}).all()
        boxes = []
        for code, _lon, _lat in rows[: max(10, n // 10)]:
            box = conn.execute(text("""
                WITH c AS (SELECT ST_PointOnSurface(v.geom) AS g FROM parcels p
                             JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
                            WHERE p.parcel_code = :code AND p.retired_on IS NULL),
                     k AS (SELECT v.geom FROM parcel_versions v, c WHERE v.valid_to IS NULL
                            ORDER BY v.geom <-> c.g LIMIT 900)
                SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                  FROM (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), 5899), 4326)::box2d AS e FROM k) s"""),
                {"code": code}).one()
            boxes.append(tuple(round(x, 7) for x in box))
    return {"codes": [r.parcel_code for r in rows], "points": [(r.lon, r.lat) for r in rows], "boxes": boxes}


def app_urls(inputs) -> dict[str, list[str]]:
    return {
        "code": [f"/api/v1/parcels/{c}" for c in inputs["codes"]],
        "point": [f"/api/v1/parcels/at?lon={x}&lat={y}" for x, y in inputs["points"]],
        "near": [f"/api/v1/parcels/near?lon={x}&lat={y}" for x, y in inputs["points"]],
        "bbox1000": [f"/api/v1/parcels?limit=1000&bbox={a},{b},{c},{d}" for a, b, c, d in inputs["boxes"]],
    }


def capture_sql(engine, inputs) -> dict[str, list[tuple[str, dict]]]:
    """The statements (and parameters) the core sends for each input: what `raw` replays
    (a streamed page is a SET LOCAL and the query, in one transaction)."""
    from sqlalchemy.orm import Session

    captured: list[tuple[str, dict]] = []

    def listen(conn, cursor, statement, params, context, executemany):
        captured.append((statement, dict(params)))

    out: dict[str, list] = {op: [] for op in OPS}
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with Session(engine) as session:
            calls = {
                "code": [lambda c=c: parcels.get_parcel(session, c) for c in inputs["codes"]],
                "point": [lambda p=p: parcels.parcel_at(session, *p) for p in inputs["points"]],
                "near": [lambda p=p: "".join(parcels.parcels_near(session, *p).chunks) for p in inputs["points"]],
                "bbox1000": [lambda b=b: "".join(parcels.search_parcels(
                    session, parcels.SearchFilters(bbox=b), limit=1000).chunks) for b in inputs["boxes"]],
            }
            for op, fns in calls.items():
                for fn in fns:
                    captured.clear()
                    fn()
                    out[op].append(list(captured))
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return out


# --- raw PostGIS --------------------------------------------------------------------------------


def _positional(sql: str) -> tuple[str, list[str]]:
    """psycopg2's %(name)s parameters as PREPARE's $n, and the names in $n order."""
    order: list[str] = []

    def number(m: re.Match) -> str:
        if m.group(1) not in order:
            order.append(m.group(1))
        return f"${order.index(m.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql).replace("%%", "%"), order


def _raw_worker(args):
    dsn, work, deadline, seed, generic = args
    import psycopg2

    options = "-c statement_timeout=15000 -c timezone=UTC -c jit=off -c max_parallel_workers_per_gather=0"  # as the app (landdb.db)
    if generic:
        options += " -c plan_cache_mode=force_generic_plan"
    single = psycopg2.connect(dsn, options=options)
    single.autocommit = True
    multi = psycopg2.connect(dsn, options=options)
    prepared: dict[str, tuple[str, list[str]]] = {}
    rnd = random.Random(seed)
    lat: list[float] = []
    while True:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        statements = rnd.choice(work)
        if len(statements) == 1:
            # One statement, as the app runs it: prepared once per connection, then executed.
            sql, params = statements[0]
            with single.cursor() as cur:
                if sql not in prepared:
                    body, order = _positional(sql)
                    prepared[sql] = (f"raw{len(prepared)}", order)
                    cur.execute(f"PREPARE {prepared[sql][0]} AS {body}")
                name, order = prepared[sql]
                cur.execute(f"EXECUTE {name}({', '.join(['%s'] * len(order))})", [params[n] for n in order])
                cur.fetchall()
        else:
            with multi.cursor() as cur:
                for sql, params in statements:
                    cur.execute(sql, params)
                cur.fetchall()
            multi.rollback()
        lat.append(time.perf_counter() - t0)
    single.close()
    multi.close()
    return lat


def run_raw(dsn: str, work, concurrency: int, duration: float, generic: bool = False) -> dict:
    ctx = mp.get_context("fork")
    start = time.perf_counter() + 0.5
    deadline = start + duration
    with ctx.Pool(concurrency) as pool:
        lats = pool.map(_raw_worker, [(dsn, work, deadline, i, generic) for i in range(concurrency)])
    all_lat = sorted(x for lat in lats for x in lat)
    elapsed = duration + 0.5  # workers start immediately; count from connect to deadline
    return {"rps": len(all_lat) / elapsed, "p50_ms": 1000 * all_lat[len(all_lat) // 2],
            "p99_ms": 1000 * all_lat[int(len(all_lat) * 0.99)], "requests": len(all_lat)}


# --- HTTP via wrk -----------------------------------------------------------------------------------

LUA = r"""
local urls = {}
for line in io.lines(os.getenv("BENCH_URLS")) do urls[#urls + 1] = line end
local n = 0
init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000) end
request = function()
  return wrk.format("GET", urls[math.random(#urls)])
end
"""


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", value)
    n, unit = float(m.group(1)), m.group(2)
    return {"us": n / 1000, "ms": n, "s": n * 1000, "m": n * 60_000}[unit]


def run_wrk(base: str, urls: list[str], concurrency: int, duration: float, tmp: Path,
            timeout: float | None = None, headers: dict[str, str] | None = None) -> dict:
    """wrk's req/s and p50/p99 over `urls` drawn at random; `timeout` (s): wrk's per-request
    timeout (its default, 2 s, counts slower answers as errors, not requests); `headers`: sent
    with every request."""
    urls_file = tmp / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n")
    script = tmp / "urls.lua"
    script.write_text(LUA)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{int(duration)}s", "--latency", "-s", str(script),
         *([f"--timeout={timeout:g}s"] if timeout else []),
         *[arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")], base],
        env={**os.environ, "BENCH_URLS": str(urls_file)}, capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result = {"rps": rps, "p50_ms": p50, "p99_ms": p99,
              "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    if errors:
        result["non_2xx"] = int(errors.group(1))
    if socket_errors:
        result["socket_errors"] = socket_errors.group(1)
    return result


# --- main ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8765)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each HTTP cell; the best is kept")
    ap.add_argument("--inputs", type=int, default=400, help="distinct parcels/points (bboxes: a tenth)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_rest.json"))
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
    inputs = pick_inputs(engine, args.inputs, args.seed)
    sql = capture_sql(engine, inputs)
    urls = app_urls(inputs)
    engine.dispose()

    base = f"http://127.0.0.1:{args.port}"
    resolve_server(args)
    workers = args.workers
    server = start_server(url, args.port, workers, args.threads, server=args.server,
                          env={"LANDDB_BENCH_ROUTES": "1", "LANDDB_POOL_SIZE": str(args.threads)})
    results: dict = {"parcels": n_parcels, "concurrency": args.concurrency, "duration_s": args.duration,
                     "server": args.server, "workers": workers, "threads": args.threads, "repeat": args.repeat, "cpus": os.cpu_count(),
                     "ops": {}}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for op in args.ops.split(","):
                size = body_size(base, urls[op], 20)

                def http(paths: list[str]) -> dict:
                    return best_of(args.repeat, lambda: run_wrk(base, paths, args.concurrency, args.duration,
                                                                Path(tmp)))

                app = http(urls[op])
                # The point lookup runs its generic plan in the app (landdb.parcels.parcel_at): so here.
                raw = run_raw(dsn, sql[op], args.concurrency, args.duration, generic=op == "point")
                const = http([f"/api/v1/bench/constant?size={size}"])
                cell = {"body_bytes": size, "app": app, "raw": raw, "const": const,
                        "app_vs_raw": app["rps"] / raw["rps"], "app_vs_const": app["rps"] / const["rps"]}
                if op == "code":
                    floor = http([f"/api/v1/bench/floor/{c}" for c in inputs["codes"]])
                    cell.update(floor=floor, floor_vs_const=floor["rps"] / const["rps"])
                results["ops"][op] = cell
                print(f"{op}: {json.dumps(results['ops'][op])}", file=sys.stderr)
    finally:
        stop_server(server)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    lines = ratio_table(results, results["ops"], "operation")
    for op, r in results["ops"].items():
        if "floor" in r:
            f = r["floor"]
            lines += ["", f"Framework floor for {op} (`/api/v1/bench/floor/{{code}}`): {f['rps']:.0f} req/s "
                          f"(p50 / p99 {f['p50_ms']:.1f} / {f['p99_ms']:.1f} ms) = {r['floor_vs_const']:.2f}× the "
                          f"HTTP ceiling; the real route reaches {r['app']['rps'] / f['rps']:.2f}× the floor."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
