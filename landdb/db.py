"""Engines, connection pools and sessions: one engine per process and database URL; the replica's state."""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from . import metrics
from .config import Settings
from .errors import DatabaseUnavailable

log = logging.getLogger(__name__)
_engines: dict[tuple, Engine] = {}
_lock = threading.Lock()

#: A pooled connection idle for longer than this is pinged before use. Pinging every checkout
#: (SQLAlchemy's pool_pre_ping) costs a round trip per request — more than a one-parcel query.
IDLE_PING_SECONDS = 10.0


#: Execution option: the statement's text columns come back as the UTF-8 bytes PostgreSQL sent,
#: not decoded to str. For features PostGIS rendered, which go to the client as they are:
#: decoding them and encoding the answer back cost more than the rest of the app's work.
TEXT_AS_BYTES = "landdb_text_as_bytes"


def text_as_bytes(cursor) -> None:
    """Make this psycopg2 cursor (only) return text columns as bytes."""
    psycopg2.extensions.register_type(psycopg2.extensions.BYTES, cursor)


@event.listens_for(Engine, "before_cursor_execute")
def _text_as_bytes(conn, cursor, statement, parameters, context, executemany):
    if context is not None and context.execution_options.get(TEXT_AS_BYTES):
        text_as_bytes(cursor)


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


#: What this thread's statements are tagged with (e.g. `request_id=…`): an SQL comment before
#: each statement, so pg_stat_activity and the server's slow-query log name the request.
_statement_tag: ContextVar[str | None] = ContextVar("landdb_statement_tag", default=None)
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._=:-]")


def tag_statements(tag: str | None) -> None:
    """Tag every statement this thread (or task) sends from now on with `/* tag */` (None: no
    tag). Characters that could end the comment or look like a bind parameter are dropped."""
    _statement_tag.set(_TAG_UNSAFE.sub("", tag)[:120] if tag else None)


def statement_tag() -> str | None:
    return _statement_tag.get()


class TaggedCursor(psycopg2.extensions.cursor):
    """A psycopg2 cursor that puts the thread's tag before each statement as a comment (every
    statement goes through one: SQLAlchemy's, server-side cursors, our prepared EXECUTEs) and
    counts statements cancelled by the statement timeout."""

    def execute(self, query, vars=None):
        tag = _statement_tag.get()
        if tag and isinstance(query, str):
            query = f"/* {tag} */ {query}"
        try:
            return super().execute(query, vars)
        except psycopg2.errors.QueryCanceled as err:
            _count_timeout(err)
            raise

    # A server-side cursor's query runs on its fetches.
    def fetchone(self):
        try:
            return super().fetchone()
        except psycopg2.errors.QueryCanceled as err:
            _count_timeout(err)
            raise

    def fetchmany(self, size=None):
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except psycopg2.errors.QueryCanceled as err:
            _count_timeout(err)
            raise

    def fetchall(self):
        try:
            return super().fetchall()
        except psycopg2.errors.QueryCanceled as err:
            _count_timeout(err)
            raise


def _count_timeout(err: Exception) -> None:
    if "statement timeout" in str(err):
        metrics.STATEMENT_TIMEOUTS.inc()


def get_engine(settings: Settings, *, read_only: bool = False, autocommit: bool = False) -> Engine:
    """Return the process-wide engine for these settings, creating it on first use.

    With `read_only`, the engine of the read replica (`settings.read_database_url`; the primary
    when there is none). With `autocommit`, a second pool whose connections are in autocommit
    mode from the start and are never reset on return: for reads of one statement, which need
    no transaction (no BEGIN/ROLLBACK round trips, no switching a pooled connection in and out
    of autocommit).
    """
    replica = bool(read_only and settings.read_database_url)
    url = normalize_url(settings.read_database_url if replica else settings.database_url)
    key = (url, settings.statement_timeout_ms, settings.pool_size, settings.max_overflow, autocommit,
           settings.connect_timeout_s)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            mode = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
            extra = {}
            if "connect_timeout" not in make_url(url).query and settings.connect_timeout_s > 0:
                # An unreachable host must not hold a request (or a health check) for minutes.
                extra["connect_timeout"] = int(settings.connect_timeout_s)
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
                    # max_parallel_workers_per_gather=0: for the same high prices the planner
                    # gives a 1 000-feature bbox page (and its count) a parallel worker, which
                    # PostgreSQL starts as a new process per statement: 134 ms instead of 47 ms
                    # for that page on 2 busy cores (bench/RESULTS.md, "WGS 84 side by side").
                    "options": f"-c statement_timeout={int(settings.statement_timeout_ms)}"
                    " -c timezone=UTC -c jit=off -c max_parallel_workers_per_gather=0",
                    "application_name": "landdb",
                    # Text fetched as bytes (TEXT_AS_BYTES) is sent to clients as UTF-8.
                    "client_encoding": "utf8",
                    "cursor_factory": TaggedCursor,
                    **extra,
                },
            )
            _ping_when_idle(engine)
            _count_checkouts(engine, "replica" if replica else "primary", "autocommit" if autocommit else "transaction")
            _engines[key] = engine
        return engine


