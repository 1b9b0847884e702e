"""People, consents, appearances, review and approval, end to end.

Through the command line (the `cli` fixture: every test runs on SQLite and
on PostgreSQL) and the Python API: the fixed interface, where signed forms
are kept, erasure, minors, the approval lifecycle, the audit trail, and bad
input that must be refused with one line and change nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import snapshot

from medialib.errors import BadInput, CheckFailed, NotFound

FAST = '[recipes.proxy-720]\npreset = "ultrafast"\n[recipes.proxy-360]\npreset = "ultrafast"\n'
NO_CAPTIONS = "[captions]\nrequired_languages = []\n"
MARK = "# --- test settings ---\n"
GATE_NAMES = ["derivatives", "qc", "captions", "consent", "approval", "embargo"]

AILSA = {"name": "Ailsa Grant", "born": "1980-02-01", "contact": "ailsa.grant@example.org"}


def utc_today() -> date:
    return datetime.now(UTC).date()


def configure(lib_dir: Path, text: str) -> None:
    """Set the test's own settings (replacing any set before) after the fixture's."""
    cfg = lib_dir / "config.toml"
    base = cfg.read_text().split(MARK)[0]
    cfg.write_text(base + MARK + text)


def ok(r, code: int = 0):
    assert r.code == code, (r.code, r.out, r.err)
    return r


def refused(r, message: str, code: int = 2) -> None:
    """Exit ``code`` with one line on stderr, starting 'error: ' and naming the problem; nothing on stdout."""
    assert r.code == code, (r.code, r.out, r.err)
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    assert message in r.err, r.err
    assert "Traceback" not in r.err and r.out == ""


class Forms:
    """Signed-form files outside the library, each with its own bytes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(exist_ok=True)
        self.n = 0

    def pdf(self, name: str | None = None) -> Path:
        self.n += 1
        path = self.folder / (name or f"form-{self.n}.pdf")
        path.write_bytes(b"%PDF-1.4\n% signed consent form " + str(self.n).encode() + b"\n%%EOF\n")
        return path


@pytest.fixture
def forms(tmp_path: Path) -> Forms:
    return Forms(tmp_path / "forms")


def add_person(cli, name: str, born: str | None = None, contact: str | None = None) -> int:
    args = ["person", "add", name, "--json"]
    if born:
        args += ["--born", born]
    if contact:
        args += ["--contact", contact]
    return ok(cli(*args)).json()["id"]


def add_consent(cli, person: int, form: Path, scope: str = "filming,online", signed: str = "2024-01-10",
                **options: str) -> dict:  # fmt: skip
    args = ["consent", "add", str(person), "--scope", scope, "--signed", signed, "--form", str(form), "--json"]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", value]
    return ok(cli(*args)).json()


def review(cli, slug: str = "hope", *extra: str) -> dict:
    return ok(cli("review", slug, "--json", *extra)).json()


def gate(result: dict, name: str) -> dict:
    return next(g for g in result["gates"] if g["gate"] == name)


def assert_no_personal_data(events: list[dict], *values: str) -> None:
    text = json.dumps(events, ensure_ascii=False)
    for value in values:
        assert value not in text, f"{value!r} is in the audit log"


# --- the fixed interface ---------------------------------------------------


def test_person_consent_verify_appearance_review(cli, forms):
    ok(cli("film", "add", "hope", "--title", "Hope Street"))
    pid = add_person(cli, **AILSA)
    shown = ok(cli("person", "show", str(pid), "--json")).json()
    assert (shown["name"], shown["born"], shown["contact"]) == ("Ailsa Grant", "1980-02-01", "ailsa.grant@example.org")

    consent = add_consent(cli, pid, forms.pdf(), collected_by="Sam Okafor")
    assert consent["status"] == "pending" and consent["person"] == pid
    assert consent["scopes"] == ["filming", "online"] and consent["signed"] == "2024-01-10"
    assert consent["expires"] is None and consent["guardian"] is None

    appearance = ok(cli("appearance", "add", "hope", str(pid), "--at", "00:00:01-00:00:02", "--json")).json()
    assert appearance["identifiable"] is True and appearance["ranges"] == ["00:00:01-00:00:02"]

    result = review(cli)
    assert set(result) >= {"slug", "publishable", "gates"} and result["slug"] == "hope"
    assert [g["gate"] for g in result["gates"]] == GATE_NAMES
    assert all(set(g) == {"gate", "ok", "reasons"} and g["reasons"] for g in result["gates"])
    waiting = f"Ailsa Grant: consent {consent['id']} is waiting for verification"
    assert gate(result, "consent") == {"gate": "consent", "ok": False, "reasons": [waiting]}

    assert ok(cli("consent", "verify", str(consent["id"]), "--by", "Morag Stewart")).out.strip() == (
        f"consent {consent['id']} verified by Morag Stewart")
    result = review(cli)
    assert gate(result, "consent") == {
        "gate": "consent", "ok": True, "reasons": ["all 1 identifiable people have a valid consent"]}
    assert result["publishable"] is False  # nothing built, no captions, no approval
    after = ok(cli("person", "show", str(pid), "--json")).json()
    assert after["films"] == ["hope"] and after["consents"][0]["verified_by"] == "Morag Stewart"


