"""medialib worker: run queued derivative jobs (jobs.backend = "procrastinate")."""

from __future__ import annotations

import os

import click

from medialib.cli.common import App, pass_app
from medialib.errors import ConfigError
from medialib.jobs.backend import require_postgres


@click.command("worker")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None,
              help="Jobs run at once (default: setting 'jobs.workers', else one per CPU core).")
@pass_app
def command(app: App, concurrency: int | None) -> None:
    """Run derivative jobs from the PostgreSQL queue until stopped (Ctrl-C or
    SIGTERM let running jobs finish). Start one or more on any machine that
    sees the catalogue and the asset folder; `medialib process` queues the work.

    Needs jobs.backend = "procrastinate" and a PostgreSQL database. A worker
    that dies mid-job stops sending heartbeats; after jobs.stalled_after
    seconds another worker runs its jobs again.
    """
    lib = app.library
    if lib.config["jobs.backend"] != "procrastinate":
        raise ConfigError("jobs.backend", f'is "{lib.config["jobs.backend"]}": `medialib worker` needs "procrastinate"')
    require_postgres(lib.config)
    from medialib.jobs import queue

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    queue.run_worker(lib, concurrency or lib.config["jobs.workers"] or cores)
