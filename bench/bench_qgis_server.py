"""Side-by-side benchmark: QGIS Server 3 (FastCGI) and landdb serving the same parcels on the same machine.

QGIS Server serves the very layer landdb publishes as `landdb:parcels` (same SQL, the same 12
attributes, feature id = p.id, MultiPolygon in EPSG:5899) from the same PostGIS database, as a
FastCGI WFS set up exactly as bench_mapserver.py sets up MapServer (whose code this reuses):
`--qgis-procs` qgis_mapserv.fcgi processes (default: 2 × cores + 1) spawned by
spawn-fcgi on one Unix socket behind lighttpd, in a temp dir, as the current user. Each process
keeps the project and its layer loaded (and its PostGIS connection open) between requests.

The project (.qgs) is generated in the temp dir by bench/qgis_server/make_project.py, run with the
system Python that has PyQGIS (`QT_QPA_PLATFORM=offscreen /usr/bin/python3`): a PostgreSQL layer
over the SQL subquery of bench/mapserver/parcels.map.in (key `id`, hidden from WFS), published in
WFSLayers, CRS list EPSG:5899 and EPSG:4326. Datum shift: the database's EPSG:5899 carries a
+towgs84; QGIS identifies that PROJ string as PROJ's own EPSG:5899 and drops the shift, so the
project's transform context pins EPSG:5899 -> EPSG:4326 (and back: its inverse) to the operation
PROJ's `projinfo` derives from the database's string (a Helmert with exactly those parameters),
with no fallback. QGIS Server uses it to bring request bboxes into the layer's CRS and to write GML
in EPSG:4326; its GeoJSON writer ignores the project's transform context and uses the operation
PROJ ranks first for EPSG:5899 -> 4326 in Hạ Long, "VN-2000 to WGS 84 (2)", whose parameters are
the database's (in the other rotation convention). Both paths are checked against landdb's
EPSG:4326 coordinates before measuring.

QGIS Server 3.22 speaks WFS 1.0.0 and 1.1.0 only, so it gets the WFS 1.1.0 equivalent of each
request (recorded per case in the JSON, one example each under the table):
  one          version=1.1.0, typeName=parcels, the same EPSG:5899 bbox (urn, x first),
               outputFormat=text/xml; subtype=gml/3.1.1  (GML 3.1.1; landdb: WFS 2.0, GML 3.2)
  gml1000      the same, a bbox of ~1 000 parcels
  json1000     the same bboxes, outputFormat=application/json. QGIS Server always writes GeoJSON
               in EPSG:4326 (reprojecting every vertex); landdb's answer stays in EPSG:5899
  geojson4326  bboxes of ~1 000 parcels in EPSG:4326 (urn, latitude first, as in MapServer's
               request), srsName urn:ogc:def:crs:EPSG::4326, maxFeatures=1000 (WFS 1.1 has no
               count), GeoJSON; against landdb's REST `GET /api/v1/parcels?limit=1000&bbox=…`
  wfs4326      the same QGIS request against landdb's WFS 2.0 request of bench_mapserver.py
QGIS Server writes feature coordinates in degrees with 6 decimals (~0.1 m) whatever the project's
WFS precision (WFSLayersPrecision, 8: it reaches only the collection's bbox), in metres as stored.

Before measuring it checks, for a few inputs of every case, that both servers return the same
number of features (in the two cases capped at 1 000, QGIS may return up to 2 % fewer, as
bench_mapserver allows MapServer), and that a parcel's EPSG:4326 coordinates (QGIS's GeoJSON and
GML) agree with landdb's within 0.5 m; it aborts otherwise. Each case is then driven by wrk at the
same concurrency, QGIS Server then landdb, one after the other (never both under load at once).

Usage (Debian packages: `scripts/install-system.sh qgis-server qgis`, and wrk; a database holding
the parcels, e.g. the one bench_rest.py uses):

    DATABASE_URL=postgresql://landdb@127.0.0.1:54329/landdb_bench_rest \\
        .venv/bin/python bench/bench_qgis_server.py --duration 10 --concurrency 8

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from string import Template
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fastcgi_procs, resolve_server, server_args, server_label  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench_mapserver import (CAP, CAP_SHORTFALL, CAPPED, CASES, URN_4326, MapServer, _metres,  # noqa: E402
                             _ring, fetch)
from bench_mapserver import TEMPLATES as MAPSERVER_TEMPLATES  # noqa: E402
from bench_mapserver import comparison_args, side_by_side, side_by_side_table  # noqa: E402
from bench_mapserver import requests as landdb_requests  # noqa: E402
from bench_rest import pick_inputs  # noqa: E402
from bench_wfs import pick_boxes  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

QGIS_FCGI = "/usr/lib/cgi-bin/qgis_mapserv.fcgi"
QGIS_WFS_MODULE = "/usr/lib/qgis/server/libwfs.so"
SYSTEM_PYTHON = "/usr/bin/python3"
MAKE_PROJECT = ROOT / "bench" / "qgis_server" / "make_project.py"
INSTALL_HINT = ("QGIS Server's FastCGI binary with its WFS module, PyQGIS for the system python3, spawn-fcgi "
                "and lighttpd are needed: scripts/install-system.sh qgis-server qgis "
                "(apt-get install qgis-server qgis-server-wfs python3-qgis spawn-fcgi lighttpd)")
URN_5899 = "urn:ogc:def:crs:EPSG::5899"
GML3 = "text/xml; subtype=gml/3.1.1"


# --- the requests ------------------------------------------------------------------------------------


def qgis_kvp(case: str, box) -> dict[str, str]:
    """QGIS Server's WFS 1.1.0 equivalent of bench_wfs.kvp: the same EPSG:5899 bbox."""
    params = {"service": "WFS", "version": "1.1.0", "request": "GetFeature", "typeName": "parcels",
              "bbox": ",".join(map(str, box)) + f",{URN_5899}",
              "outputFormat": "application/json" if case == "json1000" else GML3}
    return params


