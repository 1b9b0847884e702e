"""Derivative jobs through procrastinate's PostgreSQL queue (``jobs.backend = "procrastinate"``).

Only this module imports procrastinate, and only a library configured for it
loads this module: the embedded default (medialib.jobs.process) never does.

The pieces:

- **Schema.** procrastinate's tables and functions live in the catalogue's own
  database, in the first schema of the connection's ``search_path`` (so a
  catalogue in its own schema has its own queue). :func:`ensure_schema` applies
  procrastinate's schema once, under an advisory lock, when ``procrastinate_jobs``
  is missing; ``process``, ``worker`` and ``jobs`` call it. It is not an Alembic
  migration because SQLite catalogues must not get it; upgrading procrastinate
  across schema versions needs its own migrations (``procrastinate schema
  --migrations``), which this does not apply.
- **Granularity.** One queued job per (cut content sha256, step), where a step is
  a recipe kind: ``analysis``, ``proxy`` (every pending rendition in one decode),
  ``poster``, ``storyboard``. The job carries ``queueing_lock`` and ``lock`` both
  ``"<sha256>:<step>"``: the same work is queued at most once, and never runs twice
  at the same moment.
- **Same transaction.** :func:`enqueue` marks the catalogue's ``derivative_jobs``
  rows ``pending`` and calls procrastinate's own ``procrastinate_defer_jobs_v1``
  SQL function inside the same SQLAlchemy transaction, each defer in a savepoint
  so a job already queued (the queueing lock) is counted, not an error. There is
  no outbox: a job exists exactly when the catalogue says it is pending.
  Proxies need the loudness analysis: they are enqueued by the analysis job when
  it succeeds, in the transaction that marks the analysis done.
- **The task function** (:func:`build`) re-plans its one cut from the catalogue
  with the very same ``plan`` and ``Runner`` as the embedded default: nothing
  left to do means it returns at once (idempotent). A failed step raises, so
  procrastinate retries it (``jobs.max_attempts`` runs, linear backoff of
  ``jobs.retry_backoff`` seconds) and finally marks it failed; the catalogue row
  keeps ffmpeg's message.
- **Crashes.** Workers send a heartbeat every ``jobs.stalled_after / 5`` seconds.
  Every worker looks, as often, for running jobs whose worker's heartbeat is older
  than ``jobs.stalled_after`` (one worker at a time, under an advisory lock) and
  puts them back in the queue; whichever worker takes one re-plans the cut and
  takes over the catalogue rows still marked ``running`` (``plan(take_over=True)``).
  Temporary files of a dead worker of this machine are swept when a worker starts
  and after it re-queues stalled jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import procrastinate
from procrastinate import sql as pc_sql
from procrastinate.schema import SchemaManager
from procrastinate.worker import Worker
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, noload

from medialib import holders
from medialib.catalog.models import Cut, DerivativeJob, Film
from medialib.errors import BadInput, MedialibError, NotFound, StoreUnavailable
from medialib.jobs.backend import require_postgres
from medialib.jobs.process import ORDER, Runner, Task, claim, job_error, job_row, plan
from medialib.media import recipes as recipes_mod

log = logging.getLogger("medialib.jobs.queue")

TASK_NAME = "medialib.build"
VERIFY_TASK = "medialib.verify"  # one fixity check of one stored original
DRAFT_TASK = "medialib.draft"  # one caption draft (speech recognition) of one cut
STEP_OF_TASK = {TASK_NAME: "", VERIFY_TASK: "verify", DRAFT_TASK: "captions"}  # the "step" `medialib jobs` shows
QUEUE = "medialib"
SCHEMA_LOCK = 7312002  # advisory lock ids (7312001: catalogue migrations)
STALLED_LOCK = 7312003
RECONNECT_DELAY = 1.0  # seconds between attempts to start the worker loop again

# procrastinate's job status -> the words medialib shows
STATUS = {"todo": "queued", "doing": "running", "succeeded": "done", "failed": "failed",
          "cancelled": "cancelled", "aborting": "running", "aborted": "cancelled"}  # fmt: skip


class StepFailed(MedialibError):
    """A queued step ran and failed (the catalogue row keeps the message); raised so the queue retries it."""


# --- connection and schema -----------------------------------------------------------


def conninfo(database_url: str) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL URL (its query, e.g. options=-csearch_path=…, kept)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_schema(engine: Engine) -> bool:
    """Create procrastinate's tables and functions if missing; True if it did."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        # the raw psycopg connection, in the same transaction: the schema's SQL holds
        # '%' signs that a parameterised execute would take for placeholders
        conn.connection.driver_connection.execute(SchemaManager.get_schema())
        return True


