"""The core's exceptions: each carries a stable code and a message safe to show a client."""

from __future__ import annotations


class LandDBError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}


class NotFound(LandDBError):
    code = "not_found"


class InvalidInput(LandDBError):
    code = "invalid_input"


class Conflict(LandDBError):
    code = "conflict"


class Unprocessable(LandDBError):
    """Well-formed but refused by the register's rules (shares, coverage, holders, dates): 422."""

    code = "unprocessable"


class Forbidden(LandDBError):
    code = "forbidden"


class Unauthorized(LandDBError):
    code = "unauthorized"


class DatabaseUnavailable(LandDBError):
    code = "database_unavailable"
