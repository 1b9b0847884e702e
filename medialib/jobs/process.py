"""`medialib process`: derivatives for every cut, incremental and crash-safe.

For each cut (de-duplicated by content) the recipes run in this order:

    analysis -> proxies (all pending renditions in one decode) -> posters -> storyboard

Each derivative job is keyed by (cut sha256, recipe, recipe hash). A job is
claimed in its own short transaction (status ``running``, with host:pid),
its ffmpeg work happens in a private folder under ``assets/tmp/``, every
output is checked, hashed and renamed into ``assets/derived/…`` and only
then is the job marked ``done`` with its files. A killed run leaves a job
``running`` under a dead pid: the next run takes it up again. A failed job
keeps ffmpeg's message and is skipped until ``--retry-failed``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session, noload
from sqlalchemy.sql import ClauseElement

from medialib import holders
from medialib.catalog.db import utcnow
from medialib.catalog.films import get_film
from medialib.catalog.models import Cut, DerivativeFile, DerivativeJob, Film
from medialib.errors import MediaError, MedialibError, ObjectMissing
from medialib.media import analysis as analysis_mod
from medialib.media import recipes as recipes_mod
from medialib.media.ffmpeg import FFmpeg
from medialib.media.probe import tech_info
from medialib.media.recipes import Recipe
from medialib.media.types import Result, SourceMedia
from medialib.storage import Store, work_folder
from medialib.storage.local import sha256_file

ORDER = ("analysis", "proxy", "poster", "storyboard")


@dataclass(frozen=True)
class Event:
    """Progress of one step of one cut, for whoever draws it."""

    cut: str  # "slug#seq"
    step: str  # recipe name, or names joined by "+" for a shared proxy run
    state: str  # start | progress | done | failed
    fraction: float = 0.0
    speed: float | None = None
    error: str = ""


OnEvent = Callable[[Event], None]


@dataclass
class Task:
    """What one cut needs: the recipes (with their hashes) still to build."""

    label: str  # slug#seq of the first film holding this content
    sha256: str
    storage_key: str
    probe: dict[str, Any]
    wanted: dict[str, str]  # recipe name -> hash wanted now
    todo: list[str]  # recipe names to build, in ORDER
    failed: list[str]  # recipe names that failed before and are not retried
    busy: list[str] = field(default_factory=list)  # being built right now by another live process
    poster_at: float | None = None  # the film's poster time override, if any
    qc_unstored: bool = False  # its analysis is done but no QC outcome is stored with it (older catalogues)
    analysis_data: dict[str, Any] | None = None  # the done loudness analysis's data, as planned
    claimed: bool = False  # its todo jobs were marked running in the planning transaction (claim())
    store_qc: bool = True  # store the QC outcome after building analysis or proxies (not when proxies follow)
    taken: list[str] = field(default_factory=list)  # in todo, though marked running (plan(take_over=True))


@dataclass
class Report:
    cuts: list[dict[str, Any]] = field(default_factory=list)
    jobs: int = 0  # cuts worked on at once

    def count(self, status: str) -> int:
        return sum(1 for c in self.cuts for j in c["jobs"] if j["status"] == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "built": self.count("done"),
            "failed": self.count("failed"),
            "unchanged": self.count("unchanged"),
            "jobs": self.jobs,
            "cuts": self.cuts,
        }


# --- planning (reads the catalogue only: no ffmpeg, no file access) ---------------


_WANTED: dict[tuple[tuple[int, ...], float | None], tuple[tuple[Recipe, ...], dict[str, str]]] = {}


def wanted_hashes(recipes: dict[str, Recipe], poster_at: float | None) -> dict[str, str]:
    """recipe name -> the hash its output must have now.

    Remembered per set of Recipe objects (resolve() hands out the same ones for
    the same settings, and they are never changed): the review board asks for
    every film."""
    objects = tuple(recipes.values())
    key = (tuple(map(id, objects)), poster_at)
    known = _WANTED.get(key)
    if known is None or known[0] != objects or any(a is not b for a, b in zip(known[0], objects)):
        if len(_WANTED) > 256:
            _WANTED.clear()
        known = _WANTED[key] = (objects, _wanted_hashes(recipes, poster_at))
    return dict(known[1])


def _wanted_hashes(recipes: dict[str, Recipe], poster_at: float | None) -> dict[str, str]:
    analysis = next((r for r in recipes.values() if r.kind == "analysis"), None)
    base = analysis.hash() if analysis else ""
    wanted = {}
    for name, recipe in recipes.items():
        if recipe.kind == "proxy":
            wanted[name] = recipe.hash(base)
        elif recipe.kind == "poster":
            wanted[name] = recipe.hash(extra=poster_at)
        else:
            wanted[name] = recipe.hash()
    return wanted


def plan(
    session: Session, recipes: dict[str, Recipe], slugs: Sequence[str], retry_failed: bool,
    *, sha256: str | None = None, take_over: bool = False, store: Store | None = None,
) -> list[Task]:  # fmt: skip
    """The cuts of the given films (all films if none) and what each still needs.

    ``sha256``: only the cut with that content (a queued job re-plans its one cut).
    ``take_over``: a job marked ``running`` counts as to do whoever holds it (the
    procrastinate worker running the job knows it is the only one: the queue's lock
    and the heartbeats decide, not host:pid).
    ``store``: also look there (one listing per cut) and count a done derivative whose
    files are missing or changed as to do again, so that `process` rebuilds it."""
    query = select(Film).order_by(Film.slug)
    if sha256 is not None:
        query = query.where(Film.id.in_(select(Cut.film_id).where(Cut.sha256 == sha256)))
    films = [get_film(session, slug) for slug in slugs] if slugs else list(session.scalars(query))
    cuts: list[tuple[Film, Cut]] = []
    for film in films:
        current = film.current_cut
        ordered = sorted(film.cuts, key=lambda c: (c is not current, -c.seq))  # current cut first
        cuts += [(film, cut) for cut in ordered if sha256 is None or cut.sha256 == sha256]

    shas = {cut.sha256 for _, cut in cuts}
    jobs: dict[tuple[str, str, str], DerivativeJob] = {}
    if shas:  # without their files: planning needs the rows' status only
        for job in session.scalars(select(DerivativeJob).where(DerivativeJob.sha256.in_(shas))
                                   .options(noload(DerivativeJob.files))):  # fmt: skip
            jobs[(job.sha256, job.recipe, job.recipe_hash)] = job

    files: dict[int, list[tuple[str, int]]] = {}
    if store is not None and jobs:  # the recorded files of every done build
        done = [job.id for job in jobs.values() if job.status == "done"]
        for i in range(0, len(done), 500):
            for job_id, key, size in session.execute(select(
                    DerivativeFile.job_id, DerivativeFile.storage_key, DerivativeFile.size
            ).where(DerivativeFile.job_id.in_(done[i:i + 500]))):  # fmt: skip
                files.setdefault(job_id, []).append((key, size))

    tasks: dict[str, Task] = {}
    for film, cut in cuts:
        if cut.sha256 in tasks:
            continue
        poster_at = film.poster_at if cut is film.current_cut else None
        wanted = wanted_hashes(recipes, poster_at)
        todo, failed, busy, taken = [], [], [], []
        stored: dict[str, int] | None = None
        for name in sorted(wanted, key=lambda n: (ORDER.index(recipes[n].kind), n)):
            job = jobs.get((cut.sha256, name, wanted[name]))
            if job is not None and job.status == "done" and files.get(job.id):
                if stored is None:
                    stored = store.sizes(f"derived/{cut.sha256}")  # type: ignore[union-attr]
                if any(stored.get(key) != size for key, size in files[job.id]):
                    todo.append(name)  # built, but its files are gone or changed: build it again
                    continue
            if job is None or job.status == "pending" or (
                job.status == "running" and (take_over or not holders.alive(job.worker))
            ):
                todo.append(name)
                if job is not None and job.status == "running" and take_over:
                    taken.append(name)
            elif job.status == "running":
                busy.append(name)
            elif job.status == "failed":
                (todo if retry_failed else failed).append(name)
        analysis = next((job for name in wanted if (job := jobs.get((cut.sha256, name, wanted[name]))) is not None
                         and job.kind == "analysis" and job.status == "done"), None)  # fmt: skip
        tasks[cut.sha256] = Task(f"{film.slug}#{cut.seq}", cut.sha256, cut.storage_key, cut.probe, wanted,
                                 todo, failed, busy, poster_at, analysis is not None and analysis.qc_key is None,
                                 dict(analysis.data) if analysis is not None else None, taken=taken)  # fmt: skip
    return list(tasks.values())


def claim(session: Session, recipes: dict[str, Recipe], task: Task) -> None:
    """Mark ``task``'s todo jobs running under this process (host:pid), in the caller's
    transaction (a queued job claims in the transaction that planned it)."""
    me, now = holders.me(), utcnow()
    conn = session.connection()
    for name in task.todo:
        job_row(conn, task, name, recipes[name].kind, status="running", worker=me, error="",
                attempts=_JOBS.c.attempts + 1, started_at=now, finished_at=None)  # fmt: skip
    task.claimed = True


# --- running --------------------------------------------------------------------------


class Runner:
    """Runs tasks against one library. Thread-safe: each step opens its own
    short transactions through ``transaction`` (a callable giving a context
    manager over a write Session)."""

    def __init__(self, lib: Any, recipes: dict[str, Recipe], on_event: OnEvent | None = None,
                 on_finish: Callable[[Session, Task, list[str]], None] | None = None) -> None:  # fmt: skip
        """``on_finish(session, task, names)`` runs inside the transaction that marks the
        jobs ``names`` done (the queue defers the proxies there once the analysis is done)."""
        self.lib = lib
        self.store: Store = lib.store
        self.ff: FFmpeg = lib.ffmpeg
        self.recipes = recipes
        self.on_event = on_event or (lambda event: None)
        self.on_finish = on_finish

    # one cut

    def run(self, task: Task) -> dict[str, Any]:
        """Build what ``task`` needs; failures are recorded, never raised."""
        outcome: dict[str, dict[str, Any]] = {
            name: {"recipe": name, "kind": self.recipes[name].kind, "status": "unchanged"}
            for name in task.wanted
        }  # fmt: skip
        for name in task.failed:
            outcome[name].update(status="failed", error=self._error_of(task, name))
        for name in task.busy:
            outcome[name]["status"] = "running"  # by another process; not waited for
        if task.todo:
            self._run_todo(task, outcome)
        return {"cut": task.label, "sha256": task.sha256, "jobs": list(outcome.values())}

    def _run_todo(self, task: Task, outcome: dict[str, dict[str, Any]]) -> None:
        with ExitStack() as fetched:  # the original, in place or fetched into scratch until the cut is done
            try:
                source_path = fetched.enter_context(self.store.local_file(task.storage_key))
            except MedialibError as exc:
                where = self.store.describe(task.storage_key)
                error = (f"cut {task.label}: original missing: {where} (run `medialib verify`)"
                         if isinstance(exc, ObjectMissing) else f"cut {task.label}: {exc.message}")  # fmt: skip
                for name in task.todo:
                    self._fail(task, name, error, 0.0)
                    outcome[name].update(status="failed", error=error)
                self.on_event(Event(task.label, "+".join(task.todo), "failed", error=error))
                return
            self._run_steps(task, outcome, source_path)

    def _run_steps(self, task: Task, outcome: dict[str, dict[str, Any]], source_path: Path) -> None:
        src = SourceMedia(source_path, tech_info(task.probe, task.label), task.probe)
        if not task.claimed:  # all of them at once: one transaction per cut, not per step
            with self.lib.transaction() as s:
                claim(s, self.recipes, task)
        by_kind: dict[str, list[str]] = {}
        for name in task.todo:
            by_kind.setdefault(self.recipes[name].kind, []).append(name)
        analysis_data = None  # what the proxies need: the analysis built now, or done before
        if "proxy" in by_kind and "analysis" not in by_kind:
            analysis_data = task.analysis_data if task.analysis_data is not None else self._analysis_data(task)

        for kind in ORDER:
            names = by_kind.get(kind, [])
            if not names:
                continue
            if kind == "proxy" and analysis_data is None:
                error = f"cut {task.label}: proxies need the loudness analysis, which failed"
                for name in names:
                    self._fail(task, name, error, 0.0)
                    outcome[name].update(status="failed", error=error)
                continue
            groups = [names] if kind == "proxy" else [[n] for n in names]
            for group in groups:
                ok, data, error, seconds = self._step(task, src, kind, group, analysis_data)
                for name in group:
                    outcome[name].update(status="done" if ok else "failed", seconds=round(seconds, 3))
                    if not ok:
                        outcome[name]["error"] = error
                if kind == "analysis":
                    analysis_data = data if ok else None
        if task.store_qc and ("analysis" in by_kind or "proxy" in by_kind):
            self.store_qc(task)

    def store_qc(self, task: Task) -> None:
        """Keep the cut's QC outcome with its analysis job (jobs.derived.store_qc)."""
        from medialib.jobs import derived  # it imports this module

        try:
            derived.store_qc(self.lib, task.sha256, task.wanted, task.label)
        except MedialibError:  # the review board works it out itself then
            pass

    def _analysis_data(self, task: Task) -> dict[str, Any] | None:
        name = next((n for n, r in self.recipes.items() if r.kind == "analysis"), None)
        if name is None:
            return None
        with self.lib.session() as s:
            data = s.scalar(select(DerivativeJob.data).where(
                DerivativeJob.sha256 == task.sha256, DerivativeJob.recipe == name,
                DerivativeJob.recipe_hash == task.wanted[name], DerivativeJob.status == "done",
            ))  # fmt: skip
            return dict(data) if data is not None else None

    def _step(
        self, task: Task, src: SourceMedia, kind: str, names: list[str], analysis_data: dict[str, Any] | None
    ) -> tuple[bool, dict[str, Any], str, float]:
        step = "+".join(names)
        self.on_event(Event(task.label, step, "start"))
        started = time.monotonic()

        def progress(fraction: float, speed: float | None = None) -> None:
            self.on_event(Event(task.label, step, "progress", fraction, speed))

        try:
            with work_folder(self.store.tmp_dir) as workdir:
                result = self._build(task, src, kind, names, workdir, analysis_data, progress)
                self._finish(task, names, result, time.monotonic() - started)
        except MedialibError as exc:
            seconds = time.monotonic() - started
            for name in names:
                self._fail(task, name, exc.message, seconds)
            self.on_event(Event(task.label, step, "failed", error=exc.message))
            return False, {}, exc.message, seconds
        self.on_event(Event(task.label, step, "done", 1.0))
        return True, result.data, "", time.monotonic() - started

    def _build(
        self, task: Task, src: SourceMedia, kind: str, names: list[str], workdir: Path,
        analysis_data: dict[str, Any] | None, progress: Callable[..., None],
    ) -> Result:  # fmt: skip
        recipe = self.recipes[names[0]]
        if kind == "analysis":
            return analysis_mod.analyse_audio(self.ff, src, recipe.params, on_progress=progress)
        if kind == "proxy":
            from medialib.media.proxy import make_proxies

            analysis_recipe = next(r.params for r in self.recipes.values() if r.kind == "analysis")
            renditions = [(n, self.recipes[n].params) for n in names]
            return make_proxies(self.ff, src, renditions, workdir, analysis_data, analysis_recipe,
                                on_progress=progress)  # fmt: skip
        if kind == "poster":
            from medialib.media.posters import make_posters

            return make_posters(self.ff, src, recipe.params, workdir, at=task.poster_at)
        from medialib.media.storyboard import make_storyboard

        return make_storyboard(self.ff, src, recipe.params, workdir, on_progress=progress)

    # catalogue writes, each its own short transaction, in SQL expressions rather than
    # ORM objects: a short clip's chain is a dozen ffmpeg runs of ~0.1 s each, and
    # loading and flushing job objects cost a tenth of that per step.

    def _job_id(self, conn: Connection, task: Task, name: str, **fields: Any) -> int:
        return job_row(conn, task, name, self.recipes[name].kind, **fields)

    def _fail(self, task: Task, name: str, error: str, seconds: float) -> None:
        with self.lib.transaction() as s:
            self._job_id(s.connection(), task, name, status="failed", error=error, worker="",
                         finished_at=utcnow(), seconds=round(seconds, 3))  # fmt: skip

    def _error_of(self, task: Task, name: str) -> str:
        with self.lib.session() as s:
            return job_error(s, task, name)

    def _finish(self, task: Task, names: list[str], result: Result, seconds: float) -> None:
        """Move the checked outputs into place, then record them and mark the jobs done."""
        placed: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for output in result.outputs:
            name = names[0] if len(names) == 1 else output.name.rsplit(".", 1)[0]
            key = f"derived/{task.sha256}/{name}-{task.wanted[name]}/{output.name}"
            sha, size = sha256_file(output.path)
            self.store.put_derived(output.path, key, sha256=sha)
            placed[name].append({
                "name": output.name, "kind": output.kind, "mime": output.mime, "storage_key": key, "sha256": sha,
                "size": size, "width": output.width, "height": output.height, "duration": output.duration,
            })  # fmt: skip
        stale: list[str] = []
        with self.lib.transaction() as s:
            conn = s.connection()
            for name in names:
                job_id = self._job_id(conn, task, name, status="done", error="", worker="", data=result.data,
                                      finished_at=utcnow(), seconds=round(seconds, 3))  # fmt: skip
                conn.execute(delete(_FILES).where(_FILES.c.job_id == job_id))
                if placed[name]:
                    conn.execute(insert(_FILES), [{**row, "job_id": job_id} for row in placed[name]])
                # builds of older versions of the recipe (their file rows go with them: ON DELETE CASCADE)
                old = conn.execute(delete(_JOBS).where(
                    _JOBS.c.sha256 == task.sha256, _JOBS.c.recipe == name, _JOBS.c.recipe_hash != task.wanted[name],
                ).returning(_JOBS.c.recipe_hash)).scalars().all()  # fmt: skip
                stale += [f"derived/{task.sha256}/{name}-{recipe_hash}" for recipe_hash in old]
            if self.on_finish is not None:
                self.on_finish(s, task, names)
        for folder in stale:
            self.store.remove_tree(folder)


