"""The film-maker side of the web app, through HTTP: register a film, upload cuts (chunked and
resumable, or a plain form), upload captions, follow processing and QC; every bad input refused
with one line and nothing changed."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import html5lib
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from medialib.library import Library
from medialib.web.app import create_app
from medialib.web.auth import COOKIE
from medialib.web.maker import UPLOAD_TTL, Processor, processor_for
from tests.web_helpers import csrf_of, form_token, make_accounts, sign_in

FAST = '\n[recipes.proxy-720]\npreset = "ultrafast"\n[recipes.proxy-360]\npreset = "ultrafast"\n'
RECIPES = ("analysis", "proxy-720", "proxy-360", "poster", "storyboard")
SRT = "1\n00:00:00,500 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,600 --> 00:00:01,900\nBye.\n"


@dataclass
class Web:
    lib: Library
    lib_dir: Path
    app: FastAPI
    users: dict[str, dict[str, Any]]
    processor: Processor
    clients: list[TestClient] = field(default_factory=list)

    def client(self, name: str | None = None) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        self.clients.append(c)
        return sign_in(c, name) if name else c

    def cuts(self, slug: str) -> list[dict[str, Any]]:
        return self.lib.cuts(slug)

    def leftovers(self) -> list[str]:
        """Files under assets/tmp and assets/originals (a refused upload must leave none)."""
        assets = self.lib_dir / "assets"
        return sorted(str(p.relative_to(assets)) for sub in ("tmp", "originals") if (assets / sub).exists()
                      for p in (assets / sub).rglob("*"))  # fmt: skip


@pytest.fixture
def web(lib_dir: Path):  # noqa: ANN201
    """A library that processes fast, four accounts, three films and one app. Processing is held
    (queued, not run) unless a test releases it."""
    with open(lib_dir / "config.toml", "a", encoding="utf-8") as f:
        f.write(FAST)
    lib = Library.open(lib_dir / "config.toml", env={})
    users = make_accounts(lib)
    lib.add_film("makers-film", "Maker's Film", owner_id=users["maker"]["id"])
    lib.add_film("others-film", "Other's Film", owner_id=users["other"]["id"])
    lib.add_film("staff-film", "Staff Film")
    processor = processor_for(lib)
    processor.hold()
    w = Web(lib, lib_dir, create_app(lib), users, processor)
    try:
        yield w
    finally:
        for c in w.clients:
            c.close()
        processor.wait()
        processor.shutdown()
        lib.close()


def api_headers(c: TestClient, **extra: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf_of(c), **extra}


def start(c: TestClient, slug: str, size: int, name: str = "cut.mp4", **extra: Any) -> Any:
    return c.post(f"/api/films/{slug}/uploads", json={"size": size, "name": name, **extra}, headers=api_headers(c))


def put(c: TestClient, upload_id: str, offset: int | str, body: Any, csrf: str | None = None) -> Any:
    headers = {"X-CSRF-Token": csrf or csrf_of(c), "Upload-Offset": str(offset),
               "Content-Type": "application/offset+octet-stream"}  # fmt: skip
    return c.put(f"/api/uploads/{upload_id}", content=body, headers=headers)


def finish(c: TestClient, upload_id: str) -> Any:
    return c.post(f"/api/uploads/{upload_id}/finish", headers=api_headers(c))


def upload_bytes(c: TestClient, slug: str, data: bytes, name: str, chunk: int = 64 << 10) -> Any:
    """The whole chunked API, as upload.js uses it; returns the finish response."""
    r = start(c, slug, len(data), name)
    assert r.status_code == 201, r.text
    upload_id, offset = r.json()["id"], 0
    csrf = csrf_of(c)
    while offset < len(data):
        r = put(c, upload_id, offset, data[offset : offset + chunk], csrf)
        assert r.status_code == 200, r.text
        assert r.json()["offset"] == min(offset + chunk, len(data))
        offset = r.json()["offset"]
    return finish(c, upload_id)


def cli_message(cli, slug: str, path: Path) -> str:  # noqa: ANN001
    """The one-line error `medialib cut add` prints for this file, naming it as the web app does."""
    r = cli("cut", "add", slug, str(path))
    assert r.code == 2, (r.code, r.err)
    line = r.err.strip()
    assert line.startswith("error: ") and "\n" not in line
    return line.removeprefix("error: ").replace(str(path), path.name)


def page(c: TestClient, slug: str) -> str:
    r = c.get(f"/films/{slug}")
    assert r.status_code == 200, r.text[:300]
    return r.text


def check_html(text: str) -> None:
    """Strict HTML (any parse error raises), unique ids, every form control labelled, no inline
    script or style (the CSP forbids them)."""
    parser = html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    root = parser.parse(text)
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    labelled = {e.get("for") for e in root.iter("label")}
    for control in [*root.iter("input"), *root.iter("select"), *root.iter("textarea")]:
        if control.get("type") in ("hidden", "submit"):
            continue
        assert control.get("id") in labelled or control.get("aria-label"), control.attrib
    for e in root.iter():
        assert "style" not in e.attrib and not any(a.startswith("on") for a in e.attrib), e.attrib
    assert all(e.get("src") for e in root.iter("script"))


def statuses(text: str) -> dict[str, str]:
    """recipe -> the status chip shown in the page's processing table."""
    row = r'<tr id="recipe-([\w-]+)"><th scope="row">[\w-]+</th>\s*<td><span class="chip \w+">([\w ]+)</span>'
    return dict(re.findall(row, text))


