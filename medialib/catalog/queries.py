"""Query builders: each returns a ``Select`` for the caller to run."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from medialib.catalog.models import AuditEvent, Cut, Film


def film_by_slug(slug: str) -> Select[tuple[Film]]:
    return select(Film).where(Film.slug == slug)


def films() -> Select[tuple[Film]]:
    return select(Film).order_by(Film.slug)


def film_summaries() -> Select:
    """One row per film: its columns, its number of cuts and its current cut's
    seq, sha256 and duration (None without cuts), in one query.

    Plain columns, not ORM objects: listing 10,000 films must stay fast.
    The current cut is the pinned one, else the one with the highest seq.
    """
    counts = select(Cut.film_id, func.count().label("n")).group_by(Cut.film_id).subquery()
    latest = (
        select(Cut.id)
        .where(Cut.film_id == Film.id)
        .order_by(Cut.seq.desc())
        .limit(1)
        .correlate(Film)
        .scalar_subquery()
    )
    current = aliased(Cut)
    listed = [c for c in Film.__table__.columns if c.name not in ("created_at", "updated_at", "pinned_cut_id")]
    return (
        select(
            *listed,
            func.coalesce(counts.c.n, 0).label("cut_count"),
            current.seq.label("current_seq"),
            current.sha256.label("current_sha256"),
            current.duration.label("current_duration"),
        )
        .outerjoin(counts, counts.c.film_id == Film.id)
        .outerjoin(current, current.id == func.coalesce(Film.pinned_cut_id, latest))
        .order_by(Film.slug)
    )


def cut_of_film(film_id: int, seq: int) -> Select[tuple[Cut]]:
    return select(Cut).where(Cut.film_id == film_id, Cut.seq == seq)


def cut_by_sha(film_id: int, sha256: str) -> Select[tuple[Cut]]:
    return select(Cut).where(Cut.film_id == film_id, Cut.sha256 == sha256)


def last_seq(film_id: int) -> Select[tuple[int | None]]:
    return select(func.max(Cut.seq)).where(Cut.film_id == film_id)


def stored_originals() -> Select:
    """Every distinct stored original: (storage_key, sha256, size)."""
    return select(Cut.storage_key, Cut.sha256, Cut.size).distinct().order_by(Cut.storage_key)


def audit_for(subject_prefix: str) -> Select[tuple[AuditEvent]]:
    """Events whose subject starts with ``subject_prefix``, case and all, on every engine.

    LIKE narrows the scan (it ignores case on SQLite, not on PostgreSQL); the
    substring comparison makes the match exact on both."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if not subject_prefix:
        return query
    return query.where(
        AuditEvent.subject.startswith(subject_prefix, autoescape=True),
        func.substr(AuditEvent.subject, 1, len(subject_prefix)) == subject_prefix,
    )


def audit_for_film(slug: str) -> Select[tuple[AuditEvent]]:
    """Candidate events of a film's trail: its own, its cuts', and any whose details
    mention the slug (consent events list the films they affect). The caller keeps
    only those whose details really name the film; the text match narrows the scan."""
    from sqlalchemy import String, cast, or_

    return (
        select(AuditEvent)
        .where(or_(AuditEvent.subject == f"film:{slug}",
                   AuditEvent.subject.startswith(f"cut:{slug}#", autoescape=True),
                   cast(AuditEvent.details, String).contains(f'"{slug}"', autoescape=True)))  # fmt: skip
        .order_by(AuditEvent.id)
    )
