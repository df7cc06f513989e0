"""Benchmark of the parcels' vector tiles: landdb beside the same ST_AsMVT statement run raw, and beside MapServer 8's MVT.

For random tiles at each zoom (default z14–z17) over Hạ Long's urban core — the tiles holding
randomly drawn current parcels of the core, so busy tiles are drawn as often as a map shows
them — it measures, in the same run and at the same concurrency:

  app        GET /ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x} through `landdb serve`'s
             server and command line, driven by wrk (no Accept-Encoding: tiles are not gzipped);
             the app runs one statement per tile (the tile and its ETag's digest);
  raw        the very ST_AsMVT statement the app runs for each tile (landdb.tiles.mvt.statement),
             prepared once per connection and executed from N processes with psycopg2, with the
             plan the app uses (its generic plan: landdb.tiles.mvt.GENERIC_PLAN);
  mapserver  MapServer 8 (Debian's cgi-mapserver, FastCGI under spawn-fcgi + lighttpd as in
             bench_mapserver.py) serving the same rows of the serving layer as MVT
             (mode=tile&tilemode=gmap, extent 4096, edge buffer 64; bench/mapserver/parcels_mvt.map.in).

Before measuring, for the first --check tiles of each zoom, it checks (decoding with
mapbox-vector-tile) that the app's tile holds the features the raw statement renders, and that
MapServer's holds the same features with the same properties inside the tile, up to 1 % of them
(MapServer fetches no features for the tile's margin, so its tiles hold a few % fewer); it
aborts otherwise.

Tile sizes: the mean of the measured tiles per zoom (app and MapServer), and the largest of the
densest tiles of each zoom from --size-zooms (found by counting parcels per tile in SQL and
rendered by the same statement, also below the layer's minimum zoom, which is how that minimum
was chosen); the run fails if any tile is over 500 KB from the minimum zoom on.

Usage (Debian packages: `scripts/install-system.sh mapserver` and wrk; a database holding the
200 000-parcel sample, e.g. `landdb sample load /path/halong_200000.gpkg` into a database of its own):

    DATABASE_URL=postgresql://landdb@127.0.0.1:54347/landdb_tiles_bench \\
        .venv/bin/python bench/bench_tiles.py --duration 10 --concurrency 8

Prints a Markdown table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from string import Template

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (best_of, fastcgi_procs, resolve_server, server_args, server_label, start_server,  # noqa: E402
                     stop_server)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mapbox_vector_tile  # noqa: E402
import morecantile  # noqa: E402
from shapely.geometry import box, shape  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench_mapserver import INSTALL_HINT, MAPSERV, TEMPLATES, MapServer, proj_data_dir  # noqa: E402
from bench_rest import run_raw, run_wrk  # noqa: E402
from landdb import prepared  # noqa: E402
from landdb.db import normalize_url  # noqa: E402
from landdb.tiles import mvt  # noqa: E402

#: Hạ Long's urban core in lon/lat: Bãi Cháy, Hồng Gai and the wards between them and Cao Xanh.
URBAN_CORE = (107.02, 20.935, 107.13, 20.985)
MERCATOR = morecantile.tms.get("WebMercatorQuad")
MAX_TILE_BYTES = 500_000
#: wrk's per-request timeout: a dense z14 tile can take longer than wrk's default 2 s on a busy machine.
WRK_TIMEOUT = 20.0
WEB_MERCATOR = ("<3857> +proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m "
                "+nadgrids=@null +wktext +no_defs <>\n")


# --- inputs -------------------------------------------------------------------------------------


def pick_tiles(engine, zooms: list[int], n: int, seed: int) -> dict[int, list[tuple[int, int]]]:
    """Per zoom, up to `n` distinct tiles (x, y) holding random current parcels of the urban core."""
    with engine.connect() as conn:
        conn.execute(text("SELECT setseed(:s)"), {"s": seed / 1000.0 % 1})
        points = conn.execute(text(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) AS c "
            "FROM parcel_features WHERE geom_4326 && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) "
            "ORDER BY random() LIMIT :n) s"),
            dict(zip(("x0", "y0", "x1", "y1"), URBAN_CORE), n=n * 8)).all()
    out: dict[int, list[tuple[int, int]]] = {}
    for z in zooms:
        seen: dict[tuple[int, int], None] = {}
        for lon, lat in points:
            t = MERCATOR.tile(lon, lat, z)
            seen.setdefault((t.x, t.y))
            if len(seen) == n:
                break
        out[z] = list(seen)
    return out


def densest_tiles(engine, z: int, k: int = 3) -> list[tuple[int, int, int]]:
    """The `k` tiles at zoom z holding the most parcels (by bbox centre): (x, y, parcels)."""
    span = 2 * 20037508.342789244 / 2 ** z
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT x::int, y::int, n FROM (SELECT floor(((ST_XMin(geom_3857) + ST_XMax(geom_3857)) / 2 "
            "+ 20037508.342789244) / :s) AS x, floor((20037508.342789244 - (ST_YMin(geom_3857) + "
            "ST_YMax(geom_3857)) / 2) / :s) AS y, count(*) AS n FROM parcel_features GROUP BY 1, 2) t "
            "ORDER BY n DESC LIMIT :k"), {"s": span, "k": k}).all()]


def tile_statement(z: int, x: int, y: int) -> tuple[str, dict]:
    """The app's statement for a parcels tile (psycopg2 pyformat) and its parameters."""
    sql, params = mvt.statement(mvt.Tile("parcels", "WebMercatorQuad", z, x, y))
    return prepared._compile(sql)[3], params


