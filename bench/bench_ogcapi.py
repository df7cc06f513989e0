"""Benchmark of OGC API – Features `/items` beside raw PostGIS, pygeoapi and QGIS Server's OGC API, in CRS84.

In one run, at the same concurrency, over the same 200 000-parcel register, for each case —
  bbox1000  `/collections/parcels/items?bbox=…&limit=1000`: a box holding ≥ 1 000 parcels (CRS84),
            a full page of 1 000 GeoJSON features
  cql       the same boxes with `filter=land_use = 'ODT' AND legal_area_m2 > 200` (CQL2 text): of the
            ≥ 1 000 parcels in a box a few dozen match (only 2 842 of the 200 000 parcels do; urban
            lots are small), so PostGIS tests ~1 300 parcels and renders a few dozen
  one       a 3 m box inside one parcel: one feature
  item      `/collections/parcels/items/{id}`: one feature by id
— it measures:
  raw       PostGIS itself: bench_flat's flat WGS 84 table (one row per current parcel, its public
            attributes, a GiST index — what a GIS administrator publishes) and its GeoJSON statement,
            every feature rendered by PostGIS as landdb renders it, prepared once per connection and
            fetched whole through psycopg2 from N processes (bench_rest.run_raw);
  landdb    `/ogc/…` under `landdb serve`'s server and command line, over its own tables;
  pygeoapi  pygeoapi (from PyPI, in a virtualenv of its own outside the repository, --pygeoapi-venv)
            with its PostgreSQL provider over the flat table, under gunicorn (gthread, as many
            workers as the FastCGI servers get processes, the same threads);
  qgis      QGIS Server 3.22's OGC API – Features (`/wfs3/…`), set up as bench_qgis_server.py sets it
            up (FastCGI behind lighttpd, the WFS layer's SQL over the register in EPSG:5899, which
            QGIS reprojects to CRS84). QGIS Server 3.22 has no CQL2 filter: no cql cell.
HTTP cells are driven by wrk. Case by case, the sides are measured one after the other (never two
under load at once) in --repeat rounds, and each side's best round is kept: the shared machine's
load moves, and neighbouring cells see the same.

Before measuring it checks, for a few inputs of every case, that every server returns landdb's
parcels (a full page: as many; QGIS Server, which tests a bbox against bounding boxes: at least those).
The inputs are bench_flat's: boxes around the 1 000 parcels nearest a random ward parcel, 3 m
boxes inside one parcel.

Usage (Debian packages: `scripts/install-system.sh qgis-server qgis` and wrk; a database of its own
loaded from the 200 000-parcel sample and migrated to head; pygeoapi in a virtualenv):

    python3 -m venv /tmp/pygeoapi-venv
    /tmp/pygeoapi-venv/bin/pip install pygeoapi psycopg2-binary gunicorn    # 0.21.0 was measured
    createdb -h 127.0.0.1 -p 54361 -U landdb landdb_bench_ogc
    DATABASE_URL=postgresql://landdb@127.0.0.1:54361/landdb_bench_ogc .venv/bin/landdb db upgrade
    DATABASE_URL=postgresql://landdb@127.0.0.1:54361/landdb_bench_ogc .venv/bin/landdb sample load /work/cache/halong_200000.gpkg
    DATABASE_URL=postgresql://landdb@127.0.0.1:54361/landdb_bench_ogc \\
        .venv/bin/python bench/bench_ogcapi.py --pygeoapi-venv /tmp/pygeoapi-venv

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fastcgi_procs, resolve_server, server_args, server_label, start_server  # noqa: E402
from harness import stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench_flat import CAP, FLAT_SQL, RAW_SQL, TABLE, pick_boxes  # noqa: E402
from bench_qgis_server import QgisServer  # noqa: E402
from bench_rest import run_raw, run_wrk  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

CASES = ("bbox1000", "cql", "one", "item")
SIDES = ("raw", "landdb", "pygeoapi", "qgis")
CQL = "land_use = 'ODT' AND legal_area_m2 > 200"
#: raw PostGIS on bench_flat's flat table: its GeoJSON statement (every feature rendered by PostGIS
#: as landdb renders it), with the CQL2 case's conditions, and by id.
RAW_BOX = RAW_SQL["geojson"]
RAW_CQL = RAW_BOX.replace(" ORDER BY t.id", " AND t.land_use = %(lu)s AND t.legal_area_m2 > %(area)s ORDER BY t.id")
RAW_ITEM = RAW_BOX.split(" FROM ")[0] + f" FROM {TABLE} t WHERE t.id = %(id)s"
assert RAW_CQL != RAW_BOX


def pick_inputs(engine, n: int, seed: int) -> dict[str, list]:
    """bench_flat's boxes (≥ CAP parcels; 3 m inside one parcel) and n random parcel ids."""
    inputs = pick_boxes(engine, n, seed)
    with engine.connect() as conn:
        ids = conn.execute(text(f"SELECT id FROM {TABLE} ORDER BY id")).scalars().all()
    inputs["ids"] = random.Random(seed).sample(ids, n)
    return inputs


