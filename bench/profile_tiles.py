"""Where a vector tile's time goes: CPU per tile of PostgreSQL, the app server and the client, beside the raw statement.

On a 2-core machine tiles/s is bounded by the CPU all parties spend per tile, so for random
parcels tiles at each zoom (bench_tiles.py's tiles over the urban core) this measures, as
profile_flat.py does for features, the CPU seconds (user + system, from /proc) each party uses
while the load runs, divided by the tiles answered:
  raw          the app's ST_AsMVT statement for each tile (landdb.tiles.mvt.statement), prepared
               and fetched by psycopg2 from N processes, with PostgreSQL's default plan choice
               (plan_cache_mode auto);
  raw generic  the same with its generic plan (what the app runs: mvt.GENERIC_PLAN);
  landdb       GET …/tiles/WebMercatorQuad/{z}/{y}/{x} through `landdb serve`'s server, driven
               by wrk (no Accept-Encoding): PostgreSQL's backends, the server's processes, wrk;
  <other>      with --compare ROOT, the same through another checkout's code and virtualenv
               (ROOT/.venv; e.g. the main branch's), served beside ours in the same run.
  … gzip       each app again with `Accept-Encoding: gzip` (what browsers send): the tile
               compressed at the app's level.
Also, in process: the app's Python profile of a tile (cProfile, the Flask test client) by
where the time goes, and the cost and ratio of gzip per level on the zoom's tiles (a client
sending Accept-Encoding: gzip gets GZIP_LEVEL).

Usage (a database holding the 200 000-parcel sample, as for bench_tiles.py):

    DATABASE_URL=postgresql://landdb@127.0.0.1:54341/landdb_tiles \\
        .venv/bin/python bench/profile_tiles.py --zooms 14,15,16,17 --duration 8 --compare /work/main
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import resolve_server, server_args, start_server, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench_rest import run_wrk  # noqa: E402
from bench_tiles import WRK_TIMEOUT, app_url, pick_tiles, tile_statement  # noqa: E402
from profile_flat import _cpu, _tree  # noqa: E402
from landdb.db import normalize_url  # noqa: E402
from landdb.tiles import mvt  # noqa: E402

GZIP_LEVELS = (1, 2, 5, 6)


# --- CPU of each party, PostgreSQL counted for this database only ------------------------------
#
# The cluster may serve other databases (other benchmarks) at the same time: PostgreSQL's CPU is
# that of the backends connected to this database — the app's pooled ones, alive across a cell,
# read before and after it; the raw clients' ones, which end with the cell, report their own
# before they disconnect.


def _backends(postmaster: int, dbname: str) -> dict[int, float]:
    """CPU seconds so far of each live backend connected to `dbname`."""
    out = {}
    for pid in _tree(postmaster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {dbname} " in title:
            out[pid] = _cpu([pid])
    return out


class Meter:
    """CPU seconds of this database's live backends, a server's tree, and this process's children."""

    def __init__(self, postmaster: int, dbname: str, server: int | None = None):
        self.postmaster, self.dbname, self.server = postmaster, dbname, server

    def read(self) -> dict:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {"backends": _backends(self.postmaster, self.dbname), "client": kids.ru_utime + kids.ru_stime}
        if self.server is not None:
            out["server"] = _cpu(_tree(self.server))
        return out


def measured(meter: Meter, run) -> dict:
    """Run `run()` (a wrk or raw result) and add CPU ms per tile of each party."""
    before, t0 = meter.read(), time.perf_counter()
    r = run()
    wall = time.perf_counter() - t0
    after = meter.read()
    time.sleep(0.5)
    postgres = sum(cpu - before["backends"].get(pid, 0.0) for pid, cpu in after["backends"].items())
    postgres += r.pop("backend_cpu_s", 0.0)  # raw clients' backends, gone by now
    n = max(1, r["requests"])
    cpu = {"postgres": postgres, "client": after["client"] - before["client"]}
    if "server" in after:
        cpu["server"] = after["server"] - before["server"]
    return {**r, "wall_s": round(wall, 2), "cpu_ms_per_request": {k: round(1000 * v / n, 2) for k, v in cpu.items()}}


