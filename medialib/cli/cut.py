"""medialib cut: add and list the cuts of a film."""

from __future__ import annotations

import click

from medialib.catalog import validate
from medialib.cli.common import App, byte_progress, cut_table, duration, emit_json, json_option, pass_app


@click.group("cut")
def command() -> None:
    """Hand over cuts (versions) of a film and list them."""


@command.command("add")
@click.argument("slug")
@click.argument("file", type=click.Path(dir_okay=True, path_type=str))
@click.option("--label", default="", help="What this cut is, e.g. rough, fine, final.")
@json_option
@pass_app
def add(app: App, slug: str, file: str, label: str, as_json: bool) -> None:
    """Add FILE as the newest cut of film SLUG.

    The file is probed (it must be a playable video), hashed while it is
    copied into the asset store (assets/originals/, or the S3 bucket of
    storage.bucket), verified, and recorded. Adding the same
    content to the same film again reports a duplicate and changes nothing.
    A file name starting with '-' needs `--` before it.
    """
    validate.slug(slug)
    with byte_progress(app, "hashing and copying") as (on_start, on_progress):
        result = app.library.add_cut(slug, file, label=label, on_start=on_start, on_progress=on_progress)
    if as_json:
        emit_json(result.as_dict())
        return
    cut = result.cut
    if result.duplicate:
        click.echo(f"duplicate: {file} is already cut {cut['seq']} of {slug} (sha256 {cut['sha256'][:16]}…); nothing added")
    else:
        click.echo(
            f"added cut {cut['seq']} of {slug}: {duration(cut['duration'])}, {cut['width']}x{cut['height']} "
            f"{cut['video_codec']}/{cut['audio_codec'] or 'no audio'}, sha256 {cut['sha256'][:16]}…"
        )


@command.command("list")
@click.argument("slug")
@json_option
@pass_app
def list_(app: App, slug: str, as_json: bool) -> None:
    """List the cuts of film SLUG, oldest first; * marks the current one."""
    cuts = app.library.cuts(slug)
    if as_json:
        emit_json(cuts)
    else:
        cut_table(cuts)
