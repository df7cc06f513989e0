"""Transaction queries — đăng ký biến động: one registered change, and the journal's list, as JSON
built in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import InvalidInput, NotFound
from .registry_support import describe

PARCEL_CODE = re.compile(r"^\d{5}-\d{1,6}-\d{1,7}$")
DETAILS = ("public", "rights", "personal")


def get_transaction(session: Session, tx_id: int, *, detail: str = "public") -> dict:
    """One transaction with what it closed and opened (see `registry_support.describe`).

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
    out = {k: v for k, v in answer.items() if k != "actor" and (detail != "public" or k != "dossier_no")}
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
    dossier = ", 'dossier_no', t.dossier_no" if detail != "public" else ""
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
