"""medialib user: accounts of the web app."""

from __future__ import annotations

import sys

import click

from medialib.cli.common import App, emit_json, is_tty, json_option, pass_app, table
from medialib.errors import BadInput


@click.group("user")
def command() -> None:
    """Accounts of the web app (`medialib serve`): film-makers, staff, admins."""


def _read_password() -> str:
    if is_tty(sys.stdin):
        first = click.prompt("Password", hide_input=True, err=True)
        again = click.prompt("Password again", hide_input=True, err=True)
        if first != again:
            raise BadInput("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise BadInput("no password on standard input (give it on one line, or run this at a terminal)")
    return line.rstrip("\r\n")


@command.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["film-maker", "staff", "admin"]),
              help="film-maker: own films only; staff: review, consent, captions, approval; admin: also publishing "
                   "and users.")  # fmt: skip
@json_option
@pass_app
def add(app: App, name: str, role: str, as_json: bool) -> None:
    """Create an account. The password is asked for at a terminal (twice),
    or read as one line from standard input; it is stored as an argon2 hash."""
    user = app.library.add_user(name, role, _read_password())
    if as_json:
        emit_json(user)
    else:
        click.echo(f"added user {user['name']} ({user['role']})")


@command.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """Every account with its role and whether it is disabled."""
    users = app.library.users()
    if as_json:
        emit_json(users)
    else:
        table(["name", "role", "disabled"], [(u["name"], u["role"], "yes" if u["disabled"] else "") for u in users])


@command.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["film-maker", "staff", "admin"]))
@pass_app
def role(app: App, name: str, role: str) -> None:
    """Change an account's role."""
    user = app.library.set_user_role(name, role)
    click.echo(f"{user['name']} is now {user['role']}")


@command.command("disable")
@click.argument("name")
@pass_app
def disable(app: App, name: str) -> None:
    """Disable an account and sign it out everywhere."""
    app.library.disable_user(name)
    click.echo(f"disabled {name}")
