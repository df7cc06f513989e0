"""Owners found by the words of their name: a word index, and the name order served by an index.

The owner search ("nguyen van an" finds "Nguyễn Văn An") used to match each typed word anywhere
inside the folded name with a trigram index. A common Vietnamese name's words ("nguyen", "van",
"thi") occur in most of the 345 934 parties of the 200 000-parcel sample and, as substrings, in
many more ("an" is inside "Nguyễn", "Lan", "Hoàng"), so the index barely narrowed it: every match
was read, counted and sorted (~120–400 ms warm for one or two common words, over 300 ms at p95
on a busy machine). Now the name's words are a `tsvector` kept by PostgreSQL itself (a generated
column: every insert and update of `full_name` — import, sample load, registration — recomputes
it in the same statement), with a GIN index for rare words, and a b-tree on `(full_name, id)`
that carries the words too, so a page of the commonest words is read in name order from the
index alone (no table row fetched to test the words), stopping at the page's end.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:20:00
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The expression the search folds its query with too (`landdb.parcels.search_parties`).
NAME_WORDS = "to_tsvector('simple'::regconfig, landdb_fold(full_name))"


def upgrade() -> None:
    op.execute(f"ALTER TABLE parties ADD COLUMN name_words tsvector GENERATED ALWAYS AS ({NAME_WORDS}) STORED")
    op.execute("CREATE INDEX ix_parties_name_words ON parties USING gin (name_words)")
    op.execute("CREATE INDEX ix_parties_full_name ON parties (full_name, id) INCLUDE (name_words)")
    op.execute("DROP INDEX IF EXISTS ix_parties_name_trgm")
    op.execute("ANALYZE parties")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_parties_name_trgm ON parties USING gin (landdb_fold(full_name) gin_trgm_ops)")
    op.execute("DROP INDEX IF EXISTS ix_parties_full_name")
    op.execute("DROP INDEX IF EXISTS ix_parties_name_words")
    op.execute("ALTER TABLE parties DROP COLUMN name_words")
