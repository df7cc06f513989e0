"""Prepared statements (landdb.prepared) on autocommit connections: the single-parcel lookups give
the same answers as plain execution for every CRS and time-travel variant, past PostgreSQL's
switch to a generic plan; the statement timeout still applies; unpreparable SQL falls back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from landdb import parcels, prepared
from landdb.db import make_sessionmaker
from tests.factories import sample_parcels
from landdb.errors import NotFound


@pytest.fixture(scope="module")
def autocommit_engine(database_url):
    eng = create_engine(database_url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    yield eng
    eng.dispose()


@pytest.fixture
def autocommit(engine, autocommit_engine):
    """Sessions as the app makes them: they lend pooled autocommit connections for single reads."""
    return make_sessionmaker(engine, autocommit_engine=autocommit_engine)


@pytest.fixture(scope="module")
def sample_parcel(engine):
    """A current parcel of the committed sample: its code and a point inside it (lon, lat)."""
    return sample_parcels(engine, 1)[0]


LOOKUPS = {
    "code": lambda s, code, lon, lat, **kw: parcels.get_parcel(s, code, **kw),
    "point": lambda s, code, lon, lat, **kw: parcels.parcel_at(s, lon, lat, **kw),
    "near": lambda s, code, lon, lat, **kw: (lambda f: (f.matched, f.returned, b"".join(f.chunks)))(
        parcels.parcels_near(s, lon, lat, radius=150, **kw)),
}


@pytest.mark.parametrize("op", LOOKUPS)
@pytest.mark.parametrize("variant", [{}, {"srid": 3857}, {"srid": 5899}, {"at": dt.date.today()},
                                     {"srid": 5899, "at": dt.date(2000, 1, 1)}])
def test_prepared_lookups_match_plain_execution(engine, autocommit, sample_parcel, op, variant):
    lookup = LOOKUPS[op]
    with Session(engine) as session:
        try:
            expected = lookup(session, *sample_parcel, **variant)
        except NotFound as exc:
            expected = exc
    session = autocommit()
    try:
        assert prepared.autocommit_connection(session) is not None
        # Past the fifth run PostgreSQL may switch to a generic plan: answers must not change.
        for _ in range(7):
            try:
                got = lookup(session, *sample_parcel, **variant)
            except NotFound as exc:
                got = exc
            if isinstance(expected, NotFound):
                assert isinstance(got, NotFound) and str(got) == str(expected)
            else:
                assert got == expected
        names = prepared.autocommit_connection(session).info["landdb_prepared"]
        assert any(order for order in names.values())  # it did prepare
        if op == "point":  # planned once: the generic plan from the first run
            assert prepared.execute(prepared.autocommit_connection(session), "SELECT sum(custom_plans) = 0 AND sum(generic_plans) >= 7"
                                        " FROM pg_prepared_statements WHERE statement LIKE '%ST_MakePoint%'"
                                        " AND statement NOT LIKE '%ST_DWithin%'", {})[0][0]
    finally:
        session.close()


def test_statement_in_a_transaction_is_not_prepared(session, sample_parcel):
    code = sample_parcel[0]
    assert prepared.autocommit_connection(session) is None
    assert parcels.get_parcel(session, code).startswith('{"type":"Feature","id":"' + code)


def test_statement_timeout_applies_to_prepared_statements(autocommit):
    session = autocommit()
    try:
        conn = prepared.autocommit_connection(session)
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = 50")
        with pytest.raises(DBAPIError) as info:
            prepared.execute(conn, "SELECT pg_sleep(CAST(:s AS float8))", {"s": 2})
        assert info.value.orig.pgcode == "57014"
        assert prepared.execute(conn, "SELECT 1", {}) == [(1,)]  # the connection is still usable
    finally:
        prepared.autocommit_connection(session).invalidate()  # not back to the pool with its setting
        session.close()


@pytest.mark.parametrize("lends", [True, False])
def test_text_as_bytes_on_that_statement_only(engine, autocommit, lends):
    """Rendered features come back as the UTF-8 bytes PostgreSQL sent, prepared or in a
    transaction; the connection's next statements still get str."""
    session = autocommit() if lends else Session(engine)
    try:
        assert (prepared.autocommit_connection(session) is not None) == lends
        sql = "SELECT CAST(:t AS text) || ' ' || CAST(:n AS text), CAST(:n AS integer)"
        for _ in range(2):
            assert prepared.fetch(session, sql, {"t": "Hạ Long", "n": 7}, as_bytes=True) == [("Hạ Long 7".encode(), 7)]
            assert prepared.fetch(session, sql, {"t": "Hạ Long", "n": 7}) == [("Hạ Long 7", 7)]
    finally:
        session.close()


