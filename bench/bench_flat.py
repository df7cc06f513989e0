"""Side-by-side benchmark in WGS 84: landdb against a flat table served by MapServer 8, QGIS Server 3.22 and raw PostGIS.

The comparison of issue 10. A GIS administrator publishing the parcels would make one flat table
in WGS 84 — one row per current parcel, its public attributes, a GiST index — and put MapServer or
QGIS Server over it. This script makes that table (`bench_flat_parcels`, re-created on every run,
from the same database's register) and, in one run, serves the same random urban-core boxes
(centred on parcels of wards, not communes) answered in WGS 84 from:
  raw       PostGIS itself: the flat table's statement (bbox test, ORDER BY id, LIMIT, every feature
            rendered by PostGIS as landdb renders it, with the same attributes and 8 decimals),
            prepared once per connection and fetched whole through psycopg2 from N processes
            (bench_rest.run_raw);
  landdb    the app under `landdb serve`'s server and command line, over its own tables;
  mapserver MapServer 8 (FastCGI, spawn-fcgi + lighttpd, bench_mapserver.MapServer) over the flat table;
  qgis      QGIS Server 3.22 (the same, bench_qgis_server.QgisServer) over the flat table.
Rows:
  json1000  WFS GetFeature, a box of ≥ 1 000 parcels, count=1000, srsName=urn:ogc:def:crs:EPSG::4326,
            GeoJSON (QGIS Server: WFS 1.1.0, maxFeatures=1000)
  gml1000   the same as GML 3.2 (QGIS Server 3.22 speaks WFS ≤ 1.1: GML 3.1.1); raw: GML 3.2 members
  json1     WFS GetFeature of a 3 m box inside one parcel, GeoJSON
  gml1      the same, GML
  rest1000  landdb's REST `GET /api/v1/parcels?bbox=…&limit=1000` on the json1000 boxes (raw: json1000's)
  rest1     the same on the json1 boxes
The WFS bbox is the urn form of EPSG:4326 (latitude first); the REST bbox is lon/lat.

Before measuring it checks, for a few inputs of every row, that every server returns the same number
of features (1 000 for the big boxes, 1 for the small), and that landdb's and MapServer's EPSG:4326
vertices of a parcel agree within 0.5 m. Then each row is driven by wrk at the same concurrency,
server after server (never two under load at once), in --repeat rounds over every row and side (so
that a drift of the machine's background load is spread over all cells); each cell keeps its best
round (harness.best_of says why the best).

Usage (Debian packages: `scripts/install-system.sh mapserver qgis-server qgis`, and wrk; a database of
its own loaded from the 200 000-parcel sample and migrated to head):

    createdb -h 127.0.0.1 -p 54341 -U landdb landdb_flat
    DATABASE_URL=postgresql://landdb@127.0.0.1:54341/landdb_flat .venv/bin/landdb db upgrade
    DATABASE_URL=postgresql://landdb@127.0.0.1:54341/landdb_flat .venv/bin/landdb sample load /work/cache/halong_200000.gpkg
    DATABASE_URL=postgresql://landdb@127.0.0.1:54341/landdb_flat .venv/bin/python bench/bench_flat.py

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from string import Template
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import body_size, fastcgi_procs, resolve_server, server_args, server_label  # noqa: E402
from harness import start_server, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench_mapserver import MAPSERV, TEMPLATES, URN_4326, MapServer, _metres, _ring, fetch, proj_data_dir  # noqa: E402,E501
from bench_qgis_server import GML3, QGIS_FCGI, QgisServer  # noqa: E402
from bench_qgis_server import n_features  # noqa: E402
from bench_rest import run_raw, run_wrk  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

TABLE = "bench_flat_parcels"
ROWS = ("json1000", "gml1000", "json1", "gml1", "rest1000", "rest1")
SIDES = ("raw", "landdb", "mapserver", "qgis")
CAP = 1000
#: half the side of the small boxes, in metres
HALF_SIDE_M = 1.5

FLAT_SQL = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} AS
SELECT p.id, p.parcel_code, p.ward_code, w.name AS ward_name, p.sheet_no, p.parcel_no, p.national_id,
       v.land_use, lu.name_vi AS land_use_name, v.legal_area_m2, round(ST_Area(v.geom)::numeric, 1) AS area_m2,
       v.address, v.valid_from, ST_Transform(v.geom, 4326)::geometry(MultiPolygon, 4326) AS geom
  FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
  JOIN land_use_codes lu ON lu.code = v.land_use JOIN admin_units w ON w.id = p.ward_id
 WHERE p.retired_on IS NULL;
ALTER TABLE {TABLE} ADD PRIMARY KEY (id);
CREATE INDEX ix_{TABLE}_geom ON {TABLE} USING gist (geom);
"""
PROPS = ("parcel_code", "ward_code", "ward_name", "sheet_no", "parcel_no", "national_id", "land_use",
         "land_use_name", "legal_area_m2", "area_m2", "address", "valid_from")
