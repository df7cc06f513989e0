"""Replays the journal (`transactions`, in `seq` order) onto an empty in-memory register.

The payload format — "landdb.effects/1", written by the registry (`landdb.effects`) and by the
sample generator alike — is::

    {"format": "landdb.effects/1", "kind": "<transaction kind>", "request": {...},
     "effects": [<op>, ...]}

`request` is what was asked (the API's request body, or a summary for generated rows) and is
not needed to replay. `effects` lists, in the order they were written, every row the
registration created or closed; applied in order to the state before the transaction they give
the state after it. Dates are ISO strings; decimals (areas, shares, amounts) are strings or
numbers; ids may be numbers or numeric strings; an optional field left out means null. The transaction's own `id` is `opened_by_tx` /
`closed_by_tx` of what it opens or closes, and its `effective_date` is the date of every close.

| op            | fields                                                                   | effect |
|---------------|--------------------------------------------------------------------------|--------|
| `party`       | id, kind, full_name, id_kind, id_number, birth_year, address              | a new party |
| `parcel`      | id, ward_id, ward_code, sheet_no, parcel_no, national_id, registered_on   | a new parcel (identity) |
| `version`     | parcel_id, version, valid_from, land_use, legal_area_m2, address, and `geom_ewkb` (hex EWKB, EPSG:5899) or `geom_from_version` (copy that version's geometry) | opens a parcel version |
| `close`       | table (`parcel_versions` with parcel_id + version, `rights`, `certificates`), id | closes the row: valid_to / cancelled_on = effective date |
| `retire`      | parcel_id, on                                                             | the parcel's retired_on |
| `right`       | id, parcel_id, party_id, kind, share, certificate_id, valid_from, term_end, origin, secured_amount_vnd | opens a right or restriction |
| `certificate` | id, serial, registry_no, issued_on, issued_by                             | issues a certificate |
| `lineage`     | parent_id, child_id, kind (`split` / `merge`)                             | a lineage link |

Journal rows without `effects` (bulk `import` rows, which describe a file rather than rows) cannot
be replayed; `replay` lists them in `State.unreplayable`. Parcel versions are keyed by
(parcel_id, version): a version's row id is the database's business.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

PARTY_FIELDS = ("kind", "full_name", "id_kind", "id_number", "birth_year", "address")
PARCEL_FIELDS = ("ward_id", "ward_code", "sheet_no", "parcel_no", "national_id", "registered_on", "retired_on")
VERSION_FIELDS = ("valid_from", "valid_to", "land_use", "legal_area_m2", "address", "geom", "opened_by_tx",
                  "closed_by_tx")
RIGHT_FIELDS = ("parcel_id", "party_id", "kind", "share", "certificate_id", "valid_from", "valid_to", "term_end",
                "origin", "secured_amount_vnd", "opened_by_tx", "closed_by_tx")
CERTIFICATE_FIELDS = ("serial", "registry_no", "issued_on", "issued_by", "cancelled_on", "opened_by_tx",
                      "closed_by_tx")


@dataclass
class State:
    """The register as plain values: each table a dict keyed by its primary key."""

    parties: dict[int, dict] = field(default_factory=dict)
    parcels: dict[int, dict] = field(default_factory=dict)
    versions: dict[tuple[int, int], dict] = field(default_factory=dict)
    rights: dict[int, dict] = field(default_factory=dict)
    certificates: dict[int, dict] = field(default_factory=dict)
    lineage: dict[tuple[int, int], dict] = field(default_factory=dict)
    transactions: int = 0
    unreplayable: list[int] = field(default_factory=list)
    #: True when only some parties are comparable (a database state for a past day).
    partial_parties: bool = False

    def tables(self) -> dict[str, dict]:
        return {"parties": self.parties, "parcels": self.parcels, "parcel_versions": self.versions,
                "rights": self.rights, "certificates": self.certificates, "parcel_lineage": self.lineage}


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v)).normalize()


def _date(v: Any) -> str | None:
    return None if v is None else str(v)[:10]


def apply(state: State, tx_id: int, effective_date: str, payload: dict) -> None:
    """Apply one journal row's effects to `state`."""
    effects = payload.get("effects") if isinstance(payload, dict) else None
    if not isinstance(effects, list):
        state.unreplayable.append(tx_id)
        return
    day = _date(effective_date)
    for op in effects:
        kind = op["op"]
        if kind == "party":
            state.parties[_int(op["id"])] = {
                "kind": op.get("kind"), "full_name": op.get("full_name"), "id_kind": op.get("id_kind"),
                "id_number": op.get("id_number"), "birth_year": _int(op.get("birth_year")), "address": op.get("address")}
        elif kind == "parcel":
            state.parcels[_int(op["id"])] = {
                "ward_id": _int(op["ward_id"]), "ward_code": op["ward_code"], "sheet_no": _int(op["sheet_no"]),
                "parcel_no": _int(op["parcel_no"]), "national_id": op.get("national_id"),
                "registered_on": _date(op["registered_on"]), "retired_on": None}
        elif kind == "version":
            key = (_int(op["parcel_id"]), _int(op["version"]))
            if op.get("geom_ewkb") is not None:
                geom = str(op["geom_ewkb"]).upper()
            else:
                geom = state.versions[(key[0], _int(op["geom_from_version"]))]["geom"]
            state.versions[key] = {
                "valid_from": _date(op["valid_from"]), "valid_to": None, "land_use": op["land_use"],
                "legal_area_m2": _dec(op["legal_area_m2"]), "address": op.get("address"), "geom": geom,
                "opened_by_tx": tx_id, "closed_by_tx": None}
        elif kind == "close":
            table = op["table"]
            if table == "parcel_versions":
                row = state.versions[(_int(op["parcel_id"]), _int(op["version"]))]
                row["valid_to"] = day
            elif table == "rights":
                row = state.rights[_int(op["id"])]
                row["valid_to"] = day
            elif table == "certificates":
                row = state.certificates[_int(op["id"])]
                row["cancelled_on"] = day
            else:
                raise ValueError(f"transaction {tx_id}: cannot close rows of {table}")
            row["closed_by_tx"] = tx_id
        elif kind == "retire":
            state.parcels[_int(op["parcel_id"])]["retired_on"] = _date(op["on"])
        elif kind == "right":
            state.rights[_int(op["id"])] = {
                "parcel_id": _int(op["parcel_id"]), "party_id": _int(op["party_id"]), "kind": op["kind"],
                "share": _dec(op.get("share")), "certificate_id": _int(op.get("certificate_id")),
                "valid_from": _date(op["valid_from"]), "valid_to": None, "term_end": _date(op.get("term_end")),
                "origin": op.get("origin"), "secured_amount_vnd": _dec(op.get("secured_amount_vnd")),
                "opened_by_tx": tx_id, "closed_by_tx": None}
        elif kind == "certificate":
            state.certificates[_int(op["id"])] = {
                "serial": op["serial"], "registry_no": op.get("registry_no"), "issued_on": _date(op["issued_on"]),
                "issued_by": op.get("issued_by"), "cancelled_on": None, "opened_by_tx": tx_id, "closed_by_tx": None}
        elif kind == "lineage":
            state.lineage[(_int(op["parent_id"]), _int(op["child_id"]))] = {"kind": op["kind"], "transaction_id": tx_id}
        else:
            raise ValueError(f"transaction {tx_id}: unknown effect {kind!r}")
    state.transactions += 1


