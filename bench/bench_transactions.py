"""Benchmark of registering transfers: transactions/s and latency at N clients, each client
transferring parcels of its own (distinct parcels, so no 409s), measured three ways in one run:

  http    POST /api/v1/transactions through `landdb serve`'s server and command line, N client processes;
  core    `landdb.registry.register` called directly from N processes (no HTTP);
  raw     the same writes as hand-written SQL through psycopg2 from N processes, without the
          registry's validation and answer — the database's ceiling for this work.

Each transfer locks the parcel, closes its right, certificate and version, opens a new party,
right, certificate and version, and appends the hash-chained journal row (whose lock serialises
the chain: that is the ceiling all three share).

It runs on a database of its own, created (or re-created) on the server given by --server (the
dev server by default), migrated and seeded with parcels; it never touches other databases:

    .venv/bin/python bench/bench_transactions.py --clients 8 --per-client 100

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import start_server as start_app  # noqa: E402
from harness import stop_server  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

SHEET = 900
MODES = ("http", "core", "raw")
SERIES = {"http": "BH", "core": "BC", "raw": "BR"}


def _server_url() -> str:
    path = ROOT / ".landdb" / "database_url"
    return path.read_text().strip() if path.exists() else "postgresql://landdb@127.0.0.1:54329/landdb"


def make_database(server: str, name: str) -> str:
    from landdb import migrate
    from landdb.db import normalize_url
    from landdb.reference import sync_reference_data

    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(normalize_url(server)).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        sync_reference_data(s)
    engine.dispose()
    return url


def seed(url: str, n: int) -> None:
    """n parcels (10 m squares on a grid) with one holder and a certificate each, in one import."""
    engine = create_engine(url)
    with engine.begin() as c:
        ward = c.execute(text("SELECT id FROM admin_units WHERE code = '06691' AND valid_to = '2025-07-01'")).scalar_one()
        tx = c.execute(text("INSERT INTO transactions (kind, effective_date, payload) "
                            "VALUES ('import', '2024-01-02', '{\"source\": \"bench seed\"}') RETURNING id")).scalar_one()
        c.execute(text("INSERT INTO parcels (ward_id, ward_code, sheet_no, parcel_no, registered_on) "
                       "SELECT :w, '06691', :s, g, '2024-01-02' FROM generate_series(1, :n) g"),
                  {"w": ward, "s": SHEET, "n": n})
        c.execute(text("""
            INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, address, geom, opened_by_tx)
            SELECT id, 1, '2024-01-02', 'ODT', 100, 'Bench', ST_Multi(ST_MakeEnvelope(
                   430000 + ((parcel_no - 1) % 100) * 12, 2320000 + ((parcel_no - 1) / 100) * 12,
                   430010 + ((parcel_no - 1) % 100) * 12, 2320010 + ((parcel_no - 1) / 100) * 12, 5899)), :tx
              FROM parcels"""), {"tx": tx})
        c.execute(text("INSERT INTO parties (kind, full_name, id_kind, id_number) "
                       "SELECT 'individual', 'Người Bench ' || g, 'cccd', lpad(g::text, 12, '0') "
                       "FROM generate_series(1, :n) g"), {"n": n})
        c.execute(text("INSERT INTO certificates (serial, issued_on, opened_by_tx) "
                       "SELECT 'BE ' || lpad(g::text, 6, '0'), '2024-01-02', :tx FROM generate_series(1, :n) g"),
                  {"n": n, "tx": tx})
        c.execute(text("""
            INSERT INTO rights (parcel_id, party_id, kind, share, certificate_id, valid_from, opened_by_tx)
            SELECT p.id, q.id, 'land_use_right', 1, c.id, '2024-01-02', :tx
              FROM parcels p JOIN parties q ON q.id_number = lpad(p.parcel_no::text, 12, '0')
              JOIN certificates c ON c.serial = 'BE ' || lpad(p.parcel_no::text, 6, '0')"""), {"tx": tx})
        c.execute(text("ANALYZE"))
    engine.dispose()


def _jobs(mode: str, client: int, per_client: int, clients: int) -> list[dict]:
    """This client's transfers: parcels of its own, the holder by ID number, a new buyer."""
    base = (MODES.index(mode) * clients + client) * per_client
    out = []
    for k in range(per_client):
        n = base + k + 1
        out.append({"kind": "transfer", "parcel": f"06691-{SHEET}-{n}", "expected_version": 1,
                    "effective_date": "2024-06-01", "dossier_no": f"BENCH-{mode}-{n}",
                    "transferors": [{"id_number": f"{n:012d}"}],
                    "transferees": [{"kind": "individual", "full_name": f"Người Mua {n}", "id_number": f"9{n:011d}"}],
                    "certificate": {"serial": f"{SERIES[mode]} {n:06d}"}})
    return out


