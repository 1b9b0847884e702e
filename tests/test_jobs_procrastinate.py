"""jobs.backend = "procrastinate": `process` queues, real `medialib worker` processes
build, `medialib jobs` lists and retries. Real PostgreSQL (a fresh schema per test,
procrastinate's tables inside it), real ffmpeg on small clips."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import _runner, medialib_cmd
from medialib.media.samples import make_sample
from tests.seaweed import CountingProxy, FaultProxy, SeaweedFS, incomplete_uploads, objects, store_settings

QUEUE_SETTINGS = """
[jobs]
backend = "procrastinate"
max_attempts = 2
retry_backoff = 0.2
stalled_after = 3.0

[recipes.proxy-720]
preset = "ultrafast"
[recipes.proxy-360]
preset = "ultrafast"
"""

STEPS = {"analysis", "proxy", "poster", "storyboard"}
DEADLINE = 240.0  # seconds: only a guard so a broken worker fails the test instead of hanging it


@pytest.fixture
def db_url(pg_url: str) -> str:
    """These tests need PostgreSQL: the queue lives in the catalogue's database."""
    return pg_url


@pytest.fixture
def qlib(lib_dir: Path) -> Path:
    with open(lib_dir / "config.toml", "a") as fh:
        fh.write(QUEUE_SETTINGS)
    return lib_dir


@pytest.fixture(scope="module")
def small_clips(tmp_path_factory, ff) -> list[Path]:
    """Six different 1-2 s 160x120 clips (different content: six cuts to build)."""
    d = tmp_path_factory.mktemp("qclips")
    return [make_sample(ff, d / f"c{i}.mp4", duration=1.0 + 0.2 * i, size="160x120") for i in range(6)]


def add_films(cli, clips: list[Path]) -> list[str]:
    slugs = []
    for i, clip in enumerate(clips):
        slug = f"film-{i}"
        assert cli("film", "add", slug, "--title", f"Film {i}").code == 0
        r = cli("cut", "add", slug, str(clip))
        assert r.code == 0, r.err
        slugs.append(slug)
    return slugs


class Workers:
    """Real `medialib worker` processes on the test library."""

    def __init__(self, lib_dir: Path, tmp: Path) -> None:
        self.lib_dir, self.tmp, self.procs = lib_dir, tmp, []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}

    def start(self, concurrency: int = 1, config: Path | None = None) -> subprocess.Popen:
        """A worker on the library's config.toml, or on ``config`` (another machine's)."""
        log = open(self.tmp / f"worker-{len(self.procs)}.log", "w")
        config = config or self.lib_dir / "config.toml"
        proc = subprocess.Popen([*medialib_cmd(), "--config", str(config), "worker",
                                 "--concurrency", str(concurrency)], stdout=log, stderr=subprocess.STDOUT,
                                env=self.env)  # fmt: skip
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.log")))

    def stop(self) -> list[int]:
        codes = []
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=60))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


@pytest.fixture
def workers(qlib: Path, tmp_path: Path):
    w = Workers(qlib, tmp_path)
    yield w
    w.stop()


def wait_for(cli, predicate, workers: Workers | None = None):
    """Poll `medialib jobs --json` until predicate(jobs) holds (or fail at DEADLINE)."""
    start = time.monotonic()
    while True:
        r = cli("jobs", "--json")
        assert r.code == 0, r.err
        jobs = r.json()
        if predicate(jobs):
            return jobs
        if time.monotonic() - start > DEADLINE:
            pytest.fail(f"jobs never settled: {jobs}\n{workers.logs() if workers else ''}")
        time.sleep(0.3)


def derivatives_gate(cli, slug: str) -> dict:
    return next(g for g in cli("review", slug, "--json").json()["gates"] if g["gate"] == "derivatives")


def all_done(expected: int):
    return lambda jobs: len(jobs) == expected and all(j["status"] == "done" for j in jobs)


def catalogue(db_url: str, sql: str):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        engine.dispose()


def test_procrastinate_with_sqlite_is_a_configuration_error(tmp_path, bare_cli):
    (tmp_path / "config.toml").write_text('database = "medialib.db"\n[jobs]\nbackend = "procrastinate"\n')
    for args in (["process"], ["worker"], ["jobs"], ["jobs", "retry", "--failed"]):
        r = bare_cli("--config", str(tmp_path / "config.toml"), *args)
        assert r.code == 2, (args, r.err)
        assert r.err.count("\n") == 1 and "Traceback" not in r.err
        assert r.err.startswith('error: configuration error: jobs.backend: "procrastinate" needs a PostgreSQL '
                                "database, but database is sqlite")  # fmt: skip


def test_worker_and_jobs_refuse_the_local_backend(tmp_path, bare_cli):
    (tmp_path / "config.toml").write_text('database = "medialib.db"\n')
    for args in (["worker"], ["jobs"]):
        r = bare_cli("--config", str(tmp_path / "config.toml"), *args)
        assert r.code == 2 and r.err.startswith('error: configuration error: jobs.backend: is "local"'), r.err


def test_every_new_command_has_help(bare_cli):
    for args in (["worker"], ["jobs"], ["jobs", "retry"]):
        r = bare_cli(*args, "--help")
        assert r.code == 0 and "Usage: medialib" in r.out


