"""medialib consent: signed consent forms, their verification, withdrawal and expiry."""

from __future__ import annotations

import click

from medialib.cli.common import App, emit_json, json_option, pass_app, table


@click.group("consent")
def command() -> None:
    """Record, verify and withdraw consents; report those expiring."""


@command.command("add")
@click.argument("person_id", type=int)
@click.option("--scope", "scope", required=True, metavar="SCOPE[,SCOPE...]",
              help="What the person agreed to (setting consent.scopes: filming, online, social, …).")
@click.option("--signed", required=True, metavar="YYYY-MM-DD", help="The date the form was signed.")
@click.option("--expires", metavar="YYYY-MM-DD", help="The day from which the consent no longer holds.")
@click.option("--guardian", metavar="NAME", help="The guardian who signed (required for a minor).")
@click.option("--form", required=True, type=click.Path(path_type=str), help="The signed form: PDF, JPEG or PNG.")
@click.option("--method", type=click.Choice(["paper", "e-sign", "verbal"]), default="paper", show_default=True,
              help="How it was collected.")
@click.option("--wording", "wording_version", default="", metavar="VERSION", help="Version of the form's wording.")
@click.option("--collected-by", default="", metavar="NAME", help="Who collected it.")
@click.option("--notes", default="", help="Anything staff should know.")
@click.option("--supersedes", type=int, metavar="ID", help="An older consent this one replaces once verified.")
@click.option("--verified-by", metavar="NAME", help="Verify it at once (else it stays pending).")
@json_option
@pass_app
def add(app: App, person_id: int, scope: str, signed: str, form: str, as_json: bool, **options: object) -> None:
    """Record PERSON_ID's signed consent. The form is stored privately (never
    published); the consent counts for nothing until verified."""
    consent = app.library.add_consent(person_id, scopes=scope.split(","), signed=signed, form=form,
                                      expires=options.pop("expires"), **options)  # fmt: skip
    if as_json:
        emit_json(consent)
    else:
        click.echo(f"added consent {consent['id']} for person {person_id} ({consent['status']})")


@command.command("verify")
@click.argument("consent_id", type=int)
@click.option("--by", required=True, metavar="NAME", help="Who checked the signed form.")
@pass_app
def verify(app: App, consent_id: int, by: str) -> None:
    """Mark a pending consent as verified against its signed form."""
    app.library.verify_consent(consent_id, by)
    click.echo(f"consent {consent_id} verified by {by}")


@command.command("withdraw")
@click.argument("consent_id", type=int)
@click.option("--reason", default="", help="Why, as the person said it.")
@pass_app
def withdraw(app: App, consent_id: int, reason: str) -> None:
    """Withdraw a consent at once: the films showing the person lose their
    publish gate now, and the next publish takes them down."""
    consent, already = app.library.withdraw_consent(consent_id, reason)
    if already:
        click.echo(f"consent {consent_id} was already withdrawn on {consent['withdrawn_at']}; nothing changed")
    else:
        click.echo(f"consent {consent_id} withdrawn; films affected: {', '.join(consent['films']) or 'none'}")


@command.command("report")
@click.option("--within", "within_days", type=click.IntRange(min=0), default=30, show_default=True,
              metavar="DAYS", help="Also list consents expiring within this many days.")
@json_option
@pass_app
def report(app: App, within_days: int, as_json: bool) -> None:
    """List verified consents that have expired or expire soon, and the films they block."""
    rows = app.library.consent_report(within_days)
    if as_json:
        emit_json(rows)
    else:
        table(["consent", "person", "expires", "state", "films"],
              [(r["consent"], f"{r['person']} {r['name']}", r["expires_on"],
                "expired" if r["expired"] else f"{r['days_left']} days left", ", ".join(r["films"]))
               for r in rows])  # fmt: skip
