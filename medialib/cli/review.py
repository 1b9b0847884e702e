"""medialib review and approve: the publication gates."""

from __future__ import annotations

import click

from medialib.catalog import validate
from medialib.cli.common import App, emit_json, json_option, pass_app


def _print(review: dict) -> None:
    state = "PUBLISHABLE" if review["publishable"] else "not publishable"
    click.echo(f"{review['slug']} (cut {review['cut'] or '-'}): {state}")
    for gate in review["gates"]:
        mark = "pass" if gate["ok"] else "FAIL"
        click.echo(f"  {mark}  {gate['gate']:<12} " + ("; ".join(gate["reasons"]) if gate["reasons"] else ""))


@click.command("review")
@click.argument("slug", required=False)
@click.option("--at", "at", metavar="ISO8601", help="Judge the gates at this time instead of now.")
@json_option
@pass_app
def review(app: App, slug: str | None, at: str | None, as_json: bool) -> None:
    """Show each publication gate per film (or for SLUG): derivatives, QC,
    captions, consent, approval, embargo — pass or fail, with reasons."""
    when = validate.timestamp(at, "--at") if at else None
    result = app.library.review(slug, at=when)
    if as_json:
        emit_json(result)
        return
    for item in [result] if slug else result:
        _print(item)


@click.command("approve")
@click.argument("slug")
@click.option("--by", required=True, metavar="NAME", help="The staff member approving.")
@pass_app
def approve(app: App, slug: str, by: str) -> None:
    """Approve SLUG's current cut. Refused (exit 1, listing every unmet gate)
    unless derivatives, QC, captions and consent all pass. A new cut, changed
    captions or a consent change voids the approval."""
    result = app.library.approve(slug, by)
    click.echo(f"approved {slug} cut {result['cut']} ({result['sha256'][:12]}) by {result['by']}")
