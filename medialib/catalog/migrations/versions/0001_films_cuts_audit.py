"""films, cuts and the append-only audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)

# The audit log is append-only: the database itself refuses UPDATE and DELETE.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_{op} BEFORE {OP} ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"""
]
PG_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = """CREATE TRIGGER audit_events_no_{op} BEFORE {OP} ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"])

    op.create_table(
        "films",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(300), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("credits", sa.JSON(), nullable=False),
        sa.Column("licence", sa.String(200), nullable=False),
        sa.Column("publish_at", UTC, nullable=True),
        sa.Column("pinned_cut_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_films")),
        sa.UniqueConstraint("slug", name=op.f("uq_films_slug")),
    )
    op.create_index(op.f("ix_films_pinned_cut_id"), "films", ["pinned_cut_id"])

    op.create_table(
        "cuts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=False),
        sa.Column("container", sa.String(40), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("video_codec", sa.String(40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("display_aspect_ratio", sa.String(20), nullable=False),
        sa.Column("frame_rate", sa.Double(), nullable=False),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("audio_codec", sa.String(40), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("bit_rate", sa.BigInteger(), nullable=True),
        sa.Column("probe", sa.JSON(), nullable=False),
        sa.Column("original_name", sa.String(1000), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["film_id"], ["films.id"], name=op.f("fk_cuts_film_id_films"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cuts")),
        sa.UniqueConstraint("film_id", "seq", name=op.f("uq_cuts_film_id_seq")),
        sa.UniqueConstraint("film_id", "sha256", name=op.f("uq_cuts_film_id_sha256")),
    )
    op.create_index(op.f("ix_cuts_film_id"), "cuts", ["film_id"])
    op.create_index(op.f("ix_cuts_sha256"), "cuts", ["sha256"])

    # films.pinned_cut_id -> cuts.id closes a cycle, so it is added last.
    with op.batch_alter_table("films") as batch:
        batch.create_foreign_key(
            op.f("fk_films_pinned_cut_id_cuts"), "cuts", ["pinned_cut_id"], ["id"], ondelete="SET NULL"
        )

    dialect = op.get_bind().dialect.name
    for name in ("update", "delete"):
        if dialect == "sqlite":
            op.execute(SQLITE_TRIGGERS[0].format(op=name, OP=name.upper()))
        elif dialect == "postgresql":
            if name == "update":
                op.execute(PG_FUNCTION)
            op.execute(PG_TRIGGER.format(op=name, OP=name.upper()))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{name}" + (" ON audit_events" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("films") as batch:
        batch.drop_constraint(op.f("fk_films_pinned_cut_id_cuts"), type_="foreignkey")
    op.drop_table("cuts")
    op.drop_table("films")
    op.drop_table("audit_events")
