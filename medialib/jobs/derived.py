"""Reading what `process` built: derivative files and the QC report of a cut."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, noload

from medialib.catalog.models import DerivativeJob, Film
from medialib.errors import NotFound
from medialib.jobs.process import wanted_hashes
from medialib.media import qc, recipes as recipes_mod
from medialib.media.probe import tech_info
from medialib.media.types import SourceMedia


def current_jobs(session: Session, lib: Any, film: Film,
                 prefetched: list[DerivativeJob] | None = None) -> dict[str, DerivativeJob]:  # fmt: skip
    """recipe name -> the job of the current cut under the current recipe (any status).
    ``prefetched``: the jobs of the current cut's content, when the caller loaded many at once."""
    cut = film.current_cut
    if cut is None:
        return {}
    recipes = recipes_mod.resolve(lib.config["recipes"])
    wanted = wanted_hashes(recipes, film.poster_at)
    jobs = prefetched if prefetched is not None else session.scalars(
        select(DerivativeJob).where(DerivativeJob.sha256 == cut.sha256))  # fmt: skip
    return {j.recipe: j for j in jobs if wanted.get(j.recipe) == j.recipe_hash}


def files_view(session: Session, lib: Any, film: Film,
               prefetched: list[DerivativeJob] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for name, job in sorted(current_jobs(session, lib, film, prefetched).items()):
        if job.status != "done":
            continue
        for f in job.files:
            out.append({
                "recipe": name, "kind": f.kind, "name": f.name, "storage_key": f.storage_key,
                "path": lib.store.describe(f.storage_key), "mime": f.mime, "width": f.width,
                "height": f.height, "duration": f.duration, "size": f.size, "sha256": f.sha256,
            })  # fmt: skip
    return out


def qc_report(session: Session, lib: Any, film: Film, jobs: dict[str, DerivativeJob] | None = None) -> dict[str, Any]:
    cut = film.current_cut
    if cut is None:
        raise NotFound(f"film {film.slug!r} has no cut yet (add one with `medialib cut add`)")
    jobs = current_jobs(session, lib, film) if jobs is None else jobs
    done = {name: job for name, job in jobs.items() if job.status == "done"}
    analysis = next((j.data for j in done.values() if j.kind == "analysis"), None)
    proxy = next((j.data for j in done.values() if j.kind == "proxy"), None)
    # QC reads the ffprobe document and the jobs' data, never the file: the path is a label
    src = SourceMedia(Path(cut.storage_key), tech_info(cut.probe, f"{film.slug}#{cut.seq}"), cut.probe)
    report = qc.report(src, analysis, proxy, lib.config["qc"])
    failed = {name: job.error for name, job in jobs.items() if job.status == "failed"}
    return {
        "film": film.slug,
        "cut": cut.seq,
        "sha256": cut.sha256,
        **report["measurements"],
        "findings": report["findings"],
        "passed": report["passed"],
        "processing": {name: job.status for name, job in sorted(jobs.items())},
        "errors": failed,
    }


QC_MEMO_SIZE = 20_000


def _thresholds(lib: Any) -> str:
    key = lib.__dict__.get("_qc_thresholds_key")
    if key is None:
        key = lib.__dict__["_qc_thresholds_key"] = json.dumps(lib.config["qc"], sort_keys=True, default=str)
    return key


def error_lines(report: dict[str, Any]) -> list[str]:
    """The error-level findings of a QC report as "code: message" lines (the QC gate's reasons)."""
    return [f"{f['code']}: {f['message']}" for f in report["findings"] if f["level"] == "error"]


def _done_analysis(jobs: dict[str, Any]) -> Any:
    return next((j for j in jobs.values() if j.kind == "analysis" and j.status == "done"), None)


def _qc_inputs(jobs: dict[str, Any]) -> tuple[tuple[str, int, str], ...]:
    return tuple(sorted((name, job.id, job.finished_at.isoformat() if job.finished_at else "")
                        for name, job in jobs.items()
                        if job.status == "done" and job.kind in ("analysis", "proxy")))  # fmt: skip


def qc_key(jobs: dict[str, Any], thresholds: str) -> str:
    """What a cut's QC outcome depends on besides its (immutable) content: the done analysis
    and proxy jobs (ids and finish times: a rebuilt job changes it) and the thresholds."""
    return hashlib.sha256(json.dumps([thresholds, _qc_inputs(jobs)]).encode("utf-8")).hexdigest()


def _errors(lib: Any, label: str, storage_key: str, probe: dict[str, Any], jobs: dict[str, Any],
            data: dict[int, Any]) -> list[str]:  # fmt: skip
    by_kind: dict[str, Any] = {}
    for job in jobs.values():  # the first done job of each kind, as qc_report takes it
        if job.status == "done" and job.id in data:
            by_kind.setdefault(job.kind, data[job.id])
    src = SourceMedia(Path(storage_key), tech_info(probe, label), probe)
    return error_lines(qc.report(src, by_kind.get("analysis"), by_kind.get("proxy"), lib.config["qc"]))


def qc_errors(session: Session, lib: Any, film: Any, jobs: dict[str, Any]) -> list[str]:
    """The error-level QC findings of the film's current cut, as "code: message" lines
    (the review board). A cut's QC is a pure function of its ffprobe document, the data
    of its analysis and proxy jobs and the thresholds (``qc_key``). `process` stores the
    outcome with the analysis job (``store_qc``); it is also memoised per library
    (shared by ``acting_as`` copies, i.e. by every request of the web app). Only when
    neither holds it for the current key are the ffprobe document and the jobs' data read."""
    from medialib.catalog.models import Cut

    cut = film.current_cut
    thresholds = _thresholds(lib)
    memo = lib.qc_memo
    inputs = _qc_inputs(jobs)
    memo_key = (cut.sha256, inputs, thresholds)
    errors = memo.get(memo_key)
    if errors is None:
        analysis = _done_analysis(jobs)
        stored = getattr(analysis, "qc_errors", None)
        if stored is not None and analysis.qc_key == qc_key(jobs, thresholds):
            errors = list(stored)
        else:
            row = session.execute(select(Cut.storage_key, Cut.probe).where(Cut.id == cut.id)).one()
            data = dict(session.execute(select(DerivativeJob.id, DerivativeJob.data)
                                        .where(DerivativeJob.id.in_([i for _n, i, _f in inputs]))).all())  # fmt: skip
            errors = _errors(lib, f"{film.slug}#{cut.seq}", row.storage_key, row.probe, jobs, data)
        if len(memo) >= QC_MEMO_SIZE:
            memo.clear()
        memo[memo_key] = errors
    return list(errors)


def store_qc(lib: Any, sha256: str, wanted: dict[str, str], label: str) -> None:
    """Keep the QC outcome of the content ``sha256`` with its analysis job (after `process`
    built its analysis or proxies), so the review board need not work it out again."""
    from medialib.catalog.models import Cut

    with lib.transaction() as s:
        rows = s.scalars(select(DerivativeJob).where(DerivativeJob.sha256 == sha256)
                         .options(noload(DerivativeJob.files)).order_by(DerivativeJob.id))  # fmt: skip
        jobs = {j.recipe: j for j in rows if wanted.get(j.recipe) == j.recipe_hash}
        analysis = _done_analysis(jobs)
        cut = s.scalars(select(Cut).where(Cut.sha256 == sha256).limit(1)).first()
        if analysis is None or cut is None:
            return
        data = {j.id: j.data for j in jobs.values() if j.status == "done"}
        analysis.qc_errors = _errors(lib, label, cut.storage_key, cut.probe, jobs, data)
        analysis.qc_key = qc_key(jobs, _thresholds(lib))
