"""The tamper-evident journal: `verify` recomputes the chain and names the first altered row;
`landdb journal verify|head` on the command line; the application's role cannot alter rows."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from landdb import journal, migrate, registry
from landdb.cli import main

from ..conftest import create_database
from ..registry_helpers import X0, Y0, code_of, first_registration_body, person, serial

X, Y = X0 + 1200, Y0 + 1200


def _register_some(session, n=3, x=X, y=Y):
    answers = [registry.register(session, first_registration_body(x + 20 * i, y))[0] for i in range(n)]
    code = code_of(answers[0])
    pid = session.execute(text("SELECT party_id FROM rights r JOIN parcels p ON p.id = r.parcel_id "
                               "WHERE p.parcel_code = :c"), {"c": code}).scalar_one()
    answers.append(registry.register(session, {
        "kind": "transfer", "parcel": code, "expected_version": 1, "effective_date": "2024-06-01",
        "transferors": [{"party_id": pid}], "transferees": [person(42)], "certificate": {"serial": serial()}})[0])
    return answers


def test_python_hash_matches_the_database_trigger(session):
    answers = _register_some(session, 1)
    row = session.execute(text(
        "SELECT hash, landdb_journal_hash(prev_hash, seq, id, kind, effective_date, registered_at, dossier_no, actor, "
        "payload) AS sql_hash FROM transactions WHERE id = :i"), {"i": answers[-1]["id"]}).one()
    assert row.hash == row.sql_hash
    assert journal.verify(session).ok


def test_verify_names_the_row_altered_behind_the_trigger(session):
    answers = _register_some(session)
    ok = journal.verify(session)
    assert ok.ok and ok.head_hash == answers[-1]["hash"] and ok.rows >= 4
    target = answers[1]
    # A superuser can switch the trigger off; DDL is transactional, so the test's rollback undoes it all.
    session.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only"))
    session.execute(text("UPDATE transactions SET dossier_no = 'HS-SỬA' WHERE id = :i"), {"i": target["id"]})
    session.execute(text("ALTER TABLE transactions ENABLE TRIGGER transactions_append_only"))
    bad = journal.verify(session)
    assert not bad.ok
    assert (bad.bad_id, bad.bad_seq) == (target["id"], target["seq"])
    assert "altered" in bad.reason and f"id {target['id']} seq {target['seq']}" in bad.message()


def test_verify_notices_a_deleted_row_and_a_rewritten_hash(session):
    answers = _register_some(session)
    session.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only"))
    session.execute(text("DELETE FROM transactions WHERE id = :i"), {"i": answers[1]["id"]})
    bad = journal.verify(session)
    assert (bad.ok, bad.bad_id) == (False, answers[2]["id"])
    assert "seq" in bad.reason


def test_verify_notices_a_forged_hash_through_the_next_row(session):
    answers = _register_some(session)
    session.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only"))
    forged = hashlib.sha256(b"forged").hexdigest()
    session.execute(text("UPDATE transactions SET hash = :h WHERE id = :i"), {"h": forged, "i": answers[1]["id"]})
    bad = journal.verify(session)
    assert (bad.ok, bad.bad_id) == (False, answers[1]["id"])


def test_head_is_the_newest_row(session):
    answers = _register_some(session, 1)
    h = journal.head(session)
    assert (h["seq"], h["id"], h["hash"]) == (answers[-1]["seq"], answers[-1]["id"], answers[-1]["hash"])


# --- against a database of its own, with committed rows -------------------------------------


@pytest.fixture(scope="module")
def own_db(pg_server):
    url = create_database(pg_server, "landdb_journal_test")
    migrate.upgrade(url)
    engine = create_engine(url)
    from landdb.reference import sync_reference_data

    with Session(engine) as s, s.begin():
        sync_reference_data(s)
        _register_some(s)
    yield url, engine
    engine.dispose()


def test_cli_verify_passes_then_names_the_altered_row(own_db):
    url, engine = own_db
    runner = CliRunner()
    ok = runner.invoke(main, ["journal", "verify"], env={"DATABASE_URL": url})
    assert ok.exit_code == 0, ok.output
    assert "journal ok: 4 rows" in ok.output
    head = runner.invoke(main, ["journal", "head"], env={"DATABASE_URL": url})
    assert head.exit_code == 0 and '"seq": 4' in head.output
    with engine.begin() as conn:
        row = conn.execute(text("SELECT id, seq FROM transactions WHERE seq = 2")).one()
        conn.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only"))
        conn.execute(text("UPDATE transactions SET payload = payload || '{\"forged\": true}' WHERE seq = 2"))
        conn.execute(text("ALTER TABLE transactions ENABLE TRIGGER transactions_append_only"))
    try:
        bad = runner.invoke(main, ["journal", "verify"], env={"DATABASE_URL": url})
        assert bad.exit_code == 1
        assert f"journal broken at id {row.id} seq 2" in bad.output
    finally:
        with engine.begin() as conn:  # put it back for the next test
            conn.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only"))
            conn.execute(text("UPDATE transactions SET payload = payload - 'forged' WHERE seq = 2"))
            conn.execute(text("ALTER TABLE transactions ENABLE TRIGGER transactions_append_only"))


def test_the_app_role_registers_but_cannot_alter_the_journal(own_db):
    url, engine = own_db
    runner = CliRunner()
    out = runner.invoke(main, ["db", "grant-app-role", "landdb_app_test", "--password", "app-secret"],
                        env={"DATABASE_URL": url})
    assert out.exit_code == 0, out.output
    assert "GRANT SELECT, INSERT ON transactions TO landdb_app_test" in out.output
    app_url = make_url(url).set(username="landdb_app_test", password="app-secret")
    app_engine = create_engine(app_url)
    try:
        with Session(app_engine) as s, s.begin():
            answer, _ = registry.register(s, first_registration_body(X + 200, Y, holders=[dict(person(77), share=1)]))
        assert answer["seq"] == 5
        statements = [
            ("UPDATE transactions SET dossier_no = 'x' WHERE seq = 1", "permission denied"),
            ("DELETE FROM transactions WHERE seq = 1", "permission denied"),
            ("TRUNCATE transactions CASCADE", "permission denied"),
            ("ALTER TABLE transactions DISABLE TRIGGER transactions_append_only", "must be owner"),
            ("DROP TRIGGER transactions_append_only ON transactions", "must be owner"),
            ("DELETE FROM parcel_versions", "permission denied"),
        ]
        for sql, message in statements:
            with app_engine.connect() as conn:
                with pytest.raises(DBAPIError, match=message):
                    conn.execute(text(sql))
        with Session(engine) as s:
            assert journal.verify(s).ok
    finally:
        app_engine.dispose()


def test_cli_verify_passes_on_the_sample(database_url, session):
    n = session.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    assert n > 1000  # the Hạ Long sample's journal
    out = CliRunner().invoke(main, ["journal", "verify"], env={"DATABASE_URL": database_url})
    assert out.exit_code == 0, out.output
    assert f"journal ok: {n} rows" in out.output
