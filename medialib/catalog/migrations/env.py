"""Alembic environment: migrations run on the connection medialib hands in."""

from __future__ import annotations

from alembic import context

from medialib.catalog import models  # noqa: F401  (registers the tables)
from medialib.catalog.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through medialib (medialib db upgrade), not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