def qgis_4326(box) -> dict[str, str]:
    """WFS 1.1.0 GetFeature of a lon/lat box as GeoJSON in EPSG:4326, 1 000 features at most
    (bench_mapserver.wfs_4326 in WFS 1.1: typeName, maxFeatures; the urn bbox is latitude first)."""
    lon0, lat0, lon1, lat1 = box
    return {"service": "WFS", "version": "1.1.0", "request": "GetFeature", "typeName": "parcels",
            "bbox": f"{lat0},{lon0},{lat1},{lon1},{URN_4326}", "srsName": URN_4326,
            "outputFormat": "application/json", "maxFeatures": str(CAP)}


def requests(engine, args) -> dict[str, dict[str, list[str]]]:
    """Per case, the QGIS Server and landdb URL paths (index i of both is the same input)."""
    boxes = pick_boxes(engine, args.inputs, args.seed)
    inputs = pick_inputs(engine, args.rest_inputs, args.seed)
    theirs = landdb_requests(engine, args)  # landdb's side exactly as bench_mapserver.py sends it
    q = {c: ["/wfs?" + urlencode(qgis_kvp(c, b)) for b in boxes[c]] for c in ("one", "gml1000", "json1000")}
    q4326 = ["/wfs?" + urlencode(qgis_4326(b)) for b in inputs["boxes"]]
    q["geojson4326"] = q["wfs4326"] = q4326
    out = {c: {"qgis": q[c], "landdb": theirs[c]["landdb"]} for c in CASES}
    for c, r in out.items():
        if len(r["qgis"]) != len(r["landdb"]):
            raise SystemExit(f"{c}: {len(r['qgis'])} QGIS requests for {len(r['landdb'])} landdb ones")
    return out


# --- QGIS Server under FastCGI ----------------------------------------------------------------------


