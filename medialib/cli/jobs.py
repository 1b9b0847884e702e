"""medialib jobs: the procrastinate queue's derivative jobs, and retrying failed ones."""

from __future__ import annotations

from typing import Any

import click

from medialib.cli.common import App, emit_json, json_option, pass_app, table
from medialib.errors import BadInput


def _queue_library(app: App) -> Any:
    from medialib.jobs.backend import require_queue

    lib = app.library
    require_queue(lib.config, "jobs")
    return lib


@click.group("jobs", invoke_without_command=True)
@click.option("--status", type=click.Choice(["queued", "running", "done", "failed", "cancelled"]),
              help="Only jobs in this state.")
@json_option
@click.pass_context
def command(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List the queued, running, done and failed jobs of the procrastinate
    queue (derivative steps, and fixity checks as step "verify"), with the
    error and the number of attempts."""
    if ctx.invoked_subcommand is not None:
        return
    lib = _queue_library(ctx.find_object(App))
    from medialib.jobs import queue

    jobs = queue.list_jobs(lib, status=status)
    if as_json:
        emit_json(jobs)
        return
    table(["id", "cut", "step", "status", "attempts", "worker", "error"],
          [(j["id"], j["cut"], j["step"], j["status"], j["attempts"], j["worker"], j["error"]) for j in jobs])  # fmt: skip


@command.command("retry")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--failed", "all_failed", is_flag=True, help="Retry every failed job.")
@pass_app
def retry(app: App, ids: tuple[int, ...], all_failed: bool) -> None:
    """Queue failed jobs again: the given IDs, or every failed one with --failed."""
    if bool(ids) == all_failed:
        raise BadInput("jobs retry: give job IDs or --failed (one of them)")
    lib = _queue_library(app)
    from medialib.jobs import queue

    done = queue.retry(lib, ids, failed=all_failed)
    click.echo(f"{len(done)} job(s) queued again" + (f": {', '.join(map(str, done))}" if done else ""))
