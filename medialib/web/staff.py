"""Staff pages: the film page's player, captions, consent, approval and audit trail, and the media they use.

Routes (authorisation on the server for each):

- ``GET /media/{slug}/{recipe}/{name}``: a derivative file of the film's
  current cut (proxy, poster, storyboard sheet or VTT), for staff or the
  film's owner (anyone else: 404). Range requests are answered by
  Starlette's FileResponse (206, or 416 for a range beyond the file). The
  storyboard VTT comes with its sprite references pointed at this route.
- ``GET /media/{slug}/captions/{lang}.vtt`` (``{lang}.{kind}.vtt`` for other
  kinds): the caption text as it is now, draft or approved, same access.
- ``GET /consent/{id}/form``: the signed form, staff only, as an attachment
  that is never cached.
- Form posts (staff, CSRF): approve the film, save or check caption text,
  approve a caption track, withdraw a consent.
- ``POST /api/films/{slug}/captions/{lang}/check``: the live re-check of
  edited caption text (staff, ``X-CSRF-Token``); nothing is saved.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from medialib.captions.webvtt import timestamp
from medialib.catalog.gates import APPROVAL_NEEDS
from medialib.errors import BadInput, NotFound
from medialib.web.auth import Viewer, csrf_form, csrf_header, lib_of, require
from medialib.web.pages import film_for, forbid_unless

router = APIRouter()

CAPTION_FILE = re.compile(r"^(?P<lang>[A-Za-z0-9-]{1,35})(?:\.(?P<kind>[a-z]{1,20}))?\.vtt$")
PRIVATE_MEDIA = "private, no-cache"  # the file behind a URL changes with a new cut: revalidate (ETag)


# --- helpers ------------------------------------------------------------------


def seconds_label(seconds: float | None) -> str:
    """A cue time as people read it (HH:MM:SS.mmm), or a dash."""
    if seconds is None:
        return "—"
    try:
        return timestamp(seconds)
    except ValueError:
        return "—"


def media_url(slug: str, recipe: str, name: str) -> str:
    return f"/media/{quote(slug)}/{quote(recipe)}/{quote(name)}"


def caption_url(slug: str, language: str, kind: str) -> str:
    name = f"{language}.vtt" if kind == "captions" else f"{language}.{kind}.vtt"
    return f"/media/{quote(slug)}/captions/{quote(name)}"


def film_url(slug: str, notice: str = "", anchor: str = "") -> str:
    url = f"/films/{quote(slug)}"
    if notice:
        url += "?" + urlencode({"notice": notice[:300]})
    return url + (f"#{anchor}" if anchor else "")


def with_times(report: dict[str, Any]) -> dict[str, Any]:
    """A caption report whose findings carry a readable time (``time``) beside ``start``."""
    findings = [{**f, "time": seconds_label(f.get("start"))} for f in report["findings"]]
    return {**report, "findings": findings}


def staff_post(viewer: Viewer = Depends(csrf_form)) -> Viewer:
    """A dependency for staff form posts: the CSRF token checked, then the role."""
    forbid_unless(viewer, "staff")
    return viewer


# --- the film page's staff sections -------------------------------------------


def player_context(lib: Any, slug: str) -> dict[str, Any]:
    """The <video> sources, poster, storyboard track of the current cut (empty when not processed)."""
    files = lib.derivatives(slug)
    # largest first; between proxies of one size (a small source is never upscaled), the larger rendition's
    proxies = sorted((f for f in files if f["kind"] == "proxy"),
                     key=lambda f: (-(f["height"] or 0), -int(re.sub(r"\D", "", f["recipe"]) or 0)))  # fmt: skip
    posters = sorted((f for f in files if f["kind"] == "poster"),
                     key=lambda f: (f["mime"] != "image/jpeg", -(f["width"] or 0)))  # fmt: skip
    storyboard = next((f for f in files if f["kind"] == "storyboard-vtt"), None)
    return {
        "sources": [{"url": media_url(slug, f["recipe"], f["name"]), "type": f["mime"],
                     "label": f"{f['recipe']} ({f['width']}×{f['height']})"} for f in proxies],  # fmt: skip
        "poster": media_url(slug, posters[0]["recipe"], posters[0]["name"]) if posters else None,
        "thumbnails": media_url(slug, storyboard["recipe"], storyboard["name"]) if storyboard else None,
    }


def caption_sections(lib: Any, slug: str, has_cut: bool, edits: dict[str, str]) -> list[dict[str, Any]]:
    """Per track: its state, its text (stored, or as edited when re-checked) and the findings of that text."""
    out = []
    for track in lib.captions(slug):
        language, kind = track["language"], track["kind"]
        key = f"{language}.{kind}"
        edited = key in edits
        try:
            text = edits[key] if edited else lib.export_captions(slug, language, "vtt", kind)
        except FileNotFoundError:
            text = ""
        report = None
        if text.strip():
            report = with_times(lib.check_caption_text(slug, language, text))
        blocked = []
        if track["approved"]:
            blocked.append("already approved for the current cut")
        if not has_cut:
            blocked.append("the film has no cut to approve captions for")
        if edited:
            blocked.append("the text shown has not been saved; save it first")
        if report is None:
            blocked.append("the caption file is missing or empty")
        elif report["errors"]:
            blocked.append(f"{report['errors']} error(s) to fix first")
        out.append({
            **track, "key": key, "id": f"{language}-{kind}", "text": text, "edited": edited, "report": report,
            "url": caption_url(slug, language, kind), "blocked": blocked,
            "check_url": f"/api/films/{quote(slug)}/captions/{quote(language)}/check",
            "edit_url": f"/films/{quote(slug)}/captions/{quote(language)}/edit",
            "approve_url": f"/films/{quote(slug)}/captions/{quote(language)}/approve",
        })  # fmt: skip
    return out


def consent_status(consent: dict[str, Any], today: date) -> tuple[str, str]:
    """(label, chip class) of a consent as staff judge it today."""
    status = consent["status"]
    if status == "verified" and consent["expires"] and date.fromisoformat(consent["expires"]) < today:
        return f"expired on {consent['expires']}", "bad"
    return status, {"verified": "ok", "pending": "wait"}.get(status, "bad")


def people_in(lib: Any, slug: str) -> list[dict[str, Any]]:
    """Everyone appearing in the film, with their consents (newest first), for the consent table."""
    from medialib.catalog import views
    from medialib.catalog.films import get_film
    from medialib.consent.review import prefetch

    today = datetime.now(UTC).date()
    people = []
    with lib.session() as s:
        film = get_film(s, slug)
        for appearance in prefetch(s, [film]).appearances.get(film.id, []):
            consents = []
            for consent in sorted(appearance.person.consents, key=lambda c: c.id, reverse=True):
                c = views.consent_view(consent)
                label, chip = consent_status(c, today)
                consents.append({**c, "status_label": label, "chip": chip})
            people.append({**views.person_view(appearance.person), "identifiable": appearance.identifiable,
                           "consents": consents})  # fmt: skip
    return people


def audit_rows(lib: Any, slug: str) -> list[dict[str, Any]]:
    """The film's audit trail, newest first, with details as (key, text) pairs."""
    rows = []
    for event in reversed(lib.film_audit(slug)):
        details = []
        for key, value in (event.get("details") or {}).items():
            if value is None or value == [] or value == "":
                continue
            if isinstance(value, str) and key.endswith("sha256") and len(value) == 64:
                value = value[:12] + "…"
            elif isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            details.append((key.replace("_", " "), str(value)))
        rows.append({**event, "pairs": details})
    return rows