def requests(inputs) -> dict[str, dict[str, list]]:
    """Per case and side, the URL paths (HTTP sides) or the statements (raw); index i is one input."""
    def bb(b):
        return ",".join(map(str, b))

    items = "/collections/parcels/items"
    boxes, ids = inputs, inputs["ids"]
    out: dict[str, dict[str, list]] = {}
    for case, key in (("bbox1000", "big"), ("one", "one")):
        bs = boxes[key]
        out[case] = {
            "raw": [[(RAW_BOX, dict(zip(("x0", "y0", "x1", "y1"), b)))] for b in bs],
            "landdb": [f"/ogc{items}?" + urlencode({"bbox": bb(b), "limit": CAP}) for b in bs],
            "pygeoapi": [f"{items}?" + urlencode({"f": "json", "bbox": bb(b), "limit": CAP}) for b in bs],
            "qgis": [f"/wfs3{items}.geojson?" + urlencode({"bbox": bb(b), "limit": CAP}) for b in bs],
        }
    bs = boxes["big"]
    out["cql"] = {
        "raw": [[(RAW_CQL, {**dict(zip(("x0", "y0", "x1", "y1"), b)), "lu": "ODT", "area": 200})] for b in bs],
        "landdb": [f"/ogc{items}?" + urlencode({"bbox": bb(b), "limit": CAP, "filter": CQL}) for b in bs],
        # pygeoapi 0.21 reads CQL2 text by default and refuses `filter-lang=cql2-text` (it knows `cql-text`).
        "pygeoapi": [f"{items}?" + urlencode({"f": "json", "bbox": bb(b), "limit": CAP, "filter": CQL})
                     for b in bs],
    }
    out["item"] = {
        "raw": [[(RAW_ITEM, {"id": i})] for i in ids],
        "landdb": [f"/ogc{items}/parcels.{i}" for i in ids],
        "pygeoapi": [f"{items}/{i}?f=json" for i in ids],
        "qgis": [f"/wfs3{items}/{i}.geojson" for i in ids],
    }
    return out


# --- pygeoapi ------------------------------------------------------------------------------------------


class Pygeoapi:
    """pygeoapi under gunicorn (gthread, the workers and threads landdb gets) on 127.0.0.1:`port`,
    configured in `tmp` with its PostgreSQL provider over the flat table."""

    def __init__(self, venv: Path, database_url: str, port: int, workers: int, threads: int, tmp: Path):
        self.venv, self.port, self.workers, self.threads, self.tmp = venv, port, workers, threads, tmp
        self.url = make_url(database_url)
        self.proc: subprocess.Popen | None = None

    def configure(self, extent) -> None:
        u = self.url
        data = {"host": u.host or "127.0.0.1", "port": u.port or 5432, "dbname": u.database, "user": u.username}
        if u.password:
            data["password"] = u.password
        config = {
            "server": {"bind": {"host": "127.0.0.1", "port": self.port}, "url": f"http://127.0.0.1:{self.port}",
                       "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "language": "en-US",
                       "limits": {"default_items": 100, "max_items": 10000},
                       "map": {"url": "http://127.0.0.1/none/{z}/{x}/{y}.png", "attribution": "none"}},
            "logging": {"level": "ERROR"},
            "metadata": {"identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                                            "keywords_type": "theme", "terms_of_service": "none",
                                            "url": "http://127.0.0.1"},
                         "license": {"name": "none", "url": "http://127.0.0.1"},
                         "provider": {"name": "bench", "url": "http://127.0.0.1"},
                         "contact": {"name": "bench", "url": "http://127.0.0.1", "email": "bench@127.0.0.1"}},
            "resources": {"parcels": {
                "type": "collection", "title": "parcels", "description": "parcels", "keywords": ["parcels"],
                "extents": {"spatial": {"bbox": list(extent), "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "providers": [{"type": "feature", "name": "PostgreSQL", "data": data, "id_field": "id",
                               "table": TABLE, "geom_field": "geom"}]}},
        }
        import yaml

        (self.tmp / "pygeoapi.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        out = subprocess.run([str(self.venv / "bin" / "pygeoapi"), "openapi", "generate",
                              str(self.tmp / "pygeoapi.yml"), "--output-file", str(self.tmp / "openapi.yml")],
                             env=self.environment(), capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"pygeoapi openapi generate failed:\n{out.stderr[-2000:]}")

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYGEOAPI_CONFIG": str(self.tmp / "pygeoapi.yml"),
                "PYGEOAPI_OPENAPI": str(self.tmp / "openapi.yml"), "PYTHONPATH": ""}

    def start(self) -> None:
        log = open(self.tmp / "pygeoapi.log", "wb")
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--worker-class", "gthread", "--threads", str(self.threads), "pygeoapi.flask_app:APP"],
            env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.tmp)
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/?f=json", timeout=2).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("pygeoapi did not come up: " + (self.tmp / "pygeoapi.log").read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None:
            stop_server(self.proc)
            self.proc = None