_WHERE = (f"FROM {TABLE} t WHERE t.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326) "
          "AND ST_Intersects(t.geom, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)) ORDER BY t.id LIMIT 1000")
#: The flat table's statements, one rendered feature per row, as landdb renders them (8 decimals in degrees).
RAW_SQL = {
    "geojson": ("""SELECT '{"type":"Feature","id":"parcels.' || t.id || '","geometry":' || ST_AsGeoJSON(t.geom, 8) """
                """|| ',"properties":' || json_build_object(""" + ", ".join(f"'{p}', t.{p}" for p in PROPS)
                + ")::text || '}' " + _WHERE),
    "gml32": ("""SELECT '<wfs:member><landdb:parcels gml:id="parcels.' || t.id || '">' || xmlforest("""
              + ", ".join(f't.{p} AS "landdb:{p}"' for p in PROPS) + """)::text || '<landdb:geom><gml:MultiSurface """
              """gml:id="parcels.' || t.id || '.g" srsName="urn:ogc:def:crs:EPSG::4326">' || (SELECT string_agg("""
              """'<gml:surfaceMember>' || ST_AsGML(3, d.geom, 8, 0, 'gml', 'parcels.' || t.id || '.g.' || d.path[1]) """
              """|| '</gml:surfaceMember>', '' ORDER BY d.path[1]) FROM ST_Dump(ST_FlipCoordinates(t.geom)) d) """
              """|| '</gml:MultiSurface></landdb:geom></landdb:parcels></wfs:member>' """ + _WHERE),
}


# --- inputs ------------------------------------------------------------------------------------------


def pick_boxes(engine, n: int, seed: int, big: int | None = None) -> dict[str, list[tuple[float, ...]]]:
    """Lon/lat boxes: `big` (default n // 10) around the CAP parcels nearest a random ward parcel
    (so ≥ CAP parcels intersect), and n boxes of 2 × HALF_SIDE_M metres inside one parcel each."""
    big = max(5, n // 10) if big is None else big
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000.0})
        rows = conn.execute(text("""
            SELECT v.geom, ST_X(c) AS lon, ST_Y(c) AS lat, ST_PointOnSurface(v.geom) AS pt
              FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
              JOIN admin_units a ON a.id = p.ward_id AND a.level = 'ward',
                   LATERAL (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) AS c) s
             WHERE p.retired_on IS NULL ORDER BY random() LIMIT :n"""), {"n": 2 * n}).all()
        one = []
        for r in rows:
            dx = HALF_SIDE_M / (111_320 * math.cos(math.radians(r.lat)))
            dy = HALF_SIDE_M / 110_574
            box = (round(r.lon - dx, 8), round(r.lat - dy, 8), round(r.lon + dx, 8), round(r.lat + dy, 8))
            inside = conn.execute(text(
                "SELECT ST_CoveredBy(ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), 5899), :g)"),
                dict(zip(("x0", "y0", "x1", "y1"), box), g=r.geom)).scalar_one()
            if inside:
                one.append(box)
            if len(one) == n:
                break
        boxes = []
        for r in rows[:big]:
            box = conn.execute(text(f"""
                WITH k AS (SELECT geom FROM {TABLE} ORDER BY geom <-> ST_Transform(CAST(:pt AS geometry), 4326)
                            LIMIT :cap)
                SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM k) s"""),
                {"pt": r.pt, "cap": CAP}).one()
            boxes.append((math.floor(box[0] * 1e7) / 1e7, math.floor(box[1] * 1e7) / 1e7,
                          math.ceil(box[2] * 1e7) / 1e7, math.ceil(box[3] * 1e7) / 1e7))
    return {"big": boxes, "one": one}


