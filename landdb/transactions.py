"""Transaction queries — đăng ký biến động: one registered change, and the journal's list, as JSON
built in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import InvalidInput, NotFound

PARCEL_CODE = re.compile(r"^\d{5}-\d{1,6}-\d{1,7}$")
DETAILS = ("public", "rights", "personal")


def shows_dossier(detail: str) -> bool:
    """The one rule for dossier numbers (số hồ sơ): shown from the 'rights' detail up (a key with
    rights:read), never to the public — in a transaction, the journal list and a parcel's history."""
    return detail in ("rights", "personal")


_RIGHT = """json_build_object('id', r.id, 'parcel', p.parcel_code, 'kind', r.kind, 'party_id', r.party_id,
                              'share', r.share, 'certificate', c.serial, 'valid_from', r.valid_from,
                              'valid_to', r.valid_to{names})"""


def journal_row_json(detail: str) -> str:
    """SQL: the journal row `t` as a JSON object (what anyone may see, and more by detail)."""
    extra = ""
    if shows_dossier(detail):
        extra += ", 'dossier_no', t.dossier_no"
    if detail == "personal":
        extra += ", 'actor', t.actor"
    return f"""json_build_object(
        'id', t.id, 'seq', t.seq, 'kind', t.kind, 'effective_date', t.effective_date,
        'registered_at', t.registered_at, 'hash', t.hash, 'prev_hash', t.prev_hash {extra})"""


def effects_of(session: Session, tx_id: int, *, detail: str = "personal") -> dict:
    """What transaction `tx_id` touched, closed and opened, built in one statement.

    Reads only the rows that point at the transaction, so it works before its journal row exists
    (the registry computes it just before writing that row, to keep the journal's lock short)."""
    names = ", 'party_name', (SELECT full_name FROM parties WHERE id = r.party_id)" if detail == "personal" else ""
    right = _RIGHT.format(names=names)
    rights_part = "" if detail == "public" else f"""
        , 'rights', (SELECT coalesce(json_agg({right} ORDER BY r.id), '[]')
                       FROM rights r JOIN parcels p ON p.id = r.parcel_id
                       LEFT JOIN certificates c ON c.id = r.certificate_id
                      WHERE r.parcel_id IN (SELECT parcel_id FROM tp) AND r.{{col}} = :id)
        , 'certificates', (SELECT coalesce(json_agg(json_build_object('serial', c.serial, 'issued_on', c.issued_on,
                                   'cancelled_on', c.cancelled_on) ORDER BY c.id), '[]')
                             FROM (SELECT DISTINCT certificate_id FROM rights
                                    WHERE parcel_id IN (SELECT parcel_id FROM tp)) x
                             JOIN certificates c ON c.id = x.certificate_id
                            WHERE c.{{col}} = :id)"""

    # Parcels opened: their first version is the transaction's; closed: retired by it.
    opened_parcels = ("EXISTS (SELECT 1 FROM parcel_versions v WHERE v.parcel_id = p.id AND v.version = 1 "
                      "AND v.opened_by_tx = :id)")
    closed_parcels = ("p.retired_on IS NOT NULL AND EXISTS (SELECT 1 FROM parcel_versions v WHERE v.parcel_id = p.id "
                      "AND v.closed_by_tx = :id AND v.valid_to = p.retired_on) AND NOT EXISTS (SELECT 1 FROM "
                      "parcel_versions v WHERE v.parcel_id = p.id AND v.opened_by_tx = :id)")

    def side(col: str, which: str) -> str:
        return f"""json_build_object(
            'parcels', (SELECT coalesce(json_agg(code ORDER BY id), '[]') FROM (
                          SELECT DISTINCT p.id, p.parcel_code AS code
                            FROM tp JOIN parcels p ON p.id = tp.parcel_id WHERE {which}) x),
            'versions', (SELECT coalesce(json_agg(json_build_object('parcel', p.parcel_code, 'version', v.version,
                                 'valid_from', v.valid_from, 'valid_to', v.valid_to, 'land_use', v.land_use,
                                 'legal_area_m2', v.legal_area_m2) ORDER BY p.id, v.version), '[]')
                           FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id
                          WHERE v.parcel_id IN (SELECT parcel_id FROM tp) AND v.{col} = :id)
            {rights_part.format(col=col)})"""

    sql = f"""
        WITH tp AS (SELECT DISTINCT parcel_id, role FROM transaction_parcels WHERE transaction_id = :id)
        SELECT json_build_object(
            'parcels', (SELECT coalesce(json_agg(json_build_object('parcel', p.parcel_code, 'role', tp.role)
                                                 ORDER BY p.id, tp.role), '[]')
                          FROM tp JOIN parcels p ON p.id = tp.parcel_id),
            'closed', {side('closed_by_tx', closed_parcels)},
            'opened', {side('opened_by_tx', opened_parcels)})
    """
    return session.execute(text(sql), {"id": tx_id}).scalar_one()


