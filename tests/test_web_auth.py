"""Sign-in, sessions, CSRF, roles and authorisation of the web app (through HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from medialib.catalog.models import WebSession
from medialib.web.auth import COOKIE
from tests.web_helpers import PASSWORDS, client, csrf_of, form_token, make_accounts, sign_in


@pytest.fixture
def web(lib):  # noqa: ANN001, ANN201
    users = make_accounts(lib)
    lib.add_film("makers-film", "Maker's Film", owner_id=users["maker"]["id"])
    lib.add_film("others-film", "Other's Film", owner_id=users["other"]["id"])
    lib.add_film("staff-film", '<script>alert("x")</script> Staff Film')
    return lib


def test_user_add_reads_the_password_from_stdin_and_refuses_bad_input(run_medialib, lib_dir):
    r = run_medialib("user", "add", "ailsa", "--role", "staff", "--json", input="a-long-password\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout and '"role": "staff"' in r.stdout.replace('":"', '": "')
    bad = [
        (("user", "add", "ailsa", "--role", "staff"), "a-long-password\n", "already exists"),
        (("user", "add", "bob", "--role", "staff"), "short\n", "too short"),
        (("user", "add", "Bad Name", "--role", "staff"), "a-long-password\n", "user name"),
        (("user", "add", "carol", "--role", "staff"), "", "no password on standard input"),
        (("user", "add", "dan", "--role", "boss"), "a-long-password\n", "Invalid value for '--role'"),
    ]
    for args, stdin, message in bad:
        r = run_medialib(*args, input=stdin)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    listed = run_medialib("user", "list", "--json")
    assert [u["name"] for u in __import__("json").loads(listed.stdout)] == ["ailsa"]
    from medialib.library import Library

    with Library.open(lib_dir / "config.toml", env={}) as lib:
        stored = lib.users()
        assert len(stored) == 1
        with lib.session() as s:
            from medialib.catalog.models import User

            assert s.query(User).one().password_hash.startswith("$argon2")  # never the password itself


def test_two_adds_of_one_user_at_once_the_second_is_refused(lib_dir):
    """As with films: on PostgreSQL the second `user add` waits on the unique name until
    the first commits, and must still end as "already exists" (exit 2), one line."""
    from conftest import start_while_uncommitted
    from medialib.accounts import add_user
    from medialib.library import Library

    with Library.open(lib_dir / "config.toml", env={}) as lib:
        with lib.transaction() as s:
            add_user(s, "test", "ailsa", "staff", "a-long-password")
            s.flush()
            second = start_while_uncommitted(s, lib_dir / "config.toml", "user", "add", "ailsa", "--role", "admin",
                                             stdin="another-long-password\n")  # fmt: skip
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert err.strip() == "error: user 'ailsa' already exists", err
        assert [(u["name"], u["role"]) for u in lib.users()] == [("ailsa", "staff")]


def test_sign_in_sets_a_safe_cookie_and_signs_out(web):
    c = client(web)
    assert c.get("/board").status_code == 303 and c.get("/board").headers["location"].startswith("/login")
    assert c.get("/api/films").status_code == 401
    r = c.post("/login", data={"name": "staff", "password": PASSWORDS["staff"], "next": "/board"})
    assert r.status_code == 303 and r.headers["location"] == "/board"
    cookie = r.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http in tests; --secure-cookies behind https
    page = c.get("/board")
    assert page.status_code == 200 and "Maker&#39;s Film" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers[
        "content-security-policy"]  # fmt: skip
    # Sign-out needs the form's CSRF token.
    assert c.post("/logout", data={}).status_code == 403
    assert c.get("/board").status_code == 200
    r = c.post("/logout", data={"csrf_token": form_token(page.text)})
    assert r.status_code == 303
    c.cookies.clear()
    c.cookies.set(COOKIE, cookie.split(";")[0].split("=", 1)[1])
    assert c.get("/api/me").status_code == 401  # the old session is gone on the server


def test_wrong_passwords_are_limited(web):
    c = client(web)
    for _ in range(5):
        r = c.post("/login", data={"name": "staff", "password": "wrong-wrong-wrong"})
        assert r.status_code == 401 and "do not match" in r.text
    r = c.post("/login", data={"name": "staff", "password": PASSWORDS["staff"]})
    assert r.status_code == 429 and "too many failed sign-ins" in r.text
    assert client(web).post("/login", data={"name": "nobody", "password": "x"}).status_code in (401, 429)


def test_film_makers_see_only_their_own_films(web):
    maker = sign_in(client(web), "maker")
    assert [f["slug"] for f in maker.get("/api/films").json()] == ["makers-film"]
    assert maker.get("/api/films/makers-film").status_code == 200
    assert maker.get("/api/films/others-film").status_code == 404  # existence not revealed
    assert maker.get("/api/films/staff-film").status_code == 404
    assert maker.get("/board").status_code == 403
    assert maker.get("/api/review").status_code == 403
    page = maker.get("/films")
    assert "Maker&#39;s Film" in page.text and "Other" not in page.text
    staff = sign_in(client(web), "staff")
    assert {f["slug"] for f in staff.get("/api/films").json()} == {"makers-film", "others-film", "staff-film"}
    assert len(staff.get("/api/review").json()) == 3


def test_board_filters(web):
    staff = sign_in(client(web), "staff")
    page = staff.get("/board", params={"status": "publishable"})
    assert "No film matches." in page.text
    page = staff.get("/board", params={"status": "blocked", "gate": "derivatives"})
    assert page.text.count('<tr id="film-') == 3


def test_an_expired_session_must_sign_in_again(web):
    c = sign_in(client(web), "staff")
    assert c.get("/api/me").status_code == 200
    with web.transaction() as s:
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert c.get("/api/me").status_code == 401
    r = c.get("/board")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/board"


def test_no_open_redirect_after_sign_in(web):
    r = client(web).post("/login", data={"name": "staff", "password": PASSWORDS["staff"], "next": "//evil.example/x"})
    assert r.headers["location"] == "/"


def test_a_disabled_user_is_signed_out(web):
    c = sign_in(client(web), "maker")
    assert csrf_of(c)
    web.disable_user("maker")
    assert c.get("/api/me").status_code == 401
    assert client(web).post("/login", data={"name": "maker", "password": PASSWORDS["maker"]}).status_code == 401


def test_changes_made_on_the_web_name_the_signed_in_person(web):
    admin = sign_in(client(web), "admin")
    page = admin.get("/admin/users")
    r = admin.post("/admin/users", data={"csrf_token": form_token(page.text), "name": "newcomer",
                                         "role": "film-maker", "password": "newcomer-password"})  # fmt: skip
    assert r.status_code in (200, 303), r.text[:300]
    events = [e for e in web.audit("user:newcomer") if e["action"] == "user.add"]
    assert [e["actor"] for e in events] == ["web:admin"]


def test_malformed_api_input_is_a_4xx_that_does_not_echo_it(web):
    staff = sign_in(client(web), "staff")
    r = staff.post("/api/films/makers-film/captions/en/check", headers={"X-CSRF-Token": csrf_of(staff),
                   "Content-Type": "application/json"}, content=b'{"text": "\\ud800"')  # fmt: skip
    assert 400 <= r.status_code < 500 and "\\ud800" not in r.text


def test_a_film_maker_cannot_tell_missing_malformed_and_others_films_apart(web):
    maker = sign_in(client(web), "maker")
    answers = {slug: maker.get(f"/api/films/{slug}") for slug in ("others-film", "no-such-film", "Bad_Slug")}
    assert {r.status_code for r in answers.values()} == {404}
    assert {r.json()["error"].replace(repr(s), "X") for s, r in answers.items()} == {"unknown film X"}
    own = maker.get("/api/films/makers-film").json()
    assert all("path" not in d and "storage_key" not in d for d in own["derivatives"])


def test_the_slug_new_is_reserved(cli):
    r = cli("film", "add", "new", "--title", "New")
    assert r.code == 2 and "reserved" in r.err


def test_every_kind_of_medialib_error_maps_to_a_4xx_or_an_honest_5xx():
    from medialib.errors import CheckFailed, MediaError, MedialibError, NotFound, ToolFailed
    from medialib.publish.publisher import PublishBusy
    from medialib.publish.targets import TargetUnavailable
    from medialib.web.app import status_of
    from medialib.web.auth import Forbidden, TooManyAttempts

    assert status_of(NotFound("x")) == 404 and status_of(MediaError("x")) == 400
    assert status_of(Forbidden("x")) == 403 and status_of(TooManyAttempts("x")) == 429
    assert status_of(CheckFailed("x")) == 409 and status_of(PublishBusy("x")) == 409
    assert status_of(TargetUnavailable("x")) == 503 and status_of(ToolFailed("x")) == 502
    assert status_of(MedialibError("x")) == 400
