"""API keys, roles and scopes, and the log of every read of personal data (no HTTP here).

A key is `ldb_` followed by 40 URL-safe characters. Only its SHA-256 is stored
(`api_keys.key_hash`), beside a short display prefix (`ldb_` + 8 characters) that lets people
tell keys apart in `landdb keys list` and revoke them by prefix. The plaintext is shown once, when
the key is made, and never again.

Roles (`Principal.role`):

| role          | may                                                               |
| ------------- | ----------------------------------------------------------------- |
| `public`      | no key: `parcels:read` only (parcels, land use, area, wards, stats) |
| `integration` | the public scopes plus the scopes stored on its key               |
| `officer`     | every scope                                                       |
| `admin`       | every scope                                                       |

Scopes: `parcels:read` (public too), `rights:read` (rights, mortgages, certificates — without
any personal data), `owners:read` (the holders' personal data: name, ID number, birth year,
address; implies `rights:read`), `transactions:write` (register changes).

Personal data (chủ sử dụng's name, ID number, birth year, address — Decree 13/2023/NĐ-CP) leaves
the service only for principals with `owners:read`, and each response that carries it writes one
`personal_data_access_log` row through `log_personal_data_access`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import prepared
from .errors import InvalidInput, NotFound, Unauthorized
from .models import ApiKey, PersonalDataAccess

# --- scopes and roles -------------------------------------------------------------------------

PARCELS_READ = "parcels:read"
RIGHTS_READ = "rights:read"
OWNERS_READ = "owners:read"
TRANSACTIONS_WRITE = "transactions:write"

#: every scope a key can carry, in the order the CLI lists them.
SCOPES: tuple[str, ...] = (PARCELS_READ, RIGHTS_READ, OWNERS_READ, TRANSACTIONS_WRITE)
#: what anyone may do without a key.
PUBLIC_SCOPES: frozenset[str] = frozenset({PARCELS_READ})
#: scopes that bring others with them (you cannot see owners without the rights they hold).
_IMPLIES: dict[str, frozenset[str]] = {OWNERS_READ: frozenset({RIGHTS_READ})}

PUBLIC, OFFICER, INTEGRATION, ADMIN = "public", "officer", "integration", "admin"
#: a web-application user who reads rights and certificates but no personal data.
VIEWER = "viewer"
#: roles a key can be made with (`public` is the absence of a key).
KEY_ROLES: tuple[str, ...] = (OFFICER, INTEGRATION, ADMIN)
#: roles that hold every scope, whatever their key row says.
ALL_SCOPE_ROLES: frozenset[str] = frozenset({OFFICER, ADMIN})

KEY_PREFIX = "ldb_"
_KEY_BODY_LEN = 40
_DISPLAY_LEN = len(KEY_PREFIX) + 8
_KEY_RE = re.compile(r"^ldb_[A-Za-z0-9_-]{40}$")
#: the one message for an unknown, revoked or malformed key: it must not tell them apart.
BAD_KEY_MESSAGE = "the API key is not valid (unknown, revoked or mistyped)"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a key's identity, role and scopes, or the public (no key)."""

    key_id: int | None
    name: str
    role: str
    scopes: frozenset[str] = frozenset()
    #: the signed-in person (`users.id`) for requests through the web application.
    user_id: int | None = None

    @property
    def is_public(self) -> bool:
        return self.role == PUBLIC

    def can(self, scope: str) -> bool:
        """True when this principal holds `scope`.

        Officers and admins hold every scope; every principal holds the public ones; an
        integration key holds the scopes stored on it (and what they imply)."""
        if scope in PUBLIC_SCOPES or self.role in ALL_SCOPE_ROLES:
            return True
        if self.role not in (INTEGRATION, VIEWER):
            return False
        return scope in self.scopes or any(scope in _IMPLIES.get(s, ()) for s in self.scopes)


#: the principal of every request without an Authorization header.
PUBLIC_PRINCIPAL = Principal(key_id=None, name="public", role=PUBLIC, scopes=PUBLIC_SCOPES)


def sees_personal_data(principal: Principal) -> bool:
    """True when responses to `principal` may carry parties' names, ID numbers, birth years and
    addresses (the `owners:read` scope)."""
    return principal.can(OWNERS_READ)


# --- keys -------------------------------------------------------------------------------------