def describe(session: Session, tx_id: int, *, detail: str = "personal") -> dict:
    """The transaction: its journal row (id, seq, hash, kind, dates…) and what it closed and opened.

    `detail`: 'public' (versions and parcels only), 'rights' (also rights, certificates, dossier
    number; parties by id) or 'personal' (also the parties' names and the actor).
    Raises NotFound for an unknown id."""
    header = session.execute(text(f"SELECT {journal_row_json(detail)} FROM transactions t WHERE t.id = :id"),
                             {"id": tx_id}).scalar()
    if header is None:
        raise NotFound(f"no transaction {tx_id}")
    return {**header, **effects_of(session, tx_id, detail=detail)}



def get_transaction(session: Session, tx_id: int, *, detail: str = "public") -> dict:
    """One transaction with what it closed and opened (see `describe`).

    'personal' adds the parties' names, the actor and the payload (the request as registered)."""
    if detail not in DETAILS:
        raise ValueError(detail)
    out = describe(session, tx_id, detail=detail)
    if detail == "personal":
        out["payload"] = session.execute(text("SELECT payload FROM transactions WHERE id = :i"), {"i": tx_id}).scalar()
    return out


def redact(answer: dict, detail: str) -> dict:
    """A 'personal' description cut down to `detail` (the same as `get_transaction` would give)."""
    if detail == "personal":
        return answer
    out = {k: v for k, v in answer.items() if k != "actor" and (shows_dossier(detail) or k != "dossier_no")}
    for side in ("closed", "opened"):
        part = dict(out[side])
        if detail == "public":
            part.pop("rights", None)
            part.pop("certificates", None)
        else:
            part["rights"] = [{k: v for k, v in r.items() if k != "party_name"} for r in part.get("rights", [])]
        out[side] = part
    return out


def parcel_ids_of(session: Session, tx_id: int) -> list[int]:
    """`parcels.id` of every parcel a transaction touched (for the access log)."""
    return list(session.execute(text("SELECT DISTINCT parcel_id FROM transaction_parcels WHERE transaction_id = :t "
                                     "ORDER BY 1"), {"t": tx_id}).scalars())


def party_ids_in(answer: dict) -> list[int]:
    """The parties whose names a 'personal' description carries (for the access log)."""
    ids = {r["party_id"] for side in ("closed", "opened") for r in answer.get(side, {}).get("rights", [])}
    return sorted(i for i in ids if i is not None)


def list_transactions(session: Session, *, parcel: str | None = None, since: dt.date | None = None,
                      after: int | None = None, limit: int = 100, offset: int = 0, detail: str = "public") -> str:
    """The journal in `seq` order as JSON text: `{"matched", "transactions": [...]}`.

    `parcel`: only transactions that touched that parcel code (any of its incarnations);
    `since`: only those effective on or after the date; `after`: only those after that `seq`
    (to follow the journal). Summaries only — no personal data; `detail` != 'public' adds the
    dossier number."""
    if parcel is not None and not PARCEL_CODE.match(parcel):
        raise InvalidInput(f"{parcel!r} is not a parcel code like 06691-12-345", field="parcel")
    if not (1 <= limit <= 1000) or offset < 0:
        raise InvalidInput("limit must be 1..1000 and offset ≥ 0", field="limit")
    params = {"parcel": parcel, "since": since, "after": after, "limit": limit, "offset": offset}
    if parcel is not None and not session.execute(
            text("SELECT 1 FROM parcels WHERE parcel_code = :parcel"), params).first():
        raise NotFound(f"no parcel {parcel}", field="parcel")
    dossier = ", 'dossier_no', t.dossier_no" if shows_dossier(detail) else ""
    return session.execute(text(f"""
        WITH hits AS (
          SELECT t.* FROM transactions t
           WHERE (CAST(:since AS date) IS NULL OR t.effective_date >= :since)
             AND (CAST(:after AS bigint) IS NULL OR t.seq > :after)
             AND (CAST(:parcel AS text) IS NULL OR t.id IN (
                  SELECT tp.transaction_id FROM transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id
                   WHERE p.parcel_code = :parcel))),
        page AS (SELECT * FROM hits ORDER BY seq LIMIT :limit OFFSET :offset)
        SELECT json_build_object(
          'matched', (SELECT count(*) FROM hits),
          'transactions', coalesce((SELECT json_agg(json_build_object(
              'id', t.id, 'seq', t.seq, 'kind', t.kind, 'effective_date', t.effective_date,
              'registered_at', t.registered_at, 'hash', t.hash {dossier},
              'parcels', (SELECT coalesce(json_agg(json_build_object('parcel', p.parcel_code, 'role', tp.role)
                                                   ORDER BY p.id, tp.role), '[]')
                            FROM transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id
                           WHERE tp.transaction_id = t.id)) ORDER BY t.seq) FROM page t), '[]'))::text
    """), params).scalar_one()