def test_consent_covering_the_wrong_scope_or_not_identifiable(cli, forms):
    ok(cli("film", "add", "hope", "--title", "Hope"))
    pid = add_person(cli, "Sam Okafor")
    c = add_consent(cli, pid, forms.pdf(), scope="filming,broadcast", verified_by="Morag Stewart")
    ok(cli("appearance", "add", "hope", str(pid)))
    assert gate(review(cli), "consent")["reasons"] == [f"Sam Okafor: consent {c['id']} does not cover 'online'"]
    # adding again updates the appearance: someone not identifiable needs no consent
    ok(cli("appearance", "add", "hope", str(pid), "--not-identifiable"))
    g = gate(review(cli), "consent")
    assert g["ok"] and g["reasons"] == ["no identifiable person is recorded in this film"]
    nobody = add_person(cli, "Tomasz Nowak")  # no consent at all
    ok(cli("appearance", "add", "hope", str(nobody), "--not-identifiable"))
    assert gate(review(cli), "consent")["ok"]
    ok(cli("appearance", "add", "hope", str(nobody)))
    assert gate(review(cli), "consent")["reasons"] == ["Tomasz Nowak: no consent recorded"]


def test_review_without_a_slug_lists_every_film(cli):
    ok(cli("film", "add", "hope", "--title", "Hope"))
    ok(cli("film", "add", "quiet", "--title", "Quiet"))
    listing = ok(cli("review", "--json")).json()
    assert isinstance(listing, list) and sorted(r["slug"] for r in listing) == ["hope", "quiet"]
    for r in listing:
        assert r["publishable"] is False and [g["gate"] for g in r["gates"]] == GATE_NAMES
        assert gate(r, "derivatives")["reasons"] == ["the film has no cut yet"]


def test_withdraw_twice_is_harmless_and_says_so(cli, forms):
    ok(cli("film", "add", "hope", "--title", "Hope"))
    pid = add_person(cli, **AILSA)
    c = add_consent(cli, pid, forms.pdf(), verified_by="Morag Stewart")
    ok(cli("appearance", "add", "hope", str(pid)))
    first = ok(cli("consent", "withdraw", str(c["id"]), "--reason", "asked by phone"))
    assert first.out.strip() == f"consent {c['id']} withdrawn; films affected: hope"
    events = ok(cli("audit", "--json")).json()
    shown = ok(cli("person", "show", str(pid), "--json")).json()
    assert shown["consents"][0]["status"] == "withdrawn"
    assert shown["consents"][0]["withdraw_reason"] == "asked by phone"

    again = ok(cli("consent", "withdraw", str(c["id"]), "--reason", "asked again"))
    assert "already withdrawn" in again.out and "nothing changed" in again.out
    assert ok(cli("audit", "--json")).json() == events, "a second withdrawal writes no audit event"
    assert ok(cli("person", "show", str(pid), "--json")).json() == shown, "and changes nothing"
    assert [e["action"] for e in events].count("consent.withdraw") == 1


