"""Plain-data views of catalogue objects, for JSON output and templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medialib.catalog.models import AuditEvent, Cut, Film


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def cut_view(cut: Cut, *, current: bool = False, probe: bool = False) -> dict[str, Any]:
    data = {
        "seq": cut.seq,
        "label": cut.label,
        "current": current,
        "sha256": cut.sha256,
        "size": cut.size,
        "container": cut.container,
        "duration": cut.duration,
        "video_codec": cut.video_codec,
        "width": cut.width,
        "height": cut.height,
        "display_aspect_ratio": cut.display_aspect_ratio,
        "frame_rate": cut.frame_rate,
        "rotation": cut.rotation,
        "audio_codec": cut.audio_codec,
        "channels": cut.channels,
        "sample_rate": cut.sample_rate,
        "bit_rate": cut.bit_rate,
        "storage_key": cut.storage_key,
        "original_name": cut.original_name,
        "uploaded_by": cut.uploaded_by,
        "uploaded_at": iso(cut.uploaded_at),
    }
    if probe:
        data["probe"] = cut.probe
    return data


def film_fields(film: Any) -> dict[str, Any]:
    """The metadata of a film (a Film, or a row with the same columns)."""
    data = _metadata(film)
    data["created_at"] = iso(film.created_at)
    data["updated_at"] = iso(film.updated_at)
    return data


def _metadata(film: Any) -> dict[str, Any]:
    return {
        "slug": film.slug,
        "title": film.title,
        "summary": film.summary,
        "themes": film.themes,
        "location": film.location,
        "languages": film.languages,
        "credits": film.credits,
        "licence": film.licence,
        "publish_at": iso(film.publish_at),
        "poster_at": film.poster_at,
        "owner_id": film.owner_id,
    }


def film_view(film: Film) -> dict[str, Any]:
    current = film.current_cut
    data = film_fields(film)
    data["current_cut"] = current.seq if current else None
    data["pinned"] = film.pinned_cut_id is not None
    data["cuts"] = [cut_view(c, current=c is current) for c in film.cuts]
    return data


def film_summary(row: Any) -> dict[str, Any]:
    """A row of queries.film_summaries() as a list entry (no timestamps: see `film show`)."""
    data = _metadata(row)
    data["cut_count"] = row.cut_count
    data["current_cut"] = (
        {"seq": row.current_seq, "sha256": row.current_sha256, "duration": row.current_duration}
        if row.current_seq is not None
        else None
    )
    return data


def audit_view(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "details": event.details,
    }


def person_view(person: Any) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "born": person.born.isoformat() if person.born else None,
        "contact": person.contact,
        "erased": person.erased_at is not None,
        "created_at": iso(person.created_at),
    }


def consent_view(c: Any) -> dict[str, Any]:
    return {
        "id": c.id, "person": c.person_id, "status": c.status, "scopes": c.scopes,
        "signed": c.signed_on.isoformat(), "expires": c.expires_on.isoformat() if c.expires_on else None,
        "signed_by": c.signed_by, "guardian": c.guardian, "method": c.method, "wording_version": c.wording_version,
        "collected_by": c.collected_by, "notes": c.notes, "form": {"mime": c.form_mime, "size": c.form_size,
        "sha256": c.form_sha256, "on_file": c.form_key is not None}, "verified_by": c.verified_by,
        "verified_at": iso(c.verified_at), "withdrawn_at": iso(c.withdrawn_at), "withdraw_reason": c.withdraw_reason,
        "supersedes": c.supersedes_id,
    }  # fmt: skip


def appearance_view(a: Any) -> dict[str, Any]:
    return {"film_id": a.film_id, "person": a.person_id, "identifiable": a.identifiable, "ranges": a.ranges}


def caption_view(t: Any) -> dict[str, Any]:
    return {
        "language": t.language, "kind": t.kind, "path": f"captions/{t.path}", "origin": t.origin,
        "source_format": t.source_format, "encoding": t.encoding, "sha256": t.sha256, "cut_sha256": t.cut_sha256,
        "status": t.status, "approved_by": t.approved_by, "approved_at": iso(t.approved_at),
        "approved_sha256": t.approved_sha256, "approved_cut_sha256": t.approved_cut_sha256,
    }  # fmt: skip