# --- registering a film -------------------------------------------------------------------


def test_a_film_maker_registers_a_film_and_owns_it(web):
    c = web.client("maker")
    form = c.get("/films/new")
    assert form.status_code == 200
    for field_id in ("slug", "title", "summary", "location", "languages", "publish_at"):
        assert f'<label for="{field_id}">' in form.text and f'id="{field_id}"' in form.text
    assert 'id="owner"' not in form.text  # only staff choose an owner
    check_html(form.text)
    r = c.post("/films/new", data={
        "csrf_token": form_token(form.text), "slug": "hope-street", "title": "Hope <Street>",
        "summary": "A bus route <script>alert(1)</script>", "location": "Leith", "languages": "EN, gd",
        "publish_at": "2026-12-01T09:00", "owner": str(web.users["other"]["id"]),  # ignored for a film-maker
    })  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/films/hope-street?notice=")
    film = web.lib.film("hope-street")
    assert film["owner_id"] == web.users["maker"]["id"]
    assert [e["actor"] for e in web.lib.audit("film:hope-street")] == ["web:maker"]
    assert film["languages"] == ["en", "gd"] and film["location"] == "Leith"
    assert film["publish_at"].startswith("2026-12-01T09:00:00")
    shown = c.get(r.headers["location"])
    assert shown.status_code == 200 and "Registered Hope &lt;Street&gt;" in shown.text
    assert "<script>alert(1)" not in shown.text and "&lt;script&gt;alert(1)" in shown.text
    assert [f["slug"] for f in c.get("/api/films").json()] == ["hope-street", "makers-film"]
    assert web.client("other").get("/films/hope-street").status_code == 404


BAD_FILMS = [
    ({"slug": "Hope Street"}, ("film", "add", "Hope Street", "--title", "T"), 400),
    ({"slug": "makers-film"}, ("film", "add", "makers-film", "--title", "T"), 409),
    ({"title": "   "}, ("film", "add", "fresh", "--title", "   "), 400),
    ({"title": "x" * 301}, ("film", "add", "fresh", "--title", "x" * 301), 400),
    ({"title": "bell\x07"}, ("film", "add", "fresh", "--title", "bell\x07"), 400),
    ({"languages": "en, en_GB"}, ("film", "add", "fresh", "--title", "T", "--language", "en", "--language", "en_GB"),
     400),
    ({"publish_at": "next tuesday"}, ("film", "add", "fresh", "--title", "T", "--publish-at", "next tuesday"), 400),
]


def test_bad_film_registration_shows_the_cli_message_and_creates_nothing(web, cli):
    c = web.client("maker")
    token = form_token(c.get("/films/new").text)
    for bad, cli_args, code in BAD_FILMS:
        r_cli = cli(*cli_args)
        assert r_cli.code == 2, bad
        message = r_cli.err.strip().removeprefix("error: ")
        films_before, audit_before = web.lib.films(), web.lib.audit()
        data = {"csrf_token": token, "slug": "fresh", "title": "T", "summary": "kept <b>", **bad}
        r = c.post("/films/new", data=data)
        assert r.status_code == code, bad
        assert f'<p class="error" role="alert" id="film-error">{escape(message)}</p>' in r.text, bad
        assert "kept &lt;b&gt;</textarea>" in r.text  # what was typed is kept
        assert 'aria-invalid="true"' in r.text, bad
        assert web.lib.films() == films_before and web.lib.audit() == audit_before, bad
        check_html(r.text)


