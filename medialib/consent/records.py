"""Creating and changing people, consents and appearances."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from medialib.catalog import audit, validate
from medialib.catalog.db import utcnow
from medialib.catalog.films import get_film
from medialib.catalog.gates import age_on
from medialib.catalog.models import Appearance, Consent, Film, Person
from medialib.errors import BadInput, NotFound
from medialib.storage import Store

FORM_TYPES = (  # (magic bytes, mime, extension): checked by content, not by name
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)
METHODS = ("paper", "e-sign", "verbal")
RANGE_RE = re.compile(r"^(\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)-(\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)$")


@dataclass(frozen=True)
class ConsentPolicy:
    scopes: tuple[str, ...]
    minor_age: int
    max_form_bytes: int


def utc_today() -> date:
    """Today in UTC: the calendar the gates judge dates in, whatever the host's zone."""
    return datetime.now(timezone.utc).date()


def parse_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"{what}: {value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"unknown person {person_id} (see `medialib person list`)")
    return person


def get_consent(session: Session, consent_id: int) -> Consent:
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise NotFound(f"unknown consent {consent_id} (see `medialib consent list`)")
    return consent


def films_of(session: Session, person_id: int) -> list[str]:
    """Slugs of the films a person appears in identifiably."""
    query = (select(Film.slug).join(Appearance, Appearance.film_id == Film.id)
             .where(Appearance.person_id == person_id, Appearance.identifiable.is_(True)).order_by(Film.slug))  # fmt: skip
    return list(session.scalars(query))


def add_person(session: Session, actor: str, name: str, born: date | None, contact: str | None) -> Person:
    name = validate.text(name, "name", 300, required=True)
    if born is not None and born > utc_today():
        raise BadInput(f"--born {born.isoformat()} is in the future")
    person = Person(name=name, born=born, contact=validate.text(contact, "--contact", 1000) if contact else None)
    session.add(person)
    session.flush()
    audit.record(session, actor, "person.add", f"person:{person.id}")  # no personal data in the log
    return person


