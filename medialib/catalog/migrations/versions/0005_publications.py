"""publications, publish locks, take-downs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("films") as batch:
        batch.add_column(sa.Column("taken_down_at", UTC, nullable=True))
        batch.add_column(sa.Column("taken_down_reason", sa.Text(), nullable=True))
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("film_slug", sa.String(80), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(100), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("published_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publications")),
        sa.UniqueConstraint("target", "key", name=op.f("uq_publications_target_key")),
    )
    op.create_index(op.f("ix_publications_film_slug"), "publications", ["film_slug"])
    op.create_table(
        "publish_locks",
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", UTC, nullable=False),
        sa.Column("heartbeat_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("target", name=op.f("pk_publish_locks")),
    )


def downgrade() -> None:
    op.drop_table("publish_locks")
    op.drop_table("publications")
    with op.batch_alter_table("films") as batch:
        batch.drop_column("taken_down_reason")
        batch.drop_column("taken_down_at")
