"""medialib person: the people who appear in films."""

from __future__ import annotations

import click

from medialib.cli.common import App, emit_json, fields, json_option, pass_app, table


@click.group("person")
def command() -> None:
    """Record the people who appear in films (only what consent needs)."""


@command.command("add")
@click.argument("name")
@click.option("--born", metavar="YYYY-MM-DD", help="Date of birth: needed to know whether a guardian must sign.")
@click.option("--contact", metavar="TEXT", help="How to reach them about their consent (kept private).")
@json_option
@pass_app
def add(app: App, name: str, born: str | None, contact: str | None, as_json: bool) -> None:
    """Add a person; prints their id, which consents and appearances refer to."""
    person = app.library.add_person(name, born=born, contact=contact)
    if as_json:
        emit_json(person)
    else:
        click.echo(f"added person {person['id']}: {person['name']}")


@command.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List everyone recorded, with their ids."""
    people = app.library.people()
    if as_json:
        emit_json(people)
    else:
        table(["id", "name", "born", "erased"], [(p["id"], p["name"], p["born"] or "", "yes" if p["erased"] else "")
                                                 for p in people])  # fmt: skip


@command.command("show")
@click.argument("person_id", type=int)
@json_option
@pass_app
def show(app: App, person_id: int, as_json: bool) -> None:
    """Show one person, their consents and the films they appear in."""
    person = app.library.person(person_id)
    if as_json:
        emit_json(person)
        return
    fields([("id", person["id"]), ("name", person["name"]), ("born", person["born"]),
            ("contact", person["contact"]), ("films", person["films"])])  # fmt: skip
    click.echo()
    table(["consent", "status", "scopes", "signed", "expires", "signed by"],
          [(c["id"], c["status"], ",".join(c["scopes"]), c["signed"], c["expires"] or "",
            c["guardian"] and f"guardian {c['guardian']}" or "self") for c in person["consents"]])  # fmt: skip


@command.command("erase")
@click.argument("person_id", type=int)
@json_option
@pass_app
def erase(app: App, person_id: int, as_json: bool) -> None:
    """Erase a person's personal data: name (replaced by a tombstone), birth
    date, contact and signed forms. Kept: that consents existed, their dates,
    scopes and withdrawal, and the person's appearances, so that the films
    showing them stay blocked from publication."""
    result = app.library.erase_person(person_id)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"erased person {person_id}: {result['forms_removed']} form(s) deleted; "
                   f"films now blocked: {', '.join(result['films']) or 'none'}")  # fmt: skip
