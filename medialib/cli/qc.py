"""medialib qc: the technical QC report of a film's current cut."""

from __future__ import annotations

import click

from medialib.cli.common import App, duration, emit_json, fields, json_option, pass_app, table
from medialib.errors import CheckFailed


@click.command("qc")
@click.argument("slug")
@json_option
@pass_app
def command(app: App, slug: str, as_json: bool) -> None:
    """Show the technical QC of SLUG's current cut: duration, picture, frame
    rate, interlacing, black and silent stretches, loudness (EBU R128) and
    the findings. Errors block approval, warnings do not. Exit 1 if there is
    an error-level finding. Measurements come from `medialib process`.
    """
    report = app.library.qc(slug)
    if as_json:
        emit_json(report)
    else:
        fields([
            ("film", f"{report['film']} cut {report['cut']}"),
            ("duration", duration(report["duration"])),
            ("picture", f"{report['width']}x{report['height']} shown {report['display_width']}x{report['display_height']}"),
            ("frame rate", f"{report['frame_rate']}" + (" (variable)" if report["variable_frame_rate"] else "")),
            ("interlaced", report["interlaced"]),
            ("audio", f"{report['audio_channels']} ch {report['channel_layout'] or ''}" if report["audio"] else "none"),
            ("loudness", "not measured" if report["integrated_lufs"] is None else
             f"{report['integrated_lufs']} LUFS, range {report['loudness_range']} LU, true peak {report['true_peak']} dBTP"),
            ("processing", ", ".join(f"{k} {v}" for k, v in report["processing"].items()) or "not processed yet"),
        ])  # fmt: skip
        click.echo()
        table(["level", "code", "at", "message"],
              [(f["level"], f["code"], duration(f["at"]) if f.get("at") is not None else "", f["message"])
               for f in report["findings"]])  # fmt: skip
    errors = [f for f in report["findings"] if f["level"] == "error"]
    if errors:
        raise CheckFailed(f"qc: {len(errors)} error(s) in {slug} cut {report['cut']}: "
                          + "; ".join(f["message"] for f in errors))  # fmt: skip