def wfs_params(box, fmt: str, version: str = "2.0.0") -> dict[str, str]:
    """GetFeature of a lon/lat box in EPSG:4326 (urn: latitude first), CAP features at most."""
    lon0, lat0, lon1, lat1 = box
    p = {"service": "WFS", "version": version, "request": "GetFeature",
         "bbox": f"{lat0},{lon0},{lat1},{lon1},{URN_4326}", "srsName": URN_4326}
    if version == "2.0.0":
        p.update(typeNames="landdb:parcels", count=str(CAP))
        if fmt == "geojson":
            p["outputFormat"] = "application/json"
    else:  # QGIS Server 3.22: WFS 1.1.0
        p.update(typeName="parcels", maxFeatures=str(CAP),
                 outputFormat="application/json" if fmt == "geojson" else GML3)
    return p


def requests(boxes) -> dict[str, dict[str, list]]:
    """Per row and side, the URL paths (HTTP sides) or the statements (raw)."""
    out: dict[str, dict[str, list]] = {}
    for size, key in (("1000", "big"), ("1", "one")):
        bs = boxes[key]
        for fmt, row in (("geojson", f"json{size}"), ("gml32", f"gml{size}")):
            wfs = ["/wfs?" + urlencode(wfs_params(b, fmt)) for b in bs]
            out[row] = {"raw": [[(RAW_SQL[fmt], dict(zip(("x0", "y0", "x1", "y1"), b)))] for b in bs],
                        "landdb": wfs, "mapserver": wfs,
                        "qgis": ["/wfs?" + urlencode(wfs_params(b, fmt, "1.1.0")) for b in bs]}
        out[f"rest{size}"] = {"raw": out[f"json{size}"]["raw"],
                              "landdb": [f"/api/v1/parcels?bbox={a},{b},{c},{d}&limit={CAP}" for a, b, c, d in bs]}
    return out


# --- the other servers over the flat table ----------------------------------------------------------


class FlatMapServer(MapServer):
    """MapServer over the flat WGS 84 table (bench/mapserver/flat_parcels.map.in)."""

    def configure(self) -> None:
        subst = {"extent": self.extent, "onlineresource": f"http://127.0.0.1:{self.port}/wfs?",
                 "connection": self.connection, "mapfile": str(self.tmp / "flat_parcels.map"),
                 "errorfile": str(self.tmp / self.log_name), "projlib": str(proj_data_dir()), "table": TABLE,
                 "port": self.port, "tmp": str(self.tmp), "socket": str(self.tmp / "mapserv.sock")}
        for name, out in (("flat_parcels.map", "flat_parcels.map"), ("mapserver.conf", "mapserver.conf"),
                          ("lighttpd.conf", "lighttpd.conf")):
            tpl = Template((TEMPLATES / f"{name}.in").read_text())
            (self.tmp / out).write_text(tpl.substitute(subst))


class FlatQgisServer(QgisServer):
    """QGIS Server over the flat WGS 84 table (bench/qgis_server/make_project.py with a table, EPSG:4326)."""

    def configure(self) -> None:
        self.write_project({"table": TABLE, "srid": 4326, "extent": [float(v) for v in self.extent.split()]})


# --- checks --------------------------------------------------------------------------------------------


def check_counts(bases: dict[str, str], reqs, per_row: int) -> dict[str, dict[str, list[int]]]:
    """Abort unless every HTTP side returns CAP features for the big boxes and 1 for the small."""
    seen: dict[str, dict[str, list[int]]] = {}
    for row, r in reqs.items():
        want = CAP if row.endswith("1000") else 1
        seen[row] = {}
        for side, base in bases.items():
            if side not in r:
                continue
            got = [n_features(fetch(base, path)) for path in r[side][:per_row]]
            seen[row][side] = got
            if any(g != want for g in got):
                raise SystemExit(f"{row}: {side} returned {got} features for the first {per_row} inputs, "
                                 f"not {want} each; e.g. {base}{r[side][0]}")
    return seen