def _count_checkouts(engine: Engine, database: str, pool: str) -> None:
    """Keep the pool-usage gauge in step with checkouts and returns."""
    in_use = metrics.POOL_IN_USE.labels(database, pool)

    @event.listens_for(engine, "checkout")
    def _out(dbapi_conn, record, proxy):
        in_use.inc()

    @event.listens_for(engine, "checkin")
    def _in(dbapi_conn, record):
        in_use.dec()


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
            try:
                self._autocommit_conn = self._autocommit_bind.raw_connection()
            except psycopg2.Error as err:  # the pool raises the driver's own error: wrap it as
                # SQLAlchemy does for every other statement, so the API answers 503, not 500
                raise exc.DBAPIError.instance("connect", None, err, psycopg2.Error) from err
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


# --- the read replica ---------------------------------------------------------------------------

_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


def parse_lsn(value: str) -> int:
    """A WAL position as PostgreSQL prints it (`16/B374D848`) → an integer; ValueError if not one."""
    if not _LSN.match(value or ""):
        raise ValueError(f"{value!r} is not a WAL position like 0/16B3748")
    high, low = value.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def commit_lsn(engine: Engine) -> int:
    """A WAL position at or past every transaction already committed on this (primary) server,
    which a replica will receive without waiting for more WAL to be written.

    Read right after a commit. With synchronous_commit on (the default) a commit returns once
    its WAL is flushed, so the flush position covers it; WAL inserted after that may sit in a
    half-filled buffer page, unsent, until the next commit, so the insert position could stay
    out of a replica's reach. With synchronous_commit off the insert position is the only one
    that surely covers the commit."""
    with engine.connect() as conn:
        return parse_lsn(conn.execute(text(
            "SELECT CASE WHEN current_setting('synchronous_commit') = 'off' THEN pg_current_wal_insert_lsn()"
            " ELSE pg_current_wal_flush_lsn() END::text")).scalar_one())


class Replica:
    """What this process knows of a streaming replica: whether to use it, how far it has replayed.

    Nothing here must be shared between processes: each finds out for itself, with one cheap
    query at most every `probe_s` (and on every read that carries a consistency token the
    replica has not yet reached). A connection failure marks it down for `retry_s`; reads go to
    the primary meanwhile.
    """

    def __init__(self, engine: Engine, *, probe_s: float = 1.0, retry_s: float = 5.0):
        self.engine = engine  # the replica's autocommit engine
        self.probe_s, self.retry_s = probe_s, retry_s
        self.down_until = 0.0
        self.checked_at = -1e9
        #: the highest WAL position seen replayed; None = not a standby (sees every commit).
        self.replayed: int | None = 0
        self._lock = threading.Lock()

    def mark_down(self, why: str) -> None:
        """Send reads to the primary for `retry_s`; logged and counted (landdb_replica_failures)."""
        self.down_until = time.monotonic() + self.retry_s
        self.checked_at = -1e9
        metrics.REPLICA_FAILURES.inc()
        log.warning("read replica unreachable (%s): reads go to the primary for %.0f s", why, self.retry_s)

    def usable(self) -> bool:
        """False while marked down; else True, probing it first when not heard of for `probe_s`."""
        now = time.monotonic()
        if now < self.down_until:
            return False
        if now - self.checked_at < self.probe_s:
            return True
        try:
            self._refresh()
        except exc.DBAPIError as err:
            self.mark_down(f"probe: {err.orig.__class__.__name__}")
            return False
        return True

    def has_replayed(self, lsn: int, wait_s: float) -> bool:
        """True once the replica has replayed WAL up to `lsn`, polling for at most `wait_s`.

        Raises the driver's error (as SQLAlchemy's DBAPIError) when the replica cannot be asked."""
        deadline = time.monotonic() + wait_s
        pause = 0.002
        while True:
            if self.replayed is None or self.replayed >= lsn:
                return True
            self._refresh()
            if self.replayed is None or self.replayed >= lsn:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    def _refresh(self) -> None:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
        with self._lock:
            self.checked_at = time.monotonic()
            if value is None:
                self.replayed = None
            elif self.replayed is not None:
                self.replayed = max(self.replayed, parse_lsn(value))


def replica_lag(replica: Engine, primary: Engine | None) -> dict:
    """How far the replica is behind: `lag_bytes` (primary's WAL position minus what the replica
    replayed; None when the primary cannot be asked) and `lag_seconds` (0 when it has replayed
    everything it received, else the age of the last transaction replayed). Raises DBAPIError
    when the replica does not answer."""
    with replica.connect() as conn:
        standby, replayed, seconds = conn.execute(text(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
            " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
            " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8")).one()
    if not standby:
        return {"standby": False, "lag_bytes": 0, "lag_seconds": 0.0}
    lag_bytes = None
    if primary is not None and replayed is not None:
        try:
            lag_bytes = max(0, commit_lsn(primary) - parse_lsn(replayed))
        except exc.DBAPIError:
            pass
    # None: behind, but nothing replayed since the replica started (no timestamp to age).
    lag_seconds = None if seconds is None else round(max(0.0, seconds), 3)
    return {"standby": True, "lag_bytes": lag_bytes, "lag_seconds": lag_seconds, "replayed_lsn": replayed}
