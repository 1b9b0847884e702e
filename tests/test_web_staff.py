"""The staff side of the film page, through HTTP: media with ranges, the player, caption findings and the
caption editor, consent forms and withdrawal, approval and the audit trail (issue #7)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from medialib.errors import BadInput
from medialib.library import Library
from tests.launch import FAST, FORM, captions_text, make_publishable
from tests.web_helpers import PASSWORDS, ROLES, client, csrf_of, form_token, sign_in

XSS_TITLE = '<script>alert("title")</script> Hope'
BROKEN = "WEBVTT\n\n00:00:00,000 --> 00:00:01,500\nHello there.\n"  # commas: a browser drops the cue


def make_accounts(lib: Library, *names: str) -> dict[str, dict[str, Any]]:
    """Only the accounts a test signs in with (each password hash costs most of a second)."""
    return {name: lib.add_user(name, ROLES[name], PASSWORDS[name]) for name in names}


def open_fast(lib_dir: Path) -> Library:
    with open(lib_dir / "config.toml", "a") as fh:
        fh.write(FAST)
    return Library.open(lib_dir / "config.toml", env={})


@pytest.fixture
def fast_lib(lib_dir: Path):  # noqa: ANN201
    lib = open_fast(lib_dir)
    yield lib
    lib.close()


def film_with_people(lib: Library, slug: str, clip: Path, work: Path, *, owner: int | None = None,
                     title: str | None = None, person: str = "Ailsa Grant") -> dict[str, Any]:  # fmt: skip
    """A film with a cut (not processed), approved English captions and one verified consent."""
    lib.add_film(slug, title or slug.title(), languages=["en"], owner_id=owner)
    cut = lib.add_cut(slug, clip).cut
    vtt = work / f"{slug}.en.vtt"
    vtt.write_text(captions_text(cut["duration"]))
    lib.import_captions(slug, vtt, language="en")
    lib.approve_captions(slug, "en", by="Morag Stewart")
    form = work / "form.pdf"
    form.write_bytes(FORM)
    who = lib.add_person(person, born="1980-02-01")
    consent = lib.add_consent(who["id"], scopes=["filming", "online"], signed="2024-01-10", form=form,
                              verified_by="Morag Stewart")  # fmt: skip
    lib.add_appearance(slug, who["id"])
    return {"person": who["id"], "consent": consent["id"], "cut": cut}


@pytest.fixture
def web(fast_lib: Library, clips, tmp_path: Path) -> dict[str, Any]:  # noqa: ANN001
    users = make_accounts(fast_lib, "staff", "maker")
    made = film_with_people(fast_lib, "hope", clips.video, tmp_path, owner=users["maker"]["id"], title=XSS_TITLE)
    return {"lib": fast_lib, "users": users, **made}


def caption_file(lib: Library, slug: str, lang: str = "en") -> Path:
    return lib.config.captions_dir / slug / f"{lang}.vtt"


def track(lib: Library, slug: str, lang: str = "en") -> dict[str, Any]:
    return next(t for t in lib.captions(slug) if t["language"] == lang)


def approvals(lib: Library, slug: str) -> list[dict[str, Any]]:
    return [e for e in lib.film_audit(slug) if e["action"] == "approve"]


# --- media and the player ---------------------------------------------------------------


def test_media_is_served_with_ranges_to_staff_and_the_owner_only(fast_lib, clips, tmp_path):
    lib = fast_lib
    users = make_accounts(lib, "staff", "maker", "other")
    make_publishable(lib, "hope", clips.video, work=tmp_path)
    lib.edit_film("hope", owner_id=users["maker"]["id"])
    files = {f["name"]: f for f in lib.derivatives("hope")}
    proxy = files["proxy-720.mp4"]
    data = Path(proxy["path"]).read_bytes()
    url = "/media/hope/proxy-720/proxy-720.mp4"

    staff = sign_in(client(lib), "staff")
    whole = staff.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    assert "no-cache" in whole.headers["cache-control"] and "private" in whole.headers["cache-control"]
    part = staff.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == data[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(data)}"
    tail = staff.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    beyond = staff.get(url, headers={"Range": f"bytes={len(data)}-{len(data) + 10}"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"

    poster = staff.get("/media/hope/poster/poster-160.jpg")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    board = staff.get("/media/hope/storyboard/storyboard.vtt")
    assert board.status_code == 200 and board.headers["content-type"].startswith("text/vtt")
    sheets = re.findall(r"^(\S+)#xywh=\d+,\d+,\d+,\d+$", board.text, re.M)
    assert sheets and all(s.startswith("/media/hope/storyboard/storyboard-") for s in sheets)
    sheet = staff.get(sheets[0])
    assert sheet.status_code == 200 and sheet.content == Path(files[sheets[0].rsplit("/", 1)[1]]["path"]).read_bytes()
    captions = staff.get("/media/hope/captions/en.vtt")
    assert captions.status_code == 200 and captions.headers["content-type"] == "text/vtt; charset=utf-8"
    assert captions.text == caption_file(lib, "hope").read_text() and captions.headers["cache-control"] == "no-store"

    for bad in ("/media/hope/proxy-720/nothing.mp4", "/media/hope/nothing/proxy-720.mp4",
                "/media/hope/proxy-720/..%2F..%2Fmedialib.db", "/media/nowhere/proxy-720/proxy-720.mp4",
                "/media/hope/captions/fr.vtt", "/media/hope/captions/x",
                "/media/hope/captions/..%2Fen.vtt"):  # fmt: skip
        assert staff.get(bad).status_code == 404, bad
    assert staff.get("/media/hope/captions/en.secret.vtt").status_code == 400  # not a kind of track

    owner = sign_in(client(lib), "maker")
    assert owner.get(url, headers={"Range": "bytes=0-9"}).content == data[:10]
    assert owner.get("/media/hope/captions/en.vtt").status_code == 200
    other = sign_in(client(lib), "other")
    for path in (url, "/media/hope/captions/en.vtt", "/media/hope/storyboard/storyboard.vtt", sheets[0]):
        assert other.get(path).status_code == 404, path
    anonymous = client(lib).get(url)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

    page = staff.get("/films/hope").text
    video = re.search(r"<video[^>]*>.*?</video>", page, re.S).group(0)
    assert 'controls preload="metadata" poster="/media/hope/poster/poster-160.jpg"' in video
    sources = re.findall(r'<source src="([^"]+)" type="video/mp4">', video)
    assert sources == ["/media/hope/proxy-720/proxy-720.mp4", "/media/hope/proxy-360/proxy-360.mp4"]
    assert '<track kind="captions" srclang="en" label="en captions" src="/media/hope/captions/en.vtt" default>' in video
    assert '<track kind="metadata" label="thumbnails" src="/media/hope/storyboard/storyboard.vtt">' in video
    assert '<script src="/static/player.js" defer></script>' in page
    assert staff.get("/static/player.js").status_code == 200


def test_an_approval_needs_every_gate_and_a_caption_edit_voids_it(fast_lib, clips, tmp_path):
    lib = fast_lib
    make_accounts(lib, "staff")
    make_publishable(lib, "hope", clips.video, work=tmp_path)
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/hope").text)
    edited = captions_text(2.0, "Hope Street, Glasgow")
    r = staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "kind": "captions", "text": edited,
                                                       "action": "save"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/films/hope?notice=")
    assert caption_file(lib, "hope").read_text() == edited
    assert track(lib, "hope")["status"] == "draft" and not lib.review("hope")["publishable"]

    before = len(approvals(lib, "hope"))
    page = staff.get("/films/hope").text
    assert '<button type="submit" disabled aria-describedby="staff-approve-why">Approve cut 1</button>' in page
    why = re.search(r'<div id="staff-approve-why" class="why">(.*?)</div>', page, re.S).group(1)
    assert "captions" in why and "not approved yet" in why
    refused = staff.post("/films/hope/approve", data={"csrf_token": token})
    assert refused.status_code == 409 and "cannot approve hope" in refused.text and "not approved yet" in refused.text
    assert len(approvals(lib, "hope")) == before

    r = staff.post("/films/hope/captions/en/approve", data={"csrf_token": token, "kind": "captions"})
    assert r.status_code == 303 and track(lib, "hope")["approved_by"] == "staff"
    r = staff.post("/films/hope/approve", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith("#staff-approval")
    assert approvals(lib, "hope")[-1]["details"]["by"] == "staff" and lib.review("hope")["publishable"]
    page = staff.get(r.headers["location"]).text
    assert "cut 1 approved by staff" in page and "Approve cut 1</button>" in page


# --- captions ------------------------------------------------------------------------------


def test_a_caption_edit_that_breaks_the_syntax_is_kept_as_a_draft_with_its_findings(web):
    lib = web["lib"]
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/hope").text)
    assert track(lib, "hope")["approved"]
    r = staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "text": BROKEN.replace("\n", "\r\n"),
                                                       "action": "save"})  # fmt: skip
    assert r.status_code == 303
    assert caption_file(lib, "hope").read_text() == BROKEN  # kept, as typed (line ends normalised)
    t = track(lib, "hope")
    assert t["status"] == "draft" and not t["approved"] and t["origin"] == "human" and t["approved_by"] is None
    edit = [e for e in lib.film_audit("hope") if e["action"] == "captions.edit"]
    assert len(edit) == 1 and edit[0]["details"]["errors"] == 1 and edit[0]["details"]["by"] == "staff"
    notice = staff.get(r.headers["location"]).text
    assert "saved as a new draft version (1 error(s), 0 warning(s))" in notice
    page = notice
    assert "use &#39;.&#39; before the milliseconds" in page and "<strong>1 error</strong>" in page
    assert "Not possible now: 1 error(s) to fix first." in page

    refused = staff.post("/films/hope/captions/en/approve", data={"csrf_token": token, "kind": "captions"})
    assert refused.status_code == 409 and "1 error(s)" in refused.text
    assert track(lib, "hope")["status"] == "draft"
    assert staff.get("/media/hope/captions/en.vtt").text == BROKEN  # the player gets the text as it is now

    # A signature a browser rejects is kept too, and approval stays refused.
    r = staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "text": "WEBVTX\n\nnothing\n",
                                                       "action": "save"})  # fmt: skip
    assert r.status_code == 303 and caption_file(lib, "hope").read_text() == "WEBVTX\n\nnothing\n"
    page = staff.get("/films/hope").text
    assert "a browser rejects this file as a whole" in page and "bad signature" in page
    refused = staff.post("/films/hope/captions/en/approve", data={"csrf_token": token, "kind": "captions"})
    assert refused.status_code in (400, 409) and track(lib, "hope")["status"] == "draft"

    # Blank text is refused: a track is never replaced by an empty file.
    r = staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "text": " \r\n", "action": "save"})
    assert r.status_code == 400 and "empty" in r.text
    assert caption_file(lib, "hope").read_text() == "WEBVTX\n\nnothing\n"


def test_saving_the_same_text_changes_nothing(web):
    lib = web["lib"]
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/hope").text)
    same = caption_file(lib, "hope").read_text()
    r = staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "text": same, "action": "save"})
    assert r.status_code == 303 and "no+change" in r.headers["location"]
    assert track(lib, "hope")["approved"]
    assert not [e for e in lib.film_audit("hope") if e["action"] == "captions.edit"]


def test_check_without_javascript_shows_the_edited_text_and_its_findings_without_saving(web):
    lib = web["lib"]
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/hope").text)
    stored = caption_file(lib, "hope").read_text()
    short = "WEBVTT\n\n00:00:00.500 --> 00:00:00.700\nHi\n"  # 0.2 s: too short to read
    r = staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "text": short, "action": "check"})
    assert r.status_code == 200
    assert "Findings in the edited text below (not saved)" in r.text
    assert ">\nWEBVTT\n\n00:00:00.500 --&gt; 00:00:00.700\nHi\n</textarea>" in r.text
    assert re.search(r'<a href="#t=0.5" data-seek="0.5"><span class="visually-hidden">Seek the player to </span>'
                     r"00:00:00.500</a>", r.text)  # fmt: skip
    assert "min_duration" in r.text
    assert "the text shown has not been saved; save it first" in r.text
    assert caption_file(lib, "hope").read_text() == stored and track(lib, "hope")["approved"]
    for data, code in (({"text": short, "action": "publish"}, 400), ({"text": "", "action": "check"}, 400),
                       ({"text": short, "action": "check", "kind": "chapters"}, 404)):  # fmt: skip
        assert staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, **data}).status_code == code
    assert staff.post("/films/hope/captions/fr/edit", data={"csrf_token": token, "text": short,
                                                          "action": "save"}).status_code == 404  # fmt: skip


def test_the_live_check_api(web):
    lib = web["lib"]
    staff = sign_in(client(lib), "staff")
    headers = {"X-CSRF-Token": csrf_of(staff)}
    url = "/api/films/hope/captions/en/check"
    r = staff.post(url, json={"text": "WEBVTT\n\n00:00:00.500 --> 00:00:00.700\nHi\n"}, headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["cues"] == 1 and body["errors"] >= 1 and body["accepted"] is True
    finding = next(f for f in body["findings"] if f["rule"] == "min_duration")
    assert finding["start"] == 0.5 and finding["time"] == "00:00:00.500" and finding["cue"] == 1
    r = staff.post(url, json={"text": BROKEN}, headers=headers)
    assert r.json()["findings"][0]["rule"] == "syntax" and r.json()["cues"] == 0
    assert staff.post(url, json={"text": BROKEN}).status_code == 403  # no X-CSRF-Token
    assert staff.post(url, json={"text": BROKEN}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert staff.post(url, json={"text": "  "}, headers=headers).status_code == 400
    assert staff.post(url, json={}, headers=headers).status_code == 422
    with pytest.raises(BadInput, match="not valid Unicode"):  # a lone surrogate, from the Python API
        lib.save_captions("hope", "en", "WEBVTT\n\n\ud800")
    assert staff.post("/api/films/hope/captions/not a language/check", json={"text": BROKEN},
                      headers=headers).status_code == 400  # fmt: skip
    assert staff.post("/api/films/nowhere/captions/en/check", json={"text": BROKEN}, headers=headers).status_code == 404
    maker = sign_in(client(lib), "maker")
    assert maker.post(url, json={"text": BROKEN}, headers={"X-CSRF-Token": csrf_of(maker)}).status_code == 403
    assert client(lib).post(url, json={"text": BROKEN}).status_code == 401
    assert caption_file(lib, "hope").read_text() != BROKEN  # nothing saved
    assert "/api/films/{slug}/captions/{language}/check" in staff.get("/api/openapi.json").json()["paths"]


# --- escaping ------------------------------------------------------------------------------


def test_catalogue_and_caption_text_are_escaped_everywhere(web, clips, tmp_path):
    lib = web["lib"]
    film_with_people(lib, "xss", clips.video, tmp_path, title="<img src=x onerror=alert(1)>",
                     person='<script>alert("person")</script>')  # fmt: skip
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/xss").text)
    nasty = ("WEBVTT\n\n00:00:00.000 --> <script>alert(2)</script>\nx\n\n"
             "00:00:00.000 --> 00:00:01.900\n</textarea><script>alert(3)</script>\n")  # fmt: skip
    assert staff.post("/films/xss/captions/en/edit", data={"csrf_token": token, "text": nasty,
                                                         "action": "save"}).status_code == 303  # fmt: skip
    consent = next(c for c in lib.person(lib.people()[-1]["id"])["consents"])
    assert staff.post(f"/consent/{consent['id']}/withdraw", data={"csrf_token": token, "film": "xss",
                      "reason": "<b>asked</b><script>alert(4)</script>"}).status_code == 303  # fmt: skip
    for page in (staff.get("/films/xss").text,
                 staff.post("/films/xss/captions/en/edit", data={"csrf_token": token, "text": nasty,
                                                               "action": "check"}).text):  # fmt: skip
        assert "<script>alert" not in page and "<img src=x" not in page and "</textarea><script>" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the title
        assert "&lt;/textarea&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in page  # the editor
        assert "&#39;&lt;script&gt;alert(2)&lt;/script&gt;&#39;" in page  # a finding's message
        assert page.count("<textarea") == page.count("</textarea>")
    page = staff.get("/films/xss").text
    assert "&lt;script&gt;alert(&#34;person&#34;)&lt;/script&gt;" in page  # the consent table
    assert "&lt;b&gt;asked&lt;/b&gt;&lt;script&gt;alert(4)&lt;/script&gt;" in page  # the withdraw reason
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in staff.get("/films/hope").text
    vtt = staff.get("/media/xss/captions/en.vtt")
    assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert vtt.headers["x-content-type-options"] == "nosniff"


# --- consent -------------------------------------------------------------------------------


def test_consent_forms_are_for_staff_only_and_never_cached(web, tmp_path):
    lib, consent = web["lib"], web["consent"]
    old = lib.add_consent(web["person"], scopes=["filming"], signed="2020-01-10", expires="2021-01-10",
                          form=tmp_path / "form.pdf", verified_by="Iona Reid")  # fmt: skip
    staff = sign_in(client(lib), "staff")
    page = staff.get("/films/hope").text
    assert "<h3>Ailsa Grant</h3>" in page
    table = re.search(r'<table class="consents">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(\d+)</th>(.*?)</tr>", table, re.S)
    assert [int(n) for n, _ in rows] == [old["id"], consent]  # newest first
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", rows[1][1], re.S)]
    assert cells[:6] == ["filming, online", "2024-01-10", "no expiry", "verified", "Morag Stewart",
                         f"Download the signed form of consent {consent}"]  # fmt: skip
    assert f'href="/consent/{consent}/form"' in rows[1][1]
    assert '<span class="chip bad">expired on 2021-01-10</span>' in rows[0][1] and "Iona Reid" in rows[0][1]
    r = staff.get(f"/consent/{consent}/form")
    assert r.status_code == 200 and r.content == FORM and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="consent-{consent}.pdf"'
    assert r.headers["cache-control"] == "no-store"
    assert staff.get("/consent/999/form").status_code == 404
    assert staff.get("/consent/abc/form").status_code == 422
    maker = sign_in(client(lib), "maker")  # the film's own maker: still not theirs to read
    assert maker.get(f"/consent/{consent}/form").status_code == 403
    assert maker.get("/consent/999/form").status_code == 403
    assert client(lib).get(f"/consent/{consent}/form").status_code == 303


def test_withdrawing_a_consent_needs_staff_a_token_and_a_reason(web):
    lib, consent = web["lib"], web["consent"]
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/hope").text)
    url = f"/consent/{consent}/withdraw"
    assert staff.post(url, data={"csrf_token": token, "film": "hope", "reason": "  "}).status_code == 400
    maker = sign_in(client(lib), "maker")
    maker_token = form_token(maker.get("/films/hope").text)
    assert maker.post(url, data={"csrf_token": maker_token, "film": "hope", "reason": "mine"}).status_code == 403
    assert staff.post(url, data={"csrf_token": token, "film": "nowhere", "reason": "asked"}).status_code == 404
    assert lib.person(web["person"])["consents"][0]["status"] == "verified"

    r = staff.post(url, data={"csrf_token": token, "film": "hope", "reason": "asked by phone"})
    assert r.status_code == 303 and r.headers["location"].startswith("/films/hope?notice=")
    assert r.headers["location"].endswith("#staff-consent")
    c = lib.person(web["person"])["consents"][0]
    assert c["status"] == "withdrawn" and c["withdraw_reason"] == "asked by phone"
    page = staff.get(r.headers["location"]).text
    assert "films affected: hope" in page and "asked by phone" in page
    assert f'action="/consent/{consent}/withdraw"' not in page
    gates = {g["gate"]: g for g in lib.review("hope")["gates"]}
    assert not gates["consent"]["ok"]
    again = staff.post(url, data={"csrf_token": token, "film": "hope", "reason": "twice"})
    assert "already withdrawn" in staff.get(again.headers["location"]).text
    assert lib.person(web["person"])["consents"][0]["withdraw_reason"] == "asked by phone"


# --- approval, audit, authorisation --------------------------------------------------------


def test_approve_while_gates_fail_lists_the_reasons_and_approves_nothing(web):
    lib = web["lib"]
    staff = sign_in(client(lib), "staff")
    page = staff.get("/films/hope").text
    assert "No proxy to play yet" in page
    assert '<span class="chip bad">✗ derivatives<span class="visually-hidden">: fails</span></span>' in page
    assert '<span class="chip ok">✓ captions<span class="visually-hidden">: holds</span></span>' in page
    why = re.search(r'<div id="staff-approve-why" class="why">(.*?)</div>', page, re.S).group(1)
    assert "derivatives" in why and "not built yet" in why and "captions" not in why
    r = staff.post("/films/hope/approve", data={"csrf_token": form_token(page)})
    assert r.status_code == 409 and "cannot approve hope" in r.text and "not built yet" in r.text
    assert approvals(lib, "hope") == []
    assert not {g["gate"]: g for g in lib.review("hope")["gates"]}["approval"]["ok"]
    assert staff.post("/films/nowhere/approve", data={"csrf_token": form_token(page)}).status_code == 404


def test_the_audit_trail_is_newest_first(web):
    lib = web["lib"]
    staff = sign_in(client(lib), "staff")
    token = form_token(staff.get("/films/hope").text)
    staff.post("/films/hope/captions/en/edit", data={"csrf_token": token, "text": BROKEN, "action": "save"})
    page = staff.get("/films/hope").text
    trail = re.search(r'<table class="audit">.*?</table>', page, re.S).group(0)
    actions = re.findall(r"<td>([a-z.]+)<br>", trail)
    assert actions[0] == "captions.edit" and actions[-1] == "film.add"
    assert actions == [e["action"] for e in reversed(lib.film_audit("hope"))]


def test_every_staff_post_needs_its_csrf_token(web):
    lib, consent = web["lib"], web["consent"]
    staff = sign_in(client(lib), "staff")
    posts = [
        ("/films/hope/approve", {}),
        ("/films/hope/captions/en/edit", {"text": BROKEN, "action": "save"}),
        ("/films/hope/captions/en/edit", {"text": BROKEN, "action": "check"}),
        ("/films/hope/captions/en/approve", {"kind": "captions"}),
        (f"/consent/{consent}/withdraw", {"film": "hope", "reason": "asked"}),
    ]
    stored = caption_file(lib, "hope").read_text()
    events = len(lib.film_audit("hope"))
    for url, data in posts:
        for token in (None, "forged-token"):
            sent = data if token is None else {**data, "csrf_token": token}
            r = staff.post(url, data=sent)
            assert r.status_code == 403 and "security token" in r.text, (url, token)
    assert caption_file(lib, "hope").read_text() == stored and len(lib.film_audit("hope")) == events
    assert lib.person(web["person"])["consents"][0]["status"] == "verified"


def test_film_makers_get_no_staff_sections_and_no_staff_actions(web, clips, tmp_path):
    lib = web["lib"]
    other = make_accounts(lib, "other")["other"]
    film_with_people(lib, "others", clips.video, tmp_path, owner=other["id"], person="Bob")
    maker = sign_in(client(lib), "maker")
    page = maker.get("/films/hope")
    assert page.status_code == 200
    for staff_only in ("Audit trail", "Gates and approval", "/consent/", "caption-editor", "player.js"):
        assert staff_only not in page.text, staff_only
    token = form_token(page.text)
    for url, data in (("/films/hope/approve", {}),
                      ("/films/hope/captions/en/edit", {"text": BROKEN, "action": "save"}),
                      ("/films/hope/captions/en/approve", {}),
                      (f"/consent/{web['consent']}/withdraw", {"reason": "x"})):  # fmt: skip
        assert maker.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert maker.get("/films/others").status_code == 404
    assert maker.get("/media/others/captions/en.vtt").status_code == 404
    assert track(lib, "hope")["approved"] and approvals(lib, "hope") == []


# --- the review board --------------------------------------------------------------------


def test_the_board_reads_plain_rows_and_agrees_with_the_full_review(fast_lib, clips, tmp_path):
    """The board's fast path (plain rows, memoised QC, no disk) must judge every gate as the full review does."""
    lib = fast_lib
    make_accounts(lib, "staff")
    ready = make_publishable(lib, "ready", clips.video, work=tmp_path)
    film_with_people(lib, "silent", clips.silent, tmp_path, person="Eilidh Ross")
    lib.process(["silent"])  # no audio: a QC error
    withdrawn = make_publishable(lib, "withdrawn", clips.video2, work=tmp_path)
    lib.withdraw_consent(withdrawn["consent"], reason="asked to be removed")
    unprocessed = film_with_people(lib, "unprocessed", clips.faststart, tmp_path, person="Iain Boyd")
    lib.add_appearance("silent", unprocessed["person"], identifiable=False)  # a person in two films
    lib.add_film("empty", "No cut yet")
    make_publishable(lib, "pinned", clips.video, work=tmp_path)
    lib.add_cut("pinned", clips.video2)
    lib.edit_film("pinned", current_cut=1)
    make_publishable(lib, "newer", clips.video, work=tmp_path)
    lib.add_cut("newer", clips.video2)  # the newest cut is current and not approved
    make_publishable(lib, "edited", clips.video, work=tmp_path)
    caption_file(lib, "edited").write_text(captions_text(2.0, "Changed by hand"))  # the full review reads files
    make_publishable(lib, "embargoed", clips.video, work=tmp_path)
    lib.edit_film("embargoed", publish_at="2999-01-01T00:00:00Z")
    make_publishable(lib, "down", clips.video, work=tmp_path)
    lib.takedown("down", target=f"file://{tmp_path / 'site'}")

    def normalised(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            for g in row["gates"]:
                g["reasons"] = [r.replace("all derivatives built and in place", "all derivatives built")
                                for r in g["reasons"]]  # fmt: skip
        return rows

    at = lib.review()[0]["at"]
    from datetime import datetime

    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    full = {r["slug"]: r for r in normalised(lib.review(at=when))}
    board = {r["slug"]: r for r in normalised(lib.review(at=when, check_files=False))}
    assert list(board) == sorted(full) and len(board) == 10
    differ = {slug for slug in full if full[slug] != board[slug]}
    assert differ == {"edited"}  # the board trusts the recorded caption hash; the full review read the file
    assert [g["ok"] for g in board["ready"]["gates"]] == [True] * 6 and board["ready"]["publishable"]
    outcome = {slug: {g["gate"] for g in row["gates"] if not g["ok"]} for slug, row in board.items()}
    assert outcome["silent"] == {"qc", "approval"} and "no_audio" in str(board["silent"]["gates"])
    assert outcome["withdrawn"] == {"consent", "approval"}
    assert "derivatives" in outcome["unprocessed"] and "qc" in outcome["unprocessed"]
    assert outcome["empty"] >= {"derivatives", "qc", "captions"}
    assert outcome["pinned"] == set() and board["pinned"]["cut"] == 1
    assert "approval" in outcome["newer"] and board["newer"]["cut"] == 2
    assert outcome["embargoed"] == {"embargo"} and "approval" in outcome["down"]

    # Through HTTP, and a change after a board view shows on the next one (only QC is memoised).
    staff = sign_in(client(lib), "staff")
    assert 'href="/films/ready"' in staff.get("/board", params={"status": "publishable"}).text
    lib.withdraw_consent(ready["consent"], reason="changed mind")
    assert 'href="/films/ready"' not in staff.get("/board", params={"status": "publishable"}).text
    assert 'href="/films/ready"' in staff.get("/board", params={"status": "blocked"}).text


def test_process_stores_each_cuts_qc_outcome_and_the_board_uses_it_while_it_holds(fast_lib, clips, tmp_path):
    from sqlalchemy import select, update

    from medialib.catalog.models import DerivativeJob

    lib = fast_lib
    film_with_people(lib, "silent", clips.silent, tmp_path)
    lib.process(["silent"])
    sha = lib.film("silent")["cuts"][0]["sha256"]
    with lib.session() as s:
        analysis = s.scalars(select(DerivativeJob).where(DerivativeJob.sha256 == sha,
                                                         DerivativeJob.kind == "analysis")).one()  # fmt: skip
        assert analysis.qc_key and analysis.qc_errors == ["no_audio: no audio stream"]

    def qc_gate(library: Library) -> dict[str, Any]:
        row = next(r for r in library.review(check_files=False) if r["slug"] == "silent")
        return next(g for g in row["gates"] if g["gate"] == "qc")

    # A fresh library (no memo) takes the stored outcome as it is: mark it to see that it is read.
    with lib.transaction() as s:
        s.execute(update(DerivativeJob).where(DerivativeJob.id == analysis.id)
                  .values(qc_errors=["stored: read from the catalogue"]))  # fmt: skip
    fresh = Library.open(lib.config.path, env={})
    try:
        assert qc_gate(fresh)["reasons"] == ["stored: read from the catalogue"]
    finally:
        fresh.close()
    # Other thresholds: the stored outcome no longer holds and QC is worked out again.
    with open(lib.config.path, "a") as fh:
        fh.write("\n[qc]\naudio_required = false\n")
    silent_ok = Library.open(lib.config.path, env={})
    try:
        gate = qc_gate(silent_ok)
        assert gate["ok"] and gate["reasons"] == ["no error-level finding"]
    finally:
        silent_ok.close()
    # A catalogue processed before outcomes were stored: the next `process` stores them, once.
    with lib.transaction() as s:
        s.execute(update(DerivativeJob).where(DerivativeJob.id == analysis.id).values(qc_key=None, qc_errors=None))
    assert lib.process(["silent"]).as_dict()["built"] == 0
    with lib.session() as s:
        again = s.get(DerivativeJob, analysis.id)
        assert again.qc_key == analysis.qc_key and again.qc_errors == ["no_audio: no audio stream"]
