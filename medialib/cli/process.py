"""medialib process: derivatives (proxies, posters, storyboards, QC data) for every cut."""

from __future__ import annotations

import sys
from typing import Any

import click

from medialib.cli.common import App, emit_json, is_tty, json_option, pass_app, table
from medialib.errors import CheckFailed


@click.command("process")
@click.argument("slugs", nargs=-1, metavar="[SLUG]...")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Cuts worked on at once, and so the most ffmpeg processes (default: setting 'jobs.workers', else one per CPU core, two for short clips).")
@click.option("--retry-failed", is_flag=True, help="Run again the derivatives that failed before.")
@click.option("--wait", is_flag=True, help="With the job queue: wait until the workers have built everything "
              "queued for these films, then report as without the queue (exit 1 if anything failed).")
@json_option
@pass_app
def command(app: App, slugs: tuple[str, ...], jobs: int | None, retry_failed: bool, wait: bool,
            as_json: bool) -> None:  # fmt: skip
    """Build the missing derivatives of every cut of the given films (all films
    if none): loudness analysis, web proxies (720p and 360p), posters and a
    storyboard, as the recipes in config.toml say.

    Incremental: a derivative is rebuilt only when its cut or its recipe
    changed, or its files are missing or changed in the asset store (one
    listing per cut; the review's derivatives gate says so). A cut that fails
    is recorded with ffmpeg's message and the others carry on; exit 1 if any
    derivative failed (see `medialib qc SLUG`).

    With jobs.backend = "procrastinate" the steps are queued instead, for
    `medialib worker` to run (see `medialib jobs`), and --jobs does not apply
    (each worker's --concurrency does); --wait waits for the workers.
    """
    lib = app.library
    if lib.config["jobs.backend"] == "procrastinate":
        _enqueue(lib, slugs, retry_failed, wait, as_json)
        return
    with _progress(app) as on_event:
        report = lib.process(slugs, jobs=jobs or 0, retry_failed=retry_failed, on_event=on_event)
    if as_json:
        emit_json(report.as_dict())
    else:
        rows = [(c["cut"], j["recipe"], j["status"], f"{j['seconds']:.1f} s" if "seconds" in j else "",
                 j.get("error", "")) for c in report.cuts for j in c["jobs"] if j["status"] != "unchanged"]  # fmt: skip
        if rows:
            table(["cut", "recipe", "status", "time", "error"], rows)
        click.echo(f"{report.count('done')} built, {report.count('unchanged')} unchanged, "
                   f"{report.count('failed')} failed")  # fmt: skip
    if not report.ok:
        raise CheckFailed(f"process: {report.count('failed')} derivative(s) failed (rerun with --retry-failed)")


def _enqueue(lib: Any, slugs: tuple[str, ...], retry_failed: bool, wait: bool, as_json: bool) -> None:
    """jobs.backend = "procrastinate": queue the steps for `medialib worker`, say what was
    queued; with ``wait``, wait for the workers and say what was built and what failed."""
    report = lib.process(slugs, retry_failed=retry_failed)
    if wait:
        from medialib.jobs import queue

        outcome = queue.wait(lib, slugs)
        if as_json:
            emit_json({**report.as_dict(), "waited": outcome})
        else:
            rows = [(f["cut"], f["recipe"], "failed", f["error"]) for f in outcome["failed"]]
            rows += [(m["cut"], m["recipe"], "not built", "") for m in outcome["missing"]]
            if rows:
                table(["cut", "recipe", "status", "error"], rows)
            click.echo(f"{outcome['built']} built, {len(outcome['failed'])} failed, "
                       f"{len(outcome['missing'])} not built")  # fmt: skip
        if outcome["failed"] or outcome["missing"]:
            raise CheckFailed(f"process: {len(outcome['failed'])} derivative(s) failed, {len(outcome['missing'])} "
                              "not built (see `medialib jobs --status failed`)")  # fmt: skip
        return
    if as_json:
        emit_json(report.as_dict())
    else:
        rows = [(q["cut"], q["step"], "queued", q["job"]) for q in report.queued]
        rows += [(q["cut"], q["step"], "already queued", "") for q in report.already]
        rows += [(f["cut"], f["recipe"], "failed", "") for f in report.failed]
        if rows:
            table(["cut", "step", "status", "job"], rows)
        click.echo(f"{len(report.queued)} queued, {len(report.already)} already queued, {report.busy} running, "
                   f"{report.unchanged} unchanged, {len(report.failed)} failed (see `medialib jobs`)")  # fmt: skip
    if not report.ok:
        raise CheckFailed(f"process: {len(report.failed)} derivative(s) failed before (rerun with --retry-failed)")


class _progress:
    """A rich bar per running step on a terminal; nothing otherwise."""

    def __init__(self, app: App) -> None:
        self.enabled = not app.quiet and is_tty(sys.stderr)
        self.bars: Any = None
        self.tasks: dict[tuple[str, str], Any] = {}

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                             TextColumn("{task.fields[speed]}"), TimeElapsedColumn(),
                             console=Console(stderr=True))  # fmt: skip
        self.bars.start()
        return self.on_event

    def on_event(self, event: Any) -> None:
        key = (event.cut, event.step)
        if event.state == "start":
            self.tasks[key] = self.bars.add_task(f"{event.cut} {event.step}", total=1.0, speed="")
            return
        task = self.tasks.get(key)
        if task is None:
            return
        speed = f"{event.speed:.1f}x" if event.speed else ""
        if event.state == "progress":
            self.bars.update(task, completed=event.fraction, speed=speed)
        elif event.state == "done":
            self.bars.update(task, completed=1.0, speed="done")
        elif event.state == "failed":
            self.bars.update(task, speed="[red]failed[/red]")

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()
