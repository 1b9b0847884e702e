"""caption tracks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "caption_tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("source_format", sa.String(10), nullable=False),
        sa.Column("encoding", sa.String(30), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("draft_sha256", sa.String(64), nullable=True),
        sa.Column("cut_sha256", sa.String(64), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", UTC, nullable=True),
        sa.Column("approved_sha256", sa.String(64), nullable=True),
        sa.Column("approved_cut_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["film_id"], ["films.id"], name=op.f("fk_caption_tracks_film_id_films"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caption_tracks")),
        sa.UniqueConstraint("film_id", "language", "kind", name=op.f("uq_caption_tracks_film_id_language_kind")),
    )  # fmt: skip
    op.create_index(op.f("ix_caption_tracks_film_id"), "caption_tracks", ["film_id"])


def downgrade() -> None:
    op.drop_table("caption_tracks")
