"""The migrations build the schema the models describe, and undo it completely."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from landdb import migrate
from landdb.models import Base

from ..conftest import create_database


def _landdb_objects(engine) -> tuple[set[str], set[str]]:
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
        functions = set(conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'landdb\\_%'")).scalars())
    return tables, functions


def test_empty_to_head_to_base_to_head(pg_server):
    url = create_database(pg_server, "landdb_migrations")
    engine = create_engine(url)
    try:
        migrate.upgrade(url)
        tables, functions = _landdb_objects(engine)
        assert {"parcels", "parcel_versions", "parties", "rights", "certificates", "transactions",
                "admin_units", "land_use_codes", "api_keys", "personal_data_access_log"} <= tables
        assert "landdb_check_parcel_overlaps" in functions

        migrate.downgrade(url, "base")
        assert _landdb_objects(engine) == (set(), set())
        assert migrate.current_revision(engine) is None

        migrate.upgrade(url)
        assert migrate.current_revision(engine) == migrate.head_revision(url)
    finally:
        engine.dispose()


def test_models_and_migrations_agree(engine):

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": _include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def _include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name in {"spatial_ref_sys"}:
        return False
    from geoalchemy2 import alembic_helpers

    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
