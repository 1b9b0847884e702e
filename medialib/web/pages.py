"""Pages: the start, the review board (staff) and the film list (film-makers see their own).

Further pages live in their own modules and are included here: the film
page, uploads, consent and captions, and the admin pages.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from medialib.errors import BadInput, NotFound
from medialib.web.auth import Forbidden, Viewer, lib_of, require, viewer_of

router = APIRouter(include_in_schema=False)

STATUS_FILTERS = {"all": "All films", "publishable": "Publishable", "blocked": "Blocked"}


def visible_films(lib: Any, viewer: Viewer) -> list[dict[str, Any]]:
    """The films this viewer may see: all for staff, their own for a film-maker."""
    films = lib.films()
    if viewer.at_least("staff"):
        return films
    return [f for f in films if f.get("owner_id") == viewer.account.id]


def film_for(lib: Any, viewer: Viewer, slug: str) -> dict[str, Any]:
    """One film the viewer may see; NotFound otherwise. A film-maker gets the same answer for a
    film that does not exist, a malformed slug and someone else's film: nothing tells them apart."""
    if viewer.at_least("staff"):
        return lib.film(slug)
    try:
        film = lib.film(slug)
    except BadInput:  # NotFound included
        film = None
    if film is None or film.get("owner_id") != viewer.account.id:
        raise NotFound(f"unknown film {slug!r}")
    return film


def require_own_or_staff(lib: Any, viewer: Viewer, slug: str) -> dict[str, Any]:
    return film_for(lib, viewer, slug)


@router.get("/")
def start(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/board" if viewer.at_least("staff") else "/films", status_code=303)


@router.get("/board")
def board(request: Request, status: str = "all", gate: str = "", viewer: Viewer = Depends(require("staff"))) -> Response:
    from medialib.web.app import render

    lib = lib_of(request)
    rows = lib.review(check_files=False)  # the board trusts the catalogue; the film page checks the disk
    if status == "publishable":
        rows = [r for r in rows if r["publishable"]]
    elif status == "blocked":
        rows = [r for r in rows if not r["publishable"]]
    if gate:
        rows = [r for r in rows if any(g["gate"] == gate and not g["ok"] for g in r["gates"])]
    return render(request, "board.html", rows=rows, status=status if status in STATUS_FILTERS else "all",
                  gate=gate, filters=STATUS_FILTERS)  # fmt: skip


@router.get("/films")
def films(request: Request, viewer: Viewer = Depends(require())) -> Response:
    from medialib.web.app import render

    return render(request, "films.html", films=visible_films(lib_of(request), viewer))


def forbid_unless(viewer: Viewer, role: str) -> None:
    if not viewer.at_least(role):
        raise Forbidden(f"this needs the {role} role")
