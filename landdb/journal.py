"""The tamper-evident journal (`transactions`): verify the hash chain, read its head, and give an
application's database role the rights it needs — INSERT and SELECT on the journal, nothing more.

Each row's hash is SHA-256 over this text (the SQL function `landdb_journal_hash`, created by
migration 0001, spells the same):

    prev_hash \\n seq \\n id \\n kind \\n effective_date (YYYY-MM-DD) \\n
    registered_at (UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ) \\n dossier_no \\n actor \\n payload

with NULLs as empty strings and the payload in PostgreSQL's canonical `jsonb` text. `verify`
recomputes it here, in Python, from the stored columns (it does not trust the database's
function), streaming the rows in `seq` order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import InvalidInput

#: a row's id, seq, hashes, and the text its hash is computed over (header and payload).
_ROW_COLUMNS = """id, seq, prev_hash, hash,
           coalesce(prev_hash, '') || E'\\n' || seq::text || E'\\n' || id::text || E'\\n' || kind || E'\\n'
           || to_char(effective_date, 'YYYY-MM-DD') || E'\\n'
           || to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\\n'
           || coalesce(dossier_no, '') || E'\\n' || coalesce(actor, '') || E'\\n' AS head,
           payload::text AS payload"""

_ROWS = text(f"SELECT {_ROW_COLUMNS} FROM transactions ORDER BY seq NULLS LAST, id")


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`: `ok`, how many rows were checked, and the first bad row."""

    ok: bool
    rows: int
    head_seq: int | None = None
    head_hash: str | None = None
    bad_id: int | None = None
    bad_seq: int | None = None
    reason: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"journal ok: {self.rows} rows, head seq {self.head_seq} hash {self.head_hash}"
        return f"journal broken at id {self.bad_id} seq {self.bad_seq}: {self.reason} ({self.rows} rows before it verified)"


def row_hash(head: str, payload: str) -> str:
    """The hash of one row, from its rendered header text (with the previous hash) and payload."""
    return hashlib.sha256((head + payload).encode("utf-8")).hexdigest()


def verify(session: Session, *, batch: int = 2000) -> Verification:
    """Recompute the chain in `seq` order; name the first row that does not match.

    A row fails when its `seq` is missing or not the next number, its `prev_hash` is not the
    previous row's hash, or its `hash` is not the hash of its content."""
    prev_hash: str | None = None
    expected_seq = 1
    n = 0
    result = session.execute(_ROWS.execution_options(yield_per=batch, stream_results=True))
    for r in result:
        reason = None
        if r.seq is None:
            reason = "the row has no seq (it was written around the chain trigger)"
        elif r.seq != expected_seq:
            reason = f"seq {r.seq} where {expected_seq} was expected (rows missing or renumbered)"
        elif r.prev_hash != prev_hash:
            reason = "prev_hash is not the previous row's hash"
        elif row_hash(r.head, r.payload) != r.hash:
            reason = "the hash does not match the row's content (the row was altered)"
        if reason:
            result.close()
            return Verification(False, n, expected_seq - 1 or None, prev_hash, r.id, r.seq, reason)
        prev_hash = r.hash
        expected_seq += 1
        n += 1
    return Verification(True, n, expected_seq - 1 or None, prev_hash)


def head(session: Session) -> dict | None:
    """The newest journal row: `{seq, id, hash, registered_at}` (None for an empty journal)."""
    row = session.execute(
        text("SELECT seq, id, hash, registered_at FROM transactions WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
    ).first()
    if row is None:
        return None
    return {"seq": row.seq, "id": row.id, "hash": row.hash, "registered_at": row.registered_at.isoformat()}


def check_entry(session: Session, seq: int) -> dict | None:
    """Re-derive one journal row's hash from its content and check its link to the row before.

    Returns `{seq, id, hash, computed, content_ok, link_ok, ok, effective_date, kind}` (None when
    no row has that seq). It does not walk the whole chain (`verify` does)."""
    row = session.execute(text(f"""
        SELECT {_ROW_COLUMNS}, kind, effective_date,
               (SELECT p.hash FROM transactions p WHERE p.seq = t.seq - 1) AS before_hash
          FROM transactions t WHERE seq = :seq"""), {"seq": seq}).first()
    if row is None:
        return None
    computed = row_hash(row.head, row.payload)
    content_ok = computed == row.hash
    link_ok = row.prev_hash == row.before_hash
    return {"seq": row.seq, "id": row.id, "hash": row.hash, "computed": computed, "content_ok": content_ok,
            "link_ok": link_ok, "ok": content_ok and link_ok, "kind": row.kind,
            "effective_date": row.effective_date}


# --- the application's database role ---------------------------------------------------------

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_app_role(session: Session, role: str, *, create: bool = True, password: str | None = None) -> list[str]:
    """Give `role` what the application needs and no more on the journal.

    SELECT, INSERT and UPDATE on the register's other tables (nothing is ever deleted); SELECT only on
    the serving layer `parcel_features` (the register's triggers write it); on `transactions` only SELECT and INSERT (no UPDATE,
    DELETE or TRUNCATE); USAGE on the sequences. The role does not own the tables, so it cannot
    ALTER them or disable their triggers. Run as the tables' owner or a superuser. Returns the
    statements executed (passwords masked)."""
    if not _ROLE.match(role or ""):
        raise InvalidInput("the role name must be lower-case letters, digits and _ (at most 63)", field="role")
    owner = session.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'transactions'")).scalar()
    if owner == role:
        raise InvalidInput(f"{role} owns the tables; the application's role must be another one", field="role")
    ident = session.execute(text("SELECT quote_ident(:r)"), {"r": role}).scalar_one()
    done: list[str] = []

    def run(sql: str, shown: str | None = None, params: dict | None = None) -> None:
        session.execute(text(sql), params or {})
        done.append(shown or sql)

    exists = session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        if not create:
            raise InvalidInput(f"no database role {role}", field="role")
        run(f"CREATE ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    if password:
        quoted = session.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        run(f"ALTER ROLE {ident} PASSWORD {quoted}", f"ALTER ROLE {ident} PASSWORD '…'")
    tables = session.execute(text(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename NOT IN ('transactions', 'spatial_ref_sys') ORDER BY tablename")).scalars().all()
    run(f"GRANT USAGE ON SCHEMA {_schema(session)} TO {ident}")
    run(f"REVOKE ALL ON transactions FROM {ident}")
    run(f"GRANT SELECT, INSERT ON transactions TO {ident}")
    for t in tables:
        run(f"GRANT SELECT, INSERT, UPDATE ON {t} TO {ident}")
    # The serving layer is written by the register's triggers only (as the owner).
    run(f"REVOKE INSERT, UPDATE ON parcel_features FROM {ident}")
    run(f"GRANT SELECT ON spatial_ref_sys TO {ident}")
    run(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_schema(session)} TO {ident}")
    return done


def _schema(session: Session) -> str:
    return session.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
