"""Accounts of the web application's users, and the user beside the key in the access log.

`users` holds the people who sign in to the web application at `/` (officers, admins, viewers):
an Argon2 hash of the password, the role, the count of failed sign-ins and the time a lock after
too many of them ends, and a session epoch that is bumped on a password reset or when the account
is disabled, so older session cookies stop working. `personal_data_access_log.user_id` names the
officer for each read of personal data through the web application. The serving layer gets an
index on the national parcel ID, which the web application's search box looks parcels up by.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 07:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("full_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('officer', 'admin', 'viewer')", name="ck_users_role"),
        sa.CheckConstraint("username ~ '^[a-z0-9._-]{2,64}$'", name="ck_users_username_format"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.add_column("personal_data_access_log", sa.Column("user_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_personal_data_access_log_user_id_users", "personal_data_access_log",
                          "users", ["user_id"], ["id"])
    op.create_index("ix_parcel_features_national_id", "parcel_features", ["national_id"])


def downgrade() -> None:
    op.drop_index("ix_parcel_features_national_id", table_name="parcel_features")
    op.drop_constraint("fk_personal_data_access_log_user_id_users", "personal_data_access_log",
                       type_="foreignkey")
    op.drop_column("personal_data_access_log", "user_id")
    op.drop_table("users")