def hash_key(plaintext: str) -> str:
    """The SHA-256 (hex) under which a key is stored and looked up."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _new_plaintext() -> str:
    # token_urlsafe(30) gives exactly 40 characters of [A-Za-z0-9_-] (240 bits).
    body = secrets.token_urlsafe(30)
    assert len(body) == _KEY_BODY_LEN
    return KEY_PREFIX + body


def _check_role_and_scopes(role: str, scopes: Iterable[str]) -> list[str]:
    if role not in KEY_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(KEY_ROLES)}; got {role!r}", field="role")
    wanted = list(dict.fromkeys(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scope {', '.join(unknown)}; scopes are {', '.join(SCOPES)}", field="scopes"
        )
    if wanted and role in ALL_SCOPE_ROLES:
        raise InvalidInput(
            f"{role} keys hold every scope; scopes are only for integration keys", field="scopes"
        )
    return [s for s in SCOPES if s in wanted]


def create_key(session: Session, name: str, role: str, scopes: Iterable[str] = ()) -> tuple[str, ApiKey]:
    """Make a new API key and return `(plaintext, row)`.

    The plaintext exists only in the return value: show it to the user once. The row holds its
    SHA-256 and display prefix. Flushes; the caller commits.

    Raises InvalidInput for an empty name, an unknown role or scope, or scopes on a role that
    already holds every scope.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a key needs a name that says who or what uses it", field="name")
    scope_list = _check_role_and_scopes(role, scopes)
    plaintext = _new_plaintext()
    row = ApiKey(
        name=name,
        prefix=plaintext[:_DISPLAY_LEN],
        key_hash=hash_key(plaintext),
        role=role,
        scopes=scope_list,
    )
    session.add(row)
    session.flush()
    return plaintext, row


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first (revoked ones too unless `include_revoked` is false)."""
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def find_key(session: Session, id_or_prefix: str | int) -> ApiKey:
    """The key with this numeric id or display prefix (`ldb_xxxxxxxx`, or a longer start of it).

    Raises NotFound when none matches and InvalidInput when a prefix matches several."""
    ref = str(id_or_prefix).strip()
    if ref.isdigit():
        row = session.get(ApiKey, int(ref))
        if row is None:
            raise NotFound(f"no API key with id {ref}")
        return row
    if not ref.startswith(KEY_PREFIX) or len(ref) <= len(KEY_PREFIX):
        raise InvalidInput("give a key's id or its prefix (as `landdb keys list` shows it)")
    short = ref[:_DISPLAY_LEN]
    rows = list(session.scalars(select(ApiKey).where(ApiKey.prefix.startswith(short, autoescape=True))))
    if len(ref) > _DISPLAY_LEN:
        # Someone pasted the whole key: match it exactly, by hash.
        rows = [r for r in rows if r.key_hash == hash_key(ref)]
    if not rows:
        raise NotFound(f"no API key with prefix {short}")
    if len(rows) > 1:
        raise InvalidInput(f"prefix {short} matches {len(rows)} keys; use the id")
    return rows[0]


def revoke_key(session: Session, id_or_prefix: str | int) -> ApiKey:
    """Revoke a key now; it is refused from the next request on. Revoking twice keeps the first
    time. Flushes; the caller commits. Raises NotFound / InvalidInput as `find_key`."""
    row = find_key(session, id_or_prefix)
    if row.revoked_at is None:
        row.revoked_at = session.scalar(select(func.now()))
        session.flush()
    return row


#: the active key with a given hash.
_KEY_SQL = "SELECT id, name, role, scopes FROM api_keys WHERE key_hash = :hash AND revoked_at IS NULL"


def authenticate(session: Session, token: str) -> Principal:
    """The principal of a presented key.

    One indexed lookup by hash. Raises Unauthorized, with the same message, for a malformed,
    unknown or revoked key, so a caller cannot learn whether a key exists."""
    if not token or not _KEY_RE.match(token):
        raise Unauthorized(BAD_KEY_MESSAGE)
    rows = prepared.fetch(session, _KEY_SQL, {"hash": hash_key(token)})  # one read: no transaction needed
    if not rows:
        raise Unauthorized(BAD_KEY_MESSAGE)
    key_id, name, role, scopes = rows[0]
    return Principal(key_id=key_id, name=name, role=role, scopes=frozenset(scopes or ()))


# --- the personal-data access log ----------------------------------------------------------------


def _ids(values: Iterable[int] | None) -> list[int]:
    return sorted({int(v) for v in values or ()})


def _inet(addr: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(addr)) if addr else None
    except ValueError:  # a Unix socket path or a proxy's junk: keep the row, drop the address
        return None


def log_personal_data_access(
    session: Session,
    principal: Principal,
    endpoint: str,
    parcel_ids: Iterable[int] | None = (),
    party_ids: Iterable[int] | None = (),
    client_addr: str | None = None,
) -> PersonalDataAccess:
    """Write one `personal_data_access_log` row: who (key or signed-in user, role), what (endpoint, `parcels.id`s,
    `parties.id`s), from where, and when (the database's clock).

    Flushes, never commits: the caller commits, and must, even on a read — the web layer's
    `api.auth.record_personal_data_read` does both."""
    row = PersonalDataAccess(
        api_key_id=principal.key_id,
        user_id=principal.user_id,
        role=principal.role,
        endpoint=endpoint,
        parcel_ids=_ids(parcel_ids),
        party_ids=_ids(party_ids),
        client_addr=_inet(client_addr),
    )
    session.add(row)
    session.flush()
    return row


def access_log(
    session: Session, *, since: dt.datetime | None = None, key_id: int | None = None
) -> list[PersonalDataAccess]:
    """Access-log rows, oldest first, optionally since a time or for one key."""
    stmt = select(PersonalDataAccess).order_by(PersonalDataAccess.id)
    if since is not None:
        stmt = stmt.where(PersonalDataAccess.at >= since)
    if key_id is not None:
        stmt = stmt.where(PersonalDataAccess.api_key_id == key_id)
    return list(session.scalars(stmt))
