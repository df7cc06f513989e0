"""The parcel card's content (thẻ thửa đất), gathered from the core's parcel queries.

One place decides what a principal sees: the public gets the parcel, its ward and its history;
`rights:read` adds rights, certificates and mortgages; `owners:read` adds the holders' personal
data, and every such read is written to the access log with the signed-in user's id.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from api.auth import current_principal, record_personal_data_read
from landdb import auth as core_auth
from landdb import parcels
from landdb.errors import NotFound

#: the wards list (every period, no geometry needed by the pages) is reference data: cached.
_WARDS_TTL_S = 300
_wards_cache: dict = {}


def wards(session: Session) -> list[dict]:
    """Every ward and commune of every period: code, name, valid_from, valid_to, current,
    predecessors and successors, ordered by code then period (cached for a few minutes)."""
    hit = _wards_cache.get("all")
    if hit and time.monotonic() - hit[0] < _WARDS_TTL_S:
        return hit[1]
    features = json.loads(parcels.list_wards(session))["features"]
    items = [f["properties"] for f in features]
    _wards_cache["all"] = (time.monotonic(), items)
    return items


def ward_unit(session: Session, code: str, name: str) -> dict | None:
    """The period of ward `code` called `name` (the unit a parcel was registered under), with
    its predecessors and successors: codes are reused across the 1 July 2025 reorganisation."""
    periods = [w for w in wards(session) if w["code"] == code]
    for w in sorted(periods, key=lambda w: w["valid_from"], reverse=True):
        if w["name"] == name:
            return w
    return periods[-1] if periods else None


@dataclass
class Card:
    """Everything one card shows."""

    code: str
    props: dict
    geometry: dict
    bbox: list[float] | None
    at: dt.date | None
    ward: dict | None
    history: dict
    latest: dict | None = None
    rights: dict | None = None
    sees_rights: bool = False
    sees_owners: bool = False
    neighbours: list = field(default_factory=list)


def _bbox(geometry: dict) -> list[float] | None:
    from landdb.lookup import _bbox as bbox  # one walker for both

    return bbox(geometry)


def latest_registration(history: dict, at: dt.date | None = None) -> dict | None:
    """The newest journal entry (by seq) among the parcel's registrations (up to `at`)."""
    txs = [t for t in history.get("transactions", []) if t.get("seq") is not None]
    if at is not None:
        txs = [t for t in txs if t["effective_date"] <= at.isoformat()]
    return max(txs, key=lambda t: t["seq"]) if txs else None


def load(session: Session, code: str, at: dt.date | None = None, *, endpoint: str = "GET /parcel/{code}") -> Card:
    """The card of parcel `code` (as of `at`). Raises NotFound / InvalidInput from the core.

    Reads rights only for principals with rights:read, personal data only with owners:read, and
    logs the latter."""
    feature = json.loads(parcels.get_parcel(session, code, at=at))
    props = feature["properties"]
    history = json.loads(parcels.parcel_history(session, code))
    card = Card(code=props["parcel_code"], props=props, geometry=feature["geometry"],
                bbox=_bbox(feature["geometry"]), at=at,
                ward=ward_unit(session, props["ward_code"], props["ward_name"]), history=history,
                latest=latest_registration(history, at))
    principal = current_principal()
    card.sees_rights = principal.can(core_auth.RIGHTS_READ)
    card.sees_owners = core_auth.sees_personal_data(principal)
    if card.sees_rights:
        read = parcels.parcel_rights(session, code, personal=card.sees_owners, at=at)
        card.rights = json.loads(read.body)
        if card.sees_owners and read.party_ids:
            record_personal_data_read(endpoint, [read.parcel_id], read.party_ids)
    return card


def exists(session: Session, code: str, at: dt.date | None) -> bool:
    try:
        parcels.get_parcel(session, code, at=at)
    except NotFound:
        return False
    return True
