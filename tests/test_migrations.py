"""Migrations on SQLite and PostgreSQL: from empty, down and up again, from the
previous revision with data in it, in step with the models; the audit log
refuses updates and deletes.

These run the real migrations on an empty catalogue (``empty_db_url``); the
other tests get a PostgreSQL schema built by replaying their recorded SQL,
which test_test_catalogue_matches_migrations checks is the same schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medialib.catalog import db
from medialib.catalog.db import Base
from medialib.catalog.films import FilmChanges, add_film
from medialib.catalog.models import AuditEvent, Film


@pytest.fixture
def engine(empty_db_url):
    e = db.make_engine(empty_db_url)
    yield e
    e.dispose()


def previous_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(db._alembic_config(None)).get_revision(db.head_revision())
    assert isinstance(head.down_revision, str)
    return head.down_revision


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return compare_metadata(ctx, Base.metadata)


def test_upgrade_from_empty_downgrade_and_again(engine):
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert {"films", "cuts", "audit_events"} <= set(db.table_names(engine))
    db.downgrade(engine, "base")
    assert set(db.table_names(engine)) <= {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_upgrade_from_the_previous_revision_keeps_the_data(engine):
    previous = previous_revision()
    db.upgrade(engine, previous)
    assert db.current_revision(engine) == previous
    with Session(engine) as s, s.begin():  # films are the same at both revisions
        add_film(s, "tester", "hope-street", FilmChanges(title="Hope Street", languages=["en", "gd"]))
    db.ensure_schema(engine)  # what opening the library does
    assert db.current_revision(engine) == db.head_revision()
    assert schema_diff(engine) == []
    with Session(engine) as s:
        film = s.scalars(select(Film)).one()
        assert (film.slug, film.title, film.languages) == ("hope-street", "Hope Street", ["en", "gd"])
        assert [e.action for e in s.scalars(select(AuditEvent))] == ["film.add"]


def test_models_match_migrations(engine):
    db.upgrade(engine)
    assert schema_diff(engine) == []


def test_test_catalogue_matches_migrations(db_url):
    """The ready-made catalogue the other tests get is the migrations' schema, triggers included."""
    engine = db.make_engine(db_url)
    try:
        assert db.current_revision(engine) in (None, db.head_revision())  # SQLite: created on open
        db.ensure_schema(engine)
        assert schema_diff(engine) == []
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO audit_events (at, actor, action, subject, details) "
                "VALUES (CURRENT_TIMESTAMP, 'a', 'x', 'film:x', '{}')"
            ))  # fmt: skip
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_events"))
    finally:
        engine.dispose()


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


def test_test_schemas_are_unique_and_dropped(pg_admin):
    """The PostgreSQL test fixtures share a server with other runs: each schema has a name
    of its own and is gone after its test."""
    from urllib.parse import unquote

    from conftest import _pg_schema

    admin = pg_admin

    def schema_of(url: str) -> str:
        return unquote(url).rsplit("search_path=", 1)[1]

    def exists(name: str) -> bool:
        with admin.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": name}).scalar() == 1

    with _pg_schema(admin, ready=True) as a, _pg_schema(admin, ready=True) as b, _pg_schema(admin, ready=False) as c:
        names = {schema_of(a), schema_of(b), schema_of(c)}
        assert len(names) == 3 and all(exists(n) for n in names)
    assert not any(exists(n) for n in names)