def test_the_embedded_default_never_imports_procrastinate(tmp_path, clips):
    """A SQLite library with the local backend: `process` runs without loading procrastinate."""
    root = tmp_path / "lib"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    subprocess.run([*medialib_cmd(), "init", str(root)], check=True, capture_output=True, env=env)
    cmd = [*medialib_cmd(), "--config", str(root / "config.toml")]
    subprocess.run([*cmd, "film", "add", "one", "--title", "One"], check=True, capture_output=True, env=env)
    subprocess.run([*cmd, "cut", "add", "one", str(clips.video)], check=True, capture_output=True, env=env)
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "medialib", *cmd[len(medialib_cmd()):],
                        "process"], capture_output=True, text=True, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "medialib.jobs.process" in imported  # the tool sees what process loads...
    assert not [name for name in imported if name.startswith("procrastinate")]  # ...and procrastinate is not


@pytest.mark.parametrize("attempts, expected", [(1, None), (2, (1, 0.2)), (5, (4, 0.2))])
def test_retry_strategy_from_settings(qlib, attempts, expected):
    """jobs.max_attempts counts every run; procrastinate counts the retries after the first."""
    from medialib.jobs import queue
    from medialib.library import Library

    with Library.open(qlib / "config.toml", env={"MEDIALIB_JOBS_MAX_ATTEMPTS": str(attempts)}) as lib:
        strategy = queue.make_app(lib).tasks[queue.TASK_NAME].retry_strategy
    if expected is None:
        assert strategy is None
    else:
        assert (strategy.max_attempts, strategy.linear_wait) == expected


def test_queue_schema_applied_once_into_the_catalogue_schema(qlib, pg_url):
    from medialib.jobs import queue
    from medialib.library import Library

    with Library.open(qlib / "config.toml", env={}) as lib:
        assert queue.ensure_schema(lib.engine) is True
        assert queue.ensure_schema(lib.engine) is False  # idempotent
        schema = lib.engine.connect().execute(text("SELECT current_schema()")).scalar()
    rows = catalogue(pg_url, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'procrastinate_jobs'")
    assert (schema,) in rows and schema.startswith("t_")


def test_process_queues_one_job_per_cut_and_step(cli, qlib, pg_url, small_clips):
    add_films(cli, small_clips[:2])
    r = cli("process", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["backend"] == "procrastinate" and report["already_queued"] == []
    # proxies wait for the loudness analysis: its job queues them
    assert sorted((q["cut"], q["step"]) for q in report["queued"]) == sorted(
        (f"film-{i}#1", step) for i in range(2) for step in ("analysis", "poster", "storyboard"))
    jobs = cli("jobs", "--json").json()
    assert len(jobs) == 6 and {j["status"] for j in jobs} == {"queued"} and {j["attempts"] for j in jobs} == {0}
    rows = catalogue(pg_url, "SELECT queueing_lock, lock, args->>'sha256', args->>'step' FROM procrastinate_jobs")
    assert all(qlock == lock == f"{sha}:{step}" for qlock, lock, sha, step in rows)
    # the catalogue rows were marked pending in the same transaction
    pending = catalogue(pg_url, "SELECT kind, status FROM derivative_jobs")
    assert {kind for kind, _ in pending} == {"analysis", "poster", "storyboard"}
    assert {status for _, status in pending} == {"pending"}

    # again: the queueing lock says it is queued already; nothing new
    again = cli("process", "--json").json()
    assert again["queued"] == [] and len(again["already_queued"]) == 6
    assert len(cli("jobs", "--json").json()) == 6
    text_out = cli("process")
    assert text_out.code == 0 and "0 queued, 6 already queued" in text_out.out


def test_a_stalled_job_whose_work_was_queued_again_is_marked_failed_not_queued_twice(cli, qlib, pg_url,
                                                                                     small_clips, caplog):
    """The other way out of re-queueing a stalled job: its worker stopped beating, but the
    same cut and step has been queued again since (as `process` or `jobs retry` may do
    while it looked alive). The queueing lock forbids a second queued copy, so the
    stalled one is marked failed, and the queued one does the work."""
    import asyncio
    import logging
    from concurrent.futures import ThreadPoolExecutor

    from medialib.jobs import queue
    from medialib.library import Library

    add_films(cli, small_clips[:1])
    assert cli("process").code == 0
    with Library.open(qlib / "config.toml", env={}) as lib:
        with lib.engine.begin() as conn:  # a worker that took the analysis and then died
            dead = conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) "
                                     "VALUES (now() - interval '1 hour') RETURNING id")).scalar()  # fmt: skip
            stalled = conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w "
                                        "WHERE args->>'step' = 'analysis' RETURNING id"), {"w": dead}).scalar()
            again = conn.execute(text(  # the same work queued again
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args) "
                "SELECT queue_name, task_name, lock, queueing_lock, args FROM procrastinate_jobs WHERE id = :id "
                "RETURNING id"), {"id": stalled}).scalar()  # fmt: skip

        async def look() -> list[int]:
            app = queue.make_app(lib)
            async with app.open_async():
                return await queue.requeue_stalled(app, 3.0)

        with caplog.at_level(logging.WARNING, logger="medialib.jobs.queue"), ThreadPoolExecutor(1) as thread:
            # a thread of its own: an earlier test (the browser's) may leave this one's event loop set
            assert thread.submit(asyncio.run, look()).result() == []
    assert f"stalled job {stalled} not requeued" in caplog.text
    status = dict(catalogue(pg_url, "SELECT id, status::text FROM procrastinate_jobs"))
    assert (status[stalled], status[again]) == ("failed", "todo")
    assert sorted(status.values()) == ["failed", "todo", "todo", "todo"]  # poster, storyboard untouched


