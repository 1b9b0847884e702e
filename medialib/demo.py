"""The demo: two small sample films, ingested into a library, safe to run twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from medialib.errors import AlreadyExists
from medialib.library import Library
from medialib.media.samples import make_sample

FILMS = [
    {
        "slug": "hope-street",
        "title": "Hope Street",
        "summary": "Tenants and the housing office redesign the repairs service together.",
        "location": "Glasgow",
        "themes": ["housing", "co-production"],
        "languages": ["en"],
        "credits": ["Director: Ailsa Grant", "Made by the Northern Film Co-op"],
        "licence": "CC BY-NC-ND 4.0",
        "speech": "Hope Street. We sat down with the housing office and rebuilt the repairs service together.",
        "pattern": "testsrc2",
    },
    {
        "slug": "the-allotment",
        "title": "The Allotment",
        "summary": "A community garden run with the council's public health team.",
        "location": "Leeds",
        "themes": ["health", "community"],
        "languages": ["en"],
        "credits": ["Director: Sam Okafor"],
        "licence": "CC BY-NC-ND 4.0",
        "speech": "The allotment started with six people and a borrowed spade. Now the whole street grows food.",
        "pattern": "smptehdbars",
    },
]


# A minimal one-page PDF standing in for a scanned consent form.
SAMPLE_FORM = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)

PEOPLE = [  # (film slug, name, born, scopes)
    ("hope-street", "Ailsa Grant", "1979-04-02", ["filming", "online", "social"]),
    ("the-allotment", "Sam Okafor", "1988-09-14", ["filming", "screenings"]),  # no 'online': review says so
]


def consent_demo(lib: Library, samples_dir: Path, say: Callable[[str], None]) -> None:
    """One person per film, with a verified consent, once."""
    form = samples_dir / "sample-consent-form.pdf"
    if not form.exists():
        form.write_bytes(SAMPLE_FORM)
    known = {p["name"] for p in lib.people()}
    for slug, name, born, scopes in PEOPLE:
        if name in known:
            continue
        person = lib.add_person(name, born=born)
        consent = lib.add_consent(person["id"], scopes=scopes, signed="2026-10-01", form=form,
                                  verified_by="Demo Staff", collected_by="Demo Co-op")  # fmt: skip
        lib.add_appearance(slug, person["id"])
        say(f"recorded {name} in {slug} with consent {consent['id']} ({', '.join(scopes)})")


def run(lib: Library, samples_dir: Path, say: Callable[[str], None] = print) -> list[dict]:
    """Make the sample films (if not made yet), register and ingest them."""
    samples_dir.mkdir(parents=True, exist_ok=True)
    for spec in FILMS:
        clip = samples_dir / f"{spec['slug']}-final.mp4"
        if not clip.exists():
            say(f"making sample film {clip}")
            make_sample(lib.ffmpeg, clip, speech_text=spec["speech"], duration=8.0, size="640x360",
                        pattern=spec["pattern"])  # fmt: skip
        meta = {k: v for k, v in spec.items() if k not in ("slug", "title", "speech", "pattern")}
        try:
            lib.add_film(spec["slug"], spec["title"], **meta)
            say(f"registered film {spec['slug']}")
        except AlreadyExists:
            say(f"film {spec['slug']} is already registered")
        result = lib.add_cut(spec["slug"], clip, label="final")
        verb = "already had" if result.duplicate else "added"
        say(f"{verb} cut {result.cut['seq']} of {spec['slug']} (sha256 {result.cut['sha256'][:16]}…)")
    consent_demo(lib, samples_dir, say)
    return lib.films()


def captions_demo(lib: Library, samples_dir: Path, say: Callable[[str], None]) -> None:
    """English captions for each film from the words the sample speaks, imported and approved once."""
    for spec in FILMS:
        slug = spec["slug"]
        tracks = {t["language"]: t for t in lib.captions(slug)}
        if "en" not in tracks:
            vtt = samples_dir / f"{slug}.en.vtt"
            vtt.write_text(_caption_text(spec["speech"]), encoding="utf-8")
            lib.import_captions(slug, vtt, language="en")
            say(f"imported English captions for {slug}")
        if not lib.check_captions(slug, "en")["approved"]:
            lib.approve_captions(slug, "en", by="Demo Staff")
            say(f"approved the English captions of {slug}")


def _caption_text(speech: str, start: float = 0.5, end: float = 7.5) -> str:
    """The sample's spoken words as cues of up to two 37-character lines, timed by length."""
    lines: list[str] = []
    for word in speech.split():
        if lines and len(lines[-1]) + 1 + len(word) <= 37:
            lines[-1] += " " + word
        else:
            lines.append(word)
    cues = [lines[i : i + 2] for i in range(0, len(lines), 2)]
    total = sum(len(" ".join(c)) for c in cues)
    out, at = ["WEBVTT", ""], start
    for cue in cues:
        length = (end - start) * len(" ".join(cue)) / total
        out += [f"00:00:{at:06.3f} --> 00:00:{at + length - 0.1:06.3f}", *cue, ""]
        at += length
    return "\n".join(out)