def check_form(path: str | os.PathLike[str], max_bytes: int) -> tuple[Path, str, str]:
    """The form must exist and be a PDF, JPEG or PNG by content, within the size limit."""
    shown = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise NotFound(f"{shown}: no such file")
    if not p.is_file():
        raise BadInput(f"{shown}: not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise BadInput(f"{shown}: empty file (0 bytes)")
    if size > max_bytes:
        raise BadInput(f"{shown}: {size / 1e6:.1f} MB is over the consent form limit of {max_bytes / 1e6:g} MB")
    with open(p, "rb") as fh:
        head = fh.read(16)
    for magic, mime, ext in FORM_TYPES:
        if head.startswith(magic):
            return p, mime, ext
    raise BadInput(f"{shown}: not a PDF, JPEG or PNG (checked by content, whatever the file is called)")


def add_consent(
    session: Session,
    actor: str,
    store: Store,
    policy: ConsentPolicy,
    *,
    person_id: int,
    scopes: Sequence[str],
    signed_on: date,
    form: str | os.PathLike[str],
    expires_on: date | None = None,
    guardian: str | None = None,
    method: str = "paper",
    verified_by: str | None = None,
    wording_version: str = "",
    collected_by: str = "",
    notes: str = "",
    supersedes: int | None = None,
    created_forms: list[str] | None = None,
) -> Consent:
    """Record a signed consent and store its form privately.

    Every check runs before the form is stored; the form's key is appended to
    ``created_forms`` when this call stored new bytes, so that a caller whose
    transaction fails can remove it. Raises NotFound or BadInput.
    """
    person = get_person(session, person_id)
    if person.erased_at is not None:
        raise BadInput(f"person {person_id} was erased: no new consent can be recorded for them")
    scopes = [s.strip() for s in scopes if s.strip()]
    if not scopes:
        raise BadInput("--scope: give at least one scope")
    unknown = [s for s in scopes if s not in policy.scopes]
    if unknown:
        raise BadInput(f"--scope: {unknown[0]!r} is not one of {', '.join(policy.scopes)}")
    today = utc_today()
    if signed_on > today:
        raise BadInput(f"--signed {signed_on.isoformat()} is in the future")
    if expires_on is not None and expires_on <= signed_on:
        raise BadInput(f"--expires {expires_on.isoformat()} is not after --signed {signed_on.isoformat()}")
    if method not in METHODS:
        raise BadInput(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    guardian = validate.text(guardian, "--guardian", 300) if guardian else None
    if person.born is not None and age_on(person.born, signed_on) < policy.minor_age and not guardian:
        raise BadInput(
            f"{person.name} was {age_on(person.born, signed_on)} when this was signed "
            f"(under {policy.minor_age}): a --guardian is required"
        )
    old = get_consent(session, supersedes) if supersedes is not None else None
    if old is not None and old.person_id != person.id:
        raise BadInput(f"--supersedes {supersedes}: that consent is for another person")
    path, mime, ext = check_form(form, policy.max_form_bytes)

    stored = store.put_private(path, "private/consent", ext)
    if stored.created and created_forms is not None:
        created_forms.append(stored.key)
    consent = Consent(
        person_id=person.id, scopes=scopes, signed_on=signed_on, expires_on=expires_on,
        signed_by="guardian" if guardian else "self", guardian=guardian, method=method,
        wording_version=validate.text(wording_version, "--wording", 60), collected_by=validate.text(collected_by, "--collected-by", 200),
        notes=validate.text(notes, "--notes", 5000), form_key=stored.key, form_sha256=stored.sha256, form_mime=mime,
        form_size=stored.size, status="pending", withdraw_reason="", supersedes_id=supersedes,
    )  # fmt: skip
    session.add(consent)
    session.flush()
    audit.record(session, actor, "consent.add", f"consent:{consent.id}", person=person.id, scopes=scopes,
                 signed_on=signed_on.isoformat(), expires_on=expires_on.isoformat() if expires_on else None,
                 films=films_of(session, person.id))  # fmt: skip
    if verified_by:
        verify_consent(session, actor, consent.id, verified_by)
    return consent


def verify_consent(session: Session, actor: str, consent_id: int, by: str) -> Consent:
    consent = get_consent(session, consent_id)
    by = validate.text(by, "--by", 200, required=True)
    if consent.status == "verified":
        raise BadInput(f"consent {consent_id} is already verified (by {consent.verified_by})")
    if consent.status != "pending":
        raise BadInput(f"consent {consent_id} is {consent.status}: only a pending consent can be verified")
    consent.status, consent.verified_by, consent.verified_at = "verified", by, utcnow()
    consent.changed_at = utcnow()
    if consent.supersedes_id is not None:
        old = get_consent(session, consent.supersedes_id)
        if old.status in ("pending", "verified"):
            old.status, old.changed_at = "superseded", utcnow()
            audit.record(session, actor, "consent.supersede", f"consent:{old.id}", by_consent=consent.id)
    audit.record(session, actor, "consent.verify", f"consent:{consent.id}", by=by,
                 films=films_of(session, consent.person_id))  # fmt: skip
    return consent


def withdraw_consent(session: Session, actor: str, consent_id: int, reason: str) -> tuple[Consent, bool]:
    """Withdraw a consent; returns (consent, True) if it was already withdrawn (nothing changes)."""
    consent = get_consent(session, consent_id)
    if consent.status == "withdrawn":
        return consent, True
    consent.status, consent.withdrawn_at, consent.withdrawn_by = "withdrawn", utcnow(), actor
    consent.withdraw_reason = validate.text(reason, "--reason", 2000)
    consent.changed_at = utcnow()
    audit.record(session, actor, "consent.withdraw", f"consent:{consent.id}", reason=consent.withdraw_reason,
                 films=films_of(session, consent.person_id))  # fmt: skip
    return consent, False


def parse_ranges(values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        m = RANGE_RE.match(value.strip())
        if not m or validate.timecode(m.group(1), "--at") >= validate.timecode(m.group(2), "--at"):
            raise BadInput(f"--at {value!r}: give a time range such as 00:01:00-00:01:30")
        out.append(value.strip())
    return out


def add_appearance(
    session: Session, actor: str, slug: str, person_id: int, identifiable: bool, ranges: Sequence[str]
) -> Appearance:
    film = get_film(session, slug, for_update=True)
    person = get_person(session, person_id)
    ranges = parse_ranges(ranges)
    existing = session.scalars(select(Appearance).where(Appearance.film_id == film.id,
                                                        Appearance.person_id == person.id)).one_or_none()  # fmt: skip
    if existing is not None:
        existing.identifiable, existing.ranges = identifiable, ranges
        appearance = existing
    else:
        appearance = Appearance(film_id=film.id, person_id=person.id, identifiable=identifiable, ranges=ranges)
        session.add(appearance)
    session.flush()
    audit.record(session, actor, "appearance.set", f"film:{slug}", person=person.id, identifiable=identifiable,
                 ranges=ranges)  # fmt: skip
    return appearance


def erase_person(session: Session, actor: str, person_id: int) -> tuple[Person, list[str]]:
    """Remove a person's personal data; returns the form keys to delete after commit.

    Kept: that the person existed (id, a tombstone name), their appearances
    (so their films stay blocked) and their consents' dates, scopes and
    statuses (withdrawn, if they were not already), as evidence of what was
    agreed and when. Removed: name, birth date, contact, signed forms.
    """
    person = get_person(session, person_id)
    if person.erased_at is not None:
        raise BadInput(f"person {person_id} was already erased on {person.erased_at.date().isoformat()}")
    forms = []
    now = utcnow()
    for consent in person.consents:
        if consent.status != "withdrawn":
            consent.status, consent.withdrawn_at, consent.withdrawn_by = "withdrawn", now, actor
            consent.withdraw_reason = "person erased"
        if consent.form_key:
            forms.append(consent.form_key)
        consent.form_key, consent.notes, consent.changed_at = None, "", now
        consent.guardian = "(erased)" if consent.signed_by == "guardian" else None
    person.name, person.born, person.contact, person.erased_at = f"(erased person {person.id})", None, None, now
    audit.record(session, actor, "person.erase", f"person:{person.id}", films=films_of(session, person.id),
                 consents=[c.id for c in person.consents])  # fmt: skip
    return person, forms


def expiring(session: Session, at: datetime, within_days: int) -> list[dict]:
    """Verified consents expired at ``at`` or expiring within ``within_days``, with the films they block."""
    today = at.astimezone(timezone.utc).date()
    horizon = today.toordinal() + within_days
    out = []
    for consent in session.scalars(select(Consent).where(Consent.status == "verified",
                                                         Consent.expires_on.is_not(None)).order_by(Consent.expires_on)):  # fmt: skip
        if consent.expires_on.toordinal() > horizon:
            continue
        expired = consent.expires_on <= today
        out.append({
            "consent": consent.id, "person": consent.person_id, "name": consent.person.name,
            "expires_on": consent.expires_on.isoformat(), "expired": expired,
            "days_left": consent.expires_on.toordinal() - today.toordinal(),
            "films": films_of(session, consent.person_id),
        })  # fmt: skip
    return out
