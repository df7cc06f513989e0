"""Caching of tiles: what an ETag is made of, and how long a tile may be kept.

A parcels tile changes only when a registration touches its area. Every registration opens a
parcel version or closes one (usually both: each change opens the parcel's next version), and
versions are never deleted. So over the versions whose boundary reaches the tile (with its
margin), the number of versions and the number of closed ones only grow, and any registration
touching the tile makes one of them grow, whatever order concurrent registrations commit in.
A parcels tile's ETag is a digest of those two counts and the last transactions that opened and
closed such a version, with everything else in the tile's URL (layer, zoom, column, row, day,
filter) and the tile format's version. It costs one index scan over the versions in the tile's
box, one aggregate, no join: a revalidation (If-None-Match) is answered 304 without rendering
the tile, and a registration elsewhere leaves the ETag alone. It is read before the tile is
rendered, so a tile is never sent with the ETag of an older state.

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

from sqlalchemy.orm import Session

from .. import prepared
from ..crs import STORAGE_SRID
from . import mvt

#: The calendar the register's days follow.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Cache-Control of a past day's tile.
IMMUTABLE = "public, max-age=31536000, immutable"

_VERSIONS_STATE = (
    "SELECT count(*), count(v.closed_by_tx), coalesce(max(v.opened_by_tx), 0), coalesce(max(v.closed_by_tx), 0) "
    "FROM parcel_versions v WHERE v.geom && ST_Transform(ST_TileEnvelope(:_tz, :_tx, :_ty, margin => "
    f"{mvt.BUFFER / mvt.EXTENT}), {STORAGE_SRID})"
)


def today() -> dt.date:
    """Today in Hạ Long."""
    return dt.datetime.now(LOCAL_TZ).date()


def _key(tile: mvt.Tile) -> str:
    parts = (mvt.FORMAT_VERSION, tile.collection, tile.tms, tile.z, tile.x, tile.y, tile.at, tile.filter_key)
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def versions_state(session: Session, tile: mvt.Tile) -> str:
    """What the register's versions reaching `tile` look like: versions, closed ones, and the
    last transactions that opened and closed one (see the module's docstring)."""
    rows = prepared.fetch(session, _VERSIONS_STATE, {"_tz": tile.z, "_tx": tile.x, "_ty": tile.y})
    return "-".join(str(int(v)) for v in rows[0])


def etag_before_rendering(session: Session, tile: mvt.Tile) -> str | None:
    """The tile's ETag when it can be known without rendering the tile (parcels), else None."""
    if tile.empty:
        return f'W/"{tile.collection}.empty.{_key(tile)}"'
    if tile.collection == "parcels":
        state = hashlib.sha1(versions_state(session, tile).encode()).hexdigest()[:12]
        return f'W/"parcels.{state}.{_key(tile)}"'
    return None


def etag_of_body(tile: mvt.Tile, body: bytes) -> str:
    """The ETag of a tile whose inputs carry no version of their own: a digest of its bytes."""
    return f'W/"{tile.collection}.{hashlib.sha1(body).hexdigest()[:16]}.{_key(tile)}"'


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
