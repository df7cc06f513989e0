"""The engine's pool hands out live connections: one killed while idle is replaced unseen."""

from __future__ import annotations

from sqlalchemy import text

from landdb import db
from landdb.config import Settings


def test_idle_connection_killed_by_the_server_is_replaced(database_url, engine, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    settings = Settings(database_url=database_url, pool_size=1, max_overflow=0)
    app_engine = db.get_engine(settings)
    with app_engine.connect() as conn:
        first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # The server drops the pooled connection (a restart, a failover, an idle timeout).
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
    with app_engine.connect() as conn:
        second_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert second_pid != first_pid
    # Autocommit reads (the REST and WFS hot paths) still work on a pinged connection.
    with app_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    app_engine.dispose()


def test_sessions_lend_autocommit_connections_for_single_reads_only_outside_transactions(database_url, engine,
                                                                                        monkeypatch):
    from landdb import prepared

    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    settings = Settings(database_url=database_url, pool_size=1, max_overflow=0)
    maker = db.make_sessionmaker(db.get_engine(settings), autocommit_engine=db.get_engine(settings, autocommit=True))
    session = maker()
    try:
        conn = prepared.autocommit_connection(session)
        assert conn is prepared.autocommit_connection(session)  # one per session
        with conn.cursor() as cur:
            cur.execute("SHOW jit")
            assert cur.fetchone()[0] == "off"
            cur.execute("SHOW max_parallel_workers_per_gather")
            assert cur.fetchone()[0] == "0"  # no worker process started per page
            cur.execute("SELECT pg_current_xact_id_if_assigned() IS NULL, now() = statement_timestamp()")
            assert cur.fetchone() == (True, True)  # no transaction held open between statements
        # killed while idle in the pool: the next checkout pings it and gets a fresh one
        pid = prepared.execute(conn, "SELECT pg_backend_pid()", {})[0][0]
        session.close()
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        session = maker()
        assert prepared.execute(prepared.autocommit_connection(session), "SELECT pg_backend_pid()", {})[0][0] != pid
        # once the session has a transaction of its own, reads stay in it
        session.execute(text("SELECT 1"))
        assert prepared.autocommit_connection(session) is None
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        session.close()
        db.dispose_engines()