_JOBS = DerivativeJob.__table__
_FILES = DerivativeFile.__table__


def job_error(session: Session, task: Task, name: str) -> str:
    """The message a failed derivative job of ``task``'s recipe ``name`` recorded ("" if none)."""
    return session.scalar(select(DerivativeJob.error).where(
        DerivativeJob.sha256 == task.sha256, DerivativeJob.recipe == name,
        DerivativeJob.recipe_hash == task.wanted[name],
    )) or ""  # fmt: skip


def job_row(conn: Connection, task: Task, name: str, kind: str, **fields: Any) -> int:
    """The id of the derivative_jobs row of ``task``'s recipe ``name``, with ``fields`` set
    (created first if missing), in the caller's transaction: one UPDATE ... RETURNING."""
    key = (_JOBS.c.sha256 == task.sha256, _JOBS.c.recipe == name, _JOBS.c.recipe_hash == task.wanted[name])
    job_id = conn.execute(update(_JOBS).where(*key).values(**fields).returning(_JOBS.c.id)).scalar()
    if job_id is None:
        plain = not any(isinstance(value, ClauseElement) for value in fields.values())
        row = {"sha256": task.sha256, "recipe": name, "kind": kind, "recipe_hash": task.wanted[name],
               "status": "pending", "error": "", "attempts": 0, "data": {}, "worker": "", "created_at": utcnow()}
        job_id = conn.execute(insert(_JOBS).values({**row, **fields} if plain else row)).inserted_primary_key[0]
        if not plain:  # e.g. attempts + 1: worked out against the new row's defaults
            conn.execute(update(_JOBS).where(_JOBS.c.id == job_id).values(**fields))
    return job_id


