"""The publication gates as a pure function: medialib.catalog.gates.evaluate.

No database, no files, no clock. Random FilmFacts are judged against an
oracle written here from DESIGN.md ("The publication gates"), a sequence of
consent/approval operations is checked after every step, and the boundaries
(birthdays, 29 February, expiry day, embargo instant) are pinned by unit tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from medialib.catalog.gates import (
    GATES,
    AppearanceFacts,
    ApprovalFacts,
    Check,
    ConsentFacts,
    FilmFacts,
    PersonFacts,
    Policy,
    age_on,
    caption_snapshot,
    consent_snapshot,
    evaluate,
    publishable,
    unmet_for_approval,
)

SCOPES = ("filming", "online", "social", "broadcast", "screenings", "education")
STATUSES = ("pending", "verified", "withdrawn", "superseded")
NAMES = ("Ailsa Grant", "Sam Okafor", "Morag Stewart", "Eilidh Ross", "Tomasz Nowak", "Priya Shah")
CUT_A, CUT_B = "a" * 64, "b" * 64
OK = Check(True, ("fine",))
NOT_OK = Check(False, ("broken",))


# --- the oracle: DESIGN.md's rules, written independently of medialib ----------


def oracle_age(born: date, day: date) -> int:
    """Whole years lived on ``day``; someone born on 29 February has their
    birthday on 1 March in a common year."""
    try:
        anniversary = born.replace(year=day.year)
    except ValueError:  # 29 February in a common year
        anniversary = date(day.year, 3, 1)
    return day.year - born.year - (1 if day < anniversary else 0)


def oracle_consent_valid(person: PersonFacts, c: ConsentFacts, at: datetime, policy: Policy) -> bool:
    today = at.date()
    return (
        c.status == "verified"
        and c.signed_on <= today
        and (c.expires_on is None or today < c.expires_on)
        and policy.publish_scope in c.scopes
        and (person.born is None or oracle_age(person.born, c.signed_on) >= policy.minor_age or bool(c.guardian))
    )


def oracle_consent_ok(film: FilmFacts, at: datetime, policy: Policy) -> bool:
    for a in film.appearances:
        if not a.identifiable:
            continue
        if a.person.erased:
            return False
        if not any(oracle_consent_valid(a.person, c, at, policy) for c in a.person.consents):
            return False
    return True


def oracle_approval_ok(film: FilmFacts) -> bool:
    ap = film.approval
    return (
        ap is not None
        and ap.cut_sha256 == film.cut_sha256
        and ap.snapshot.get("consent") == consent_snapshot(film)
        and ap.snapshot.get("captions") == caption_snapshot(film)
    )


def oracle_embargo_ok(film: FilmFacts, at: datetime) -> bool:
    return film.publish_at is None or film.publish_at <= at


def oracle_publishable(film: FilmFacts, at: datetime, policy: Policy) -> bool:
    return (
        film.cut_sha256 is not None
        and film.derivatives.ok
        and film.qc.ok
        and film.captions.ok
        and oracle_consent_ok(film, at, policy)
        and oracle_approval_ok(film)
        and oracle_embargo_ok(film, at)
    )


def gate(results, name):
    return next(r for r in results if r.gate == name)


def stored(snapshot: dict) -> dict:
    """An approval snapshot as it comes back from the database (JSON)."""
    return json.loads(json.dumps(snapshot))


# --- random facts ----------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2021, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC))
# day offsets from T's date: mostly near the boundaries, sometimes far away
near = st.one_of(st.integers(-3, 3), st.integers(-900, 900))
checks = st.one_of(st.just(OK), st.just(OK), st.just(OK), st.just(NOT_OK),
                   st.builds(Check, st.booleans(), st.tuples(st.text(max_size=5))))


def anniversary(born: date, years: int) -> date:
    """The day someone born on ``born`` turns ``years`` (29 February: 1 March in a common year)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return date(born.year + years, 3, 1)


