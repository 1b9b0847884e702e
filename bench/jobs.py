"""Benchmark: derivatives through procrastinate workers against the embedded default.

Targets (2 CPU cores):

1. 20 short cuts (2 s 320x240 by default), 2 `medialib worker` processes on
   PostgreSQL: the wall time from `medialib process` (which queues) until the
   last job is done is at most 1.10x the wall time of the embedded default
   (`medialib process`, its default --jobs, SQLite) building the same cuts on
   the same machine.

   Workers are long-running services: in a deployment they are up and idle
   before anybody runs `medialib process`. So the target figure is timed with
   the workers started beforehand and registered with the queue ("warm"). The
   run with the workers started at the same moment as `process` ("cold": their
   start-up, ~1 s of Python imports and registration, counted too) is printed
   once as well. Both libraries are built --repeat times, alternately (embedded,
   then queue), from nothing each time (derivative rows, queue rows and derived
   files removed between rounds); the medians are compared.

2. Queue overhead per job < 50 ms: after everything is built, one job per
   (cut, step) is queued again (80 jobs); each re-plans its cut from the
   catalogue, finds nothing to do and returns. The cost of a job is the time a
   job slot spends on it: measured with one worker of concurrency 1 (first
   defer to last finish, from procrastinate's events, divided by the jobs).
   The same with the two workers x 2 slots is printed too (throughput: per job
   overall; and per slot, which on 2 cores counts 4 slots sharing 2 cores).

    .venv/bin/python bench/jobs.py [--cuts 20] [--seconds 2] [--size 320x240] [--workers 2]
                                   [--concurrency 2] [--repeat 3] [--dir DIR]

PostgreSQL is $MEDIALIB_TEST_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
the run uses a schema of its own, dropped at the end. Workers run on this machine and share the
library's asset folder. Other processes on the machine show up in the figures, so the CPU
seconds the whole machine used during each timed run are printed next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import code_version  # noqa: E402

from medialib.config import DEFAULT_FORMATS  # noqa: E402
from medialib.media.ffmpeg import FFmpeg  # noqa: E402
from medialib.media.samples import make_sample  # noqa: E402

PG = os.environ.get("MEDIALIB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MEDIALIB = [str(Path(sys.executable).with_name("medialib"))]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
STEPS = ("analysis", "proxy", "poster", "storyboard")


def cpu_total() -> float:
    """CPU seconds used by the whole machine so far (user+nice+system)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its waited-for children) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck, (int(fields[13]) + int(fields[14])) / tck


def postgres_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server processes of this machine (0 if not visible)."""
    total = 0.0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += sum(proc_cpu(int(proc.name)))
        except (OSError, ValueError):
            continue
    return total


@contextmanager
def pg_schema() -> Iterator[str]:
    """A schema of the bench's own on $MEDIALIB_TEST_POSTGRES: the database URL using it; dropped at the end."""
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def sample_clips(work: Path, n: int, seconds: float, size: str) -> list[Path]:
    """n different clips (each 0.04 s longer than the last) under work/src."""
    ff = FFmpeg(formats=list(DEFAULT_FORMATS))
    return [make_sample(ff, work / "src" / f"c{i}.mp4", duration=seconds + 0.04 * i, size=size) for i in range(n)]


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


def unbuild(config: Path, engine: Engine) -> None:
    """Back to "never processed": no derivative rows, no queue rows, no derived files."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM derivative_files"))
        conn.execute(text("DELETE FROM derivative_jobs"))
        queue = engine.dialect.name == "postgresql" and conn.execute(text("SELECT to_regclass('procrastinate_jobs')"))
        if queue and queue.scalar() is not None:
            conn.execute(text("TRUNCATE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs"))
    shutil.rmtree(config.parent / "assets" / "derived", ignore_errors=True)
    subprocess.run(["sync"])


class Timed:
    """Wall and machine CPU time of a block; ``until(epoch)`` ends the wall time at a recorded moment."""

    def __enter__(self) -> "Timed":
        self.cpu0, self.t0, self.epoch0, self.end = cpu_total(), time.perf_counter(), time.time(), None
        return self

    def until(self, epoch: float) -> None:
        self.end = epoch

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.t0, cpu_total() - self.cpu0
        if self.end is not None:
            self.wall = self.end - self.epoch0


def start_workers(config: Path, work: Path, n: int, concurrency: int) -> list[subprocess.Popen]:
    logs = [open(work / f"worker-{i}.log", "a") for i in range(n)]
    return [subprocess.Popen([*MEDIALIB, "--config", str(config), "worker", "--concurrency", str(concurrency)],
                             stdout=log, stderr=subprocess.STDOUT, env=ENV) for log in logs]  # fmt: skip


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=60)


def wait_registered(engine: Engine, n: int, work: Path) -> None:
    """Until n workers are registered with the queue (their start-up is over)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is not None:
                if conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar() >= n:
                    return
        time.sleep(0.05)
    raise SystemExit(f"workers did not register; see {work}/worker-*.log")


