"""medialib db: schema migrations."""

from __future__ import annotations

import click

from medialib.catalog import db
from medialib.cli.common import App, pass_app
from medialib.library import Library


@click.group("db")
def command() -> None:
    """Inspect and migrate the catalogue's schema (migrations also run automatically)."""


def _open(app: App) -> Library:
    return Library.open(app.config_path, overrides={"user": app.user}, migrate=False)


@command.command("upgrade")
@pass_app
def upgrade(app: App) -> None:
    """Apply every pending migration."""
    with _open(app) as lib:
        before = db.current_revision(lib.engine)
        db.upgrade(lib.engine)
        after = db.current_revision(lib.engine)
    click.echo(f"schema at {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@command.command("current")
@pass_app
def current(app: App) -> None:
    """Print the schema revision of the catalogue and the newest one known."""
    with _open(app) as lib:
        click.echo(f"database: {db.current_revision(lib.engine) or 'empty'}")
    click.echo(f"head:     {db.head_revision()}")
