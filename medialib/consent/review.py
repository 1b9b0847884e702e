"""Review and approval: facts from the catalogue into the pure gate function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from medialib.catalog import audit, gates, validate
from medialib.catalog.db import utcnow
from medialib.catalog.gates import (AppearanceFacts, ApprovalFacts, Check, ConsentFacts, FilmFacts, PersonFacts,
                                    Policy)  # fmt: skip
from medialib.captions.tracks import gate as caption_tracks_gate
from medialib.catalog.models import Appearance, Approval, CaptionTrack, Consent, Cut, DerivativeJob, Film, Person
from medialib.errors import CheckFailed


def policy(config: Any) -> Policy:
    return Policy(publish_scope=config["consent.publish_scope"], minor_age=config["consent.minor_age"])


@dataclass
class Prefetched:
    """What film_facts needs about many films, loaded in a few queries (the review board)."""

    jobs: dict[str, list[DerivativeJob]]  # content sha256 -> its derivative jobs (files loaded)
    appearances: dict[int, list[Appearance]]  # film id -> appearances (person and consents loaded)
    approvals: dict[int, Approval]  # film id -> its latest approval
    tracks: dict[int, list[CaptionTrack]]  # film id -> caption tracks
    check_files: bool = True  # stat every derivative file (the board trusts the catalogue instead)
    qc: Callable[..., list[str]] | None = None  # (session, lib, film, jobs) -> QC error lines; None: qc_report


def prefetch(session: Session, films: list[Film]) -> Prefetched:
    ids = [f.id for f in films]
    shas = sorted({f.current_cut.sha256 for f in films if f.current_cut is not None})
    pre = Prefetched({}, {}, {}, {})
    for start in range(0, max(len(shas), 1), 500):
        chunk = shas[start : start + 500]
        for job in session.scalars(select(DerivativeJob).where(DerivativeJob.sha256.in_(chunk))
                                   .options(selectinload(DerivativeJob.files))):  # fmt: skip
            pre.jobs.setdefault(job.sha256, []).append(job)
    for start in range(0, max(len(ids), 1), 500):
        chunk = ids[start : start + 500]
        for a in session.scalars(select(Appearance).where(Appearance.film_id.in_(chunk))
                                 .options(selectinload(Appearance.person).selectinload(Person.consents))
                                 .order_by(Appearance.person_id)):  # fmt: skip
            pre.appearances.setdefault(a.film_id, []).append(a)
        for approval in session.scalars(select(Approval).where(Approval.film_id.in_(chunk)).order_by(Approval.id)):
            pre.approvals[approval.film_id] = approval  # ascending ids: the last one wins
        for track in session.scalars(select(CaptionTrack).where(CaptionTrack.film_id.in_(chunk))
                                     .order_by(CaptionTrack.language, CaptionTrack.kind)):  # fmt: skip
            pre.tracks.setdefault(track.film_id, []).append(track)
    return pre


def review_all(session: Session, lib: Any, at: datetime, check_files: bool = True) -> list[dict[str, Any]]:
    """The review of every film, with the catalogue read in a handful of queries.
    ``check_files=False`` trusts the catalogue that derivative files are in place
    and reads plain rows instead of ORM objects (the review board; a film's own
    page, approval and publish look on disk)."""
    if not check_files:
        films, pre = board_prefetch(session, lib)
        return [review(session, lib, film, at, pre) for film in films]
    films = list(session.scalars(select(Film).options(selectinload(Film.cuts)).order_by(Film.slug)))
    pre = prefetch(session, films)
    return [review(session, lib, film, at, pre) for film in films]


@dataclass
class _Film:
    """The columns of a film the gates need, and its current cut (the board's plain-row stand-in for Film)."""

    id: int
    slug: str
    title: str
    publish_at: datetime | None
    taken_down_at: datetime | None
    poster_at: float | None
    current_cut: Any  # a row with id, seq, sha256, or None


@dataclass
class _Person:
    id: int
    name: str
    born: Any
    erased_at: datetime | None
    consents: list[Any]


@dataclass
class _Appearance:
    person: _Person
    identifiable: bool


def board_prefetch(session: Session, lib: Any) -> tuple[list[_Film], Prefetched]:
    """Every film and what its gates need, as plain rows in seven queries: no ORM
    objects, no ffprobe documents, no derivative data (QC comes from the outcome
    `process` stored, see ``derived.qc_errors``). The review board of 1,000 films reads this."""
    from medialib.jobs import derived

    cuts: dict[int, list[Any]] = {}
    for cut in session.execute(select(Cut.id, Cut.film_id, Cut.seq, Cut.sha256).order_by(Cut.film_id, Cut.seq)):
        cuts.setdefault(cut.film_id, []).append(cut)
    films = []
    for f in session.execute(select(Film.id, Film.slug, Film.title, Film.publish_at, Film.taken_down_at,
                                    Film.poster_at, Film.pinned_cut_id).order_by(Film.slug)):  # fmt: skip
        own = cuts.get(f.id, [])
        current = next((c for c in own if c.id == f.pinned_cut_id), own[-1] if own else None)
        films.append(_Film(f.id, f.slug, f.title, f.publish_at, f.taken_down_at, f.poster_at, current))
    pre = Prefetched({}, {}, {}, {}, check_files=False)
    pre.qc = derived.qc_errors
    shas = sorted({f.current_cut.sha256 for f in films if f.current_cut is not None})
    job_columns = (DerivativeJob.id, DerivativeJob.sha256, DerivativeJob.recipe, DerivativeJob.recipe_hash,
                   DerivativeJob.kind, DerivativeJob.status, DerivativeJob.error, DerivativeJob.finished_at,
                   DerivativeJob.qc_key, DerivativeJob.qc_errors)  # fmt: skip
    for start in range(0, len(shas), 500):
        for job in session.execute(select(*job_columns).where(DerivativeJob.sha256.in_(shas[start : start + 500]))):
            pre.jobs.setdefault(job.sha256, []).append(job)
    consents: dict[int, list[Any]] = {}
    for c in session.execute(select(Consent.id, Consent.person_id, Consent.status, Consent.scopes, Consent.signed_on,
                                    Consent.expires_on, Consent.guardian, Consent.withdrawn_at)
                             .where(Consent.person_id.in_(select(Appearance.person_id)))
                             .order_by(Consent.id)):  # fmt: skip
        consents.setdefault(c.person_id, []).append(c)
    people: dict[int, _Person] = {}
    for row in session.execute(select(Appearance.film_id, Appearance.identifiable, Person.id, Person.name,
                                      Person.born, Person.erased_at)
                               .join(Person, Person.id == Appearance.person_id)
                               .order_by(Appearance.film_id, Appearance.person_id)):  # fmt: skip
        person = people.get(row.id)
        if person is None:
            person = people[row.id] = _Person(row.id, row.name, row.born, row.erased_at, consents.get(row.id, []))
        pre.appearances.setdefault(row.film_id, []).append(_Appearance(person, row.identifiable))
    for approval in session.execute(select(Approval.id, Approval.film_id, Approval.cut_sha256, Approval.by,
                                           Approval.at, Approval.snapshot).order_by(Approval.id)):  # fmt: skip
        pre.approvals[approval.film_id] = approval  # ascending ids: the last one wins
    track_columns = (CaptionTrack.film_id, CaptionTrack.language, CaptionTrack.kind, CaptionTrack.path,
                     CaptionTrack.origin, CaptionTrack.sha256, CaptionTrack.status, CaptionTrack.approved_by,
                     CaptionTrack.approved_sha256, CaptionTrack.approved_cut_sha256)  # fmt: skip
    for track in session.execute(select(*track_columns).order_by(CaptionTrack.language, CaptionTrack.kind)):
        pre.tracks.setdefault(track.film_id, []).append(track)
    return films, pre


def _derivatives_check(session: Session, lib: Any, film: Film, pre: Prefetched | None = None) -> tuple[Check, Check]:
    """(derivatives gate, qc gate) for the film's current cut."""
    from medialib.jobs import derived
    from medialib.media import recipes as recipes_mod

    if film.current_cut is None:
        return Check(False, ("the film has no cut yet",)), Check(False, ("the film has no cut yet",))
    wanted = recipes_mod.resolve(lib.config["recipes"])
    jobs = derived.current_jobs(session, lib, film,
                                None if pre is None else pre.jobs.get(film.current_cut.sha256, []))  # fmt: skip
    if not any(job.status == "done" for job in jobs.values()):
        missing = (f"not built yet (run `medialib process {film.slug}`)",)
        return Check(False, missing), Check(False, missing)
    reasons = []
    # what is in the store under the cut's derived/ folder: one listing, not a look per file
    stored = lib.store.sizes(f"derived/{film.current_cut.sha256}") if pre is None or pre.check_files else None
    for name in wanted:
        job = jobs.get(name)
        if job is None or job.status in ("pending", "running"):
            reasons.append(f"{name}: not built yet (run `medialib process {film.slug}`)")
        elif job.status == "failed":
            reasons.append(f"{name}: failed: {job.error}")
        elif stored is not None:
            for f in job.files:
                if stored.get(f.storage_key) != f.size:
                    reasons.append(f"{name}: {f.name} is missing or changed on disk (run `medialib process`)")
    done = "all derivatives built and in place" if pre is None or pre.check_files else "all derivatives built"
    deriv = Check(not reasons, tuple(reasons) or (done,))
    if any(jobs.get(n) is None or jobs[n].status != "done" for n, r in wanted.items() if r.kind == "analysis"):
        return deriv, Check(False, (f"not measured yet (run `medialib process {film.slug}`)",))
    if pre is not None and pre.qc is not None:
        errors = pre.qc(session, lib, film, jobs)
    else:
        errors = derived.error_lines(derived.qc_report(session, lib, film, jobs))
    return deriv, Check(not errors, tuple(errors) or ("no error-level finding",))


def film_facts(session: Session, lib: Any, film: Film, pre: Prefetched | None = None) -> FilmFacts:
    derivatives, qc = _derivatives_check(session, lib, film, pre)
    appearances = []
    listed = (session.scalars(select(Appearance).where(Appearance.film_id == film.id).order_by(Appearance.person_id))
              if pre is None else pre.appearances.get(film.id, []))  # fmt: skip
    for a in listed:
        p = a.person
        consents = tuple(
            ConsentFacts(c.id, c.status, tuple(c.scopes), c.signed_on, c.expires_on, c.guardian, c.withdrawn_at)
            for c in p.consents
        )
        appearances.append(AppearanceFacts(PersonFacts(p.id, p.name, p.born, p.erased_at is not None, consents),
                                           a.identifiable))  # fmt: skip
    latest = (session.scalars(select(Approval).where(Approval.film_id == film.id)
                              .order_by(Approval.id.desc()).limit(1)).one_or_none()
              if pre is None else pre.approvals.get(film.id))  # fmt: skip
    approval = ApprovalFacts(latest.id, latest.cut_sha256, latest.by, latest.at, latest.snapshot) if latest else None
    cut = film.current_cut
    captions, caption_tracks = caption_tracks_gate(session, lib, film,
                                                   None if pre is None else pre.tracks.get(film.id, []),
                                                   read_files=pre is None or pre.check_files)  # fmt: skip
    return FilmFacts(
        slug=film.slug, cut_sha256=cut.sha256 if cut else None, publish_at=film.publish_at,
        derivatives=derivatives, qc=qc, captions=captions, appearances=tuple(appearances),
        approval=approval, caption_tracks=caption_tracks, taken_down_at=film.taken_down_at,
    )  # fmt: skip


def review(session: Session, lib: Any, film: Film, at: datetime, pre: Prefetched | None = None) -> dict[str, Any]:
    results = gates.evaluate(film_facts(session, lib, film, pre), at, policy(lib.config))
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