@st.composite
def consents_for(draw, today: date, ids, born: date | None, minor_age: int):
    kind = draw(st.integers(0, 5))
    if kind <= 1:  # valid but for one date, right at its boundary
        signed = today + timedelta(days=draw(st.sampled_from([0, 0, 1, -1])))
        if born is not None and draw(st.booleans()):  # signed on the day they came of age, or the day before
            coming_of_age = anniversary(born, minor_age) - timedelta(days=draw(st.integers(0, 1)))
            signed = min(coming_of_age, today)
        expires = draw(st.sampled_from([None, None, today, today + timedelta(days=1), signed + timedelta(days=1)]))
        return ConsentFacts(next(ids), "verified", ("filming", "online", "broadcast"), signed, expires,
                            draw(st.sampled_from([None, None, "Jean Grant"])))  # fmt: skip
    if kind > 2:  # a consent that usually holds, so that films do pass
        signed = today - timedelta(days=draw(st.integers(0, 900)))
        return ConsentFacts(
            id=next(ids), status=draw(st.sampled_from(("verified",) * 9 + ("pending",))),
            scopes=draw(st.sampled_from([("filming", "online", "broadcast"), ("online",), ("filming", "online")])),
            signed_on=signed, expires_on=draw(st.one_of(st.none(), st.integers(-2, 900).map(
                lambda d: today + timedelta(days=d)))),
            guardian=draw(st.sampled_from([None, "Jean Grant"])),
        )  # fmt: skip
    signed = today + timedelta(days=draw(near))
    expires = draw(st.one_of(st.none(), near.map(lambda d: today + timedelta(days=d)),
                             st.integers(1, 900).map(lambda d: signed + timedelta(days=d))))  # fmt: skip
    status = draw(st.sampled_from(STATUSES + ("verified",) * 2))
    return ConsentFacts(
        id=next(ids), status=status,
        scopes=tuple(draw(st.lists(st.sampled_from(SCOPES), unique=True, max_size=4))),
        signed_on=signed, expires_on=expires,
        guardian=draw(st.sampled_from([None, None, "", "Jean Grant"])),
        withdrawn_at=draw(st.one_of(st.none(), moments)) if status == "withdrawn" else None,
    )  # fmt: skip


@st.composite
def people(draw, today: date, pid: int, ids, minor_age: int = 16):
    born = draw(st.one_of(
        st.none(),
        # came of age in the last three years: consents can be signed either side of that day
        st.integers(1, 3 * 366).map(lambda d: anniversary(today - timedelta(days=d), -minor_age)),
        st.sampled_from([date(2004, 2, 29), date(2008, 2, 29), date(2012, 2, 29)]),
        st.integers(10 * 365, 20 * 365).map(lambda d: today - timedelta(days=d)),  # around the minor age
        st.dates(min_value=date(1930, 1, 1), max_value=today),
    ))  # fmt: skip
    if born is not None and born > today:
        born = None
    return PersonFacts(
        id=pid, name=f"{NAMES[pid % len(NAMES)]} {pid}", born=born,
        erased=draw(st.integers(0, 14)) == 0,
        consents=tuple(draw(st.lists(consents_for(today, ids, born, minor_age), max_size=3)))
        + ((ConsentFacts(next(ids), "verified", SCOPES, today - timedelta(days=draw(st.integers(0, 3000))),
                         guardian="Jean Grant"),) if draw(st.integers(0, 2)) == 0 else ()),
    )  # fmt: skip


@st.composite
def films(draw):
    at = draw(moments)
    today = at.date()
    policy = Policy(publish_scope=draw(st.sampled_from(["online", "online", "online", "broadcast"])),
                    minor_age=draw(st.sampled_from([16, 16, 12, 18])))  # fmt: skip
    counter = iter(range(1, 10_000))
    n = draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))
    appearances = tuple(
        AppearanceFacts(draw(people(today, pid, counter, policy.minor_age)), identifiable=draw(st.integers(0, 4)) > 0)
        for pid in range(1, n + 1)
    )
    cut = draw(st.sampled_from([CUT_A, CUT_A, CUT_A, CUT_B, None]))
    tracks = tuple(draw(st.lists(st.tuples(st.sampled_from(["en", "gd"]), st.sampled_from(["1" * 64, "2" * 64])),
                                 unique_by=lambda t: t[0], max_size=2)))  # fmt: skip
    seconds = st.integers(-3 * 86400, 3 * 86400)
    publish_at = draw(st.one_of(st.none(), st.just(at), seconds.map(lambda s: at + timedelta(seconds=s))))
    film = FilmFacts(slug="hope-street", cut_sha256=cut, publish_at=publish_at, derivatives=draw(checks),
                     qc=draw(checks), captions=draw(checks), appearances=appearances,
                     caption_tracks=tracks)  # fmt: skip
    kind = draw(st.sampled_from(["none", "matching", "matching", "matching", "other cut", "stale consent",
                                 "stale captions"]))  # fmt: skip
    snapshot = {"consent": consent_snapshot(film), "captions": caption_snapshot(film)}
    approved_cut = cut or CUT_A
    if kind == "other cut":
        approved_cut = draw(st.sampled_from([CUT_A, CUT_B]))
    elif kind == "stale consent":  # approved when the consent records were (perhaps) different
        other = draw(films_without_approval(today))
        snapshot["consent"] = consent_snapshot(other)
    elif kind == "stale captions":
        snapshot["captions"] = draw(st.sampled_from([[], [["en", "1" * 64]], [["en", "2" * 64]]]))
    if kind != "none":
        approved_at = at - timedelta(days=draw(st.integers(-5, 30)))
        film = replace(film, approval=ApprovalFacts(1, approved_cut, "Morag Stewart", approved_at, stored(snapshot)))
    return film, at, policy