class QgisServer(MapServer):
    """lighttpd on 127.0.0.1:`port` in front of `procs` qgis_mapserv.fcgi processes, all in `tmp`
    (bench_mapserver.MapServer's spawn-fcgi, lighttpd, start and stop; a QGIS project instead of a mapfile)."""

    name, program, log_name = "QGIS Server", QGIS_FCGI, "qgis_server.log"

    def __init__(self, database_url: str, port: int, procs: int, tmp: Path):
        super().__init__(database_url, port, procs, tmp)
        self.operation = ""

    def configure(self) -> None:
        engine = create_engine(self.database_url)
        with engine.connect() as conn:
            proj4 = conn.execute(text("SELECT proj4text FROM spatial_ref_sys WHERE srid = 5899")).scalar_one()
            ext = conn.execute(text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM parcel_versions WHERE valid_to IS NULL) s")).one()
        engine.dispose()
        # The layer's SQL is MapServer's, from its mapfile template: both serve the same rows.
        mapfile = (MAPSERVER_TEMPLATES / "parcels.map.in").read_text()
        sql = mapfile.split('DATA "geom from (', 1)[1].split(") AS t USING UNIQUE id", 1)[0]
        self.write_project({"sql": sql, "srid": 5899, "proj4": proj4.strip(), "extent": [round(v, 3) for v in ext]})

    def write_project(self, layer: dict) -> None:
        """The project (make_project.py's SPEC: the connection, URL and precision, and `layer`:
        "sql" or "table", "srid", "extent", "proj4" when the datum shift must be pinned) and
        lighttpd's configuration, in the temp dir."""
        url = make_url(self.database_url)
        spec = {"connection": {"host": url.host or "127.0.0.1", "port": url.port or 5432, "dbname": url.database,
                               "user": url.username, "password": url.password},
                "url": f"http://127.0.0.1:{self.port}/wfs", "precision": 8, **layer}
        (self.tmp / "project.json").write_text(json.dumps(spec))
        (self.tmp / "home").mkdir(mode=0o700)
        out = subprocess.run([SYSTEM_PYTHON, "-W", "ignore::DeprecationWarning", str(MAKE_PROJECT),
                              str(self.tmp / "project.json"), str(self.tmp / "parcels.qgs")],
                             env={**self.environment(), "PYTHONPATH": ""}, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"make_project.py failed:\n{out.stdout}{out.stderr}")
        self.operation = json.loads(out.stdout.strip().splitlines()[-1])["operation"]
        subst = {"port": self.port, "tmp": str(self.tmp), "socket": str(self.tmp / "mapserv.sock")}
        tpl = Template((MAPSERVER_TEMPLATES / "lighttpd.conf.in").read_text())
        (self.tmp / "lighttpd.conf").write_text(tpl.substitute(subst))

    def environment(self) -> dict[str, str]:
        return {**os.environ, "QGIS_PROJECT_FILE": str(self.tmp / "parcels.qgs"),
                "QGIS_SERVER_LOG_FILE": str(self.tmp / self.log_name), "QGIS_SERVER_LOG_LEVEL": "2",
                "QT_QPA_PLATFORM": "offscreen", "HOME": str(self.tmp / "home"),
                "XDG_RUNTIME_DIR": str(self.tmp / "home"), "PROJ_NETWORK": "OFF"}


# --- checks --------------------------------------------------------------------------------------------


def n_features(body: bytes) -> int:
    """Features in a GML FeatureCollection (WFS 1.1's featureMember or 2.0's member) or a GeoJSON one."""
    if body.lstrip().startswith(b"{"):
        return len(json.loads(body)["features"])
    return body.count(b"<gml:featureMember>") + body.count(b"<wfs:member>")


