"""Time travel: the register as it stood on a day (`at=YYYY-MM-DD`), as SQL predicates.

Every versioned row (parcel versions, rights, admin units) is valid on `[valid_from, valid_to)`:
a change effective on day D closes the old row with `valid_to = D` and opens the new one with
`valid_from = D`, so on D the register shows the new state (as it stood at the end of that day),
and a row opened and closed on the same day is never seen. Parcels exist on
`[registered_on, retired_on)`.

Queries splice these fragments into their WHERE clauses and pass the date as a bound parameter:

    where, params = version_filter("v", at)          # at: a date, or None for "now"
    session.execute(text(f"SELECT … FROM parcel_versions v WHERE {where}"), {**params, …})
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .errors import InvalidInput

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
#: the earliest date a question may be about (the first Land Law with certificates).
EARLIEST = dt.date(1988, 1, 1)


def parse_at(value: Any, *, field: str = "at") -> dt.date | None:
    """`at` from a request: None/empty → None (now); else a YYYY-MM-DD date, not before 1988.

    A date in the future is accepted and answers with the register as it stands now."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidInput(f"{field} must be a date as YYYY-MM-DD, not {value!r}", field=field) from None
    if value < EARLIEST:
        raise InvalidInput(f"{field} must be on or after {EARLIEST}", field=field)
    return value


def _check(alias: str, param: str) -> None:
    # Aliases and parameter names come from code, never from a request; still, refuse anything odd.
    if not _IDENT.match(alias) or not _IDENT.match(param):
        raise ValueError(f"bad SQL alias or parameter name: {alias!r}, {param!r}")


def valid_at(alias: str = "v", param: str = "at") -> str:
    """SQL: row `alias` (with valid_from/valid_to) was valid on the date bound to `:param`."""
    _check(alias, param)
    return f"({alias}.valid_from <= :{param} AND ({alias}.valid_to IS NULL OR {alias}.valid_to > :{param}))"


def parcel_existed_at(alias: str = "p", param: str = "at") -> str:
    """SQL: parcel `alias` (registered_on/retired_on) existed on the date bound to `:param`."""
    _check(alias, param)
    return f"({alias}.registered_on <= :{param} AND ({alias}.retired_on IS NULL OR {alias}.retired_on > :{param}))"


def parcel_status(alias: str = "p", param: str | None = None) -> str:
    """SQL: 'current' or 'retired' for parcel `alias` — today, or with `param` as of the end of
    the date bound to `:param` (a parcel retired that day or before is retired then)."""
    _check(alias, param or "at")
    if param is None:
        return f"CASE WHEN {alias}.retired_on IS NULL THEN 'current' ELSE 'retired' END"
    return f"CASE WHEN {alias}.retired_on IS NULL OR {alias}.retired_on > :{param} THEN 'current' ELSE 'retired' END"


def version_filter(alias: str, at: dt.date | None, param: str = "at") -> tuple[str, dict]:
    """(SQL, params): the current row of `alias` when `at` is None, else the row valid on `at`."""
    _check(alias, param)
    if at is None:
        return f"{alias}.valid_to IS NULL", {}
    return valid_at(alias, param), {param: at}