def staff_sections(lib: Any, viewer: Viewer, film: dict[str, Any], *, edits: dict[str, str] | None = None,
                   ) -> dict[str, Any]:  # fmt: skip
    """Context for _film_staff.html (player, captions, consent, approval, audit).

    ``edits``: caption text as posted for a re-check ("lang.kind" → text), shown instead of the stored text.
    """
    slug = film["slug"]
    review = lib.review(slug)
    unmet = [g for g in review["gates"] if g["gate"] in APPROVAL_NEEDS and not g["ok"]]
    return {
        "staff": {
            "player": player_context(lib, slug),
            "review": review,
            "unmet": unmet,
            "captions": caption_sections(lib, slug, film.get("current_cut") is not None, edits or {}),
            "people": people_in(lib, slug),
            "audit": audit_rows(lib, slug),
        }
    }


# --- media ----------------------------------------------------------------------


def _derivative(files: list[dict[str, Any]], slug: str, recipe: str, name: str) -> dict[str, Any]:
    for f in files:
        if f["recipe"] == recipe and f["name"] == name:
            return f
    raise NotFound(f"film {slug!r} has no file {recipe}/{name} for its current cut")


def storyboard_vtt(text: str, slug: str, recipe: str, sheets: set[str]) -> str:
    """The storyboard track with each ``<sheet>#xywh=`` reference pointed at the media route."""
    from medialib.media.storyboard import repoint

    return repoint(text, {sheet: media_url(slug, recipe, sheet) for sheet in sheets})