def render_raw(engine, z: int, x: int, y: int) -> bytes:
    sql, params = tile_statement(z, x, y)
    conn = engine.raw_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""
    finally:
        conn.close()


def tile_sizes(engine, zooms: list[int]) -> dict[int, dict]:
    """Per zoom, the densest tiles' parcel counts and MVT sizes."""
    out = {}
    for z in zooms:
        dense = densest_tiles(engine, z)
        sizes = [(x, y, n, len(render_raw(engine, z, x, y))) for x, y, n in dense]
        out[z] = {"densest": [{"x": x, "y": y, "parcels": n, "bytes": b} for x, y, n, b in sizes],
                  "max_bytes": max(b for *_, b in sizes)}
        print(f"z{z} densest tiles: {out[z]['densest']}", file=sys.stderr)
    return out


# --- MapServer's MVT ----------------------------------------------------------------------------


class MapServerMVT(MapServer):
    """bench_mapserver's FastCGI MapServer (spawn-fcgi, lighttpd, start, stop) with the MVT mapfile."""

    name = "MapServer (MVT)"

    def configure(self) -> None:
        engine = create_engine(self.database_url)
        with engine.connect() as conn:
            ext = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                    "(SELECT ST_Extent(geom_3857) AS e FROM parcel_features) s")).one()
        engine.dispose()
        projlib = self.tmp / "proj"
        projlib.mkdir()
        for f in proj_data_dir().iterdir():
            if f.name != "epsg":
                (projlib / f.name).symlink_to(f)
        (projlib / "epsg").write_text(WEB_MERCATOR)
        subst = {"extent": " ".join(f"{v:.3f}" for v in ext), "onlineresource": f"http://127.0.0.1:{self.port}/wfs?",
                 "connection": self.connection, "mapfile": str(self.tmp / "parcels.map"),
                 "errorfile": str(self.tmp / "mapserver.log"), "projlib": str(projlib),
                 "port": self.port, "tmp": str(self.tmp), "socket": str(self.tmp / "mapserv.sock")}
        for name, template in (("parcels.map", "parcels_mvt.map.in"), ("mapserver.conf", "mapserver.conf.in"),
                               ("lighttpd.conf", "lighttpd.conf.in")):
            (self.tmp / name).write_text(Template((TEMPLATES / template).read_text()).substitute(subst))


def mapserver_url(z: int, x: int, y: int) -> str:
    return f"/wfs?mode=tile&tilemode=gmap&tile={x}+{y}+{z}&layers=landdb"


def app_url(z: int, x: int, y: int) -> str:
    return f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.read()


def content_of(body: bytes, *, inside: bool = False) -> collections.Counter:
    """The features of a tile, whatever its layers are named, as a multiset of their properties
    (with numbers rounded to 0.1); with `inside`, only features covering part of the tile proper
    (not only its margin)."""
    layers = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True}) if body else {}
    out: collections.Counter = collections.Counter()
    for layer in layers.values():
        square = box(0, 0, layer["extent"], layer["extent"])
        for f in layer["features"]:
            if inside and shape(f["geometry"]).intersection(square).area <= 0:
                continue
            out[tuple(sorted((k, round(v, 1) if isinstance(v, float) else v) for k, v in f["properties"].items()))] += 1
    return out


