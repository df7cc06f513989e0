"""The day's registrations (sổ theo dõi biến động trong ngày): the journal rows registered on one
local day in Hạ Long, filtered by kind, ward and officer, for the office's daily list."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import InvalidInput
from .registry import KINDS
from .registry_support import LOCAL_TZ

#: A journal row's actor is `role:username#…`; the officer filter compares the username.
_ACTOR_USER = "split_part(split_part(t.actor, ':', 2), '#', 1)"

_SQL = text(f"""
    SELECT t.id, t.seq, t.kind, t.effective_date, t.registered_at, t.hash, t.dossier_no,
           {_ACTOR_USER} AS officer,
           ARRAY(SELECT DISTINCT p.parcel_code FROM transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id
                  WHERE tp.transaction_id = t.id ORDER BY 1) AS parcels
      FROM transactions t
     WHERE t.registered_at >= :start AND t.registered_at < :end
       AND (CAST(:kind AS text) IS NULL OR t.kind = :kind)
       AND (CAST(:officer AS text) IS NULL OR {_ACTOR_USER} = :officer)
       AND (CAST(:ward AS text) IS NULL OR EXISTS (
            SELECT 1 FROM transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id
             WHERE tp.transaction_id = t.id AND p.ward_code = :ward))
     ORDER BY t.seq
     LIMIT :limit
""")


def registrations_of_day(session: Session, day: dt.date, *, kind: str | None = None, ward: str | None = None,
                         officer: str | None = None, limit: int = 500) -> list[dict]:
    """Journal rows registered on `day` (Hạ Long's local day), oldest first, at most `limit`:
    id, seq, kind, effective_date, registered_at, hash, dossier_no, officer (username), parcels.

    Raises InvalidInput for an unknown kind or a ward that is not a 5-digit code."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if ward is not None and not re.fullmatch(r"\d{5}", ward):
        raise InvalidInput("ward must be a 5-digit ward code", field="ward")
    start = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
    rows = session.execute(_SQL, {"start": start, "end": start + dt.timedelta(days=1), "kind": kind,
                                  "ward": ward, "officer": officer, "limit": limit}).mappings().all()
    return [dict(r) for r in rows]
