"""Benchmark: server time of the review board with 1,000 films, and of one film page.

    .venv/bin/python bench/web.py [--films 1000] [--repeat 15] [--dir /tmp/medialib-bench]

The catalogue is filled by this script through the Python API, once (kept
for later runs): every film has a cut, derivatives, approved English
captions, a person with a verified consent and a staff approval, so the board
evaluates every gate for real. The films share one small original, so the
derivatives are built once (they are keyed by content).

Server time is measured in-process (FastAPI's TestClient: the request goes
through the whole app — routing, session lookup, the gates, the template —
without a network in between). Baseline in the same run: GET /api/me, which
costs the framework and the session lookup and nothing else.
Targets (issue #7): the board < 300 ms, a film page < 200 ms.

`process` stores each cut's QC outcome with its analysis job and the board
memoises it per server process (see ``jobs.derived.qc_errors``); the first
view after a start is timed and printed separately, with the cost of
working out one cut's QC where no outcome is stored (a catalogue processed
before the outcome was stored, or other thresholds).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import check_importable  # noqa: E402

TARGETS = {"board": 0.300, "film page": 0.200}


def build(root: Path, films: int) -> Path:
    from medialib.library import Library
    from medialib.media.samples import make_sample
    from tests.launch import make_publishable, write_config

    cfg = root / "config.toml"
    if cfg.exists():
        with Library.open(cfg, env={}) as lib:
            have = len(lib.films())
        if have >= films:
            print(f"catalogue: reusing {root} ({have} films)")
            return cfg
    root.mkdir(parents=True, exist_ok=True)
    cfg = write_config(root, "medialib.db", "site")
    with Library.open(cfg, env={}) as lib:
        clip = root / "clip.mp4"
        if not clip.exists():
            make_sample(lib.ffmpeg, clip, duration=3.0, size="320x240")
        have = {f["slug"] for f in lib.films()}
        started = time.perf_counter()
        for i in range(films):
            slug = f"film-{i:04d}"
            if slug in have:
                continue
            make_publishable(lib, slug, clip, title=f"Story {i:04d}", work=root, process=(i == 0))
            if i % 100 == 99:
                print(f"catalogue: {i + 1} films ({time.perf_counter() - started:.0f} s)", flush=True)
        if not lib.users():
            lib.add_user("staff", "staff", "staff-password-1")
    return cfg


def timed(client: object, path: str, repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = client.get(path)  # type: ignore[attr-defined]
        runs.append(time.perf_counter() - start)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return runs


def main() -> int:
    check_importable()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medialib-bench"))
    args = parser.parse_args()
    cfg = build(args.dir / f"web-{args.films}", args.films)

    from fastapi.testclient import TestClient

    from medialib.library import Library
    from medialib.web.app import create_app

    with Library.open(cfg, env={}) as lib:
        client = TestClient(create_app(lib), follow_redirects=False)
        gc.freeze()  # as `medialib serve` does once the app is made
        r = client.post("/login", data={"name": "staff", "password": "staff-password-1"})
        assert r.status_code == 303, r.text[:300]
        films = len(lib.films())
        print(f"\n{films} films; {args.repeat} requests each; median (min-max) server time in-process")
        paths = {"baseline GET /api/me": "/api/me", "board": "/board",
                 "film page": "/films/film-0500" if films > 500 else "/films/film-0000"}  # fmt: skip
        failed = False
        base = None
        first = timed(client, "/board", 1)[0]  # QC memo empty: the first view after a start
        with lib.session() as s:
            from medialib.catalog.films import get_film
            from medialib.jobs import derived

            film = get_film(s, "film-0000")
            start = time.perf_counter()
            for _ in range(20):
                derived.qc_report(s, lib, film)
            per_cut = (time.perf_counter() - start) / 20
        with lib.session() as s:
            from sqlalchemy import func, select

            from medialib.catalog.models import DerivativeJob

            stored = s.scalar(select(func.count()).where(DerivativeJob.kind == "analysis",
                                                         DerivativeJob.qc_key.is_not(None)))  # fmt: skip
        print(f"  board, first view after start (QC memo empty; {stored} analysis job(s) with the QC outcome "
              f"stored by `process`): {first * 1000:.1f} ms")
        print(f"  QC of one cut worked out from its jobs' data (what a cut without a stored outcome costs the "
              f"first view): {per_cut * 1000:.2f} ms")
        for name, path in paths.items():
            runs = timed(client, path, args.repeat)
            base = base or statistics.median(runs)
            failed |= report(name, runs, base)
    return 1 if failed else 0


def report(name: str, runs: list[float], base: float) -> bool:
    """Print one row; True if it misses its target."""
    med = statistics.median(runs)
    line = f"  {name:<22} {med * 1000:8.1f} ms  ({min(runs) * 1000:.1f}-{max(runs) * 1000:.1f})  {med / base:6.1f}x baseline"
    failed = name in TARGETS and med >= TARGETS[name]
    if name in TARGETS:
        line += f"   target < {TARGETS[name] * 1000:.0f} ms: {'FAIL' if failed else 'PASS'}"
    print(line, flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
