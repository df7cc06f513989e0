"""The machinery every registration shares: locks, version checks, closing and opening rows,
geometry checks, and the journal row written last."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import effects
from .errors import Conflict, InvalidInput, NotFound, Unprocessable
from .transactions import effects_of, journal_row_json

#: union of split children must equal the parent within this many m² (the overlap trigger's too).
TOLERANCE_M2 = 0.05
#: "in the future" is judged by the calendar in Hạ Long, not by UTC.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PARCEL_CODE = re.compile(r"^(\d{5})-(\d{1,6})-(\d{1,7})$")
SERIAL = re.compile(r"^([A-Z]{2}) ?([0-9]{6}|[0-9]{8})$")
SHARE_QUANTUM = Decimal("0.000001")


# --- plain-value checks ---------------------------------------------------------------------


def parse_date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD, not {value!r}", field=field) from None


def opt_date(value: Any, field: str) -> dt.date | None:
    return None if value is None else parse_date(value, field)


def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()


def as_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise InvalidInput(f"{field} must be a positive whole number", field=field)
    return int(value)


def opt_share(value: Any, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        share = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a number between 0 and 1", field=field) from None
    if not (0 < share <= 1) or share != share.quantize(SHARE_QUANTUM):
        raise Unprocessable(f"{field} must be more than 0 and at most 1, with at most 6 decimals", field=field)
    return share


def positive_area(value: Any, field: str = "legal_area_m2") -> Decimal:
    try:
        area = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a number of m²", field=field) from None
    if value is None or not area.is_finite() or area <= 0 or area >= Decimal("1e10"):
        raise Unprocessable(f"{field} must be a positive area in m² (under 10 000 km²)", field=field)
    return area.quantize(Decimal("0.1"))


def opt_amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput("secured_amount_vnd must be a number", field="secured_amount_vnd") from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e18") or amount != amount.to_integral_value():
        raise Unprocessable("secured_amount_vnd must be a positive whole number of đồng", field="secured_amount_vnd")
    return amount


def fmt(d: Decimal) -> str:
    return format(d.normalize(), "f")


# --- locked parcels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedParcel:
    id: int
    code: str
    ward_id: int
    ward_code: str
    sheet_no: int
    version_id: int
    version: int
    valid_from: dt.date
    land_use: str
    legal_area_m2: Decimal
    address: str | None


class Registration:
    """One registration in progress: its transaction id, date, and what it has written."""

    def __init__(self, session: Session, kind: str, effective_date: Any, dossier_no: str | None,
                 actor: str | None, idempotency_key: str | None, request: dict | None):
        self.s = session
        self.kind = kind
        self.date = parse_date(effective_date, "effective_date")
        today = local_today()
        if self.date > today:
            raise Unprocessable(f"effective_date {self.date} is in the future (today is {today} in Hạ Long)",
                                field="effective_date")
        if dossier_no is not None and not isinstance(dossier_no, str):
            raise InvalidInput("dossier_no must be text", field="dossier_no")
        self.dossier_no, self.actor, self.idempotency_key = dossier_no, actor, idempotency_key
        self.request = request or {}
        self.id = session.execute(text("SELECT nextval(pg_get_serial_sequence('transactions', 'id'))")).scalar_one()
        self.touched: dict[tuple[int, str], None] = {}
        self.log = effects.Recorder()

    # locks and versions

    def lock(self, codes: list[str], expected: dict[str, Any]) -> list[LockedParcel]:
        """Lock the parcels (in id order), then check each one's current version."""
        for code in codes:
            if not isinstance(code, str) or not PARCEL_CODE.match(code):
                raise InvalidInput(f"{code!r} is not a parcel code like 06691-12-345", field="parcel")
        rows = self.s.execute(
            text("SELECT id, parcel_code, retired_on FROM parcels WHERE parcel_code = ANY(:codes) "
                 "ORDER BY id FOR UPDATE"),
            {"codes": list(codes)},
        ).all()
        active = {r.parcel_code: r.id for r in rows if r.retired_on is None}
        for code in codes:
            if code not in active:
                retired = [r for r in rows if r.parcel_code == code]
                if retired:
                    raise Conflict(f"parcel {code} was retired on {max(r.retired_on for r in retired)} "
                                   "(split or merged); it cannot change any more", field="parcel")
                raise NotFound(f"no parcel {code}", field="parcel")
        found = self.s.execute(
            text("""
                SELECT p.id, p.parcel_code AS code, p.ward_id, p.ward_code, p.sheet_no, v.id AS version_id,
                       v.version, v.valid_from, v.land_use, v.legal_area_m2, v.address
                  FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
                 WHERE p.id = ANY(:ids) ORDER BY p.id
            """),
            {"ids": list(active.values())},
        ).all()
        locked = [LockedParcel(*r) for r in found]
        for p in locked:
            want = expected.get(p.code)
            if want is None:
                raise Unprocessable(f"expected_version for parcel {p.code} is missing", field="expected_version")
            want = as_int(want, "expected_version")
            if want != p.version:
                raise Conflict(
                    f"parcel {p.code} is at version {p.version}, not {want}: it changed since this request "
                    "was prepared; reload it and prepare the request again", field="expected_version")
            if self.date < p.valid_from:
                raise Unprocessable(
                    f"effective_date {self.date} is before parcel {p.code}'s current version "
                    f"(valid from {p.valid_from}); changes are registered in date order", field="effective_date")
        return locked

    def lock_one(self, code: str, expected_version: Any) -> LockedParcel:
        if not isinstance(code, str):
            raise InvalidInput("parcel must be a parcel code like 06691-12-345", field="parcel")
        return self.lock([code], {code: expected_version})[0]

    def next_version(self, p: LockedParcel, *, geom: str | None = None, land_use: str | None = None,
                     legal_area_m2: Decimal | None = None) -> None:
        """Close the parcel's current version and open the next, changed as given."""
        self.touch(p.id, "subject")
        self._close_version(p)
        self.s.execute(
            text("""
                INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, address,
                                             geom, opened_by_tx)
                SELECT parcel_id, version + 1, :d, coalesce(:lu, land_use), coalesce(:area, legal_area_m2), address,
                       coalesce(ST_GeomFromEWKB(decode(:g, 'hex')), geom), :tx
                  FROM parcel_versions WHERE id = :v
            """),
            {"d": self.date, "lu": land_use, "area": legal_area_m2, "g": geom, "tx": self.id, "v": p.version_id},
        )
        self.log.version(p.id, p.version + 1, self.date, land_use or p.land_use,
                         legal_area_m2 if legal_area_m2 is not None else p.legal_area_m2, p.address, geom,
                         copied_from=p.version)

    def open_version(self, parcel_id: int, version: int, *, geom: str, land_use: str, legal_area_m2: Decimal,
                     address: str | None) -> None:
        self.open_versions([dict(parcel_id=parcel_id, version=version, geom=geom, land_use=land_use,
                                 legal_area_m2=legal_area_m2, address=address)])

    def open_versions(self, rows: list[dict]) -> None:
        """Insert new versions in one statement: the overlap trigger checks them as a set and
        takes its grid-cell locks in one sorted pass (no deadlock between two splits)."""
        data = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows]
        self.s.execute(
            text("""
                INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, address, geom,
                                             opened_by_tx)
                SELECT parcel_id, version, :d, land_use, legal_area_m2, address, ST_GeomFromEWKB(decode(geom, 'hex')), :tx
                  FROM json_to_recordset(CAST(:rows AS json)) AS r(parcel_id bigint, version int, land_use text,
                       legal_area_m2 numeric, address text, geom text)
            """),
            {"rows": json.dumps(data), "d": self.date, "tx": self.id},
        )
        for r in rows:
            self.log.version(r["parcel_id"], r["version"], self.date, r["land_use"], r["legal_area_m2"],
                             r["address"], r["geom"])

    def _close_version(self, p: LockedParcel) -> None:
        self.s.execute(
            text("UPDATE parcel_versions SET valid_to = :d, closed_by_tx = :tx WHERE id = :v AND valid_to IS NULL"),
            {"d": self.date, "tx": self.id, "v": p.version_id},
        )
        self.log.close("parcel_versions", p.version_id, parcel_id=p.id, version=p.version)

    def retire(self, p: LockedParcel) -> None:
        """A split or merge ends a parcel: its last version closes and it is retired."""
        self.touch(p.id, "source")
        self._close_version(p)
        self.s.execute(text("UPDATE parcels SET retired_on = :d WHERE id = :p"), {"d": self.date, "p": p.id})
        self.log.retire(p.id, self.date)

    # parcels

    def new_parcel(self, ward_id: int, ward_code: str, sheet_no: int, parcel_no: int,
                   national_id: str | None) -> int:
        if national_id is not None and not re.fullmatch(r"[0-9b-hjkmnp-z]{12}", str(national_id)):
            raise Unprocessable("national_id must be a 12-character GeoHash", field="national_id")
        pid = self.s.execute(
            text("INSERT INTO parcels (ward_id, ward_code, sheet_no, parcel_no, national_id, registered_on) "
                 "VALUES (:w, :c, :s, :n, :nid, :d) RETURNING id"),
            {"w": ward_id, "c": ward_code, "s": sheet_no, "n": parcel_no, "nid": national_id, "d": self.date},
        ).scalar_one()
        self.log.parcel(pid, ward_id, ward_code, sheet_no, parcel_no, national_id, self.date)
        return pid

    def allocate_parcel_no(self, ward_code: str, sheet_no: int, given: Any) -> int:
        """The given parcel number if free on the sheet, else the sheet's next unused number."""
        if sheet_no <= 0:
            raise Unprocessable("sheet_no must be positive", field="sheet_no")
        # Concurrent registrations on one sheet take numbers one at a time.
        self.s.execute(text("SELECT pg_advisory_xact_lock(5901, hashtext(:k))"), {"k": f"{ward_code}-{sheet_no}"})
        if given is not None:
            number = as_int(given, "parcel_no")
            taken = self.s.execute(
                text("SELECT 1 FROM parcels WHERE ward_code = :w AND sheet_no = :s AND parcel_no = :n "
                     "AND retired_on IS NULL"),
                {"w": ward_code, "s": sheet_no, "n": number},
            ).first()
            if taken or number <= 0:
                raise Unprocessable(f"parcel number {number} on sheet {sheet_no} of ward {ward_code} is taken",
                                    field="parcel_no")
            return number
        return self.s.execute(
            text("SELECT coalesce(max(parcel_no), 0) + 1 FROM parcels WHERE ward_code = :w AND sheet_no = :s"),
            {"w": ward_code, "s": sheet_no},
        ).scalar_one()

    def ward_id(self, code: str) -> int:
        row = self.s.execute(
            text("SELECT id FROM admin_units WHERE code = :c AND level IN ('ward', 'commune') "
                 "AND valid_from <= :d AND (valid_to IS NULL OR valid_to > :d)"),
            {"c": str(code), "d": self.date},
        ).first()
        if row is None:
            raise Unprocessable(f"no ward or commune {code} on {self.date}", field="ward_code")
        return row.id

    def land_use(self, code: Any) -> str:
        code = str(code or "").upper()
        if not self.s.execute(text("SELECT 1 FROM land_use_codes WHERE code = :c"), {"c": code}).first():
            raise Unprocessable(f"unknown land-use code {code!r}", field="land_use")
        return code

    def touch(self, parcel_id: int, role: str) -> None:
        self.touched[(parcel_id, role)] = None

    def lineage(self, parent: int, child: int, kind: str) -> None:
        self.s.execute(
            text("INSERT INTO parcel_lineage (parent_id, child_id, transaction_id, kind) VALUES (:p, :c, :tx, :k)"),
            {"p": parent, "c": child, "tx": self.id, "k": kind},
        )
        self.log.lineage(parent, child, kind)

    # parties, rights, certificates

    def find_party(self, ref: Any, *, field: str) -> int:
        """An existing party by `party_id` or by `id_number` (and `id_kind`)."""
        pid = self._lookup_party(ref, field)
        if pid is None:
            raise Unprocessable(f"{field}: no such party is registered", field=field)
        return pid

    def find_or_create_party(self, ref: Any, *, field: str) -> int:
        """An existing party, or a new one from `kind`, `full_name`, `id_kind`, `id_number`, …"""
        pid = self._lookup_party(ref, field)
        if pid is not None:
            return pid
        if not ref.get("full_name") or not ref.get("kind"):
            raise Unprocessable(f"{field}: unknown party; give kind and full_name to register a new one", field=field)
        allowed = {"kind", "full_name", "id_kind", "id_number", "birth_year", "address", "share"}
        extra = sorted(set(ref) - allowed)
        if extra:
            raise InvalidInput(f"{field}: unknown field(s) {', '.join(extra)}", field=field)
        values = {k: ref.get(k) for k in ("kind", "full_name", "id_kind", "id_number", "birth_year", "address")}
        if values["id_number"] is not None and values["id_kind"] is None:
            values["id_kind"] = "cccd" if re.fullmatch(r"[0-9]{12}", str(values["id_number"])) else "other"
        try:
            with self.s.begin_nested():
                pid = self.s.execute(
                    text("INSERT INTO parties (kind, full_name, id_kind, id_number, birth_year, address) "
                         "VALUES (:kind, :full_name, :id_kind, :id_number, :birth_year, :address) RETURNING id"),
                    values,
                ).scalar_one()
        except Exception as exc:  # a CHECK constraint (kind, ID format, birth year) refused it
            diag = getattr(getattr(exc, "orig", None), "diag", None)
            raise Unprocessable(f"{field}: the party is not valid ({getattr(diag, 'constraint_name', None) or exc.__class__.__name__})",
                                field=field) from None
        self.log.party(pid, values)
        return pid

    def _lookup_party(self, ref: Any, field: str) -> int | None:
        if not isinstance(ref, dict):
            raise InvalidInput(f"{field} must be an object naming a party (party_id or id_number)", field=field)
        if ref.get("party_id") is not None:
            pid = as_int(ref["party_id"], f"{field}.party_id")
            if not self.s.execute(text("SELECT 1 FROM parties WHERE id = :i"), {"i": pid}).first():
                raise Unprocessable(f"{field}: no party {pid}", field=field)
            return pid
        if ref.get("id_number"):
            return self.s.execute(
                text("SELECT id FROM parties WHERE id_number = :n AND (CAST(:k AS text) IS NULL OR id_kind = :k) "
                     "ORDER BY id LIMIT 1"),
                {"n": str(ref["id_number"]), "k": ref.get("id_kind")},
            ).scalar()
        return None

    def open_rights_of(self, parcel_id: int) -> list[dict]:
        return [dict(r._mapping) for r in self.s.execute(
            text("SELECT id, parcel_id, party_id, kind, share, certificate_id, valid_from, term_end, origin, "
                 "secured_amount_vnd FROM rights WHERE parcel_id = :p AND valid_to IS NULL ORDER BY id"),
            {"p": parcel_id},
        )]

    def close_rights(self, rights: Iterable[dict]) -> None:
        rights = list(rights)
        if not rights:
            return
        late = [r for r in rights if r["valid_from"] > self.date]
        if late:
            raise Unprocessable(f"effective_date {self.date} is before right {late[0]['id']} began "
                                f"({late[0]['valid_from']})", field="effective_date")
        self.s.execute(
            text("UPDATE rights SET valid_to = :d, closed_by_tx = :tx WHERE id = ANY(:ids) AND valid_to IS NULL"),
            {"d": self.date, "tx": self.id, "ids": [r["id"] for r in rights]},
        )
        for r in rights:
            self.log.close("rights", r["id"])

    def open_rights(self, rows: list[dict]) -> list[int]:
        """Insert rights in one statement (the share trigger checks them as a set)."""
        if not rows:
            return []
        cols = ("parcel_id", "party_id", "kind", "share", "certificate_id", "term_end", "origin", "secured_amount_vnd")
        data = [{c: (str(r.get(c)) if r.get(c) is not None else None) for c in cols} for r in rows]
        ids = self.s.execute(
            text("""
                INSERT INTO rights (parcel_id, party_id, kind, share, certificate_id, valid_from, term_end, origin,
                                    secured_amount_vnd, opened_by_tx)
                SELECT parcel_id, party_id, kind, share, certificate_id, :d, term_end, origin, secured_amount_vnd, :tx
                  FROM json_to_recordset(CAST(:rows AS json)) AS r(parcel_id bigint, party_id bigint, kind text,
                       share numeric, certificate_id bigint, term_end date, origin text, secured_amount_vnd numeric)
                RETURNING id
            """),
            {"rows": json.dumps(data), "d": self.date, "tx": self.id},
        ).scalars().all()
        for rid, row in zip(ids, data):
            self.log.right(rid, row, self.date)
        return list(ids)

    def issue_certificate(self, spec: Any) -> int:
        if not isinstance(spec, dict) or not spec.get("serial"):
            raise InvalidInput("certificate must be an object with at least a serial (số phát hành)",
                               field="certificate")
        extra = sorted(set(spec) - {"serial", "registry_no", "issued_on", "issued_by"})
        if extra:
            raise InvalidInput(f"certificate: unknown field(s) {', '.join(extra)}", field="certificate")
        m = SERIAL.match(str(spec["serial"]).strip().upper())
        if not m:
            raise Unprocessable("certificate.serial must be two letters and 6 or 8 digits, like CS 123456",
                                field="certificate.serial")
        serial = f"{m.group(1)} {m.group(2)}"
        issued_on = parse_date(spec.get("issued_on") or self.date, "certificate.issued_on")
        if issued_on > local_today():
            raise Unprocessable(f"certificate.issued_on {issued_on} is in the future", field="certificate.issued_on")
        if self.s.execute(text("SELECT 1 FROM certificates WHERE serial = :s"), {"s": serial}).first():
            raise Unprocessable(f"certificate serial {serial} has already been issued", field="certificate.serial")
        values = {"serial": serial, "registry_no": spec.get("registry_no"), "issued_on": issued_on,
                  "issued_by": spec.get("issued_by")}
        cid = self.s.execute(
            text("INSERT INTO certificates (serial, registry_no, issued_on, issued_by, opened_by_tx) "
                 "VALUES (:serial, :registry_no, :issued_on, :issued_by, :tx) RETURNING id"),
            dict(values, tx=self.id),
        ).scalar_one()
        self.log.certificate(cid, values)
        return cid

    def cancel_certificates(self, ids: Iterable[int]) -> None:
        ids = sorted(set(ids))
        if not ids:
            return
        early = self.s.execute(
            text("SELECT serial, issued_on FROM certificates WHERE id = ANY(:ids) AND issued_on > :d"),
            {"ids": ids, "d": self.date},
        ).first()
        if early:
            raise Unprocessable(f"effective_date {self.date} is before certificate {early.serial} was issued "
                                f"({early.issued_on})", field="effective_date")
        done = self.s.execute(
            text("UPDATE certificates SET cancelled_on = :d, closed_by_tx = :tx "
                 "WHERE id = ANY(:ids) AND closed_by_tx IS NULL RETURNING id"),
            {"d": self.date, "tx": self.id, "ids": ids},
        ).scalars().all()
        for cid in done:
            self.log.close("certificates", cid)

    # geometry

    def geometry(self, value: Any, crs: Any, *, field: str) -> str:
        """A posted polygon (GeoJSON, in `crs`, default EPSG:5899) → valid EWKB hex in EPSG:5899."""
        from .crs import parse_crs
        from .parcels import parse_geometry

        srid = parse_crs(crs, default=5899, field="crs")
        try:
            g = parse_geometry(value, srid)
        except InvalidInput as exc:
            raise Unprocessable(f"{field}: {exc.message.removeprefix('geometry: ')}", field=field) from None
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise Unprocessable(f"{field} must be a Polygon or MultiPolygon, not {g.geom_type}", field=field)
        row = self.s.execute(
            text("""
                SELECT encode(ST_AsEWKB(g), 'hex') AS ewkb, ST_IsValid(g) AS ok, ST_Area(g) AS area
                  FROM (SELECT ST_Multi(ST_Transform(ST_GeomFromWKB(decode(:wkb, 'hex'), :srid), 5899)) AS g) t
            """),
            {"wkb": g.wkb_hex, "srid": srid},
        ).one()
        if not row.ok or row.area <= 0:
            raise Unprocessable(f"{field} is not a valid polygon in EPSG:5899", field=field)
        return row.ewkb

    def check_free_of_overlaps(self, geom: str, *, exclude_parcels: Iterable[int]) -> None:
        bad = self.s.execute(
            text("""
                SELECT p.parcel_code, round(ST_Area(ST_Intersection(v.geom, n.g))::numeric, 2) AS area
                  FROM (SELECT ST_GeomFromEWKB(decode(:g, 'hex')) AS g) n
                  JOIN parcel_versions v ON v.geom && n.g AND v.valid_to IS NULL
                  JOIN parcels p ON p.id = v.parcel_id
                 WHERE NOT (v.parcel_id = ANY(:ex)) AND ST_Intersects(v.geom, n.g) AND NOT ST_Touches(v.geom, n.g)
                   AND ST_Area(ST_Intersection(v.geom, n.g)) > :tol
                 ORDER BY 2 DESC LIMIT 5
            """),
            {"g": geom, "ex": list(exclude_parcels), "tol": TOLERANCE_M2},
        ).all()
        if bad:
            listed = ", ".join(f"{b.parcel_code} by {b.area} m²" for b in bad)
            raise Unprocessable(f"the geometry would overlap active parcel(s) {listed}", field="geometry")

    # the journal row, last

    def finish(self) -> dict:
        """Record the touched parcels and write the journal row; return the description."""
        if self.touched:
            self.s.execute(
                text("INSERT INTO transaction_parcels (transaction_id, parcel_id, role) "
                     "SELECT :tx, p, r FROM unnest(CAST(:ps AS bigint[]), CAST(:rs AS text[])) AS t(p, r)"),
                {"tx": self.id, "ps": [p for p, _ in self.touched], "rs": [r for _, r in self.touched]},
            )
        payload = effects.payload(self.kind, self.request, self.log, self.s)
        # Everything but the journal row's own columns is described before that row is written:
        # its trigger takes the chain's lock, held until commit.
        body = effects_of(self.s, self.id)
        header = self.s.execute(
            text("INSERT INTO transactions AS t (id, kind, effective_date, dossier_no, actor, payload, idempotency_key) "
                 "VALUES (:id, :kind, :d, :dossier, :actor, CAST(:payload AS jsonb), :key) "
                 f"RETURNING {journal_row_json('personal')}"),
            {"id": self.id, "kind": self.kind, "d": self.date, "dossier": self.dossier_no, "actor": self.actor,
             "payload": json.dumps(payload, ensure_ascii=False, default=str), "key": self.idempotency_key},
        ).scalar_one()
        return {**header, **body}


