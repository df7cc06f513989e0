"""Registering changes — đăng ký biến động: one function per kind, each one atomic journal entry.

Every function takes a Session and plain values, writes through it, flushes and never commits:
the caller owns the transaction (`with session.begin(): register_transfer(...)`), so a failure
anywhere leaves no trace. A registration

1. locks the parcels it touches (`SELECT … FOR UPDATE` on `parcels`, in id order) and only then
   compares `expected_version` with the current version (stale → Conflict, 409), so concurrent
   changes of one parcel serialise and exactly one wins, while different parcels never wait on
   each other's locks;
2. validates (→ Unprocessable, 422, with a detail that says exactly what is wrong);
3. closes old rows (`valid_to` + `closed_by_tx`) and opens new ones — rights, certificates,
   lineage — and, last, the parcel versions (every change opens the next version, which is what
   `expected_version` names; the overlap trigger's grid-cell lock is thus held only briefly);
4. writes the journal row in `transactions` LAST: its id is taken from the sequence up front
   (the foreign keys to it are deferred), and its BEFORE INSERT trigger takes the journal's lock
   and fills seq/prev_hash/hash, so the chain lock is held only from that insert to commit.

`register(session, body, ...)` is the entry point the HTTP layer uses: it checks the request's
shape, dispatches on `kind` and makes an `Idempotency-Key` safe to retry.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any, Callable, Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import registry_support as rs
from .errors import InvalidInput, Unprocessable
from .registration_schema import check_body
from .registry_support import Registration, TOLERANCE_M2
from .transactions import describe

#: origin (nguồn gốc) written on rights received by each kind.
ORIGINS = {
    "transfer": "Nhận chuyển nhượng quyền sử dụng đất",
    "inheritance": "Nhận thừa kế quyền sử dụng đất",
    "gift": "Nhận tặng cho quyền sử dụng đất",
}
TRANSFER_KINDS = tuple(ORIGINS)
HOLDER_KINDS = ("land_use_right", "house_ownership")


# --- first registration ---------------------------------------------------------------------


def register_first_registration(
    session: Session, *, ward_code: str, sheet_no: int, geometry: Any, land_use: str,
    legal_area_m2: Any, holders: list[dict], certificate: dict, effective_date: Any,
    parcel_no: int | None = None, address: str | None = None, national_id: str | None = None,
    crs: str | int | None = None, origin: str | None = None, term_end: Any = None,
    dossier_no: str | None = None, actor: str | None = None, idempotency_key: str | None = None,
    request: dict | None = None,
) -> dict:
    """First registration (đăng ký lần đầu): a new parcel, its holders and their certificate.

    `holders` are `{party…, "share": s, "kind": "land_use_right"}` with shares summing to 1 per
    kind. Returns the transaction's description (see `describe_transaction`)."""
    reg = Registration(session, "first_registration", effective_date, dossier_no, actor,
                       idempotency_key, request)
    ward_id = reg.ward_id(ward_code)
    land_use = reg.land_use(land_use)
    area = rs.positive_area(legal_area_m2)
    geom = reg.geometry(geometry, crs, field="geometry")
    reg.check_free_of_overlaps(geom, exclude_parcels=())
    holder_rows = _holder_rows(reg, holders, field="holders")
    sheet_no = rs.as_int(sheet_no, "sheet_no")
    parcel_no = reg.allocate_parcel_no(ward_code, sheet_no, parcel_no)
    cert_id = reg.issue_certificate(certificate)
    pid = reg.new_parcel(ward_id, ward_code, sheet_no, parcel_no, national_id)
    reg.touch(pid, "subject")
    reg.open_rights([
        dict(h, parcel_id=pid, certificate_id=cert_id, origin=origin or h.get("origin"),
             term_end=rs.opt_date(term_end, "term_end"))
        for h in holder_rows
    ])
    reg.open_version(pid, 1, geom=geom, land_use=land_use, legal_area_m2=area, address=address)
    return reg.finish()


