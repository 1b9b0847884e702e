"""The publication gates: one pure function, used by review, approve and publish.

Facts about a film go in (plain frozen data, assembled from the catalogue by
the caller) together with a moment; per-gate results come out. Nothing here
reads a database, a file or the clock, so the same facts at the same time
always give the same answer.

A film is publishable at time T only if, for its current cut:

1. ``derivatives`` — every derivative recipe is built and its files are in place;
2. ``qc`` — technical QC has no error-level finding;
3. ``captions`` — every required caption language has an approved track for this cut;
4. ``consent`` — every identifiable person in it has a consent that is verified,
   not withdrawn, not expired at T, covering the publish scope, with a guardian
   where the person was under the age threshold when it was signed;
5. ``approval`` — a staff approval of this cut exists and is not void;
6. ``embargo`` — ``publish_at`` is not after T.

A gate whose checking is not available (e.g. captions before that work exists)
fails: nothing passes by default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

GATES = ("derivatives", "qc", "captions", "consent", "approval", "embargo")
# Gates that must pass before a cut can be approved (approval itself and the
# embargo are not preconditions: films are approved ahead of launch day).
APPROVAL_NEEDS = ("derivatives", "qc", "captions", "consent")


@dataclass(frozen=True)
class Check:
    """The outcome of a gate checked elsewhere (derivatives, QC, captions)."""

    ok: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentFacts:
    id: int
    status: str  # pending | verified | withdrawn | superseded
    scopes: tuple[str, ...]
    signed_on: date
    expires_on: date | None = None  # no longer valid from this day on
    guardian: str | None = None
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class PersonFacts:
    id: int
    name: str
    born: date | None = None
    erased: bool = False
    consents: tuple[ConsentFacts, ...] = ()


@dataclass(frozen=True)
class AppearanceFacts:
    person: PersonFacts
    identifiable: bool = True


@dataclass(frozen=True)
class ApprovalFacts:
    id: int
    cut_sha256: str
    by: str
    at: datetime
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FilmFacts:
    slug: str
    cut_sha256: str | None
    publish_at: datetime | None = None
    derivatives: Check = Check(False, ("not available",))
    qc: Check = Check(False, ("not available",))
    captions: Check = Check(False, ("not available",))
    appearances: tuple[AppearanceFacts, ...] = ()
    approval: ApprovalFacts | None = None  # the latest approval of the film, if any
    caption_tracks: tuple[tuple[str, str], ...] = ()  # (language, sha256) of the approved tracks
    taken_down_at: datetime | None = None  # a take-down voids the approvals made before it


@dataclass(frozen=True)
class Policy:
    publish_scope: str = "online"
    minor_age: int = 16


@dataclass(frozen=True)
class GateResult:
    gate: str
    ok: bool
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "ok": self.ok, "reasons": list(self.reasons)}


def age_on(born: date, day: date) -> int:
    """Whole years from ``born`` to ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def consent_problem(person: PersonFacts, consent: ConsentFacts, at: datetime, policy: Policy) -> str | None:
    """Why ``consent`` does not let ``person``'s appearance be published at ``at``; None if it does."""
    today = at.astimezone(timezone.utc).date()
    if consent.status == "pending":
        return f"consent {consent.id} is waiting for verification"
    if consent.status == "withdrawn":
        when = f" on {consent.withdrawn_at.date().isoformat()}" if consent.withdrawn_at else ""
        return f"consent {consent.id} was withdrawn{when}"
    if consent.status == "superseded":
        return f"consent {consent.id} was superseded"
    if consent.status != "verified":
        return f"consent {consent.id} has status {consent.status!r}"
    if consent.signed_on > today:
        return f"consent {consent.id} is dated {consent.signed_on.isoformat()}, in the future"
    if consent.expires_on is not None and consent.expires_on <= today:
        return f"consent {consent.id} expired on {consent.expires_on.isoformat()}"
    if policy.publish_scope not in consent.scopes:
        return f"consent {consent.id} does not cover '{policy.publish_scope}'"
    if person.born is not None and age_on(person.born, consent.signed_on) < policy.minor_age and not consent.guardian:
        age = age_on(person.born, consent.signed_on)
        return f"consent {consent.id} was signed at age {age} without a guardian"
    return None


def consent_gate(film: FilmFacts, at: datetime, policy: Policy) -> GateResult:
    reasons = []
    for appearance in film.appearances:
        if not appearance.identifiable:
            continue
        person = appearance.person
        if person.erased:
            reasons.append(f"person {person.id} was erased: a film showing them cannot be published")
            continue
        if not person.consents:
            reasons.append(f"{person.name}: no consent recorded")
            continue
        problems = [consent_problem(person, c, at, policy) for c in person.consents]
        if all(problems):
            reasons.append(f"{person.name}: " + "; ".join(p for p in problems if p))
    if not reasons:
        shown = sum(1 for a in film.appearances if a.identifiable)
        reasons = [f"all {shown} identifiable people have a valid consent" if shown
                   else "no identifiable person is recorded in this film"]  # fmt: skip
        return GateResult("consent", True, tuple(reasons))
    return GateResult("consent", False, tuple(reasons))