def test_film_registration_needs_the_csrf_token_and_a_free_slug(web):
    c = web.client("maker")
    r = c.post("/films/new", data={"slug": "fresh", "title": "T"})
    assert r.status_code == 403 and "security token" in r.text
    r = c.post("/films/new", data={"slug": "fresh", "title": "T", "csrf_token": "forged"})
    assert r.status_code == 403
    token = form_token(c.get("/films/new").text)
    r = c.post("/films/new", data={"slug": "new", "title": "T", "csrf_token": token})
    assert r.status_code == 400 and "reserved" in r.text
    assert [f["slug"] for f in web.lib.films()] == ["makers-film", "others-film", "staff-film"]
    anonymous = web.client()
    assert anonymous.get("/films/new").status_code == 303
    assert anonymous.post("/films/new", data={"slug": "fresh", "title": "T"}).status_code == 303
    assert len(web.lib.films()) == 3


def test_sql_injection_in_a_registered_film_is_stored_as_text_and_shown_escaped(web):
    c = web.client("maker")
    token = form_token(c.get("/films/new").text)
    title = "Robert'); DROP TABLE films;--"
    summary = "' OR 1=1 -- \" UNION SELECT password_hash FROM users; --"
    r = c.post("/films/new", data={"csrf_token": token, "slug": "bobby-tables", "title": title, "summary": summary})
    assert r.status_code == 303
    assert web.lib.film("bobby-tables")["title"] == title and web.lib.film("bobby-tables")["summary"] == summary
    assert [f["slug"] for f in web.lib.films()] == ["bobby-tables", "makers-film", "others-film", "staff-film"]
    page = c.get("/films/bobby-tables").text
    assert str(escape(title)) in page and str(escape(summary)) in page
    assert "password_hash" not in page.replace(str(escape(summary)), "")  # nothing but the text itself
    check_html(page)


def test_staff_register_a_film_for_a_film_maker_or_for_staff_only(web):
    c = web.client("staff")
    form = c.get("/films/new")
    assert '<label for="owner">' in form.text and ">maker</option>" in form.text and ">staff</option>" not in form.text
    check_html(form.text)
    token = form_token(form.text)
    r = c.post("/films/new", data={"csrf_token": token, "slug": "for-maker", "title": "T",
                                   "owner": str(web.users["maker"]["id"])})  # fmt: skip
    assert r.status_code == 303
    assert web.lib.film("for-maker")["owner_id"] == web.users["maker"]["id"]
    r = c.post("/films/new", data={"csrf_token": token, "slug": "staff-only", "title": "T", "owner": ""})
    assert r.status_code == 303 and web.lib.film("staff-only")["owner_id"] is None
    r = c.post("/films/new", data={"csrf_token": token, "slug": "bad-owner", "title": "T",
                                   "owner": str(web.users["admin"]["id"])})  # fmt: skip
    assert r.status_code == 400 and "owner: not an active film-maker account" in r.text
    assert "bad-owner" not in {f["slug"] for f in web.lib.films()}


# --- uploading cuts -----------------------------------------------------------------------