def test_consent_report_lists_expired_and_expiring_with_the_films_they_block(cli, forms):
    today = utc_today()
    ok(cli("film", "add", "hope", "--title", "Hope"))
    ok(cli("film", "add", "quiet", "--title", "Quiet"))
    expired_p, expiring_p, far_p, lone_p = (add_person(cli, n) for n in ("Ailsa Grant", "Sam Okafor", "Eilidh Ross",
                                                                        "Priya Shah"))  # fmt: skip
    expired = add_consent(cli, expired_p, forms.pdf(), signed="2020-01-01", expires="2021-01-01", verified_by="M")
    expiring = add_consent(cli, expiring_p, forms.pdf(), signed="2024-01-01",
                           expires=(today + timedelta(days=10)).isoformat(), verified_by="M")  # fmt: skip
    far = add_consent(cli, far_p, forms.pdf(), signed="2024-01-01", expires=(today + timedelta(days=400)).isoformat(),
                      verified_by="M")  # fmt: skip
    pending = add_consent(cli, lone_p, forms.pdf(), signed="2024-01-01",
                          expires=(today + timedelta(days=5)).isoformat())  # fmt: skip
    for slug in ("hope", "quiet"):
        ok(cli("appearance", "add", slug, str(expired_p)))
    ok(cli("appearance", "add", "hope", str(expiring_p)))
    ok(cli("appearance", "add", "hope", str(far_p)))

    rows = ok(cli("consent", "report", "--within", "30", "--json")).json()
    by_id = {r["consent"]: r for r in rows}
    assert set(by_id) == {expired["id"], expiring["id"]}, "far-future and pending consents are not listed"
    assert by_id[expired["id"]]["expired"] is True and by_id[expired["id"]]["films"] == ["hope", "quiet"]
    assert by_id[expired["id"]]["expires_on"] == "2021-01-01"
    assert by_id[expiring["id"]]["expired"] is False and by_id[expiring["id"]]["days_left"] == 10
    assert by_id[expiring["id"]]["films"] == ["hope"]
    assert {r["consent"] for r in ok(cli("consent", "report", "--within", "0", "--json")).json()} == {expired["id"]}
    wide = {r["consent"] for r in ok(cli("consent", "report", "--within", "500", "--json")).json()}
    assert wide == {expired["id"], expiring["id"], far["id"]} and pending["id"] not in wide
    plain = ok(cli("consent", "report")).out
    assert "expired" in plain and "10 days left" in plain and "hope, quiet" in plain

    # the gate judges expiry at the time asked about
    g = gate(review(cli), "consent")
    assert f"Ailsa Grant: consent {expired['id']} expired on 2021-01-01" in g["reasons"]
    later = (today + timedelta(days=10)).isoformat()
    g = gate(review(cli, "hope", "--at", later), "consent")
    assert f"Sam Okafor: consent {expiring['id']} expired on {later}" in g["reasons"]
    g = gate(review(cli, "hope", "--at", (today + timedelta(days=9)).isoformat() + "T23:59:59Z"), "consent")
    assert not any(r.startswith("Sam Okafor") for r in g["reasons"])


def test_embargo_through_the_catalogue(cli):
    ok(cli("film", "add", "hope", "--title", "Hope", "--publish-at", "2031-05-01T09:00:00+01:00"))
    assert gate(review(cli), "embargo") == {"gate": "embargo", "ok": False,
                                            "reasons": ["embargoed until 2031-05-01T08:00:00Z"]}  # fmt: skip
    assert gate(review(cli, "hope", "--at", "2031-05-01T08:00:00Z"), "embargo")["ok"]
    assert not gate(review(cli, "hope", "--at", "2031-05-01T07:59:59Z"), "embargo")["ok"]


# --- approval ----------------------------------------------------------------


def test_approve_lists_every_unmet_gate(cli, clips):
    """The default config requires approved English captions (captions.required_languages = ["en"])."""
    ok(cli("film", "add", "hope", "--title", "Hope"))
    ok(cli("cut", "add", "hope", str(clips.video)))
    pid = add_person(cli, **AILSA)
    ok(cli("appearance", "add", "hope", str(pid)))
    before = ok(cli("audit", "--json")).json()
    r = cli("approve", "hope", "--by", "Morag Stewart")
    refused(r, "cannot approve hope: ", code=1)
    for name in ("derivatives:", "qc:", "captions:", "consent:"):
        assert name in r.err, f"{name} is not listed: {r.err}"
    assert "approval:" not in r.err and "embargo:" not in r.err
    assert "Ailsa Grant: no consent recorded" in r.err and "captions: en: " in r.err
    assert ok(cli("audit", "--json")).json() == before, "a refused approval records nothing"
    captions = gate(review(cli), "captions")
    assert not captions["ok"] and captions["reasons"][0].startswith("en: "), captions


@pytest.fixture
def processed(cli, lib_dir, clips, forms):
    """A film with a processed cut and one person with a verified consent covering 'online'.
    Captions are still required (the default): set NO_CAPTIONS to approve."""
    with open(lib_dir / "config.toml", "a") as fh:
        fh.write(FAST)
    ok(cli("film", "add", "hope", "--title", "Hope Street"))
    ok(cli("cut", "add", "hope", str(clips.video)))
    ok(cli("process", "hope", "--json"))
    pid = add_person(cli, **AILSA)
    consent = add_consent(cli, pid, forms.pdf(), verified_by="Morag Stewart")
    ok(cli("appearance", "add", "hope", str(pid)))
    return SimpleNamespace(person=pid, consent=consent["id"])