def _holder_rows(reg: Registration, holders: Any, *, field: str) -> list[dict]:
    """First holders: parties with shares that sum to exactly 1 for each kind of right."""
    if not isinstance(holders, list) or not holders:
        raise Unprocessable(f"{field} must list at least one holder", field=field)
    rows, totals = [], {}
    for i, h in enumerate(holders):
        if not isinstance(h, dict):
            raise InvalidInput(f"{field}[{i}] must be an object", field=f"{field}[{i}]")
        rkind = h.get("kind_of_right", "land_use_right")
        if rkind not in HOLDER_KINDS + ("lease",):
            raise Unprocessable(f"{field}[{i}].kind_of_right must be one of land_use_right, house_ownership, lease",
                                field=f"{field}[{i}]")
        share = rs.opt_share(h.get("share", 1 if len(holders) == 1 else None), f"{field}[{i}].share")
        if share is None:
            raise Unprocessable(f"{field}[{i}].share is needed when there are several holders", field=f"{field}[{i}]")
        ref = {k: v for k, v in h.items() if k not in ("share", "kind_of_right", "origin")}
        pid = reg.find_or_create_party(ref, field=f"{field}[{i}]")
        totals[rkind] = totals.get(rkind, Decimal(0)) + share
        rows.append(dict(party_id=pid, kind=rkind, share=share, origin=h.get("origin")))
    for rkind, total in totals.items():
        if total != 1:
            raise Unprocessable(f"the shares of {rkind} sum to {rs.fmt(total)}; they must sum to 1", field=field)
    return rows


# --- transfer, inheritance, gift ------------------------------------------------------------


