"""The seeded generator of the Hạ Long sample: layout → lots → history → a GeoPackage.

Same seed and size, same table contents; another seed, other data. The GeoPackage holds one
layer per register table (`admin_units` and `parcel_versions` with geometry in EPSG:5899, the
others plain tables), ready for `landdb.sample.load.load_sample`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from ..reference import read_table
from . import geography as geo
from . import history as hist
from . import layout as lay
from .geohash import encode

P_SPLIT = 0.05
P_MERGE = 0.35
TABLES = ("admin_units", "parties", "transactions", "certificates", "parcels", "parcel_versions",
          "parcel_lineage", "rights", "transaction_parcels")


def _unit_names() -> dict[str, tuple[str, str]]:
    out = {}
    for u in read_table("admin_units"):
        if u["valid_from"] == geo.PRE_2025 and u["level"] in ("ward", "commune"):
            out[u["code"]] = ("phường" if u["level"] == "ward" else "xã", u["name"])
    return out


def expected_unit_ids() -> dict[tuple[str, str], int]:
    """The ids `sync_reference_data` gives admin units in a new database (CSV order, from 1).

    Journal payloads name a parcel's ward by id, as the registry does; the loader checks these
    against the database and rewrites the payloads only if they differ.
    """
    return {(u["code"], u["valid_from"]): k for k, u in enumerate(read_table("admin_units"), start=1)}


def _first_date(rng: np.random.Generator, latest: dt.date) -> dt.date:
    span = (latest - hist.START).days
    return hist.business_day(hist.START + dt.timedelta(days=int(rng.beta(1.3, 2.4) * span)))


def _between(rng: np.random.Generator, lo: dt.date, hi: dt.date) -> dt.date:
    return hist.business_day(lo + dt.timedelta(days=int(rng.integers(1, max((hi - lo).days, 2)))))


class _Planner:
    def __init__(self, layout: lay.Layout, rng: np.random.Generator):
        self.layout = layout
        self.rng = rng
        self.lots: list[dict] = []
        self.intents: list[tuple] = []

    def lot(self, s: int, i: int, j: int, survey: bool, parent: int | None = None) -> int:
        self.lots.append({"strip": s, "i": i, "j": j, "survey": survey, "parent": parent})
        return len(self.lots) - 1

    def add(self, date, fam, step, kind, arg) -> None:
        self.intents.append((date, fam, step, len(self.intents), kind, arg))

    def plan(self) -> None:
        rng = self.rng
        by_strip: dict[int, list[tuple[int, int]]] = {}
        for s, i, j in self.layout.runs:
            by_strip.setdefault(s, []).append((i, j))
        fam = 0
        for s in sorted(by_strip):
            finals = by_strip[s]
            unit = self.layout.strips[s]["unit"]
            latest = hist.YET_KIEU_END if unit == "06682" else hist.END
            k = 0
            while k < len(finals):
                fam += 1
                r = rng.random()
                adjacent = k + 1 < len(finals) and finals[k][1] == finals[k + 1][0]
                if adjacent and r < P_SPLIT:
                    m = 3 if (k + 2 < len(finals) and finals[k + 1][1] == finals[k + 2][0] and rng.random() < 0.2) else 2
                    kids = finals[k:k + m]
                    parent = self.lot(s, kids[0][0], kids[-1][1], True)
                    children = [self.lot(s, i, j, False, parent) for i, j in kids]
                    d0 = _first_date(rng, min(latest, dt.date(2022, 12, 30)) - dt.timedelta(days=200))
                    ds = _between(rng, d0 + dt.timedelta(days=150), latest - dt.timedelta(days=20))
                    self.add(d0, fam, 0, "fr", [parent])
                    hist_events(self, rng, parent, d0, ds, fam)
                    self.add(ds, fam, 10**6, "split", (parent, children))
                    for c in children:
                        hist_events(self, rng, c, ds, hist.END, fam)
                    k += m
                    continue
                i, j = finals[k]
                if j - i >= 2 and r < P_SPLIT + P_MERGE:
                    m = i + int(rng.integers(1, j - i))
                    a, b = self.lot(s, i, m, True), self.lot(s, m, j, True)
                    res = self.lot(s, i, j, False, a)
                    d0 = _first_date(rng, min(latest, dt.date(2023, 6, 30)) - dt.timedelta(days=200))
                    dm = _between(rng, d0 + dt.timedelta(days=150), latest - dt.timedelta(days=20))
                    self.add(d0, fam, 0, "fr", [a, b])
                    self.add(dm, fam, 10**6, "merge", ([a, b], res))
                    hist_events(self, rng, res, dm, hist.END, fam)
                else:
                    h = self.lot(s, i, j, True)
                    d0 = _first_date(rng, latest)
                    self.add(d0, fam, 0, "fr", [h])
                    hist_events(self, rng, h, d0, hist.END, fam)
                k += 1


def hist_events(planner: _Planner, rng, h: int, since: dt.date, until: dt.date, fam: int) -> None:
    """Plan the events of lot `h` (its land use is decided later, so pass a stand-in)."""
    out: list = []
    proxy = _LotProxy(planner, h, since)
    hist.plan_events(rng, proxy, h, since, until, out, fam)
    for d, f, step, kind, arg in out:
        planner.add(d, f, step, kind, arg)


class _LotProxy:
    """What `plan_events` needs of a lot before the lot is built: its land use and unit."""

    def __init__(self, planner: _Planner, h: int, since: dt.date):
        spec = planner.lots[h]
        root = spec
        while root["parent"] is not None:
            root = planner.lots[root["parent"]]
        strip = planner.layout.strips[spec["strip"]]
        self.unit = strip["unit"]
        cls = strip["cls"]
        self.land_use = "BHK" if cls == "HNK" and since < hist.FORM_2024 else cls


def _sheets(layout: lay.Layout) -> dict[int, int]:
    """Map sheet number per cell: sequential within the unit, north-west first."""
    used = sorted({layout.strips[s]["cell"] for s, _, _ in layout.runs})
    by_unit: dict[str, list[int]] = {}
    for c in used:
        by_unit.setdefault(layout.cells[c]["unit"], []).append(c)
    sheet = {}
    for unit, cells in by_unit.items():
        cells.sort(key=lambda c: (-round(layout.cells[c]["cy"] / 100.0), layout.cells[c]["cx"]))
        for k, c in enumerate(cells, start=1):
            sheet[c] = k
    return sheet


def poles(geoms: np.ndarray) -> np.ndarray:
    """Pole of inaccessibility of each (one-part) polygon: the centre of its largest inscribed
    circle, found to within 1 % of the parcel's size (GEOS; much faster per part than per multi)."""
    parts = shapely.get_parts(geoms)
    if len(parts) != len(geoms):
        raise ValueError("poles() expects one polygon per parcel")
    tolerance = np.sqrt(shapely.area(parts)) / 100.0
    return shapely.get_point(shapely.maximum_inscribed_circle(parts, tolerance=tolerance), 0)


