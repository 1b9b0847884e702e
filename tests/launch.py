"""Building libraries whose films pass every publication gate (for publish tests and benchmarks).

Films may share one original: derivatives are keyed by the cut's content, so
many films then cost one `process` run, while each film still has its own
consent, captions, approval and published objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medialib.library import Library

FAST = '[recipes.proxy-720]\npreset = "ultrafast"\n[recipes.proxy-360]\npreset = "ultrafast"\n'
FORM = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")  # fmt: skip


def captions_text(duration: float, words: str = "Hope Street") -> str:
    """A WebVTT file that passes the caption rules for a clip of ``duration`` seconds."""
    end = min(duration, 1.9)
    return (f"WEBVTT\n\n00:00:00.000 --> 00:00:0{end:.3f}\n<v Ailsa>{words}.\n")


def write_config(root: Path, database: str, target: str, *, endpoint: str | None = None,
                 extra: str = "") -> Path:  # fmt: skip
    lines = [f'database = "{database}"', 'user = "tester"']
    cfg = "\n".join(lines) + "\n" + FAST + "[publish]\n" + f'target = "{target}"\n'
    if endpoint:
        cfg += f'endpoint_url = "{endpoint}"\npath_style = true\nretries = 2\n'
    cfg += 'site_title = "100 Stories of Co-production"\n' + extra
    (root / "assets").mkdir(parents=True, exist_ok=True)
    (root / "captions").mkdir(exist_ok=True)
    path = root / "config.toml"
    path.write_text(cfg)
    return path


def make_publishable(lib: Library, slug: str, clip: Path, *, title: str | None = None, work: Path,
                     summary: str = "Tenants and the housing office redesign repairs together.",
                     process: bool = True, caption_words: str = "Hope Street") -> dict[str, Any]:  # fmt: skip
    """Register ``slug`` with ``clip`` as its cut and take it through every gate."""
    lib.add_film(slug, title or slug.replace("-", " ").title(), summary=summary, languages=["en"],
                 themes=["housing"], location="Glasgow", credits=["Director: Ailsa Grant"],
                 licence="CC BY-NC-ND 4.0")  # fmt: skip
    cut = lib.add_cut(slug, clip).cut
    if process:
        lib.process([slug])
    vtt = work / f"{slug}.en.vtt"
    vtt.write_text(captions_text(cut["duration"], caption_words))
    lib.import_captions(slug, vtt, language="en")
    lib.approve_captions(slug, "en", by="Morag Stewart")
    form = work / "form.pdf"
    if not form.exists():
        form.write_bytes(FORM)
    person = lib.add_person(f"Person in {slug}", born="1980-02-01")
    consent = lib.add_consent(person["id"], scopes=["filming", "online"], signed="2024-01-10", form=form,
                              verified_by="Morag Stewart")  # fmt: skip
    lib.add_appearance(slug, person["id"])
    lib.approve(slug, by="Morag Stewart")
    return {"person": person["id"], "consent": consent["id"], "cut": cut}
