"""Reading what `process` built: derivative files and the QC report of a cut."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
                "path": str(lib.store.root / f.storage_key), "mime": f.mime, "width": f.width,
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
    src = SourceMedia(lib.store.root / cut.storage_key, tech_info(cut.probe, f"{film.slug}#{cut.seq}"), cut.probe)
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


def qc_errors(session: Session, lib: Any, film: Any, jobs: dict[str, Any]) -> list[str]:
    """The error-level QC findings of the film's current cut, as "code: message" lines
    (the review board). A cut's QC is a pure function of its ffprobe document, the data
    of its analysis and proxy jobs and the thresholds, so it is memoised per library
    (shared by ``acting_as`` copies, i.e. by every request of the web app) under
    (content sha256, those jobs' ids and finish times, thresholds). Only a miss
    reads the ffprobe document and the jobs' data."""
    import json

    from medialib.catalog.models import Cut

    cut = film.current_cut
    done = sorted((name, job.id, job.finished_at) for name, job in jobs.items()
                  if job.status == "done" and job.kind in ("analysis", "proxy"))  # fmt: skip
    memo = lib.qc_memo
    thresholds = lib.__dict__.get("_qc_thresholds_key")
    if thresholds is None:
        thresholds = lib.__dict__["_qc_thresholds_key"] = json.dumps(lib.config["qc"], sort_keys=True, default=str)
    key = (cut.sha256, tuple(done), thresholds)
    errors = memo.get(key)
    if errors is None:
        row = session.execute(select(Cut.storage_key, Cut.probe).where(Cut.id == cut.id)).one()
        data = dict(session.execute(select(DerivativeJob.id, DerivativeJob.data)
                                    .where(DerivativeJob.id.in_([job_id for _n, job_id, _f in done]))).all())  # fmt: skip
        by_kind: dict[str, Any] = {}
        for job in jobs.values():  # the first done job of each kind, as qc_report takes it
            if job.id in data:
                by_kind.setdefault(job.kind, data[job.id])
        src = SourceMedia(lib.store.root / row.storage_key, tech_info(row.probe, f"{film.slug}#{cut.seq}"), row.probe)
        report = qc.report(src, by_kind.get("analysis"), by_kind.get("proxy"), lib.config["qc"])
        errors = [f"{f['code']}: {f['message']}" for f in report["findings"] if f["level"] == "error"]
        if len(memo) >= QC_MEMO_SIZE:
            memo.clear()
        memo[key] = errors
    return list(errors)
