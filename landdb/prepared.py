"""Server-side prepared statements per pooled connection, for small reads whose planning costs more than running them.

A statement is prepared under a name derived from its SQL text (so each variant — another
output CRS, a time-travel `at=` filter — is its own statement) and run with EXECUTE. Use it
only on a connection in autocommit mode (outside a transaction): a failed PREPARE inside a
transaction would abort it. `autocommit_connection` lends one: a pooled DBAPI connection of
the autocommit engine (landdb.db.get_engine), which the lending session returns to its pool.
The connection's statement_timeout applies to EXECUTE as to any statement.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import psycopg2
import psycopg2.errors
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .db import TEXT_AS_BYTES, text_as_bytes

#: `:name` bind parameters (not `::casts`, not escaped `\:`).
BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
#: prepared statements kept per pooled connection before they are all deallocated.
PREPARED_MAX = 64
#: statement texts whose translation (name, parameter order, positional SQL) is remembered.
COMPILED_MAX = 512
#: marks SQL that PostgreSQL could not prepare (a parameter's type cannot be inferred).
_UNPREPARABLE = False

_compiled: dict[str, tuple[str, tuple[str, ...], str, str]] = {}


def autocommit_connection(session: Session) -> Any | None:
    """A pooled autocommit DBAPI connection for a single-statement read, when the session lends
    one (a `landdb.db.LanddbSession` made with an autocommit engine, outside a transaction);
    else None: then run statements the ordinary way, in the session's transaction."""
    lend = getattr(session, "autocommit_connection", None)
    return lend() if lend is not None else None


def fetch(session: Session, sql: str, params: dict, *, generic: bool = False, as_bytes: bool = False) -> list:
    """The rows of a single-statement read: prepared on the autocommit connection the session
    lends (see `execute`), else run the ordinary way in the session's transaction. With
    `as_bytes`, text columns come back as UTF-8 bytes (see landdb.db.TEXT_AS_BYTES)."""
    conn = autocommit_connection(session)
    if conn is None:
        options = {TEXT_AS_BYTES: True} if as_bytes else {}
        return session.execute(text(sql), params, execution_options=options).all()
    return execute(conn, sql, params, generic=generic, as_bytes=as_bytes)


def _compile(sql: str) -> tuple[str, tuple[str, ...], str, str]:
    """(statement name, parameter names in $n order, SQL with $n, SQL with %(name)s) for `sql`."""
    hit = _compiled.get(sql)
    if hit is not None:
        return hit
    order: list[str] = []

    def positional(m: re.Match) -> str:
        if m.group(1) not in order:
            order.append(m.group(1))
        return f"${order.index(m.group(1)) + 1}"

    numbered = BIND.sub(positional, sql).replace("\\:", ":")
    named = BIND.sub(lambda m: f"%({m.group(1)})s", sql.replace("%", "%%")).replace("\\:", ":")
    hit = ("landdb_" + hashlib.sha1(sql.encode()).hexdigest()[:24], tuple(order), numbered, named)
    if len(_compiled) >= COMPILED_MAX:
        _compiled.clear()
    _compiled[sql] = hit
    return hit


def _prepare(cur, name: str, positional: str) -> bool:
    """PREPARE `name`: True, or _UNPREPARABLE when PostgreSQL cannot (a parameter's type cannot
    be inferred). A statement of that name already there is ours: names derive from the SQL."""
    try:
        cur.execute(f"PREPARE {name} AS {positional}")
    except psycopg2.errors.DuplicatePreparedStatement:
        pass
    except psycopg2.OperationalError:
        raise
    except psycopg2.Error:
        return _UNPREPARABLE
    return True


def execute(conn: Any, sql: str, params: dict, *, generic: bool = False, as_bytes: bool = False) -> list:
    """Run `sql` (with `:name` binds) as a server-side prepared statement of this pooled
    autocommit DBAPI connection (see `autocommit_connection`); the rows as tuples.

    A prepared statement is planned once per connection (PostgreSQL switches to a generic plan
    after a few runs when it is as good). Falls back to a plain execution if PostgreSQL cannot
    infer a parameter's type, and remembers that for this connection.

    With `generic`, the generic plan is used from the first run (`SET LOCAL plan_cache_mode` in
    the same round trip, which PostgreSQL runs as one implicit transaction): for statements whose
    generic plan the planner prices far above its custom plans (PostGIS's default estimates for
    a spatial filter on a parameter) although it is as fast, so that it would plan every run.

    With `as_bytes`, text columns come back as the UTF-8 bytes PostgreSQL sent.

    Database errors come out as SQLAlchemy's DBAPIError, as from any other statement (the API
    maps the statement timeout to 504); a lost connection is invalidated, not pooled again.
    """
    name, order, positional, pyformat = _compile(sql)
    cache: dict = conn.info.setdefault("landdb_prepared", {})
    cur = conn.cursor()
    if as_bytes:
        text_as_bytes(cur)
    statement, values = "", None
    try:
        if cache.get(name) is None:
            if len(cache) >= PREPARED_MAX:
                cur.execute("DEALLOCATE ALL")
                cache.clear()
            cache[name] = _prepare(cur, name, positional)
        if cache[name] is _UNPREPARABLE:
            statement, values = pyformat, params
            cur.execute(statement, values)
            return cur.fetchall()
        values = [params[n] for n in order]
        statement = f"EXECUTE {name}({', '.join(['%s'] * len(order))})" if order else f"EXECUTE {name}"
        if generic:
            statement = "SET LOCAL plan_cache_mode = force_generic_plan; " + statement
        try:
            cur.execute(statement, values)
        except psycopg2.errors.InvalidSqlStatementName:
            # Deallocated behind our back (DISCARD ALL, a pooler resetting the session): again.
            cache.clear()
            cache[name] = _prepare(cur, name, positional)
            cur.execute(statement, values)
        return cur.fetchall()
    except psycopg2.Error as exc:
        if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)) and conn.closed:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement or name, values, exc, psycopg2.Error) from exc
    finally:
        if not cur.closed:
            cur.close()