def check(engine, ms_base: str, app_base: str, tiles: dict[int, list], n: int) -> dict:
    """Abort unless the app's tiles hold what the raw statement renders, and MapServer's the same
    features inside the tile (MapServer fetches no margin around a tile) up to 1 % of them."""
    out = {}
    for z, xys in tiles.items():
        rows = []
        for x, y in xys[:n]:
            body = fetch(app_base + app_url(z, x, y))
            if content_of(body) != content_of(render_raw(engine, z, x, y)):
                raise SystemExit(f"z{z} {x},{y}: the app's tile holds other features than the raw statement's")
            ours, theirs = content_of(body, inside=True), content_of(fetch(ms_base + mapserver_url(z, x, y)), inside=True)
            n_ours, differ = sum(ours.values()), sum(((ours - theirs) + (theirs - ours)).values())
            if not n_ours or differ > 0.01 * n_ours:
                raise SystemExit(f"z{z} {x},{y}: landdb has {n_ours} features inside the tile, MapServer "
                                 f"{sum(theirs.values())}, {differ} differ: {list((ours - theirs).items())[:3]} / "
                                 f"{list((theirs - ours).items())[:3]}")
            rows.append((n_ours, differ))
        out[z] = rows
    print(f"checked: (features inside the tile, differing) per tile {out}", file=sys.stderr)
    return out


