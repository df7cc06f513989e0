"""Side-by-side benchmark: MapServer 8 (FastCGI) and landdb serving the same parcels on the same machine.

MapServer serves the very layer landdb publishes as `landdb:parcels` (same SQL, attributes,
feature id, and EPSG:5899 with the database's datum shift) from the same PostGIS database, as a
FastCGI WFS: `--mapserv-procs` mapserv processes (default: 2 × cores + 1)
spawned by spawn-fcgi on one Unix socket behind lighttpd, each keeping its PostGIS connection
open between requests (PROCESSING "CLOSE_CONNECTION=DEFER"). Templates: bench/mapserver/.

Cases (the requests of bench_wfs.py and bench_rest.py, built by their own functions):
  one          WFS 2.0 GetFeature, EPSG:5899 bbox inside one parcel, GML 3.2
  gml1000      WFS 2.0 GetFeature, EPSG:5899 bbox of ~1 000 parcels, GML 3.2
  json1000     the same bboxes, outputFormat=application/json (MapServer: OGR/GEOJSON)
  geojson4326  bboxes of ~1 000 parcels in EPSG:4326, GeoJSON in EPSG:4326, 1 000 at most:
               MapServer's WFS (srsName urn:ogc:def:crs:EPSG::4326, count=1000) against
               landdb's REST `GET /api/v1/parcels?limit=1000&bbox=…` (bench_rest's bbox1000)
  wfs4326      the same WFS request as MapServer's geojson4326, sent to landdb's /wfs

MapServer reads EPSG:5899 from an "epsg" init file the script writes into its PROJ_LIB, holding
the database's PROJ string (with its +towgs84 datum shift), so that requests in EPSG:5899 and
the layer agree and EPSG:4326 answers are shifted as PostGIS shifts them. That costs MapServer
time on every request; `--stock-epsg` measures it on PROJ's own EPSG:5899 instead (EPSG:5899
cases only: its EPSG:4326 output is ~225 m off).

Before measuring it checks, for a few inputs of every case, that both servers return the same
number of features, and that a parcel's EPSG:4326 coordinates agree within 0.5 m; it aborts
otherwise. (In the two cases capped at 1 000, MapServer may return up to 2 % fewer: it applies
count=1000 as a SQL LIMIT on the box's bounding rectangle in EPSG:5899, then drops what its exact
EPSG:4326 box test rejects. The shortfall is printed and kept in the JSON.) Each case is then driven by wrk at the same concurrency, MapServer then landdb, one
after the other (never both under load at once); both servers stay up, idle, all run long.

Usage (Debian packages: `scripts/install-system.sh mapserver`, and wrk; a database holding the
parcels, e.g. the one bench_rest.py uses):

    DATABASE_URL=postgresql://landdb@127.0.0.1:54329/landdb_bench_rest \\
        .venv/bin/python bench/bench_mapserver.py --duration 10 --concurrency 8 --workers 5

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from string import Template
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import body_size, fastcgi_procs, resolve_server, server_args, server_label, start_server, stop_server  # noqa: E402,E501

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench_rest import app_urls, pick_inputs, run_wrk  # noqa: E402
from bench_wfs import kvp, pick_boxes  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

TEMPLATES = ROOT / "bench" / "mapserver"
CASES = ("one", "gml1000", "json1000", "geojson4326", "wfs4326")
MAPSERV = "/usr/lib/cgi-bin/mapserv"
INSTALL_HINT = ("MapServer's FastCGI mapserv, spawn-fcgi and lighttpd are needed: "
                "scripts/install-system.sh mapserver (apt-get install cgi-mapserver mapserver-bin spawn-fcgi lighttpd)")
URN_4326 = "urn:ogc:def:crs:EPSG::4326"
#: cases capped at CAP features, where MapServer may return up to CAP_SHORTFALL fewer (see check_counts).
CAPPED, CAP, CAP_SHORTFALL = ("geojson4326", "wfs4326"), 1000, 0.02


# --- the requests ------------------------------------------------------------------------------------


def wfs_4326(box) -> dict[str, str]:
    """WFS 2.0 GetFeature of a lon/lat box as GeoJSON in EPSG:4326, 1 000 features at most.
    The URN spelling of EPSG:4326 is latitude-first in the bbox; GeoJSON output is lon/lat."""
    lon0, lat0, lon1, lat1 = box
    return {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
            "bbox": f"{lat0},{lon0},{lat1},{lon1},{URN_4326}", "srsName": URN_4326,
            "outputFormat": "application/json", "count": "1000"}


def requests(engine, args) -> dict[str, dict[str, list[str]]]:
    """Per case, the MapServer and landdb URL paths (index i of both is the same input)."""
    boxes = pick_boxes(engine, args.inputs, args.seed)
    inputs = pick_inputs(engine, args.rest_inputs, args.seed)
    wfs = {c: ["/wfs?" + urlencode(kvp(c, b)) for b in boxes[c]] for c in ("one", "gml1000", "json1000")}
    w4326 = ["/wfs?" + urlencode(wfs_4326(b)) for b in inputs["boxes"]]
    out = {c: {"mapserver": urls, "landdb": urls} for c, urls in wfs.items()}
    out["geojson4326"] = {"mapserver": w4326, "landdb": app_urls(inputs)["bbox1000"]}
    out["wfs4326"] = {"mapserver": w4326, "landdb": w4326}
    return out


# --- MapServer under FastCGI ------------------------------------------------------------------------


def proj_data_dir() -> Path:
    """PROJ's data directory (where proj.db is)."""
    candidates = []
    if shutil.which("projinfo"):
        out = subprocess.run(["projinfo", "--searchpaths"], capture_output=True, text=True).stdout
        candidates += [Path(p) for p in out.split()]
    candidates += [Path("/usr/share/proj"), Path("/usr/local/share/proj")]
    for c in candidates:
        if (c / "proj.db").exists():
            return c
    raise SystemExit("proj.db not found (is PROJ installed?)")