@st.composite
def films_without_approval(draw, today: date):
    counter = iter(range(1, 10_000))
    n = draw(st.integers(0, 3))
    return FilmFacts(slug="x", cut_sha256=CUT_A, appearances=tuple(
        AppearanceFacts(draw(people(today, pid, counter)), draw(st.booleans())) for pid in range(1, n + 1)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(films())
def test_publishable_exactly_when_the_oracle_says_so(case):
    film, at, policy = case
    results = evaluate(film, at, policy)
    assert [r.gate for r in results] == list(GATES)
    assert publishable(results) == oracle_publishable(film, at, policy)
    # and gate by gate, so a failure says which rule disagrees
    assert gate(results, "consent").ok == oracle_consent_ok(film, at, policy)
    assert gate(results, "approval").ok == oracle_approval_ok(film)
    assert gate(results, "embargo").ok == oracle_embargo_ok(film, at)
    assert gate(results, "derivatives").ok == (film.cut_sha256 is not None and film.derivatives.ok)
    assert gate(results, "captions").ok == film.captions.ok
    for r in results:
        assert r.reasons, f"{r.gate} gives no reason"
    # every blocked person is named in the consent gate's reasons (so staff know whom to call)
    consent = gate(results, "consent")
    for a in film.appearances:
        p = a.person
        if a.identifiable and (p.erased or not any(oracle_consent_valid(p, c, at, policy) for c in p.consents)):
            assert any(r.startswith((f"{p.name}: ", f"person {p.id} was erased")) for r in consent.reasons)
    # deterministic: the same facts at the same time give the same answer
    assert evaluate(film, at, policy) == results
    assert [r.gate for r in unmet_for_approval(results)] == [
        r.gate for r in results if r.gate in ("derivatives", "qc", "captions", "consent") and not r.ok]


@settings(max_examples=200, deadline=None)
@given(at=moments, minor_age=st.sampled_from([12, 16, 18]), signed=st.integers(-2, 2), expires=st.integers(-2, 3),
       birthday=st.one_of(st.none(), st.integers(-2, 2)), guardian=st.booleans(), no_expiry=st.booleans())  # fmt: skip
def test_one_consent_at_its_boundaries(at, minor_age, signed, expires, birthday, guardian, no_expiry):
    """One person, one verified consent, every date within a day or two of a
    boundary: signing day vs today, expiry day vs today, coming of age vs signing."""
    today = at.date()
    signed_on = today + timedelta(days=signed)
    # born so that they come of age ``birthday`` days after the signing day
    born = None if birthday is None else anniversary(signed_on + timedelta(days=birthday), -minor_age)
    c = ConsentFacts(7, "verified", ("online",), signed_on, None if no_expiry else today + timedelta(days=expires),
                     "Jean Grant" if guardian else None)  # fmt: skip
    p = PersonFacts(1, "Ailsa Grant", born, False, (c,))
    policy = Policy(minor_age=minor_age)
    film = film_with(p)
    result = gate(evaluate(film, at, policy), "consent")
    assert result.ok == oracle_consent_valid(p, c, at, policy), result.reasons
    assert publishable(evaluate(film, at, policy)) == oracle_publishable(film, at, policy)


# --- a sequence of operations --------------------------------------------------


class ConsentLifecycle(RuleBasedStateMachine):
    """People, consents, appearances, cuts, captions, time and approvals change
    in any order; after every step the film is publishable exactly when a
    model kept here (not medialib's snapshot) says it should be."""

    policy = Policy()

    @initialize(start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1),
                                   timezones=st.just(UTC)))  # fmt: skip
    def start(self, start):
        self.t = start
        self.next_id = 1
        self.people: dict[int, dict] = {}
        self.consents: dict[int, dict] = {}
        self.appearances: dict[int, bool] = {}  # person id -> identifiable
        self.cut = CUT_A
        self.cuts = 1
        self.tracks = {"en": "1" * 64}
        self.qc_ok = True
        self.publish_at = None
        self.approval: ApprovalFacts | None = None
        self.model_approval = None  # (cut, model state, captions) at approval time

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # the facts as medialib's review would assemble them
    def facts(self) -> FilmFacts:
        apps = []
        for pid in sorted(self.appearances):
            p = self.people[pid]
            cs = tuple(ConsentFacts(cid, c["status"], tuple(c["scopes"]), c["signed_on"], c["expires_on"],
                                    c["guardian"], c["withdrawn_at"])
                       for cid, c in sorted(self.consents.items()) if c["person"] == pid)  # fmt: skip
            apps.append(AppearanceFacts(PersonFacts(pid, p["name"], p["born"], p["erased"], cs), self.appearances[pid]))
        return FilmFacts(slug="hope-street", cut_sha256=self.cut, publish_at=self.publish_at, derivatives=OK,
                         qc=OK if self.qc_ok else NOT_OK, captions=OK, appearances=tuple(apps),
                         approval=self.approval, caption_tracks=tuple(sorted(self.tracks.items())))  # fmt: skip

    # the model
    def model_state(self):
        return tuple(
            (pid, self.appearances[pid], self.people[pid]["erased"], self.people[pid]["born"],
             tuple((cid, c["status"], frozenset(c["scopes"]), c["signed_on"], c["expires_on"], bool(c["guardian"]))
                   for cid, c in sorted(self.consents.items()) if c["person"] == pid))
            for pid in sorted(self.appearances)
        )  # fmt: skip

    def valid(self, cid: int, at: datetime | None = None) -> bool:
        c, today = self.consents[cid], (at or self.t).date()
        p = self.people[c["person"]]
        return (c["status"] == "verified" and c["signed_on"] <= today
                and (c["expires_on"] is None or today < c["expires_on"]) and "online" in c["scopes"]
                and (p["born"] is None or oracle_age(p["born"], c["signed_on"]) >= 16
                     or bool(c["guardian"])))  # fmt: skip

    def model_consent_ok(self) -> bool:
        for pid, identifiable in self.appearances.items():
            if not identifiable:
                continue
            if self.people[pid]["erased"] or not any(self.valid(cid) for cid, c in self.consents.items()
                                                     if c["person"] == pid):  # fmt: skip
                return False
        return True

    def model_approval_ok(self) -> bool:
        return self.model_approval == (self.cut, self.model_state(), tuple(sorted(self.tracks.items())))

    # operations
    @rule(age_days=st.one_of(st.none(), st.integers(5 * 365, 70 * 365), st.integers(15 * 365, 17 * 365)))
    def add_person(self, age_days):
        pid = self.new_id()
        born = None if age_days is None else self.t.date() - timedelta(days=age_days)
        self.people[pid] = {"name": f"{NAMES[pid % len(NAMES)]} {pid}", "born": born, "erased": False}

    @rule(age_days=st.one_of(st.none(), st.integers(5 * 365, 70 * 365)), signed=st.integers(-400, 0),
          length=st.one_of(st.none(), st.integers(401, 800)),
          guardian=st.sampled_from([None, "Jean Grant"]))  # fmt: skip
    def someone_in_the_film_signs(self, age_days, signed, length, guardian):
        """The usual run of staff work: a person, their consent (verified) and their appearance."""
        self.add_person(age_days)
        pid = self.next_id
        self.consents[self.new_id()] = {
            "person": pid, "status": "verified", "scopes": ["filming", "online"],
            "signed_on": self.t.date() + timedelta(days=signed), "guardian": guardian,
            "expires_on": None if length is None else self.t.date() + timedelta(days=signed + length),
            "withdrawn_at": None,
        }  # fmt: skip
        self.appearances[pid] = True

    @precondition(lambda self: any(not p["erased"] for p in self.people.values()))
    @rule(data=st.data(), signed=st.integers(-400, 2), length=st.one_of(st.none(), st.integers(1, 400)),
          scopes=st.one_of(st.just(["filming", "online"]), st.lists(st.sampled_from(SCOPES), min_size=1, unique=True)),
          guardian=st.sampled_from([None, "Jean Grant"]))  # fmt: skip
    def add_consent(self, data, signed, length, scopes, guardian):
        pid = data.draw(st.sampled_from(sorted(p for p, v in self.people.items() if not v["erased"])))
        signed_on = self.t.date() + timedelta(days=signed)
        self.consents[self.new_id()] = {
            "person": pid, "status": "pending", "scopes": scopes, "signed_on": signed_on,
            "expires_on": None if length is None else signed_on + timedelta(days=length),
            "guardian": guardian, "withdrawn_at": None,
        }  # fmt: skip

    @precondition(lambda self: self.people)
    @rule(data=st.data(), identifiable=st.integers(0, 3))
    def appearance(self, data, identifiable):
        pid = data.draw(st.sampled_from(sorted(self.people)))
        self.appearances[pid] = identifiable > 0

    @precondition(lambda self: any(c["status"] == "pending" for c in self.consents.values()))
    @rule(data=st.data())
    def verify(self, data):
        cid = data.draw(st.sampled_from(sorted(k for k, c in self.consents.items() if c["status"] == "pending")))
        self.consents[cid]["status"] = "verified"

    @precondition(lambda self: any(c["status"] != "withdrawn" for c in self.consents.values()))
    @rule(data=st.data())
    def withdraw(self, data):
        self._withdraw(data.draw(st.sampled_from(sorted(k for k, c in self.consents.items()
                                                        if c["status"] != "withdrawn"))))  # fmt: skip

    @rule(data=st.data())
    def approve_then_a_consent_is_withdrawn(self, data):
        """The case that matters most: someone withdraws after the film was approved."""
        self.approve("Morag Stewart")
        shown = [k for k, c in self.consents.items() if self.valid(k) and self.appearances.get(c["person"])]
        if shown:
            self._withdraw(data.draw(st.sampled_from(sorted(shown))))

    def _withdraw(self, cid: int) -> None:
        pid = self.consents[cid]["person"]
        before = evaluate(self.facts(), self.t, self.policy)
        others = [k for k, c in self.consents.items() if c["person"] == pid and k != cid]
        only_valid = self.valid(cid) and self.appearances.get(pid) is True and not any(self.valid(k) for k in others)
        self.consents[cid].update(status="withdrawn", withdrawn_at=self.t)
        after = evaluate(self.facts(), self.t, self.policy)
        if gate(before, "approval").ok and pid in self.appearances:
            event("a withdrawal voided an approval")
            approval = gate(after, "approval")
            assert not approval.ok
            assert any(re.search(rf"\bconsent {cid}\b", r) for r in approval.reasons), approval.reasons
        if only_valid:
            event("withdrawal of the only valid consent" + (" of a publishable film" if publishable(before) else ""))
            assert not publishable(after)
            consent = gate(after, "consent")
            assert not consent.ok
            assert any(re.search(rf"\bconsent {cid} was withdrawn\b", r) for r in consent.reasons), consent.reasons

    @precondition(lambda self: any(not p["erased"] for p in self.people.values()))
    @rule(data=st.data())
    def erase(self, data):
        pid = data.draw(st.sampled_from(sorted(p for p, v in self.people.items() if not v["erased"])))
        self.people[pid].update(name=f"(erased person {pid})", born=None, erased=True)
        for c in self.consents.values():
            if c["person"] == pid and c["status"] != "withdrawn":
                c.update(status="withdrawn", withdrawn_at=self.t)

    @rule(days=st.integers(1, 400), seconds=st.integers(0, 86399))
    def time_passes(self, days, seconds):
        self.t += timedelta(days=days, seconds=seconds)

    @precondition(lambda self: any(c["expires_on"] and c["expires_on"] > self.t.date() for c in self.consents.values()))
    @rule(data=st.data(), seconds=st.integers(0, 86399))
    def time_passes_an_expiry(self, data, seconds):
        later = sorted(k for k, c in self.consents.items() if c["expires_on"] and c["expires_on"] > self.t.date())
        shown = [k for k in later if self.valid(k) and self.appearances.get(self.consents[k]["person"])]
        cid = data.draw(st.sampled_from(shown or later))
        was_valid = self.valid(cid)
        self.t = datetime.combine(self.consents[cid]["expires_on"], time(0), UTC) + timedelta(seconds=seconds)
        assert not self.valid(cid)
        if was_valid:  # expiry is judged now, never stored
            pid = self.consents[cid]["person"]
            reasons = " ".join(gate(evaluate(self.facts(), self.t, self.policy), "consent").reasons)
            others = any(self.valid(k) for k, c in self.consents.items() if c["person"] == pid and k != cid)
            if self.appearances.get(pid) and not self.people[pid]["erased"] and not others:
                assert f"consent {cid} expired on {self.consents[cid]['expires_on'].isoformat()}" in reasons

    @rule()
    def new_cut(self):
        self.cuts += 1
        self.cut = f"{self.cuts:064x}"

    @rule(lang=st.sampled_from(["en", "gd"]), digest=st.sampled_from(["1" * 64, "2" * 64, "3" * 64]))
    def caption_edit(self, lang, digest):
        self.tracks[lang] = digest

    @rule(ok=st.integers(0, 4))
    def qc_result(self, ok):
        self.qc_ok = ok > 0

    @rule(offset=st.one_of(st.none(), st.integers(-3 * 86400, 3 * 86400)))
    def embargo(self, offset):
        self.publish_at = None if offset is None else self.t + timedelta(seconds=offset)

    @rule(by=st.sampled_from(["Morag Stewart", "Sam Okafor"]))
    def approve(self, by):
        """As medialib.consent.review.approve: only when no approval precondition fails."""
        facts = self.facts()
        unmet = unmet_for_approval(evaluate(facts, self.t, self.policy))
        assert (not unmet) == (self.qc_ok and self.model_consent_ok())
        if unmet:
            return
        snapshot = {"consent": consent_snapshot(facts), "captions": caption_snapshot(facts)}
        self.approval = ApprovalFacts(self.new_id(), facts.cut_sha256, by, self.t, stored(snapshot))
        self.model_approval = (self.cut, self.model_state(), tuple(sorted(self.tracks.items())))

    @invariant()
    def publishable_only_when_the_model_says_so(self):
        if not hasattr(self, "t"):
            return
        results = evaluate(self.facts(), self.t, self.policy)
        assert gate(results, "consent").ok == self.model_consent_ok()
        assert gate(results, "approval").ok == self.model_approval_ok()
        expected = (self.qc_ok and self.model_consent_ok() and self.model_approval_ok()
                    and (self.publish_at is None or self.publish_at <= self.t))  # fmt: skip
        assert publishable(results) == expected


