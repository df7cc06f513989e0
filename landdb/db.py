"""Engines, connection pools and sessions: one engine per process and database URL."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings
from .errors import DatabaseUnavailable

_engines: dict[tuple, Engine] = {}
_lock = threading.Lock()

#: A pooled connection idle for longer than this is pinged before use. Pinging every checkout
#: (SQLAlchemy's pool_pre_ping) costs a round trip per request — more than a one-parcel query.
IDLE_PING_SECONDS = 10.0


def normalize_url(url: str) -> str:
    """Use the psycopg2 driver whatever spelling of the PostgreSQL URL was given."""
    if not url:
        raise DatabaseUnavailable(
            "no database configured: set DATABASE_URL or run `make run` once in this checkout"
        )
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql"):
        u = u.set(drivername="postgresql+psycopg2")
    return u.render_as_string(hide_password=False)


def get_engine(settings: Settings, *, read_only: bool = False, autocommit: bool = False) -> Engine:
    """Return the process-wide engine for these settings, creating it on first use.

    With `autocommit`, a second pool whose connections are in autocommit mode from the start
    and are never reset on return: for reads of one statement, which need no transaction (no
    BEGIN/ROLLBACK round trips, no switching a pooled connection in and out of autocommit).
    """
    url = normalize_url((settings.read_database_url if read_only else "") or settings.database_url)
    key = (url, settings.statement_timeout_ms, settings.pool_size, settings.max_overflow, autocommit)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            mode = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
            engine = create_engine(
                url,
                pool_size=settings.pool_size,
                max_overflow=settings.max_overflow,
                pool_recycle=3600,
                **mode,
                connect_args={
                    # jit=off: PostGIS functions are priced high (ST_Dump alone is estimated at
                    # 1 000 rows), so a page of features can pass jit_above_cost; a 1 000-feature
                    # page rendered through a per-feature subquery then spent ~75 ms compiling
                    # for a 5 ms query. Our statements are all short: never compile them.
                    "options": f"-c statement_timeout={int(settings.statement_timeout_ms)}"
                    " -c timezone=UTC -c jit=off",
                    "application_name": "landdb",
                },
            )
            _ping_when_idle(engine)
            _engines[key] = engine
        return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a connection that sat idle before handing it out; a dead one is replaced.

    Raising DisconnectionError makes the pool discard the connection and try a fresh one, so a
    database restart costs no request an error.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()
        except Exception as err:  # any failure means the connection is unusable
            raise exc.DisconnectionError(str(err)) from err


def dispose_engines() -> None:
    """Close every pooled connection (after fork, and at the end of tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


class LanddbSession(Session):
    """A Session that can also lend one pooled autocommit connection for single-statement reads.

    `autocommit_connection()` hands out a DBAPI connection of the autocommit engine while the
    session itself has no transaction open (so no uncommitted write of this session can be
    missed), keeps it for the session's life and returns it to its pool on close.
    """

    def __init__(self, *args, autocommit_bind: Engine | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._autocommit_bind = autocommit_bind
        self._autocommit_conn: PoolProxiedConnection | None = None

    def autocommit_connection(self) -> PoolProxiedConnection | None:
        if self._autocommit_bind is None or self.in_transaction():
            return None
        if self._autocommit_conn is None:
            self._autocommit_conn = self._autocommit_bind.raw_connection()
        return self._autocommit_conn

    def close(self) -> None:
        try:
            super().close()
        finally:
            conn, self._autocommit_conn = self._autocommit_conn, None
            if conn is not None:
                conn.close()


def make_sessionmaker(engine: Engine, autocommit_engine: Engine | None = None) -> sessionmaker[Session]:
    """Sessions on `engine`; with `autocommit_engine` (see get_engine) they lend its connections
    to single-statement reads (`landdb.prepared.autocommit_connection`)."""
    return sessionmaker(bind=engine, expire_on_commit=False, class_=LanddbSession,
                        autocommit_bind=autocommit_engine)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    session = make_sessionmaker(get_engine(settings))()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