def test_unpreparable_sql_falls_back_to_plain_execution(autocommit):
    session = autocommit()
    try:
        conn = prepared.autocommit_connection(session)
        # unknown + unknown: PostgreSQL cannot prepare it, but psycopg2's literals are typed.
        for _ in range(2):
            assert prepared.execute(conn, "SELECT :a + :b", {"a": 2, "b": 3})[0][0] == 5
        assert False in conn.info["landdb_prepared"].values()
        # and a literal % in such SQL survives the translation to psycopg2's parameter style
        assert prepared.execute(conn, "SELECT :a + :b || '%'", {"a": 2, "b": 3})[0][0] == "5%"
    finally:
        session.close()


@pytest.mark.parametrize("reset", ["DISCARD ALL", "DEALLOCATE ALL", "forget"])
def test_statements_deallocated_or_forgotten_are_prepared_again(autocommit, sample_parcel, reset):
    """A session reset behind our back (DISCARD ALL, a pooler's reset) or our own memory of the
    connection lost: the lookups still answer, the same."""
    code, lon, lat = sample_parcel
    session = autocommit()
    try:
        expected = (parcels.get_parcel(session, code), parcels.parcel_at(session, lon, lat))
        conn = prepared.autocommit_connection(session)
        if reset == "forget":
            conn.info["landdb_prepared"].clear()  # the server still has them
        else:
            with conn.cursor() as cur:
                cur.execute(reset)
        assert (parcels.get_parcel(session, code), parcels.parcel_at(session, lon, lat)) == expected
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'landdb_%'")
            assert cur.fetchone()[0] >= 2
    finally:
        session.close()


def _plans(conn, sql: str) -> tuple[int, int]:
    """(generic, custom) plans PostgreSQL made of the prepared statement of `sql`."""
    name = prepared._compile(sql)[0]
    return tuple(prepared.execute(conn, "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                                        " WHERE name = :n", {"n": name})[0])


def test_a_first_page_in_a_small_bbox_runs_on_the_generic_plan(autocommit, sample_parcel):
    """Planned once, the plan any small box gets: the spatial index scan. A box larger than
    GENERIC_BBOX_M is planned for its values."""
    from landdb.query import PARCELS, Bbox, FeatureQuery, render, select_sql
    from landdb.query.renderers import GENERIC_BBOX_M

    _code, lon, lat = sample_parcel
    d = 1e-5
    small = FeatureQuery(PARCELS, bbox=Bbox(lon - d, lat - d, lon + d, lat + d), count=1000, srid=4326)
    assert small.bbox.span_m() < GENERIC_BBOX_M
    sql, params = select_sql(small, "geojson", count_limit=1000, lazy_count=True)
    session = autocommit()
    try:
        for _ in range(3):
            matched, chunks = render(session, small, "geojson", count_limit=1000)
            assert matched == 1 and b"".join(chunks).startswith(b'{"type":"Feature"')
        conn = prepared.autocommit_connection(session)
        assert _plans(conn, sql) == (3, 0)
        big = FeatureQuery(PARCELS, bbox=Bbox(lon - 0.1, lat - 0.1, lon + 0.1, lat + 0.1), count=1000, srid=4326)
        assert big.bbox.span_m() > GENERIC_BBOX_M
        render(session, big, "geojson", count_limit=1000)
        assert _plans(conn, sql) == (3, 1)  # the same statement, planned for this box
        name, order, _, _ = prepared._compile(sql)
        with conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_generic_plan")
            cur.execute(f"EXPLAIN EXECUTE {name}({', '.join(['%s'] * len(order))})", [params[n] for n in order])
            plan = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("RESET plan_cache_mode")
        assert "ix_parcel_features_geom_4326" in plan and "Seq Scan" not in plan
    finally:
        session.close()


def test_a_feature_by_id_runs_on_the_generic_plan(autocommit, sample_parcel):
    """A lookup by key is planned once (the key's index), not for every id."""
    from landdb.query import PARCELS, FeatureQuery, ResourceIds, render, select_sql

    session = autocommit()
    try:
        ids = [r[0] for r in prepared.fetch(session, "SELECT parcel_id FROM parcel_features ORDER BY parcel_id LIMIT 3",
                                            {})]
        for key in ids:
            q = FeatureQuery(PARCELS, filter=ResourceIds((key,)), count=1)
            _, chunks = render(session, q, "geojson")
            assert b"".join(chunks).startswith(f'{{"type":"Feature","id":"parcels.{key}"'.encode())
        sql, _ = select_sql(q, "geojson", lazy_count=True)
        assert _plans(prepared.autocommit_connection(session), sql) == (3, 0)
    finally:
        session.close()