ConsentLifecycle.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None,
                                              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
TestConsentLifecycle = ConsentLifecycle.TestCase


# --- unit tests ----------------------------------------------------------------

T = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def consent(cid=1, status="verified", scopes=("filming", "online"), signed=date(2026, 1, 10), expires=None,
            guardian=None, withdrawn_at=None):  # fmt: skip
    return ConsentFacts(cid, status, tuple(scopes), signed, expires, guardian, withdrawn_at)


def film_with(*people_, identifiable=True, **fields):
    base = {"slug": "hope-street", "cut_sha256": CUT_A, "derivatives": OK, "qc": OK, "captions": OK,
            "appearances": tuple(AppearanceFacts(p, identifiable) for p in people_)}  # fmt: skip
    base.update(fields)
    film = FilmFacts(**base)
    if "approval" not in fields:
        snap = {"consent": consent_snapshot(film), "captions": caption_snapshot(film)}
        film = replace(film, approval=ApprovalFacts(1, film.cut_sha256 or CUT_A, "Morag Stewart", T, stored(snap)))
    return film


def ailsa(*consents, born=None, erased=False, pid=3):
    return PersonFacts(pid, "Ailsa Grant", born, erased, tuple(consents))


DEFAULT_POLICY = Policy()


def consent_gate_at(film, at=T, policy=DEFAULT_POLICY):
    return gate(evaluate(film, at, policy), "consent")