def make_app(lib: Any, concurrency: int = 1) -> procrastinate.App:
    """A procrastinate App on the library's database, with the build task registered.

    Its connection pool gives up waiting for a connection after jobs.stalled_after
    seconds (at least 10; psycopg's default is 30): a worker that cannot reach the
    database for that long is stalled anyway, and notices it sooner."""
    cfg = lib.config
    require_postgres(cfg)
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(cfg.database_url), min_size=2,
                                               max_size=concurrency + 6,
                                               timeout=max(10.0, cfg["jobs.stalled_after"]))  # fmt: skip
    app = procrastinate.App(connector=connector)
    attempts = cfg["jobs.max_attempts"]
    retry: Any = False
    if attempts > 1:  # procrastinate counts retries after the first run
        retry = procrastinate.RetryStrategy(max_attempts=attempts - 1, linear_wait=cfg["jobs.retry_backoff"])
    recipes = recipes_mod.resolve(cfg["recipes"])

    @app.task(name=TASK_NAME, queue=QUEUE, retry=retry)
    def _build(sha256: str, step: str) -> str:
        return build(lib, recipes, sha256, step)

    @app.task(name=VERIFY_TASK, queue=QUEUE, retry=retry)
    def _verify(key: str, sha256: str, size: int, run: str) -> str:
        return check_original(lib, key, sha256, size, run)

    @app.task(name=DRAFT_TASK, queue=QUEUE, retry=retry)
    def _draft(slug: str, sha256: str, key: str, language: str, run: str) -> str:
        return recognise_speech(lib, slug, sha256, key, language, run)

    return app


# --- enqueueing -------------------------------------------------------------------------


@dataclass
class QueueReport:
    """What ``medialib process`` did with the procrastinate backend."""

    queued: list[dict[str, Any]] = field(default_factory=list)  # newly queued jobs
    already: list[dict[str, Any]] = field(default_factory=list)  # the same work was queued already
    busy: int = 0  # steps running on a worker now
    failed: list[dict[str, Any]] = field(default_factory=list)  # failed before, not retried
    unchanged: int = 0
    ok: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"backend": "procrastinate", "queued": self.queued, "already_queued": self.already,
                "running": self.busy, "failed": self.failed, "unchanged": self.unchanged}  # fmt: skip


def _steps_to_queue(task: Task, recipes: dict[str, Any]) -> list[str]:
    """The steps of ``task`` to queue now, in ORDER: proxies wait for the analysis."""
    kinds = {recipes[name].kind for name in task.todo}
    waiting = {recipes[name].kind for name in task.busy}
    steps = [kind for kind in ORDER if kind in kinds]
    if "proxy" in steps and ({"analysis"} & (kinds | waiting)):
        steps.remove("proxy")  # the analysis job queues them when it is done
    return steps


def _defer(session: Session, task: Task, step: str, names: list[str], recipes: dict[str, Any]) -> int | None:
    """In the caller's transaction: mark the rows pending and queue the job.
    Returns the new job id, or None when the same work is queued already."""
    conn = session.connection()
    for name in names:
        job_row(conn, task, name, recipes[name].kind, status="pending", worker="", error="")
    lock = f"{task.sha256}:{step}"
    return _defer_job(session, TASK_NAME, {"sha256": task.sha256, "step": step}, lock, lock)


