"""medialib audit: read the append-only audit log."""

from __future__ import annotations

import json

import click

from medialib.cli.common import App, emit_json, json_option, pass_app, table


@click.command("audit")
@click.argument("subject", default="")
@json_option
@pass_app
def command(app: App, subject: str, as_json: bool) -> None:
    """Show the audit log, oldest first. With a film SLUG: that film's trail
    (its edits, cuts, approvals and the consent changes of people in it);
    with a prefix such as consent:12 or person: only those subjects."""
    if subject and ":" not in subject:
        events = app.library.film_audit(subject)
    else:
        events = app.library.audit(subject)
    if as_json:
        emit_json(events)
        return
    table(
        ["#", "at", "actor", "action", "subject", "details"],
        [(e["id"], e["at"], e["actor"], e["action"], e["subject"], json.dumps(e["details"], ensure_ascii=False))
         for e in events],  # fmt: skip
    )
