"""Hand-made geography of Hạ Long for the sample: a rough coastline, ward seeds, plausible
ward boundaries before and after the 1 July 2025 reorganisation, land-use zones and street names.

The codes and names are the reference rows (`landdb/data/admin_units.csv`); the seed points are
near the real places (DOMAIN.md); the boundaries are Voronoi cells of those seeds clipped to a
hand-drawn land polygon, so they are plausible, not surveyed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from ..reference import read_table

SRID = 5899
PRE_2025 = "2020-01-01"
POST_2025 = "2025-07-01"
#: Tests put their own parcels in this square (EPSG:5899); the sample leaves it empty.
TEST_SQUARE = box(445_000, 2_335_000, 447_000, 2_337_000)
#: Where the sample puts parcels (lon/lat): the built-up south of the former city.
PARCEL_EXTENT_LONLAT = (106.90, 20.90, 107.21, 21.05)

#: Hạ Long Bay south of the mainland coast (lon, lat), west to east.
_COAST = [
    (106.80, 20.978), (106.90, 20.972), (106.94, 20.963), (106.965, 20.953), (106.985, 20.946),
    (107.00, 20.944), (107.02, 20.946), (107.045, 20.9488), (107.056, 20.9500), (107.063, 20.9500),
    (107.070, 20.9462), (107.085, 20.9440), (107.100, 20.9420), (107.120, 20.9440),
    (107.150, 20.9470), (107.180, 20.9500), (107.260, 20.9560),
]
#: Cửa Lục bay north of the Bãi Cháy strait.
_CUA_LUC = [
    (107.056, 20.9490), (107.063, 20.9490), (107.0635, 20.9600), (107.066, 20.9700),
    (107.075, 20.9850), (107.085, 21.0000), (107.072, 21.0150), (107.040, 21.0150),
    (107.020, 21.0000), (107.020, 20.9850), (107.032, 20.9720), (107.045, 20.9660),
    (107.055, 20.9600),
]
#: Tuần Châu island and its causeway.
_TUAN_CHAU = [
    (106.972, 20.922), (106.985, 20.918), (107.003, 20.921), (107.008, 20.930), (107.000, 20.938),
    (106.986, 20.940), (106.974, 20.934),
]
_CAUSEWAY = [(106.9845, 20.9395), (106.9852, 20.9395), (106.9852, 20.9470), (106.9845, 20.9470)]


@dataclass(frozen=True)
class UnitPlan:
    """A pre-2025 ward or commune: where its centre is, how many parcels it gets, its zones."""

    code: str
    lon: float
    lat: float
    weight: float = 0.0
    #: (zone, share of the unit's parcels), nearest the centre first.
    zones: tuple[tuple[str, float], ...] = ()
    #: street names, for addresses (plausible; several are real Hạ Long streets).
    streets: tuple[str, ...] = ()
    #: grid angle of the streets, degrees from east.
    angle: float = 15.0


_URBAN = (("urban", 0.93), ("tourist", 0.07))
_VILLAGE = (("village", 0.55), ("farmland", 0.35), ("forest", 0.10))

UNITS: tuple[UnitPlan, ...] = (
    UnitPlan("06691", 107.0700, 20.9517, 5, _URBAN,
             ("Phố Bến Đoan", "Phố Hải Phúc", "Đường Lê Thánh Tông", "Phố Hàng Nồi", "Phố Ba Đèo"), 20),
    UnitPlan("06694", 107.0840, 20.9500, 5, _URBAN,
             ("Đường Lê Thánh Tông", "Phố Bạch Đằng", "Phố Tô Hiến Thành", "Phố Lê Quý Đôn"), 12),
    UnitPlan("06685", 107.0790, 20.9585, 5, _URBAN,
             ("Đường Trần Hưng Đạo", "Phố Giếng Đồn", "Phố Lê Lợi", "Phố Hồng Ngọc"), 18),
    UnitPlan("06682", 107.0705, 20.9600, 2, _URBAN,
             ("Phố Yết Kiêu", "Phố Kênh Liêm", "Phố Tuệ Tĩnh"), 25),
    UnitPlan("06688", 107.0960, 20.9560, 7, _URBAN,
             ("Đường Nguyễn Văn Cừ", "Phố Kênh Liêm", "Đường 25/4", "Phố Tuệ Tĩnh", "Phố Thủ Dầu"), 8),
    UnitPlan("06697", 107.1130, 20.9490, 7, (("urban", 0.9), ("tourist", 0.1)),
             ("Đường Trần Quốc Nghiễn", "Đường Nguyễn Văn Cừ", "Phố Vũ Văn Hiếu", "Phố Cầu Sến"), 6),
    UnitPlan("06676", 107.0870, 20.9660, 6, _URBAN,
             ("Đường Cao Thắng", "Phố Tuệ Tĩnh", "Phố Trần Nguyên Hãn", "Phố Hải Thượng Lãn Ông"), 14),
    UnitPlan("06658", 107.0920, 20.9790, 6, (("urban", 0.96), ("mining", 0.02), ("periurban", 0.02)),
             ("Đường Cao Xanh", "Phố Hà Khánh", "Phố Thanh Niên", "Phố Nguyễn Công Trứ"), 30),
    UnitPlan("06649", 107.1080, 20.9960, 4, (("urban", 0.85), ("mining", 0.05), ("industry", 0.05), ("forest", 0.05)),
             ("Đường Hà Khánh", "Phố Khu Công nghiệp Cái Lân", "Phố Sông Mô"), 25),
    UnitPlan("06670", 107.1020, 20.9640, 6, (("urban", 0.97), ("mining", 0.03)),
             ("Đường Nguyễn Văn Cừ", "Phố Hà Lầm", "Phố Tân Lập", "Phố Lê Hoàn"), 10),
    UnitPlan("06667", 107.1170, 20.9630, 5, (("urban", 0.98), ("mining", 0.02)),
             ("Đường Hà Trung", "Phố Đồng Tiến", "Phố Trần Phú"), 10),
    UnitPlan("06664", 107.1420, 20.9580, 6, (("urban", 0.93), ("mining", 0.04), ("forest", 0.03)),
             ("Đường Nguyễn Văn Cừ", "Phố Hà Tu", "Phố Vũ Đình Tụng", "Phố Quang Trung"), 5),
    UnitPlan("06652", 107.1720, 20.9620, 4, (("urban", 0.82), ("mining", 0.03), ("aquaculture", 0.08), ("forest", 0.07)),
             ("Đường Hà Phong", "Phố Cột 3", "Phố Ba Lan"), 5),
    UnitPlan("06673", 107.0400, 20.9560, 8, (("tourist", 0.5), ("urban", 0.48), ("forest", 0.02)),
             ("Đường Hạ Long", "Đường Hậu Cần", "Phố Vườn Đào", "Đường Anh Đào", "Đường Hoàng Quốc Việt",
              "Phố Ao Cá"), 22),
    UnitPlan("06679", 107.0160, 20.9525, 5, (("urban", 0.6), ("tourist", 0.37), ("periurban", 0.03)),
             ("Đường Hạ Long", "Phố Hùng Thắng", "Đường Hoàng Quốc Việt", "Phố Cái Dăm"), 8),
    UnitPlan("06661", 107.0160, 20.9720, 6, (("urban", 0.9), ("industry", 0.08), ("periurban", 0.02)),
             ("Đường Cái Lân", "Phố Giếng Đáy", "Đường Hạ Long", "Phố Xuân Lan"), 28),
    UnitPlan("06655", 106.9928, 20.9817, 5, (("urban", 0.8), ("industry", 0.1), ("periurban", 0.1)),
             ("Đường Hạ Long", "Phố Hà Khẩu", "Phố Cao Sơn", "Phố Đồng Mang"), 20),
    UnitPlan("06703", 106.9600, 21.0050, 4, (("periurban", 0.6), ("farmland", 0.25), ("aquaculture", 0.1), ("forest", 0.05)),
             ("Đường Việt Hưng", "Phố Đồng Đặng", "Phố Làng Bang"), 35),
    UnitPlan("06706", 106.9250, 20.9850, 4, (("periurban", 0.5), ("aquaculture", 0.3), ("farmland", 0.15), ("forest", 0.05)),
             ("Đường Đại Yên", "Phố Khe Cát", "Phố Hải Yến"), 15),
    UnitPlan("06700", 106.9900, 20.9300, 3, (("tourist", 0.6), ("urban", 0.3), ("aquaculture", 0.1)),
             ("Đường Tuần Châu", "Phố Đảo Ngọc", "Phố Bãi Tắm"), 30),
    UnitPlan("07030", 106.9950, 21.0300, 4, (("urban", 0.6), ("periurban", 0.2), ("farmland", 0.15), ("forest", 0.05)),
             ("Phố Trới", "Đường Hoành Bồ", "Phố Đồng Cao"), 40),
    UnitPlan("07066", 107.0350, 21.0420, 2, _VILLAGE, ("Đường Lê Lợi",), 35),
    UnitPlan("07063", 106.9450, 21.0400, 2, _VILLAGE, ("Đường Sơn Dương",), 10),
    UnitPlan("07060", 107.0700, 21.0330, 2, _VILLAGE, ("Đường Thống Nhất",), 20),
    UnitPlan("07048", 107.1200, 21.0450, 1, _VILLAGE, ("Đường Vũ Oai",), 0),
    UnitPlan("07051", 106.9050, 21.0550),
    UnitPlan("07057", 106.8600, 21.0300),
    UnitPlan("07039", 106.8500, 21.1000),
    UnitPlan("07054", 106.9000, 21.1050),
    UnitPlan("07042", 107.0400, 21.1150),
    UnitPlan("07045", 107.1500, 21.1000),
    UnitPlan("07036", 107.0800, 21.1900),
    UnitPlan("07033", 107.1400, 21.2100),
)

#: Zone → (block class, share of the zone's parcels). Classes are land-use codes, plus PUB (public bodies).
ZONES: dict[str, tuple[tuple[str, float], ...]] = {
    "urban": (("ODT", 0.93), ("PUB", 0.04), ("TMD", 0.03)),
    "tourist": (("ODT", 0.60), ("TMD", 0.35), ("PUB", 0.05)),
    "mining": (("SKS", 0.80), ("RSX", 0.20)),
    "industry": (("SKX", 0.60), ("SKC", 0.40)),
    "periurban": (("ODT", 0.55), ("CLN", 0.20), ("LUC", 0.15), ("HNK", 0.10)),
    "aquaculture": (("NTS", 0.80), ("LUC", 0.20)),
    "village": (("ONT", 0.50), ("CLN", 0.25), ("HNK", 0.25)),
    "farmland": (("LUC", 0.60), ("HNK", 0.25), ("NTS", 0.15)),
    "forest": (("RSX", 0.70), ("CLN", 0.30)),
}
#: Public-body land uses inside urban blocks (class PUB), with weights.
PUBLIC_USES = (("DGD", 0.3), ("TSC", 0.15), ("DYT", 0.1), ("DVH", 0.1), ("DCH", 0.08),
               ("TON", 0.08), ("TIN", 0.07), ("DTT", 0.07), ("DSH", 0.05))


_TO_5899 = None


def to_5899(lon, lat):
    """(lon, lat) in WGS 84 → (E, N) in EPSG:5899, as numpy arrays."""
    global _TO_5899
    if _TO_5899 is None:
        _TO_5899 = pyproj.Transformer.from_crs(4326, SRID, always_xy=True)
    return _TO_5899.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def _poly(lonlat: list[tuple[float, float]]) -> Polygon:
    coords = np.array(lonlat, dtype=float)
    # Densify in lon/lat first so straight edges stay straight enough after projection.
    ring = shapely.segmentize(shapely.linearrings(coords), 0.002)
    xy = shapely.get_coordinates(ring)
    x, y = to_5899(xy[:, 0], xy[:, 1])
    return shapely.make_valid(Polygon(np.column_stack([x, y])))


@lru_cache(maxsize=1)
def land() -> shapely.Geometry:
    """The hand-drawn land of the city (EPSG:5899): a box minus Hạ Long Bay and Cửa Lục bay."""
    sea = _poly(_COAST + [(107.26, 20.86), (106.80, 20.86)])
    bay = _poly(_CUA_LUC)
    island = shapely.union(_poly(_TUAN_CHAU), _poly(_CAUSEWAY))
    x0, y0 = to_5899(106.80, 20.86)
    x1, y1 = to_5899(107.26, 21.26)
    mainland = shapely.difference(box(float(x0), float(y0), float(x1), float(y1)), shapely.union(sea, bay))
    return shapely.union(mainland, island)


def _multi(g: shapely.Geometry) -> MultiPolygon:
    g = shapely.make_valid(g)
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 1.0]
    return MultiPolygon(parts)


@dataclass
class Boundaries:
    """Boundaries in EPSG:5899 keyed by (code, valid_from), and the territories parcels fill."""

    units: dict[tuple[str, str], MultiPolygon] = field(default_factory=dict)
    #: pre-2025 code → the land that unit registers parcels on (disjoint pieces).
    territory: dict[str, MultiPolygon] = field(default_factory=dict)


@lru_cache(maxsize=1)
def boundaries() -> Boundaries:
    """Plausible boundaries of every reference admin unit of Hạ Long (EPSG:5899)."""
    seeds = {u.code: to_5899(u.lon, u.lat) for u in UNITS}
    ground = land()
    x0, y0, x1, y1 = ground.bounds
    pts = shapely.multipoints([[float(x), float(y)] for x, y in seeds.values()])
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=box(x0, y0, x1, y1)))
    out = Boundaries()
    for code, (x, y) in seeds.items():
        pt = shapely.points(float(x), float(y))
        cell = next(c for c in cells if shapely.contains(c, pt))
        out.territory[code] = _multi(shapely.intersection(cell, ground))

    rows = read_table("admin_unit_successions")
    units = read_table("admin_units")
    pre = {u["code"] for u in units if u["valid_from"] == PRE_2025 and u["level"] in ("ward", "commune")}
    for code in pre:
        out.units[(code, PRE_2025)] = out.territory[code]
    # Units absorbed before 2025 (Yết Kiêu → Trần Hưng Đạo, 1 Nov 2024): the successor's row
    # covers both, since its current extent includes them.
    for r in rows:
        if r["successor_valid_from"] == PRE_2025:
            key = (r["successor_code"], PRE_2025)
            out.units[key] = _multi(shapely.union(out.units[key], out.territory[r["predecessor_code"]]))

    # 2025: successor = union of whole predecessors and its share of the split ones.
    post = [r for r in rows if r["successor_valid_from"] == POST_2025]
    whole: dict[str, list] = {}
    for r in post:
        if r["extent"] == "whole":
            whole.setdefault(r["successor_code"], []).append(out.units[(r["predecessor_code"], PRE_2025)])
    pieces = {code: shapely.union_all(geoms) for code, geoms in whole.items()}
    parts: dict[str, list[str]] = {}
    for r in post:
        if r["extent"] == "part":
            parts.setdefault(r["predecessor_code"], []).append(r["successor_code"])
    for pred, succs in parts.items():
        # Split the predecessor between its successors: each takes the side nearer its other land.
        centres = [shapely.centroid(pieces[s]) for s in sorted(succs)]
        split = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(centres),
                                                           extend_to=box(x0, y0, x1, y1)))
        territory = out.units[(pred, PRE_2025)]
        for s, c in zip(sorted(succs), centres):
            cell = next(p for p in split if shapely.contains(p, c))
            pieces[s] = shapely.union(pieces[s], shapely.intersection(territory, cell))
    for code, geom in pieces.items():
        out.units[(code, POST_2025)] = _multi(geom)
    # The city before 2025: all its wards and communes.
    city = [u for u in units if u["level"] == "city"]
    for u in city:
        out.units[(u["code"], u["valid_from"])] = _multi(
            shapely.union_all([out.territory[c] for c in out.territory]))
    return out


def parcel_extent() -> shapely.Geometry:
    """Where sample parcels may lie (EPSG:5899): the extent box, minus the tests' square."""
    lon0, lat0, lon1, lat1 = PARCEL_EXTENT_LONLAT
    return shapely.difference(_poly([(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1)]),
                              shapely.buffer(TEST_SQUARE, 200))