def _defer_job(session: Session, task_name: str, args: dict[str, Any], lock: str,
               queueing_lock: str | None) -> int | None:  # fmt: skip
    """Queue one job in the caller's transaction (procrastinate's own defer function, in a
    savepoint); its id, or None when ``queueing_lock`` says the same work is queued already."""
    try:
        with session.begin_nested():
            return session.execute(text(
                "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, :qlock, "
                "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))"
            ), {"queue": QUEUE, "task": task_name, "lock": lock, "qlock": queueing_lock,
                "args": json.dumps(args)}).scalar()  # fmt: skip
    except IntegrityError as exc:
        if "queueing_lock" not in str(exc.orig):
            raise
        return None


def enqueue(lib: Any, slugs: Sequence[str] = (), *, retry_failed: bool = False) -> QueueReport:
    """Queue every missing derivative step of the given films' cuts (all if none), in
    the same transaction that marks their catalogue rows pending."""
    require_postgres(lib.config)
    ensure_schema(lib.engine)
    recipes = recipes_mod.resolve(lib.config["recipes"])
    report = QueueReport()
    with lib.transaction() as s:
        for task in plan(s, recipes, slugs, retry_failed, store=lib.store):
            report.unchanged += len(task.wanted) - len(task.todo) - len(task.busy) - len(task.failed)
            report.busy += len(task.busy)
            for name in task.failed:
                report.failed.append({"cut": task.label, "recipe": name})
            for step in _steps_to_queue(task, recipes):
                names = [n for n in task.todo if recipes[n].kind == step]
                job_id = _defer(s, task, step, names, recipes)
                entry = {"cut": task.label, "sha256": task.sha256, "step": step, "recipes": names, "job": job_id}
                (report.queued if job_id is not None else report.already).append(entry)
    report.ok = not report.failed
    return report


def _wait_for_jobs(lib: Any, where: str, params: dict[str, Any], poll: float,
                   each: Any = None) -> None:  # fmt: skip
    """Until no job matching ``where`` (SQL on procrastinate_jobs) is queued or running.
    ``each(session)`` runs after every count, in the same session: once the count is
    zero, whatever those jobs committed before finishing is visible to it."""
    while True:
        with lib.session() as s:
            left = s.scalar(text(f"SELECT count(*) FROM procrastinate_jobs WHERE {where} "
                                 "AND status IN ('todo', 'doing')"), params)  # fmt: skip
            if each is not None:
                each(s)
        if not left:
            return
        time.sleep(poll)


def wait(lib: Any, slugs: Sequence[str] = (), poll: float = 0.5) -> dict[str, Any]:
    """Wait until no derivative step of the given films' cuts (all films if none) is queued
    or running, then say how their derivatives stand: ``built`` (done), ``failed`` (cut,
    recipe, error) and ``missing`` (cut, recipe: never built, e.g. proxies whose analysis
    failed). The analysis job queues the proxies in the transaction that records it, so
    no queued job left means no step left to come."""
    require_postgres(lib.config)
    ensure_schema(lib.engine)
    recipes = recipes_mod.resolve(lib.config["recipes"])
    with lib.session() as s:
        shas = sorted({task.sha256 for task in plan(s, recipes, slugs, False)})
    if shas:
        _wait_for_jobs(lib, "task_name = :t AND args->>'sha256' = ANY(:shas)", {"t": TASK_NAME, "shas": shas}, poll)
    outcome: dict[str, Any] = {"built": 0, "failed": [], "missing": []}
    with lib.session() as s:
        for task in plan(s, recipes, slugs, False):
            outcome["built"] += len(task.wanted) - len(task.todo) - len(task.failed) - len(task.busy)
            outcome["missing"] += [{"cut": task.label, "recipe": name} for name in task.todo + task.busy]
            outcome["failed"] += [{"cut": task.label, "recipe": name, "error": job_error(s, task, name)}
                                  for name in task.failed]  # fmt: skip
    return outcome


# --- the task function (runs in a worker) -----------------------------------------------


