"""Review and approval: facts from the catalogue into the pure gate function."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medialib.catalog import audit, gates, validate
from medialib.catalog.db import utcnow
from medialib.catalog.gates import (AppearanceFacts, ApprovalFacts, Check, ConsentFacts, FilmFacts, PersonFacts,
                                    Policy)  # fmt: skip
from medialib.captions.tracks import gate as caption_tracks_gate
from medialib.catalog.models import Appearance, Approval, Film
from medialib.errors import CheckFailed


def policy(config: Any) -> Policy:
    return Policy(publish_scope=config["consent.publish_scope"], minor_age=config["consent.minor_age"])


def _derivatives_check(session: Session, lib: Any, film: Film) -> tuple[Check, Check]:
    """(derivatives gate, qc gate) for the film's current cut."""
    from medialib.jobs import derived
    from medialib.media import recipes as recipes_mod

    if film.current_cut is None:
        return Check(False, ("the film has no cut yet",)), Check(False, ("the film has no cut yet",))
    wanted = recipes_mod.resolve(lib.config["recipes"])
    jobs = derived.current_jobs(session, lib, film)
    if not any(job.status == "done" for job in jobs.values()):
        missing = (f"not built yet (run `medialib process {film.slug}`)",)
        return Check(False, missing), Check(False, missing)
    reasons = []
    for name in wanted:
        job = jobs.get(name)
        if job is None or job.status in ("pending", "running"):
            reasons.append(f"{name}: not built yet (run `medialib process {film.slug}`)")
        elif job.status == "failed":
            reasons.append(f"{name}: failed: {job.error}")
        else:
            for f in job.files:
                path = lib.store.root / f.storage_key
                if not path.is_file() or path.stat().st_size != f.size:
                    reasons.append(f"{name}: {f.name} is missing or changed on disk (run `medialib process`)")
    deriv = Check(not reasons, tuple(reasons) or ("all derivatives built and in place",))
    if any(jobs.get(n) is None or jobs[n].status != "done" for n, r in wanted.items() if r.kind == "analysis"):
        return deriv, Check(False, (f"not measured yet (run `medialib process {film.slug}`)",))
    report = derived.qc_report(session, lib, film)
    errors = [f"{f['code']}: {f['message']}" for f in report["findings"] if f["level"] == "error"]
    return deriv, Check(not errors, tuple(errors) or ("no error-level finding",))


def film_facts(session: Session, lib: Any, film: Film) -> FilmFacts:
    derivatives, qc = _derivatives_check(session, lib, film)
    appearances = []
    for a in session.scalars(select(Appearance).where(Appearance.film_id == film.id).order_by(Appearance.person_id)):
        p = a.person
        consents = tuple(
            ConsentFacts(c.id, c.status, tuple(c.scopes), c.signed_on, c.expires_on, c.guardian, c.withdrawn_at)
            for c in p.consents
        )
        appearances.append(AppearanceFacts(PersonFacts(p.id, p.name, p.born, p.erased_at is not None, consents),
                                           a.identifiable))  # fmt: skip
    latest = session.scalars(select(Approval).where(Approval.film_id == film.id)
                             .order_by(Approval.id.desc()).limit(1)).one_or_none()  # fmt: skip
    approval = ApprovalFacts(latest.id, latest.cut_sha256, latest.by, latest.at, latest.snapshot) if latest else None
    cut = film.current_cut
    captions, caption_tracks = caption_tracks_gate(session, lib, film)
    return FilmFacts(
        slug=film.slug, cut_sha256=cut.sha256 if cut else None, publish_at=film.publish_at,
        derivatives=derivatives, qc=qc, captions=captions, appearances=tuple(appearances),
        approval=approval, caption_tracks=caption_tracks, taken_down_at=film.taken_down_at,
    )  # fmt: skip


def review(session: Session, lib: Any, film: Film, at: datetime) -> dict[str, Any]:
    results = gates.evaluate(film_facts(session, lib, film), at, policy(lib.config))
    return {
        "slug": film.slug,
        "title": film.title,
        "cut": film.current_cut.seq if film.current_cut else None,
        "at": at.isoformat().replace("+00:00", "Z"),
        "publishable": gates.publishable(results),
        "gates": [r.as_dict() for r in results],
    }


def approve(session: Session, lib: Any, actor: str, film: Film, by: str, at: datetime) -> Approval:
    """Approve the film's current cut; CheckFailed listing every unmet gate if not allowed."""
    by = validate.text(by, "--by", 200, required=True)
    facts = film_facts(session, lib, film)
    results = gates.evaluate(facts, at, policy(lib.config))
    unmet = gates.unmet_for_approval(results)
    if unmet:
        listed = "; ".join(f"{r.gate}: {' / '.join(r.reasons)}" for r in unmet)
        raise CheckFailed(f"cannot approve {film.slug}: {listed}")
    approval = Approval(
        film_id=film.id, cut_sha256=facts.cut_sha256, by=by, at=utcnow(),
        snapshot={"consent": gates.consent_snapshot(facts), "captions": gates.caption_snapshot(facts)},
    )  # fmt: skip
    session.add(approval)
    session.flush()
    audit.record(session, actor, "approve", f"film:{film.slug}", by=by, cut=film.current_cut.seq,
                 sha256=facts.cut_sha256)  # fmt: skip
    return approval
