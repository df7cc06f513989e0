"""The serving layer without its land-use index: a bbox query filtered by land use reads only the spatial index.

Four parcels in five share a handful of land-use codes (ODT alone is ~80 %). With a b-tree on
`land_use`, PostgreSQL answers `bbox AND land_use = 'ODT'` by AND-ing a bitmap of the whole
code (158 000 entries, ~16 ms) with the bbox's few hundred, to save a few hundred cheap
ST_Intersects calls: the OGC API's CQL2 query (`land_use = 'ODT' AND legal_area_m2 > 200` in a
box of ~1 000 parcels) took 28–45 ms with the index and 7 ms without, as fast as the same
statement on a flat table. Searches by a rare code alone are no slower without it (the key
order with a filter serves them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:10:00
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_parcel_features_land_use")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_parcel_features_land_use ON parcel_features (land_use)")
