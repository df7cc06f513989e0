"""The sample's history: plans each parcel's life (first registration, transfers, inheritances,
gifts, mortgages and releases, splits, merges, land-use changes, certificate exchanges), then
runs every registration in date order through a small in-memory register that writes the rows
of every table and each journal entry's effects (format in `landdb.sample.replay`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np

from . import geography as geo
from .names import BANKS, Names

START = dt.date(2015, 1, 5)
#: The last date a sample registration may bear (never in the future of the data set).
END = dt.date(2026, 10, 30)
FORM_2024 = dt.date(2024, 8, 1)
HOUSEHOLDS_END = dt.date(2024, 8, 1)
YET_KIEU_END = dt.date(2024, 10, 31)
MERGER = dt.date(2025, 7, 1)
EFFECTS_FORMAT = "landdb.effects/1"  # shared with landdb.effects

AGRICULTURAL = {"LUC", "HNK", "BHK", "CLN", "NTS", "RSX"}
ORGANISATION_CLASSES = {"SKS", "SKX", "SKC"}
#: The largest lot whose land use may change (wholly) to residential.
RESIDENTIAL_MAX_M2 = {"ODT": 250.0, "ONT": 500.0}


@dataclass
class Lot:
    """A parcel of the plan (current or historic): a run of atoms with everything known up front."""

    strip: int
    i: int
    j: int
    unit: str
    sheet: int
    cls: str
    land_use: str
    wkt: str
    area: float
    legal_area: float
    national_id: str
    ewkb: str
    address: str
    has_house: bool
    survey_no: int | None = None


@dataclass
class Party:
    kind: str
    full_name: str
    id_kind: str | None
    id_number: str | None
    birth_year: int | None
    address: str | None
    surname: str | None = None


@dataclass
class _Held:
    """What the register knows about one lot while it is active."""

    parcel_id: int | None = None
    version_id: int | None = None
    version_no: int = 0
    land_use: str = ""
    cert: int | None = None
    land: list = field(default_factory=list)   # right ids
    house: list = field(default_factory=list)
    mortgage: int | None = None
    holders: list = field(default_factory=list)  # (party_id, share str)
    origin: str = ""
    term_end: dt.date | None = None


def business_day(d: dt.date) -> dt.date:
    """The next Monday for a weekend date; Friday if that would pass END."""
    wd = d.weekday()
    if wd >= 5:
        d2 = d + dt.timedelta(days=7 - wd)
        d = d2 if d2 <= END else d - dt.timedelta(days=wd - 4)
    return d


def split_shares(n: int) -> list[str]:
    """n shares of six decimals that sum to exactly 1."""
    base = (10**6) // n
    rest = 10**6 - base * n
    out = [base + (1 if k < rest else 0) for k in range(n)]
    return [f"{v / 10**6:.6f}".rstrip("0").rstrip(".") if v != 10**6 else "1" for v in out]


class Register:
    """Applies registrations in date order and keeps every table's rows (ids from 1 up)."""

    def __init__(self, lots: list[Lot], rng: np.random.Generator, unit_names: dict[str, tuple[str, str]],
                 ward_ids: dict[str, int]):
        self.ward_ids = ward_ids
        self.lots = lots
        self.rng = rng
        self.names = Names(rng)
        self.unit_names = unit_names
        self.held: dict[int, _Held] = {}
        self.rows: dict[str, list] = {k: [] for k in (
            "parcels", "parcel_versions", "parcel_lineage", "parties", "certificates", "rights",
            "transactions", "transaction_parcels")}
        self.ids = {k: 0 for k in ("tx", "parcel", "version", "right", "party", "cert")}
        self._parcel_rows: dict[int, dict] = {}
        self._version_rows: dict[int, dict] = {}
        self._right_rows: dict[int, dict] = {}
        self._cert_rows: dict[int, dict] = {}
        self.sheet_next: dict[tuple[str, int], int] = {}
        self.banks: list[int | None] = [None] * len(BANKS)
        self.orgs: dict[tuple[str, str], int] = {}
        self.people: list[int] = []
        self.serial_next: dict[str, int] = {}
        self.registry_next: dict[str, int] = {}
        self.day: tuple[dt.date, int] | None = None
        self.tx: dict | None = None
        self._surname: dict[int, str | None] = {}

    # -- ids and the journal ------------------------------------------------------------------

    def _next(self, key: str) -> int:
        self.ids[key] += 1
        return self.ids[key]

    def begin(self, kind: str, date: dt.date, summary: str) -> None:
        if self.day and self.day[0] == date:
            self.day = (date, self.day[1] + 1)
        else:
            self.day = (date, 0)
        tid = self._next("tx")
        self.tx = {"id": tid, "kind": kind, "date": date, "summary": summary, "effects": [], "parcels": []}

    def _effect(self, op: str, value: dict) -> None:
        self.tx["effects"].append({"op": op, **value})

    def commit(self) -> int:
        tx = self.tx
        date, n = self.day
        at = dt.datetime(date.year, date.month, date.day, 1, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=37 * n)
        payload = {"format": EFFECTS_FORMAT, "kind": tx["kind"],
                   "request": {"summary": tx["summary"]},
                   "effects": tx["effects"]}
        actor = ("Chi nhánh Văn phòng Đăng ký đất đai thành phố Hạ Long" if date < MERGER
                 else "Văn phòng Đăng ký đất đai tỉnh Quảng Ninh")
        self.rows["transactions"].append({
            "id": tx["id"], "kind": tx["kind"], "effective_date": date.isoformat(),
            "registered_at": at.isoformat(), "dossier_no": f"HL.{date:%Y%m%d}.{n + 1:04d}",
            "actor": actor, "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        })
        for p, r in tx["parcels"]:
            self.rows["transaction_parcels"].append({"transaction_id": tx["id"], "parcel_id": p, "role": r})
        self.tx = None
        return tx["id"]

    # -- parties -----------------------------------------------------------------------------

    def _new_party(self, p: Party) -> int:
        pid = self._next("party")
        row = {"id": pid, "kind": p.kind, "full_name": p.full_name, "id_kind": p.id_kind,
               "id_number": p.id_number, "birth_year": p.birth_year, "address": p.address}
        self.rows["parties"].append(row)
        self._effect("party", {k: v for k, v in row.items() if v is not None})
        if p.kind in ("individual", "couple", "household"):
            self.people.append(pid)
            self._surname[pid] = p.surname
        return pid

    def _person(self, date: dt.date, address: str, surname: str | None = None, adult_by: int | None = None,
                female: bool | None = None, kind: str = "individual") -> Party:
        names = self.names
        young = adult_by or date.year - 18
        birth = int(self.rng.integers(1945, min(young, 2004) + 1))
        name, fem = names.person(female, surname)
        id_kind, number = "cccd", names.cccd(birth, fem)
        if date.year < 2021 and self.rng.random() < 0.5:
            id_kind, number = "cmnd", names.cmnd()
        s = name.split(" ")[0]
        if kind == "couple":
            spouse, _ = names.person(not fem)
            husband, wife = (spouse, name) if fem else (name, spouse)
            name = f"{husband} và {wife}"
            s = husband.split(" ")[0]
        elif kind == "household":
            name = f"Hộ {'bà' if fem else 'ông'} {name}"
        return Party(kind, name, id_kind, number, birth, address, s)

    def holder(self, lot: Lot, date: dt.date, how: str = "buyer") -> list[tuple[int, str]]:
        """New holders for a lot at a date: reuses a known person now and then."""
        r = self.rng.random()
        addr = self._home_address(lot)
        if lot.cls in ORGANISATION_CLASSES or (lot.cls == "TMD" and r < 0.8) or (lot.cls == "RSX" and r < 0.2):
            place = self.unit_names[lot.unit][1]
            key = (lot.cls, lot.unit if lot.cls in ("SKS", "RSX") else str(int(self.rng.integers(6))))
            if key not in self.orgs or self.rng.random() < 0.2:
                org = Party("organization", self.names.company(lot.cls, place), "business_reg",
                            self.names.business_reg(), None, lot.address)
                self.orgs[key] = self._new_party(org)
            return [(self.orgs[key], "1")]
        if self.people and self.rng.random() < 0.08:
            return [(self.people[int(self.rng.integers(len(self.people)))], "1")]
        if lot.cls in AGRICULTURAL | {"ONT"} and date < HOUSEHOLDS_END and r < 0.6:
            kind = "household"
        elif lot.cls in AGRICULTURAL | {"ONT"} and date < HOUSEHOLDS_END:
            kind = "couple"
        else:
            kind = "couple" if r < 0.55 else "individual"
        if kind == "individual" and self.rng.random() < 0.12:
            # two co-owners (e.g. siblings who bought together)
            a = self._new_party(self._person(date, addr))
            b = self._new_party(self._person(date, addr))
            return [(a, "0.5"), (b, "0.5")]
        return [(self._new_party(self._person(date, addr, kind=kind)), "1")]

    def heirs(self, lot: Lot, date: dt.date, holders) -> list[tuple[int, str]]:
        surname = self._surname.get(holders[0][0]) if holders else None
        n = int(self.rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        addr = self._home_address(lot)
        ids = [self._new_party(self._person(date, addr, surname=surname)) for _ in range(n)]
        return list(zip(ids, split_shares(n)))

    def _home_address(self, lot: Lot) -> str:
        kind, name = self.unit_names[lot.unit]
        if self.rng.random() < 0.6:
            return f"{lot.address}, thành phố Hạ Long, tỉnh Quảng Ninh"
        return f"Tổ {int(self.rng.integers(1, 40))}, khu {int(self.rng.integers(1, 12))}, {kind} {name}, thành phố Hạ Long, tỉnh Quảng Ninh"

    def bank(self) -> int:
        k = int(self.rng.integers(len(BANKS)))
        if self.banks[k] is None:
            self.banks[k] = self._new_party(Party("organization", BANKS[k], "business_reg",
                                                  f"{self.names.business_reg()}-{int(self.rng.integers(1, 99)):03d}",
                                                  None, "Thành phố Hạ Long, tỉnh Quảng Ninh"))
        return self.banks[k]

    # -- parcels and versions ----------------------------------------------------------------

    def _ward(self, lot: Lot, date: dt.date) -> str:
        return lot.unit

    def create_parcel(self, h: int, date: dt.date, role: str) -> None:
        lot = self.lots[h]
        key = (lot.unit, lot.sheet)
        if lot.survey_no is not None:
            number = lot.survey_no
        else:
            number = self.sheet_next[key]
            self.sheet_next[key] = number + 1
        pid = self._next("parcel")
        code = self._ward(lot, date)
        row = {"id": pid, "ward_id": self.ward_ids[code], "ward_code": code, "ward_valid_from": geo.PRE_2025,
               "sheet_no": lot.sheet, "parcel_no": number, "national_id": lot.national_id,
               "registered_on": date.isoformat(), "retired_on": None}
        self.rows["parcels"].append(row)
        self._parcel_rows[pid] = row
        self._effect("parcel", {k: v for k, v in row.items() if k not in ("retired_on", "ward_valid_from")})
        st = self.held.setdefault(h, _Held())
        st.parcel_id = pid
        self.tx["parcels"].append((pid, role))
        self.open_version(h, date, lot.land_use)

    def open_version(self, h: int, date: dt.date, land_use: str, copied_from: int | None = None) -> None:
        lot, st = self.lots[h], self.held[h]
        vid = self._next("version")
        st.version_no += 1
        row = {"id": vid, "parcel_id": st.parcel_id, "version": st.version_no, "valid_from": date.isoformat(),
               "valid_to": None, "land_use": land_use, "legal_area_m2": lot.legal_area,
               "address": lot.address, "opened_by_tx": self.tx["id"], "closed_by_tx": None, "h": h}
        self.rows["parcel_versions"].append(row)
        self._version_rows[vid] = row
        eff = {k: row[k] for k in ("parcel_id", "version", "valid_from", "land_use")}
        eff["legal_area_m2"] = f"{lot.legal_area:.1f}"
        eff["address"] = lot.address
        if copied_from is None:
            eff["geom_ewkb"] = lot.ewkb
        else:
            eff["geom_from_version"] = copied_from
        self._effect("version", eff)
        st.version_id, st.land_use = vid, land_use

    def close_version(self, h: int, date: dt.date) -> None:
        st = self.held[h]
        row = self._version_rows[st.version_id]
        row["valid_to"], row["closed_by_tx"] = date.isoformat(), self.tx["id"]
        self._effect("close", {"table": "parcel_versions", "id": st.version_id, "parcel_id": st.parcel_id,
                               "version": row["version"]})

    def retire(self, h: int, date: dt.date) -> None:
        st = self.held[h]
        self.close_version(h, date)
        self._parcel_rows[st.parcel_id]["retired_on"] = date.isoformat()
        self._effect("retire", {"parcel_id": st.parcel_id, "on": date.isoformat()})
        self.tx["parcels"].append((st.parcel_id, "source"))

    # -- certificates and rights -------------------------------------------------------------

    def issue_certificate(self, h: int, date: dt.date, org: bool) -> int:
        if date >= FORM_2024:
            series = "AA"
            if series not in self.serial_next:
                self.serial_next[series] = 6_600_000 + int(self.rng.integers(100_000))
            serial = f"{series} {self.serial_next[series]:08d}"
        else:
            series = ("CA", "CD", "CK", "CS", "CT", "CY", "DA", "DB", "DC", "DE")[min(date.year - 2015, 9)]
            if series not in self.serial_next:
                self.serial_next[series] = 100_000 + int(self.rng.integers(300_000))
            serial = f"{series} {self.serial_next[series]:06d}"
        self.serial_next[series] += int(self.rng.integers(1, 4))
        if date >= dt.date(2025, 3, 1):
            prefix, by = "CS", "Sở Nông nghiệp và Môi trường tỉnh Quảng Ninh"
        elif date >= dt.date(2019, 1, 1) or org:
            prefix, by = ("CT", "UBND tỉnh Quảng Ninh") if org and date < dt.date(2019, 1, 1) else (
                "CS", "Sở Tài nguyên và Môi trường tỉnh Quảng Ninh")
        else:
            prefix, by = "CH", "UBND thành phố Hạ Long"
        n = self.registry_next.get(prefix, 100 + int(self.rng.integers(900)))
        self.registry_next[prefix] = n + 1
        registry = f"{prefix}{n:05d}" + ("/DA" if self.lots[h].cls == "TMD" and prefix == "CS" else "")
        cid = self._next("cert")
        row = {"id": cid, "serial": serial, "registry_no": registry, "issued_on": date.isoformat(),
               "issued_by": by, "cancelled_on": None, "opened_by_tx": self.tx["id"], "closed_by_tx": None}
        self.rows["certificates"].append(row)
        self._cert_rows[cid] = row
        self._effect("certificate", {k: row[k] for k in ("id", "serial", "registry_no", "issued_on", "issued_by")})
        self.held[h].cert = cid
        return cid

    def cancel_certificate(self, h: int, date: dt.date) -> None:
        st = self.held[h]
        row = self._cert_rows[st.cert]
        row["cancelled_on"], row["closed_by_tx"] = date.isoformat(), self.tx["id"]
        self._effect("close", {"table": "certificates", "id": st.cert})
        st.cert = None

    def _open_right(self, h, party, kind, share, date, origin, term_end, amount=None) -> int:
        st = self.held[h]
        rid = self._next("right")
        row = {"id": rid, "parcel_id": st.parcel_id, "party_id": party, "kind": kind, "share": share,
               "certificate_id": st.cert, "valid_from": date.isoformat(), "valid_to": None,
               "term_end": term_end.isoformat() if term_end else None, "origin": origin,
               "secured_amount_vnd": amount, "opened_by_tx": self.tx["id"], "closed_by_tx": None}
        self.rows["rights"].append(row)
        self._right_rows[rid] = row
        eff = {"id": rid, "valid_from": row["valid_from"]}
        eff.update({k: row[k] for k in ("parcel_id", "party_id", "kind", "share", "certificate_id", "term_end",
                                        "origin", "secured_amount_vnd") if row[k] is not None})
        self._effect("right", eff)
        return rid

    def _close_right(self, rid: int, date: dt.date) -> None:
        row = self._right_rows[rid]
        row["valid_to"], row["closed_by_tx"] = date.isoformat(), self.tx["id"]
        self._effect("close", {"table": "rights", "id": rid})

    def open_rights(self, h: int, date: dt.date, holders, origin: str, term_end) -> None:
        st, lot = self.held[h], self.lots[h]
        st.holders, st.origin, st.term_end = list(holders), origin, term_end
        st.land = [self._open_right(h, p, "land_use_right", s, date, origin, term_end) for p, s in holders]
        if lot.has_house:
            st.house = [self._open_right(h, p, "house_ownership", s, date, "Tự xây dựng nhà ở", None)
                        for p, s in holders]

    def close_rights(self, h: int, date: dt.date) -> None:
        st = self.held[h]
        for rid in st.land + st.house:
            self._close_right(rid, date)
        st.land, st.house = [], []

    def _first_terms(self, lot: Lot, date: dt.date, org: bool) -> tuple[str, dt.date | None]:
        if lot.cls == "PUB":
            return "Nhà nước giao đất không thu tiền sử dụng đất", None
        if org:
            end = dt.date(date.year + 50, date.month, min(date.day, 28))
            return "Nhà nước cho thuê đất trả tiền thuê đất hằng năm", end
        if lot.land_use in AGRICULTURAL:
            return "Nhà nước giao đất không thu tiền sử dụng đất", dt.date(2043, 10, 15)
        return "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất", None

    # -- registrations -----------------------------------------------------------------------

    def first_registration(self, hs: list[int], date: dt.date) -> None:
        lot = self.lots[hs[0]]
        self.begin("first_registration", date, "Đăng ký, cấp Giấy chứng nhận lần đầu")
        holders = self._public_holder(lot, date) if lot.cls == "PUB" else self.holder(lot, date)
        org = self._is_org(holders[0][0])
        origin, term = self._first_terms(lot, date, org)
        for h in hs:
            self.create_parcel(h, date, "subject")
            self.issue_certificate(h, date, org)
            self.open_rights(h, date, holders, origin, term)
        self.commit()

    def _public_holder(self, lot: Lot, date: dt.date) -> list[tuple[int, str]]:
        kind, name = self.unit_names[lot.unit]
        label = {"DGD": f"Trường Tiểu học {name}", "TSC": f"UBND {kind} {name}", "DYT": f"Trạm Y tế {kind} {name}",
                 "DVH": f"Nhà văn hóa {kind} {name}", "DCH": f"Ban quản lý chợ {name}",
                 "TON": f"Chùa {name}", "TIN": f"Đình {name}", "DTT": f"Trung tâm Thể thao {name}",
                 "DSH": f"Nhà sinh hoạt cộng đồng khu {int(self.rng.integers(1, 9))} {name}"}[lot.land_use]
        key = ("PUB", label)
        if key not in self.orgs:
            pkind = {"TON": "religious", "TIN": "community", "DSH": "community"}.get(lot.land_use, "organization")
            self.orgs[key] = self._new_party(Party(pkind, label, None, None, None, lot.address))
        return [(self.orgs[key], "1")]

    def _is_org(self, party_id: int) -> bool:
        return party_id not in self._surname

    def _release_if_mortgaged(self, h: int, date: dt.date) -> None:
        if self.held[h].mortgage is not None:
            self.mortgage_release(h, date)

    def transfer(self, h: int, date: dt.date, kind: str) -> None:
        if h not in self.held or self.held[h].parcel_id is None:
            return
        self._release_if_mortgaged(h, date)
        st, lot = self.held[h], self.lots[h]
        if st.holders and self._is_org(st.holders[0][0]):
            if lot.cls == "PUB":
                return
            kind = "transfer"  # a company neither dies nor gives land away
        summary = {"transfer": "Chuyển nhượng quyền sử dụng đất", "inheritance": "Thừa kế quyền sử dụng đất",
                   "gift": "Tặng cho quyền sử dụng đất"}[kind]
        self.begin(kind, date, summary)
        self.tx["parcels"].append((st.parcel_id, "subject"))
        if kind == "inheritance":
            holders = self.heirs(lot, date, st.holders)
        elif kind == "gift":
            surname = self._surname.get(st.holders[0][0])
            holders = [(self._new_party(self._person(date, self._home_address(lot), surname=surname)), "1")]
        else:
            holders = self.holder(lot, date)
        origin = {"transfer": "Nhận chuyển nhượng quyền sử dụng đất", "inheritance": "Nhận thừa kế quyền sử dụng đất",
                  "gift": "Nhận tặng cho quyền sử dụng đất"}[kind]
        term = st.term_end
        self.close_rights(h, date)
        if self.rng.random() < 0.7 or date >= FORM_2024:
            self.cancel_certificate(h, date)
            self.issue_certificate(h, date, self._is_org(holders[0][0]))
        self.open_rights(h, date, holders, origin, term)
        self.commit()

    def mortgage(self, h: int, date: dt.date) -> None:
        st = self.held.get(h)
        if st is None or st.parcel_id is None or st.mortgage is not None or self.lots[h].cls == "PUB":
            return
        lot = self.lots[h]
        self.begin("mortgage", date, "Đăng ký thế chấp bằng quyền sử dụng đất")
        self.tx["parcels"].append((st.parcel_id, "subject"))
        price = {"ODT": 45_000_000, "TMD": 30_000_000, "ONT": 6_000_000}.get(lot.land_use, 800_000)
        amount = int(round(lot.area * price * self.rng.uniform(0.3, 0.7), -7))
        amount = str(max(amount, 100_000_000))
        n = int(self.rng.integers(1, 999))
        st.mortgage = self._open_right(h, self.bank(), "mortgage", None, date,
                                       f"Hợp đồng thế chấp số {n:03d}/{date.year}/HĐTC", None, amount)
        self.commit()

    def mortgage_release(self, h: int, date: dt.date) -> None:
        st = self.held.get(h)
        if st is None or st.mortgage is None:
            return
        self.begin("mortgage_release", date, "Xóa đăng ký thế chấp")
        self.tx["parcels"].append((st.parcel_id, "subject"))
        self._close_right(st.mortgage, date)
        st.mortgage = None
        self.commit()

    def land_use_change(self, h: int, date: dt.date, new: str) -> None:
        st = self.held.get(h)
        if st is None or st.parcel_id is None or st.land_use == new:
            return
        if (new == "HNK" and st.land_use != "BHK") or (new != "HNK" and st.land_use not in AGRICULTURAL):
            return
        if new in RESIDENTIAL_MAX_M2 and self.lots[h].area > RESIDENTIAL_MAX_M2[new]:
            return  # a whole field does not become a house plot
        self._release_if_mortgaged(h, date)
        old = st.land_use
        self.begin("land_use_change", date, f"Chuyển mục đích sử dụng đất từ {old} sang {new}")
        self.tx["parcels"].append((st.parcel_id, "subject"))
        self.close_version(h, date)
        self.open_version(h, date, new, copied_from=st.version_no)
        if new in ("ODT", "ONT"):
            holders = st.holders
            self.close_rights(h, date)
            self.cancel_certificate(h, date)
            self.issue_certificate(h, date, False)
            self.open_rights(h, date, holders, f"Chuyển mục đích sử dụng đất từ {old} sang {new}", None)
        self.commit()

    def reissue(self, h: int, date: dt.date) -> None:
        st = self.held.get(h)
        if st is None or st.parcel_id is None:
            return
        self._release_if_mortgaged(h, date)
        self.begin("certificate_reissue", date, "Cấp đổi Giấy chứng nhận")
        self.tx["parcels"].append((st.parcel_id, "subject"))
        holders, origin, term = st.holders, st.origin, st.term_end
        self.close_rights(h, date)
        self.cancel_certificate(h, date)
        self.issue_certificate(h, date, self._is_org(holders[0][0]))
        self.open_rights(h, date, holders, origin, term)
        self.commit()

    def split(self, parent: int, children: list[int], date: dt.date) -> None:
        self._release_if_mortgaged(parent, date)
        st = self.held[parent]
        self.begin("split", date, "Tách thửa đất")
        holders, origin, term = st.holders, st.origin, st.term_end
        org = self._is_org(holders[0][0])
        self.close_rights(parent, date)
        self.cancel_certificate(parent, date)
        self.retire(parent, date)
        for c in children:
            self.lots[c].land_use = st.land_use
            self.create_parcel(c, date, "target")
            self.issue_certificate(c, date, org)
            self.open_rights(c, date, holders, origin, term)
            self._effect("lineage", {"parent_id": st.parcel_id, "child_id": self.held[c].parcel_id, "kind": "split"})
            self.rows["parcel_lineage"].append({"parent_id": st.parcel_id, "child_id": self.held[c].parcel_id,
                                                "transaction_id": self.tx["id"], "kind": "split"})
        self.commit()

    def merge(self, inputs: list[int], result: int, date: dt.date) -> None:
        for h in inputs:
            self._release_if_mortgaged(h, date)
        first = self.held[inputs[0]]
        holders, origin, term = first.holders, first.origin, first.term_end
        self.begin("merge", date, "Hợp thửa đất")
        for h in inputs:
            self.close_rights(h, date)
            self.cancel_certificate(h, date)
            self.retire(h, date)
        self.lots[result].land_use = first.land_use
        self.create_parcel(result, date, "target")
        self.issue_certificate(result, date, self._is_org(holders[0][0]))
        self.open_rights(result, date, holders, origin, term)
        for h in inputs:
            link = {"parent_id": self.held[h].parcel_id, "child_id": self.held[result].parcel_id, "kind": "merge"}
            self._effect("lineage", link)
            self.rows["parcel_lineage"].append({**link, "transaction_id": self.tx["id"]})
        self.commit()


# -- planning -------------------------------------------------------------------------------


def _date(rng: np.random.Generator, lo: dt.date, hi: dt.date) -> dt.date:
    span = (hi - lo).days
    return business_day(lo + dt.timedelta(days=int(rng.integers(0, max(span, 1)))))


def plan_events(rng: np.random.Generator, lot: Lot, h: int, since: dt.date, until: dt.date, out: list, fam: int) -> None:
    """Schedule what happens to one lot between `since` and `until` (exclusive)."""
    d = since
    step = 0
    while True:
        d = d + dt.timedelta(days=int(30 + rng.exponential(1500)))
        d = business_day(d)
        if d >= until:
            return
        r = rng.random()
        step += 1
        if r < 0.33:
            out.append((d, fam, step, "transfer", h))
        elif r < 0.58:
            out.append((d, fam, step, "mortgage", h))
            if rng.random() < 0.65:
                rel = business_day(d + dt.timedelta(days=int(rng.integers(200, 1500))))
                if rel < until:
                    out.append((rel, fam, step, "mortgage_release", h))
        elif r < 0.66:
            out.append((d, fam, step, "inheritance", h))
        elif r < 0.74:
            out.append((d, fam, step, "gift", h))
        elif r < 0.80:
            out.append((d, fam, step, "reissue", h))
        elif r < 0.92 and lot.land_use in ("LUC", "CLN", "HNK", "BHK") and lot.unit >= "07000":
            out.append((d, fam, step, "land_use_change", (h, "ONT")))
        elif r < 0.92 and lot.land_use in ("LUC", "CLN", "HNK", "BHK"):
            out.append((d, fam, step, "land_use_change", (h, "ODT")))
        elif lot.land_use == "BHK" and d >= FORM_2024:
            out.append((d, fam, step, "land_use_change", (h, "HNK")))
