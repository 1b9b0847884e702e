"""medialib captions: import, check, draft, approve and export caption tracks."""

from __future__ import annotations

import sys

import click

from medialib.cli.common import App, emit_json, json_option, pass_app, table
from medialib.errors import BadInput, CheckFailed

LANG = click.option("--lang", "language", required=True, metavar="LANG", help="BCP 47 language tag, e.g. en, gd, cy.")
KIND = click.option("--kind", default="captions", show_default=True,
                    type=click.Choice(["captions", "subtitles", "descriptions", "chapters"]), help="What the track is.")


@click.group("captions")
def command() -> None:
    """Caption tracks: import, browser-exact checks, quality rules, drafts, approval."""


def _findings(report: dict) -> None:
    click.echo(f"{report['cues']} cues a browser would show; {report['errors']} error(s), {report['warnings']} warning(s)")
    rows = [(f["level"], f["rule"], f.get("cue") or "", f.get("line") or "",
             "" if f.get("start") is None else f"{f['start']:.3f}", f["message"]) for f in report["findings"]]  # fmt: skip
    if rows:
        table(["level", "rule", "cue", "line", "start", "message"], rows)


@command.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(path_type=str))
@LANG
@KIND
@json_option
@pass_app
def import_(app: App, slug: str, file: str, language: str, kind: str, as_json: bool) -> None:
    """Import FILE (WebVTT, SRT or SBV; UTF-8, UTF-16 or Windows-1252) as
    SLUG's track in LANG. It is stored as normalised UTF-8 WebVTT in
    captions/SLUG/LANG.vtt. A file in which a browser would drop cues is
    refused, naming the line."""
    track = app.library.import_captions(slug, file, language=language, kind=kind)
    if as_json:
        emit_json(track)
    else:
        click.echo(f"imported {track['cues']} cues ({track['source_format']}, {track['encoding']}) into {track['path']}")


@command.command("check")
@click.argument("slug")
@LANG
@KIND
@json_option
@pass_app
def check(app: App, slug: str, language: str, kind: str, as_json: bool) -> None:
    """Check SLUG's LANG track as a browser reads it and against the caption
    rulebook (thresholds in config.toml), including cues beyond the end of
    the current cut and uncaptioned speech. Exit 1 on any error."""
    report = app.library.check_captions(slug, language, kind)
    if as_json:
        emit_json(report)
    else:
        click.echo(f"{slug} {language}: {report['state']}")
        _findings(report)
    if report["errors"]:
        raise CheckFailed(f"captions check: {report['errors']} error(s) in {slug} {language}")


@command.command("check-file")
@click.argument("file", type=click.Path(path_type=str))
@json_option
@pass_app
def check_file(app: App, file: str, as_json: bool) -> None:
    """Check a caption file before uploading it: what a browser would show
    (`cue_list`) and the rulebook's findings. Exit 2 if the file is rejected
    outright, 1 if it has errors."""
    from medialib.captions import tracks
    from medialib.config import load

    cfg = load(app.config_path)  # the library's thresholds if there is one, else the defaults
    report = tracks.check_text(tracks.read_upload(file), file, cfg)
    parsed = report.pop("parsed")
    report["cue_list"] = [{"id": c.id, "start": c.start, "end": c.end, "text": c.text} for c in parsed.cues]
    if as_json:
        emit_json(report)
    else:
        _findings(report)
    if report["errors"]:
        raise CheckFailed(f"captions check-file: {report['errors']} error(s) in {file}")


@command.command("list")
@click.argument("slug")
@json_option
@pass_app
def list_(app: App, slug: str, as_json: bool) -> None:
    """List SLUG's caption tracks and whether each approval still holds."""
    tracks = app.library.captions(slug)
    if as_json:
        emit_json(tracks)
    else:
        table(["language", "kind", "origin", "status", "now"],
              [(t["language"], t["kind"], t["origin"], t["status"], t["state"]) for t in tracks])  # fmt: skip


@command.command("draft")
@click.argument("slug")
@LANG
@json_option
@pass_app
def draft(app: App, slug: str, language: str, as_json: bool) -> None:
    """Draft captions for SLUG's current cut by offline speech recognition
    (Whisper, setting captions.asr_model). The draft is marked machine-made,
    never replaces human captions, and cannot be approved until a person has
    corrected it. With jobs.backend = "procrastinate" a worker does the speech
    recognition and this waits for it, then records the draft here."""
    track = app.library.draft_captions(slug, language)
    if as_json:
        emit_json(track)
    else:
        click.echo(f"drafted {track['cues']} cues into {track['path']} (machine draft: review and correct it)")


@command.command("approve")
@click.argument("slug")
@LANG
@KIND
@click.option("--by", required=True, metavar="NAME", help="The staff member approving.")
@pass_app
def approve(app: App, slug: str, language: str, kind: str, by: str) -> None:
    """Approve SLUG's LANG track for the current cut. Refused (exit 1) while
    error-level findings remain or a machine draft is uncorrected. A new cut
    or an edit of the file voids the approval."""
    track = app.library.approve_captions(slug, language, by, kind)
    click.echo(f"approved {track['path']} for cut {track['approved_cut_sha256'][:12]} by {by}")


@command.command("export")
@click.argument("slug")
@LANG
@KIND
@click.option("--format", "fmt", type=click.Choice(["vtt", "srt", "hls"]), default="vtt", show_default=True,
              help="WebVTT, SubRip, or HLS-segmented WebVTT (needs --output DIR).")
@click.option("--output", type=click.Path(path_type=str), help="Write here instead of standard output.")
@pass_app
def export(app: App, slug: str, language: str, kind: str, fmt: str, output: str | None) -> None:
    """Export SLUG's LANG track as WebVTT, SRT, or HLS WebVTT segments."""
    if fmt == "hls":
        if not output:
            raise BadInput("--format hls needs --output DIR")
        paths = app.library.export_captions_hls(slug, language, output, kind)
        click.echo(f"wrote {len(paths)} files to {output}")
        return
    text = app.library.export_captions(slug, language, fmt, kind)
    if output:
        with open(output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
