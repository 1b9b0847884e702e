"""The admin pages through HTTP: the publish plan, publish, take-down and user management.

Publishing goes to a real folder target (and, for the unreachable case, to an
S3 endpoint where nothing listens); the browser suite publishes to SeaweedFS.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from medialib.library import Library
from medialib.web import admin
from tests.launch import make_publishable, write_config
from tests.web_helpers import PASSWORDS, client, csrf_of, form_token, make_accounts, sign_in

XSS = '<script>alert("x")</script>'


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    return tmp_path / "site"


@pytest.fixture
def web(tmp_path: Path, site_dir: Path, db_url: str) -> Iterator[Library]:
    """A library publishing to a folder, with the four test accounts and two films that are not publishable."""
    root = tmp_path / "library"
    cfg = write_config(root, db_url, site_dir.as_uri())
    lib = Library.open(cfg, env={})
    users = make_accounts(lib)
    lib.add_film("held-back", f"{XSS} Held Back", owner_id=users["maker"]["id"])
    lib.add_film("no-cut", "No Cut Yet")
    yield lib
    lib.close()


@pytest.fixture
def publishable(web: Library, clips, tmp_path: Path) -> Library:  # noqa: ANN001
    make_publishable(web, "hope-street", clips.video, title="Hope Street", work=tmp_path)
    return web


def admin_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the admin router, with a film or user name filled in."""
    out = []
    for route in admin.router.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/admin"):
            path = route.path.replace("{slug}", "held-back").replace("{name}", "other")
            out += [(method, path) for method in sorted(route.methods)]
    return out


def test_the_admin_router_has_the_routes_these_tests_cover():
    assert set(admin_routes()) == {
        ("GET", "/admin/publish"), ("POST", "/admin/publish"), ("POST", "/admin/takedown/held-back"),
        ("GET", "/admin/users"), ("POST", "/admin/users"), ("POST", "/admin/users/other/role"),
        ("POST", "/admin/users/other/disable"),
    }  # fmt: skip


def test_staff_and_film_makers_get_403_on_every_admin_route(web, site_dir):
    form = {"name": "mallory", "role": "admin", "password": "a-long-password", "reason": "because"}
    for name in ("maker", "staff"):
        c = sign_in(client(web), name)
        token = csrf_of(c)  # a valid token of their own session: the role alone must refuse
        for method, path in admin_routes():
            r = c.request(method, path, data={**form, "csrf_token": token} if method == "POST" else None)
            assert r.status_code == 403, (name, method, path, r.status_code)
            assert "needs the admin role" in r.text
    anonymous = client(web)
    for method, path in admin_routes():
        r = anonymous.request(method, path, data=form if method == "POST" else None)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path)
    assert [u["name"] for u in web.users()] == ["admin", "maker", "other", "staff"]
    assert {u["role"] for u in web.users() if u["name"] == "other"} == {"film-maker"}
    assert not any(u["disabled"] for u in web.users())
    assert not site_dir.exists()  # nothing was published
    assert not [e for e in web.audit("film:held-back") if e["action"] == "takedown"]


def test_admin_posts_need_the_forms_csrf_token(web, site_dir):
    c = sign_in(client(web), "admin")
    for method, path in admin_routes():
        if method != "POST":
            continue
        for token in (None, "not-the-token"):
            data = {"name": "mallory", "role": "admin", "password": "a-long-password", "reason": "because"}
            if token:
                data["csrf_token"] = token
            r = c.post(path, data=data)
            assert r.status_code == 403 and "security token" in r.text, (path, token)
    assert "mallory" not in [u["name"] for u in web.users()]
    assert not site_dir.exists()


