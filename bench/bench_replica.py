"""Replica lag under a write load of registrations, and what a consistency token costs a read.

Starts its own primary (synchronous_commit on) and streaming replica (pg_basebackup -R) in
temporary directories, loads the committed 3 000-parcel sample, and serves the app as in
production (`landdb serve`'s gunicorn command line) with READ_DATABASE_URL set. Then:

1. lag: `--clients` clients register land-use changes over HTTP for `--seconds`; a watcher
   polls the replica (every ms) for how far it has replayed and records, for each registration,
   the time from its answer to the replica having replayed its Consistency-Token, and the lag
   in bytes (the primary's WAL position minus the replica's) sampled meanwhile;
2. token: the same load, each registration followed at once by a read of its parcel without
   its token and one with it: latency of each (p50/p99), how often the tokenless read was
   stale, the mean time the app spent checking the replica for a token, and how often the
   token read was served by the primary after the bounded wait (/metrics).

    .venv/bin/python bench/bench_replica.py --seconds 20 --clients 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.harness import start_server, stop_server  # noqa: E402
from landdb.db import parse_lsn  # noqa: E402
from tests.postgis import StreamingReplica, ThrowawayCluster  # noqa: E402

DBNAME = "landdb_bench_replica"


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)


def setup() -> tuple[ThrowawayCluster, StreamingReplica, str, str, str, list[dict]]:
    from landdb import auth, migrate
    from landdb.reference import sync_reference_data
    from landdb.sample.load import load_sample
    from tests.conftest import create_database

    primary = ThrowawayCluster().start("-c wal_level=replica -c max_wal_senders=4 -c synchronous_commit=on")
    url = create_database(primary.url(), DBNAME)
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        sync_reference_data(session)
        load_sample(session)
        key, _ = auth.create_key(session, "bench officer", "officer")
        parcels = [{"code": c, "version": v, "land_use": u} for c, v, u in session.execute(text(
            "SELECT parcel_code, version, land_use FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id"
            " WHERE v.valid_to IS NULL AND land_use IN ('ODT', 'TMD') ORDER BY parcel_code"))]
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    replica = StreamingReplica(primary).start()
    replica_url = make_url(url).set(query={"host": str(replica.socket_dir)}).render_as_string(hide_password=False)
    return primary, replica, url, replica_url, key, parcels


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, json.loads(err.read() or b"null")


def register(base: str, key: str, parcel: dict) -> tuple[int, str | None]:
    new_use = "TMD" if parcel["land_use"] == "ODT" else "ODT"
    status, headers, answer = call("POST", f"{base}/api/v1/transactions", {
        "kind": "land_use_change", "parcel": parcel["code"], "expected_version": parcel["version"],
        "effective_date": dt.date.today().isoformat(), "land_use": new_use}, {"Authorization": f"Bearer {key}"})
    if status == 201:
        parcel["version"] += 1
        parcel["land_use"] = new_use
    elif len(ERRORS) < 5:
        ERRORS.append((status, answer))
    return status, headers.get("Consistency-Token")


ERRORS: list = []


class Watcher(threading.Thread):
    """Polls the replica's replay position (and the primary's WAL position) every millisecond."""

    def __init__(self, primary_dsn: str, replica_dsn: str):
        super().__init__(daemon=True)
        self.replica = psycopg2.connect(replica_dsn)
        self.replica.autocommit = True
        self.primary = psycopg2.connect(primary_dsn)
        self.primary.autocommit = True
        self.pending: list[tuple[int, float]] = []
        self.lags_ms: list[float] = []
        self.lag_bytes: list[int] = []
        self.lock = threading.Lock()
        self.running = True

    def expect(self, lsn: int, answered: float) -> None:
        with self.lock:
            self.pending.append((lsn, answered))

    def run(self) -> None:
        rc, pc = self.replica.cursor(), self.primary.cursor()
        n = 0
        while self.running:
            rc.execute("SELECT pg_last_wal_replay_lsn()::text")
            replayed, now = parse_lsn(rc.fetchone()[0]), time.perf_counter()
            with self.lock:
                done = [(lsn, t) for lsn, t in self.pending if lsn <= replayed]
                self.pending = [(lsn, t) for lsn, t in self.pending if lsn > replayed]
            self.lags_ms += [(now - t) * 1000 for _, t in done]
            n += 1
            if n % 20 == 0:
                pc.execute("SELECT pg_current_wal_lsn()::text")
                self.lag_bytes.append(max(0, parse_lsn(pc.fetchone()[0]) - replayed))
            time.sleep(0.001)


def routed(base: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as resp:
        body = resp.read().decode()
    out = {}
    for f in text_string_to_metric_families(body):
        for s in f.samples:
            if s.name == "landdb_db_routed_requests_total":
                out[s.labels["database"] + ":" + s.labels["reason"]] = s.value
            elif s.name in ("landdb_consistency_token_wait_seconds_sum", "landdb_consistency_token_wait_seconds_count"):
                out[s.name.rsplit("_", 1)[1]] = s.value
    return out


def run_clients(n: int, seconds: float, work) -> None:
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=lambda i=i: work(i, deadline)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8743)
    ap.add_argument("--wait-ms", type=int, default=250, help="LANDDB_REPLICA_WAIT_MS")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_replica.json"))
    args = ap.parse_args()

    primary, replica, url, replica_url, key, parcels = setup()
    metrics_dir = tempfile.mkdtemp(prefix="landdb-metrics-")
    server = None
    try:
        server = start_server(url, args.port, workers=args.workers, env={
            "READ_DATABASE_URL": replica_url, "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            "LANDDB_REPLICA_WAIT_MS": str(args.wait_ms), "LANDDB_ACCESS_LOG": "0"})
        base = f"http://127.0.0.1:{args.port}"
        dsn = lambda u: make_url(u).set(drivername="postgresql").render_as_string(hide_password=False)  # noqa: E731
        watcher = Watcher(dsn(url), dsn(replica_url))
        watcher.start()
        shares = [parcels[i::args.clients] for i in range(args.clients)]
        counts = {"registered": 0, "conflicts": 0}

        def write(i: int, deadline: float) -> None:
            j = 0
            while time.monotonic() < deadline:
                parcel = shares[i][j % len(shares[i])]
                j += 1
                status, token = register(base, key, parcel)
                answered = time.perf_counter()
                if status == 201 and token:
                    counts["registered"] += 1
                    watcher.expect(parse_lsn(token), answered)
                else:
                    counts["conflicts"] += 1

        started = time.perf_counter()
        run_clients(args.clients, args.seconds, write)
        lag_elapsed = time.perf_counter() - started
        time.sleep(1)
        watcher.running = False
        watcher.join()
        lag = {"registrations": counts["registered"], "tx_per_s": round(counts["registered"] / lag_elapsed, 1),
               "replay_after_answer_ms": {"p50": pct(watcher.lags_ms, 50), "p99": pct(watcher.lags_ms, 99),
                                          "max": pct(watcher.lags_ms, 100)},
               "lag_bytes": {"p50": pct(watcher.lag_bytes, 50), "p99": pct(watcher.lag_bytes, 99)},
               "never_replayed": len(watcher.pending)}

        with_token, without_token = [], []
        stale = {"without_token": 0, "with_token": 0, "reads": 0}
        before = routed(base)

        def write_then_read(i: int, deadline: float) -> None:
            j = 0
            while time.monotonic() < deadline:
                parcel = shares[i][j % len(shares[i])]
                j += 1
                status, token = register(base, key, parcel)
                if status != 201 or not token:
                    continue
                t0 = time.perf_counter()
                _, _, plain = call("GET", f"{base}/api/v1/parcels/{parcel['code']}")
                t1 = time.perf_counter()
                _, _, fresh = call("GET", f"{base}/api/v1/parcels/{parcel['code']}", headers={"Consistency-Token": token})
                t2 = time.perf_counter()
                without_token.append((t1 - t0) * 1000)
                with_token.append((t2 - t1) * 1000)
                stale["reads"] += 1
                stale["without_token"] += plain["properties"]["version"] < parcel["version"]
                stale["with_token"] += fresh["properties"]["version"] < parcel["version"]

        run_clients(args.clients, args.seconds, write_then_read)
        after = routed(base)
        moved = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        waited = moved.pop("sum", 0.0), moved.pop("count", 0.0)
        token = {"reads": stale["reads"],
                 "read_without_token_ms": {"p50": pct(without_token, 50), "p99": pct(without_token, 99)},
                 "read_with_token_ms": {"p50": pct(with_token, 50), "p99": pct(with_token, 99)},
                 "token_check_mean_ms": round(waited[0] / waited[1] * 1000, 3) if waited[1] else None,
                 "stale_without_token": stale["without_token"], "stale_with_token": stale["with_token"],
                 "routed": moved}
        load = os.getloadavg()
        result = {"command": " ".join([".venv/bin/python", "bench/bench_replica.py", *sys.argv[1:]]),
                  "clients": args.clients, "seconds": args.seconds, "workers": args.workers,
                  "wait_ms": args.wait_ms, "loadavg": [round(x, 2) for x in load], "lag": lag, "token": token}
        if ERRORS:
            result["first_errors"] = ERRORS
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        if server is not None:
            stop_server(server)
        replica.stop()
        primary.stop()


if __name__ == "__main__":
    main()
