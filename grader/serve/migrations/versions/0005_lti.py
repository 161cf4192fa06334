"""LTI 1.3: OIDC logins (state and nonce), platforms' users, courses and their members, resource
links, line items, and the outbox of scores sent back to the platforms.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lti_logins",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        _when("created_at"), _when("used_at", True),
        sa.PrimaryKeyConstraint("state"),
        sa.UniqueConstraint("nonce"))
    op.create_table(
        "lti_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=300), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuer", "sub", name="uq_lti_users_sub"))
    op.create_table(
        "lti_contexts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("context_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("lineitems_url", sa.Text(), nullable=False),
        sa.Column("ags_scopes", sa.Text(), nullable=False),
        sa.Column("memberships_url", sa.Text(), nullable=False),
        sa.Column("tool_url", sa.String(length=300), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuer", "client_id", "deployment_id", "context_id",
                            name="uq_lti_contexts"))
    op.create_table(
        "lti_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["context_id"], ["lti_contexts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("context_id", "account_id", name="uq_lti_members"))
    op.create_table(
        "lti_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("resource_link_id", sa.String(length=255), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("lineitem_url", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"]),
        sa.ForeignKeyConstraint(["context_id"], ["lti_contexts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("context_id", "resource_link_id", name="uq_lti_links"))
    op.create_table(
        "lti_lineitems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("resource_link_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"]),
        sa.ForeignKeyConstraint(["context_id"], ["lti_contexts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("context_id", "assignment_id", name="uq_lti_lineitems"))
    op.create_table(
        "lti_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lineitem_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        _when("next_try_at"),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        _when("claimed_until", True),
        sa.Column("error", sa.Text(), nullable=False),
        _when("created_at"), _when("sent_at", True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["lineitem_id"], ["lti_lineitems.id"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_lti_scores_due", "lti_scores", ["status", "next_try_at"], unique=False)
    op.create_index("ix_lti_scores_student", "lti_scores", ["lineitem_id", "account_id", "status"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_lti_scores_student", table_name="lti_scores")
    op.drop_index("ix_lti_scores_due", table_name="lti_scores")
    for table in ("lti_scores", "lti_lineitems", "lti_links", "lti_members", "lti_contexts",
                  "lti_users", "lti_logins"):
        op.drop_table(table)
