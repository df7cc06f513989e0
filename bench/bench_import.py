"""Import benchmark: `landdb import` of a 200 000-parcel layer into a fresh database (parcels/s, peak RSS).

    .venv/bin/python bench/bench_import.py --server postgresql://landdb@127.0.0.1:54329/postgres

Creates (drops first) the database `landdb_bench_import` on that server, migrates it with
`landdb db upgrade`, writes the import file, then runs `landdb import FILE` twice in a child
process: the first run imports everything, the second must be a no-op. Wall time and the
child's peak resident memory (getrusage RUSAGE_CHILDREN, Linux: kB) are printed as a Markdown
table row for bench/RESULTS.md.

The file comes from the sample generator's GeoPackage (`--sample sample_parcels/big/halong_200000.gpkg`,
made by `landdb sample generate --parcels 200000`; flattened into one polygon layer of the active
parcels' current versions with ward_code, sheet_no, parcel_no, land_use, legal_area_m2, address,
national_id) or, without `--sample`, from the synthetic layout below: row-house lots along streets in blocks, one district
of blocks per ward of today's Hạ Long, in EPSG:5899.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from landdb.db import normalize_url

ROOT = Path(__file__).resolve().parent.parent
LANDDB = [str(Path(sys.executable).with_name("landdb"))]

#: Wards formed on 1 July 2025 and a south-west corner (EPSG:5899) for each one's district of
#: blocks; spread over Hạ Long, clear of the tests' empty area (E 445–447 km, N 2 335–2 337 km).
WARDS = [
    ("06685", "Hồng Gai", (427_000, 2_316_000)),
    ("06688", "Hạ Long", (431_000, 2_316_000)),
    ("06673", "Bãi Cháy", (421_000, 2_316_000)),
    ("06652", "Hà Tu", (435_000, 2_318_000)),
    ("06676", "Hà Lầm", (431_000, 2_319_500)),
    ("06658", "Cao Xanh", (427_000, 2_319_500)),
    ("06661", "Việt Hưng", (417_000, 2_320_000)),
    ("06706", "Tuần Châu", (415_000, 2_314_000)),
]
STREETS = ["Lê Thánh Tông", "Trần Hưng Đạo", "Nguyễn Văn Cừ", "Hạ Long", "Cao Thắng", "Giếng Đáy", "Hậu Cần",
           "Vườn Đào", "Kênh Liêm", "Bến Đoan", "Anh Đào", "Tuần Châu", "Hoàng Quốc Việt", "Nguyễn Văn Linh"]
LAND_USES = (["ODT"] * 80 + ["TMD"] * 6 + ["SKC"] * 3 + ["DGD", "DYT", "TSC", "CLN", "CLN", "HNK", "NTS", "DGT",
             "TON", "NTD", "DTT"])

LOTS_PER_ROW = 20
STREET_M = 12.0


def synthetic(parcels: int, seed: int = 20250701) -> gpd.GeoDataFrame:
    """Row-house lots (frontage 4–6 m, depth 15–22 m) two rows back to back per block, blocks
    in a grid separated by 12 m streets, each ward's grid turned a few degrees; neighbours share
    their edges exactly (vertices computed once, rounded to the millimetre)."""
    rng = np.random.default_rng(seed)
    per_ward = -(-parcels // len(WARDS))
    frames = []
    for w, (code, name, (ox, oy)) in enumerate(WARDS):
        n = min(per_ward, parcels - w * per_ward)
        if n <= 0:
            break
        rows_needed = -(-n // LOTS_PER_ROW)
        blocks = -(-rows_needed // 2)
        cols = int(np.ceil(np.sqrt(blocks * 0.42)))  # about square districts
        angle = np.deg2rad(rng.uniform(-25, 25))
        cos, sin = np.cos(angle), np.sin(angle)
        polys, sheets, numbers, addresses = [], [], [], []
        block_width = LOTS_PER_ROW * 6.0 + STREET_M
        for b in range(blocks):
            bx, by = (b % cols) * block_width, (b // cols) * (2 * 22.0 + STREET_M)
            depth = rng.uniform(15, 22)
            street = STREETS[(b // cols + w) % len(STREETS)]
            for r in range(2):
                widths = rng.uniform(4, 6, LOTS_PER_ROW)
                xs = bx + np.concatenate([[0.0], np.cumsum(widths)])
                y0, y1 = (by, by + depth) if r == 0 else (by + depth, by + 2 * depth)
                # corners in the ward's turned frame, each computed once so neighbours share them
                px = np.round(ox + xs * cos - np.array([[y0], [y1]]) * sin, 3)
                py = np.round(oy + xs * sin + np.array([[y0], [y1]]) * cos, 3)
                for k in range(LOTS_PER_ROW):
                    ring = [(px[0, k], py[0, k]), (px[0, k + 1], py[0, k + 1]), (px[1, k + 1], py[1, k + 1]),
                            (px[1, k], py[1, k]), (px[0, k], py[0, k])]
                    polys.append(ring)
                    sheets.append(1 + b // 25)
                    numbers.append(1 + (b % 25) * 2 * LOTS_PER_ROW + r * LOTS_PER_ROW + k)
                    addresses.append(f"Số {2 * k + r + 1}, phố {street}, phường {name}")
        polys, sheets, numbers, addresses = polys[:n], sheets[:n], numbers[:n], addresses[:n]
        geoms = shapely.polygons(np.array(polys))
        area = shapely.area(geoms)
        frames.append(gpd.GeoDataFrame({
            "ward_code": code, "sheet_no": sheets, "parcel_no": numbers,
            "land_use": rng.choice(LAND_USES, n),
            # the certificate's area differs a little from the drawn one, as in real registers
            "legal_area_m2": np.round(area * rng.uniform(0.985, 1.015, n), 1),
            "address": addresses,
        }, geometry=geoms, crs="EPSG:5899"))
    import pandas as pd

    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:5899")


def from_sample(path: Path) -> gpd.GeoDataFrame:
    """Flatten the sample generator's GeoPackage (parcels + parcel_versions layers) into one
    polygon layer of the active parcels' current versions, with the import fields."""
    parcels = pyogrio.read_dataframe(path, layer="parcels", read_geometry=False,
                                     columns=["id", "ward_code", "sheet_no", "parcel_no", "national_id", "retired_on"])
    versions = pyogrio.read_dataframe(path, layer="parcel_versions",
                                      columns=["parcel_id", "valid_to", "land_use", "legal_area_m2", "address"])
    parcels = parcels[parcels["retired_on"].isna()].drop(columns="retired_on")
    versions = versions[versions["valid_to"].isna()].drop(columns="valid_to")
    flat = versions.merge(parcels, left_on="parcel_id", right_on="id").drop(columns=["id", "parcel_id"])
    return gpd.GeoDataFrame(flat[["ward_code", "sheet_no", "parcel_no", "land_use", "legal_area_m2", "address",
                                  "national_id", "geometry"]], geometry="geometry", crs=versions.crs)