def test_chunked_upload_adds_the_cut_and_the_page_shows_it_processing(web, clips):
    c = web.client("maker")
    data = clips.video.read_bytes()
    r = upload_bytes(c, "makers-film", data, "Final Cut.mp4", chunk=len(data) // 5 + 1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cut"]["seq"] == 1 and body["duplicate"] is False and body["page"] == "/films/makers-film"
    cut = web.cuts("makers-film")[0]
    assert cut["sha256"] == hashlib.sha256(data).hexdigest() and cut["size"] == len(data)
    assert cut["original_name"] == "Final Cut.mp4"  # the name is metadata; the stored key is the hash
    assert cut["uploaded_by"] == "web:maker"
    assert web.leftovers() == sorted(["originals/" + "/".join(cut["storage_key"].split("/")[1:i])
                                      for i in (2, 3, 4)])  # fmt: skip
    # Queued for processing (held by the fixture): the page says so, and a reload shows progress.
    text = page(c, "makers-film")
    assert statuses(text) == dict.fromkeys(RECIPES, "queued")
    assert 'href="/films/makers-film#processing">Refresh</a>' in text and "Final Cut.mp4" in text
    assert c.get("/api/films/makers-film/processing").json()["state"] == "queued"
    web.processor.release()
    web.processor.wait()
    text = page(c, "makers-film")
    assert statuses(text) == dict.fromkeys(RECIPES, "done")
    check_html(text)
    assert 'id="processing-state">done</span>' in text and "loudness -" in text and "LUFS" in text
    status = c.get("/api/films/makers-film/processing").json()
    assert status["state"] == "done" and status["qc"]["not_measured"] == []
    assert {r["recipe"]: r["status"] for r in status["recipes"]} == dict.fromkeys(RECIPES, "done")
    # The same file again is a duplicate: nothing added.
    again = upload_bytes(c, "makers-film", data, "copy.mp4")
    assert again.status_code == 200 and again.json()["duplicate"] is True and len(web.cuts("makers-film")) == 1


def test_qc_findings_are_listed_with_level_code_and_message(web, clips):
    c = web.client("maker")
    web.lib.add_cut("makers-film", clips.silent)  # no audio: QC says so once measured
    assert statuses(page(c, "makers-film")) == dict.fromkeys(RECIPES, "not started")
    token = form_token(page(c, "makers-film"))
    assert c.post("/films/makers-film/process", data={}).status_code == 403
    r = c.post("/films/makers-film/process", data={"csrf_token": token})
    assert r.status_code == 303
    web.processor.release()
    web.processor.wait()
    qc = web.lib.qc("makers-film")
    assert qc["findings"], "a silent clip should have at least one finding"
    text = page(c, "makers-film")
    rows = re.findall(r'<tr class="finding"><td><span class="chip \w+">(\w+)</span></td>\s*<td>([\w-]+)</td>', text)
    assert rows == [(f["level"], f["code"]) for f in qc["findings"]]
    for f in qc["findings"]:
        assert escape(f["message"]) in text
    check_html(text)


def test_the_form_upload_works_without_javascript(web, clips):
    c = web.client("maker")
    text = page(c, "makers-film")
    assert 'enctype="multipart/form-data"' in text and '<script src="/static/upload.js" defer></script>' in text
    with open(clips.video2, "rb") as f:
        r = c.post("/films/makers-film/cuts", data={"csrf_token": form_token(text), "label": "rough"},
                   files={"file": ("rough cut.mp4", f, "video/mp4")})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("#processing")
    cut = web.cuts("makers-film")[0]
    assert cut["label"] == "rough" and cut["original_name"] == "rough cut.mp4"
    assert not [p for p in web.leftovers() if p.startswith("tmp/")]
    assert "Added cut 1" in c.get(r.headers["location"]).text


def test_a_non_video_is_refused_with_the_cli_message_and_nothing_is_kept(web, clips, cli):
    expected = cli_message(cli, "makers-film", clips.text)
    c = web.client("maker")
    r = upload_bytes(c, "makers-film", clips.text.read_bytes(), "text.mp4")
    assert r.status_code == 400 and r.json() == {"error": expected}
    assert web.cuts("makers-film") == [] and web.leftovers() == []
    with open(clips.text, "rb") as f:
        r = c.post("/films/makers-film/cuts", data={"csrf_token": form_token(page(c, "makers-film"))},
                   files={"file": ("text.mp4", f, "video/mp4")})  # fmt: skip
    assert r.status_code == 400
    assert f'<p class="error" role="alert" id="cut-error">{escape(expected)}</p>' in r.text
    check_html(r.text)
    assert web.cuts("makers-film") == [] and web.leftovers() == []
    assert web.processor.status("makers-film") is None  # nothing to process


def test_a_zero_byte_upload_is_refused_like_the_cli(web, clips, cli):
    expected = cli_message(cli, "makers-film", clips.empty)
    assert expected == "empty.mp4: empty file (0 bytes)"
    c = web.client("maker")
    r = start(c, "makers-film", 0, "empty.mp4")
    assert r.status_code == 400 and r.json() == {"error": expected}
    r = c.post("/films/makers-film/cuts", data={"csrf_token": form_token(page(c, "makers-film"))},
               files={"file": ("empty.mp4", b"", "video/mp4")})  # fmt: skip
    assert r.status_code == 400 and escape(expected) in r.text
    r = c.post("/films/makers-film/cuts", data={"csrf_token": form_token(page(c, "makers-film"))})
    assert r.status_code == 400 and "choose a video file to upload" in r.text
    assert web.cuts("makers-film") == [] and web.leftovers() == []


def test_an_upload_cut_off_midway_is_refused_then_resumed(web, clips):
    c = web.client("maker")
    data = clips.video2.read_bytes()
    half = len(data) // 2
    upload_id = start(c, "makers-film", len(data), "video2.mp4").json()["id"]
    assert put(c, upload_id, 0, data[:half]).json()["offset"] == half
    r = finish(c, upload_id)
    assert r.status_code == 409
    assert r.json()["error"] == (f"video2.mp4: upload incomplete: {half:,} of {len(data):,} bytes received; "
                                 f"send the rest from byte {half} and finish again")  # fmt: skip
    assert web.cuts("makers-film") == [] and not [p for p in web.leftovers() if p.startswith("originals")]
    # Resume: ask where it stopped (GET or HEAD), send the rest.
    assert c.get(f"/api/uploads/{upload_id}").json() == {
        "id": upload_id, "film": "makers-film", "name": "video2.mp4", "label": "", "size": len(data),
        "offset": half, "complete": False}  # fmt: skip
    head = c.head(f"/api/uploads/{upload_id}")
    assert head.status_code == 200 and head.headers["upload-offset"] == str(half)
    assert head.headers["upload-length"] == str(len(data))
    assert put(c, upload_id, half, data[half:]).json() == {
        "id": upload_id, "film": "makers-film", "name": "video2.mp4", "label": "", "size": len(data),
        "offset": len(data), "complete": True}  # fmt: skip
    r = finish(c, upload_id)
    assert r.status_code == 200 and r.json()["cut"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert not [p for p in web.leftovers() if p.startswith("tmp")]
    assert c.get(f"/api/uploads/{upload_id}").status_code == 404  # finished uploads are gone


def test_a_connection_dropped_mid_chunk_keeps_what_arrived(web, clips):
    """Drives the ASGI app directly: the body stops after some bytes and the client disconnects."""
    c = web.client("maker")
    data = clips.video.read_bytes()
    upload_id = start(c, "makers-film", len(data), "video.mp4").json()["id"]
    arrived = len(data) // 3
    headers = [(b"host", b"testserver"), (b"cookie", f"{COOKIE}={c.cookies.get(COOKIE)}".encode()),
               (b"x-csrf-token", csrf_of(c).encode()), (b"upload-offset", b"0"),
               (b"content-type", b"application/offset+octet-stream"), (b"content-length", str(len(data)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
             "path": f"/api/uploads/{upload_id}", "raw_path": f"/api/uploads/{upload_id}".encode(),
             "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80)}  # fmt: skip
    messages = [{"type": "http.request", "body": data[:1000], "more_body": True},
                {"type": "http.request", "body": data[1000:arrived], "more_body": True}]  # fmt: skip

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    # On a thread of its own: the browser tests' Playwright keeps an event loop running in the main thread.
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            anyio.run(web.app, scope, receive, send)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            failures.append(exc)

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and not failures, failures
    assert c.get(f"/api/uploads/{upload_id}").json()["offset"] == arrived
    assert finish(c, upload_id).status_code == 409 and web.cuts("makers-film") == []
    assert put(c, upload_id, arrived, data[arrived:]).json()["complete"] is True
    assert finish(c, upload_id).json()["cut"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_offsets_and_sizes_are_checked(web):
    c = web.client("maker")
    upload_id = start(c, "makers-film", 10, "ten.mp4").json()["id"]
    assert put(c, upload_id, 0, b"12345").json()["offset"] == 5
    bad = [
        (0, b"678", 409, "ten.mp4: offset 0 does not match the 5 bytes received so far; resume from byte 5"),
        (9, b"6", 409, "ten.mp4: offset 9 does not match the 5 bytes received so far; resume from byte 5"),
        (5, b"678901", 400, "ten.mp4: a chunk of 6 bytes at byte 5 goes beyond the declared size of 10 bytes"),
        ("-1", b"6", 400, "Upload-Offset: '-1' is not a byte offset (a whole number, 0 or more)"),
        ("five", b"6", 400, "Upload-Offset: 'five' is not a byte offset (a whole number, 0 or more)"),
        ("9" * 5000, b"6", 400, f"Upload-Offset: {'9' * 40!r} is not a byte offset (a whole number, 0 or more)"),
    ]
    for offset, body, code, message in bad:
        r = put(c, upload_id, offset, body)
        assert (r.status_code, r.json()) == (code, {"error": message}), offset
        assert c.get(f"/api/uploads/{upload_id}").json()["offset"] == 5
    # No Content-Length (a streamed body): the excess is found while reading, and nothing of it is kept.
    r = put(c, upload_id, 5, iter([b"678", b"901"]))
    assert r.json() == {"error": "ten.mp4: a chunk at byte 5 goes beyond the declared size of 10 bytes"}
    assert c.get(f"/api/uploads/{upload_id}").json()["offset"] == 5
    r = c.put(f"/api/uploads/{upload_id}", content=b"6", headers=api_headers(c))
    assert r.status_code == 400 and "Upload-Offset header (or ?offset=) is required" in r.json()["error"]
    r = c.put(f"/api/uploads/{upload_id}", params={"offset": "²"}, content=b"67890", headers=api_headers(c))
    assert r.json() == {"error": "Upload-Offset: '²' is not a byte offset (a whole number, 0 or more)"}
    r = c.put(f"/api/uploads/{upload_id}", params={"offset": "5"}, content=b"67890", headers=api_headers(c))
    assert r.json()["complete"] is True
    assert start(c, "makers-film", -5, "neg.mp4").json() == {"error": "neg.mp4: size must not be negative"}
    assert start(c, "makers-film", 10**400, "big.mp4").json() == {
        "error": "big.mp4: the declared size is larger than any disk this library could have"}  # fmt: skip
    assert start(c, "makers-film", 10, "a.mp4", label="x" * 101).json() == {
        "error": "--label is too long (101 characters, at most 100)"}  # fmt: skip
    as_json = api_headers(c, **{"Content-Type": "application/json"})
    r = c.post("/api/films/makers-film/uploads", content=b'{"size": 10, "label": "\\ud800"}', headers=as_json)
    assert r.json() == {"error": "--label: not valid text (a lone surrogate)"}
    r = c.post("/api/films/makers-film/uploads", content=b'{"size": 10, "name": "\\ud800\\u0000.mp4"}', headers=as_json)
    assert r.status_code == 201 and r.json()["name"] == "__.mp4"
    r = c.post("/api/films/makers-film/uploads", json={"size": "ten"}, headers=api_headers(c))
    assert r.status_code == 422 and r.json() == {"error": "invalid request: check size"}
    assert start(c, "makers-film", 10**14, "huge.mp4").json()["error"].startswith(
        "huge.mp4: 100000.00 GB will not fit: the library's disk has ")  # fmt: skip
    for not_an_id in ("*", "%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A", "..", "0123456789ABCDEF"):
        assert c.get(f"/api/uploads/{not_an_id}").status_code == 404  # never a glob pattern or a path
    assert c.get("/api/uploads/0123456789abcdef").json() == {
        "error": "unknown upload '0123456789abcdef' (finished, cancelled or expired)"}  # fmt: skip


def test_every_change_needs_the_csrf_token(web, clips):
    c = web.client("maker")
    data = clips.video.read_bytes()
    r = c.post("/api/films/makers-film/uploads", json={"size": len(data), "name": "v.mp4"})
    assert r.status_code == 403 and web.leftovers() == []
    upload_id = start(c, "makers-film", len(data), "v.mp4").json()["id"]
    for method, url, kwargs in [
        ("PUT", f"/api/uploads/{upload_id}", {"content": data, "headers": {"Upload-Offset": "0"}}),
        ("PUT", f"/api/uploads/{upload_id}", {"content": data, "headers": {"Upload-Offset": "0", "X-CSRF-Token": "x"}}),
        ("POST", f"/api/uploads/{upload_id}/finish", {}),
        ("DELETE", f"/api/uploads/{upload_id}", {}),
    ]:  # fmt: skip
        r = c.request(method, url, **kwargs)
        assert r.status_code == 403 and "security token" in r.json()["error"], (method, url)
    assert c.get(f"/api/uploads/{upload_id}").json()["offset"] == 0
    for url, files in [("/films/makers-film/cuts", {"file": ("v.mp4", data, "video/mp4")}),
                       ("/films/makers-film/captions", {"file": ("en.srt", SRT.encode(), "text/plain")})]:  # fmt: skip
        r = c.post(url, data={"language": "en"}, files=files)
        assert r.status_code == 403 and "security token" in r.text
    assert web.cuts("makers-film") == [] and web.lib.captions("makers-film") == []
    assert c.delete(f"/api/uploads/{upload_id}", headers=api_headers(c)).status_code == 204
    assert web.leftovers() == []


def test_only_the_owner_or_staff_may_upload(web, clips):
    maker, other, staff = web.client("maker"), web.client("other"), web.client("staff")
    token = form_token(page(maker, "makers-film"))
    data = clips.video.read_bytes()
    for slug in ("others-film", "staff-film", "no-such-film"):
        r = start(maker, slug, 100, "v.mp4")
        assert r.status_code == 404
        if slug != "no-such-film":  # (pages.film_for words a missing film differently: reported, not mine to change)
            assert r.json() == {"error": f"unknown film {slug!r}"}
        r = maker.post(f"/films/{slug}/cuts", data={"csrf_token": token}, files={"file": ("v.mp4", data)})
        assert r.status_code == 404
        r = maker.post(f"/films/{slug}/captions", data={"csrf_token": token, "language": "en"},
                       files={"file": ("en.srt", SRT.encode())})  # fmt: skip
        assert r.status_code == 404
        assert maker.post(f"/films/{slug}/process", data={"csrf_token": token}).status_code == 404
        assert maker.get(f"/api/films/{slug}/processing").status_code == 404
    # Someone else's upload cannot be seen, continued, finished or cancelled.
    upload_id = start(maker, "makers-film", len(data), "v.mp4").json()["id"]
    for c in (other, staff):
        assert c.get(f"/api/uploads/{upload_id}").status_code == 404
        assert put(c, upload_id, 0, data).status_code == 404
        assert finish(c, upload_id).status_code == 404
        assert c.delete(f"/api/uploads/{upload_id}", headers=api_headers(c)).status_code == 404
    assert maker.get(f"/api/uploads/{upload_id}").json()["offset"] == 0
    assert web.cuts("others-film") == web.cuts("staff-film") == []
    # Staff may upload to any film, including one with no film-maker.
    assert upload_bytes(staff, "staff-film", data, "v.mp4").status_code == 200
    assert len(web.cuts("staff-film")) == 1
    anonymous = web.client()
    assert anonymous.post("/api/films/makers-film/uploads", json={"size": 1, "name": "x"}).status_code == 401
    assert anonymous.get(f"/api/uploads/{upload_id}").status_code == 401
    assert anonymous.post("/films/makers-film/cuts", files={"file": ("v.mp4", data)}).status_code == 303


def test_cancelled_and_stale_uploads_are_removed(web):
    c = web.client("maker")
    first = start(c, "makers-film", 10, "a.mp4").json()["id"]
    put(c, first, 0, b"12345")
    assert c.delete(f"/api/uploads/{first}", headers=api_headers(c)).status_code == 204
    assert c.get(f"/api/uploads/{first}").status_code == 404 and web.leftovers() == []
    stale = start(c, "makers-film", 10, "b.mp4").json()["id"]
    put(c, stale, 0, b"12345")
    long_ago = time.time() - UPLOAD_TTL - 60
    for p in (web.lib_dir / "assets" / "tmp").glob(f"*-{stale}.d/*"):
        os.utime(p, (long_ago, long_ago))
    fresh = start(c, "makers-film", 10, "c.mp4").json()["id"]
    assert c.get(f"/api/uploads/{stale}").status_code == 404
    assert c.get(f"/api/uploads/{fresh}").status_code == 200


def test_uploaded_names_are_only_metadata(web, clips):
    c = web.client("maker")
    r = upload_bytes(c, "makers-film", clips.video.read_bytes(), "../../<img src=x onerror=alert(1)>.mp4")
    assert r.status_code == 200
    cut = web.cuts("makers-film")[0]
    assert cut["original_name"] == "_img src_x onerror_alert(1)_.mp4"
    assert cut["storage_key"].endswith(f"{cut['sha256']}.mp4")
    assert "<img" not in page(c, "makers-film")


# --- captions ---------------------------------------------------------------------------


def test_caption_upload_imports_a_track_and_shows_its_status(web):
    c = web.client("maker")
    fields = {"csrf_token": form_token(page(c, "makers-film")), "language": "EN", "kind": "captions"}
    r = c.post("/films/makers-film/captions", data=fields,
               files={"file": ("hello.srt", SRT.encode("cp1252"), "text/plain")})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("#captions")
    assert "Imported 2 en cues (srt)" in c.get(r.headers["location"]).text
    tracks = web.lib.captions("makers-film")
    assert [(t["language"], t["kind"], t["status"], t["approved"]) for t in tracks] == [
        ("en", "captions", "draft", False)]  # fmt: skip
    text = page(c, "makers-film")
    assert '<tr id="track-captions-en"><th scope="row">en</th><td>captions</td>' in text
    assert ">draft</span>" in text and not [p for p in web.leftovers() if p.startswith("tmp")]
    check_html(text)


BAD_CAPTIONS = [
    ({"language": "en"}, ("notes.srt", b"this is not a caption file\n"), 400,
     "notes.srt line 1: not a caption file: 'this is not a caption file' is not a WebVTT signature ('WEBVTT'), "
     "an SRT cue number or an SBV timing line (0:00:01.000,0:00:02.500)"),
    ({"language": "english!"}, ("en.srt", SRT.encode()), 400,
     "invalid language code 'english!': use a BCP 47 tag such as 'en', 'gd' or 'pt-BR'"),
    ({"language": ""}, ("en.srt", SRT.encode()), 400, "language: give the captions' language, e.g. en or gd"),
    ({"language": "en", "kind": "karaoke"}, ("en.srt", SRT.encode()), 400,
     "--kind: 'karaoke' is not one of captions, subtitles, descriptions, chapters"),
    ({"language": "en"}, None, 400, "choose a caption file to upload"),
]


def test_bad_caption_uploads_are_refused_and_change_nothing(web):
    c = web.client("maker")
    token = form_token(page(c, "makers-film"))
    audit_before = web.lib.audit()
    for fields, file, code, message in BAD_CAPTIONS:
        r = c.post("/films/makers-film/captions", data={"csrf_token": token, **fields},
                   files={"file": file} if file else None)  # fmt: skip
        assert r.status_code == code, message
        assert f'<p class="error" role="alert" id="caption-error">{escape(message)}</p>' in r.text
        assert web.lib.captions("makers-film") == [] and web.lib.audit() == audit_before
        assert web.leftovers() == [] and not list((web.lib_dir / "captions").rglob("*.vtt"))


# --- the API document and a large upload -------------------------------------------------------


def test_the_upload_api_is_in_the_openapi_document_and_the_pages_are_not(web):
    paths = web.client().get("/api/openapi.json").json()["paths"]
    assert {"post"} <= set(paths["/api/films/{slug}/uploads"])
    assert {"get", "head", "put", "delete"} <= set(paths["/api/uploads/{upload_id}"])
    assert "post" in paths["/api/uploads/{upload_id}/finish"] and "get" in paths["/api/films/{slug}/processing"]
    assert "application/octet-stream" in paths["/api/uploads/{upload_id}"]["put"]["requestBody"]["content"]
    assert not [p for p in paths if not p.startswith("/api/")]


GB = 10**9
FRAME = 1280 * 720 * 3 // 2  # one yuv420p frame


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # a transfer test: one catalogue is enough
def test_a_2_gb_upload_is_streamed_to_disk_not_memory(web, tmp_path, ff):
    """A real, playable 2 GB video (rawvideo in Matroska, cheap to make) goes through the chunked API
    in 8 MiB chunks and is added as a cut; Python's allocations stay a few chunks in size throughout."""
    source = tmp_path / "big.mkv"
    frames = 2 * GB // FRAME + 1
    ff.run(["-f", "lavfi", "-i", "color=c=gray:size=1280x720:rate=25", "-frames:v", str(frames), "-c:v", "rawvideo",
            "-pix_fmt", "yuv420p", str(source)], what="2 GB clip")  # fmt: skip
    size = source.stat().st_size
    assert size > 2 * GB
    c = web.client("maker")
    csrf = csrf_of(c)
    chunk = 8 << 20
    digest = hashlib.sha256()
    try:
        upload_id = start(c, "makers-film", size, "big.mkv").json()["id"]
        tracemalloc.start()
        with open(source, "rb") as f:
            offset = 0
            while piece := f.read(chunk):
                digest.update(piece)
                r = put(c, upload_id, offset, piece, csrf)
                assert r.status_code == 200, r.text
                offset = r.json()["offset"]
                del piece
        transfer_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        r = finish(c, upload_id)
        finish_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert r.status_code == 200, r.text
        cut = r.json()["cut"]
        assert cut["size"] == size and cut["sha256"] == digest.hexdigest() and cut["original_name"] == "big.mkv"
        # Measured: 24 MiB while sending (the test's chunk, the test client's copy, the server's write),
        # 8 MiB while adding the cut (the store's copy buffers). The file is 2,000 MB.
        assert transfer_peak < 5 * chunk, f"{transfer_peak / 2**20:.0f} MiB traced while sending {size / GB:.1f} GB"
        assert finish_peak < 4 * chunk, f"{finish_peak / 2**20:.0f} MiB traced while adding the cut"
        assert not [p for p in web.leftovers() if p.startswith("tmp")]
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        source.unlink(missing_ok=True)
        for p in (web.lib_dir / "assets" / "originals").rglob("*.mkv"):
            p.unlink()