def build(lib: Any, recipes: dict[str, Any], sha256: str, step: str) -> str:
    """Run one step of one cut, as planned from the catalogue now. Idempotent:
    nothing to do returns at once. Raises StepFailed when the step failed.

    The plan and the claim of the step's catalogue rows are one transaction; the
    analysis step queues the cut's proxies (from the same plan) in the transaction
    that marks the analysis done."""
    if step not in ORDER:
        raise BadInput(f"unknown step {step!r}")
    with lib.transaction() as s:
        tasks = plan(s, recipes, (), True, sha256=sha256, take_over=True)
        if not tasks:
            return "no such cut"
        task = tasks[0]
        # proxies to queue after the analysis: those marked running are a worker's already
        proxies = [n for n in task.todo if recipes[n].kind == "proxy" and n not in task.taken]
        names = [n for n in task.todo if recipes[n].kind == step]
        task.todo, task.failed, task.busy = names, [], []
        if names:
            claim(s, recipes, task)
    outcome = "nothing to do"
    if names:
        task.store_qc = step == "proxy" or not proxies  # the proxies' job stores it once they are built

        def queue_proxies(session: Session, done: Task, built: list[str]) -> None:
            if proxies and any(recipes[name].kind == "analysis" for name in built):
                _defer(session, done, "proxy", proxies, recipes)

        result = Runner(lib, recipes, on_finish=queue_proxies).run(task)
        errors = [j.get("error", "") for j in result["jobs"] if j["recipe"] in names and j["status"] == "failed"]
        if errors:
            raise StepFailed(f"cut {task.label}: {step}: {errors[0]}")
        outcome = "built " + ", ".join(names)
    elif step == "analysis" and proxies:  # the analysis was done already (a job run again): queue what follows
        with lib.transaction() as s:
            _defer(s, task, "proxy", proxies, recipes)
    return outcome


# --- fixity checks on the workers ----------------------------------------------------------


FIXITY_ACTIONS = ("fixity.ok", "fixity.changed", "fixity.missing", "fixity.error")


def check_original(lib: Any, key: str, sha256: str, size: int, run: str) -> str:
    """One fixity check (a queued job): re-read the original ``key`` from the store and
    record the outcome in the audit log, subject ``original:<key>``, with the ``run``
    it belongs to: ``fixity.ok``, ``fixity.changed`` or ``fixity.missing``. A finding
    is the job's result, not its failure. A store that cannot be read is: the job
    records ``fixity.error`` with the message and raises, so the queue retries it.
    Idempotent: a second run of the same check records a second, later outcome."""
    try:
        stored = lib.store.size(key)
        if stored is None:
            action, details = "fixity.missing", {}
        else:
            actual, actual_size = lib.store.hash_file(key)
            same = (actual, actual_size) == (sha256, size)
            action = "fixity.ok" if same else "fixity.changed"
            details = {} if same else {"actual_sha256": actual, "actual_size": actual_size}
    except MedialibError as exc:
        _record_check(lib, "fixity.error", key, sha256, size, run, error=exc.message)
        raise
    _record_check(lib, action, key, sha256, size, run, **details)
    return action


def _record_check(lib: Any, action: str, key: str, sha256: str, size: int, run: str, **details: Any) -> None:
    from medialib.catalog import audit

    with lib.transaction() as s:
        audit.record(s, lib.actor, action, f"original:{key}", run=run, sha256=sha256, size=size,
                     worker=holders.me(), **details)  # fmt: skip