def national_ids(geoms: np.ndarray) -> np.ndarray:
    """The national parcel IDs: GeoHash (12) of each pole, converted to WGS 84 with pyproj."""
    pts = poles(geoms)
    t = pyproj.Transformer.from_crs(geo.SRID, 4326, always_xy=True)
    lon, lat = t.transform(shapely.get_x(pts), shapely.get_y(pts))
    return encode(np.asarray(lat), np.asarray(lon)), np.asarray(lat), np.asarray(lon)


def build_lots(layout: lay.Layout, planner: _Planner, rng: np.random.Generator) -> list[hist.Lot]:
    """Geometry, numbers, addresses, IDs and areas of every planned lot."""
    specs = planner.lots
    runs = [(p["strip"], p["i"], p["j"]) for p in specs]
    geoms = lay.polygons(layout, runs)
    wkts = shapely.to_wkb(shapely.set_srid(geoms, geo.SRID), hex=True, include_srid=True)
    areas = shapely.area(geoms)
    ids, lat, lon = national_ids(geoms)
    seen: dict[str, int] = {}
    for k, nid in enumerate(ids):
        if nid in seen:  # two lots whose poles fall in one 2 cm cell: take the next cell east
            ids[k] = encode(lat[k], lon[k] + 3.5e-7)[0]
        seen[ids[k]] = k
    sheets = _sheets(layout)
    names = _unit_names()
    plans = {p.code: p for p in geo.UNITS}
    cx = shapely.get_x(shapely.centroid(geoms))
    cy = shapely.get_y(shapely.centroid(geoms))

    # Street names: each unit's street lines take its names in turn.
    street_name: dict[tuple, str] = {}
    seen_streets: dict[str, int] = {}
    for key in sorted({st["street"] for st in layout.strips}):
        unit = key[0]
        streets = plans[unit].streets or (f"Đường {names[unit][1]}",)
        count = seen_streets.get(unit, 0)
        seen_streets[unit] = count + 1
        street_name[key] = streets[count % len(streets)]

    # Survey numbering: each sheet's surveyed lots in rows from the north, west to east.
    survey = [k for k, p in enumerate(specs) if p["survey"]]
    survey.sort(key=lambda k: (layout.strips[specs[k]["strip"]]["unit"], sheets[layout.strips[specs[k]["strip"]]["cell"]],
                               -round(cy[k] / 40.0), cx[k]))
    survey_no: dict[int, int] = {}
    counts: dict[tuple[str, int], int] = {}
    for k in survey:
        st = layout.strips[specs[k]["strip"]]
        key = (st["unit"], sheets[st["cell"]])
        counts[key] = counts.get(key, 0) + 1
        survey_no[k] = counts[key]
    planner.sheet_counts = counts

    # House numbers along each street side, for the street-facing classes.
    house_no: dict[int, int] = {}
    street_lots = [k for k in survey if layout.strips[specs[k]["strip"]]["cls"] in lay.URBAN_CLASSES]
    street_lots.sort(key=lambda k: (street_name[layout.strips[specs[k]["strip"]]["street"]],
                                    layout.strips[specs[k]["strip"]]["unit"],
                                    layout.strips[specs[k]["strip"]]["side"],
                                    layout.strips[specs[k]["strip"]]["u"], specs[k]["i"]))
    rank: dict[tuple, int] = {}
    for k in street_lots:
        st = layout.strips[specs[k]["strip"]]
        key = (street_name[st["street"]], st["unit"], st["side"])
        rank[key] = rank.get(key, 0) + 1
        house_no[k] = 2 * rank[key] - (1 if st["side"] == 0 else 0)

    pub = [c for c, _ in geo.PUBLIC_USES]
    pub_p = np.array([w for _, w in geo.PUBLIC_USES])
    lots: list[hist.Lot] = []
    suffix: dict[int, int] = {}
    for k, p in enumerate(specs):
        st = layout.strips[p["strip"]]
        unit = st["unit"]
        kind, wname = names[unit]
        sheet = sheets[st["cell"]]
        cls = st["cls"]
        if p["parent"] is not None and p["parent"] in house_no or k in house_no:
            if k in house_no:
                number = str(house_no[k])
            else:
                base = house_no[p["parent"]]
                n = suffix.get(p["parent"], 0)
                suffix[p["parent"]] = n + 1
                number = str(base) + ("" if n == 0 else "ABCDEFG"[n - 1])
            address = f"Số {number}, {street_name[st['street']]}, {kind} {wname}"
        elif kind == "xã":
            address = f"Thôn {(sheet - 1) // 3 + 1}, xã {wname}"
        else:
            address = f"Tổ {(sheet - 1) % 40 + 1}, khu {(sheet - 1) // 6 + 1}, phường {wname}"
        land_use = cls
        if cls == "PUB":
            land_use = pub[int(rng.choice(len(pub), p=pub_p / pub_p.sum()))]
        area = float(areas[k])
        legal = round(area, 1) if rng.random() < 0.3 else round(area * (1 + rng.normal(0, 0.008)), 1)
        lots.append(hist.Lot(
            strip=p["strip"], i=p["i"], j=p["j"], unit=unit, sheet=sheet, cls=cls, land_use=land_use,
            wkt="", ewkb=str(wkts[k]), area=area, legal_area=max(legal, 0.1), national_id=str(ids[k]), address=address,
            has_house=cls in ("ODT", "ONT") and bool(rng.random() < 0.45), survey_no=survey_no.get(k)))
    return lots, geoms


