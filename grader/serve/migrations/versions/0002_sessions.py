"""Server-side sessions, sign-in attempts for the rate limits, and each account's last sign-in.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("accounts", sa.Column("last_sign_in_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_sessions_account", "sessions", ["account_id"], unique=False)
    op.create_index("ix_sessions_expiry", "sessions", ["expires_at"], unique=False)
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sign_in_attempts_login", "sign_in_attempts", ["login", "at"],
                    unique=False)
    op.create_index("ix_sign_in_attempts_address", "sign_in_attempts", ["address", "at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_sign_in_attempts_address", table_name="sign_in_attempts")
    op.drop_index("ix_sign_in_attempts_login", table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
    op.drop_index("ix_sessions_expiry", table_name="sessions")
    op.drop_index("ix_sessions_account", table_name="sessions")
    op.drop_table("sessions")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("last_sign_in_at")
