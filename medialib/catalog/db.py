"""Database plumbing: the declarative base, engines and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout and
foreign keys on; write sessions start with ``BEGIN IMMEDIATE`` so two
processes adding cuts at once queue for the lock instead of failing half-way.
Any other SQLAlchemy URL (PostgreSQL through psycopg 3) works unchanged.

The caller owns sessions and transactions::

    with library.session() as s, s.begin():
        ...
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from medialib.errors import AlreadyExists, ConfigError, MedialibError

MIGRATIONS = Path(__file__).with_name("migrations")

# The newest migration. Kept here so that opening a library whose schema is
# current does not import Alembic (a third of a second); a test checks it
# against the migrations folder.
SCHEMA_HEAD = "0008"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def add_unique(session: Session, row: Any, existing: Any, what: str) -> None:
    """Add ``row``, whose unique name ``existing`` (a select of the row holding that name)
    must not find; AlreadyExists("<what> already exists") if it does, also when another
    writer took the name between the check and the insert (PostgreSQL: the insert then
    fails on the unique index; the savepoint keeps the caller's transaction usable)."""
    if session.scalars(existing).first() is not None:
        raise AlreadyExists(f"{what} already exists")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        if session.scalars(existing).first() is not None:
            raise AlreadyExists(f"{what} already exists") from None
        raise


def make_engine(url: str, busy_timeout: float = 30.0) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and FK checks."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("database", f"{url!r} is not a database URL") from None
    if parsed.get_backend_name() != "sqlite":
        try:
            engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:
            raise ConfigError("database", f"{parsed.render_as_string(hide_password=True)}: {exc}") from None
        _ping_when_idle(engine)
        return engine

    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


IDLE_PING = 1.0  # seconds a pooled server connection may rest before it is checked again


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection with a round trip before use only when it rested in
    the pool longer than IDLE_PING: one that went stale (a server restart) is then
    replaced, while a worker reusing its connections every few milliseconds pays no
    extra round trip per transaction (``pool_pre_ping`` pings at every checkout)."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:  # the pool drops this connection and hands out a fresh one
            raise DisconnectionError(str(exc).strip() or type(exc).__name__) from exc


def writer(engine: Engine) -> Engine:
    """The same engine, but transactions take the write lock at once (SQLite)."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, holding the write lock while doing so."""
    from alembic import command

    try:
        with writer(engine).connect() as conn:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(7312001)"))
                command.upgrade(_alembic_config(conn), revision)
    except OperationalError as exc:
        raise MedialibError(f"database: cannot migrate: {exc.orig}") from None


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with writer(engine).connect() as conn, conn.begin():
        command.downgrade(_alembic_config(conn), revision)


def _stored_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> None:
    """Run pending migrations, if any (one small query when the schema is current)."""
    try:
        current = _stored_revision(engine)
    except OperationalError as exc:
        raise MedialibError(f"database: cannot connect: {exc.orig}".strip()) from None
    if current != SCHEMA_HEAD:
        upgrade(engine)


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
