"""Creating and editing films. Helpers take the caller's session and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from medialib.catalog import audit, queries, validate
from medialib.catalog.db import add_unique
from medialib.catalog.models import Film
from medialib.errors import BadInput, NotFound

_UNSET: Any = object()


@dataclass
class FilmChanges:
    """Fields to set on a film; anything left unset is not touched."""

    title: str = _UNSET
    summary: str = _UNSET
    location: str = _UNSET
    licence: str = _UNSET
    themes: list[str] = _UNSET
    languages: list[str] = _UNSET
    credits: list[str] = _UNSET
    publish_at: datetime | None = _UNSET
    current_cut: int | None = _UNSET  # seq to pin; None unpins (newest is current)
    poster_at: float | None = _UNSET  # seconds into the current cut; None = automatic
    owner_id: int | None = _UNSET  # the film-maker account that may see and change it in the web app

    def cleaned(self) -> dict[str, Any]:
        """The set fields, checked and normalised. Raises BadInput."""
        out: dict[str, Any] = {}
        if self.title is not _UNSET:
            out["title"] = validate.text(self.title, "title", 300, required=True)
        if self.summary is not _UNSET:
            out["summary"] = validate.text(self.summary, "summary", 20000)
        if self.location is not _UNSET:
            out["location"] = validate.text(self.location, "location", 300)
        if self.licence is not _UNSET:
            out["licence"] = validate.text(self.licence, "licence", 200)
        if self.themes is not _UNSET:
            out["themes"] = _unique(validate.text(t, "theme", 100, required=True) for t in self.themes)
        if self.credits is not _UNSET:
            out["credits"] = [validate.text(c, "credit", 300, required=True) for c in self.credits]
        if self.languages is not _UNSET:
            out["languages"] = _unique(validate.language(lang) for lang in self.languages)
        if self.publish_at is not _UNSET:
            out["publish_at"] = self.publish_at
        if self.poster_at is not _UNSET:
            if self.poster_at is not None and self.poster_at < 0:
                raise BadInput("--poster-at must not be negative")
            out["poster_at"] = self.poster_at
        if self.owner_id is not _UNSET:
            out["owner_id"] = self.owner_id
        return out


def _unique(values: Any) -> list[str]:
    seen: list[str] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def get_film(session: Session, slug: str, *, for_update: bool = False) -> Film:
    """The film with ``slug``; raises NotFound (or BadInput for a malformed slug)."""
    validate.slug(slug)
    query = queries.film_by_slug(slug)
    if for_update:
        query = query.with_for_update()
    film = session.scalars(query).one_or_none()
    if film is None:
        raise NotFound(f"unknown film {slug!r} (see `medialib film list`)")
    return film


def add_film(session: Session, actor: str, slug: str, changes: FilmChanges) -> Film:
    """Create a film. Raises BadInput for bad values, AlreadyExists for a taken slug."""
    validate.slug(slug)
    if changes.title is _UNSET:
        raise BadInput("a film needs a --title")
    values = changes.cleaned()
    film = Film(slug=slug, **values)
    add_unique(session, film, queries.film_by_slug(slug), f"film {slug!r}")
    audit.record(session, actor, "film.add", f"film:{slug}", **_jsonable(values))
    return film


def edit_film(session: Session, actor: str, slug: str, changes: FilmChanges) -> Film:
    """Change a film's metadata or pin its current cut. Raises NotFound, BadInput."""
    film = get_film(session, slug, for_update=True)
    values = changes.cleaned()
    if "poster_at" in values and values["poster_at"] is not None:
        current = film.current_cut
        if current is None:
            raise BadInput(f"film {slug!r} has no cut to take a poster from")
        if values["poster_at"] >= current.duration:
            raise BadInput(
                f"--poster-at {values['poster_at']:g} s is beyond the end of cut {current.seq} ({current.duration:g} s)"
            )
    if not values and changes.current_cut is _UNSET:
        raise BadInput("nothing to change: give at least one option (see `medialib film edit --help`)")
    if changes.current_cut is not _UNSET:
        if changes.current_cut is None:
            film.pinned_cut_id = None
        else:
            cut = session.scalars(queries.cut_of_film(film.id, changes.current_cut)).one_or_none()
            if cut is None:
                raise NotFound(f"film {slug!r} has no cut {changes.current_cut}")
            film.pinned_cut_id = cut.id
        values["current_cut"] = changes.current_cut
    before = {k: getattr(film, k) for k in values if k != "current_cut"}
    for key, value in values.items():
        if key != "current_cut":
            setattr(film, key, value)
    audit.record(session, actor, "film.edit", f"film:{slug}", changes=_jsonable(values), before=_jsonable(before))
    session.flush()
    return film


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()}
