"""medialib publish | publish verify | takedown: the launch site on S3 or in a folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from medialib.cli.common import App, emit_json, is_tty, json_option, pass_app
from medialib.errors import CheckFailed

TARGET_HELP = ("s3://BUCKET/PREFIX or file:///PATH (or a folder path); default: the setting publish.target. "
               "S3 credentials come from the AWS environment variables or ~/.aws, never from the URL.")  # fmt: skip


@contextmanager
def _progress(app: App) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar per phase on a terminal; nothing otherwise."""
    if not is_tty() or app.quiet:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done)

        yield update


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


@click.group("publish", invoke_without_command=True)
@click.option("--target", metavar="URL", help=TARGET_HELP)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--at", "at", metavar="ISO8601", help="With --dry-run: judge the gates at this moment instead of "
              "now (e.g. launch day, to see which embargoed films would go live).")  # fmt: skip
@json_option
@click.pass_context
def command(ctx: click.Context, target: str | None, dry_run: bool, at: str | None, as_json: bool) -> None:
    """Bring the launch site in line with the catalogue.

    Every film that passes all the publication gates at the moment of the run
    goes up — its current cut's proxies, posters, storyboard, approved
    captions, a page with a player and a transcript — plus the gallery
    (index.html) and the manifest (films.json). Anything else on the target
    under its prefix comes down: films whose consent was withdrawn or expired,
    whose approval was voided, or that were taken down. Unchanged files are
    not uploaded again. Exit 1 if the target cannot be reached.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    with _progress(app) as progress:
        outcome = app.library.publish(target, at=at, dry_run=dry_run, progress=progress)
    if as_json:
        emit_json(outcome.as_dict())
        return
    plan = outcome.plan
    verb = "would upload" if dry_run else "uploaded"
    for item in plan.uploads:
        click.echo(f"{'upload' if dry_run else 'put'}    {item.key} ({_size(item.size)})")
    for key in plan.deletes:
        click.echo(f"{'delete' if dry_run else 'deleted'} {key}")
    for slug, reasons in sorted(plan.excluded.items()):
        click.echo(f"not published: {slug}: {'; '.join(reasons)}")
    click.echo(f"{plan.target}: {len(plan.films)} film(s) published; {verb} {len(plan.uploads)} object(s) "
               f"({_size(sum(i.size for i in plan.uploads))}), {len(plan.unchanged)} unchanged, "
               f"{'would delete' if dry_run else 'deleted'} {len(plan.deletes)}"
               + ("" if dry_run else f" in {outcome.seconds:.1f} s"))  # fmt: skip
    for slug, url in outcome.urls.items():
        click.echo(f"  {slug}: {url}")


@command.command("verify")
@click.option("--target", metavar="URL", help=TARGET_HELP)
@json_option
@pass_app
def verify(app: App, target: str | None, as_json: bool) -> None:
    """Check the published site against its manifest.

    Every object films.json names must be there with its size and SHA-256
    (the server's checksum where it keeps one, otherwise the object is
    downloaded and hashed); objects the manifest does not name are reported
    as unexpected. Exit 1 if anything is missing, different or unexpected.
    Missing and different objects are forgotten, so the next `medialib
    publish` sends them again (and removes the unexpected ones).
    """
    with _progress(app) as progress:
        report = app.library.verify_published(target, progress=progress)
    if as_json:
        emit_json(report)
    else:
        for key in report["missing"]:
            click.echo(f"missing    {key}")
        for item in report["different"]:
            click.echo(f"different  {item['key']}: {item['problem']}")
        for key in report["unexpected"]:
            click.echo(f"unexpected {key}")
        click.echo(f"{report['target']}: checked {report['checked']} object(s), downloaded {report['downloaded']}")
    if not report["ok"]:
        raise CheckFailed(f"publish verify: {len(report['missing'])} missing, {len(report['different'])} "
                          f"different, {len(report['unexpected'])} unexpected")  # fmt: skip


@click.command("takedown")
@click.argument("slug")
@click.option("--target", metavar="URL", help=TARGET_HELP)
@click.option("--reason", default="", help="Why (kept in the audit log).")
@json_option
@pass_app
def takedown(app: App, slug: str, target: str | None, reason: str, as_json: bool) -> None:
    """Take one film off the published site now.

    Its page, files and gallery card go at once; the gallery and the manifest
    are rewritten first so nothing points at what is removed. The film's
    approval is void from now on: it goes back up only after staff approve
    it again. Written to the audit log.
    """
    result = app.library.takedown(slug, target, reason=reason)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"took {slug} down from {result['target']}: {result['deleted']} object(s) deleted")