def test_approval_and_a_new_cut(cli, lib_dir, processed, clips):
    result = review(cli)
    assert {g["gate"]: g["ok"] for g in result["gates"]} == {
        "derivatives": True, "qc": True, "captions": False, "consent": True, "approval": False, "embargo": True}
    assert gate(result, "captions")["reasons"][0].startswith("en: ")
    r = cli("approve", "hope", "--by", "Morag Stewart")
    refused(r, "cannot approve hope: captions: ", code=1)
    assert not any(f"{name}:" in r.err for name in ("derivatives", "qc", "consent"))

    configure(lib_dir, NO_CAPTIONS)
    assert ok(cli("approve", "hope", "--by", "Morag Stewart")).out.startswith("approved hope cut 1 (")
    result = review(cli)
    assert result["publishable"] is True, result
    assert gate(result, "approval")["reasons"][0].startswith("approved by Morag Stewart on ")

    ok(cli("cut", "add", "hope", str(clips.video2)))
    result = review(cli)
    assert result["publishable"] is False and result["cut"] == 2
    approval = gate(result, "approval")
    assert not approval["ok"] and approval["reasons"][0].endswith("a new cut voids it"), approval
    assert "Morag Stewart" in approval["reasons"][0]
    refused(cli("approve", "hope", "--by", "Morag Stewart"), "derivatives:", code=1)  # the new cut is not built

    trail = ok(cli("audit", "hope", "--json")).json()
    approvals = [e for e in trail if e["action"] == "approve"]
    assert len(approvals) == 1 and approvals[0]["actor"] == "tester"
    assert approvals[0]["details"]["by"] == "Morag Stewart"
    assert approvals[0]["details"]["cut"] == 1


def test_withdrawal_voids_the_approval_and_is_in_the_films_trail(cli, lib_dir, processed):
    configure(lib_dir, NO_CAPTIONS)
    ok(cli("approve", "hope", "--by", "Morag Stewart"))
    assert review(cli)["publishable"] is True
    cid = processed.consent

    out = ok(cli("--user", "duty-officer", "consent", "withdraw", str(cid), "--reason", "asked by phone")).out
    assert out.strip() == f"consent {cid} withdrawn; films affected: hope"
    result = review(cli)
    assert result["publishable"] is False
    assert gate(result, "consent") == {"gate": "consent", "ok": False, "reasons": [
        f"Ailsa Grant: consent {cid} was withdrawn on {utc_today().isoformat()}"]}  # fmt: skip
    approval = gate(result, "approval")
    assert not approval["ok"] and f"consent {cid} is now withdrawn" in approval["reasons"][0], approval
    r = cli("approve", "hope", "--by", "Morag Stewart")
    refused(r, "consent: Ailsa Grant: consent", code=1)

    trail = ok(cli("audit", "hope", "--json")).json()
    actions = [e["action"] for e in trail]
    assert actions.index("approve") < actions.index("consent.withdraw")
    approve = trail[actions.index("approve")]
    withdraw = trail[actions.index("consent.withdraw")]
    assert approve["actor"] == "tester" and approve["details"]["by"] == "Morag Stewart"
    assert withdraw["actor"] == "duty-officer" and withdraw["subject"] == f"consent:{cid}"
    assert withdraw["details"]["reason"] == "asked by phone" and withdraw["details"]["films"] == ["hope"]
    for e in (approve, withdraw):
        at = datetime.fromisoformat(e["at"])
        assert abs(datetime.now(UTC) - at) < timedelta(minutes=10)

    everything = ok(cli("audit", "--json")).json()
    assert_no_personal_data(everything, "Ailsa", "Grant", AILSA["contact"], AILSA["born"])
    assert "Ailsa" not in ok(cli("audit")).out


# --- the signed form -------------------------------------------------------------


def test_form_is_stored_privately_and_never_printed(cli, lib_dir, forms, clips):
    ok(cli("film", "add", "hope", "--title", "Hope"))
    pid = add_person(cli, **AILSA)
    source = forms.pdf("grant-consent.pdf")
    outputs = []

    r = ok(cli("consent", "add", str(pid), "--scope", "online", "--signed", "2024-01-10", "--form", str(source),
               "--json"))  # fmt: skip
    outputs.append(r)
    cid = str(r.json()["id"])
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    form = r.json()["form"]
    assert form == {"mime": "application/pdf", "size": source.stat().st_size, "sha256": digest, "on_file": True}
    private = lib_dir / "assets" / "private"
    stored = private / "consent" / f"{digest}.pdf"
    assert stored.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE((private / "consent").stat().st_mode) == 0o700
    assert sorted(p.name for p in (private / "consent").iterdir()) == [stored.name]

    # checked by content: JPEG and PNG too, named whatever; the stored name comes from the content
    for ext, mime in (("jpg", "image/jpeg"), ("png", "image/png")):
        src = clips.dir / f"still.{ext}"
        renamed = forms.folder / f"scan-{ext}.pdf"
        shutil.copy(src, renamed)
        r = ok(cli("consent", "add", str(pid), "--scope", "online", "--signed", "2024-01-10", "--form", str(renamed),
                   "--json"))  # fmt: skip
        outputs.append(r)
        d = hashlib.sha256(src.read_bytes()).hexdigest()
        assert r.json()["form"]["mime"] == mime
        assert (private / "consent" / f"{d}.{ext}").read_bytes() == src.read_bytes()

    ok(cli("appearance", "add", "hope", str(pid)))
    for args in (["person", "show", str(pid)], ["person", "show", str(pid), "--json"], ["person", "list"],
                 ["person", "list", "--json"], ["consent", "verify", cid, "--by", "Morag Stewart"],
                 ["consent", "report", "--within", "9999", "--json"], ["review", "hope"], ["review", "hope", "--json"],
                 ["audit"], ["audit", "--json"], ["audit", "hope", "--json"], ["consent", "withdraw", cid],
                 ["person", "erase", str(pid), "--json"], ["person", "show", str(pid), "--json"]):  # fmt: skip
        outputs.append(ok(cli(*args)))
    for r in outputs:
        assert "private/consent" not in r.out + r.err
        assert str(lib_dir) not in r.out + r.err
        assert "grant-consent" not in r.out + r.err


