"""medialib worker: run queued derivative jobs (jobs.backend = "procrastinate")."""

from __future__ import annotations

import click

from medialib.cli.common import App, pass_app
from medialib.jobs.backend import require_queue


@click.command("worker")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None,
              help="Jobs run at once (default: setting 'jobs.workers', else one per CPU core).")
@pass_app
def command(app: App, concurrency: int | None) -> None:
    """Run derivative jobs from the PostgreSQL queue until stopped (Ctrl-C or
    SIGTERM let running jobs finish). Start one or more on any machine that
    reaches the catalogue and the asset store (a shared folder, or the S3
    store: storage.backend = "s3"); `medialib process` queues the work.

    Needs jobs.backend = "procrastinate" and a PostgreSQL database. A worker
    that dies mid-job stops sending heartbeats; after jobs.stalled_after
    seconds another worker runs its jobs again. An S3 store that does not
    answer does not stop a worker (its jobs fail and are retried); a missing
    bucket or refused credentials do, at start (exit 2).
    """
    lib = app.library
    require_queue(lib.config, "worker")
    from medialib.jobs import queue
    from medialib.jobs.process import cpu_cores

    queue.run_worker(lib, concurrency or lib.config["jobs.workers"] or cpu_cores())
