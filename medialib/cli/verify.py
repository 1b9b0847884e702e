"""medialib verify: fixity check of every stored original."""

from __future__ import annotations

import click

from medialib.cli.common import App, byte_progress, emit_json, json_option, pass_app
from medialib.errors import CheckFailed


@click.command("verify")
@json_option
@pass_app
def command(app: App, as_json: bool) -> None:
    """Re-hash every original and compare it with the catalogue.

    Reports missing files, changed files and untracked files (under
    originals/ in the asset store but not in the catalogue). Exit 1 if any.
    With jobs.backend = "procrastinate" the workers re-read the originals (one
    queued check each, recorded in the audit log) and this waits for them.
    """
    with byte_progress(app, "verifying") as (on_start, on_progress):
        report = app.library.verify(on_start=on_start, on_progress=on_progress)
    if as_json:
        emit_json(report.as_dict())
    else:
        for item in report.missing:
            click.echo(f"missing   {item['key']}")
        for item in report.changed:
            click.echo(f"changed   {item['key']} (now sha256 {item['actual_sha256'][:16]}…, {item['actual_size']} bytes)")
        for key in report.untracked:
            click.echo(f"untracked {key}")
        for name in report.removed_temporary:
            click.echo(f"removed leftover temporary file tmp/{name}")
        click.echo(f"checked {report.checked} originals, {report.bytes} bytes")
    if not report.ok:
        raise CheckFailed(
            f"verify: {len(report.missing)} missing, {len(report.changed)} changed, "
            f"{len(report.untracked)} untracked"
        )