class MapServer:
    """lighttpd on 127.0.0.1:`port` in front of `procs` mapserv FastCGI processes, all in `tmp`."""

    name, program, log_name = "MapServer", MAPSERV, "mapserver.log"

    def __init__(self, database_url: str, port: int, procs: int, tmp: Path, stock_epsg: bool = False):
        self.port, self.procs, self.tmp, self.stock_epsg = port, procs, tmp, stock_epsg
        self.children: list[int] = []
        self.httpd: subprocess.Popen | None = None
        url = make_url(database_url)
        self.connection = " ".join(f"{k}={v}" for k, v in (
            ("host", url.host or "127.0.0.1"), ("port", url.port or 5432), ("dbname", url.database),
            ("user", url.username), ("password", url.password)) if v)
        self.database_url = database_url

    def configure(self) -> None:
        engine = create_engine(self.database_url)
        with engine.connect() as conn:
            proj4 = conn.execute(text("SELECT proj4text FROM spatial_ref_sys WHERE srid = 5899")).scalar_one()
            ext = conn.execute(text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM parcel_versions WHERE valid_to IS NULL) s")).one()
        engine.dispose()
        # PROJ_LIB: PROJ's data plus an "epsg" init file, so that EPSG:5899 in requests and the
        # layer is the database's definition (with its +towgs84), not PROJ's.
        # (--stock-epsg: PROJ's own EPSG:5899, which MapServer maps to 4326 without that shift.)
        projlib = self.tmp / "proj"
        if self.stock_epsg:
            projlib = proj_data_dir()
        else:
            projlib.mkdir()
            for f in proj_data_dir().iterdir():
                if f.name != "epsg":
                    (projlib / f.name).symlink_to(f)
            (projlib / "epsg").write_text(f"<5899> {proj4.strip()} <>\n"
                                          "<4326> +proj=longlat +datum=WGS84 +no_defs <>\n")
        extent = " ".join(f"{v:.3f}" for v in ext)
        subst = {"extent": extent, "onlineresource": f"http://127.0.0.1:{self.port}/wfs?",
                 "connection": self.connection, "mapfile": str(self.tmp / "parcels.map"),
                 "errorfile": str(self.tmp / "mapserver.log"), "projlib": str(projlib),
                 "port": self.port, "tmp": str(self.tmp), "socket": str(self.tmp / "mapserv.sock")}
        for name in ("parcels.map", "mapserver.conf", "lighttpd.conf"):
            tpl = Template((TEMPLATES / f"{name}.in").read_text())
            (self.tmp / name).write_text(tpl.substitute(subst))

    def environment(self) -> dict[str, str]:
        """The FastCGI processes' environment."""
        return {**os.environ, "MAPSERVER_CONFIG_FILE": str(self.tmp / "mapserver.conf")}

    def start(self) -> None:
        self.configure()
        out = subprocess.run(["spawn-fcgi", "-s", str(self.tmp / "mapserv.sock"), "-F", str(self.procs),
                              "-d", str(self.tmp), "--", self.program], env=self.environment(),
                             capture_output=True, text=True)
        self.children = [int(p) for p in re.findall(r"PID:\s*(\d+)", out.stdout + out.stderr)]
        if out.returncode != 0 or len(self.children) != self.procs:
            self.stop()
            raise SystemExit(f"spawn-fcgi failed: {out.stdout}{out.stderr}")
        self.httpd = subprocess.Popen(["lighttpd", "-D", "-f", str(self.tmp / "lighttpd.conf")],
                                      start_new_session=True, stdout=subprocess.DEVNULL)
        caps = f"http://127.0.0.1:{self.port}/wfs?service=WFS&request=GetCapabilities&version=2.0.0"
        for _ in range(100):
            try:
                with urllib.request.urlopen(caps, timeout=2) as resp:
                    if resp.status == 200 and b"WFS_Capabilities" in resp.read():
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{self.name} did not answer GetCapabilities; see {self.tmp}/{self.log_name}")

    def stop(self) -> None:
        if self.httpd is not None:
            stop_server(self.httpd)
            self.httpd = None
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.children:  # an idle FastCGI mapserv waits in accept() through SIGTERM
            for _ in range(10):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.children = []

    def errors(self) -> str:
        log = self.tmp / self.log_name
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