# --- checks over several geometries ----------------------------------------------------------


def check_partition(session: Session, parent_version_id: int, geoms: list[str]) -> None:
    """Split children must not overlap each other and must cover the parent exactly."""
    row = session.execute(
        text("""
            WITH kids AS (
              SELECT ord, ST_GeomFromEWKB(decode(g, 'hex')) AS g
                FROM unnest(CAST(:gs AS text[])) WITH ORDINALITY AS k(g, ord)),
            ov AS (
              SELECT a.ord - 1 AS a, b.ord - 1 AS b, round(ST_Area(ST_Intersection(a.g, b.g))::numeric, 2) AS area
                FROM kids a JOIN kids b ON a.ord < b.ord AND a.g && b.g
               WHERE ST_Area(ST_Intersection(a.g, b.g)) > :tol),
            u AS (SELECT ST_Union(g) AS g FROM kids)
            SELECT (SELECT json_agg(ov ORDER BY a, b) FROM ov) AS overlaps,
                   round(ST_Area(ST_Difference(v.geom, u.g))::numeric, 2) AS uncovered,
                   round(ST_Area(ST_Difference(u.g, v.geom))::numeric, 2) AS excess,
                   round(ST_Area(ST_SymDifference(u.g, v.geom))::numeric, 4) AS symdiff
              FROM parcel_versions v, u WHERE v.id = :v
        """),
        {"gs": geoms, "tol": TOLERANCE_M2, "v": parent_version_id},
    ).one()
    if row.overlaps:
        o = row.overlaps[0]
        raise Unprocessable(f"children[{o['a']}] and children[{o['b']}] overlap by {o['area']:.2f} m²", field="children",
                            details={"overlaps": row.overlaps})
    if row.symdiff > Decimal(str(TOLERANCE_M2)):
        parts = []
        if row.uncovered > 0:
            parts.append(f"leave {row.uncovered} m² of the parent uncovered")
        if row.excess > 0:
            parts.append(f"reach {row.excess} m² beyond the parent")
        raise Unprocessable(f"the children {' and '.join(parts) or 'differ from the parent'}; their union must "
                            f"equal the parent within {TOLERANCE_M2} m²", field="children",
                            details={"uncovered_m2": float(row.uncovered), "excess_m2": float(row.excess)})


