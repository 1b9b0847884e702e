"""Admin pages: the publish plan, publish and take-down buttons, user management.

Every route needs the admin role (403 for staff and film-makers) and every
POST the form's CSRF token. A failure the admin can act on (the publish
target not answering, a name already taken) comes back as a one-line message
on the same page; a POST that worked redirects to the page (post/redirect/get)
with a fixed notice key, never free text from the query string.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from medialib.accounts import ROLES
from medialib.errors import BadInput, MedialibError
from medialib.web.auth import Viewer, csrf_form, lib_of, require

router = APIRouter(prefix="/admin", include_in_schema=False)

NOTICES = {
    "published": "Publish finished: the site now holds exactly the films that pass every gate.",
    "takedown": "The film was taken down from the site. It stays off until staff approve it again.",
    "user-added": "The account was added.",
    "role-changed": "The role was changed; it applies from the account's next request.",
    "disabled": "The account was disabled and its sessions ended.",
}


def _status(exc: MedialibError) -> int:
    """HTTP status of a failed admin action: the target's trouble is the gateway's, not the admin's."""
    from medialib.publish.publisher import PublishBusy
    from medialib.publish.targets import TargetUnavailable
    from medialib.web.app import status_of

    if isinstance(exc, TargetUnavailable):
        return 503
    if isinstance(exc, PublishBusy):
        return 409
    return status_of(exc)


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


def publish_view(lib: Any) -> dict[str, Any]:
    """The dry-run plan as the page shows it: films going up, films held back, what is on the site now."""
    outcome = lib.publish(dry_run=True)
    plan = outcome.plan
    titles = {f["slug"]: f["title"] for f in lib.films()}
    # A film is on the site when some object of it is there now: unchanged, or about to be deleted.
    on_site = {i.film for i in plan.unchanged if i.film}
    on_site |= {key.split("/", 1)[0] for key in plan.deletes if "/" in key}
    going_up = [{"slug": f.slug, "title": f.entry.get("title") or titles.get(f.slug, f.slug),
                 "on_site": f.slug in on_site, "url": outcome.urls.get(f.slug)} for f in plan.films]  # fmt: skip
    held_back = [{"slug": slug, "title": titles.get(slug, slug), "reasons": reasons, "on_site": slug in on_site}
                 for slug, reasons in sorted(plan.excluded.items())]  # fmt: skip
    publishes = [e for e in lib.audit(f"target:{plan.target}") if e["action"] == "publish"]
    return {
        "target": plan.target,
        "at": plan.as_dict()["at"],
        "going_up": going_up,
        "held_back": held_back,
        "uploads": len(plan.uploads),
        "upload_size": _size(sum(i.size for i in plan.uploads)),
        "unchanged": len(plan.unchanged),
        "deletes": len(plan.deletes),
        "last_publish": publishes[-1] if publishes else None,
    }


def _publish_page(request: Request, *, error: str | None = None, status_code: int = 200,
                  done: str = "") -> Response:  # fmt: skip
    from medialib.web.app import render

    plan, plan_error = None, None
    try:
        plan = publish_view(lib_of(request))
    except MedialibError as exc:
        plan_error = exc.message
        if status_code == 200:
            status_code = _status(exc)
    return render(request, "admin_publish.html", status_code=status_code, plan=plan, error=error or plan_error,
                  notice=NOTICES.get(done, ""))  # fmt: skip


@router.get("/publish")
def publish_page(request: Request, done: str = "", viewer: Viewer = Depends(require("admin"))) -> Response:
    return _publish_page(request, done=done)


@router.post("/publish")
def publish(request: Request, viewer: Viewer = Depends(require("admin")), _: Viewer = Depends(csrf_form)) -> Response:
    try:
        lib_of(request).publish()
    except MedialibError as exc:
        return _publish_page(request, error=exc.message, status_code=_status(exc))
    return RedirectResponse("/admin/publish?done=published", status_code=303)


@router.post("/takedown/{slug}")
def takedown(slug: str, request: Request, reason: str = Form(""), viewer: Viewer = Depends(require("admin")),
             _: Viewer = Depends(csrf_form)) -> Response:  # fmt: skip
    try:
        if not reason.strip():
            raise BadInput("give a reason for the take-down (it goes into the audit log)")
        lib_of(request).takedown(slug, reason=reason)
    except MedialibError as exc:
        return _publish_page(request, error=f"{slug}: {exc.message}", status_code=_status(exc))
    return RedirectResponse("/admin/publish?done=takedown", status_code=303)


# --- accounts -----------------------------------------------------------------------------


def _users_page(request: Request, *, error: str | None = None, status_code: int = 200, done: str = "",
                form: dict[str, str] | None = None) -> Response:  # fmt: skip
    from medialib.web.app import render

    return render(request, "admin_users.html", status_code=status_code, users=lib_of(request).users(),
                  roles=ROLES, error=error, notice=NOTICES.get(done, ""),
                  form=form or {"name": "", "role": "film-maker"})  # fmt: skip


def _not_yourself(viewer: Viewer, name: str, what: str) -> None:
    if name == viewer.name:
        raise BadInput(f"you cannot {what} your own account; ask another admin")


@router.get("/users")
def users_page(request: Request, done: str = "", viewer: Viewer = Depends(require("admin"))) -> Response:
    return _users_page(request, done=done)


@router.post("/users")
def add_user(request: Request, name: str = Form(""), role: str = Form(""), password: str = Form(""),
             viewer: Viewer = Depends(require("admin")), _: Viewer = Depends(csrf_form)) -> Response:  # fmt: skip
    try:
        lib_of(request).add_user(name.strip(), role, password)
    except MedialibError as exc:
        return _users_page(request, error=exc.message, status_code=_status(exc),
                           form={"name": name[:40], "role": role if role in ROLES else "film-maker"})  # fmt: skip
    return RedirectResponse("/admin/users?done=user-added", status_code=303)


@router.post("/users/{name}/role")
def change_role(name: str, request: Request, role: str = Form(""), viewer: Viewer = Depends(require("admin")),
                _: Viewer = Depends(csrf_form)) -> Response:  # fmt: skip
    try:
        if role != "admin":
            _not_yourself(viewer, name, "demote")
        lib_of(request).set_user_role(name, role)
    except MedialibError as exc:
        return _users_page(request, error=exc.message, status_code=_status(exc))
    return RedirectResponse("/admin/users?done=role-changed", status_code=303)


@router.post("/users/{name}/disable")
def disable_user(name: str, request: Request, viewer: Viewer = Depends(require("admin")),
                 _: Viewer = Depends(csrf_form)) -> Response:  # fmt: skip
    try:
        _not_yourself(viewer, name, "disable")
        lib_of(request).disable_user(name)
    except MedialibError as exc:
        return _users_page(request, error=exc.message, status_code=_status(exc))
    return RedirectResponse("/admin/users?done=disabled", status_code=303)
