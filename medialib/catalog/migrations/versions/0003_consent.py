"""people, consents, appearances and approvals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("born", sa.Date(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("erased_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("signed_by", sa.String(10), nullable=False),
        sa.Column("guardian", sa.String(300), nullable=True),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("wording_version", sa.String(60), nullable=False),
        sa.Column("collected_by", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("form_key", sa.String(200), nullable=True),
        sa.Column("form_sha256", sa.String(64), nullable=False),
        sa.Column("form_mime", sa.String(40), nullable=False),
        sa.Column("form_size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("verified_by", sa.String(200), nullable=True),
        sa.Column("verified_at", UTC, nullable=True),
        sa.Column("withdrawn_at", UTC, nullable=True),
        sa.Column("withdrawn_by", sa.String(200), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("changed_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_consents_person_id_people"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["supersedes_id"], ["consents.id"], name=op.f("fk_consents_supersedes_id_consents"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )  # fmt: skip
    op.create_index(op.f("ix_consents_person_id"), "consents", ["person_id"])
    op.create_index(op.f("ix_consents_supersedes_id"), "consents", ["supersedes_id"])
    op.create_table(
        "appearances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("identifiable", sa.Boolean(), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["film_id"], ["films.id"], name=op.f("fk_appearances_film_id_films"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_appearances_person_id_people"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appearances")),
        sa.UniqueConstraint("film_id", "person_id", name=op.f("uq_appearances_film_id_person_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_appearances_film_id"), "appearances", ["film_id"])
    op.create_index(op.f("ix_appearances_person_id"), "appearances", ["person_id"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("cut_sha256", sa.String(64), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["film_id"], ["films.id"], name=op.f("fk_approvals_film_id_films"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )  # fmt: skip
    op.create_index(op.f("ix_approvals_film_id"), "approvals", ["film_id"])


def downgrade() -> None:
    op.drop_table("approvals")
    op.drop_table("appearances")
    op.drop_table("consents")
    op.drop_table("people")
