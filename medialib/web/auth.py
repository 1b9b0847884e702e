"""Sign-in, sessions, roles and CSRF for the web app.

- The session cookie (``medialib_session``) is HttpOnly, SameSite=Lax, Secure
  behind https, and names a server-side session (see medialib.accounts).
- Every form carries the session's CSRF token in ``csrf_token``; API calls
  that change something send it in the ``X-CSRF-Token`` header. A request
  without the right token is refused (403) before anything happens.
- Sign-in failures are limited per client address and per name.
- ``require(role)`` is the one gate for every route: no session → sign in
  (401 for the API); too low a role → 403.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from medialib import accounts
from medialib.accounts import Account
from medialib.errors import MedialibError

COOKIE = "medialib_session"
SESSION_LIFETIME = timedelta(hours=12)


class Unauthorised(MedialibError):
    """Not signed in (or the session expired)."""


class Forbidden(MedialibError):
    """Signed in, but this is not for this account."""


class TooManyAttempts(MedialibError):
    """Too many failed sign-ins: wait."""


@dataclass(frozen=True)
class Viewer:
    account: Account
    csrf: str

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def role(self) -> str:
        return self.account.role

    def at_least(self, role: str) -> bool:
        return self.account.at_least(role)


class SignInLimiter:
    """At most ``limit`` failed sign-ins per address and per name in ``window`` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if any(len(self._recent(k, now)) >= self.limit for k in keys):
                raise TooManyAttempts("too many failed sign-ins; wait a few minutes and try again")

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._failures.pop(name_key, None)


def lib_of(request: Request) -> Any:
    """The library, acting as the signed-in person (so the audit log names them)."""
    lib = request.app.state.lib
    viewer = getattr(request.state, "viewer", None)
    return lib.acting_as(f"web:{viewer.name}") if viewer is not None else lib


def viewer_of(request: Request) -> Viewer | None:
    if hasattr(request.state, "viewer"):
        return request.state.viewer
    lib = lib_of(request)
    with lib.session() as s:
        found = accounts.resume(s, request.cookies.get(COOKIE))
    request.state.viewer = Viewer(*found) if found else None
    return request.state.viewer


def require(role: str = "film-maker") -> Any:
    """A dependency: the signed-in viewer with at least ``role``."""

    def dependency(request: Request) -> Viewer:
        viewer = viewer_of(request)
        if viewer is None:
            raise Unauthorised("sign in first")
        if not viewer.at_least(role):
            raise Forbidden(f"this needs the {role} role; you are signed in as {viewer.role}")
        return viewer

    return dependency


def check_csrf(viewer: Viewer, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, viewer.csrf):
        raise Forbidden("the form's security token is missing or out of date; reload the page and try again")


async def csrf_form(request: Request, viewer: Viewer = Depends(require())) -> Viewer:
    """A dependency for form posts: the viewer, after checking the form's csrf_token."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(viewer, token if isinstance(token, str) else None)
    return viewer


def csrf_header(request: Request, viewer: Viewer = Depends(require())) -> Viewer:
    """A dependency for API calls that change something: X-CSRF-Token must match the session's."""
    check_csrf(viewer, request.headers.get("X-CSRF-Token"))
    return viewer


def safe_next(path: str | None) -> str:
    """Only a local path may follow sign-in (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return quote(path, safe="/?=&-_.")


router = APIRouter()


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    from medialib.web.app import render

    if viewer_of(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login", include_in_schema=False)
def login(request: Request, name: str = Form(""), password: str = Form(""), next: str = Form("/")) -> Response:  # noqa: A002
    from medialib.web.app import render

    lib = lib_of(request)
    limiter: SignInLimiter = request.app.state.limiter
    address = f"ip:{request.client.host if request.client else '?'}"
    name_key = f"name:{name.strip().lower()}"
    try:
        limiter.check(address, name_key)
    except TooManyAttempts as exc:
        return render(request, "login.html", status_code=429, next=safe_next(next), error=exc.message)
    with lib.transaction() as s:
        account = accounts.authenticate(s, name, password)
        token = None
        if account is not None:
            accounts.purge_expired(s)
            token, _csrf = accounts.start_session(s, account, SESSION_LIFETIME)
    if account is None or token is None:
        limiter.failed(address, name_key)
        return render(request, "login.html", status_code=401, next=safe_next(next),
                      error="that name and password do not match an account")  # fmt: skip
    limiter.succeeded(name_key)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="lax", secure=request.app.state.secure_cookies, path="/")  # fmt: skip
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, viewer: Viewer = Depends(csrf_form)) -> Response:
    lib = lib_of(request)
    with lib.transaction() as s:
        accounts.end_session(s, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