def register_transfer(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any,
    transferors: list[dict], transferees: list[dict], certificate: dict, kind: str = "transfer",
    mortgagee_consent: list[dict] | None = None, dossier_no: str | None = None,
    actor: str | None = None, idempotency_key: str | None = None, request: dict | None = None,
) -> dict:
    """Transfer (chuyển nhượng), inheritance (thừa kế) or gift (tặng cho): the transferors'
    shares pass to the transferees, and a new certificate evidences every right on the parcel.

    `transferors`: `{party_id | id_number, "share"?}` — current holders (a share less than theirs
    passes only that part). `transferees`: `{party…, "share"?}`, shares as fractions of the whole
    parcel, summing to what passes. A mortgaged parcel needs each mortgagee in `mortgagee_consent`.
    """
    if kind not in TRANSFER_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(TRANSFER_KINDS)}", field="kind")
    reg = Registration(session, kind, effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    rights = reg.open_rights_of(p.id)
    _check_mortgagee_consent(reg, p, rights, mortgagee_consent)
    holders = [r for r in rights if r["kind"] in HOLDER_KINDS]
    if not holders:
        raise Unprocessable(f"parcel {p.code} has no registered holders to transfer from",
                            field="parcel")
    if not transferors:
        raise Unprocessable("name the transferors (the current holders who transfer)", field="transferors")

    by_party: dict[int, dict[str, Decimal]] = {}
    for r in holders:
        by_party.setdefault(r["party_id"], {})[r["kind"]] = r["share"]
    gives: dict[int, Decimal | None] = {}
    for i, t in enumerate(transferors):
        pid = reg.find_party(t, field=f"transferors[{i}]")
        if pid not in by_party:
            raise Unprocessable(
                f"transferors[{i}] (party {pid}) is not a current holder of parcel {p.code}; "
                f"holders are parties {', '.join(str(x) for x in sorted(by_party))}",
                field=f"transferors[{i}]")
        gives[pid] = rs.opt_share(t.get("share"), f"transferors[{i}].share")

    receivers = []
    for i, t in enumerate(transferees):
        receivers.append((reg.find_or_create_party(t, field=f"transferees[{i}]"),
                          rs.opt_share(t.get("share"), f"transferees[{i}].share")))
    if not receivers:
        raise Unprocessable("name the transferees (who receive the right)", field="transferees")

    new_shares: dict[str, dict[int, Decimal]] = {}
    for rkind in HOLDER_KINDS:
        current = {r["party_id"]: r["share"] for r in holders if r["kind"] == rkind}
        if not current:
            continue
        passing = Decimal(0)
        for pid, part in gives.items():
            held = current.get(pid)
            if held is None:
                continue
            give = held if part is None else part
            if give > held:
                raise Unprocessable(
                    f"party {pid} holds {rs.fmt(held)} of the {rkind} on {p.code} and cannot transfer {rs.fmt(give)}",
                    field="transferors")
            passing += give
            current[pid] = held - give
        if passing == 0:
            continue
        given = [s for _, s in receivers]
        if len(receivers) == 1 and given[0] is None:
            given = [passing]
        if any(s is None for s in given):
            raise Unprocessable("with several transferees, give each one's share", field="transferees")
        if sum(given) != passing:
            raise Unprocessable(
                f"the transferees' shares sum to {rs.fmt(sum(given))} but the transferors pass "
                f"{rs.fmt(passing)} of the {rkind}; the shares after the transfer would sum to "
                f"{rs.fmt(sum(current.values()) + sum(given))}, not 1",
                field="transferees")
        for (pid, _), share in zip(receivers, given):
            current[pid] = current.get(pid, Decimal(0)) + share
        new_shares[rkind] = {pid: s for pid, s in current.items() if s > 0}
    if not new_shares:
        raise Unprocessable("the transferors hold nothing that could pass", field="transferors")

    closing = [r for r in holders if r["kind"] in new_shares]
    template = {r["kind"]: r for r in closing}
    reg.close_rights(closing)
    reg.cancel_certificates({r["certificate_id"] for r in closing if r["certificate_id"]})
    cert_id = reg.issue_certificate(certificate)
    receiver_ids = {pid for pid, _ in receivers}
    old = {(r["kind"], r["party_id"]): r for r in closing}
    rows = []
    for rkind, shares in new_shares.items():
        for pid, share in sorted(shares.items()):
            prev = old.get((rkind, pid), template[rkind])
            rows.append(dict(parcel_id=p.id, party_id=pid, kind=rkind, share=share,
                             certificate_id=cert_id, term_end=prev["term_end"],
                             origin=ORIGINS[kind] if pid in receiver_ids else prev["origin"]))
    reg.open_rights(rows)
    reg.next_version(p)
    return reg.finish()


def _check_mortgagee_consent(reg: Registration, p, rights: list[dict], consent: list[dict] | None) -> None:
    mortgages = [r for r in rights if r["kind"] == "mortgage"]
    if not mortgages:
        return
    consenting = {reg.find_party(c, field=f"mortgagee_consent[{i}]") for i, c in enumerate(consent or [])}
    missing = sorted({m["party_id"] for m in mortgages} - consenting)
    if missing:
        raise Unprocessable(
            f"parcel {p.code} is mortgaged (to party {', '.join(map(str, missing))}); the transfer needs "
            "each mortgagee's consent in mortgagee_consent, or a mortgage_release first",
            field="mortgagee_consent")


# --- mortgage and its release ---------------------------------------------------------------


def register_mortgage(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any, mortgagee: dict,
    secured_amount_vnd: Any = None, term_end: Any = None, dossier_no: str | None = None,
    actor: str | None = None, idempotency_key: str | None = None, request: dict | None = None,
) -> dict:
    """Mortgage (thế chấp): a restriction in favour of the mortgagee (a bank) opens."""
    reg = Registration(session, "mortgage", effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    rights = reg.open_rights_of(p.id)
    if not any(r["kind"] in HOLDER_KINDS for r in rights):
        raise Unprocessable(f"parcel {p.code} has no registered holder who could mortgage it", field="parcel")
    bank = reg.find_or_create_party(mortgagee, field="mortgagee")
    if any(r["kind"] == "mortgage" and r["party_id"] == bank for r in rights):
        raise Unprocessable(f"parcel {p.code} is already mortgaged to party {bank}", field="mortgagee")
    cert = next((r["certificate_id"] for r in rights if r["kind"] == "land_use_right" and r["certificate_id"]), None)
    amount = rs.opt_amount(secured_amount_vnd)
    reg.open_rights([dict(parcel_id=p.id, party_id=bank, kind="mortgage", share=None, certificate_id=cert,
                          term_end=rs.opt_date(term_end, "term_end"), origin=None, secured_amount_vnd=amount)])
    reg.next_version(p)
    return reg.finish()


def register_mortgage_release(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any,
    mortgagee: dict | None = None, mortgage_id: int | None = None, dossier_no: str | None = None,
    actor: str | None = None, idempotency_key: str | None = None, request: dict | None = None,
) -> dict:
    """Mortgage release (xóa thế chấp): the mortgage (by its right id, or its mortgagee) closes."""
    reg = Registration(session, "mortgage_release", effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    mortgages = [r for r in reg.open_rights_of(p.id) if r["kind"] == "mortgage"]
    if mortgage_id is not None:
        chosen = [m for m in mortgages if m["id"] == rs.as_int(mortgage_id, "mortgage_id")]
    elif mortgagee is not None:
        bank = reg.find_party(mortgagee, field="mortgagee")
        chosen = [m for m in mortgages if m["party_id"] == bank]
    else:
        raise InvalidInput("name the mortgage to release: mortgage_id or mortgagee", field="mortgage_id")
    if not chosen:
        raise Unprocessable(f"parcel {p.code} has no such open mortgage", field="mortgage_id")
    reg.close_rights(chosen)
    reg.next_version(p)
    return reg.finish()


# --- split and merge ------------------------------------------------------------------------


def split_parcel(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any, children: list[dict],
    crs: str | int | None = None, dossier_no: str | None = None, actor: str | None = None,
    idempotency_key: str | None = None, request: dict | None = None,
) -> dict:
    """Split (tách thửa): one parcel becomes several; each inherits the parent's rights.

    `children`: `{"geometry", "legal_area_m2", "parcel_no"?, "sheet_no"?, "land_use"?,
    "address"?, "certificate"?}`. The children must be valid, must not overlap each other and
    must cover the parent: their union equals it within 0.05 m²."""
    reg = Registration(session, "split", effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    if not isinstance(children, list) or len(children) < 2:
        raise Unprocessable("a split needs at least two children", field="children")
    child_fields = {"geometry", "legal_area_m2", "parcel_no", "sheet_no", "land_use", "address", "certificate",
                    "national_id"}
    for i, c in enumerate(children):
        if not isinstance(c, dict):
            raise InvalidInput(f"children[{i}] must be an object", field=f"children[{i}]")
        extra = sorted(set(c) - child_fields)
        if extra:
            raise InvalidInput(f"children[{i}]: unknown field(s) {', '.join(extra)}", field=f"children[{i}]")
    geoms = [reg.geometry(c.get("geometry"), crs, field=f"children[{i}].geometry") for i, c in enumerate(children)]
    rs.check_partition(session, p.version_id, geoms)
    rights = reg.open_rights_of(p.id)
    reg.close_rights(rights)
    reg.cancel_certificates({r["certificate_id"] for r in rights if r["certificate_id"]})
    reg.retire(p)
    versions = []
    for i, (child, geom) in enumerate(zip(children, geoms)):
        sheet = rs.as_int(child.get("sheet_no", p.sheet_no), f"children[{i}].sheet_no")
        number = reg.allocate_parcel_no(p.ward_code, sheet, child.get("parcel_no"))
        cid = reg.new_parcel(p.ward_id, p.ward_code, sheet, number, child.get("national_id"))
        reg.touch(cid, "target")
        reg.lineage(p.id, cid, "split")
        cert = reg.issue_certificate(child["certificate"]) if child.get("certificate") else None
        reg.open_rights([_inherit(r, cid, cert) for r in rights])
        versions.append(dict(
            parcel_id=cid, version=1, geom=geom,
            land_use=reg.land_use(child["land_use"]) if child.get("land_use") else p.land_use,
            legal_area_m2=rs.positive_area(child.get("legal_area_m2"), f"children[{i}].legal_area_m2"),
            address=child.get("address", p.address)))
    reg.open_versions(versions)
    return reg.finish()


def merge_parcels(
    session: Session, *, parcels: list[str], expected_version: Any, effective_date: Any,
    parcel_no: int | None = None, sheet_no: int | None = None, land_use: str | None = None,
    legal_area_m2: Any = None, address: str | None = None, certificate: dict | None = None,
    dossier_no: str | None = None, actor: str | None = None, idempotency_key: str | None = None,
    request: dict | None = None,
) -> dict:
    """Merge (hợp thửa): adjacent parcels with the same holders become one new parcel.

    `expected_version` is `{code: version}` or a list in the order of `parcels`."""
    reg = Registration(session, "merge", effective_date, dossier_no, actor, idempotency_key, request)
    if not isinstance(parcels, list) or not all(isinstance(c, str) for c in parcels):
        raise InvalidInput("parcels must be a list of parcel codes", field="parcels")
    if len(set(parcels)) < 2:
        raise Unprocessable("a merge needs at least two different parcels", field="parcels")
    if isinstance(expected_version, list) and len(expected_version) == len(parcels):
        expected = dict(zip(parcels, expected_version))
    elif isinstance(expected_version, dict):
        expected = expected_version
    else:
        raise Unprocessable("expected_version must map each parcel code to its version "
                            "(an object, or a list as long as parcels, in its order)", field="expected_version")
    locked = reg.lock(parcels, expected)
    first = locked[0]
    if len({q.ward_code for q in locked}) > 1:
        raise Unprocessable("parcels of different wards cannot be merged", field="parcels")
    rs.check_adjacent(session, locked)
    rights = {q.id: reg.open_rights_of(q.id) for q in locked}
    holders = {q.code: sorted((r["kind"], r["party_id"], r["share"]) for r in rights[q.id] if r["kind"] in HOLDER_KINDS)
               for q in locked}
    if len({tuple(h) for h in holders.values()}) > 1:
        differing = [c for c, h in holders.items() if h != holders[first.code]]
        raise Unprocessable(
            f"parcels to merge must have the same holders with the same shares; {', '.join(differing)} "
            f"differ from {first.code}", field="parcels")
    uses = {q.land_use for q in locked}
    if land_use is None and len(uses) > 1:
        raise Unprocessable(f"the parcels have different land uses ({', '.join(sorted(uses))}); give land_use",
                            field="land_use")
    area = rs.positive_area(legal_area_m2) if legal_area_m2 is not None else sum(q.legal_area_m2 for q in locked)
    all_rights = [r for q in locked for r in rights[q.id]]
    reg.close_rights(all_rights)
    reg.cancel_certificates({r["certificate_id"] for r in all_rights if r["certificate_id"]})
    for q in locked:
        reg.retire(q)
    sheet = rs.as_int(sheet_no, "sheet_no") if sheet_no is not None else first.sheet_no
    number = reg.allocate_parcel_no(first.ward_code, sheet, parcel_no)
    cid = reg.new_parcel(first.ward_id, first.ward_code, sheet, number, None)
    reg.touch(cid, "target")
    for q in locked:
        reg.lineage(q.id, cid, "merge")
    cert = reg.issue_certificate(certificate) if certificate else None
    seen: dict[tuple, dict] = {}
    for r in all_rights:  # holders are the same on every parent; mortgages all carry over
        key = (r["kind"], r["party_id"]) if r["kind"] in HOLDER_KINDS else ("mortgage", r["id"])
        seen.setdefault(key, r)
    reg.open_rights([_inherit(r, cid, cert if r["kind"] != "mortgage" else None) for r in seen.values()])
    reg.open_version(cid, 1, geom=rs.union_of(session, [q.version_id for q in locked]),
                     land_use=reg.land_use(land_use) if land_use else first.land_use,
                     legal_area_m2=area, address=address if address is not None else first.address)
    return reg.finish()


def _inherit(r: dict, parcel_id: int, cert: int | None) -> dict:
    return dict(parcel_id=parcel_id, party_id=r["party_id"], kind=r["kind"], share=r["share"],
                certificate_id=cert if r["kind"] != "mortgage" else None, term_end=r["term_end"],
                origin=r["origin"], secured_amount_vnd=r["secured_amount_vnd"])


# --- land use, certificate, geometry ---------------------------------------------------------


def change_land_use(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any, land_use: str,
    dossier_no: str | None = None, actor: str | None = None, idempotency_key: str | None = None,
    request: dict | None = None,
) -> dict:
    """Change of land use (chuyển mục đích sử dụng đất): a new land-use code from the date."""
    reg = Registration(session, "land_use_change", effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    code = reg.land_use(land_use)
    if code == p.land_use:
        raise Unprocessable(f"parcel {p.code} already has land use {code}", field="land_use")
    reg.next_version(p, land_use=code)
    return reg.finish()


def reissue_certificate(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any, certificate: dict,
    dossier_no: str | None = None, actor: str | None = None, idempotency_key: str | None = None,
    request: dict | None = None,
) -> dict:
    """Certificate re-issue (cấp đổi / cấp lại): a new serial evidences the same rights."""
    reg = Registration(session, "certificate_reissue", effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    holders = [r for r in reg.open_rights_of(p.id) if r["kind"] in HOLDER_KINDS or r["kind"] == "lease"]
    if not holders:
        raise Unprocessable(f"parcel {p.code} has no rights a certificate could evidence", field="parcel")
    reg.close_rights(holders)
    reg.cancel_certificates({r["certificate_id"] for r in holders if r["certificate_id"]})
    cert = reg.issue_certificate(certificate)
    reg.open_rights([_inherit(r, p.id, cert) for r in holders])
    reg.next_version(p)
    return reg.finish()


def correct_geometry(
    session: Session, *, parcel: str, expected_version: int, effective_date: Any, geometry: Any,
    legal_area_m2: Any = None, crs: str | int | None = None, dossier_no: str | None = None,
    actor: str | None = None, idempotency_key: str | None = None, request: dict | None = None,
) -> dict:
    """Geometry correction (chỉnh lý): a surveyed boundary that stays among the same neighbours."""
    reg = Registration(session, "geometry_correction", effective_date, dossier_no, actor, idempotency_key, request)
    p = reg.lock_one(parcel, expected_version)
    geom = reg.geometry(geometry, crs, field="geometry")
    reg.check_free_of_overlaps(geom, exclude_parcels=(p.id,))
    rs.check_same_neighbours(session, p, geom)
    area = rs.positive_area(legal_area_m2) if legal_area_m2 is not None else None
    reg.next_version(p, geom=geom, legal_area_m2=area)
    return reg.finish()


# --- the request entry point ------------------------------------------------------------------

_COMMON = {"kind", "effective_date", "dossier_no"}
#: an Idempotency-Key as accepted: visible ASCII, 1 to 200 characters.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,200}$"


def _args(body: dict, required: Iterable[str], optional: Iterable[str]) -> dict:
    required, optional = set(required), set(optional)
    unknown = sorted(set(body) - required - optional - _COMMON)
    if unknown:
        raise InvalidInput(f"unknown field(s) for kind {body.get('kind')}: {', '.join(unknown)}", field=unknown[0])
    missing = sorted(f for f in required if body.get(f) is None)
    if missing:
        raise InvalidInput(f"missing field(s) for kind {body.get('kind')}: {', '.join(missing)}", field=missing[0])
    args = {k: body[k] for k in required | optional if k in body}
    args["effective_date"] = body.get("effective_date")
    args["dossier_no"] = body.get("dossier_no")
    return args


def _transfer(session, body, **kw):
    a = _args(body, {"parcel", "expected_version", "transferors", "transferees", "certificate"},
              {"mortgagee_consent"})
    return register_transfer(session, kind=body["kind"], **a, **kw)


KINDS: dict[str, Callable[..., dict]] = {
    "first_registration": lambda s, b, **kw: register_first_registration(s, **_args(
        b, {"ward_code", "sheet_no", "geometry", "land_use", "legal_area_m2", "holders", "certificate"},
        {"parcel_no", "address", "national_id", "crs", "origin", "term_end"}), **kw),
    "transfer": _transfer,
    "inheritance": _transfer,
    "gift": _transfer,
    "mortgage": lambda s, b, **kw: register_mortgage(s, **_args(
        b, {"parcel", "expected_version", "mortgagee"}, {"secured_amount_vnd", "term_end"}), **kw),
    "mortgage_release": lambda s, b, **kw: register_mortgage_release(s, **_args(
        b, {"parcel", "expected_version"}, {"mortgagee", "mortgage_id"}), **kw),
    "split": lambda s, b, **kw: split_parcel(s, **_args(
        b, {"parcel", "expected_version", "children"}, {"crs"}), **kw),
    "merge": lambda s, b, **kw: merge_parcels(s, **_args(
        b, {"parcels", "expected_version"},
        {"parcel_no", "sheet_no", "land_use", "legal_area_m2", "address", "certificate"}), **kw),
    "land_use_change": lambda s, b, **kw: change_land_use(s, **_args(
        b, {"parcel", "expected_version", "land_use"}, set()), **kw),
    "certificate_reissue": lambda s, b, **kw: reissue_certificate(s, **_args(
        b, {"parcel", "expected_version", "certificate"}, set()), **kw),
    "geometry_correction": lambda s, b, **kw: correct_geometry(s, **_args(
        b, {"parcel", "expected_version", "geometry"}, {"legal_area_m2", "crs"}), **kw),
}


def fingerprint(body: dict) -> str:
    """SHA-256 of the request body in canonical JSON: what an Idempotency-Key is bound to."""
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def scoped_idempotency_key(key: str, scope: str | None) -> str:
    """What the journal stores for a client's Idempotency-Key: the key within its scope
    (`key:7/order-42` for API key 7), so one client's key never meets another's."""
    return key if scope is None else f"{scope}/{key}"


def register(session: Session, body: Any, *, actor: str | None = None,
             idempotency_key: str | None = None, idempotency_scope: str | None = None) -> tuple[dict, bool]:
    """Register the change a request body describes; return `(description, created)`.

    With an `idempotency_key` already used in the same `idempotency_scope` (the API key or user
    that sends it, as the IETF draft and Stripe scope them) for the same body, nothing is
    registered and the first registration's description comes back with `created=False`; the
    same key with a different body is refused (Unprocessable). Another scope's use of the key
    is none of this request's business. Flushes; the caller commits."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    body = _normalise_parcel_field(body)
    kind = check_body(body)
    fp = fingerprint(body)
    if idempotency_key is not None:
        key = str(idempotency_key).strip()
        if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
            raise InvalidInput("Idempotency-Key must be 1 to 200 visible ASCII characters (a UUID, say)",
                               field="Idempotency-Key")
        key = scoped_idempotency_key(key, idempotency_scope)
        # Two requests with the same key serialise here; the second sees the first's row.
        session.execute(text("SELECT pg_advisory_xact_lock(5902, hashtext(:k))"), {"k": key})
        earlier = session.execute(
            text("SELECT id, payload->'request'->>'fingerprint' AS fp FROM transactions WHERE idempotency_key = :k"),
            {"k": key},
        ).first()
        if earlier is not None:
            if earlier.fp != fp:
                raise Unprocessable("this Idempotency-Key was already used with a different request body",
                                    field="Idempotency-Key")
            return describe_transaction(session, earlier.id), False
        idempotency_key = key
    request = {"body": body, "fingerprint": fp}
    return KINDS[kind](session, body, actor=actor, idempotency_key=idempotency_key, request=request), True


def _normalise_parcel_field(body: dict) -> dict:
    if body.get("kind") == "merge" or "parcels" not in body or "parcel" in body:
        return body
    parcels = body["parcels"]
    if isinstance(parcels, list) and len(parcels) == 1:
        body = {k: v for k, v in body.items() if k != "parcels"}
        body["parcel"] = parcels[0]
    return body


def describe_transaction(session: Session, tx_id: int) -> dict:
    """A registered transaction: id, seq, hash, kind, dates, parcels, and what it closed and opened."""
    return describe(session, tx_id)


__all__ = [
    "register", "register_first_registration", "register_transfer", "register_mortgage",
    "register_mortgage_release", "split_parcel", "merge_parcels", "change_land_use",
    "reissue_certificate", "correct_geometry", "describe_transaction", "fingerprint", "KINDS",
    "TOLERANCE_M2",
]
