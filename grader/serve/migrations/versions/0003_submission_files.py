"""Each topic's file of a submission and where it came from: uploaded with it, or carried over
from an earlier submission of the student's (an upload that holds only some topics); and what an
instructor entered for a regrade request where the test allowed less than that.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "submission_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("upload_sha256", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=500), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.ForeignKeyConstraint(["source_id"], ["submissions.id"]),
        sa.ForeignKeyConstraint(["upload_sha256"], ["uploads.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "topic", name="uq_submission_files_topic"),
    )
    op.add_column("regrade_requests", sa.Column("asked", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("regrade_requests") as batch:
        batch.drop_column("asked")
    op.drop_table("submission_files")