def test_a_valid_film_is_publishable():
    results = evaluate(film_with(ailsa(consent())), T)
    assert publishable(results), results
    assert gate(results, "consent").reasons == ("all 1 identifiable people have a valid consent",)


@pytest.mark.parametrize(
    "c, reason",
    [
        (consent(12, scopes=("filming",)), "Ailsa Grant: consent 12 does not cover 'online'"),
        (consent(12, status="pending"), "Ailsa Grant: consent 12 is waiting for verification"),
        (consent(12, status="withdrawn", withdrawn_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
         "Ailsa Grant: consent 12 was withdrawn on 2026-03-02"),
        (consent(12, status="superseded"), "Ailsa Grant: consent 12 was superseded"),
        (consent(12, expires=date(2026, 6, 1)), "Ailsa Grant: consent 12 expired on 2026-06-01"),
        (consent(12, signed=date(2026, 6, 16)), "Ailsa Grant: consent 12 is dated 2026-06-16, in the future"),
    ],
)  # fmt: skip
def test_reasons_a_person_can_act_on(c, reason):
    result = consent_gate_at(film_with(ailsa(c)))
    assert not result.ok and result.reasons == (reason,)


def test_every_consent_of_a_blocked_person_is_explained():
    p = ailsa(consent(4, status="pending"), consent(7, scopes=("filming",)))
    assert consent_gate_at(film_with(p)).reasons == (
        "Ailsa Grant: consent 4 is waiting for verification; consent 7 does not cover 'online'",)
    nobody = consent_gate_at(film_with(ailsa()))
    assert nobody.reasons == ("Ailsa Grant: no consent recorded",)


def test_one_valid_consent_is_enough():
    p = ailsa(consent(4, status="withdrawn"), consent(7), consent(9, scopes=("filming",)))
    assert consent_gate_at(film_with(p)).ok


def test_publish_scope_comes_from_the_policy():
    film = film_with(ailsa(consent(12, scopes=("filming", "online"))))
    result = consent_gate_at(film, policy=Policy(publish_scope="broadcast"))
    assert result.reasons == ("Ailsa Grant: consent 12 does not cover 'broadcast'",)


def test_age_on_birthday_boundaries():
    born = date(2010, 6, 15)
    assert age_on(born, date(2026, 6, 14)) == 15
    assert age_on(born, date(2026, 6, 15)) == 16  # the birthday itself counts
    assert age_on(born, date(2026, 6, 16)) == 16
    assert age_on(born, born) == 0


def test_age_on_29_february():
    leap = date(2008, 2, 29)
    assert age_on(leap, date(2024, 2, 28)) == 15
    assert age_on(leap, date(2024, 2, 29)) == 16
    assert age_on(leap, date(2025, 2, 28)) == 16  # a common year: not 17 yet ...
    assert age_on(leap, date(2025, 3, 1)) == 17  # ... until 1 March


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
       st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)))  # fmt: skip