def test_erasure(cli, lib_dir, forms):
    ok(cli("film", "add", "hope", "--title", "Hope"))
    pid = add_person(cli, **AILSA)
    other = add_person(cli, "Sam Okafor")
    first = add_consent(cli, pid, forms.pdf(), verified_by="Morag Stewart", notes="prefers email")
    second = add_consent(cli, pid, forms.pdf(), scope="filming,online,social", guardian="Jean Grant")
    kept = add_consent(cli, other, forms.pdf(), verified_by="Morag Stewart")
    ok(cli("appearance", "add", "hope", str(pid)))
    ok(cli("appearance", "add", "hope", str(other)))
    folder = lib_dir / "assets" / "private" / "consent"
    assert len(list(folder.iterdir())) == 3

    result = ok(cli("person", "erase", str(pid), "--json")).json()
    assert result["forms_removed"] == 2 and result["films"] == ["hope"]
    assert [p.name for p in folder.iterdir()] == [f"{kept['form']['sha256']}.pdf"], "only the other person's form left"

    shown = ok(cli("person", "show", str(pid), "--json")).json()
    assert shown["name"] == f"(erased person {pid})" and shown["born"] is None and shown["contact"] is None
    assert shown["erased"] is True and shown["films"] == ["hope"]
    assert [c["id"] for c in shown["consents"]] == [first["id"], second["id"]], "consents are kept"
    for c in shown["consents"]:
        assert c["status"] == "withdrawn" and c["form"]["on_file"] is False and c["notes"] == ""
        assert c["signed"] == "2024-01-10" and c["guardian"] in (None, "(erased)")
    assert ok(cli("person", "show", str(other), "--json")).json()["consents"][0]["status"] == "verified"

    g = gate(review(cli), "consent")
    assert g == {"gate": "consent", "ok": False,
                 "reasons": [f"person {pid} was erased: a film showing them cannot be published"]}  # fmt: skip

    refused(cli("consent", "add", str(pid), "--scope", "online", "--signed", "2024-01-10", "--form",
                str(forms.pdf())), f"person {pid} was erased")  # fmt: skip
    refused(cli("person", "erase", str(pid)), f"person {pid} was already erased")

    events = ok(cli("audit", "--json")).json()
    erase = [e for e in events if e["action"] == "person.erase"]
    assert len(erase) == 1 and erase[0]["subject"] == f"person:{pid}"
    every_output = json.dumps(events) + ok(cli("person", "list")).out + ok(cli("person", "list", "--json")).out
    for value in ("Ailsa", AILSA["contact"], AILSA["born"], "Jean Grant", "prefers email"):
        assert value not in every_output


def test_erasing_one_person_keeps_the_identical_form_of_another(cli, lib_dir, forms):
    """BUG: forms are stored by content hash, so two consents given on
    byte-identical forms (one group release signed by several people, or the
    same scan filed twice) share one file. Erasing one person deletes that
    file, and with it the other person's signed consent, whose record still
    says the form is on file."""
    group_form = forms.pdf("group-release.pdf")
    ailsa = add_person(cli, **AILSA)
    sam = add_person(cli, "Sam Okafor")
    add_consent(cli, ailsa, group_form, verified_by="Morag Stewart")
    sams = add_consent(cli, sam, group_form, verified_by="Morag Stewart")
    stored = lib_dir / "assets" / "private" / "consent" / f"{sams['form']['sha256']}.pdf"
    assert stored.is_file()

    ok(cli("person", "erase", str(ailsa)))
    sams_now = ok(cli("person", "show", str(sam), "--json")).json()["consents"][0]
    assert sams_now["form"]["on_file"] is True
    assert stored.is_file(), "Sam Okafor's signed form was deleted when Ailsa Grant was erased"


