"""medialib init: create a new library."""

from __future__ import annotations

import click

from medialib.cli.common import App, pass_app
from medialib.library import Library


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@pass_app
def command(app: App, directory: str) -> None:
    """Create a new library in DIRECTORY (default: here).

    Writes config.toml (every setting, documented), assets/, captions/ and
    the catalogue: a SQLite medialib.db, or the database that
    MEDIALIB_DATABASE names. Refuses to touch a folder that already holds a
    library.
    """
    lib = Library.init(directory, actor=app.user)
    click.echo(f"created a medialib library in {lib.config.root}")
    lib.close()
