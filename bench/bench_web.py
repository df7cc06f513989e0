"""The web application's pages on a large register: latency of each page, beside the core's queries.

Starts the app as `make run` does (gunicorn), signs in an officer, and times one request at a
time (what one officer feels; the target is < 300 ms per page) for random parcels: the map page,
each kind of search, the parcel card (public, as of a day, and an officer's with owners and its
access-log write), the card at a map click, the vector tiles the map draws and the extract
PDF. Beside each page it times the core's own reads for the same inputs called in-process on a
plain connection (the "raw" cost the page builds on), so the ratio shows what the web layer adds.

    .venv/bin/python bench/bench_web.py --database-url postgresql://…/web200k --n 40
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import math
import os
import random
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.harness import start_server, stop_server  # noqa: E402
from landdb import lookup, parcels, users  # noqa: E402
from landdb.db import normalize_url  # noqa: E402

PASSWORD = "bench password 1"


def _opener():
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def _get(opener, url: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    try:
        with opener.open(url, timeout=30) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:  # 302 of a search that found one parcel
        body, status = exc.read(), exc.code
    return (time.perf_counter() - t0) * 1000, status, len(body)


def _tile_url(lon: float, lat: float, z: int) -> str:
    """The parcels tile (WebMercatorQuad z/y/x) holding (lon, lat), as the web map requests it."""
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"


def _stats(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"n": len(ms), "p50": round(statistics.median(ms), 1), "p95": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "max": round(ms[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), required=not os.environ.get("DATABASE_URL"))
    ap.add_argument("--port", type=int, default=8741)
    ap.add_argument("--n", type=int, default=40, help="parcels per page kind")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_web.json")))
    args = ap.parse_args()

    args.database_url = normalize_url(args.database_url)
    engine = create_engine(args.database_url)
    with Session(engine) as s, s.begin():
        if s.execute(text("SELECT 1 FROM users WHERE username = 'bench.officer'")).first() is None:
            users.create_user(s, "bench.officer", "officer", PASSWORD)
        else:
            users.reset_password(s, "bench.officer", PASSWORD)
        rows = s.execute(text(r"""
            SELECT p.parcel_code, p.national_id, v.address, c.serial, q.full_name,
                   ST_X(pt) AS lon, ST_Y(pt) AS lat
              FROM parcels p TABLESAMPLE SYSTEM (2)
              JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
              JOIN rights r ON r.parcel_id = p.id AND r.valid_to IS NULL AND r.kind = 'land_use_right'
              JOIN parties q ON q.id = r.party_id
              LEFT JOIN certificates c ON c.id = r.certificate_id,
              LATERAL ST_Transform(ST_PointOnSurface(v.geom), 4326) pt
             WHERE p.retired_on IS NULL AND v.address ~ '^Số [0-9]+, '""")).all()
        count = s.execute(text("SELECT count(*) FROM parcels")).scalar()
    random.seed(13)
    picks = random.sample(rows, min(args.n, len(rows)))
    proc = start_server(args.database_url, args.port, workers=args.workers,
                        env={"LANDDB_SECRET_KEY": "bench", "LANDDB_WEB_SIGNIN_RATE_LIMIT": ""})
    base = f"http://127.0.0.1:{args.port}"
    try:
        public, officer = _opener(), _opener()
        page = officer.open(base + "/sign-in").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": "bench.officer", "password": PASSWORD, "csrf_token": token}).encode()
        try:
            officer.open(base + "/sign-in", data=data)
        except urllib.error.HTTPError as exc:
            assert exc.code == 302, exc.code
        pages = {
            "map page /": lambda r: (public, "/"),
            "search: parcel code": lambda r: (public, "/search?q=" + r.parcel_code),
            "search: address words": lambda r: (public, "/search?q=" + urllib.parse.quote(
                lookup.fold(re.match(r"Số (\d+), ([^,]+)", r.address).group(2)) + " "
                + re.match(r"Số (\d+)", r.address).group(1))),
            "search: certificate serial": lambda r: (public, "/search?q=" + urllib.parse.quote(r.serial or "AA 000000")),
            "search: national ID": lambda r: (public, "/search?q=" + (r.national_id or "w7sp00000000")),
            "search: owner name (officer)": lambda r: (officer, "/search?q=" + urllib.parse.quote(lookup.fold(r.full_name))),
            # the commonest case for a Vietnamese name: family and middle name only ("nguyen van"),
            # tens of thousands of owners
            "search: owner name, first two words (officer)": lambda r: (
                officer, "/search?q=" + urllib.parse.quote(" ".join(lookup.fold(r.full_name).split()[:2]))),
            "card (public)": lambda r: (public, "/parcel/" + r.parcel_code),
            "card as of 2020-01-01": lambda r: (public, "/parcel/" + r.parcel_code + "?at=2020-01-01"),
            "card with owners (officer, logged)": lambda r: (officer, "/parcel/" + r.parcel_code),
            "card at a map click": lambda r: (public, f"/parcel-at?lon={r.lon:.7f}&lat={r.lat:.7f}"),
            # the map draws the OGC vector tiles: the tile under the parcel at z16 (the district
            # around it) and at z18 (about what a card's view asks for)
            "map tile: parcels z16 (MVT)": lambda r: (public, _tile_url(r.lon, r.lat, 16)),
            "map tile: parcels z18 (MVT)": lambda r: (public, _tile_url(r.lon, r.lat, 18)),
            "extract PDF": lambda r: (public, "/parcel/" + r.parcel_code + "/extract.pdf"),
        }
        results = {}
        for name, make in pages.items():
            for r in picks[:3]:  # warm the workers' caches and prepared statements
                op, url = make(r)
                _get(op, base + url)
            times, statuses = [], set()
            for r in picks:
                op, url = make(r)
                ms, status, _size = _get(op, base + url)
                times.append(ms)
                statuses.add(status)
            results[name] = {**_stats(times), "statuses": sorted(statuses)}
        # the core's reads for a card, in-process, as the baseline
        raw = []
        with Session(engine) as s:
            for r in picks:
                t0 = time.perf_counter()
                parcels.get_parcel(s, r.parcel_code)
                parcels.parcel_history(s, r.parcel_code)
                parcels.parcel_rights(s, r.parcel_code, personal=True)
                raw.append((time.perf_counter() - t0) * 1000)
                s.rollback()
        results["core reads of a card (in-process)"] = _stats(raw)
    finally:
        stop_server(proc)
    load = os.getloadavg()
    out = {"parcels": count, "n": len(picks), "loadavg": [round(x, 2) for x in load], "pages": results}
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"{count} parcels, {len(picks)} per page, load {load[0]:.1f}")
    print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses")
    for name, r in results.items():
        print(f"{name:40} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f}  {r.get('statuses', '')}")


if __name__ == "__main__":
    main()