def check_adjacent(session: Session, parcels: list[LockedParcel]) -> None:
    """Parcels to merge must form one connected group, each sharing a boundary (≥ 10 cm)."""
    apart = detached(session, parcels)
    if apart:
        raise Unprocessable(f"parcel(s) {', '.join(apart)} share no boundary with {parcels[0].code} and the rest; "
                            "only adjacent parcels can be merged", field="parcels")


def detached(session: Session, parcels: list) -> list[str]:
    """Codes of the parcels (anything with `id`, `code`, `version_id`) not connected to the first
    through shared boundaries of at least 10 cm: what a merge refuses."""
    edges = session.execute(
        text("""
            SELECT a.parcel_id AS a, b.parcel_id AS b
              FROM parcel_versions a JOIN parcel_versions b ON a.id < b.id AND ST_DWithin(a.geom, b.geom, 0.01)
             WHERE a.id = ANY(:v) AND b.id = ANY(:v)
               AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Buffer(ST_Boundary(b.geom), 0.01))) >= 0.1
        """),
        {"v": [p.version_id for p in parcels]},
    ).all()
    reach, todo = {parcels[0].id}, [parcels[0].id]
    while todo:
        n = todo.pop()
        for e in edges:
            for x, y in ((e.a, e.b), (e.b, e.a)):
                if x == n and y not in reach:
                    reach.add(y)
                    todo.append(y)
    return [p.code for p in parcels if p.id not in reach]