@router.api_route("/media/{slug}/captions/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def caption_file(slug: str, name: str, request: Request, viewer: Viewer = Depends(require())) -> Response:
    lib = lib_of(request)
    film_for(lib, viewer, slug)
    match = CAPTION_FILE.match(name)
    if not match:
        raise NotFound(f"no caption file {name!r}: caption files are named like en.vtt or en.subtitles.vtt")
    try:
        text = lib.export_captions(slug, match["lang"], "vtt", match["kind"] or "captions")
    except FileNotFoundError:
        raise NotFound(f"the {name} caption file of {slug!r} is missing") from None
    return Response(text.encode("utf-8"), media_type="text/vtt; charset=utf-8",
                    headers={"Cache-Control": "no-store"})  # fmt: skip


@router.api_route("/media/{slug}/{recipe}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def media_file(slug: str, recipe: str, name: str, request: Request, viewer: Viewer = Depends(require())) -> Response:
    lib = lib_of(request)
    film_for(lib, viewer, slug)
    files = lib.derivatives(slug)
    f = _derivative(files, slug, recipe, name)
    store, key = lib.store, f["storage_key"]
    if store.size(key) is None:
        raise NotFound(f"{recipe}/{name} of {slug!r} is missing from the asset store (run `medialib process {slug}`)")
    if f["kind"] == "storyboard-vtt":
        sheets = {d["name"] for d in files if d["kind"] == "storyboard" and d["recipe"] == recipe}
        text = storyboard_vtt(store.read_bytes(key).decode("utf-8"), slug, recipe, sheets)
        return Response(text.encode("utf-8"), media_type="text/vtt; charset=utf-8",
                        headers={"Cache-Control": PRIVATE_MEDIA})  # fmt: skip
    return _serve(store, key, f["mime"], PRIVATE_MEDIA)


def _serve(store: Any, key: str, mime: str, cache_control: str, filename: str | None = None) -> Response:
    """A stored object for the browser: a local store's file in place (with range requests);
    an S3 store's as a redirect to a presigned URL valid for a few minutes, so the video
    player's range requests go straight to the object store (see README, "Keeping the
    assets in S3")."""
    path = store.local_path(key)
    if path is not None:
        return FileResponse(path, media_type=mime, filename=filename, headers={"Cache-Control": cache_control})
    url = store.presigned_url(key, content_type=mime, filename=filename, cache_control=cache_control)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})


# --- consent --------------------------------------------------------------------


@router.get("/consent/{consent_id}/form", include_in_schema=False)
def consent_form(consent_id: int, request: Request, viewer: Viewer = Depends(require("staff"))) -> Response:
    lib = lib_of(request)
    key, mime = lib.consent_form(consent_id)
    if lib.store.size(key) is None:
        raise NotFound(f"the form of consent {consent_id} is missing from the private store")
    return _serve(lib.store, key, mime, "no-store", filename=f"consent-{consent_id}{PurePosixPath(key).suffix}")