# --- the three ways ---------------------------------------------------------------------------


def _run_http(jobs: list[dict], base_url: str, key: str) -> list[float]:
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port)  # one kept-alive connection per client
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    lat = []
    for body in jobs:
        t = time.perf_counter()
        conn.request("POST", "/api/v1/transactions", body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201, resp.status
        lat.append(time.perf_counter() - t)
    conn.close()
    return lat


def _run_core(jobs: list[dict], url: str) -> list[float]:
    from landdb import registry

    engine = create_engine(url, pool_size=1)
    lat = []
    for body in jobs:
        t = time.perf_counter()
        with Session(engine) as s, s.begin():
            registry.register(s, body, actor="bench")
        lat.append(time.perf_counter() - t)
    engine.dispose()
    return lat


RAW = [
    "SELECT id FROM parcels WHERE parcel_code = %(code)s AND retired_on IS NULL FOR UPDATE",
    "SELECT nextval(pg_get_serial_sequence('transactions', 'id'))",
]


def _run_raw(jobs: list[dict], url: str) -> list[float]:
    import psycopg2

    u = make_url(url)
    conn = psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database)
    cur = conn.cursor()
    lat = []
    for body in jobs:
        t = time.perf_counter()
        d = body["effective_date"]
        cur.execute(RAW[0], {"code": body["parcel"]})
        pid = cur.fetchone()[0]
        cur.execute("SELECT id, version FROM parcel_versions WHERE parcel_id = %s AND valid_to IS NULL", (pid,))
        vid, version = cur.fetchone()
        cur.execute("SELECT id, certificate_id FROM rights WHERE parcel_id = %s AND valid_to IS NULL", (pid,))
        rights = cur.fetchall()
        cur.execute(RAW[1])
        tx = cur.fetchone()[0]
        buyer = body["transferees"][0]
        cur.execute("INSERT INTO parties (kind, full_name, id_kind, id_number) VALUES ('individual', %s, 'cccd', %s) "
                    "RETURNING id", (buyer["full_name"], buyer["id_number"]))
        party = cur.fetchone()[0]
        cur.execute("UPDATE rights SET valid_to = %s, closed_by_tx = %s WHERE id = ANY(%s)", (d, tx, [r[0] for r in rights]))
        cur.execute("UPDATE certificates SET cancelled_on = %s, closed_by_tx = %s WHERE id = ANY(%s)",
                    (d, tx, [r[1] for r in rights]))
        cur.execute("INSERT INTO certificates (serial, issued_on, opened_by_tx) VALUES (%s, %s, %s) RETURNING id",
                    (body["certificate"]["serial"], d, tx))
        cert = cur.fetchone()[0]
        cur.execute("INSERT INTO rights (parcel_id, party_id, kind, share, certificate_id, valid_from, opened_by_tx) "
                    "VALUES (%s, %s, 'land_use_right', 1, %s, %s, %s)", (pid, party, cert, d, tx))
        cur.execute("UPDATE parcel_versions SET valid_to = %s, closed_by_tx = %s WHERE id = %s", (d, tx, vid))
        cur.execute("INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, address, geom, "
                    "opened_by_tx) SELECT parcel_id, version + 1, %s, land_use, legal_area_m2, address, geom, %s "
                    "FROM parcel_versions WHERE id = %s", (d, tx, vid))
        cur.execute("INSERT INTO transaction_parcels (transaction_id, parcel_id, role) VALUES (%s, %s, 'subject')", (tx, pid))
        cur.execute("INSERT INTO transactions (id, kind, effective_date, dossier_no, actor, payload) "
                    "VALUES (%s, 'transfer', %s, %s, 'bench', %s)", (tx, d, body["dossier_no"], json.dumps(body)))
        conn.commit()
        lat.append(time.perf_counter() - t)
    conn.close()
    return lat