def union_of(session: Session, version_ids: list[int]) -> str:
    return session.execute(
        text("SELECT encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_UnaryUnion(ST_Collect(geom))), 3))), "
             "'hex') FROM parcel_versions WHERE id = ANY(:v)"),
        {"v": version_ids},
    ).scalar_one()


def check_same_neighbours(session: Session, p: LockedParcel, geom: str) -> None:
    """A corrected boundary may not reach parcels that were not neighbours (within 0.5 m) before."""
    new = session.execute(
        text("""
            SELECT q.parcel_code
              FROM (SELECT ST_GeomFromEWKB(decode(:g, 'hex')) AS g) n,
                   (SELECT geom FROM parcel_versions WHERE id = :v) o,
                   parcel_versions v JOIN parcels q ON q.id = v.parcel_id
             WHERE v.valid_to IS NULL AND v.parcel_id <> :p AND ST_DWithin(v.geom, n.g, 0.5)
               AND NOT ST_DWithin(v.geom, o.geom, 0.5)
             ORDER BY 1 LIMIT 10
        """),
        {"g": geom, "v": p.version_id, "p": p.id},
    ).scalars().all()
    if new:
        raise Unprocessable(f"the corrected boundary of {p.code} reaches parcel(s) {', '.join(new)}, which were not "
                            "its neighbours; a correction stays among the same neighbours", field="geometry")
