"""Lays parcels out along streets: each unit's land is cut into 200 m cells (one map sheet
each) on a rotated street grid; a cell holds rows of blocks, a block two strips of lots back to
back, each strip facing its street. Lots are "atoms" between division lines; a parcel is a run
of consecutive atoms of one strip, so neighbours share exactly the same vertices and a split's
children are exactly their parent, vertex for vertex.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from . import geography as geo

CELL = 200.0

#: Per block class: strip depth, lot (atom) width, street width between block rows, block length
#: along the street, cross-street width, probabilities that a parcel spans 1/2/3 atoms, and how
#: far the division lines lean (fraction of the narrowest width).
CLASSES: dict[str, dict] = {
    "ODT": dict(depth=(12, 20), width=(4.0, 6.0), street=(6, 10), block=(60, 110), cross=4, runs=(0.74, 0.26, 0.0), lean=0.05),
    "TMD": dict(depth=(25, 45), width=(14, 30), street=(10, 16), block=(90, 180), cross=8, runs=(0.88, 0.12, 0.0), lean=0.1),
    "PUB": dict(depth=(28, 45), width=(25, 50), street=(10, 14), block=(100, 180), cross=8, runs=(1.0, 0.0, 0.0), lean=0.05),
    "SKS": dict(depth=(80, 92), width=(50, 120), street=(3, 4), block=(185, 190), cross=0, runs=(0.9, 0.1, 0.0), lean=0.3),
    "SKX": dict(depth=(40, 60), width=(30, 70), street=(8, 12), block=(180, 190), cross=0, runs=(0.9, 0.1, 0.0), lean=0.2),
    "SKC": dict(depth=(40, 60), width=(30, 70), street=(8, 12), block=(180, 190), cross=0, runs=(0.9, 0.1, 0.0), lean=0.2),
    "NTS": dict(depth=(30, 45), width=(20, 45), street=(3, 5), block=(185, 190), cross=0, runs=(0.9, 0.1, 0.0), lean=0.25),
    "LUC": dict(depth=(20, 40), width=(8, 25), street=(2, 4), block=(185, 190), cross=0, runs=(0.85, 0.15, 0.0), lean=0.3),
    "HNK": dict(depth=(15, 35), width=(8, 20), street=(2, 4), block=(185, 190), cross=0, runs=(0.85, 0.15, 0.0), lean=0.3),
    "CLN": dict(depth=(25, 45), width=(15, 35), street=(3, 5), block=(185, 190), cross=0, runs=(0.85, 0.15, 0.0), lean=0.3),
    "ONT": dict(depth=(20, 32), width=(8, 15), street=(4, 6), block=(80, 190), cross=4, runs=(0.8, 0.2, 0.0), lean=0.15),
    "RSX": dict(depth=(85, 92), width=(40, 110), street=(3, 4), block=(185, 190), cross=0, runs=(0.9, 0.1, 0.0), lean=0.3),
}
URBAN_CLASSES = {"ODT", "TMD", "PUB"}


@dataclass
class Layout:
    """The laid-out atoms and the final (current) parcels as runs of atoms."""

    #: point pool in EPSG:5899 (already rounded to the millimetre).
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: one row per strip: unit code, cell id, class, zone, atom count, first front/back point,
    #: street key and side (0 odd, 1 even), order within the cell.
    strips: list[dict] = field(default_factory=list)
    #: cells: unit code, centre (x, y); sheet number once assigned.
    cells: list[dict] = field(default_factory=list)
    #: final parcels: (strip, first atom, end atom).
    runs: list[tuple[int, int, int]] = field(default_factory=list)


def _cells_for_unit(plan: geo.UnitPlan, territory, extent, rng: np.random.Generator):
    """Candidate cells of a unit, nearest its centre first (with a little noise)."""
    ox, oy = geo.to_5899(plan.lon, plan.lat)
    ox = float(ox) + rng.uniform(-CELL / 2, CELL / 2)
    oy = float(oy) + rng.uniform(-CELL / 2, CELL / 2)
    th = np.radians(plan.angle)
    d = np.array([np.cos(th), np.sin(th)])
    n = np.array([-np.sin(th), np.cos(th)])
    area = shapely.intersection(territory, extent)
    if area.is_empty:
        return ox, oy, d, n, []
    x0, y0, x1, y1 = area.bounds
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) - [ox, oy]
    us, vs = corners @ d, corners @ n
    cols = np.arange(np.floor(us.min() / CELL), np.ceil(us.max() / CELL))
    rows = np.arange(np.floor(vs.min() / CELL), np.ceil(vs.max() / CELL))
    cc, rr = np.meshgrid(cols, rows)
    cc, rr = cc.ravel(), rr.ravel()
    quad = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=float) * CELL
    u = cc[:, None] * CELL + quad[None, :, 0]
    v = rr[:, None] * CELL + quad[None, :, 1]
    px = ox + u * d[0] + v * n[0]
    py = oy + u * d[1] + v * n[1]
    polys = shapely.polygons(np.stack([px, py], axis=-1))
    shapely.prepare(area)
    ok = shapely.contains(area, polys)
    cx, cy = px[:, :4].mean(axis=1), py[:, :4].mean(axis=1)
    dist = np.hypot(cx - ox, cy - oy) * rng.uniform(1.0, 1.35, cx.size)
    order = np.argsort(dist[ok], kind="stable")
    idx = np.flatnonzero(ok)[order]
    return ox, oy, d, n, [(float(cc[i]), float(rr[i]), float(cx[i]), float(cy[i])) for i in idx]


#: Where a zone lies relative to the unit's centre: (weight of "north of it", of "near it").
#: Mines and forest are up in the hills north of the town, ponds and fields down by the coast.
ZONE_BIAS = {"mining": (1.2, 0.5), "forest": (1.0, 0.6), "aquaculture": (-1.2, 0.5), "farmland": (-0.4, 0.8),
             "industry": (0.5, 0.8)}


def _take(queue: list, frame, zone: str):
    """The next cell for `zone`: the nearest for the town, else nearest its side of the unit."""
    if zone not in ZONE_BIAS or len(queue) == 1:
        return queue.pop(0)
    ox, oy, _, _ = frame
    north, near = ZONE_BIAS[zone]
    best = min(range(len(queue)),
               key=lambda k: near * np.hypot(queue[k][2] - ox, queue[k][3] - oy) - north * (queue[k][3] - oy))
    return queue.pop(best)


def _pick(rng: np.random.Generator, table) -> str:
    names = [t[0] for t in table]
    p = np.array([t[1] for t in table], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _quotas(n: int, weights: dict[str, float]) -> dict[str, int]:
    total = sum(weights.values())
    raw = {k: n * w / total for k, w in weights.items()}
    q = {k: int(np.floor(v)) for k, v in raw.items()}
    rest = n - sum(q.values())
    for k in sorted(raw, key=lambda k: (q[k] - raw[k], k))[:rest]:
        q[k] += 1
    return q


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.xs: list[np.ndarray] = []
        self.ys: list[np.ndarray] = []
        self.npts = 0
        self.layout = Layout()
        self.zone_laid: dict[tuple[str, str], dict[str, float]] = {}
        self.zone_total: dict[tuple[str, str], float] = {}

    def fill_cell(self, plan: geo.UnitPlan, frame, cell, zone: str, want: float) -> float:
        """Lay block rows in one cell until about `want` parcels; returns the parcels laid."""
        rng = self.rng
        ox, oy, d, n = frame
        col, row, cx, cy = cell
        cell_id = len(self.layout.cells)
        self.layout.cells.append({"unit": plan.code, "cx": cx, "cy": cy, "zone": zone})
        margin = 5.0 if zone in ("urban", "tourist") else 2.0
        laid = 0.0
        v = margin
        order = 0
        # Each row takes the class furthest behind its share of the zone's parcels, so the mix
        # holds at any size (a small quota still shows every use of the zone).
        mix = geo.ZONES[zone]
        done = self.zone_laid.setdefault((plan.code, zone), {})
        total = self.zone_total[(plan.code, zone)]
        while laid < want:
            deficits = [share * total - done.get(c, 0.0) for c, share in mix]
            k = int(np.argmax(deficits))
            cls = mix[k][0]
            p = CLASSES[cls]
            da, db = rng.uniform(*p["depth"], 2)
            if v + da + db > CELL - margin:
                break
            mean_run = float(np.dot(p["runs"], [1, 2, 3]))
            u = margin
            while u + p["block"][0] * 0.5 <= CELL - margin and laid < want:
                need = min(want - laid, max(share_left := mix[k][1] * total - done.get(cls, 0.0), 1.0))
                length = min(rng.uniform(*p["block"]), CELL - margin - u)
                cap = int(np.ceil(need * mean_run / 2.0))
                length = min(length, max(cap, 1) * float(np.mean(p["width"])))
                got = self._block(plan, frame, cell_id, col, row, cls, zone, u, v, length, da, db, order) / mean_run
                laid += got
                done[cls] = done.get(cls, 0.0) + got
                order += 2
                u += length + p["cross"]
                if share_left - got <= 0:
                    break
            v += da + db + rng.uniform(*p["street"])
        return laid

    def _block(self, plan, frame, cell_id, col, row, cls, zone, u0, v0, length, da, db, order) -> int:
        rng = self.rng
        ox, oy, d, n = frame
        p = CLASSES[cls]
        k = max(1, int(round(length / np.mean(p["width"]))))
        w = rng.uniform(*p["width"], k)
        ub = np.concatenate([[0.0], np.cumsum(w)]) * (length / w.sum())
        lean = p["lean"] * p["width"][0]
        ua, uc = ub.copy(), ub.copy()
        if k > 1:
            ua[1:-1] += rng.uniform(-lean, lean, k - 1)
            uc[1:-1] += rng.uniform(-lean, lean, k - 1)
        U = col * CELL + u0 + np.concatenate([ua, ub, uc])
        V = row * CELL + v0 + np.concatenate([np.zeros(k + 1), np.full(k + 1, da), np.full(k + 1, da + db)])
        X = ox + U * d[0] + V * n[0]
        Y = oy + U * d[1] + V * n[1]
        # Integer millimetres, then metres: the doubles print and parse back exactly.
        self.xs.append(np.rint(X * 1000.0) / 1000.0)
        self.ys.append(np.rint(Y * 1000.0) / 1000.0)
        base = self.npts
        self.npts += 3 * (k + 1)
        street_a = (plan.code, round(row * CELL + v0, 1))
        street_b = (plan.code, round(row * CELL + v0 + da + db, 1))
        u_abs = col * CELL + u0
        common = dict(unit=plan.code, cell=cell_id, cls=cls, zone=zone, n=k, u=u_abs)
        self.layout.strips.append(dict(common, front=base, back=base + k + 1, street=street_a, side=1,
                                       order=order))
        self.layout.strips.append(dict(common, front=base + 2 * (k + 1), back=base + k + 1,
                                       street=street_b, side=0, order=order + 1))
        return 2 * k

    def finish(self) -> Layout:
        self.layout.x = np.concatenate(self.xs) if self.xs else np.zeros(0)
        self.layout.y = np.concatenate(self.ys) if self.ys else np.zeros(0)
        return self.layout


def build(n_parcels: int, rng: np.random.Generator) -> Layout:
    """Lay out about `n_parcels` current parcels over the units, by their weights and zones."""
    b = geo.boundaries()
    extent = geo.parcel_extent()
    plans = [p for p in geo.UNITS if p.weight > 0]
    quota = _quotas(n_parcels, {p.code: p.weight for p in plans})
    builder = _Builder(rng)
    frames = {}
    queues = {}
    for plan in plans:
        ox, oy, d, n, cells = _cells_for_unit(plan, b.territory[plan.code], extent, rng)
        frames[plan.code] = (ox, oy, d, n)
        queues[plan.code] = cells
    shortage = 0.0
    for plan in plans:
        zq = _quotas(quota[plan.code], dict(plan.zones))
        for zone, _ in plan.zones:
            want = float(zq[zone])
            builder.zone_total[(plan.code, zone)] = want
            while want > 0.5 and queues[plan.code]:
                cell = _take(queues[plan.code], frames[plan.code], zone)
                want -= builder.fill_cell(plan, frames[plan.code], cell, zone, want)
            shortage += max(want, 0.0)
    # Units that ran out of land: the others take up the rest in their first zone.
    for plan in sorted(plans, key=lambda p: -p.weight):
        key = (plan.code, plan.zones[0][0])
        builder.zone_total[key] = builder.zone_total.get(key, 0.0) + shortage
        while shortage > 0.5 and queues[plan.code]:
            shortage -= builder.fill_cell(plan, frames[plan.code], queues[plan.code].pop(0),
                                          plan.zones[0][0], shortage)
    layout = builder.finish()
    _cut_runs(layout, n_parcels, rng)
    return layout


def _cut_runs(layout: Layout, n_parcels: int, rng: np.random.Generator) -> None:
    """Group each strip's atoms into the current parcels; trim the total to `n_parcels`."""
    runs = []
    for s, strip in enumerate(layout.strips):
        p = CLASSES[strip["cls"]]["runs"]
        sizes = rng.choice(3, size=strip["n"], p=np.array(p) / sum(p)) + 1
        i = 0
        for size in sizes:
            if i >= strip["n"]:
                break
            j = min(i + int(size), strip["n"])
            runs.append((s, i, j))
            i = j
    # Over-laid: leave lots at the ends of the last-laid strips empty (vacant land).
    excess = len(runs) - n_parcels
    k = len(runs) - 1
    drop = set()
    while excess > 0 and k > 0:
        if runs[k][0] != runs[k - 1][0] or k % 3 == 0:
            drop.add(k)
            excess -= 1
        k -= 1
    layout.runs = [r for i, r in enumerate(runs) if i not in drop]


def polygons(layout: Layout, runs: list[tuple[int, int, int]]) -> np.ndarray:
    """MultiPolygons (EPSG:5899) of runs of atoms: front line out, back line home."""
    strips = layout.strips
    idx_parts = []
    ring_ids = []
    for k, (s, i, j) in enumerate(runs):
        st = strips[s]
        f, b = st["front"], st["back"]
        ring = list(range(f + i, f + j + 1)) + list(range(b + j, b + i - 1, -1)) + [f + i]
        idx_parts.append(ring)
        ring_ids.append(len(ring))
    flat = np.fromiter((v for ring in idx_parts for v in ring), dtype=np.int64)
    ids = np.repeat(np.arange(len(runs)), ring_ids)
    coords = np.column_stack([layout.x[flat], layout.y[flat]])
    rings = shapely.linearrings(coords, indices=ids)
    polys = shapely.polygons(rings)
    polys = shapely.orient_polygons(polys)
    return shapely.multipolygons(polys, indices=np.arange(len(runs)))
