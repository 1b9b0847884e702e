"""the QC outcome stored with a cut's analysis job

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("derivative_jobs") as batch:
        batch.add_column(sa.Column("qc_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("qc_errors", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("derivative_jobs") as batch:
        batch.drop_column("qc_errors")
        batch.drop_column("qc_key")