def test_age_on_agrees_with_the_oracle(born, day):
    assume(born <= day)
    assert age_on(born, day) == oracle_age(born, day)


@pytest.mark.parametrize(
    "born, signed, guardian, ok",
    [
        (date(2010, 6, 15), date(2026, 6, 14), None, False),  # 15 at signing, the day before the birthday
        (date(2010, 6, 15), date(2026, 6, 14), "Jean Grant", True),
        (date(2010, 6, 15), date(2026, 6, 15), None, True),  # 16 on the signing day
        (date(2008, 2, 29), date(2024, 2, 28), None, False),
        (date(2008, 2, 29), date(2024, 2, 29), None, True),
        (None, date(2026, 1, 1), None, True),  # no birth date recorded: treated as an adult
    ],
)  # fmt: skip
def test_guardian_needed_under_the_minor_age_at_signing(born, signed, guardian, ok):
    result = consent_gate_at(film_with(ailsa(consent(5, signed=signed, guardian=guardian), born=born)))
    assert result.ok == ok, result.reasons
    if not ok:
        age = age_on(born, signed)
        assert result.reasons == (f"Ailsa Grant: consent 5 was signed at age {age} without a guardian",)


def test_guardian_rule_in_a_common_year_for_a_leap_day_birthday():
    p = ailsa(consent(5, signed=date(2025, 2, 28)), born=date(2008, 2, 29))
    assert not consent_gate_at(film_with(p), policy=Policy(minor_age=17)).ok
    p = ailsa(consent(5, signed=date(2025, 3, 1)), born=date(2008, 2, 29))
    assert consent_gate_at(film_with(p), policy=Policy(minor_age=17)).ok