SHORT_CUT = 10e6  # pixel-seconds (width x height x duration): about 11 s of 720p, 5 s of 1080p


def default_jobs(tasks: list[Task]) -> int:
    """Cuts worked on at once when neither --jobs nor the setting says: one per CPU core,
    or two per core when every cut to build is short (under SHORT_CUT pixel-seconds).

    A long source's x264 encode fills the cores by itself, and a second encode per core
    only costs (4 % more CPU on 4 x 15 s 720p). A short clip's chain of nine ffmpeg and
    ffprobe runs is mostly process start-up, probing and single-threaded steps, which
    leave the cores idle a fifth of the time with one chain per core (bench/process.py;
    figures in bench/README.md)."""
    return cpu_cores() * (2 if tasks and all(_pixel_seconds(t) < SHORT_CUT for t in tasks) else 1)


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _pixel_seconds(task: Task) -> float:
    try:
        info = tech_info(task.probe, task.label)
    except MediaError:
        return float("inf")
    return info.width * info.height * info.duration


def process(
    lib: Any,
    slugs: Sequence[str] = (),
    *,
    jobs: int = 0,
    retry_failed: bool = False,
    on_event: OnEvent | None = None,
) -> Report:
    """Build every missing derivative of the given films' cuts (all films if none).

    ``jobs`` cuts are worked on at once (0: default_jobs()); each cut runs
    one ffmpeg at a time, so never more than ``jobs`` ffmpeg processes run.
    Raises ConfigError for bad recipes, NotFound for an unknown film; a
    failing cut is recorded in the report and the others carry on.
    """
    recipes = recipes_mod.resolve(lib.config["recipes"])
    with lib.session() as s:
        tasks = plan(s, recipes, slugs, retry_failed, store=lib.store)
    lib.store.sweep_temporary()
    runner = Runner(lib, recipes, on_event)
    busy = [t for t in tasks if t.todo]
    idle = [t for t in tasks if not t.todo]
    workers = jobs or lib.config["jobs.workers"] or default_jobs(busy)
    report = Report(jobs=workers)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(busy) or 1))) as pool:
        results = list(pool.map(runner.run, busy))
    report.cuts = results + [runner.run(t) for t in idle]
    for task in idle:
        if task.qc_unstored:  # built before the QC outcome was stored: store it now, once
            runner.store_qc(task)
    report.cuts.sort(key=lambda c: c["cut"])
    return report