def _raw_worker(args) -> tuple[list[float], float]:
    """bench_rest's raw client (each statement prepared once, then executed), which also reports
    the CPU its backend used, read from /proc before disconnecting."""
    dsn, work, deadline, seed, generic = args
    import random

    import psycopg2

    from bench_rest import _positional

    options = "-c statement_timeout=15000 -c timezone=UTC -c jit=off -c max_parallel_workers_per_gather=0"
    if generic:
        options += " -c plan_cache_mode=force_generic_plan"
    conn = psycopg2.connect(dsn, options=options)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    start_cpu = _cpu([backend])
    names: dict[str, tuple[str, list[str]]] = {}
    rnd = random.Random(seed)
    lat: list[float] = []
    while (t0 := time.perf_counter()) < deadline:
        sql, params = rnd.choice(work)[0]
        with conn.cursor() as cur:
            if sql not in names:
                body, order = _positional(sql)
                names[sql] = (f"raw{len(names)}", order)
                cur.execute(f"PREPARE {names[sql][0]} AS {body}")
            name, order = names[sql]
            cur.execute(f"EXECUTE {name}({', '.join(['%s'] * len(order))})", [params[n] for n in order])
            cur.fetchall()
        lat.append(time.perf_counter() - t0)
    used = _cpu([backend]) - start_cpu
    conn.close()
    return lat, used


def run_raw(dsn: str, work, concurrency: int, duration: float, generic: bool = False) -> dict:
    """Tiles/s, p50/p99 of the raw statements from `concurrency` processes, and their backends' CPU."""
    import multiprocessing as mp

    deadline = time.perf_counter() + 0.5 + duration
    with mp.get_context("fork").Pool(concurrency) as pool:
        out = pool.map(_raw_worker, [(dsn, work, deadline, i, generic) for i in range(concurrency)])
    lat = sorted(x for lats, _ in out for x in lats)
    return {"rps": len(lat) / (duration + 0.5), "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)], "requests": len(lat),
            "backend_cpu_s": sum(cpu for _, cpu in out)}


def python_profile(app, urls: list[str], n: int) -> list[tuple[str, float]]:
    """The app's Python time for `n` tiles in process, in groups (share of the total)."""
    client = app.test_client()
    for u in urls[:n]:
        client.get(u).get_data()
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        resp = client.get(urls[i % len(urls)])
        resp.get_data()
        if resp.status_code not in (200, 204):
            raise SystemExit(f"{urls[i % len(urls)]} answered {resp.status_code}")
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    db = sum(tt for (_f, _l, name), (_cc, _nc, tt, _ct, _c) in stats.stats.items()
             if "ursor" in name and ("execute" in name or "fetch" in name))
    return [("psycopg2 execute + fetch (waits for PostgreSQL, decodes the tile)", round(db / total, 3)),
            ("everything else (Flask, werkzeug, landdb, the test client)", round(1 - db / total, 3)),
            ("total ms per tile", round(1000 * total / n, 2)), ("app Python ms per tile", round(1000 * (total - db) / n, 2))]