def _worker(args):
    mode, client, per_client, clients, url, base_url, key, start = args
    jobs = _jobs(mode, client, per_client, clients)
    while time.time() < start:
        time.sleep(0.001)
    if mode == "http":
        return _run_http(jobs, base_url, key)
    if mode == "core":
        return _run_core(jobs, url)
    return _run_raw(jobs, url)


def measure(mode: str, clients: int, per_client: int, url: str, base_url: str = "", key: str = "") -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(clients) as pool:
        start = time.time() + 3.0  # every client starts at once, after the processes are up
        results = pool.map(_worker, [(mode, c, per_client, clients, url, base_url, key, start)
                                     for c in range(clients)])
        wall = time.time() - start
    lat = sorted(x for r in results for x in r)
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {"mode": mode, "clients": clients, "transfers": len(lat), "tx_per_s": round(len(lat) / wall, 1),
            "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1), "max_ms": round(lat[-1] * 1000, 1),
            "wall_s": round(wall, 1)}


def start_server(url: str, port: int, workers: int | None, server: str | None) -> tuple[subprocess.Popen, str, str]:
    """The app under `landdb serve`'s server (harness.start_server) and an officer's API key."""
    from landdb import auth

    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        key, _ = auth.create_key(s, "bench officer", "officer")
    engine.dispose()
    proc = start_app(url, port, workers, 4, env={"LANDDB_POOL_SIZE": "4", "LANDDB_MAX_OVERFLOW": "4"}, server=server)
    return proc, f"http://127.0.0.1:{port}", key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default=_server_url(), help="PostgreSQL server URL (its database part is ignored)")
    ap.add_argument("--database", default="landdb_bench_tx", help="the bench's own database (re-created)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=100)
    ap.add_argument("--http-server", default=None, help="the app's HTTP server (default: as `landdb serve`)")
    ap.add_argument("--workers", type=int, default=None, help="its workers for the http mode (default: as `landdb serve`)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_transactions.json"))
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    url = make_database(a.server, a.database)
    seed(url, len(MODES) * a.clients * a.per_client)
    rows = []
    for mode in modes:
        if mode == "http":
            proc, base, key = start_server(url, a.port, a.workers, a.http_server)
            try:
                rows.append(measure(mode, a.clients, a.per_client, url, base, key))
            finally:
                stop_server(proc)
        else:
            rows.append(measure(mode, a.clients, a.per_client, url))
        print(rows[-1], flush=True)
    from landdb import journal

    engine = create_engine(url)
    with Session(engine) as s:
        check = journal.verify(s)
    engine.dispose()
    raw = next((r for r in rows if r["mode"] == "raw"), None)
    print(f"\n{a.clients} clients, {a.per_client} transfers each, distinct parcels; journal: {check.message()}\n")
    print("| path | transfers | tx/s | p50 ms | p99 ms | tx/s vs raw SQL |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{r['tx_per_s'] / raw['tx_per_s']:.2f}" if raw else "–"
        print(f"| {r['mode']} | {r['transfers']} | {r['tx_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {ratio} |")
    Path(a.out).write_text(json.dumps({"rows": rows, "journal_ok": check.ok, "clients": a.clients,
                                       "per_client": a.per_client}, indent=2))


if __name__ == "__main__":
    main()