PEAK_CONNECTIONS = [0]  # the most server connections seen on the bench's database while waiting


def wait_built(engine: Engine, work: Path, poll: float = 0.2) -> tuple[int, float]:
    """Until no queued or running job is left and every catalogue row is done: the job count,
    and when the last job finished (epoch seconds, procrastinate's own record of it, so the
    polling interval does not count)."""
    while True:
        with engine.connect() as conn:
            counts = dict(conn.execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all())
            pending = conn.execute(text("SELECT count(*) FROM derivative_jobs WHERE status <> 'done'")).scalar()
            others = conn.execute(text("SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND backend_type = 'client backend'")).scalar()  # fmt: skip
            PEAK_CONNECTIONS[0] = max(PEAK_CONNECTIONS[0], others)
        if counts.get("failed"):
            raise SystemExit(f"a job failed: {counts}; see {work}/worker-*.log")
        if not counts.get("todo") and not counts.get("doing") and pending == 0:
            with engine.connect() as conn:
                last = conn.execute(text("SELECT extract(epoch FROM max(at)) FROM procrastinate_events")).scalar()
            return sum(counts.values()), float(last)
        time.sleep(poll)


def noop_jobs(config: Path, engine: Engine) -> tuple[int, float]:
    """Queue one job per (cut, step) with nothing to do; (jobs, seconds from first defer to last finish)."""
    from medialib.jobs import queue as q
    from medialib.jobs.process import plan
    from medialib.library import Library
    from medialib.media import recipes as recipes_mod

    with Library.open(config, env={}) as lib:
        recipes = recipes_mod.resolve(lib.config["recipes"])
        with lib.session() as s:
            tasks = plan(s, recipes, (), False)
        with engine.connect() as conn:
            before = conn.execute(text("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")).scalar()
        n = 0
        with lib.transaction() as s:
            for task in tasks:
                for step in STEPS:
                    n += q._defer(s, task, step, [], recipes) is not None
    while True:
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")).scalar()
        if not left:
            break
        time.sleep(0.01)
    with engine.connect() as conn:
        first, last = conn.execute(text("SELECT min(at), max(at) FROM procrastinate_events WHERE job_id > :b"),
                                   {"b": before}).one()  # fmt: skip
    return n, (last - first).total_seconds()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuts", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2, help="jobs per worker (default 2: the embedded default "
                    "runs two short cuts per core)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=3, help="rounds of embedded then queue (medians compared)")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="medialib-bench-jobs-", dir=args.dir))
    workers: list[subprocess.Popen] = []
    with pg_schema() as pg_url:
        try:
            return _measure(args, work, pg_url, workers)
        finally:
            for w in workers:
                w.kill()
            shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, work: Path, pg_url: str, workers: list[subprocess.Popen]) -> int:
    clips = sample_clips(work, args.cuts, args.seconds, args.size)
    print(f"medialib {code_version()}; {args.cuts} cuts of {args.seconds:g} s {args.size}; "
          f"{os.cpu_count()} cores; {args.workers} workers x {args.concurrency}", flush=True)  # fmt: skip
    local = library(work / "local", "medialib.db")
    add_cuts(local, clips)
    local_engine = create_engine(f"sqlite:///{work / 'local' / 'medialib.db'}")
    queued = library(work / "queue", pg_url, '[jobs]\nbackend = "procrastinate"\n')
    add_cuts(queued, clips)
    engine = create_engine(pg_url)

    # cold: the workers start with `process`
    subprocess.run(["sync"])
    with Timed() as cold:
        workers[:] = start_workers(queued, work, args.workers, args.concurrency)
        run(queued, "process")
        jobs, last = wait_built(engine, work)
        cold.until(last)
    print(f"cold (workers started with `process`): {cold.wall:.2f} s for {jobs} jobs "
          f"(machine CPU {cold.cpu:.1f} s)", flush=True)  # fmt: skip
    wait_registered(engine, args.workers, work)

    embedded, warm, split = [], [], []
    for round_ in range(1, args.repeat + 1):
        unbuild(local, local_engine)
        with Timed() as t:
            report = json.loads(run(local, "process", "--json"))
        assert report["ok"] and report["built"] > 0
        embedded.append(t.wall)
        unbuild(queued, engine)
        before = [proc_cpu(w.pid) for w in workers], postgres_cpu()
        with Timed() as q:
            run(queued, "process")
            jobs, last = wait_built(engine, work)
            q.until(last)
        after = [proc_cpu(w.pid) for w in workers], postgres_cpu()
        warm.append(q.wall)
        split.append((sum(a[0] - b[0] for a, b in zip(after[0], before[0])),
                      sum(a[1] - b[1] for a, b in zip(after[0], before[0])), after[1] - before[1], jobs))  # fmt: skip
        print(f"round {round_}: embedded (--jobs {report['jobs']}) {t.wall:.2f} s (machine CPU {t.cpu:.1f} s); "
              f"queue {q.wall:.2f} s for {jobs} jobs (machine CPU {q.cpu:.1f} s) = {q.wall / t.wall:.3f}x",
              flush=True)  # fmt: skip
    for own, children, pg, jobs in split:
        print(f"  CPU of a queue round: workers' Python {own:.2f} s ({1000 * own / jobs:.0f} ms a job), their "
              f"ffmpeg {children:.1f} s, PostgreSQL {pg:.2f} s ({1000 * pg / jobs:.1f} ms a job)")  # fmt: skip
    e, w = statistics.median(embedded), statistics.median(warm)
    verdict = "PASS" if w / e <= 1.10 else "FAIL"
    with engine.connect() as conn:
        originals = float(conn.execute(text("SELECT sum(size) FROM cuts")).scalar())
        derived = float(conn.execute(text("SELECT sum(size) FROM derivative_files")).scalar())
    print(f"  per cut: original {originals / args.cuts / 1e6:.2f} MB, derivatives {derived / args.cuts / 1e6:.2f} MB; "
          f"most connections to PostgreSQL at once (workers, process and this script's one): "
          f"{PEAK_CONNECTIONS[0] + 1}", flush=True)  # fmt: skip
    ratio = statistics.median(q / t for q, t in zip(warm, embedded))
    print(f"medians: embedded {e:.2f} s, queue (workers running) {w:.2f} s = {w / e:.3f}x "
          f"(target <= 1.10x) {verdict}; median of the rounds' ratios {ratio:.3f}x; "
          f"cold run {cold.wall / e:.3f}x", flush=True)  # fmt: skip

    # 2. the cost of a job: no-op jobs, all slots, then one slot
    n, span = noop_jobs(queued, engine)
    slots = args.workers * args.concurrency
    print(f"{n} no-op jobs on {slots} slots: {span:.2f} s = {1000 * span / n:.1f} ms a job overall, "
          f"{1000 * span * slots / n:.1f} ms a job per slot", flush=True)  # fmt: skip
    stop_workers(workers)  # a clean stop takes their registrations away
    workers[:] = start_workers(queued, work, 1, 1)
    wait_registered(engine, 1, work)
    n, span = noop_jobs(queued, engine)
    per_job = 1000 * span / n
    print(f"{n} no-op jobs on 1 worker x 1 slot: {span:.2f} s = {per_job:.1f} ms a job "
          f"(target < 50 ms) {'PASS' if per_job < 50 else 'FAIL'}", flush=True)  # fmt: skip
    stop_workers(workers)
    workers.clear()
    engine.dispose()
    local_engine.dispose()
    return 0 if verdict == "PASS" and per_job < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