def test_workers_build_everything_then_nothing_is_left(cli, qlib, pg_url, small_clips, workers):
    slugs = add_films(cli, small_clips[:3])
    assert cli("process").code == 0
    workers.start(concurrency=2)
    workers.start(concurrency=1)
    jobs = wait_for(cli, all_done(12), workers)  # 3 cuts x (analysis, proxy, poster, storyboard)
    assert Counter(j["step"] for j in jobs) == {step: 3 for step in STEPS}
    assert len({(j["sha256"], j["step"]) for j in jobs}) == 12
    assert all(j["attempts"] == 1 and j["error"] == "" for j in jobs)
    for slug in slugs:
        film = cli("film", "show", slug, "--json").json()
        kinds = {d["kind"] for d in film["derivatives"]}
        assert {"proxy", "poster", "storyboard", "storyboard-vtt"} <= kinds
        assert all(Path(d["path"]).is_file() for d in film["derivatives"])
    statuses = catalogue(pg_url, "SELECT status, count(*) FROM derivative_jobs GROUP BY status")
    assert [s for s, _ in statuses] == ["done"]
    # nothing left to queue, and the web of rows is what the embedded default would have made
    again = cli("process", "--json").json()
    assert again["queued"] == [] and again["already_queued"] == [] and again["unchanged"] > 0
    # a poster file lost from the store: `process` queues that step again, a worker rebuilds it
    poster = next(d for d in cli("film", "show", slugs[0], "--json").json()["derivatives"] if d["kind"] == "poster")
    Path(poster["path"]).unlink()
    gate = derivatives_gate(cli, slugs[0])
    assert not gate["ok"] and "is missing or changed on disk (run `medialib process`)" in gate["reasons"][0]
    lost = cli("process", "--json").json()
    assert [(q["cut"], q["step"]) for q in lost["queued"]] == [(f"{slugs[0]}#1", "poster")], lost
    wait_for(cli, lambda js: len(js) == 13 and all(j["status"] == "done" for j in js), workers)
    assert Path(poster["path"]).is_file()
    gate = derivatives_gate(cli, slugs[0])
    assert gate["ok"], gate
    assert workers.stop() == [0, 0]  # SIGTERM: a clean stop
    tmp = qlib / "assets" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_failing_job_is_retried_then_failed_and_can_be_retried(cli, qlib, pg_url, small_clips, workers):
    add_films(cli, small_clips[:1])
    original = next((qlib / "assets" / "originals").rglob("*.mp4"))
    hidden = qlib / "hidden.mp4"
    original.rename(hidden)  # every step fails: the original is missing
    assert cli("process").code == 0
    workers.start(concurrency=2)
    jobs = wait_for(cli, lambda js: len(js) == 3 and all(j["status"] == "failed" for j in js), workers)
    for job in jobs:
        assert job["attempts"] == 2  # jobs.max_attempts
        assert "original missing" in job["error"], job
    assert catalogue(pg_url, "SELECT DISTINCT status FROM derivative_jobs") == [("failed",)]

    # bad input: one line, exit 2
    r = cli("jobs", "retry", "999999")
    assert r.code == 2 and r.err == "error: job 999999: no such job (see `medialib jobs`)\n"
    r = cli("jobs", "retry")
    assert r.code == 2 and r.err.count("\n") == 1 and "--failed" in r.err
    r = cli("jobs", "retry", "abc")
    assert r.code == 2 and r.err.count("\n") == 1

    hidden.rename(original)  # fixed: retry one by id, then the rest
    first = jobs[0]["id"]
    r = cli("jobs", "retry", str(first))
    assert r.code == 0 and r.out == f"1 job(s) queued again: {first}\n"
    wait_for(cli, lambda js: next(j for j in js if j["id"] == first)["status"] == "done", workers)
    r = cli("jobs", "retry", str(first))
    assert r.code == 2 and r.err == f"error: job {first}: it is done, not failed: only a failed job can be retried\n"
    r = cli("jobs", "retry", "--failed")
    assert r.code == 0 and r.out.startswith("2 job(s) queued again")
    # the analysis queued the proxies once it succeeded
    jobs = wait_for(cli, all_done(4), workers)
    assert {j["step"] for j in jobs} == STEPS
    assert cli("jobs", "--status", "failed", "--json").json() == []


# --- delivery: a worker killed mid-transcode (issue 8) ---------------------------------------


def realtime_ffmpeg(folder: Path) -> Path:
    """Fault injection, named so: the real ffmpeg, but an H.264 encode reads its input at
    its native frame rate (-re), so a 1-2 s clip takes 1-2 s to transcode and a test can
    kill a worker in the middle of one. Everything else goes straight to ffmpeg."""
    script = folder / "realtime-ffmpeg"
    script.write_text('#!/bin/sh\ncase "$*" in *libx264*) exec ffmpeg -re "$@" ;; esac\nexec ffmpeg "$@"\n')
    script.chmod(0o755)
    return script


