"""medialib film: register, list, show and edit films."""

from __future__ import annotations

from typing import Any

import click

from medialib.catalog import validate
from medialib.cli.common import App, cut_table, duration, emit_json, fields, json_option, pass_app, table


@click.group("film")
def command() -> None:
    """Register films (stories) and change their metadata."""


def _publish_at(value: str | None) -> Any:
    if value is None:
        return None
    return validate.timestamp(value)


@command.command("add")
@click.argument("slug")
@click.option("--title", required=True, help="The film's title.")
@click.option("--summary", default="", help="A short description for the launch site.")
@click.option("--location", default="", help="Where the story takes place.")
@click.option("--theme", "themes", multiple=True, metavar="TEXT", help="A theme; repeat for several.")
@click.option("--language", "languages", multiple=True, metavar="CODE", help="A spoken language (BCP 47, e.g. en, gd); repeat for several.")
@click.option("--credit", "credits", multiple=True, metavar="TEXT", help="A credit line such as 'Director: Ann Lee'; repeat for several.")
@click.option("--licence", default="", help="The licence the film is published under, e.g. CC BY-NC 4.0.")
@click.option("--publish-at", metavar="ISO8601", help="Embargo: not published before this time (UTC unless a zone is given).")
@json_option
@pass_app
def add(app: App, slug: str, title: str, summary: str, location: str, themes: tuple[str, ...],
        languages: tuple[str, ...], credits: tuple[str, ...], licence: str, publish_at: str | None,
        as_json: bool) -> None:  # fmt: skip
    """Register a new film under SLUG (lowercase letters, digits, hyphens)."""
    validate.slug(slug)
    film = app.library.add_film(
        slug, title, summary=summary, location=location, themes=list(themes), languages=list(languages),
        credits=list(credits), licence=licence, publish_at=_publish_at(publish_at),
    )  # fmt: skip
    if as_json:
        emit_json(film)
    else:
        click.echo(f"added film {film['slug']}: {film['title']}")


@command.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List every film with its number of cuts and its current cut."""
    films = app.library.films()
    if as_json:
        emit_json(films)
        return
    table(
        ["slug", "title", "cuts", "current", "duration", "publish at"],
        [
            (f["slug"], f["title"], f["cut_count"],
             f["current_cut"]["seq"] if f["current_cut"] else "",
             duration(f["current_cut"]["duration"]) if f["current_cut"] else "",
             f["publish_at"] or "")
            for f in films
        ],  # fmt: skip
    )


@command.command("show")
@click.argument("slug")
@json_option
@pass_app
def show(app: App, slug: str, as_json: bool) -> None:
    """Show one film: its metadata and every cut."""
    film = app.library.film(slug)
    if as_json:
        emit_json(film)
        return
    fields([
        ("slug", film["slug"]), ("title", film["title"]), ("summary", film["summary"]),
        ("themes", film["themes"]), ("location", film["location"]), ("languages", film["languages"]),
        ("credits", film["credits"]), ("licence", film["licence"]), ("publish at", film["publish_at"]),
        ("current cut", f"{film['current_cut'] or '-'}{' (pinned)' if film['pinned'] else ''}"),
        ("poster at", "auto" if film["poster_at"] is None else duration(film["poster_at"])),
    ])  # fmt: skip
    click.echo()
    cut_table(film["cuts"])
    if film["derivatives"]:
        click.echo()
        table(["recipe", "file", "size", "pixels", "sha256"],
              [(d["recipe"], d["name"], d["size"], f"{d['width']}x{d['height']}" if d["width"] else "",
                d["sha256"][:16]) for d in film["derivatives"]])  # fmt: skip


@command.command("edit")
@click.argument("slug")
@click.option("--title", help="New title.")
@click.option("--summary", help="New summary.")
@click.option("--location", help="New location.")
@click.option("--theme", "themes", multiple=True, metavar="TEXT", help="Replace the themes; repeat for several.")
@click.option("--language", "languages", multiple=True, metavar="CODE", help="Replace the languages; repeat for several.")
@click.option("--credit", "credits", multiple=True, metavar="TEXT", help="Replace the credits; repeat for several.")
@click.option("--licence", help="New licence.")
@click.option("--publish-at", metavar="ISO8601|none", help="New embargo time, or 'none' to clear it.")
@click.option("--current-cut", metavar="N|latest", help="Pin cut N as the current cut, or 'latest' to follow the newest.")
@click.option("--poster-at", metavar="TIME|auto", help="Take the poster from this time of the current cut (00:01:12), or 'auto'.")
@json_option
@pass_app
def edit(app: App, slug: str, as_json: bool, **options: Any) -> None:
    """Change a film's metadata, or pin which cut is current."""
    changes: dict[str, Any] = {}
    for key in ("title", "summary", "location", "licence"):
        if options[key] is not None:
            changes[key] = options[key]
    for key in ("themes", "languages", "credits"):
        if options[key]:
            changes[key] = list(options[key])
    if options["publish_at"] is not None:
        changes["publish_at"] = None if options["publish_at"].lower() == "none" else _publish_at(options["publish_at"])
    if options["current_cut"] is not None:
        changes["current_cut"] = _cut_number(options["current_cut"])
    if options["poster_at"] is not None:
        value = options["poster_at"]
        changes["poster_at"] = None if value.lower() == "auto" else validate.timecode(value)
    film = app.library.edit_film(slug, **changes)
    if as_json:
        emit_json(film)
    else:
        click.echo(f"updated film {slug}: {', '.join(changes) or 'nothing'}")


def _cut_number(value: str) -> int | None:
    if value.lower() == "latest":
        return None
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"{value!r} is not a cut number or 'latest'", param_hint="--current-cut")
    return int(value)