def mean_size(base: str, urls: list[str], n: int = 30) -> float:
    sizes = [len(fetch(base + u)) for u in urls[:n]]
    return sum(sizes) / len(sizes)


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_args(ap, port=8771)
    ap.add_argument("--mapserver-port", type=int, default=8772)
    ap.add_argument("--mapserv-procs", type=int, default=None, help="mapserv FastCGI processes (default: 2 × cores + 1)")
    ap.add_argument("--zooms", default="14,15,16,17")
    ap.add_argument("--size-zooms", default="12,13,14,15,16,17")
    ap.add_argument("--tiles", type=int, default=200, help="distinct tiles per zoom")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each cell (landdb and raw alternating, then MapServer); the best of each is kept")
    ap.add_argument("--check", type=int, default=5, help="tiles per zoom compared before measuring")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-mapserver", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_tiles.json"))
    args = ap.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url or DATABASE_URL (a database of its own holding the sample)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    with_ms = not args.no_mapserver
    if with_ms and not (os.access(MAPSERV, os.X_OK) and shutil.which("spawn-fcgi") and shutil.which("lighttpd")):
        raise SystemExit(INSTALL_HINT)
    resolve_server(args)
    url = normalize_url(args.database_url)
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    engine = create_engine(url)
    with engine.connect() as conn:
        n_parcels = conn.execute(text("SELECT count(*) FROM parcel_features")).scalar_one()
    zooms = [int(z) for z in args.zooms.split(",")]
    tiles = pick_tiles(engine, zooms, args.tiles, args.seed)
    sizes = tile_sizes(engine, [int(z) for z in args.size_zooms.split(",")])
    too_big = {z: s["max_bytes"] for z, s in sizes.items() if z >= mvt.PARCELS_MIN_ZOOM and s["max_bytes"] > MAX_TILE_BYTES}
    work = {z: [[tile_statement(z, x, y)] for x, y in xys] for z, xys in tiles.items()}
    urls = {z: [app_url(z, x, y) for x, y in xys] for z, xys in tiles.items()}
    ms_urls = {z: [mapserver_url(z, x, y) for x, y in xys] for z, xys in tiles.items()}
    load = os.getloadavg()
    results: dict = {"parcels": n_parcels, "concurrency": args.concurrency, "duration_s": args.duration,
                     "server": args.server, "workers": args.workers, "threads": args.threads, "repeat": args.repeat,
                     "cpus": os.cpu_count(), "loadavg_before": [round(v, 2) for v in load],
                     "urban_core": URBAN_CORE, "min_zoom": mvt.PARCELS_MIN_ZOOM, "sizes": sizes, "zooms": {}}
    if with_ms:
        results["mapserver"] = subprocess.run([MAPSERV, "-v"], capture_output=True, text=True).stdout.split(" OUTPUT=")[0]
    app_base, ms_base = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.mapserver_port}"
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as tmp:
        procs = args.mapserv_procs or fastcgi_procs()
        results["mapserv_procs"] = procs
        ms = MapServerMVT(url, args.mapserver_port, procs, Path(tmp)) if with_ms else None
        server = None
        try:
            if ms is not None:
                ms.start()
            server = start_server(url, args.port, args.workers, args.threads, server=args.server)
            if ms is not None:
                results["checked_parcels_per_tile"] = check(engine, ms_base, app_base, tiles, args.check)
            wrk_dir = Path(tmp) / "wrk"
            wrk_dir.mkdir()
            for z in zooms:
                row = {"tiles": len(urls[z]), "app_mean_bytes": mean_size(app_base, urls[z])}
                # app and raw alternate, best of --repeat each: a load that rises or falls during
                # the cell weighs on both sides alike.
                runs: dict = {"app": [], "raw": []}
                for _ in range(max(1, args.repeat)):
                    runs["app"].append(run_wrk(app_base, urls[z], args.concurrency, args.duration, wrk_dir,
                                               timeout=WRK_TIMEOUT))
                    runs["raw"].append(run_raw(dsn, work[z], args.concurrency, args.duration,
                                               generic=mvt.GENERIC_PLAN))
                for side, measured in runs.items():
                    row[side] = best_of(len(measured), iter(measured).__next__)
                row["app_vs_raw"] = row["app"]["rps"] / row["raw"]["rps"]
                if ms is not None:
                    row["mapserver_mean_bytes"] = mean_size(ms_base, ms_urls[z])
                    row["mapserver"] = best_of(args.repeat, lambda: run_wrk(ms_base, ms_urls[z], args.concurrency,
                                                                            args.duration, wrk_dir, timeout=WRK_TIMEOUT))
                    row["app_vs_mapserver"] = row["app"]["rps"] / row["mapserver"]["rps"]
                for side in ("app", "mapserver"):
                    if side in row and (row[side].get("non_2xx") or row[side].get("socket_errors")):
                        print(f"WARNING z{z} {side}: {row[side]}", file=sys.stderr)
                results["zooms"][z] = row
                print(f"z{z}: {json.dumps(row)}", file=sys.stderr)
        except BaseException:
            if ms is not None and ms.errors():
                print(f"MapServer's log (tail):\n{ms.errors()}", file=sys.stderr)
            raise
        finally:
            if server is not None:
                stop_server(server)
            if ms is not None:
                ms.stop()
    engine.dispose()
    results["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if too_big:
        raise SystemExit(f"tiles over {MAX_TILE_BYTES // 1000} KB: {too_big}")


def table(results: dict) -> str:
    ms = "mapserver" in results
    head = (f"{results['parcels']:,} current parcels; {results['concurrency']} concurrent clients; "
            f"{results['duration_s']:g} s per cell, best of {results['repeat']} (landdb and raw alternating); landdb on "
            f"{server_label(results)} (`landdb serve`'s command line)"
            + (f"; {results['mapserver']}, {results['mapserv_procs']} FastCGI processes behind lighttpd" if ms else "")
            + f". {results['cpus']} CPUs shared by the servers, PostGIS and wrk; load average "
            f"{results['loadavg_before'][0]:.1f} before, {results['loadavg_after'][0]:.1f} after.")
    cols = "| zoom | tiles | landdb tiles/s | p50 / p99 ms | raw PostGIS tiles/s | p50 / p99 ms | landdb ÷ raw "
    cols += "| MapServer tiles/s | p50 / p99 ms | landdb ÷ MapServer | mean tile KB (landdb / MapServer) |" if ms \
        else "| mean tile KB |"
    lines = [head, "", cols, "|" + "---|" * (cols.count("|") - 1)]
    for z, r in results["zooms"].items():
        a, w = r["app"], r["raw"]
        line = (f"| {z} | {r['tiles']} | {a['rps']:.0f} | {a['p50_ms']:.1f} / {a['p99_ms']:.1f} | {w['rps']:.0f} "
                f"| {w['p50_ms']:.1f} / {w['p99_ms']:.1f} | {r['app_vs_raw']:.2f} |")
        if ms:
            m = r["mapserver"]
            line += (f" {m['rps']:.0f} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {r['app_vs_mapserver']:.2f} "
                     f"| {r['app_mean_bytes'] / 1000:.1f} / {r['mapserver_mean_bytes'] / 1000:.1f} |")
        else:
            line += f" {r['app_mean_bytes'] / 1000:.1f} |"
        lines.append(line)
    lines += ["", "Densest tiles (parcels, KB) per zoom: " + "; ".join(
        f"z{z}: " + ", ".join(f"{d['parcels']} / {d['bytes'] / 1000:.0f}" for d in s["densest"])
        for z, s in results["sizes"].items())]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
