"""Dry run (chạy thử) of a registration: every check and effect, inside a savepoint rolled back.

A dry run goes down exactly the path a registration takes — the same locks, rules, triggers,
serving-layer updates and journal row — and then rolls back to the savepoint taken before it,
so the register, the journal (its head and seq), the parties and the idempotency keys are as
they were. Sequences are not transactional: a dry run, like any refused registration, uses up
ids (gaps in ids mean nothing; the journal's `seq` has none). Locks taken inside the savepoint,
the journal's chain lock among them, are released by the rollback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import registry

#: The journal row's own columns: a dry run writes no journal row, so its answer has none of them.
JOURNAL_FIELDS = ("id", "seq", "hash", "prev_hash", "registered_at")


def dry_run(session: Session, body: Any, *, actor: str | None = None,
            idempotency_key: str | None = None, idempotency_scope: str | None = None) -> tuple[dict, bool]:
    """Run the registration `body` describes and undo it; return `(answer, replayed)`.

    `answer` is what `registry.register` would answer — what would be closed and opened — with
    `"dry_run": true` and without the journal row's columns (id, seq, hash, prev_hash,
    registered_at); ids of rows it would create (rights, new parties) are not kept. `replayed` is
    true when `idempotency_key` was already used for this body (the answer then describes that
    registration, which is already in the register). Raises exactly what `registry.register`
    raises for the same body and key, so a refused dry run is refused the same way."""
    savepoint = session.begin_nested()
    try:
        answer, created = registry.register(session, body, actor=actor, idempotency_key=idempotency_key,
                                            idempotency_scope=idempotency_scope)
        if created:
            # Deferred constraints are checked at commit: check them now, as the commit would.
            # Rolling back to the savepoint restores their deferred mode.
            session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    finally:
        savepoint.rollback()
    out = {k: v for k, v in answer.items() if k not in JOURNAL_FIELDS}
    return {"dry_run": True, **out}, not created


__all__ = ["dry_run", "JOURNAL_FIELDS"]
