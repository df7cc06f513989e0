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