# --- checks --------------------------------------------------------------------------------------------


def fetch_json(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=120) as resp:
        return json.loads(resp.read())


def feature_codes(body: dict) -> list[str]:
    """The parcel codes of an answer (QGIS Server 3.22 leaves the ids of a page empty)."""
    feats = body.get("features", [body] if body.get("type") == "Feature" else [])
    return sorted(str(f["properties"]["parcel_code"]) for f in feats)


def check(bases: dict[str, str], reqs: dict, per_case: int) -> dict:
    """Abort unless every server returns landdb's features for the first `per_case` inputs (QGIS
    Server: at least those); the counts seen, and how many more QGIS Server returned."""
    seen: dict[str, list[int]] = {}
    extra: dict[str, int] = {}
    for case, sides in reqs.items():
        seen[case] = []
        for i in range(per_case):
            want = feature_codes(fetch_json(bases["landdb"], sides["landdb"][i]))
            if not want:
                raise SystemExit(f"{case}: landdb returns nothing for {sides['landdb'][i]}; the inputs are wrong")
            for side in ("pygeoapi", "qgis"):
                if side in sides and side in bases:
                    got = feature_codes(fetch_json(bases[side], sides[side][i]))
                    # A capped page holds the first CAP features in each server's own order. QGIS
                    # Server 3.22 tests a bbox against features' bounding boxes only: it may add a few.
                    if len(want) >= CAP:
                        wrong = len(got) != len(want)
                    elif side == "qgis":
                        wrong = not set(want) <= set(got)
                        if not wrong and len(got) > len(want):
                            extra[case] = max(extra.get(case, 0), len(got) - len(want))
                    else:
                        wrong = got != want
                    if wrong:
                        raise SystemExit(f"{case}: {side} returns {len(got)} features, landdb {len(want)} "
                                         f"(or other parcels), for\n  {bases[side]}{sides[side][i]}\n"
                                         f"  {bases['landdb']}{sides['landdb'][i]}")
            seen[case].append(len(want))
    return {"landdb": seen, "qgis_extra_bbox_features": extra}


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8770)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each HTTP cell; the best is kept")
    ap.add_argument("--inputs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--pygeoapi-venv", type=Path, default=Path("/tmp/pygeoapi-venv"))
    ap.add_argument("--pygeoapi-port", type=int, default=8771)
    ap.add_argument("--qgis-port", type=int, default=8772)
    ap.add_argument("--qgis-procs", type=int, default=None,
                    help="qgis_mapserv.fcgi processes (default: harness.fastcgi_procs, as bench_flat)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_ogcapi.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (a database of its own, not the shared dev one)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    sides = args.sides.split(",")
    url = normalize_url(args.database_url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(FLAT_SQL)
        conn.exec_driver_sql(f"ANALYZE {TABLE}")
    with engine.connect() as conn:
        n_parcels = conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
        extent = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                   f"(SELECT ST_Extent(geom) e FROM {TABLE}) s")).one()
    inputs = pick_inputs(engine, args.inputs, args.seed)
    engine.dispose()
    cases = args.cases.split(",")
    reqs = {c: r for c, r in requests(inputs).items() if c in cases}

    resolve_server(args)
    procs = fastcgi_procs()
    results: dict = {"parcels": n_parcels, "concurrency": args.concurrency, "duration_s": args.duration,
                     "server": args.server, "workers": args.workers, "threads": args.threads, "other_procs": procs,
                     "repeat": args.repeat, "cpus": os.cpu_count(),
                     "load_before": os.getloadavg(), "cases": {c: {} for c in cases}}
    bases = {"landdb": f"http://127.0.0.1:{args.port}", "pygeoapi": f"http://127.0.0.1:{args.pygeoapi_port}",
             "qgis": f"http://127.0.0.1:{args.qgis_port}"}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)

        def measure(case: str, side: str) -> dict:
            if side == "raw":
                return run_raw(dsn, reqs[case]["raw"], args.concurrency, args.duration)
            return run_wrk(bases[side], reqs[case][side], args.concurrency, args.duration, tmp)

        landdb = start_server(url, args.port, args.workers, args.threads, server=args.server,
                              env={"LANDDB_POOL_SIZE": str(args.threads)})
        others = {}
        try:
            if "pygeoapi" in sides:
                (tmp / "pygeoapi").mkdir()
                others["pygeoapi"] = Pygeoapi(args.pygeoapi_venv, url, args.pygeoapi_port, procs, args.threads,
                                              tmp / "pygeoapi")
                others["pygeoapi"].configure(extent)
            if "qgis" in sides:
                (tmp / "qgis").mkdir()
                others["qgis"] = QgisServer(url, args.qgis_port, args.qgis_procs or procs, tmp / "qgis")
            for o in others.values():
                o.start()
            results["features"] = check({k: v for k, v in bases.items() if k == "landdb" or k in others}, reqs, 3)
            # one server under load at a time: the others are idle (stopped would lose their caches).
            # The machine is shared and its load moves: each case's sides are measured one after
            # the other (one server under load at a time), in rounds, keeping each side's best.
            for case in cases:
                runs: dict[str, list[dict]] = {}
                for _ in range(max(1, args.repeat)):
                    for side in sides:
                        if side in reqs[case] and (side in ("raw", "landdb") or side in others):
                            runs.setdefault(side, []).append(measure(case, side))
                for side, rs in runs.items():
                    best = max(rs, key=lambda r: r["rps"])
                    results["cases"][case][side] = {**best, "runs": [round(r["rps"], 1) for r in rs]}
                    print(f"{case} {side}: {json.dumps(results['cases'][case][side])}", file=sys.stderr)
        finally:
            for o in others.values():
                o.stop()
            stop_server(landdb)
    results["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    lines = [
        f"{results['parcels']:,} current parcels; {results['concurrency']} concurrent clients; "
        f"{results['duration_s']:g} s per cell, best of {results['repeat']} rounds per cell; landdb: {server_label(results)} "
        f"(`landdb serve`); pygeoapi: gunicorn {results['other_procs']} gthread workers × {results['threads']} threads; "
        f"QGIS Server: {results['other_procs']} FastCGI processes; "
        f"{results['cpus']} CPUs shared by servers, PostGIS and load generator; load average "
        f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after.",
        "",
        "| case | raw PostGIS req/s | landdb req/s (p50 / p99 ms) | landdb ÷ raw | pygeoapi req/s | landdb ÷ pygeoapi "
        "| QGIS Server req/s | landdb ÷ QGIS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, r in results["cases"].items():
        def rps(side):
            return r[side]["rps"] if side in r else None

        def ratio(a, b):
            return f"{rps(a) / rps(b):.2f}" if rps(a) and rps(b) else "–"

        app = r.get("landdb")
        app_cell = f"{app['rps']:.0f} ({app['p50_ms']:.1f} / {app['p99_ms']:.1f})" if app else "–"
        lines.append(
            f"| {case} | {rps('raw') or 0:.0f} | {app_cell} | {ratio('landdb', 'raw')} | {rps('pygeoapi') or 0:.0f} "
            f"| {ratio('landdb', 'pygeoapi')} | {('%.0f' % rps('qgis')) if rps('qgis') else '–'} "
            f"| {ratio('landdb', 'qgis')} |")
    runs = "; ".join(f"{case} {side} {r[side].get('runs')}" for case, r in results["cases"].items()
                     for side in SIDES if side in r)
    return "\n".join(lines + ["", f"Every round's req/s: {runs}."])


if __name__ == "__main__":
    main()