# --- checks --------------------------------------------------------------------------------------------


def fetch(base: str, path: str) -> bytes:
    try:
        with urllib.request.urlopen(base + path, timeout=60) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{base}{path} answered {e.code}: {e.read()[:500]!r}") from e


def n_features(body: bytes) -> int:
    """Features in a GML 3.2 FeatureCollection or a GeoJSON one."""
    if body.lstrip().startswith(b"{"):
        return len(json.loads(body)["features"])
    return body.count(b"<wfs:member>")


def check_counts(ms_base: str, app_base: str, reqs, per_case: int) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Abort unless both servers return as many features for the first `per_case` inputs of each case
    (MapServer's counts, and by how many features at most it fell short of a capped answer)."""
    seen: dict[str, list[int]] = {}
    short: dict[str, int] = {}
    for case, r in reqs.items():
        seen[case] = []
        for ms_url, app_url in list(zip(r["mapserver"], r["landdb"]))[:per_case]:
            n_ms, n_app = n_features(fetch(ms_base, ms_url)), n_features(fetch(app_base, app_url))
            if case in CAPPED and n_app == CAP and n_ms < n_app and n_ms >= CAP * (1 - CAP_SHORTFALL):
                # MapServer applies count=1000 as a SQL LIMIT on the box's bounding rectangle in
                # EPSG:5899, then drops the features its exact EPSG:4326 test rejects.
                short[case] = max(short.get(case, 0), n_app - n_ms)
            elif n_ms != n_app:
                raise SystemExit(f"{case}: MapServer returns {n_ms} features, landdb {n_app}, for\n"
                                 f"  MapServer {ms_base}{ms_url}\n  landdb    {app_base}{app_url}\n"
                                 "The figures would compare different answers: fix the MapServer layer first.")
            if n_ms == 0:
                raise SystemExit(f"{case}: no features for {ms_url}; the inputs are wrong")
            seen[case].append(n_ms)
    return seen, short


def _metres(a, b) -> float:
    """Distance in metres between two nearby lon/lat points."""
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    dy = (a[1] - b[1]) * 110_574
    return math.hypot(dx, dy)


def _ring(feature: dict) -> list:
    g = feature["geometry"]
    return g["coordinates"][0][0] if g["type"] == "MultiPolygon" else g["coordinates"][0]


def check_coordinates(ms_base: str, app_base: str, boxes, n: int) -> float:
    """Largest distance (m) between the EPSG:4326 vertices MapServer and landdb give a parcel."""
    worst = 0.0
    for box in boxes[:n]:
        path = "/wfs?" + urlencode({**kvp("one", box), "srsName": URN_4326, "outputFormat": "application/json"})
        ms, app = json.loads(fetch(ms_base, path)), json.loads(fetch(app_base, path))
        if len(ms["features"]) != 1 or len(app["features"]) != 1:
            raise SystemExit(f"coordinate check: expected one feature from both for {path}")
        a, b = _ring(ms["features"][0]), _ring(app["features"][0])
        if len(a) != len(b):
            raise SystemExit(f"coordinate check: rings of {len(a)} and {len(b)} vertices for {path}")
        worst = max(worst, *(_metres(p, q) for p, q in zip(a, b)))
    if worst > 0.5:
        raise SystemExit(f"MapServer's EPSG:4326 coordinates differ from landdb's by up to {worst:.2f} m "
                         "(datum shift of EPSG:5899 not applied the same way)")
    return worst


# --- main ------------------------------------------------------------------------------------------------


def comparison_args(ap) -> None:
    """The inputs options the side-by-side comparisons share (the requests bench_wfs and bench_rest make)."""
    ap.add_argument("--inputs", type=int, default=200, help="as bench_wfs.py: one-parcel boxes (1 000-parcel: a tenth)")
    ap.add_argument("--rest-inputs", type=int, default=400, help="as bench_rest.py: its bbox1000 boxes are a tenth")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--check", type=int, default=5, help="inputs per case whose feature counts are compared")
    ap.add_argument("--cases", default=",".join(CASES))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8767)
    ap.add_argument("--mapserv-procs", type=int, default=None, help="mapserv FastCGI processes (default: 2 × cores + 1)")
    ap.add_argument("--mapserver-port", type=int, default=8768, help="lighttpd in front of mapserv")
    comparison_args(ap)
    ap.add_argument("--stock-epsg", action="store_true",
                    help="MapServer on PROJ's own EPSG:5899 (no custom init file): faster, but its EPSG:4326 "
                         "output is ~225 m off, so the 4326 cases and the coordinate check are left out")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_mapserver.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (e.g. the database bench_rest.py uses)")
    missing = [t for t in ("spawn-fcgi", "lighttpd") if shutil.which(t) is None]
    if missing or not os.access(MAPSERV, os.X_OK):
        raise SystemExit(f"missing: {', '.join(missing + ([MAPSERV] if not os.access(MAPSERV, os.X_OK) else []))}. "
                         + INSTALL_HINT)
    if "SUPPORTS=FASTCGI" not in subprocess.run([MAPSERV, "-v"], capture_output=True, text=True).stdout:
        raise SystemExit(f"{MAPSERV} was built without FastCGI support")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    resolve_server(args)
    procs = args.mapserv_procs or fastcgi_procs()
    url = normalize_url(args.database_url)
    engine = create_engine(url)
    with engine.connect() as conn:
        n_parcels = conn.execute(text("SELECT count(*) FROM parcels WHERE retired_on IS NULL")).scalar_one()
    cases = args.cases.split(",")
    if args.stock_epsg:
        cases = [c for c in cases if c not in CAPPED]
    reqs = {c: r for c, r in requests(engine, args).items() if c in cases}
    one_boxes = pick_boxes(engine, args.inputs, args.seed)["one"]
    engine.dispose()
    ms_version = subprocess.run([MAPSERV, "-v"], capture_output=True, text=True).stdout.split(" OUTPUT=")[0]

    results: dict = {"parcels": n_parcels, "concurrency": args.concurrency, "duration_s": args.duration,
                     "server": args.server, "workers": args.workers, "threads": args.threads, "mapserv_procs": procs,
                     "mapserver": ms_version, "cpus": os.cpu_count(), "cases": {}}
    def checks(base: str, app_base: str) -> dict:
        counts, short = check_counts(base, app_base, reqs, args.check)
        worst = None if args.stock_epsg else round(check_coordinates(base, app_base, one_boxes, 3), 4)
        print(f"checked: feature counts (MapServer) {counts}, MapServer short of the {CAP} cap by at most "
              f"{short}; EPSG:4326 vertices apart by at most {worst} m", file=sys.stderr)
        return {"feature_counts": counts, "mapserver_short_of_cap": short,
                "epsg_5899": "PROJ's own" if args.stock_epsg else "the database's (custom init file)",
                "max_vertex_distance_4326_m": worst}

    with tempfile.TemporaryDirectory(prefix="bench-mapserver-") as tmp:
        ms = MapServer(url, args.mapserver_port, procs, Path(tmp), args.stock_epsg)
        results.update(side_by_side(ms, "mapserver", url, args, reqs, checks, Path(tmp)))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def table(results: dict) -> str:
    head = (f"{results['parcels']:,} current parcels; {results['concurrency']} concurrent clients; "
            f"{results['duration_s']:g} s per cell. {results['mapserver']}: {results['mapserv_procs']} FastCGI "
            f"processes behind lighttpd, EPSG:5899 {results.get('epsg_5899', '')}. "
            f"landdb: {server_label(results)}. {results['cpus']} CPUs shared by the servers, PostGIS and wrk.")
    return side_by_side_table(results, "mapserver", "MapServer", head)