def check_coordinates(bases: dict[str, str], boxes, n: int) -> float:
    """Largest distance (m) between landdb's EPSG:4326 vertices of a parcel and MapServer's."""
    worst = 0.0
    for box in boxes[:n]:
        path = "/wfs?" + urlencode(wfs_params(box, "geojson"))
        a, b = (json.loads(fetch(bases[s], path))["features"][0] for s in ("landdb", "mapserver"))
        ra, rb = _ring(a), _ring(b)
        if len(ra) != len(rb):
            raise SystemExit(f"coordinate check: rings of {len(ra)} and {len(rb)} vertices for {path}")
        worst = max(worst, *(_metres(p, q) for p, q in zip(ra, rb)))
    if worst > 0.5:
        raise SystemExit(f"landdb's and MapServer's EPSG:4326 vertices differ by up to {worst:.2f} m")
    return worst


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8790)
    ap.add_argument("--repeat", type=int, default=3, help="rounds over every cell; each cell keeps its best")
    ap.add_argument("--inputs", type=int, default=400, help="small boxes (big boxes: a tenth)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--check", type=int, default=3, help="inputs per row whose feature counts are compared")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--procs", type=int, default=None, help="FastCGI processes of MapServer and QGIS Server "
                                                            "(default: 2 × cores + 1)")
    ap.add_argument("--mapserver-port", type=int, default=8791)
    ap.add_argument("--qgis-port", type=int, default=8792)
    ap.add_argument("--keep-table", action="store_true", help="use the flat table as it is (no re-creation)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_flat.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (a database of its own holding the 200 000 parcels)")
    sides = args.sides.split(",")
    need = ["wrk"] + (["spawn-fcgi", "lighttpd"] if {"mapserver", "qgis"} & set(sides) else [])
    missing = [t for t in need if shutil.which(t) is None]
    missing += [f for s, f in (("mapserver", MAPSERV), ("qgis", QGIS_FCGI)) if s in sides and not os.path.exists(f)]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}: apt-get install wrk; "
                         "scripts/install-system.sh mapserver qgis-server qgis")
    resolve_server(args)
    procs = args.procs or fastcgi_procs()
    url = normalize_url(args.database_url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    engine = create_engine(url)
    with engine.begin() as conn:
        if not args.keep_table:
            conn.exec_driver_sql(FLAT_SQL)
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {TABLE}")
        n_flat = conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
        ext = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                                f"FROM (SELECT ST_Extent(geom) AS e FROM {TABLE}) s")).one()
    boxes = pick_boxes(engine, args.inputs, args.seed)
    engine.dispose()
    rows = args.rows.split(",")
    every = requests(boxes)
    reqs = {r: every[r] for r in ROWS if r in rows}
    ms_version = subprocess.run([MAPSERV, "-v"], capture_output=True, text=True).stdout.split(" OUTPUT=")[0]
    qgis_version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "qgis-server-bin"],
                                  capture_output=True, text=True).stdout.strip()
    git = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                         text=True).stdout.strip()
    results: dict = {"parcels": n_flat, "revision": revision, "commit": git, "concurrency": args.concurrency,
                     "duration_s": args.duration, "repeat": args.repeat, "server": args.server,
                     "workers": args.workers, "threads": args.threads, "fastcgi_procs": procs,
                     "mapserver": ms_version, "qgis_server": f"QGIS Server {qgis_version}", "cpus": os.cpu_count(),
                     "load_before": os.getloadavg(), "rows": {}}

    extent = " ".join(f"{v:.7f}" for v in ext)
    with tempfile.TemporaryDirectory(prefix="bench-flat-") as tmp:
        tmp = Path(tmp)
        others = {}
        if "mapserver" in sides:
            (tmp / "ms").mkdir()
            others["mapserver"] = FlatMapServer(url, args.mapserver_port, procs, tmp / "ms")
        if "qgis" in sides:
            (tmp / "qgis").mkdir()
            others["qgis"] = FlatQgisServer(url, args.qgis_port, procs, tmp / "qgis")
        bases = {"landdb": f"http://127.0.0.1:{args.port}"}
        bases.update({s: f"http://127.0.0.1:{o.port}" for s, o in others.items()})
        started, app = [], None
        try:
            for o in others.values():
                o.extent = extent
                o.start()
                started.append(o)
            app = start_server(url, args.port, args.workers, args.threads, server=args.server)
            http_sides = {s: b for s, b in bases.items() if s in sides}
            results["feature_counts"] = check_counts(http_sides, reqs, args.check)
            if "mapserver" in sides:
                results["max_vertex_distance_4326_m"] = round(check_coordinates(bases, boxes["one"], 3), 4)
            print(f"checked: {json.dumps(results['feature_counts'])}", file=sys.stderr)
            for row, r in reqs.items():
                cell: dict = {}
                for side in [s for s in sides if s in r and s != "raw"]:
                    cell[f"{side}_body_bytes"] = body_size(bases[side], r[side], 10)
                    cell[f"{side}_request"] = r[side][0]
                    run_wrk(bases[side], r[side], args.concurrency, 1, tmp)  # warm-up
                results["rows"][row] = cell
            # Rounds over every row and side rather than each cell's runs back to back: on a shared
            # machine the background load drifts, and this spreads every cell over the whole run.
            runs: dict = {row: {} for row in reqs}
            for _ in range(args.repeat):
                for row, r in reqs.items():
                    for side in [s for s in sides if s in r]:
                        if side == "raw":
                            m = run_raw(dsn, r["raw"], args.concurrency, args.duration)
                        else:
                            m = run_wrk(bases[side], r[side], args.concurrency, args.duration, tmp)
                            if m.get("non_2xx") or m.get("socket_errors"):
                                print(f"WARNING {row} {side}: {m}", file=sys.stderr)
                        runs[row].setdefault(side, []).append(m)
                    print(f"{row}: " + ", ".join(f"{s} {v[-1]['rps']:.0f}" for s, v in runs[row].items()),
                          file=sys.stderr)
            for row, by_side in runs.items():
                for side, ms in by_side.items():
                    best = max(ms, key=lambda m: m["rps"])
                    results["rows"][row][side] = {**best, "runs": [round(m["rps"], 1) for m in ms]}
        except BaseException:
            for o in started:
                if o.errors():
                    print(f"{o.name}'s log (tail):\n{o.errors()}", file=sys.stderr)
            raise
        finally:
            if app is not None:
                stop_server(app)
            for o in started:
                o.stop()
    results["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


LABELS = {"json1000": "1 000 parcels, GeoJSON", "gml1000": "1 000 parcels, GML 3.2",
          "json1": "~1 parcel (3 m bbox), GeoJSON", "gml1": "~1 parcel (3 m bbox), GML 3.2",
          "rest1000": "REST `/api/v1/parcels?bbox=…&limit=1000`, 1 000 parcels", "rest1": "REST the same, ~1 parcel"}


def table(results: dict) -> str:
    """The Markdown table: req/s per row and side, landdb ÷ raw, and every run's req/s."""
    head = (f"{results['parcels']:,} parcels (flat table and landdb's register, migration {results['revision']}, "
            f"commit {results['commit']}); {results['concurrency']} concurrent clients; {results['duration_s']:g} s "
            f"per cell, best of {results['repeat']} rounds; landdb: {server_label(results)}; "
            f"{results['mapserver']} and {results['qgis_server']}: {results['fastcgi_procs']} FastCGI processes "
            f"each behind lighttpd; {results['cpus']} CPUs shared by the servers, PostGIS and wrk; load average "
            f"{results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after.")
    lines = [head, "",
             "| request (req/s) | raw PostGIS, flat table | landdb | landdb ÷ raw | MapServer 8 | QGIS Server 3.22 "
             "| landdb p50 / p99 ms | body landdb / MapServer / QGIS |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]

    def rps(cell, side):
        return f"{cell[side]['rps']:.0f}" if side in cell else ""

    for row, cell in results["rows"].items():
        ratio = (f"{cell['landdb']['rps'] / cell['raw']['rps']:.2f}×" if "raw" in cell and "landdb" in cell else "")
        lat = f"{cell['landdb']['p50_ms']:.1f} / {cell['landdb']['p99_ms']:.1f}" if "landdb" in cell else ""
        sizes = " / ".join(f"{cell[f'{s}_body_bytes'] / 1000:.1f} kB" for s in ("landdb", "mapserver", "qgis")
                           if f"{s}_body_bytes" in cell)
        lines.append(f"| {LABELS.get(row, row)} | {rps(cell, 'raw')} | {rps(cell, 'landdb')} | {ratio} "
                     f"| {rps(cell, 'mapserver')} | {rps(cell, 'qgis')} | {lat} | {sizes} |")
    runs = "; ".join(f"{row} " + ", ".join(f"{s} {cell[s]['runs']}" for s in SIDES if s in cell and "runs" in cell[s])
                     for row, cell in results["rows"].items())
    return "\n".join(lines + ["", f"Every round's req/s: {runs}."])


if __name__ == "__main__":
    main()