def consent_snapshot(film: FilmFacts) -> dict[str, Any]:
    """The consent state an approval is bound to (changes to it void the approval)."""
    people = []
    for appearance in sorted(film.appearances, key=lambda a: a.person.id):
        person = appearance.person
        people.append({
            "person": person.id,
            "identifiable": appearance.identifiable,
            "erased": person.erased,
            "born": person.born.isoformat() if person.born else None,
            "consents": [
                {"id": c.id, "status": c.status, "scopes": sorted(c.scopes), "signed_on": c.signed_on.isoformat(),
                 "expires_on": c.expires_on.isoformat() if c.expires_on else None, "guardian": bool(c.guardian)}
                for c in sorted(person.consents, key=lambda c: c.id)
            ],
        })  # fmt: skip
    return {"people": people}


def _snapshot_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human descriptions of what differs between two consent snapshots."""
    before = {p["person"]: p for p in old.get("people", [])}
    after = {p["person"]: p for p in new.get("people", [])}
    changes = []
    for pid in sorted(set(before) | set(after)):
        b, a = before.get(pid), after.get(pid)
        if b is None:
            changes.append(f"person {pid} was added to the film")
        elif a is None:
            changes.append(f"person {pid} was removed from the film")
        elif b != a:
            old_consents = {c["id"]: c for c in b["consents"]}
            for c in a["consents"]:
                prior = old_consents.get(c["id"])
                if prior is None:
                    changes.append(f"consent {c['id']} was added")
                elif prior["status"] != c["status"]:
                    changes.append(f"consent {c['id']} is now {c['status']}")
                elif prior != c:
                    changes.append(f"consent {c['id']} was changed")
            if a["erased"] and not b["erased"]:
                changes.append(f"person {pid} was erased")
            if a["identifiable"] != b["identifiable"]:
                changes.append(f"person {pid}'s appearance was changed")
    return changes or ["consent records changed"]


def approval_gate(film: FilmFacts) -> GateResult:
    approval = film.approval
    if approval is None:
        return GateResult("approval", False, ("no staff approval yet (medialib approve)",))
    if film.taken_down_at is not None and approval.at <= film.taken_down_at:
        return GateResult("approval", False, (
            f"the approval by {approval.by} is void: the film was taken down on "
            f"{film.taken_down_at.date().isoformat()}; approve again to publish it",))  # fmt: skip
    if film.cut_sha256 != approval.cut_sha256:
        return GateResult("approval", False, (
            f"the approval by {approval.by} was for cut {approval.cut_sha256[:12]}; the current cut is "
            f"{(film.cut_sha256 or 'none')[:12]}: a new cut voids it",
        ))  # fmt: skip
    approved = approval.snapshot.get("consent")
    if approved is None or "captions" not in approval.snapshot:
        return GateResult("approval", False, (
            f"the approval by {approval.by} recorded no consent or caption state to check against; approve again",
        ))  # fmt: skip
    if approved != consent_snapshot(film):
        changes = _snapshot_changes(approved, consent_snapshot(film))
        return GateResult("approval", False, (
            f"the approval by {approval.by} is void: since then " + ", ".join(changes),
        ))  # fmt: skip
    if approval.snapshot["captions"] != caption_snapshot(film):
        return GateResult("approval", False, (f"the approval by {approval.by} is void: the captions changed since",))
    return GateResult("approval", True, (f"approved by {approval.by} on {approval.at.date().isoformat()}",))


def caption_snapshot(film: FilmFacts) -> list[list[str]]:
    """The caption tracks an approval is bound to: [language, sha256] pairs."""
    return sorted([lang, sha] for lang, sha in film.caption_tracks)


def embargo_gate(film: FilmFacts, at: datetime) -> GateResult:
    if film.publish_at is None:
        return GateResult("embargo", True, ("no embargo",))
    if film.publish_at > at:
        return GateResult("embargo", False, (f"embargoed until {film.publish_at.isoformat().replace('+00:00', 'Z')}",))
    return GateResult("embargo", True, (f"embargo ended {film.publish_at.isoformat().replace('+00:00', 'Z')}",))


def evaluate(film: FilmFacts, at: datetime, policy: Policy = Policy()) -> list[GateResult]:
    """Every gate for ``film`` at time ``at`` (timezone-aware), in GATES order."""
    if at.tzinfo is None:
        raise ValueError("evaluate needs a timezone-aware time")
    no_cut = ("the film has no cut yet",)
    results = [
        GateResult("derivatives", film.cut_sha256 is not None and film.derivatives.ok,
                   no_cut if film.cut_sha256 is None else film.derivatives.reasons),
        GateResult("qc", film.cut_sha256 is not None and film.qc.ok,
                   no_cut if film.cut_sha256 is None else film.qc.reasons),
        GateResult("captions", film.captions.ok, film.captions.reasons),
        consent_gate(film, at, policy),
        approval_gate(film),
        embargo_gate(film, at),
    ]  # fmt: skip
    return results


def publishable(results: list[GateResult]) -> bool:
    return all(r.ok for r in results)


def unmet_for_approval(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if r.gate in APPROVAL_NEEDS and not r.ok]


def facts_dict(film: FilmFacts) -> dict[str, Any]:
    """FilmFacts as plain data (for debugging and audit details)."""
    return asdict(film)
