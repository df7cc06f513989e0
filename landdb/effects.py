"""The journal's payload: what a registration did, as JSON "effects" a replay can re-apply.

The format ("landdb.effects/1") is specified, and replayed, in `landdb.sample.replay`. This
module is the one place in the registry that knows its shape: the registry records effects
through a `Recorder` as it writes, and `payload()` renders them when the journal row is written.
The payload also keeps the request as registered (`request.body`) and its SHA-256 fingerprint
(`request.fingerprint`), which makes an `Idempotency-Key` safe to retry.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

FORMAT = "landdb.effects/1"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class Recorder:
    """Collects a registration's effects in the order they were written."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def _add(self, op: str, **values: Any) -> None:
        self.items.append({"op": op, **{k: _plain(v) for k, v in values.items()}})

    def party(self, party_id: int, values: dict) -> None:
        self._add("party", id=party_id, **values)

    def parcel(self, parcel_id: int, ward_id: int, ward_code: str, sheet_no: int, parcel_no: int,
               national_id: str | None, registered_on) -> None:
        self._add("parcel", id=parcel_id, ward_id=ward_id, ward_code=ward_code, sheet_no=sheet_no,
                  parcel_no=parcel_no, national_id=national_id, registered_on=registered_on)

    def retire(self, parcel_id: int, on) -> None:
        self._add("retire", parcel_id=parcel_id, on=on)

    def version(self, parcel_id: int, version: int, valid_from, land_use: str, legal_area_m2,
                address: str | None, geom_ewkb: str | None, copied_from: int | None = None) -> None:
        values = dict(parcel_id=parcel_id, version=version, valid_from=valid_from, land_use=land_use,
                      legal_area_m2=legal_area_m2, address=address)
        if geom_ewkb is not None:
            values["geom_ewkb"] = geom_ewkb
        else:
            values["geom_from_version"] = copied_from
        self._add("version", **values)

    def right(self, right_id: int, row: dict, valid_from) -> None:
        self._add("right", id=right_id, valid_from=valid_from, **row)

    def certificate(self, cert_id: int, values: dict) -> None:
        self._add("certificate", id=cert_id, **values)

    def lineage(self, parent: int, child: int, kind: str) -> None:
        self._add("lineage", parent_id=parent, child_id=child, kind=kind)

    def close(self, table: str, row_id: int, **extra: Any) -> None:
        self._add("close", table=table, id=row_id, **extra)


def payload(kind: str, request: dict, log: Recorder, session: Session) -> dict:
    """The JSON stored in `transactions.payload` (hashed into the chain)."""
    return {"format": FORMAT, "kind": kind, "request": request, "effects": log.items}