def verify(lib: Any, on_start: Any = None, on_progress: Any = None, poll: float = 0.5) -> Any:
    """`medialib verify` with the queue: one fixity check per stored original, queued in
    one transaction and run by the workers, then waited for; the same FixityReport as
    the embedded check. Temporary leftovers and untracked objects are found here
    (a listing, no reading). Raises StoreUnavailable naming the store when checks
    failed after their attempts (``medialib jobs --status failed`` lists them)."""
    import uuid

    from medialib.catalog import queries
    from medialib.catalog.models import AuditEvent
    from medialib.errors import StoreUnavailable
    from medialib.ingest.fixity import FixityReport
    from medialib.ingest.stages import ORIGINALS

    require_postgres(lib.config)
    ensure_schema(lib.engine)
    report = FixityReport(removed_temporary=lib.store.sweep_temporary())
    run = uuid.uuid4().hex[:16]
    with lib.transaction() as s:
        first_event = s.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
        recorded = list(s.execute(queries.stored_originals()))
        for key, sha256, size in recorded:  # a lock, no queueing lock: every run checks every original
            _defer_job(s, VERIFY_TASK, {"key": key, "sha256": sha256, "size": size, "run": run}, f"verify:{key}", None)
    expected = {key: (sha256, size) for key, sha256, size in recorded}
    if on_start is not None:
        on_start(sum(size for _k, _s, size in recorded))
    report.untracked = sorted(k for k in lib.store.iter_keys(ORIGINALS) if k not in expected)

    # Every poll reads all of the run's outcomes so far (ids are handed out before commits,
    # so a later id can be seen before an earlier one); the jobs are counted first, so
    # once none is left every outcome they recorded is visible to the read that follows.
    outcome: dict[str, AuditEvent] = {}
    counted: set[str] = set()  # checks whose bytes the progress shows

    def read_outcomes(s: Session) -> None:
        for event in s.scalars(select(AuditEvent).where(AuditEvent.id > first_event,
                                                        AuditEvent.action.in_(FIXITY_ACTIONS))
                               .order_by(AuditEvent.id)):  # fmt: skip
            key = event.subject.removeprefix("original:")
            if event.details.get("run") == run and key in expected:
                if on_progress is not None and key not in counted and event.action != "fixity.error":
                    counted.add(key)
                    on_progress(expected[key][1])
                outcome[key] = event  # the last outcome of each check counts

    _wait_for_jobs(lib, "task_name = :t AND args->>'run' = :run", {"t": VERIFY_TASK, "run": run}, poll,
                   read_outcomes)  # fmt: skip

    errors = []
    for key, (sha256, size) in expected.items():
        event = outcome.get(key)
        if event is None or event.action == "fixity.error":
            errors.append(event.details.get("error", "") if event is not None else "")
        elif event.action == "fixity.missing":
            report.missing.append({"key": key, "sha256": sha256})
        else:
            report.checked += 1
            report.bytes += event.details.get("actual_size", size)
            if event.action == "fixity.changed":
                report.changed.append({"key": key, "expected_sha256": sha256, "actual_sha256": event.details[
                    "actual_sha256"], "expected_size": size, "actual_size": event.details["actual_size"]})  # fmt: skip
    if errors:
        first = next((e for e in errors if e), "see the workers' logs")
        raise StoreUnavailable(f"verify: {len(errors)} of {len(expected)} originals could not be checked by the "
                               f"workers: {first} (see `medialib jobs --status failed`)")  # fmt: skip
    return report


# --- caption drafts on the workers ------------------------------------------------------------


def _draft_key(sha256: str, run: str) -> str:
    """Where a worker leaves the WebVTT of one draft run for the machine that asked."""
    return f"derived/{sha256}/captions-draft-{run}/draft.vtt"


def recognise_speech(lib: Any, slug: str, sha256: str, key: str, language: str, run: str) -> str:
    """A caption draft (a queued job): speech recognition on the original ``key`` with
    this machine's settings (captions.asr_model, the cue shape: the same config.toml on
    every machine), the WebVTT handed back through the asset store at a key of its own
    run. A failure records ``captions.draft-error`` (subject ``film:<slug>``) and raises,
    so the queue retries it. Idempotent: a result already stored is not made again."""
    from medialib.captions import draft, webvtt
    from medialib.storage import work_folder

    result = _draft_key(sha256, run)
    if lib.store.size(result) is not None:
        return "drafted before"
    try:
        with lib.store.local_file(key) as source:
            cues = draft.draft_with_settings(lib.ffmpeg, source, lib.config, language)
        with work_folder(lib.store.tmp_dir) as workdir:
            path = workdir / "draft.vtt"
            path.write_text(webvtt.serialize(cues), encoding="utf-8")
            lib.store.put_derived(path, result)
    except MedialibError as exc:
        from medialib.catalog import audit

        with lib.transaction() as s:
            audit.record(s, lib.actor, "captions.draft-error", f"film:{slug}", run=run, language=language,
                         error=exc.message, worker=holders.me())  # fmt: skip
        raise
    return f"drafted {len(cues)} cues"