@router.post("/consent/{consent_id}/withdraw", include_in_schema=False)
def withdraw_consent(consent_id: int, request: Request, reason: str = Form(""), film: str = Form(""),
                     viewer: Viewer = Depends(staff_post)) -> Response:  # fmt: skip
    lib = lib_of(request)
    if not reason.strip():
        raise BadInput("give a reason for withdrawing the consent")
    back = None
    if film:
        lib.film(film)  # only a film that exists is a place to go back to
        back = film
    consent, already = lib.withdraw_consent(consent_id, reason)
    affected = ", ".join(consent["films"]) or "none"
    notice = (f"consent {consent_id} was already withdrawn" if already
              else f"consent {consent_id} withdrawn; films affected: {affected}")  # fmt: skip
    return RedirectResponse(film_url(back, notice, "staff-consent") if back else "/films", status_code=303)


# --- approval -------------------------------------------------------------------


@router.post("/films/{slug}/approve", include_in_schema=False)
def approve_film(slug: str, request: Request, viewer: Viewer = Depends(staff_post)) -> Response:
    result = lib_of(request).approve(slug, by=viewer.name)
    return RedirectResponse(film_url(slug, f"cut {result['cut']} approved by {result['by']}", "staff-approval"),
                            status_code=303)  # fmt: skip


# --- captions -------------------------------------------------------------------


@router.post("/films/{slug}/captions/{language}/edit", include_in_schema=False)
def edit_captions(slug: str, language: str, request: Request, text: str = Form(""), kind: str = Form("captions"),
                  action: str = Form("check"), viewer: Viewer = Depends(staff_post)) -> Response:  # fmt: skip
    from medialib.web import maker
    from medialib.web.app import render

    lib = lib_of(request)
    film = film_for(lib, viewer, slug)
    if action == "save":
        saved = lib.save_captions(slug, language, text, kind, by=viewer.name)
        report = saved["report"]
        if not saved["changed"]:
            notice = f"{language} {kind}: no change, the text is the same as the saved version"
        else:
            notice = (f"{language} {kind} saved as a new draft version ({report['errors']} error(s), "
                      f"{report['warnings']} warning(s)); it needs approval again")  # fmt: skip
        return RedirectResponse(film_url(slug, notice, f"staff-captions-{language}-{kind}"), status_code=303)
    if action != "check":
        raise BadInput(f"unknown action {action!r}: use check or save")
    if kind not in {t["kind"] for t in lib.captions(slug) if t["language"] == language}:
        raise NotFound(f"film {slug!r} has no {kind} track in {language!r}")
    lib.check_caption_text(slug, language, text)  # bad input (blank text, a bad language) is refused here
    context: dict[str, Any] = {"film": film, "notice": ""}
    context.update(maker.maker_sections(lib, viewer, film))
    context.update(staff_sections(lib, viewer, film, edits={f"{language}.{kind}": text}))
    return render(request, "film.html", **context)


@router.post("/films/{slug}/captions/{language}/approve", include_in_schema=False)
def approve_captions(slug: str, language: str, request: Request, kind: str = Form("captions"),
                     viewer: Viewer = Depends(staff_post)) -> Response:  # fmt: skip
    track = lib_of(request).approve_captions(slug, language, by=viewer.name, kind=kind)
    notice = f"{track['language']} {track['kind']} approved by {track['approved_by']}"
    anchor = f"staff-captions-{track['language']}-{track['kind']}"
    return RedirectResponse(film_url(slug, notice, anchor), status_code=303)


class CaptionText(BaseModel):
    text: str = Field(max_length=20_000_000, description="the WebVTT text as edited")


@router.post("/api/films/{slug}/captions/{language}/check", summary="Check edited caption text (nothing is saved)",
             tags=["api"])  # fmt: skip
def check_captions(slug: str, language: str, body: CaptionText, request: Request,
                   viewer: Viewer = Depends(csrf_header)) -> dict[str, Any]:  # fmt: skip
    """The syntax and quality findings of the text for the film's current cut (staff)."""
    forbid_unless(viewer, "staff")
    return with_times(lib_of(request).check_caption_text(slug, language, body.text))
