"""Where a bench_flat.py request's time goes: CPU per request of PostgreSQL, the app server and the client.

On a 2-core machine a throughput figure is bounded by the CPU all parties spend per request,
so this measures, for the rows of bench_flat.py, the CPU seconds (user + system, from /proc)
that each party uses while the load runs, divided by the requests answered:
  raw        the flat table's statement (bench_flat.RAW_SQL) prepared and fetched by psycopg2
             from N processes: PostgreSQL's backends and the psycopg2 clients;
  statement  the very statement landdb's app runs for the request (captured from the app
             through landdb.prepared), replayed the same way: what the app's SQL costs the
             database, and a client that only fetches its rows;
  landdb     the HTTP request through `landdb serve`'s server, driven by wrk: PostgreSQL's
             backends, the server's processes (granian and the app), wrk.
Also, for one request of each row, the app's own Python profile (cProfile, in process, the
Flask test client) summarised by where the time is spent.

Usage (the database bench_flat.py uses, with its flat table made):

    DATABASE_URL=postgresql://landdb@127.0.0.1:54341/landdb_flat \\
        .venv/bin/python bench/profile_flat.py --rows json1000,gml1000,rest1000 --duration 8
"""

from __future__ import annotations

import argparse
import cProfile
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

from bench_flat import ROWS, pick_boxes, requests  # noqa: E402
from bench_rest import run_raw, run_wrk  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            pass
    return out


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system, with waited-for children) of these processes so far."""
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in f[11:15])
        except OSError:
            pass
    return total / TICK


class Meter:
    """CPU seconds of PostgreSQL (the postmaster's tree), a server's tree and this process's children."""

    def __init__(self, postmaster: int, server: int | None = None):
        self.postmaster, self.server = postmaster, server

    def read(self) -> dict[str, float]:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {"postgres": _cpu(_tree(self.postmaster)), "client": kids.ru_utime + kids.ru_stime}
        if self.server is not None:
            out["server"] = _cpu(_tree(self.server))
        return out


def measured(meter: Meter, run) -> dict:
    """Run `run()` (returning a wrk/run_raw result) and add CPU ms per request of each party."""
    before, t0 = meter.read(), time.perf_counter()
    r = run()
    wall = time.perf_counter() - t0
    time.sleep(0.5)  # closed connections' backends exit and are counted in the postmaster's children
    after = meter.read()
    n = max(1, r["requests"])
    return {**r, "wall_s": round(wall, 2),
            "cpu_ms_per_request": {k: round(1000 * (after[k] - before[k]) / n, 2) for k in after}}


def captured_statements(app, url: str) -> list[tuple[str, dict]]:
    """The statements (psycopg2 form) the app's request runs through landdb.prepared, and the others."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from landdb import prepared

    seen: list[tuple[str, dict]] = []
    original = prepared.execute

    def spy(conn, sql, params, **kw):
        seen.append((prepared._compile(sql)[3], dict(params)))
        return original(conn, sql, params, **kw)

    def listen(conn, cursor, statement, params, context, executemany):
        if not statement.startswith(("PREPARE", "EXECUTE", "SET LOCAL plan_cache_mode")):
            seen.append((statement, dict(params or {})))

    prepared.execute = spy
    event.listen(Engine, "before_cursor_execute", listen)
    try:
        resp = app.test_client().get(url)
        resp.get_data()
        if resp.status_code != 200:
            raise SystemExit(f"{url} answered {resp.status_code}: {resp.get_data()[:300]!r}")
    finally:
        prepared.execute = original
        event.remove(Engine, "before_cursor_execute", listen)
    return seen


def python_profile(app, urls: list[str], n: int) -> list[tuple[str, float]]:
    """The app's Python time for `n` requests in process, in groups (share of the total)."""
    client = app.test_client()
    client.get(urls[0]).get_data()
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        resp = client.get(urls[i % len(urls)])
        resp.get_data()
        if resp.status_code != 200:
            raise SystemExit(f"{urls[i % len(urls)]} answered {resp.status_code}")
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    groups = {"psycopg2 execute + fetch (waits for PostgreSQL, decodes rows)": 0.0,
              "join of the rendered features": 0.0}
    for (file, _line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        if "ursor" in name and ("execute" in name or "fetch" in name):  # psycopg2's cursor, or a subclass
            groups["psycopg2 execute + fetch (waits for PostgreSQL, decodes rows)"] += tt
        elif name in ("<method 'join' of 'str' objects>", "<method 'join' of 'bytes' objects>"):
            groups["join of the rendered features"] += tt
    groups["everything else (Flask, werkzeug, SQLAlchemy, landdb, the test client)"] = total - sum(groups.values())
    return [(k, round(v / total, 3)) for k, v in groups.items()] + [("total s per request", round(total / n, 4))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8795)
    ap.add_argument("--rows", default="json1000,gml1000,rest1000")
    ap.add_argument("--inputs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile-n", type=int, default=20, help="requests profiled in process per row")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_profile_flat.json"))
    args = ap.parse_args()
    resolve_server(args)
    url = normalize_url(args.database_url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    engine = create_engine(url)
    with engine.connect() as conn:
        datadir = conn.execute(text("SHOW data_directory")).scalar_one()
    postmaster = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    boxes = pick_boxes(engine, args.inputs, args.seed)
    engine.dispose()
    every = requests(boxes)
    rows = [r for r in ROWS if r in args.rows.split(",")]

    # The app in process as harness.start_server runs it: no rate limits, no access log.
    os.environ.update(DATABASE_URL=args.database_url, LANDDB_RATE_LIMIT="", LANDDB_RATE_LIMIT_PUBLIC="",
                      LANDDB_RATE_LIMIT_WFS="", LANDDB_ACCESS_LOG="0")
    from api import create_app
    from landdb.config import Settings

    app = create_app(Settings.from_env())
    results: dict = {"server": args.server, "workers": args.workers, "threads": args.threads,
                     "concurrency": args.concurrency, "duration_s": args.duration,
                     "load_before": os.getloadavg(), "rows": {}}
    statements = {}
    for row in rows:
        statements[row] = [captured_statements(app, u) for u in every[row]["landdb"][:40]]
    meter = Meter(postmaster)
    for row in rows:
        cell: dict = {"statements": [s for s, _ in statements[row][0]]}
        cell["raw"] = measured(meter, lambda: run_raw(dsn, every[row]["raw"], args.concurrency, args.duration))
        cell["statement"] = measured(meter, lambda: run_raw(dsn, statements[row], args.concurrency, args.duration))
        cell["python_profile"] = python_profile(app, every[row]["landdb"], args.profile_n)
        results["rows"][row] = cell
    proc = start_server(url, args.port, args.workers, args.threads, server=args.server)
    try:
        meter = Meter(postmaster, proc.pid)
        with tempfile.TemporaryDirectory() as tmp:
            for row in rows:
                base = f"http://127.0.0.1:{args.port}"
                run_wrk(base, every[row]["landdb"], args.concurrency, 1, Path(tmp))
                results["rows"][row]["landdb"] = measured(
                    meter, lambda: run_wrk(base, every[row]["landdb"], args.concurrency, args.duration, Path(tmp)))
                print(f"{row}: {json.dumps(results['rows'][row])}", file=sys.stderr)
    finally:
        stop_server(proc)
    results["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    lines = [f"{results['concurrency']} clients, {results['duration_s']:g} s per cell; landdb on {results['server']} "
             f"{results['workers']} workers × {results['threads']} threads; load average "
             f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after. CPU ms per request:", "",
             "| row | path | req/s | PostgreSQL | app server | client | total |", "|---|---|---:|---:|---:|---:|---:|"]
    for row, cell in results["rows"].items():
        for path in ("raw", "statement", "landdb"):
            c = cell.get(path)
            if c is None:
                continue
            cpu = c["cpu_ms_per_request"]
            lines.append(f"| {row} | {path} | {c['rps']:.0f} | {cpu['postgres']:.1f} | {cpu.get('server', 0):.1f} "
                         f"| {cpu['client']:.1f} | {sum(cpu.values()):.1f} |")
    lines.append("")
    for row, cell in results["rows"].items():
        prof = "; ".join(f"{k} {v:.0%}" if k[0] != "t" else f"{k} {v * 1000:.1f} ms" for k, v in cell["python_profile"])
        lines.append(f"- {row}, the app in process (cProfile): {prof}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