def replay(rows: Iterable[tuple[int, Any, Any]], until: dt.date | str | None = None) -> State:
    """Replay journal rows `(id, effective_date, payload)` given in `seq` order.

    With `until`, only rows whose effective date is on or before it: the register as of that day.
    """
    limit = _date(until.isoformat() if isinstance(until, dt.date) else until)
    state = State()
    for tx_id, effective_date, payload in rows:
        day = _date(effective_date.isoformat() if isinstance(effective_date, dt.date) else effective_date)
        if limit is not None and day > limit:
            continue
        apply(state, int(tx_id), day, payload if isinstance(payload, dict) else json.loads(payload))
    return state


def replay_database(session: Session, until: dt.date | str | None = None) -> State:
    """Replay the database's own journal, streamed in `seq` order."""
    result = session.execute(
        text("SELECT id, effective_date, payload FROM transactions ORDER BY seq"),
        execution_options={"yield_per": 2000},
    )
    return replay(((r.id, r.effective_date, r.payload) for r in result), until)


def database_state(session: Session, until: dt.date | str | None = None) -> State:
    """The register's tables as a `State`; with `until`, as they were at the end of that day.

    "As they were" means: rows opened by transactions effective on or before `until`, with a
    close that happened later undone — what a replay up to `until` must give.
    """
    limit = _date(until.isoformat() if isinstance(until, dt.date) else until) or "9999-12-31"
    p = {"d": limit}
    state = State()
    tx_date = "(SELECT effective_date FROM transactions t WHERE t.id = {col})"

    def closed(col_to: str) -> str:
        return (f"CASE WHEN closed_by_tx IS NOT NULL AND {tx_date.format(col='closed_by_tx')} <= :d "
                f"THEN {col_to} END AS {col_to.split('.')[-1]}, "
                f"CASE WHEN closed_by_tx IS NOT NULL AND {tx_date.format(col='closed_by_tx')} <= :d "
                f"THEN closed_by_tx END AS closed_by_tx")

    opened = f"{tx_date.format(col='opened_by_tx')} <= :d"
    # Parties carry no dates: all of them; `compare` checks only the replayed ones for a past day.
    for r in session.execute(text("SELECT * FROM parties")):
        state.parties[r.id] = {k: getattr(r, k) for k in PARTY_FIELDS}
    state.partial_parties = until is not None
    for r in session.execute(text(
            "SELECT id, ward_id, ward_code, sheet_no, parcel_no, national_id, registered_on, "
            "CASE WHEN retired_on <= :d THEN retired_on END AS retired_on FROM parcels WHERE registered_on <= :d"), p):
        state.parcels[r.id] = {k: (_date(getattr(r, k)) if k in ("registered_on", "retired_on") else getattr(r, k))
                               for k in PARCEL_FIELDS}
    for r in session.execute(text(
            f"SELECT parcel_id, version, valid_from, land_use, legal_area_m2, address, "
            f"upper(encode(ST_AsEWKB(geom), 'hex')) AS geom, opened_by_tx, {closed('valid_to')} "
            f"FROM parcel_versions WHERE {opened}"), p):
        state.versions[(r.parcel_id, r.version)] = {
            k: (_date(getattr(r, k)) if k in ("valid_from", "valid_to") else
                _dec(r.legal_area_m2) if k == "legal_area_m2" else getattr(r, k)) for k in VERSION_FIELDS}
    for r in session.execute(text(
            f"SELECT id, parcel_id, party_id, kind, share, certificate_id, valid_from, term_end, origin, "
            f"secured_amount_vnd, opened_by_tx, {closed('valid_to')} FROM rights WHERE {opened}"), p):
        state.rights[r.id] = {
            k: (_date(getattr(r, k)) if k in ("valid_from", "valid_to", "term_end") else
                _dec(getattr(r, k)) if k in ("share", "secured_amount_vnd") else getattr(r, k)) for k in RIGHT_FIELDS}
    for r in session.execute(text(
            f"SELECT id, serial, registry_no, issued_on, issued_by, opened_by_tx, {closed('cancelled_on')} "
            f"FROM certificates WHERE {opened}"), p):
        state.certificates[r.id] = {
            k: (_date(getattr(r, k)) if k in ("issued_on", "cancelled_on") else getattr(r, k))
            for k in CERTIFICATE_FIELDS}
    for r in session.execute(text(
            f"SELECT parent_id, child_id, kind, transaction_id FROM parcel_lineage "
            f"WHERE {tx_date.format(col='transaction_id')} <= :d"), p):
        state.lineage[(r.parent_id, r.child_id)] = {"kind": r.kind, "transaction_id": r.transaction_id}
    return state


def compare(replayed: State, actual: State, limit: int = 10) -> list[str]:
    """Differences between two states (at most `limit` per table); empty when they agree."""
    problems: list[str] = []
    for name, mine in replayed.tables().items():
        theirs = actual.tables()[name]
        keys_mine, keys_theirs = set(mine), set(theirs)
        if name == "parties" and actual.partial_parties:
            keys_theirs &= keys_mine
        missing = sorted(keys_mine - keys_theirs)
        extra = sorted(keys_theirs - keys_mine)
        found = [f"{name} {k}: replayed but not in the database" for k in missing[:limit]]
        found += [f"{name} {k}: in the database but not replayed" for k in extra[:limit]]
        for k in sorted(keys_mine & keys_theirs):
            if len(found) >= limit:
                break
            a, b = mine[k], theirs[k]
            diff = [f for f in a if a[f] != b.get(f)]
            if diff:
                found.append(f"{name} {k}: " + ", ".join(f"{f} {a[f]!r} ≠ {b.get(f)!r}" for f in diff[:4]))
        problems += found
    return problems
