"""A primary and a streaming replica of it (pg_basebackup -R), started for these tests, and apps on both."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from landdb import auth, migrate
from landdb.config import Settings
from landdb.db import dispose_engines

from ..conftest import create_database
from ..postgis import StreamingReplica, ThrowawayCluster

DBNAME = "landdb_replicated"


@dataclass
class Pair:
    primary: ThrowawayCluster
    replica: StreamingReplica
    primary_url: str
    replica_url: str
    officer_key: str

    def sql(self, where: str, statement: str, **params):
        """One statement on `primary` or `replica`, outside the app; the first row."""
        engine = create_engine(self.primary_url if where == "primary" else self.replica_url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(statement), params).first()
        finally:
            engine.dispose()

    def seen(self, where: str, request_id: str) -> bool:
        """Did a statement of this request reach that server (pg_stat_activity's last query of
        each backend: the app's pooled connections stay open)? The replica's probes for a
        consistency token are left out."""
        return self.sql(where, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                               " AND query LIKE :q AND query NOT LIKE '%pg_last_wal_replay_lsn%'",
                        q=f"%request_id={request_id} %")[0] > 0

    def settings(self, **overrides) -> Settings:
        base = Settings(database_url=self.primary_url, read_database_url=self.replica_url,
                        statement_timeout_ms=30_000, rate_limit="", rate_limit_public="",
                        replica_wait_ms=300, replica_probe_ms=200, replica_retry_ms=500, connect_timeout_s=2)
        return base.with_(**overrides)

    def wait_until_replayed(self, timeout: float = 10.0) -> None:
        lsn = self.sql("primary", "SELECT pg_current_wal_flush_lsn()::text")[0]
        deadline = time.monotonic() + timeout
        while self.sql("replica", "SELECT pg_last_wal_replay_lsn() >= CAST(:l AS pg_lsn)", l=lsn)[0] is not True:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.02)

    def wait_until_answering(self, where: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sql(where, "SELECT 1")
                return
            except Exception:
                assert time.monotonic() < deadline, f"the {where} did not come back"
                time.sleep(0.1)


@pytest.fixture(scope="package")
def pair():
    primary = ThrowawayCluster().start("-c wal_level=replica -c max_wal_senders=4 -c synchronous_commit=on")
    replica = None
    try:
        url = create_database(primary.url(), DBNAME)
        migrate.upgrade(url)
        engine = create_engine(url)
        from landdb.reference import sync_reference_data
        from landdb.sample.load import load_sample

        with Session(engine) as session, session.begin():
            sync_reference_data(session)
            load_sample(session)
            officer, _ = auth.create_key(session, "officer for the replica tests", "officer")
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        engine.dispose()
        replica = StreamingReplica(primary).start()
        replica_url = make_url(url).set(query={"host": str(replica.socket_dir)}).render_as_string(hide_password=False)
        yield Pair(primary, replica, url, replica_url, officer)
    finally:
        dispose_engines()
        try:
            if replica is not None:
                replica.stop()
        finally:
            primary.stop()


@pytest.fixture
def app(pair):
    from api import create_app

    yield create_app(pair.settings(), testing=True)
    dispose_engines()


@pytest.fixture
def client(app):
    """A client without a cookie jar, as API clients are (the token cookie is for browsers)."""
    return app.test_client(use_cookies=False)