def test_the_minor_age_comes_from_the_policy():
    p = ailsa(consent(5, signed=date(2024, 6, 1)), born=date(2010, 1, 15))  # 14 when signing
    assert not consent_gate_at(film_with(p)).ok
    assert consent_gate_at(film_with(p), policy=Policy(minor_age=12)).ok


def test_expiry_day_is_already_expired():
    p = ailsa(consent(8, expires=date(2026, 6, 15)))
    assert not consent_gate_at(film_with(p), at=datetime(2026, 6, 15, 0, 0, tzinfo=UTC)).ok
    assert consent_gate_at(film_with(p), at=datetime(2026, 6, 14, 23, 59, 59, 999999, tzinfo=UTC)).ok
    assert consent_gate_at(film_with(p), at=T).reasons == ("Ailsa Grant: consent 8 expired on 2026-06-15",)


def test_a_future_dated_consent_counts_from_its_signing_day():
    p = ailsa(consent(9, signed=date(2026, 6, 16)))
    assert not consent_gate_at(film_with(p), at=datetime(2026, 6, 15, 23, 59, tzinfo=UTC)).ok
    assert consent_gate_at(film_with(p), at=datetime(2026, 6, 16, 0, 0, tzinfo=UTC)).ok


def test_an_erased_person_blocks_the_film_whatever_their_consents():
    p = ailsa(consent(1), erased=True, pid=4)
    result = consent_gate_at(film_with(p))
    assert not result.ok
    assert result.reasons == ("person 4 was erased: a film showing them cannot be published",)
    assert "Ailsa Grant" not in " ".join(result.reasons)


