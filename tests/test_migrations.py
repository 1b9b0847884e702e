"""Migrations on SQLite and PostgreSQL: from empty, down and up again, in step
with the models; the audit log refuses updates and deletes."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from medialib.catalog import db
from medialib.catalog.db import Base


@pytest.fixture
def engine(db_url):
    e = db.make_engine(db_url)
    yield e
    e.dispose()


def test_upgrade_from_empty_downgrade_and_again(engine):
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert {"films", "cuts", "audit_events"} <= set(db.table_names(engine))
    db.downgrade(engine, "base")
    assert set(db.table_names(engine)) <= {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_models_match_migrations(engine):
    db.upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_audit_log_is_append_only(engine):
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO audit_events (at, actor, action, subject, details) "
            "VALUES (CURRENT_TIMESTAMP, 'a', 'x', 'film:x', '{}')"
        ))  # fmt: skip
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["a"]


def test_ensure_schema_runs_pending_migrations(engine):
    db.ensure_schema(engine)
    db.ensure_schema(engine)  # a second time is a no-op
    assert db.current_revision(engine) == db.head_revision()


def test_db_commands(cli):
    r = cli("db", "current")
    assert r.code == 0 and f"head:     {db.head_revision()}" in r.out
    r = cli("db", "upgrade")
    assert r.code == 0 and f"schema at {db.head_revision()}" in r.out


def test_schema_head_constant_matches_migrations():
    assert db.SCHEMA_HEAD == db.head_revision()