def side_by_side(other: "MapServer", name: str, url: str, args, reqs: dict, checks, tmp: Path) -> dict:
    """Start the other server and landdb, run `checks(other_base, app_base)` (a dict of what was
    checked, or SystemExit), measure every case on both (`measure_cases`) and stop both; the other
    server's log tail is printed when anything fails."""
    base, app_base = f"http://127.0.0.1:{other.port}", f"http://127.0.0.1:{args.port}"
    other.start()
    app = None
    try:
        app = start_server(url, args.port, args.workers, args.threads, server=args.server)
        out = checks(base, app_base)
        out["cases"] = measure_cases(name, base, app_base, reqs, args.concurrency, args.duration, tmp)
        return out
    except BaseException:
        if other.errors():
            print(f"{other.name}'s log (tail):\n{other.errors()}", file=sys.stderr)
        raise
    finally:
        if app is not None:
            stop_server(app)
        other.stop()


def measure_cases(name: str, other_base: str, app_base: str, reqs: dict, concurrency: int, duration: float,
                  tmp: Path) -> dict[str, dict]:
    """Each case driven by wrk on the other server (`name`: its key in `reqs` and in the rows), then
    on landdb, one after the other, after a second's warm-up of both."""
    wrk_dir = tmp / "wrk"
    wrk_dir.mkdir()
    warm = next(iter(reqs.values()))
    run_wrk(other_base, warm[name], concurrency, 1, wrk_dir)
    run_wrk(app_base, warm["landdb"], concurrency, 1, wrk_dir)
    rows: dict[str, dict] = {}
    for case, r in reqs.items():
        row = {f"{name}_body_bytes": body_size(other_base, r[name], 10),
               "landdb_body_bytes": body_size(app_base, r["landdb"], 10),
               "landdb_request": r["landdb"][0], f"{name}_request": r[name][0]}
        row[name] = run_wrk(other_base, r[name], concurrency, duration, wrk_dir)
        row["landdb"] = run_wrk(app_base, r["landdb"], concurrency, duration, wrk_dir)
        row[f"landdb_vs_{name}"] = row["landdb"]["rps"] / row[name]["rps"]
        for side in (name, "landdb"):
            if row[side].get("non_2xx") or row[side].get("socket_errors"):
                print(f"WARNING {case} {side}: {row[side]}", file=sys.stderr)
        rows[case] = row
        print(f"{case}: {json.dumps(row)}", file=sys.stderr)
    return rows


def side_by_side_table(results: dict, name: str, label: str, head: str) -> str:
    """The Markdown table of `measure_cases`' rows, under `head`."""
    lines = [
        head,
        "",
        f"| case | body {label} | body landdb | {label} req/s | p50 / p99 ms | landdb req/s | p50 / p99 ms "
        f"| landdb ÷ {label} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, r in results["cases"].items():
        m, a = r[name], r["landdb"]
        lines.append(
            f"| {case} | {r[f'{name}_body_bytes'] / 1000:.1f} kB | {r['landdb_body_bytes'] / 1000:.1f} kB "
            f"| {m['rps']:.0f} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {a['rps']:.0f} "
            f"| {a['p50_ms']:.1f} / {a['p99_ms']:.1f} | {r[f'landdb_vs_{name}']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
