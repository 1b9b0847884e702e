"""audit_events.subject without a width: a library folder or a publish target can be longer than 200 characters

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

PostgreSQL enforced VARCHAR(200), so `medialib init` in a deep folder, or a
publish to a long folder target, failed there while SQLite stored the subject.
SQLite does not enforce VARCHAR widths, so it has nothing to change (and the
append-only table is not rebuilt for a declaration alone).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_events", "subject", type_=sa.Text(), existing_type=sa.String(200),
                        existing_nullable=False)  # fmt: skip


def downgrade() -> None:
    # Refuses (rather than cuts) a subject longer than 200 characters.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_events", "subject", type_=sa.String(200), existing_type=sa.Text(),
                        existing_nullable=False)  # fmt: skip
