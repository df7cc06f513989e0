"""Caching of tiles: what an ETag is made of, and how long a tile may be kept.

A parcels tile shows a set of parcel versions: those its query selects (the day, the filter,
the tile's box with its margin). Versions never change — every registration opens the parcel's
next version, or retires the parcel — so the tile changes exactly when that set does. Its ETag
is a digest of the set (the number of rows, the sums of their parcel keys and version numbers,
and the XOR of a 64-bit hash of each (key, version): no sort, a few µs per row) with the tile's URL
parameters and the tile format's version: a registration touching a parcel in the tile changes
it, one elsewhere does not, whatever order transactions commit in. The digest comes out of the
very statement that renders the tile (same snapshot, no second query); a revalidation
(If-None-Match) runs only the selection, without building the tile, and is answered 304 when
nothing changed.

Wards change only when the reference data does (`landdb db upgrade`), with no journal row: a
ward tile's ETag is a digest of its own bytes (ward tiles are few features and quick to build).

A tile of a past day (`at=` before today in Hạ Long) shows the register as it stood then and is
served as immutable for a year. Only a registration back-dated to that day could alter it — the
register accepts changes in date order per parcel, so an effective date in the past is
possible — and such a correction also changes the ETag, for caches that revalidate anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

from . import mvt

#: The calendar the register's days follow.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Cache-Control of a past day's tile.
IMMUTABLE = "public, max-age=31536000, immutable"


def today() -> dt.date:
    """Today in Hạ Long."""
    return dt.datetime.now(LOCAL_TZ).date()


def _key(tile: mvt.Tile) -> str:
    parts = (mvt.FORMAT_VERSION, tile.collection, tile.tms, tile.z, tile.x, tile.y, tile.at, tile.filter_key)
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def etag(tile: mvt.Tile, state: str) -> str:
    """The ETag of `tile` whose content is summed up by `state` (see the module's docstring)."""
    return f'W/"{tile.collection}.{hashlib.sha1(state.encode()).hexdigest()[:12]}.{_key(tile)}"'


def state_of_body(body: bytes) -> str:
    """The state of a tile whose inputs carry no version of their own: its bytes."""
    return hashlib.sha1(body).hexdigest()


def cache_control(tile: mvt.Tile, max_age: int = 0) -> str:
    """Cache-Control of `tile`: immutable for a past day, else revalidated after `max_age` s."""
    if tile.at is not None and tile.at < today():
        return IMMUTABLE
    return f"public, max-age={max_age}" if max_age > 0 else "public, no-cache"


def matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match against our ETag, by weak comparison (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == ours for t in if_none_match.split(","))
