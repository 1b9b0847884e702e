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
    """Show the audit log, oldest first, optionally only for subjects
    starting with SUBJECT (e.g. film:hope-street or cut:hope-street)."""
    events = app.library.audit(subject)
    if as_json:
        emit_json(events)
        return
    table(
        ["#", "at", "actor", "action", "subject", "details"],
        [(e["id"], e["at"], e["actor"], e["action"], e["subject"], json.dumps(e["details"], ensure_ascii=False))
         for e in events],  # fmt: skip
    )
