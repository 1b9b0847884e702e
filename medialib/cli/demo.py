"""medialib demo: make sample films and catalogue them."""

from __future__ import annotations

from pathlib import Path

import click

from medialib import demo
from medialib.cli.common import App, pass_app, table
from medialib.errors import CheckFailed


@click.command("demo")
@click.option("--samples", "samples_dir", default=None, metavar="DIR",
              help="Where to write the sample films (default: samples/ beside config.toml).")  # fmt: skip
@pass_app
def command(app: App, samples_dir: str | None) -> None:
    """Make two short sample films with ffmpeg (test patterns, spoken audio
    from espeak-ng if installed), register them, ingest them as cuts, show
    the catalogue, verify the originals, build their derivatives, show their
    QC, record a consenting person in each, caption and approve them, review
    the publication gates and publish the films that pass them all to the
    launch site (setting publish.target; by default the folder site/ beside
    config.toml). Safe to run again: nothing is added, built or uploaded twice."""
    lib = app.library
    target = Path(samples_dir) if samples_dir else lib.config.root / "samples"
    films = demo.run(lib, target, say=click.echo)
    click.echo()
    table(["slug", "title", "cuts", "current cut sha256"],
          [(f["slug"], f["title"], f["cut_count"], (f["current_cut"] or {}).get("sha256", ""))
           for f in films])  # fmt: skip
    report = lib.verify()
    click.echo(f"\nfixity: {report.checked} originals verified, {'all intact' if report.ok else 'PROBLEMS: run medialib verify'}")
    click.echo("\nmaking derivatives (loudness analysis, proxies, posters, storyboards)…")
    processed = lib.process([f["slug"] for f in films])
    click.echo(f"{processed.count('done')} built, {processed.count('unchanged')} unchanged, "
               f"{processed.count('failed')} failed")  # fmt: skip
    for film in films:
        qc = lib.qc(film["slug"])
        found = ", ".join(f"{f['level']} {f['code']}" for f in qc["findings"]) or "no findings"
        click.echo(f"qc {film['slug']}: {qc['integrated_lufs']} LUFS before normalising; {found}")
        for d in lib.derivatives(film["slug"]):
            if d["kind"] in ("proxy", "storyboard-vtt") or d["name"] == "poster-640.jpg":
                click.echo(f"  {d['name']:<18} {d['path']}")
    click.echo("\ncaptions:")
    demo.captions_demo(lib, target, say=click.echo)
    click.echo("\napproval:")
    for item in lib.review():
        if item["publishable"]:
            click.echo(f"{item['slug']}: already approved")
            continue
        try:
            lib.approve(item["slug"], by="Demo Staff")
            click.echo(f"{item['slug']}: approved by Demo Staff")
        except CheckFailed as exc:
            click.echo(f"{item['slug']}: {exc}")
    click.echo("\nreview (the publication gates, now):")
    for item in lib.review():
        state = "publishable" if item["publishable"] else "not publishable"
        click.echo(f"{item['slug']}: {state}")
        for gate in item["gates"]:
            click.echo(f"  {'pass' if gate['ok'] else 'FAIL'}  {gate['gate']:<12} {'; '.join(gate['reasons'])}")
    click.echo("\npublishing the launch site (only films that pass every gate):")
    outcome = lib.publish()
    plan = outcome.plan
    click.echo(f"{plan.target}: {len(plan.films)} film(s) published; {outcome.uploaded} object(s) uploaded, "
               f"{len(plan.unchanged)} unchanged, {outcome.deleted} deleted")  # fmt: skip
    for slug, reasons in sorted(plan.excluded.items()):
        click.echo(f"  not published: {slug} ({len(reasons)} unmet gate(s))")
    for slug, url in outcome.urls.items():
        click.echo(f"  {slug}: {url}")
    verified = lib.verify_published()
    click.echo(f"publish verify: {verified['checked']} object(s) checked, {'all intact' if verified['ok'] else 'PROBLEMS'}")
