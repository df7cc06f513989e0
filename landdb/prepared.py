"""Server-side prepared statements per pooled connection, for small reads whose planning costs more than running them.

A statement is prepared under a name derived from its SQL text (so each variant — another
output CRS, a time-travel `at=` filter — is its own statement) and run with EXECUTE. Use it
only on a connection in autocommit mode (outside a transaction): a failed PREPARE inside a
transaction would abort it. The connection's statement_timeout applies to EXECUTE as to any
statement.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

#: `:name` bind parameters (not `::casts`, not escaped `\:`).
BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
#: prepared statements kept per pooled connection before they are all deallocated.
PREPARED_MAX = 64
#: marks SQL that PostgreSQL could not prepare (a parameter's type cannot be inferred).
_UNPREPARABLE = False


def autocommit_connection(session: Session) -> Connection | None:
    """The session's connection if it runs in autocommit mode (see api read_session, or a
    caller that asked for it), else None: then run statements the ordinary way."""
    if not session.in_transaction():
        return None
    conn = session.connection()
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        return None
    return conn


def execute(conn: Connection, sql: str, params: dict, *, generic: bool = False) -> list:
    """Run `sql` (with `:name` binds) as a server-side prepared statement of this pooled connection.

    A prepared statement is planned once per connection (PostgreSQL switches to a generic plan
    after a few runs when it is as good). Falls back to a plain execution if PostgreSQL cannot
    infer a parameter's type, and remembers that for this connection.

    With `generic`, the generic plan is used from the first run (`SET LOCAL plan_cache_mode` in
    the same round trip, which PostgreSQL runs as one implicit transaction): for statements whose
    generic plan the planner prices far above its custom plans (PostGIS's default estimates for
    a spatial filter on a parameter) although it is as fast, so that it would plan every run.
    """
    cache: dict = conn.connection.info.setdefault("landdb_prepared", {})
    name = "landdb_" + hashlib.sha1(sql.encode()).hexdigest()[:24]
    order = cache.get(name)
    if order is _UNPREPARABLE:
        return conn.execute(text(sql), params).all()
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if order is None:
            if len(cache) >= PREPARED_MAX:
                cur.execute("DEALLOCATE ALL")
                cache.clear()
            order = []

            def positional(m):
                if m.group(1) not in order:
                    order.append(m.group(1))
                return f"${order.index(m.group(1)) + 1}"

            try:
                cur.execute(f"PREPARE {name} AS " + BIND.sub(positional, sql))
            except Exception:
                cache[name] = _UNPREPARABLE
                return conn.execute(text(sql), params).all()
            cache[name] = order
        args = ", ".join(["%s"] * len(order))
        statement, values = (f"EXECUTE {name}({args})" if order else f"EXECUTE {name}"), [params[n] for n in order]
        if generic:
            statement = "SET LOCAL plan_cache_mode = force_generic_plan; " + statement
        try:
            cur.execute(statement, values)
            return cur.fetchall()
        except conn.dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy would: callers (the API's error handlers) see a DBAPIError, e.g. the
            # statement timeout (57014) as the 504 it is everywhere else.
            raise DBAPIError.instance(statement, values, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cur.close()
