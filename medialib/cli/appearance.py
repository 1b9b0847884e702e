"""medialib appearance: who is in which film."""

from __future__ import annotations

import click

from medialib.cli.common import App, emit_json, json_option, pass_app


@click.group("appearance")
def command() -> None:
    """Record that a person appears in a film."""


@command.command("add")
@click.argument("slug")
@click.argument("person_id", type=int)
@click.option("--not-identifiable", is_flag=True, help="They cannot be recognised (needs no consent).")
@click.option("--at", "ranges", multiple=True, metavar="START-END", help="Where, e.g. 00:01:00-00:01:30; repeatable.")
@json_option
@pass_app
def add(app: App, slug: str, person_id: int, not_identifiable: bool, ranges: tuple[str, ...], as_json: bool) -> None:
    """Record that PERSON_ID appears in film SLUG (adding again updates it)."""
    appearance = app.library.add_appearance(slug, person_id, identifiable=not not_identifiable, ranges=ranges)
    if as_json:
        emit_json(appearance)
    else:
        kind = "identifiable" if appearance["identifiable"] else "not identifiable"
        click.echo(f"person {person_id} appears in {slug} ({kind})")
