"""Fixtures: a real PostGIS (started here), the schema built by the migrations, the sample
data loaded once, and a transaction per test that is rolled back at the end."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from landdb import migrate
from landdb.config import Settings
from landdb.db import dispose_engines, normalize_url

from .postgis import ThrowawayCluster

#: Browser fixtures (Playwright on Debian's Chromium): browser, live_server, page, page_errors.
pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="session")
def pg_server():
    """URL of a server where the suite may create databases."""
    url = os.environ.get("LANDDB_TEST_DATABASE_URL")
    if url:
        yield normalize_url(url)
        return
    cluster = ThrowawayCluster().start()
    try:
        yield cluster.url("postgres")
    finally:
        dispose_engines()
        cluster.stop()


def create_database(server_url: str, name: str) -> str:
    """Create (or re-create) database `name` on the server and return its URL."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def sample_database(server_url: str, name: str) -> str:
    """A database `name`, migrated to head, with reference data and the committed sample loaded."""
    url = create_database(server_url, name)
    migrate.upgrade(url)
    engine = create_engine(url)
    from landdb.reference import sync_reference_data
    from landdb.sample.load import load_sample

    with Session(engine) as session, session.begin():
        sync_reference_data(session)
        # The committed Hạ Long sample (sample_parcels/), so every test sees realistic data.
        load_sample(session)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def database_url(pg_server) -> str:
    """The main test database: migrated to head, reference data and the sample loaded."""
    return sample_database(pg_server, "landdb_test")


@pytest.fixture(scope="session")
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, statement_timeout_ms=30_000)


@pytest.fixture(scope="session")
def engine(database_url):
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine):
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()


@pytest.fixture
def session(connection) -> Session:
    """A session joined to the test's transaction: its commits become savepoints."""
    sess = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield sess
    finally:
        sess.close()


@pytest.fixture
def app(settings, connection):
    from api import create_app

    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    return create_app(settings, testing=True, sessionmaker=maker)


@pytest.fixture
def client(app):
    return app.test_client()