def test_signing_dates_are_judged_in_utc_whatever_the_local_zone(cli, forms, monkeypatch):
    """BUG: `consent add` (and `person add --born`) judge "in the future"
    against date.today(), the machine's local date, while the gate judges the
    same consent against the UTC date (README: a date alone means midnight
    UTC). On a machine whose local date differs from UTC's, a consent dated
    today (UTC) is refused, or one dated tomorrow (UTC) is accepted and then
    fails the gate as "in the future". The zone is chosen from the current UTC
    hour so that the local date differs from UTC's now."""
    import time

    now = datetime.now(UTC)
    if now.hour < 12:
        zone, signed = "Etc/GMT+12", now.date()  # local date is yesterday: today (UTC) is refused
    else:
        zone, signed = "Etc/GMT-14", now.date() + timedelta(days=1)  # local date is tomorrow: accepted
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert date.today() != now.date()
        pid = add_person(cli, "Sam Okafor")
        r = cli("consent", "add", str(pid), "--scope", "online", "--signed", signed.isoformat(), "--form",
                str(forms.pdf()))  # fmt: skip
        if signed == now.date():
            ok(r)  # today, in UTC
        else:
            refused(r, "is in the future")
    finally:
        monkeypatch.undo()
        time.tzset()


# --- minors -------------------------------------------------------------------

MINOR = {"born": "2010-01-15", "signed": "2024-06-01"}  # 14 when signing


def test_a_minor_needs_a_guardian(cli, forms):
    ok(cli("film", "add", "hope", "--title", "Hope"))
    pid = add_person(cli, "Eilidh Ross", born=MINOR["born"])
    r = cli("consent", "add", str(pid), "--scope", "online", "--signed", MINOR["signed"], "--form", str(forms.pdf()))
    refused(r, "guardian")
    assert "was 14 when this was signed (under 16)" in r.err
    c = add_consent(cli, pid, forms.pdf(), signed=MINOR["signed"], guardian="Jean Ross", verified_by="Morag Stewart")
    assert c["guardian"] == "Jean Ross" and c["signed_by"] == "guardian"
    ok(cli("appearance", "add", "hope", str(pid)))
    assert gate(review(cli), "consent")["ok"]
    assert_no_personal_data(ok(cli("audit", "--json")).json(), "Jean Ross", "Eilidh", MINOR["born"])
    # the day they turn 16 no guardian is needed
    adult = add_consent(cli, pid, forms.pdf(), signed="2026-01-15")
    assert adult["signed_by"] == "self"


def test_minor_age_is_a_setting_and_the_gate_checks_it_again(cli, lib_dir, forms):
    configure(lib_dir, "[consent]\nminor_age = 12\n")
    ok(cli("film", "add", "hope", "--title", "Hope"))
    pid = add_person(cli, "Eilidh Ross", born=MINOR["born"])
    c = add_consent(cli, pid, forms.pdf(), signed=MINOR["signed"], verified_by="Morag Stewart")
    assert c["guardian"] is None and c["status"] == "verified"
    ok(cli("appearance", "add", "hope", str(pid)))
    assert gate(review(cli), "consent")["ok"]
    configure(lib_dir, "")  # back to 16: the consent recorded under 12 no longer holds
    assert gate(review(cli), "consent")["reasons"] == [
        f"Eilidh Ross: consent {c['id']} was signed at age 14 without a guardian"]


# --- bad input: refused with one line, and nothing changes ---------------------


@pytest.fixture
def desk(cli, lib_dir, tmp_path, forms):
    """A library with a film, an adult with a verified and a withdrawn consent,
    a minor, an erased person, and forms of every wrong kind outside it."""
    configure(lib_dir, "[consent]\nmax_form_mb = 1\n")
    ok(cli("film", "add", "hope", "--title", "Hope"))
    adult = add_person(cli, **AILSA)
    verified = add_consent(cli, adult, forms.pdf(), verified_by="Morag Stewart")["id"]
    withdrawn = add_consent(cli, adult, forms.pdf())["id"]
    ok(cli("consent", "withdraw", str(withdrawn)))
    minor = add_person(cli, "Eilidh Ross", born=MINOR["born"])
    erased = add_person(cli, "Priya Shah")
    ok(cli("person", "erase", str(erased)))
    ok(cli("appearance", "add", "hope", str(adult)))
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy("/bin/ls", bad / "x.pdf")
    (bad / "notes.pdf").write_text("Signed by Ailsa Grant, honest.\n" * 10)
    (bad / "big.pdf").write_bytes(b"%PDF-1.4\n" + b"0" * 1_500_000)
    (bad / "empty.pdf").write_bytes(b"")
    return {"adult": adult, "verified": verified, "withdrawn": withdrawn, "minor": minor, "erased": erased,
            "form": forms.pdf(), "exe": bad / "x.pdf", "text": bad / "notes.pdf", "big": bad / "big.pdf",
            "empty": bad / "empty.pdf", "missing": bad / "missing.pdf", "dir": bad,
            "future": (date.today() + timedelta(days=2)).isoformat()}  # fmt: skip