def generate(n_parcels: int, seed: int, out: Path, progress: bool = False) -> dict[str, int]:
    """Write a sample GeoPackage with about `n_parcels` current parcels to `out`.

    Returns the number of rows written per table.
    """
    rng = np.random.default_rng(seed)
    layout = lay.build(n_parcels, rng)
    planner = _Planner(layout, rng)
    planner.plan()
    lots, geoms = build_lots(layout, planner, rng)
    # First-registration land use of annual-crop lots: BHK before the 2024 law, HNK after.
    first: dict[int, dt.date] = {}
    for date, _, _, _, kind, arg in planner.intents:
        if kind == "fr":
            for h in arg:
                first[h] = date
    for h, lot in enumerate(lots):
        if lot.land_use == "HNK" and h in first and first[h] < hist.FORM_2024:
            lot.land_use = "BHK"

    reg = hist.Register(lots, rng, _unit_names(), {c: i for (c, vf), i in expected_unit_ids().items()
                                                   if vf == geo.PRE_2025})
    reg.sheet_next = {key: n + 1 for key, n in planner.sheet_counts.items()}
    intents = sorted(planner.intents, key=lambda t: (t[0], t[1], t[2], t[3]))
    bar = _progress(len(intents), progress)
    for date, _, _, _, kind, arg in intents:
        if kind == "fr":
            reg.first_registration(arg, date)
        elif kind in ("transfer", "inheritance", "gift"):
            reg.transfer(arg, date, kind)
        elif kind == "mortgage":
            reg.mortgage(arg, date)
        elif kind == "mortgage_release":
            reg.mortgage_release(arg, date)
        elif kind == "reissue":
            reg.reissue(arg, date)
        elif kind == "land_use_change":
            reg.land_use_change(arg[0], date, arg[1])
        elif kind == "split":
            reg.split(arg[0], arg[1], date)
        elif kind == "merge":
            reg.merge(arg[0], arg[1], date)
        if bar:
            bar.update()
    if bar:
        bar.close()
    return write(reg, geoms, Path(out))


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="registration", desc="history", mininterval=0.5)