def draft_captions(lib: Any, slug: str, sha256: str, key: str, language: str, poll: float = 0.5) -> str:
    """`medialib captions draft` with the queue: queue the speech recognition, wait for
    a worker to do it, and return the WebVTT text (removed from the store once read;
    the caller records the track in its own captions folder). Raises StepFailed with
    the worker's message when the job failed after its attempts."""
    import uuid

    require_postgres(lib.config)
    ensure_schema(lib.engine)
    run = uuid.uuid4().hex[:12]  # a derived key's hash part: 12 hex digits
    args = {"slug": slug, "sha256": sha256, "key": key, "language": language, "run": run}
    with lib.transaction() as s:
        job_id = _defer_job(s, DRAFT_TASK, args, f"draft:{sha256}:{language}", None)
    _wait_for_jobs(lib, "id = :id", {"id": job_id}, poll)
    with lib.session() as s:
        status = s.scalar(text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": job_id})
        reason = _draft_errors(s, [args]).get((slug, run)) or (
            f"it ended {STATUS.get(status, status)}; see the workers' logs")  # fmt: skip
    result = _draft_key(sha256, run)
    if status != "succeeded":
        raise StepFailed(f"captions draft {slug} ({language}): job {job_id} failed: {reason}")
    vtt = lib.store.read_bytes(result).decode("utf-8")
    lib.store.remove_tree(result.rsplit("/", 1)[0])
    return vtt


# --- the worker ---------------------------------------------------------------------------


def run_worker(lib: Any, concurrency: int) -> None:
    """Run jobs from the queue until stopped (SIGINT/SIGTERM: running jobs finish first).

    An asset store that does not answer is an outage, not a reason to stop: the
    worker starts anyway, and its jobs fail and are retried until the store is
    back. A store that refuses the bucket or the credentials is a configuration
    error (BadInput) raised at start, before the worker takes any job."""
    require_postgres(lib.config)
    ensure_schema(lib.engine)
    _sweep(lib)
    app = make_app(lib, concurrency)
    try:
        asyncio.run(_work(app, lib, concurrency))
    finally:
        _sweep(lib)


def _sweep(lib: Any) -> None:
    """Remove what dead workers of this machine left in the store's temporary places."""
    try:
        lib.store.sweep_temporary()
    except StoreUnavailable as exc:
        log.warning("%s; jobs that need the asset store fail and are retried until it is back", exc.message)


async def _work(app: procrastinate.App, lib: Any, concurrency: int) -> None:
    """Run procrastinate's worker loop; when it stops because the database went away
    (a failed fetch or heartbeat), start it again with a fresh registration once the
    database answers. Only SIGINT/SIGTERM end it (running jobs finish first).

    The jobs the lost registration was running stop getting heartbeats, so after
    ``jobs.stalled_after`` any worker (this one too) puts them back in the queue."""
    stalled_after = float(lib.config["jobs.stalled_after"])
    stopping = asyncio.Event()
    current: list[Worker] = []

    def stop() -> None:
        stopping.set()
        for worker in current:
            worker.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    async with app.open_async():
        watcher = asyncio.create_task(_requeue_stalled_forever(app, lib, stalled_after))
        try:
            while not stopping.is_set():
                worker = Worker(app, queues=[QUEUE], concurrency=concurrency, name=holders.me(),
                                install_signal_handlers=False, update_heartbeat_interval=stalled_after / 5,
                                stalled_worker_timeout=stalled_after)  # fmt: skip
                current[:] = [worker]
                try:
                    await worker.run()
                except Exception as exc:  # the database went away while starting or fetching
                    log.warning("worker stopped: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
                if stopping.is_set():
                    break
                log.warning("lost the database; starting the worker again in %.1f s", RECONNECT_DELAY)
                try:
                    await asyncio.wait_for(stopping.wait(), RECONNECT_DELAY)
                except TimeoutError:
                    pass
        finally:
            watcher.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def _requeue_stalled_forever(app: procrastinate.App, lib: Any, stalled_after: float) -> None:
    while True:
        await asyncio.sleep(stalled_after / 5)
        try:
            if await requeue_stalled(app, stalled_after):
                _sweep(lib)
        except Exception:  # a lost connection: try again next time
            log.exception("looking for stalled jobs")


async def requeue_stalled(app: procrastinate.App, stalled_after: float) -> list[int]:
    """Put back in the queue the running jobs of workers without a recent heartbeat.
    One worker at a time does this (an advisory lock), so a job taken up again by a
    live worker is never put back by a second look at an old list."""
    pool = app.connector.pool  # type: ignore[attr-defined]
    requeued: list[int] = []
    async with pool.connection() as conn, conn.transaction():
        got = await (await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (STALLED_LOCK,))).fetchone()
        if not got or not got[0]:
            return requeued
        cur = await conn.execute(pc_sql.queries["select_stalled_jobs_by_heartbeat"],
                                 {"queue": QUEUE, "task_name": None, "seconds_since_heartbeat": stalled_after})
        for row in await cur.fetchall():
            job_id = row[0]
            try:
                async with conn.transaction():  # a savepoint
                    await conn.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", (job_id,))
                requeued.append(job_id)
            except Exception as exc:  # the same work is queued again already (queueing lock)
                log.warning("stalled job %s not requeued: %s", job_id, exc)
                async with conn.transaction():
                    await conn.execute("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", (job_id,))
    if requeued:
        log.warning("requeued stalled job(s) %s", ", ".join(map(str, requeued)))
    return requeued


# --- listing and retrying -------------------------------------------------------------------


_LIST = """
SELECT j.id, j.task_name, j.status, j.args, j.attempts, j.scheduled_at,
       (SELECT count(*) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started') AS runs,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS changed_at
  FROM procrastinate_jobs j
 WHERE j.task_name IN (:build, :verify, :draft) {where}
 ORDER BY j.id
"""


def list_jobs(lib: Any, *, status: str | None = None, job_id: int | None = None) -> list[dict[str, Any]]:
    """The queue's jobs with their cut, step, status, attempts and (if failed) the error."""
    require_postgres(lib.config)
    ensure_schema(lib.engine)
    where, params = "", {"build": TASK_NAME, "verify": VERIFY_TASK, "draft": DRAFT_TASK}
    if job_id is not None:
        where, params["id"] = "AND j.id = :id", job_id
    with lib.session() as s:
        rows = s.execute(text(_LIST.format(where=where)), params).all()
        shas = {row.args.get("sha256") for row in rows}
        labels: dict[str, str] = {}
        if shas:
            for film_slug, seq, sha in s.execute(
                    Film.__table__.join(Cut.__table__, Cut.film_id == Film.id)  # type: ignore[arg-type]
                    .select().with_only_columns(Film.slug, Cut.seq, Cut.sha256).where(Cut.sha256.in_(shas))
                    .order_by(Film.slug, Cut.seq)):  # fmt: skip
                labels.setdefault(sha, f"{film_slug}#{seq}")
        details: dict[tuple[str, str], list[DerivativeJob]] = {}
        if shas:
            for job in s.scalars(select(DerivativeJob).where(DerivativeJob.sha256.in_(shas))
                                 .options(noload(DerivativeJob.files))):  # fmt: skip
                details.setdefault((job.sha256, job.kind), []).append(job)
        check_errors = _check_errors(s, [row.args for row in rows if row.task_name == VERIFY_TASK])
        draft_errors = _draft_errors(s, [row.args for row in rows if row.task_name == DRAFT_TASK])
    out = []
    for row in rows:
        sha, step = row.args.get("sha256", ""), row.args.get("step") or STEP_OF_TASK[row.task_name]
        shown = STATUS.get(row.status, row.status)
        if status and shown != status:
            continue
        mine = details.get((sha, step), [])
        error = next((j.error for j in mine if j.status == "failed" and j.error), "") if shown == "failed" else ""
        if shown == "failed" and row.task_name != TASK_NAME:
            if row.task_name == VERIFY_TASK:
                error = check_errors.get((row.args.get("key"), row.args.get("run")), "")
            else:
                error = draft_errors.get((row.args.get("slug"), row.args.get("run")), "")
        worker = next((j.worker for j in mine if j.status == "running"), "") if shown == "running" else ""
        out.append({"id": row.id, "cut": labels.get(sha, sha[:12]), "sha256": sha, "step": step, "status": shown,
                    "attempts": int(row.runs), "worker": worker, "error": error,
                    "scheduled_at": row.scheduled_at, "changed_at": row.changed_at})  # fmt: skip
    return out


def _check_errors(session: Session, checks: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(key, run) -> the last error a fixity check recorded, for the given checks' args."""
    return _recorded_errors(session, "fixity.error", "original", [(a.get("key"), a.get("run")) for a in checks])


def _draft_errors(session: Session, drafts: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(slug, run) -> the last error a caption draft job recorded, for the given jobs' args."""
    return _recorded_errors(session, "captions.draft-error", "film", [(a.get("slug"), a.get("run")) for a in drafts])


def _recorded_errors(session: Session, action: str, kind: str, wanted_pairs: list[tuple[Any, Any]]
                     ) -> dict[tuple[str, str], str]:  # fmt: skip
    from medialib.catalog.models import AuditEvent

    wanted = set(wanted_pairs)
    errors: dict[tuple[str, str], str] = {}
    if wanted:
        subjects = sorted({f"{kind}:{name}" for name, _run in wanted})
        for event in session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                              AuditEvent.subject.in_(subjects))
                                     .order_by(AuditEvent.id)):  # fmt: skip
            found = (event.subject.removeprefix(f"{kind}:"), event.details.get("run"))
            if found in wanted:
                errors[found] = event.details.get("error", "")
    return errors


def retry(lib: Any, job_ids: Sequence[int] = (), *, failed: bool = False) -> list[int]:
    """Queue failed derivative steps and fixity checks again (by id, or every failed
    one); returns their ids. NotFound for an unknown id, BadInput for a job that is
    not failed or is a caption draft (asked for again with `captions draft`)."""
    require_postgres(lib.config)
    ensure_schema(lib.engine)
    with lib.transaction() as s:
        if failed:
            ids = list(s.scalars(text("SELECT id FROM procrastinate_jobs WHERE task_name IN (:t, :v) "
                                      "AND status = 'failed' ORDER BY id FOR UPDATE"),
                                 {"t": TASK_NAME, "v": VERIFY_TASK}))  # fmt: skip
        else:
            ids = []
            for job_id in job_ids:
                row = s.execute(text("SELECT status, task_name FROM procrastinate_jobs WHERE id = :id "
                                     "AND task_name IN (:t, :v, :d) FOR UPDATE"),
                                {"id": job_id, "t": TASK_NAME, "v": VERIFY_TASK, "d": DRAFT_TASK}).first()  # fmt: skip
                if row is None:
                    raise NotFound(f"job {job_id}: no such job (see `medialib jobs`)")
                if row.task_name == DRAFT_TASK:  # its asker stopped waiting: nobody would record the result
                    raise BadInput(f"job {job_id}: a caption draft is not retried; run `medialib captions draft` again")
                if row.status != "failed":
                    raise BadInput(f"job {job_id}: it is {STATUS.get(row.status, row.status)}, not failed: "
                                   "only a failed job can be retried")  # fmt: skip
                ids.append(job_id)
        done = []
        for job_id in ids:
            args = s.execute(text("SELECT args FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}).scalar()
            try:
                with s.begin_nested():
                    s.execute(text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"), {"id": job_id})
                    s.execute(text("UPDATE procrastinate_jobs SET attempts = 0 WHERE id = :id"), {"id": job_id})
            except IntegrityError:  # the same work was queued again since (queueing lock)
                if not failed:
                    raise BadInput(f"job {job_id}: the same cut and step is queued already") from None
                continue
            if "step" in args:  # a derivative step: its catalogue rows are pending again
                s.execute(DerivativeJob.__table__.update().where(
                    DerivativeJob.sha256 == args["sha256"], DerivativeJob.kind == args["step"],
                    DerivativeJob.status == "failed",
                ).values(status="pending", error="", worker=""))  # fmt: skip
            done.append(job_id)
    return done