def kill_mid_transcode(cli, workers: Workers) -> tuple[dict, int]:
    """SIGKILL the first of ``workers`` seen running a proxy job while its ffmpeg encodes;
    (that job as `medialib jobs` showed it, the killed pid)."""
    pids = {p.pid for p in workers.procs}

    def transcoding(jobs):
        return [j for j in jobs if j["step"] == "proxy" and j["status"] == "running"
                and int(j["worker"].rpartition(":")[2] or 0) in pids]  # fmt: skip

    victim = transcoding(wait_for(cli, transcoding, workers))[0]
    pid = int(victim["worker"].rpartition(":")[2])
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    argvs = [Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0") for child in children.split()]
    assert any(b"libx264" in argv for argv in argvs), argvs  # its ffmpeg is encoding right now
    os.kill(pid, signal.SIGKILL)
    assert next(p for p in workers.procs if p.pid == pid).wait(timeout=30) == -signal.SIGKILL
    return victim, pid


def test_worker_killed_mid_transcode_its_job_runs_again_elsewhere(cli, qlib, pg_url, small_clips, workers,
                                                                  tmp_path):  # fmt: skip
    with open(qlib / "config.toml", "a") as fh:
        fh.write(f'\n[ffmpeg]\nffmpeg = "{realtime_ffmpeg(tmp_path)}"\n')
    add_films(cli, small_clips[:5])
    assert cli("process").code == 0
    for _ in range(3):
        workers.start(concurrency=1)
    victim, pid = kill_mid_transcode(cli, workers)

    jobs = wait_for(cli, all_done(20), workers)  # 5 cuts x 4 steps, all done by the two others
    again = next(j for j in jobs if j["id"] == victim["id"])
    assert again["attempts"] == 2  # started twice: once on the killed worker, once elsewhere
    assert {j["attempts"] for j in jobs if j["id"] != victim["id"]} == {1}  # live workers' jobs were left alone
    assert "requeued stalled job" in workers.logs()
    assert sorted(workers.stop()[i] for i, p in enumerate(workers.procs) if p.pid != pid) == [0, 0]

    # every derivative recorded exactly once, every recorded file on disk, nothing else there
    rows = catalogue(pg_url, "SELECT sha256, recipe, status, worker FROM derivative_jobs")
    assert len(rows) == len({(sha, recipe) for sha, recipe, _, _ in rows})
    per_cut = Counter(sha for sha, *_ in rows)
    assert len(per_cut) == 5 and set(per_cut.values()) == {len(rows) // 5}
    assert {recipe for _, recipe, _, _ in rows} >= {"analysis", "poster", "storyboard", "proxy-360"}
    assert {status for _, _, status, _ in rows} == {"done"} and {w for *_, w in rows} == {""}
    keys = [key for (key,) in catalogue(pg_url, "SELECT storage_key FROM derivative_files")]
    assert len(keys) == len(set(keys))
    on_disk = {str(p.relative_to(qlib / "assets")) for p in (qlib / "assets" / "derived").rglob("*") if p.is_file()}
    assert on_disk == set(keys)
    tmp = qlib / "assets" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    # and the killed worker's ffmpeg did not linger (its progress pipe broke)
    stray = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(tmp).encode() in _read(p)]
    assert stray == []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


# --- faults (issue 8) ---------------------------------------------------------------------------


def test_hanging_ffmpeg_is_killed_the_job_fails_and_the_worker_carries_on(cli, qlib, small_clips, workers,
                                                                          tmp_path):  # fmt: skip
    """Fault injection, named so: while the file HANG exists, an H.264 encode (the proxies)
    is a process that never ends. The timeout kills it, the proxy job fails after its
    attempts, and the same worker then runs the retried job once the fault is gone."""
    hang, tag = tmp_path / "HANG", f"hang-{os.getpid()}-{tmp_path.name}"
    hang.touch()
    script = tmp_path / "ffmpeg-that-hangs"
    script.write_text(f'#!/bin/bash\nif [ -e "{hang}" ]; then case "$*" in *libx264*) exec -a {tag} sleep 120 ;; '
                      'esac; fi\nexec ffmpeg "$@"\n')  # fmt: skip
    script.chmod(0o755)
    with open(qlib / "config.toml", "a") as fh:
        fh.write(f'\n[ffmpeg]\nffmpeg = "{script}"\ntimeout = 0.5\n')
    add_films(cli, small_clips[:1])
    assert cli("process").code == 0
    worker = workers.start(concurrency=1)

    def settled(jobs):
        return len(jobs) == 4 and all(j["status"] in ("done", "failed") for j in jobs)

    jobs = {j["step"]: j for j in wait_for(cli, settled, workers)}
    assert {s: j["status"] for s, j in jobs.items()} == {"analysis": "done", "proxy": "failed", "poster": "done",
                                                          "storyboard": "done"}  # fmt: skip
    assert jobs["proxy"]["attempts"] == 2
    assert "took longer than" in jobs["proxy"]["error"] and "was stopped (ffmpeg.timeout 0.5 s" in jobs["proxy"]["error"]
    hung = [p for p in Path("/proc").glob("[0-9]*/cmdline") if _read(p).startswith(tag.encode())]
    assert hung == []  # killed, not left behind
    assert worker.poll() is None  # still running

    hang.unlink()  # the fault is gone: the same worker runs the retried job
    assert cli("jobs", "retry", "--failed").code == 0
    wait_for(cli, all_done(4), workers)
    assert worker.poll() is None and workers.stop() == [0]


@pytest.fixture
def private_pg():
    """A PostgreSQL server of our own (Debian's binaries, a temp folder, a free port), for a
    test that restarts it: the shared server is never touched. Yields (url, pg_ctl argv)."""
    import glob
    import shutil
    import socket
    import tempfile

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql")
    bindir = Path(bins[-1]).parent
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    root = Path(tempfile.mkdtemp(prefix="medialib-pg-"))
    if as_pg:
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    ctl = [*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
           "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"]  # fmt: skip
    subprocess.run([*ctl, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("fault", ["restart", "outage"])
def test_workers_reconnect_after_postgresql_restarts(private_pg, tmp_path, small_clips, monkeypatch, fault):
    """restart: a fast restart (every connection cut, the server back at once).
    outage: the server stays down until both workers have noticed (a heartbeat failed and
    procrastinate's loop stopped); they start their loop again when it is back, and the
    jobs of the lost registrations are found stalled and run again."""
    url, ctl = private_pg
    root = tmp_path / "library"
    (root / "assets").mkdir(parents=True)
    (root / "config.toml").write_text(f'database = "{url}"\nuser = "tester"\n' + QUEUE_SETTINGS +
                                      f'\n[ffmpeg]\nffmpeg = "{realtime_ffmpeg(tmp_path)}"\n')  # fmt: skip
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    cli = _runner(root / "config.toml")
    add_films(cli, small_clips[:4])
    assert cli("process").code == 0
    workers = Workers(root, tmp_path)
    try:
        workers.start(concurrency=1)
        workers.start(concurrency=1)
        wait_for(cli, lambda js: any(j["status"] == "done" for j in js)
                 and any(j["status"] == "running" for j in js), workers)  # fmt: skip
        started = catalogue(url, "SELECT pg_postmaster_start_time()")
        if fault == "restart":
            restart = subprocess.run([*ctl, "-m", "fast", "restart"], capture_output=True, text=True)
            assert restart.returncode == 0, restart.stderr
        else:
            subprocess.run([*ctl, "-m", "fast", "stop"], check=True, capture_output=True)
            begun = time.monotonic()
            while workers.logs().count("lost the database") < 2:
                assert time.monotonic() - begun < DEADLINE, workers.logs()
                time.sleep(0.2)
            subprocess.run([*ctl, "start"], check=True, capture_output=True)
        assert catalogue(url, "SELECT pg_postmaster_start_time()") != started  # a new server: every connection cut

        jobs = wait_for(cli, all_done(16), workers)  # 4 cuts x 4 steps
        assert all(p.poll() is None for p in workers.procs), workers.logs()  # both carried on
        assert len({(j["sha256"], j["step"]) for j in jobs}) == 16
    finally:
        codes = workers.stop()
    assert codes == [0, 0]
    rows = catalogue(url, "SELECT sha256, recipe, status FROM derivative_jobs")
    assert len(rows) == len({(sha, recipe) for sha, recipe, _ in rows}) and {s for *_, s in rows} == {"done"}
    keys = [key for (key,) in catalogue(url, "SELECT storage_key FROM derivative_files")]
    assert len(keys) == len(set(keys))
    tmp = root / "assets" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


# --- many machines: the catalogue in PostgreSQL, the assets in S3 (issue 8) --------------------


@pytest.fixture(scope="module")
def twelve_clips(tmp_path_factory, ff) -> list[Path]:
    """Twelve different 1-2 s 160x120 clips."""
    d = tmp_path_factory.mktemp("q12")
    return [make_sample(ff, d / f"c{i}.mp4", duration=1.0 + 0.08 * i, size="160x120") for i in range(12)]


def s3_library(root: Path, database: str, server: SeaweedFS, bucket: str, extra: str = "", cache_mib: int = 0) -> Path:
    """A library whose catalogue is ``database`` and whose assets live in ``bucket``."""
    root.mkdir(parents=True)
    settings = (f'database = "{database}"\nuser = "tester"\n' + QUEUE_SETTINGS
                + store_settings(server, bucket, cache_mib=cache_mib) + extra)  # fmt: skip
    (root / "config.toml").write_text(settings)
    return root / "config.toml"


def machines(library_config: Path, n: int) -> list[Path]:
    """n folders standing for n worker machines: each has a copy of the library's
    config.toml (the same catalogue, the same store) and its own scratch folder;
    none shares a disk with the library or another machine."""
    configs = []
    for i in range(n):
        folder = library_config.parent.parent / f"machine-{i}"
        folder.mkdir()
        (folder / "config.toml").write_text(library_config.read_text())
        configs.append(folder / "config.toml")
    return configs


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_three_workers_on_the_s3_store_build_twelve_cuts_one_killed_mid_transcode(
        pg_url, creds, twelve_clips, tmp_path, monkeypatch):  # fmt: skip
    """PostgreSQL + SeaweedFS + three `medialib worker` processes, each on a "machine" of
    its own (own config and scratch folder, no shared disk). One is SIGKILLed while its
    ffmpeg encodes proxies; its machine's worker is started again, as a service manager
    would, and sweeps what the dead one left. All 12 cuts complete, each derivative is
    recorded once, the bucket holds exactly the recorded objects, nothing temporary is left."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    bucket = creds.make_bucket("assets-" + uuid.uuid4().hex[:10])
    config = s3_library(tmp_path / "library", pg_url, creds, bucket,
                        f'\n[ffmpeg]\nffmpeg = "{realtime_ffmpeg(tmp_path)}"\n')  # fmt: skip
    cli = _runner(config)
    add_films(cli, twelve_clips)
    originals = {k for k in objects(creds, bucket, "library/originals/")}
    assert len(originals) == 12
    assert cli("process").code == 0
    configs = machines(config, 3)
    workers = Workers(config.parent, tmp_path)
    try:
        procs = {workers.start(concurrency=1, config=c).pid: c for c in configs}
        victim, pid = kill_mid_transcode(cli, workers)
        scratch = procs[pid].parent / "scratch"
        assert files_in(scratch)  # the dead worker left its fetched original and its work folder
        workers.start(concurrency=1, config=procs[pid])  # its machine's worker, started again

        jobs = wait_for(cli, all_done(48), workers)  # 12 cuts x (analysis, proxy, poster, storyboard)
        again = next(j for j in jobs if j["id"] == victim["id"])
        assert again["attempts"] == 2  # once on the killed worker, once elsewhere
        assert {j["attempts"] for j in jobs if j["id"] != victim["id"]} == {1}
        assert "requeued stalled job" in workers.logs()
        # fixity on the workers too: each re-reads originals from the bucket
        r = cli("verify", "--json")
        assert r.code == 0, (r.out, r.err)
        assert r.json()["checked"] == 12 and r.json()["ok"]
    finally:
        codes = workers.stop()
    assert [c for p, c in zip(workers.procs, codes) if p.pid != pid] == [0, 0, 0]

    rows = catalogue(pg_url, "SELECT sha256, recipe, status, worker FROM derivative_jobs")
    assert len(rows) == len({(sha, recipe) for sha, recipe, _, _ in rows})  # each derivative recorded once
    assert len({sha for sha, *_ in rows}) == 12 and {s for _, _, s, _ in rows} == {"done"}
    keys = [key for (key,) in catalogue(pg_url, "SELECT storage_key FROM derivative_files")]
    assert len(keys) == len(set(keys))
    # the bucket: the 12 originals and exactly the recorded derivatives, no other object
    stored = objects(creds, bucket)
    assert set(stored) == originals | {f"library/{key}" for key in keys}
    assert all(size > 0 for size in stored.values())
    assert incomplete_uploads(creds, bucket) == []
    # nothing on any local disk: not in the library folder, not in any machine's scratch
    assert [p for p in files_in(config.parent) if p.is_file() and p.name != "config.toml"] == []
    for c in configs:
        assert files_in(c.parent / "scratch") == [], c
    assert [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(tmp_path).encode() in _read(p)
            and b"ffmpeg" in _read(p)] == []  # fmt: skip


@pytest.mark.parametrize("cache_mib, fetches_per_cut", [(0, 4), (64, 1)])
def test_with_the_cache_of_originals_a_machine_fetches_each_original_once(
        pg_url, creds, small_clips, tmp_path, monkeypatch, cache_mib, fetches_per_cut):  # fmt: skip
    """Each of a cut's four queued steps needs the original. Without storage.cache_mib
    each fetches it from the store; with it, the machine fetches it once and its steps
    (two at a time here) share the checked copy."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    bucket = creds.make_bucket("assets-" + uuid.uuid4().hex[:10])
    counting = CountingProxy(creds.endpoint)
    workers = None
    try:
        config = s3_library(tmp_path / "library", pg_url, counting, bucket, cache_mib=cache_mib)
        cli = _runner(config)
        add_films(cli, small_clips[:2])
        counting.gets.clear()
        assert cli("process").code == 0
        workers = Workers(config.parent, tmp_path)
        workers.start(concurrency=2)
        wait_for(cli, all_done(8), workers)
        assert workers.stop() == [0]
    finally:
        if workers is not None:
            workers.stop()
        counting.close()
    originals = sorted({name for name in counting.gets})
    assert len(originals) == 2 and sorted(counting.gets) == sorted(originals * fetches_per_cut), counting.gets
    scratch = config.parent / "scratch"
    if cache_mib:  # the machine keeps the checked copies, and no work folder
        assert sorted(p.name for p in scratch.iterdir()) == ["originals-cache"]
        assert sorted(p.name for p in (scratch / "originals-cache").iterdir() if p.suffix != ".lock") == originals
    else:
        assert files_in(scratch) == []


def test_s3_store_down_jobs_retry_then_fail_and_run_once_it_is_back(pg_url, tmp_path, small_clips, monkeypatch):
    """A store server of its own, killed after the upload: the worker starts anyway
    (an outage), every queued step fails to fetch the original, is retried
    (jobs.max_attempts) and is marked failed with the store named; the worker stays
    up. With the server back, `jobs retry --failed` builds it."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    server = SeaweedFS(tmp_path).start()
    workers = None
    try:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        bucket = server.make_bucket("assets-down")
        config = s3_library(tmp_path / "library", pg_url, server, bucket)
        cli = _runner(config)
        add_films(cli, small_clips[:1])
        assert cli("process").code == 0
        server.kill()
        workers = Workers(config.parent, tmp_path)
        worker = workers.start(concurrency=2)
        jobs = wait_for(cli, lambda js: len(js) == 3 and all(j["status"] == "failed" for j in js), workers)
        for job in jobs:
            assert job["attempts"] == 2, job  # jobs.max_attempts
            assert f"asset store s3://{bucket}/library/: the S3 server at {server.endpoint} is not answering" \
                in job["error"], job  # fmt: skip
        assert catalogue(pg_url, "SELECT DISTINCT status FROM derivative_jobs") == [("failed",)]
        assert worker.poll() is None  # still up: an outage is not a reason to stop
        assert "is not answering" in workers.logs() and "retried until it is back" in workers.logs()
        assert files_in(config.parent / "scratch") == []

        server.start()  # the same data, the same port
        server.wait_serving(bucket)  # volumes loaded: reads no longer answer 500
        r = cli("jobs", "retry", "--failed")
        assert r.code == 0 and r.out.startswith("3 job(s) queued again"), (r.out, r.err)
        wait_for(cli, all_done(4), workers)
        assert worker.poll() is None
        assert workers.stop() == [0]
        assert files_in(config.parent / "scratch") == []
    finally:
        if workers:
            workers.stop()
        server.stop()


def test_a_worker_on_a_missing_bucket_stops_at_start_in_one_line(pg_url, creds, tmp_path):
    """A misconfigured store is not an outage: the worker says so and exits 2 before
    taking a job (it would fail every job the other workers could run)."""
    bucket = "missing-" + uuid.uuid4().hex[:10]
    config = s3_library(tmp_path / "library", pg_url, creds, bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    r = subprocess.run([*medialib_cmd(), "--config", str(config), "worker"], capture_output=True, text=True,
                       env=env, timeout=120)  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr == f"error: asset store s3://{bucket}/library/: the bucket {bucket!r} does not exist\n"
    assert catalogue(pg_url, "SELECT count(*) FROM procrastinate_workers") == [(0,)]  # it never registered



# --- fixity checks on the workers (issue 8) ---------------------------------------------------


def test_verify_runs_on_the_workers_and_reports_what_the_embedded_check_does(cli, qlib, pg_url, small_clips,
                                                                             workers):  # fmt: skip
    """`medialib verify` with the queue: one check per original, run by a worker, waited
    for; a changed, a missing and an untracked original are reported as the embedded
    check reports them (exit 1), each outcome is in the audit log with its run."""
    add_films(cli, small_clips[:3])
    originals = sorted(p for p in (qlib / "assets" / "originals").rglob("*") if p.is_file())
    changed, missing = originals[0], originals[1]
    changed.chmod(0o644)
    with open(changed, "ab") as fh:
        fh.write(b"one more byte")
    missing.unlink()
    stray = qlib / "assets" / "originals" / "zz" / "zz" / ("0" * 64 + ".mp4")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"not in the catalogue")
    workers.start(concurrency=2)

    r = cli("verify", "--json")
    assert r.code == 1, (r.out, r.err)
    report = r.json()
    key = lambda path: str(path.relative_to(qlib / "assets"))  # noqa: E731
    assert [m["key"] for m in report["missing"]] == [key(missing)]
    assert [(c["key"], c["actual_sha256"], c["actual_size"]) for c in report["changed"]] == [
        (key(changed), hashlib.sha256(changed.read_bytes()).hexdigest(), changed.stat().st_size)]
    assert report["untracked"] == [key(stray)]
    assert report["checked"] == 2 and report["bytes"] == changed.stat().st_size + originals[2].stat().st_size
    assert r.err.strip() == "error: verify: 1 missing, 1 changed, 1 untracked"

    jobs = [j for j in cli("jobs", "--json").json() if j["step"] == "verify"]
    assert len(jobs) == 3 and {j["status"] for j in jobs} == {"done"}
    events = catalogue(pg_url, "SELECT action, subject, details->>'run' FROM audit_events "
                               "WHERE action LIKE 'fixity.%' ORDER BY id")  # fmt: skip
    assert sorted(a for a, _, _ in events) == ["fixity.changed", "fixity.missing", "fixity.ok"]
    assert len({run for *_, run in events}) == 1  # one run
    assert {subject for _, subject, _ in events} == {f"original:{key(p)}" for p in originals}


def test_verify_checks_that_cannot_read_the_store_are_retried_then_reported(pg_url, creds, small_clips, tmp_path,
                                                                           monkeypatch):  # fmt: skip
    """Fault injection, named so: a proxy in front of SeaweedFS answers 500 to every GET of
    an original. Each queued check records the store's error, is retried, is marked failed;
    `verify` says in one line that the originals could not be checked (exit 2) and
    `medialib jobs` shows the error."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    bucket = creds.make_bucket("assets-" + uuid.uuid4().hex[:10])
    config = s3_library(tmp_path / "library", pg_url, creds, bucket)
    cli = _runner(config)
    add_films(cli, small_clips[:1])
    proxy = FaultProxy(creds.endpoint, lambda method, path: (500, "InternalError", "injected")
                       if method == "GET" and "/library/originals/" in path else None)  # fmt: skip
    workers = Workers(config.parent, tmp_path)
    try:
        config.write_text(config.read_text().replace(creds.endpoint, proxy.endpoint))
        workers.start(concurrency=1)
        r = cli("verify")
        assert r.code == 2, (r.out, r.err)
        assert r.err.count("\n") == 1 and r.err.startswith(
            "error: verify: 1 of 1 originals could not be checked by the workers: "
            f"asset store s3://{bucket}/library/: ")  # fmt: skip
        assert "InternalError" in r.err and "(see `medialib jobs --status failed`)" in r.err
        failed = cli("jobs", "--status", "failed", "--json").json()
        assert [(j["step"], j["attempts"]) for j in failed] == [("verify", 2)]
        assert "InternalError" in failed[0]["error"]
    finally:
        assert workers.stop() == [0]
        proxy.close()


# --- caption drafts on the workers (issue 8) -------------------------------------------------


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory, ff) -> Path:
    d = tmp_path_factory.mktemp("qspeech")
    return make_sample(ff, d / "speech.mp4", duration=6.0, size="320x240",
                       speech_text="We sat down with the housing office. Together we rebuilt the repairs service.")


def test_caption_draft_runs_on_a_worker_and_is_recorded_here(cli, qlib, pg_url, speech_clip, workers):
    """`captions draft` with the queue: a worker recognises the speech; the track is
    recorded in this library's captions folder as a machine draft, as without the
    queue; the hand-over object in the store is removed."""
    assert cli("film", "add", "talk", "--title", "Talk").code == 0
    assert cli("cut", "add", "talk", str(speech_clip)).code == 0
    workers.start(concurrency=1)
    r = cli("captions", "draft", "talk", "--lang", "en", "--json")
    assert r.code == 0, r.err
    track = r.json()
    assert track["origin"] == "machine" and track["cues"] >= 1
    assert "housing" in (qlib / "captions" / "talk" / "en.vtt").read_text().lower()
    jobs = [j for j in cli("jobs", "--json").json() if j["step"] == "captions"]
    assert [(j["cut"], j["status"], j["attempts"]) for j in jobs] == [("talk#1", "done", 1)]
    # the worker did it, not this process (which runs no jobs): the job names its worker
    assert catalogue(pg_url, "SELECT worker_id IS NOT NULL FROM procrastinate_jobs WHERE task_name = 'medialib.draft'") \
        == [(True,)]  # fmt: skip
    assert not list((qlib / "assets" / "derived").rglob("*.vtt"))  # the hand-over is gone
    events = catalogue(pg_url, "SELECT action FROM audit_events WHERE subject = 'film:talk' ORDER BY id")
    assert events[-1] == ("captions.draft",)


def test_caption_draft_that_fails_on_the_worker_is_one_line_and_records_nothing(cli, qlib, pg_url, speech_clip,
                                                                               workers):  # fmt: skip
    assert cli("film", "add", "talk", "--title", "Talk").code == 0
    assert cli("cut", "add", "talk", str(speech_clip)).code == 0
    original = next((qlib / "assets" / "originals").rglob("*.mp4"))
    original.unlink()  # the worker cannot read it
    workers.start(concurrency=1)
    r = cli("captions", "draft", "talk", "--lang", "en")
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert r.err.startswith("error: captions draft talk (en): job ") and "missing from the asset store" in r.err
    assert cli("captions", "list", "talk", "--json").json() == []
    assert not (qlib / "captions" / "talk").exists()
    failed = cli("jobs", "--status", "failed", "--json").json()
    assert [(j["step"], j["attempts"]) for j in failed] == [("captions", 2)]
    assert "missing from the asset store" in failed[0]["error"]
    r = cli("jobs", "retry", str(failed[0]["id"]))
    assert r.code == 2 and r.err == (f"error: job {failed[0]['id']}: a caption draft is not retried; "
                                     "run `medialib captions draft` again\n")  # fmt: skip
    r = cli("jobs", "retry", "--failed")
    assert r.code == 0 and r.out == "0 job(s) queued again\n"


def test_process_wait_waits_for_the_workers_and_reports_like_the_embedded_default(cli, qlib, small_clips, workers):
    """`process --wait` (the launch script's way): queue, wait for the workers, then say
    what was built; exit 1 naming the failures when a cut could not be built."""
    from medialib.library import Library
    from medialib.media import recipes

    with Library.open(qlib / "config.toml", env={}) as lib:
        per_cut = len(recipes.resolve(lib.config["recipes"]))  # analysis, two proxies, poster, storyboard
    add_films(cli, small_clips[:2])
    workers.start(concurrency=2)
    r = cli("process", "--wait", "--json")
    assert r.code == 0, r.err
    assert r.json()["waited"] == {"built": 2 * per_cut, "failed": [], "missing": []}
    for slug in ("film-0", "film-1"):  # built when process returned
        kinds = {d["kind"] for d in cli("film", "show", slug, "--json").json()["derivatives"]}
        assert {"proxy", "poster", "storyboard"} <= kinds

    assert cli("film", "add", "film-2", "--title", "Film 2").code == 0
    assert cli("cut", "add", "film-2", str(small_clips[2])).code == 0
    sha = cli("cut", "list", "film-2", "--json").json()[0]["sha256"]
    third = [p for p in (qlib / "assets" / "originals").rglob("*.mp4") if p.stem == sha]
    assert len(third) == 1
    third[0].unlink()  # the new film's original is gone: its steps fail
    r = cli("process", "--wait")
    assert r.code == 1, (r.out, r.err)
    assert r.err == ("error: process: 3 derivative(s) failed, 2 not built (see `medialib jobs --status failed`)\n")
    assert "original missing" in r.out and "not built" in r.out
    assert f"{2 * per_cut} built, 3 failed, 2 not built" in r.out
