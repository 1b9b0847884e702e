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
    return lib.films()
