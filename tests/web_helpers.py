"""Shared pieces of the web app tests: an app over a library, accounts, signed-in clients."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from medialib.library import Library
from medialib.web.app import create_app

PASSWORDS = {"maker": "maker-password-1", "other": "other-password-1", "staff": "staff-password-1",
             "admin": "admin-password-1"}  # fmt: skip
ROLES = {"maker": "film-maker", "other": "film-maker", "staff": "staff", "admin": "admin"}


def make_accounts(lib: Library) -> dict[str, dict[str, Any]]:
    return {name: lib.add_user(name, ROLES[name], PASSWORDS[name]) for name in PASSWORDS}


def client(lib: Library, **kwargs: Any) -> TestClient:
    return TestClient(create_app(lib), follow_redirects=False, **kwargs)


def sign_in(c: TestClient, name: str, password: str | None = None) -> TestClient:
    r = c.post("/login", data={"name": name, "password": password or PASSWORDS[name], "next": "/"})
    assert r.status_code == 303, (r.status_code, r.text[:500])
    return c


def csrf_of(c: TestClient) -> str:
    """The CSRF token of the signed-in session (from /api/me, as a script would get it)."""
    return c.get("/api/me").json()["csrf_token"]


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf_token in the page"
    return match.group(1)