def gzip_costs(app, urls: list[str]) -> dict:
    """ms per tile and compressed ÷ plain size of gzip at each level, on the tiles of `urls`."""
    client = app.test_client()
    bodies = [client.get(u).get_data() for u in urls]
    bodies = [b for b in bodies if b]
    plain = sum(map(len, bodies))
    out = {"mean_kb": round(plain / max(1, len(bodies)) / 1000, 1)}
    for level in GZIP_LEVELS:
        t0 = time.process_time()
        size = sum(len(gzip.compress(b, compresslevel=level, mtime=0)) for b in bodies)
        out[level] = {"ms_per_tile": round(1000 * (time.process_time() - t0) / max(1, len(bodies)), 2),
                      "ratio": round(size / max(1, plain), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8797)
    ap.add_argument("--zooms", default="14,15,16,17")
    ap.add_argument("--tiles", type=int, default=200, help="distinct tiles per zoom")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--compare", default=None, help="another checkout (with its .venv) to serve beside ours")
    ap.add_argument("--profile-n", type=int, default=30, help="tiles profiled in process per zoom")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_profile_tiles.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (a database holding the sample)")
    resolve_server(args)
    url = normalize_url(args.database_url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    engine = create_engine(url)
    with engine.connect() as conn:
        datadir = conn.execute(text("SHOW data_directory")).scalar_one()
        dbname = conn.execute(text("SELECT current_database()")).scalar_one()
    postmaster = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    zooms = [int(z) for z in args.zooms.split(",")]
    tiles = pick_tiles(engine, zooms, args.tiles, args.seed)
    engine.dispose()
    work = {z: [[tile_statement(z, x, y)] for x, y in xys] for z, xys in tiles.items()}
    urls = {z: [app_url(z, x, y) for x, y in xys] for z, xys in tiles.items()}

    os.environ.update(DATABASE_URL=args.database_url, LANDDB_RATE_LIMIT="", LANDDB_RATE_LIMIT_PUBLIC="",
                      LANDDB_RATE_LIMIT_WFS="", LANDDB_ACCESS_LOG="0")
    from api import create_app
    from landdb.config import Settings

    app = create_app(Settings.from_env())
    results: dict = {"server": args.server, "workers": args.workers, "threads": args.threads,
                     "concurrency": args.concurrency, "duration_s": args.duration, "compare": args.compare,
                     "generic_plan": mvt.GENERIC_PLAN, "load_before": [round(v, 2) for v in os.getloadavg()],
                     "zooms": {}}
    for z in zooms:
        results["zooms"][z] = {"tiles": len(urls[z]), "python_profile": python_profile(app, urls[z], args.profile_n),
                               "gzip": gzip_costs(app, urls[z])}
    ours = other = None
    try:
        ours = start_server(url, args.port, args.workers, args.threads, server=args.server)
        if args.compare:
            other = start_server(url, args.port + 1, args.workers, args.threads, server=args.server,
                                 root=Path(args.compare))
        apps = [("landdb", ours, args.port)] + ([(Path(args.compare).name, other, args.port + 1)] if other else [])
        with tempfile.TemporaryDirectory() as tmp:
            for z in zooms:
                cell = results["zooms"][z]
                meter = Meter(postmaster, dbname)
                cell["raw"] = measured(meter, lambda: run_raw(dsn, work[z], args.concurrency, args.duration))
                cell["raw generic"] = measured(
                    meter, lambda: run_raw(dsn, work[z], args.concurrency, args.duration, generic=True))
                for gz in ({}, {"Accept-Encoding": "gzip"}):
                    for name, proc, port in apps:
                        base = f"http://127.0.0.1:{port}"
                        run_wrk(base, urls[z], args.concurrency, 1, Path(tmp), timeout=WRK_TIMEOUT, headers=gz)
                        cell[name + (" gzip" if gz else "")] = measured(Meter(postmaster, dbname, proc.pid), lambda: run_wrk(
                            base, urls[z], args.concurrency, args.duration, Path(tmp), timeout=WRK_TIMEOUT,
                            headers=gz))
                print(f"z{z}: {json.dumps(cell)}", file=sys.stderr)
    finally:
        for proc in (ours, other):
            if proc is not None:
                stop_server(proc)
    results["load_after"] = [round(v, 2) for v in os.getloadavg()]
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    lines = [f"{results['concurrency']} clients, {results['duration_s']:g} s per cell; landdb on {results['server']} "
             f"{results['workers']} workers × {results['threads']} threads; load average "
             f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after. CPU ms per tile:", "",
             "| zoom | path | tiles/s | ÷ raw generic | PostgreSQL | app server | client | total |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for z, cell in results["zooms"].items():
        base = cell["raw generic"]["rps"]
        for path, c in cell.items():
            if not isinstance(c, dict) or "rps" not in c:
                continue
            cpu = c["cpu_ms_per_request"]
            lines.append(f"| {z} | {path} | {c['rps']:.0f} | {c['rps'] / base:.2f} | {cpu['postgres']:.1f} "
                         f"| {cpu.get('server', 0):.1f} | {cpu['client']:.1f} | {sum(cpu.values()):.1f} |")
    lines.append("")
    for z, cell in results["zooms"].items():
        prof = "; ".join(f"{k} {v:.0%}" if "ms" not in k else f"{k} {v:.1f}" for k, v in cell["python_profile"])
        gz = cell["gzip"]
        lines.append(f"- z{z}, the app in process (cProfile): {prof}. gzip of the {gz['mean_kb']} KB tiles: " + ", ".join(
            f"level {lvl} {gz[lvl]['ms_per_tile']} ms, {gz[lvl]['ratio']:.0%}" for lvl in GZIP_LEVELS))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
