"""`landdb keys create|list|revoke` through click's CliRunner, against the test database."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from landdb import auth
from landdb.cli import main

NAME = "cli-test key"


@pytest.fixture
def run(database_url, engine):
    """Invoke `landdb …` with DATABASE_URL set; the CLI commits, so remove its keys afterwards."""
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), env={"DATABASE_URL": database_url}, catch_exceptions=False)

    yield invoke
    with engine.begin() as conn:
        mine = "SELECT id FROM api_keys WHERE name LIKE :n"
        conn.execute(text(f"DELETE FROM personal_data_access_log WHERE api_key_id IN ({mine})"), {"n": NAME + "%"})
        conn.execute(text("DELETE FROM api_keys WHERE name LIKE :n"), {"n": NAME + "%"})


def test_create_list_revoke(run, engine):
    created = run("keys", "create", "--role", "integration", "--name", NAME,
                  "--scope", "owners:read", "--scope", "parcels:read")
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip()
    assert re.fullmatch(r"ldb_[A-Za-z0-9_-]{40}", plaintext)
    assert "will not be shown again" in created.stderr
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, prefix, key_hash, scopes FROM api_keys WHERE name = :n"),
                           {"n": NAME}).one()
    assert row.key_hash == auth.hash_key(plaintext) and row.prefix == plaintext[:12]
    assert row.scopes == ["parcels:read", "owners:read"]

    listed = run("keys", "list")
    assert listed.exit_code == 0
    line = next(ln for ln in listed.stdout.splitlines() if NAME in ln)
    assert row.prefix in line and "integration" in line and "parcels:read,owners:read" in line
    assert plaintext not in listed.stdout and row.key_hash not in listed.stdout

    revoked = run("keys", "revoke", row.prefix)
    assert revoked.exit_code == 0 and f"revoked key {row.id}" in revoked.stdout
    line = next(ln for ln in run("keys", "list").stdout.splitlines() if NAME in ln)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d$", line)  # the revoked column is filled
    assert NAME not in run("keys", "list", "--active").stdout
    with engine.connect() as conn, pytest.raises(auth.Unauthorized):
        from sqlalchemy.orm import Session

        auth.authenticate(Session(bind=conn), plaintext)


def test_officer_key_and_errors(run):
    created = run("keys", "create", "--role", "officer", "--name", NAME + " 2")
    assert created.exit_code == 0 and "every scope" in created.stderr
    bad = run("keys", "create", "--role", "officer", "--name", NAME + " 3", "--scope", "owners:read")
    assert bad.exit_code == 1 and "integration" in bad.stderr
    unknown_role = run("keys", "create", "--role", "public", "--name", NAME + " 4")
    assert unknown_role.exit_code == 2
    missing = run("keys", "revoke", "987654321")
    assert missing.exit_code == 1 and "no API key" in missing.stderr


def test_access_log(run, engine):
    plaintext = run("keys", "create", "--role", "officer", "--name", NAME + " audit").stdout.strip()
    from sqlalchemy.orm import Session

    with Session(engine) as session, session.begin():
        principal = auth.authenticate(session, plaintext)
        auth.log_personal_data_access(session, principal, "GET /api/v1/parties", [5], [8, 9], "192.0.2.4")
    out = run("keys", "access-log", "--key", plaintext[:12])
    assert out.exit_code == 0, out.output
    (line,) = out.stdout.splitlines()
    assert line.split("\t")[1:] == [str(principal.key_id), "officer", "GET /api/v1/parties",
                                     "parcels=5", "parties=8,9", "192.0.2.4"]
    assert run("keys", "access-log", "--key", plaintext[:12], "--since", "2999-01-01").stdout == ""