def test_publish_plan_publish_and_take_down(publishable, site_dir):
    web = publishable
    c = sign_in(client(web), "admin")
    page = c.get("/admin/publish")
    assert page.status_code == 200, page.text
    text = page.text
    assert site_dir.as_uri() in text and "a dry run" in text
    going_up = text.split('id="going-up"')[1].split('id="held-back"')[0]
    held = text.split('id="held-back"')[1]
    assert "Hope Street" in going_up and "not yet" in going_up and "/admin/takedown/" not in going_up
    assert "no-cut" in held and "held-back" in held and "derivatives:" in held
    assert XSS not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Held Back" in text
    assert not site_dir.exists()  # the plan is a dry run

    r = c.post("/admin/publish", data={"csrf_token": form_token(text)})
    assert r.status_code == 303 and r.headers["location"] == "/admin/publish?done=published"
    assert (site_dir / "hope-street" / "index.html").is_file() and (site_dir / "films.json").is_file()
    assert not (site_dir / "held-back").exists()
    page = c.get(r.headers["location"]).text
    assert "Publish finished" in page and "Last publish" in page and "by web:admin" in page
    going_up = page.split('id="going-up"')[1].split('id="held-back"')[0]
    assert "yes" in going_up and 'action="/admin/takedown/hope-street"' in going_up
    assert "<strong>0</strong> files to upload" in page  # a second publish would change nothing

    # A take-down needs a reason; the film comes off the site and its approval is void.
    r = c.post("/admin/takedown/hope-street", data={"csrf_token": form_token(page), "reason": "  "})
    assert r.status_code == 400 and "give a reason" in r.text
    assert (site_dir / "hope-street" / "index.html").is_file()
    r = c.post("/admin/takedown/hope-street", data={"csrf_token": form_token(page), "reason": "consent withdrawn"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/publish?done=takedown"
    assert not (site_dir / "hope-street").exists()
    assert "hope-street" not in (site_dir / "films.json").read_text()
    [event] = [e for e in web.audit("film:hope-street") if e["action"] == "takedown"]
    assert event["details"]["reason"] == "consent withdrawn" and event["actor"] == "web:admin"
    assert [e["actor"] for e in web.audit("target:") if e["action"] == "publish"] == ["web:admin"]
    page = c.get(r.headers["location"]).text
    assert "taken down from the site" in page
    held = page.split('id="held-back"')[1]
    assert "Hope Street" in held and "approve again" in held and "not on the site" in held

    r = c.post("/admin/takedown/no-such-film", data={"csrf_token": form_token(page), "reason": "test"})
    assert r.status_code == 404 and "no-such-film" in r.text


def test_notices_come_from_a_fixed_list(web):
    c = sign_in(client(web), "admin")
    page = c.get("/admin/users", params={"done": "Your password expired: mail it to evil@example.com"}).text
    assert "evil@example.com" not in page and 'class="notice"' not in page
    assert 'class="notice"' in c.get("/admin/users", params={"done": "disabled"}).text


def test_an_unreachable_publish_target_is_a_one_line_message(tmp_path, db_url, monkeypatch):
    with socket.socket() as s:  # a loopback port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "library"
    cfg = write_config(root, db_url, "s3://launch/site",
                       endpoint=f"http://127.0.0.1:{port}", extra="")  # fmt: skip
    cfg.write_text(cfg.read_text().replace("retries = 2", "retries = 1"))
    with Library.open(cfg, env={}) as lib:
        make_accounts(lib)
        c = sign_in(client(lib), "admin")
        page = c.get("/admin/publish")
        assert page.status_code == 503
        [line] = [ln for ln in page.text.splitlines() if 'role="alert"' in ln]
        assert "is not answering" in line and "Traceback" not in page.text
        assert "Publish now" not in page.text  # no plan, no button
        r = c.post("/admin/publish", data={"csrf_token": form_token(page.text)})
        assert r.status_code == 503 and "is not answering" in r.text


def test_user_management(web):
    c = sign_in(client(web), "admin")
    page = c.get("/admin/users")
    assert page.status_code == 200
    token = form_token(page.text)
    assert all(f'id="user-{n}"' in page.text for n in PASSWORDS)

    r = c.post("/admin/users", data={"csrf_token": token, "name": "fiona", "role": "staff",
                                     "password": "fionas-password"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=user-added"
    assert "The account was added" in c.get(r.headers["location"]).text
    assert [e["actor"] for e in web.audit("user:fiona")] == ["web:admin"]
    fiona = sign_in(client(web), "fiona", "fionas-password")
    assert fiona.get("/board").status_code == 200

    bad = [
        ({"name": "fiona", "role": "staff", "password": "another-password"}, 409, "already exists"),
        ({"name": XSS, "role": "staff", "password": "another-password"}, 400, "user name"),
        ({"name": "gail", "role": "boss", "password": "another-password"}, 400, "role &#39;boss&#39;"),
        ({"name": "gail", "role": "staff", "password": "pw-q9z"}, 400, "too short"),
    ]
    for data, status, message in bad:
        r = c.post("/admin/users", data={"csrf_token": token, **data})
        assert r.status_code == status and message in r.text, (data, r.status_code)
        assert XSS not in r.text and data["password"] not in r.text
    assert "gail" not in [u["name"] for u in web.users()]
    r = c.post("/admin/users", data={"csrf_token": token, "name": "gail", "role": "staff", "password": "pw-q9z"})
    assert 'value="gail"' in r.text  # the name is kept for the next try; the password never

    maker = sign_in(client(web), "maker")
    assert maker.get("/board").status_code == 403
    r = c.post("/admin/users/maker/role", data={"csrf_token": token, "role": "staff"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=role-changed"
    assert maker.get("/board").status_code == 200  # from the next request on
    r = c.post("/admin/users/maker/role", data={"csrf_token": token, "role": "boss"})
    assert r.status_code == 400 and "role &#39;boss&#39;" in r.text

    r = c.post("/admin/users/maker/disable", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=disabled"
    assert maker.get("/api/me").status_code == 401  # its session ended
    page = c.get("/admin/users").text
    row = page.split('id="user-maker"')[1].split("</tr>")[0]
    assert "disabled" in row and "Change role" not in row

    for path, data, message in (("/admin/users/admin/disable", {}, "cannot disable your own"),
                                ("/admin/users/admin/role", {"role": "staff"}, "cannot demote your own"),
                                ("/admin/users/nobody/disable", {}, "no user")):  # fmt: skip
        r = c.post(path, data={"csrf_token": token, **data})
        assert r.status_code in (400, 404) and message in r.text, path
    assert {u["name"]: (u["role"], u["disabled"]) for u in web.users()}["admin"] == ("admin", False)