def check_counts(q_base: str, app_base: str, reqs, per_case: int) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Abort unless both servers return as many features for the first `per_case` inputs of each case
    (QGIS Server's counts, and by how many features at most it fell short of a capped answer)."""
    seen: dict[str, list[int]] = {}
    short: dict[str, int] = {}
    for case, r in reqs.items():
        seen[case] = []
        for q_url, app_url in list(zip(r["qgis"], r["landdb"]))[:per_case]:
            n_q, n_app = n_features(fetch(q_base, q_url)), n_features(fetch(app_base, app_url))
            if case in CAPPED and n_app == CAP and CAP * (1 - CAP_SHORTFALL) <= n_q < n_app:
                short[case] = max(short.get(case, 0), n_app - n_q)
            elif n_q != n_app:
                raise SystemExit(f"{case}: QGIS Server returns {n_q} features, landdb {n_app}, for\n"
                                 f"  QGIS Server {q_base}{q_url}\n  landdb      {app_base}{app_url}\n"
                                 "The figures would compare different answers: fix the QGIS project first.")
            if n_q == 0:
                raise SystemExit(f"{case}: no features for {q_url}; the inputs are wrong")
            seen[case].append(n_q)
    return seen, short


def check_coordinates(q_base: str, app_base: str, boxes, n: int) -> float:
    """Largest distance (m) between the EPSG:4326 vertices QGIS Server (as GeoJSON and as GML) and
    landdb give a parcel (as bench_mapserver.check_coordinates; QGIS gets the WFS 1.1.0 request)."""
    worst = 0.0
    for box in boxes[:n]:
        bbox = ",".join(map(str, box)) + f",{URN_5899}"
        q_path = "/wfs?" + urlencode({**qgis_kvp("one", box), "srsName": URN_4326, "outputFormat": "application/json"})
        app_path = "/wfs?" + urlencode({"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                        "typeNames": "landdb:parcels", "bbox": bbox, "srsName": URN_4326,
                                        "outputFormat": "application/json"})
        q, app = json.loads(fetch(q_base, q_path)), json.loads(fetch(app_base, app_path))
        if len(q["features"]) != 1 or len(app["features"]) != 1:
            raise SystemExit(f"coordinate check: expected one feature from both for {q_path} and {app_path}")
        if str(q["features"][0]["id"]).rpartition(".")[2] != str(app["features"][0]["id"]).rpartition(".")[2]:
            raise SystemExit(f"coordinate check: feature ids {q['features'][0]['id']} and {app['features'][0]['id']}")
        b = _ring(app["features"][0])
        # GeoJSON (QGIS reprojects with PROJ's default operation) and GML 3.1.1 (with the project's
        # transform context: the pinned operation; latitude first under the urn srsName).
        gml_path = "/wfs?" + urlencode({**qgis_kvp("one", box), "srsName": URN_4326})
        m = re.search(rb"<posList[^>]*>([^<]+)</posList>", fetch(q_base, gml_path))
        if m is None:
            raise SystemExit(f"coordinate check: no posList in QGIS Server's answer to {gml_path}")
        lat_lon = [float(v) for v in m.group(1).split()]
        for a, path in ((_ring(q["features"][0]), q_path), (list(zip(lat_lon[1::2], lat_lon[0::2])), gml_path)):
            if len(a) != len(b):
                raise SystemExit(f"coordinate check: rings of {len(a)} and {len(b)} vertices for {path}")
            worst = max(worst, *(_metres(p, r) for p, r in zip(a, b)))
    if worst > 0.5:
        raise SystemExit(f"QGIS Server's EPSG:4326 coordinates differ from landdb's by up to {worst:.2f} m "
                         "(datum shift of EPSG:5899 not applied the same way)")
    return worst


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8770)
    ap.add_argument("--qgis-procs", type=int, default=None, help="QGIS Server FastCGI processes (default: 2 × cores + 1)")
    ap.add_argument("--qgis-port", type=int, default=8771, help="lighttpd in front of QGIS Server")
    comparison_args(ap)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_qgis_server.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (e.g. the database bench_rest.py uses)")
    missing = [t for t in ("spawn-fcgi", "lighttpd", "projinfo") if shutil.which(t) is None]
    missing += [f for f in (QGIS_FCGI, QGIS_WFS_MODULE) if not os.path.exists(f)]
    if subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode != 0:
        missing.append(f"PyQGIS for {SYSTEM_PYTHON}")
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}. {INSTALL_HINT}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    resolve_server(args)
    procs = args.qgis_procs or fastcgi_procs()
    url = normalize_url(args.database_url)
    engine = create_engine(url)
    with engine.connect() as conn:
        n_parcels = conn.execute(text("SELECT count(*) FROM parcels WHERE retired_on IS NULL")).scalar_one()
    cases = args.cases.split(",")
    reqs = {c: r for c, r in requests(engine, args).items() if c in cases}
    one_boxes = pick_boxes(engine, args.inputs, args.seed)["one"]
    engine.dispose()
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "qgis-server-bin"],
                             capture_output=True, text=True).stdout.strip()

    results: dict = {"parcels": n_parcels, "concurrency": args.concurrency, "duration_s": args.duration,
                     "server": args.server, "workers": args.workers, "threads": args.threads, "qgis_procs": procs,
                     "qgis_server": f"QGIS Server {version or '?'}", "cpus": os.cpu_count(), "cases": {}}
    def checks(base: str, app_base: str) -> dict:
        counts, short = check_counts(base, app_base, reqs, args.check)
        worst = round(check_coordinates(base, app_base, one_boxes, 3), 4)
        print(f"checked: feature counts (QGIS Server) {counts}, QGIS short of the {CAP} cap by at most {short}; "
              f"EPSG:4326 vertices apart by at most {worst} m", file=sys.stderr)
        return {"epsg_5899_to_4326": qs.operation, "feature_counts": counts, "qgis_short_of_cap": short,
                "max_vertex_distance_4326_m": worst}

    with tempfile.TemporaryDirectory(prefix="bench-qgis-server-") as tmp:
        qs = QgisServer(url, args.qgis_port, procs, Path(tmp))
        results.update(side_by_side(qs, "qgis", url, args, reqs, checks, Path(tmp)))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    head = (f"{results['parcels']:,} current parcels; {results['concurrency']} concurrent clients; "
            f"{results['duration_s']:g} s per cell. {results['qgis_server']}: {results['qgis_procs']} FastCGI "
            f"processes behind lighttpd, EPSG:5899 → 4326 pinned to the database's datum shift. "
            f"landdb: {server_label(results)}. {results['cpus']} CPUs shared by the servers, PostGIS and wrk.")
    lines = [side_by_side_table(results, "qgis", "QGIS", head), "", "Requests (first input of each case):", ""]
    for case, r in results["cases"].items():
        lines.append(f"- {case}: QGIS Server `{r['qgis_request']}`; landdb `{r['landdb_request']}`")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
