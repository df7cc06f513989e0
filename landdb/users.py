"""Accounts of the web application (người dùng): Argon2 passwords, roles, sign-in with a lock.

Roles: `officer` (cán bộ địa chính: every scope, owners included), `admin` (the same; manages
accounts), `viewer` (rights, certificates and mortgages, never personal data). A user becomes a
`landdb.auth.Principal` carrying `user_id`, so the personal-data access log names the person.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile); the
hash is re-computed on the next sign-in when those parameters change. After `MAX_FAILURES` failed
sign-ins in a row the account is locked for `LOCK_MINUTES`; a success resets the count. An
unknown user name costs the same hash computation as a wrong password, and every refusal has the
same message, so nobody learns whether a name exists. `session_epoch` is bumped on a password
reset and when an account is disabled: the web layer keeps it in the session and refuses older
sessions.

Functions flush, never commit: the caller commits — also after a failed sign-in, whose count
must be kept.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from . import auth
from .errors import Conflict, InvalidInput, NotFound, Unauthorized
from .models import USER_ROLES, User

OFFICER, ADMIN, VIEWER = "officer", "admin", "viewer"
ROLES = USER_ROLES
#: failed sign-ins in a row that lock an account …
MAX_FAILURES = 5
#: … for this long.
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
#: the one message for an unknown user, a wrong password, a disabled account.
BAD_CREDENTIALS = "wrong user name or password"

_hasher = PasswordHasher()
#: a hash to verify against when the user name is unknown, so that costs the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountLocked(Unauthorized):
    """Too many failed sign-ins: refused until `until`, even with the right password."""

    code = "account_locked"

    def __init__(self, until: dt.datetime):
        super().__init__(f"too many failed sign-ins; try again after {until:%H:%M} UTC")
        self.until = until


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: who, in which role, and the session epoch to keep."""

    user_id: int
    username: str
    full_name: str
    role: str
    session_epoch: int


def _check_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not (2 <= len(name) <= 64) or not all(c.isascii() and (c.isalnum() or c in "._-") for c in name):
        raise InvalidInput("user name: 2-64 characters of a-z, 0-9, '.', '_' or '-'", field="username")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {role!r}", field="role")
    return role


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters", field="password")
    return password


def new_password() -> str:
    """A random password to hand over once (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def create_user(session: Session, username: str, role: str, password: str, full_name: str = "") -> User:
    """Make an account. Raises InvalidInput (name, role, short password) or Conflict (name taken)."""
    name = _check_username(username)
    row = User(username=name, role=_check_role(role), full_name=(full_name or "").strip(),
               password_hash=_hasher.hash(_check_password(password)))
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"user {name} already exists", field="username")
    session.add(row)
    session.flush()
    return row


def list_users(session: Session) -> list[User]:
    """Every account, oldest first (disabled ones too)."""
    return list(session.scalars(select(User).order_by(User.id)))


def find_user(session: Session, ref: str | int) -> User:
    """The account with this id or user name; NotFound otherwise."""
    ref = str(ref).strip()
    row = session.get(User, int(ref)) if ref.isdigit() else session.scalar(
        select(User).where(User.username == ref.lower()))
    if row is None:
        raise NotFound(f"no user {ref}")
    return row


def disable_user(session: Session, ref: str | int) -> User:
    """Disable an account now; its open sessions end at their next request."""
    row = find_user(session, ref)
    if row.disabled_at is None:
        row.disabled_at = session.scalar(select(func.now()))
        row.session_epoch += 1
        session.flush()
    return row


def reset_password(session: Session, ref: str | int, password: str) -> User:
    """Set a new password, lift a lock and end the account's open sessions."""
    row = find_user(session, ref)
    row.password_hash = _hasher.hash(_check_password(password))
    row.failed_attempts = 0
    row.locked_until = None
    row.session_epoch += 1
    session.flush()
    return row


def sign_in(session: Session, username: str, password: str) -> SignedIn:
    """Check a user name and password.

    Raises Unauthorized (BAD_CREDENTIALS) for an unknown or disabled account or a wrong
    password — counting the failure and locking the account at MAX_FAILURES — and AccountLocked
    while a lock lasts. The caller commits either way."""
    try:
        name = _check_username(username)
    except InvalidInput:
        name = None
    row = session.scalar(select(User).where(User.username == name).with_for_update()) if name else None
    now = session.scalar(select(func.now()))
    if row is not None and row.locked_until is not None:
        if row.locked_until > now:
            raise AccountLocked(row.locked_until)
        row.failed_attempts, row.locked_until = 0, None  # the lock has run out: a fresh count
        session.flush()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password or "")
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row.disabled_at is not None:
        if row is not None and row.disabled_at is None:
            _count_failure(session, row)
        raise Unauthorized(BAD_CREDENTIALS)
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    row.failed_attempts = 0
    row.locked_until = None
    row.last_sign_in_at = now
    session.flush()
    return SignedIn(row.id, row.username, row.full_name, row.role, row.session_epoch)


def _count_failure(session: Session, row: User) -> None:
    # One UPDATE, so concurrent failures all count.
    failures = User.failed_attempts + 1
    session.execute(update(User).where(User.id == row.id).values(
        failed_attempts=failures,
        locked_until=case((failures >= MAX_FAILURES, func.now() + dt.timedelta(minutes=LOCK_MINUTES)),
                          else_=None),
    ))
    session.expire(row)


def active_user(session: Session, user_id: int, session_epoch: int) -> SignedIn | None:
    """The account behind a session, if it is still enabled and the session not outdated."""
    row = session.get(User, user_id)
    if row is None or row.disabled_at is not None or row.session_epoch != session_epoch:
        return None
    return SignedIn(row.id, row.username, row.full_name, row.role, row.session_epoch)


def principal(user: SignedIn) -> auth.Principal:
    """The principal a signed-in user reads as: officers and admins hold every scope, viewers
    `rights:read` only; `user_id` goes to the access log."""
    scopes = frozenset({auth.RIGHTS_READ}) if user.role == VIEWER else frozenset()
    return auth.Principal(key_id=None, name=user.username, role=user.role, scopes=scopes, user_id=user.user_id)
