"""Benchmark: derivatives through procrastinate workers against the embedded default.

Targets (2 CPU cores):

1. 20 short cuts (2 s 320x240 by default), 2 `medialib worker` processes on
   PostgreSQL: the wall time from `medialib process` (which queues) until the
   last job is done, workers started at the same moment, is at most 1.10x the
   wall time of the embedded default (`medialib process`, its default --jobs,
   SQLite) building the same cuts on the same machine.
2. Queue overhead per job < 50 ms: after everything is built, one job per
   (cut, step) is queued again (80 jobs); each re-plans its cut from the
   catalogue, finds nothing to do and returns. Their wall time from the first
   defer to the last finish, times the number of job slots, divided by the
   number of jobs, is the per-job cost of the queue: defer, fetch, the task's
   re-plan, finish.

    .venv/bin/python bench/jobs.py [--cuts 20] [--seconds 2] [--size 320x240] [--concurrency 2] [--dir DIR]

PostgreSQL is $MEDIALIB_TEST_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
the run uses a schema of its own, dropped at the end. Workers run on this machine and share the
library's asset folder. One run of each (no repetitions): other processes on the machine show up
in the figures, so the CPU seconds used by other processes meanwhile (from /proc/stat and our
own children) are printed next to each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medialib.config import DEFAULT_FORMATS  # noqa: E402
from medialib.media.ffmpeg import FFmpeg  # noqa: E402
from medialib.media.samples import make_sample  # noqa: E402

PG = os.environ.get("MEDIALIB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MEDIALIB = [str(Path(sys.executable).with_name("medialib"))]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}


def cpu_total() -> float:
    """CPU seconds used by the whole machine so far (user+nice+system)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def library(root: Path, database: str, extra: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "config.toml").write_text(f'database = "{database}"\nuser = "bench"\n{extra}')
    return root / "config.toml"


def add_cuts(config: Path, clips: list[Path]) -> None:
    for i, clip in enumerate(clips):
        run(config, "film", "add", f"f{i}", "--title", f"F{i}")
        run(config, "cut", "add", f"f{i}", str(clip))


def run(config: Path, *args: str) -> str:
    return subprocess.run([*MEDIALIB, "--config", str(config), "-q", *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuts", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2, help="jobs per worker (default 2: the embedded default "
                    "runs two short cuts per core)")  # fmt: skip
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="medialib-bench-jobs-", dir=args.dir))
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    pg_url = f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    try:
        ff = FFmpeg(formats=list(DEFAULT_FORMATS))
        clips = [make_sample(ff, work / "src" / f"c{i}.mp4", duration=args.seconds + 0.04 * i, size=args.size)
                 for i in range(args.cuts)]  # fmt: skip
        print(f"{args.cuts} cuts of {args.seconds:g} s {args.size}; {os.cpu_count()} cores", flush=True)

        # 1a. the embedded default
        local = library(work / "local", "medialib.db")
        add_cuts(local, clips)
        subprocess.run(["sync"])
        cpu0, own0, t0 = cpu_total(), os.times(), time.perf_counter()
        report = json.loads(run(local, "process", "--json"))
        local_wall = time.perf_counter() - t0
        own = os.times()
        other = cpu_total() - cpu0 - ((own.children_user + own.children_system) - (own0.children_user + own0.children_system))
        assert report["ok"] and report["built"] > 0
        print(f"embedded default (--jobs {report['jobs']}): {local_wall:.2f} s wall "
              f"(other processes: {other:.1f} CPU s)", flush=True)  # fmt: skip

        # 1b. the queue: process (queues) and the workers start together
        queued = library(work / "queue", pg_url, '[jobs]\nbackend = "procrastinate"\n')
        add_cuts(queued, clips)
        engine = create_engine(pg_url)
        subprocess.run(["sync"])
        logs = [open(work / f"worker-{i}.log", "w") for i in range(args.workers)]
        cpu0, own0, t0 = cpu_total(), os.times(), time.perf_counter()
        workers = [subprocess.Popen([*MEDIALIB, "--config", str(queued), "worker", "--concurrency",
                                     str(args.concurrency)], stdout=log, stderr=subprocess.STDOUT, env=ENV)
                   for log in logs]  # fmt: skip
        run(queued, "process")
        while True:
            with engine.connect() as conn:
                counts = dict(conn.execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all())
                pending = conn.execute(text("SELECT count(*) FROM derivative_jobs WHERE status <> 'done'")).scalar()
            if counts.get("failed"):
                raise SystemExit(f"a job failed: {counts}; see {work}/worker-*.log")
            if not counts.get("todo") and not counts.get("doing") and pending == 0:
                break
            time.sleep(0.05)
        queue_wall = time.perf_counter() - t0
        cpu_used = cpu_total() - cpu0
        expected = sum(counts.values())
        print(f"procrastinate, {args.workers} workers x {args.concurrency}: {queue_wall:.2f} s wall for {expected} jobs "
              f"= {queue_wall / local_wall:.2f}x the embedded default (target <= 1.10x; machine CPU meanwhile "
              f"{cpu_used:.1f} s)", flush=True)  # fmt: skip

        # 2. overhead per job: every (cut, step) queued again, with nothing left to do
        from medialib.jobs import queue as q
        from medialib.jobs.process import plan
        from medialib.library import Library
        from medialib.media import recipes as recipes_mod

        with Library.open(queued, env={}) as lib:
            recipes = recipes_mod.resolve(lib.config["recipes"])
            with lib.session() as s:
                tasks = plan(s, recipes, (), False)
            with engine.connect() as conn:
                before = conn.execute(text("SELECT max(id) FROM procrastinate_jobs")).scalar()
            t0 = time.perf_counter()
            n = 0
            with lib.transaction() as s:
                for task in tasks:
                    for step in ("analysis", "proxy", "poster", "storyboard"):
                        conn_job = q._defer(s, task, step, [], recipes)
                        n += conn_job is not None
        while True:
            with engine.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")).scalar()
            if not left:
                break
            time.sleep(0.01)
        with engine.connect() as conn:
            first, last = conn.execute(text("SELECT min(at), max(at) FROM procrastinate_events WHERE job_id > :b"),
                                       {"b": before}).one()
        span = (last - first).total_seconds()
        slots = args.workers * args.concurrency
        print(f"queue overhead: {n} no-op jobs in {span:.2f} s (first defer to last finish, from procrastinate's "
              f"events) = {1000 * span * slots / n:.1f} ms per job per slot, {1000 * span / n:.1f} ms per job "
              f"overall (target < 50 ms)", flush=True)  # fmt: skip

        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
