"""derivative jobs and files; films.poster_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("films") as batch:
        batch.add_column(sa.Column("poster_at", sa.Double(), nullable=True))

    op.create_table(
        "derivative_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("recipe", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("recipe_hash", sa.String(16), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derivative_jobs")),
        sa.UniqueConstraint("sha256", "recipe", "recipe_hash", name=op.f("uq_derivative_jobs_sha256_recipe_recipe_hash")),
    )
    op.create_index(op.f("ix_derivative_jobs_sha256"), "derivative_jobs", ["sha256"])

    op.create_table(
        "derivative_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("mime", sa.String(60), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["derivative_jobs.id"], name=op.f("fk_derivative_files_job_id_derivative_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derivative_files")),
        sa.UniqueConstraint("job_id", "name", name=op.f("uq_derivative_files_job_id_name")),
    )
    op.create_index(op.f("ix_derivative_files_job_id"), "derivative_files", ["job_id"])


def downgrade() -> None:
    op.drop_table("derivative_files")
    op.drop_table("derivative_jobs")
    with op.batch_alter_table("films") as batch:
        batch.drop_column("poster_at")