def write(reg: hist.Register, geoms: np.ndarray, out: Path) -> dict[str, int]:
    """Write the register's rows and the unit boundaries to a GeoPackage (replacing it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    # A fixed timestamp in the GeoPackage's metadata keeps the file itself reproducible.
    os.environ.setdefault("OGR_CURRENT_DATE", "2026-11-01T00:00:00Z")
    counts = {}
    units = read_table("admin_units")
    b = geo.boundaries()
    ids = expected_unit_ids()
    rows = [{"id": ids[(u["code"], u["valid_from"])], "code": u["code"], "valid_from": u["valid_from"],
             "name": u["name"], "level": u["level"]}
            for u in units if (u["code"], u["valid_from"]) in b.units]
    ugeo = [b.units[(r["code"], r["valid_from"])] for r in rows]
    _write_layer(out, "admin_units", pd.DataFrame(rows), np.array(ugeo, dtype=object))
    counts["admin_units"] = len(rows)
    for name in TABLES[1:]:
        df = pd.DataFrame(reg.rows[name])
        geom = None
        if name == "parcel_versions":
            geom = geoms[df.pop("h").to_numpy()]
        for col in ("birth_year", "opened_by_tx", "closed_by_tx", "certificate_id"):
            if col in df:
                df[col] = df[col].astype("Int64")
        _write_layer(out, name, df, geom)
        counts[name] = len(df)
    return counts


def _write_layer(out: Path, name: str, df: pd.DataFrame, geom) -> None:
    if geom is None:
        pyogrio.write_dataframe(df, out, layer=name, driver="GPKG", append=out.exists())
        return
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geom, crs=f"EPSG:{geo.SRID}"))
    pyogrio.write_dataframe(gdf, out, layer=name, driver="GPKG", append=out.exists(),
                            geometry_type="MultiPolygon", layer_options={"SPATIAL_INDEX": "NO"})