def fresh_database(server: str, name: str) -> str:
    server = normalize_url(server)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    subprocess.run([*LANDDB, "db", "upgrade"], check=True, env={**os.environ, "DATABASE_URL": url},
                   stdout=subprocess.DEVNULL)
    return url


def run_import(url: str, path: Path, date: str) -> tuple[float, int, str]:
    """Run `landdb import` in a child; return wall seconds, its peak RSS (MiB, from wait4) and output."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*LANDDB, "import", str(path), "--date", date],
                                env={**os.environ, "DATABASE_URL": url}, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().strip()
    if proc.returncode != 0:
        sys.exit(f"import failed ({proc.returncode}):\n{output[-4000:]}")
    return seconds, usage.ru_maxrss // 1024, output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="URL of a server where this user may create databases")
    ap.add_argument("--database", default="landdb_bench_import")
    ap.add_argument("--parcels", type=int, default=200_000)
    ap.add_argument("--sample", type=Path, help="the sample generator's GeoPackage to flatten instead")
    ap.add_argument("--out", type=Path, default=Path("/tmp/landdb_bench_import.gpkg"))
    ap.add_argument("--date", help="registration date given to the import (default: one on which the wards exist)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    gdf = from_sample(args.sample) if args.sample else synthetic(args.parcels)
    # The sample registers every parcel under the wards of before the 2025 reorganisation
    # (Yết Kiêu until 1 Nov 2024); the synthetic layout uses today's wards.
    date = args.date or ("2024-06-01" if args.sample else "2025-08-01")
    args.out.unlink(missing_ok=True)
    pyogrio.write_dataframe(gdf, args.out, layer="parcels", driver="GPKG")
    print(f"input: {len(gdf)} parcels, {args.out.stat().st_size / 2**20:.0f} MiB GeoPackage "
          f"({'sample ' + str(args.sample) if args.sample else 'synthetic'}), built in {time.perf_counter() - t0:.1f} s")
    del gdf

    url = fresh_database(args.server, args.database)
    first, rss, out1 = run_import(url, args.out, date)
    print(out1.splitlines()[-1])
    second, _, out2 = run_import(url, args.out, date)
    print(out2.splitlines()[-1])
    engine = create_engine(url)
    with engine.connect() as conn:
        parcels = conn.execute(text("SELECT count(*) FROM parcels")).scalar_one()
        journal = conn.execute(text("SELECT count(*) FROM transactions WHERE kind = 'import'")).scalar_one()
    engine.dispose()
    print(f"database: {parcels} parcels, {journal} import journal row(s)")
    print()
    print("| parcels | first import | parcels/s | peak RSS | second import (no-op) | machine |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    print(f"| {parcels:,} | {first:.1f} s | {parcels / first:,.0f} | {rss:,} MiB | {second:.1f} s | "
          f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()} |")


if __name__ == "__main__":
    main()