def state(cli, lib_dir: Path) -> dict:
    people = ok(cli("person", "list", "--json")).json()
    return {
        "files": snapshot(lib_dir),
        "audit": ok(cli("audit", "--json")).json(),
        "people": [ok(cli("person", "show", str(p["id"]), "--json")).json() for p in people],
    }


CONSENT = ["consent", "add", "{adult}", "--scope", "filming,online", "--signed", "2024-01-10", "--form", "{form}"]


def consent_add(**changes: str) -> list[str]:
    args = list(CONSENT)
    for key, value in changes.items():
        flag = f"--{key}"
        if key == "person":
            args[2] = value
        elif flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


BAD_INPUT = {
    "unknown things": [
        ("consent for unknown person", consent_add(person="999"), "unknown person 999"),
        ("appearance of unknown person", ["appearance", "add", "hope", "999"], "unknown person 999"),
        ("show unknown person", ["person", "show", "999"], "unknown person 999"),
        ("erase unknown person", ["person", "erase", "999"], "unknown person 999"),
        ("appearance in unknown film", ["appearance", "add", "ghost", "{adult}"], "unknown film 'ghost'"),
        ("verify unknown consent", ["consent", "verify", "999", "--by", "Morag Stewart"], "unknown consent 999"),
        ("withdraw unknown consent", ["consent", "withdraw", "999"], "unknown consent 999"),
    ],
    "dates": [
        ("born not ISO", ["person", "add", "Jo Bloggs", "--born", "01/02/1980"],
         "--born: '01/02/1980' is not an ISO 8601"),
        ("born in the future", ["person", "add", "Jo Bloggs", "--born", "{future}"], "is in the future"),
        ("signed not ISO", consent_add(signed="tomorrow"), "--signed: 'tomorrow' is not an ISO 8601 date"),
        ("signed in the future", consent_add(signed="{future}"), "--signed {future} is in the future"),
        ("expires not a date", consent_add(expires="2026-13-01"), "--expires: '2026-13-01' is not an ISO 8601 date"),
        ("expires on signing day", consent_add(expires="2024-01-10"), "--expires 2024-01-10 is not after --signed"),
        ("expires before signing", consent_add(expires="2023-12-31"), "--expires 2023-12-31 is not after --signed"),
    ],
    "scopes and forms": [
        ("scope outside the vocabulary", consent_add(scope="online,tv"),
         "--scope: 'tv' is not one of filming, online"),
        ("no scope", consent_add(scope=","), "--scope: give at least one scope"),
        ("executable renamed .pdf", consent_add(form="{exe}"), "not a PDF, JPEG or PNG"),
        ("text renamed .pdf", consent_add(form="{text}"), "not a PDF, JPEG or PNG"),
        ("form over the size limit", consent_add(form="{big}"), "1.5 MB is over the consent form limit of 1 MB"),
        ("missing form", consent_add(form="{missing}"), "missing.pdf: no such file"),
        ("empty form", consent_add(form="{empty}"), "empty file"),
        ("form is a folder", consent_add(form="{dir}"), "not a regular file"),
    ],
    "people and states": [
        ("minor without guardian", consent_add(person="{minor}", signed=MINOR["signed"]), "a --guardian is required"),
        ("consent for erased person", consent_add(person="{erased}"), "was erased: no new consent"),
        ("verify withdrawn consent", ["consent", "verify", "{withdrawn}", "--by", "M"],
         "only a pending consent can be verified"),
        ("verify twice", ["consent", "verify", "{verified}", "--by", "M"], "is already verified"),
        ("erase twice", ["person", "erase", "{erased}"], "was already erased"),
        ("supersede another's consent", consent_add(person="{minor}", signed=MINOR["signed"], guardian="Jean Ross",
                                                    supersedes="{verified}"), "that consent is for another person"),
        ("empty name", ["person", "add", "  "], "name must not be empty"),
    ],
    "ranges, times and approval": [
        ("range without an end", ["appearance", "add", "hope", "{adult}", "--at", "1:00"], "--at '1:00'"),
        ("range backwards", ["appearance", "add", "hope", "{adult}", "--at", "00:02:00-00:01:00"],
         "--at '00:02:00-00:01:00': give a time range"),
        ("empty range", ["appearance", "add", "hope", "{adult}", "--at", "00:01:00-00:01:00"], "give a time range"),
        ("range with a bad time", ["appearance", "add", "hope", "{adult}", "--at", "00:01:00-00:01:75"], "--at"),
        ("review at a non-time", ["review", "hope", "--at", "soon"], "--at: 'soon' is not an ISO 8601"),
        ("approve by nobody", ["approve", "hope", "--by", " "], "--by must not be empty"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("group", list(BAD_INPUT))
def test_bad_input_is_refused_and_changes_nothing(cli, lib_dir, desk, group):
    """Each case: exit 2, one 'error: ' line naming the problem, and the same
    files, audit log and people afterwards. (Grouped, to set the library up
    once per group; every failing case is reported.)"""
    failures = []
    for name, args, message in BAD_INPUT[group]:
        argv = [a.format(**desk) for a in args]
        before = state(cli, lib_dir)
        try:
            refused(cli(*argv), message.format(**desk))
            assert state(cli, lib_dir) == before, "something changed"
        except AssertionError as exc:
            failures.append(f"{name}: {' '.join(argv)}: {exc}")
    assert not failures, "\n".join(failures)


# --- the Python API ---------------------------------------------------------------


def test_python_api(lib, forms):
    today = utc_today()
    lib.add_film("hope", title="Hope Street")
    person = lib.add_person("Ailsa Grant", born="1980-02-01", contact="ailsa.grant@example.org")
    expires = (today + timedelta(days=20)).isoformat()
    consent = lib.add_consent(person["id"], scopes=["filming", "online"], signed="2024-01-10", form=forms.pdf(),
                              expires=expires, verified_by="Morag Stewart")  # fmt: skip
    assert consent["status"] == "verified" and consent["expires"] == (today + timedelta(days=20)).isoformat()
    assert lib.add_appearance("hope", person["id"])["identifiable"] is True

    now = datetime.now(UTC)
    assert gate(lib.review("hope", at=now), "consent")["ok"]
    after = now + timedelta(days=20)
    assert gate(lib.review("hope", at=after), "consent")["reasons"] == [
        f"Ailsa Grant: consent {consent['id']} expired on {(today + timedelta(days=20)).isoformat()}"]
    before_signing = datetime(2024, 1, 9, 12, tzinfo=UTC)
    assert "in the future" in gate(lib.review("hope", at=before_signing), "consent")["reasons"][0]
    assert [r["consent"] for r in lib.consent_report(within_days=30, at=now)] == [consent["id"]]
    assert lib.consent_report(within_days=10, at=now) == []
    assert isinstance(lib.review(), list)

    with pytest.raises(CheckFailed, match="cannot approve hope: derivatives: ") as refusal:
        lib.approve("hope", by="Morag Stewart")
    assert refusal.value.exit_code == 1 and "captions: " in str(refusal.value)

    with pytest.raises(NotFound, match="unknown person 999"):
        lib.add_consent(999, scopes=["online"], signed="2024-01-10", form=forms.pdf())
    with pytest.raises(BadInput, match="is not one of"):
        lib.add_consent(person["id"], scopes=["tv"], signed="2024-01-10", form=forms.pdf())
    with pytest.raises(BadInput, match="not an ISO 8601 date"):
        lib.add_person("Jo Bloggs", born="1/2/1980")

    data, already = lib.withdraw_consent(consent["id"], reason="asked by phone")
    assert (data["status"], data["films"], already) == ("withdrawn", ["hope"], False)
    assert lib.withdraw_consent(consent["id"])[1] is True
    assert not gate(lib.review("hope"), "consent")["ok"]

    erased = lib.erase_person(person["id"])
    assert erased["forms_removed"] == 1 and erased["name"] == f"(erased person {person['id']})"
    with pytest.raises(NotFound, match="no form on file"):
        lib.consent_form(consent["id"])
    with pytest.raises(BadInput, match="already erased"):
        lib.erase_person(person["id"])
    assert_no_personal_data(lib.audit(), "Ailsa", "ailsa.grant@example.org", "1980-02-01")


def test_a_consent_that_does_not_commit_leaves_no_signed_form_behind(lib, forms, monkeypatch):
    """The form is stored before the row that points at it. When the transaction then
    fails, a new form is removed again (no erasure could ever find it otherwise); a form
    whose bytes another consent already holds stays."""
    from medialib.consent import records

    ailsa = lib.add_person("Ailsa Grant")["id"]
    sam = lib.add_person("Sam Okafor")["id"]
    group_form = forms.pdf("group-release.pdf")
    held = lib.add_consent(ailsa, scopes=["online"], signed="2024-01-10", form=group_form)
    stored_before = sorted(lib.store.iter_keys("private/consent"))
    assert stored_before == [lib.consent_form(held["id"])[0]]

    def fault_audit_write_fails(*args, **kwargs):
        raise RuntimeError("injected: the audit write failed")

    monkeypatch.setattr(records.audit, "record", fault_audit_write_fails)
    with pytest.raises(RuntimeError, match="injected"):
        lib.add_consent(sam, scopes=["online"], signed="2024-01-10", form=forms.pdf())
    with pytest.raises(RuntimeError, match="injected"):
        lib.add_consent(sam, scopes=["online"], signed="2024-01-10", form=group_form)
    monkeypatch.undo()

    assert sorted(lib.store.iter_keys("private/consent")) == stored_before  # the new form is gone, the shared kept
    assert lib.person(sam)["consents"] == []
    assert lib.consent_form(held["id"])[0] == stored_before[0]