def test_non_identifiable_appearances_need_no_consent():
    nobody = ailsa()  # no consent at all
    erased = ailsa(erased=True, pid=5)
    results = evaluate(film_with(nobody, erased, identifiable=False), T)
    assert gate(results, "consent").ok and publishable(results)
    assert gate(results, "consent").reasons == ("no identifiable person is recorded in this film",)


def test_embargo_boundary():
    film = film_with(publish_at=T)
    assert gate(evaluate(film, T), "embargo").ok  # publish_at == T passes
    assert publishable(evaluate(film, T))
    before = evaluate(film, T - timedelta(microseconds=1))
    assert not gate(before, "embargo").ok and not publishable(before)
    assert gate(before, "embargo").reasons == ("embargoed until 2026-06-15T12:00:00Z",)
    # the same instant written in another zone is the same instant
    assert gate(evaluate(film, T.astimezone(timezone(timedelta(hours=-5)))), "embargo").ok


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(film_with(ailsa(consent())), datetime(2026, 6, 15, 12, 0))


def test_no_cut_fails_derivatives_qc_and_approval():
    results = evaluate(film_with(cut_sha256=None, approval=None), T)
    assert gate(results, "derivatives").reasons == ("the film has no cut yet",)
    assert gate(results, "qc").reasons == ("the film has no cut yet",)
    assert not publishable(results)


def test_unchecked_gates_fail_by_default():
    results = evaluate(FilmFacts(slug="hope-street", cut_sha256=CUT_A), T)
    assert {r.gate: r.ok for r in results} == {"derivatives": False, "qc": False, "captions": False,
                                               "consent": True, "approval": False, "embargo": True}  # fmt: skip
    assert gate(results, "captions").reasons == ("not available",)


def test_approval_is_void_after_a_new_cut():
    film = film_with(ailsa(consent()))
    moved = replace(film, cut_sha256=CUT_B)
    result = gate(evaluate(moved, T), "approval")
    assert not result.ok
    assert result.reasons == (
        f"the approval by Morag Stewart was for cut {CUT_A[:12]}; the current cut is {CUT_B[:12]}: a new cut voids it",
    )


def test_approval_is_void_after_a_withdrawal_and_says_which_consent():
    film = film_with(ailsa(consent(12), pid=3))
    assert publishable(evaluate(film, T))
    withdrawn = replace(film, appearances=(AppearanceFacts(ailsa(consent(12, status="withdrawn"), pid=3)),))
    results = evaluate(withdrawn, T)
    assert not publishable(results)
    assert gate(results, "approval").reasons == (
        "the approval by Morag Stewart is void: since then consent 12 is now withdrawn",
    )
    assert gate(results, "consent").reasons == ("Ailsa Grant: consent 12 was withdrawn",)


def test_approval_is_void_after_a_caption_edit():
    film = film_with(ailsa(consent()), caption_tracks=(("en", "1" * 64),))
    edited = replace(film, caption_tracks=(("en", "2" * 64),))
    result = gate(evaluate(edited, T), "approval")
    assert not result.ok and result.reasons == ("the approval by Morag Stewart is void: the captions changed since",)


def test_approval_does_not_need_the_embargo_or_itself():
    film = film_with(ailsa(consent()), approval=None, publish_at=T + timedelta(days=30))
    results = evaluate(film, T)
    assert unmet_for_approval(results) == []
    assert not publishable(results)


# --- bugs found ----------------------------------------------------------------


def test_the_same_instant_in_another_zone_gives_the_same_answer():
    """BUG: evaluate judges dates with ``at.date()`` in ``at``'s own zone.

    The module promises "the same facts at the same time always give the same
    answer", and README says a date alone means midnight UTC (an --expires
    2027-01-01 consent holds to the end of 31 December 2026). Here the same
    instant, 20:00 UTC on 14 June, is judged once in UTC (consent valid) and
    once written as +10:00 (where it is already 15 June: consent "expired").
    """
    film = film_with(ailsa(consent(8, expires=date(2026, 6, 15))))
    at = datetime(2026, 6, 14, 20, 0, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=10)))
    assert at == elsewhere
    assert evaluate(film, elsewhere) == evaluate(film, at)


def test_an_approval_without_a_consent_snapshot_does_not_pass():
    """BUG (fails open): an approval whose snapshot lacks the consent (or
    captions) state is never voided by consent changes: approval_gate skips
    the comparison when ``snapshot.get("consent")`` is None. "Nothing passes by
    default": an approval not bound to a consent state must not count."""
    film = film_with(ailsa(consent(12)), approval=ApprovalFacts(1, CUT_A, "Morag Stewart", T, {}))
    assert not gate(evaluate(film, T), "approval").ok
