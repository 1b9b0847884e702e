"""Benchmark: the poster step (candidate search and the poster files) on a long-GOP source.

Target (2 CPU cores): on a 60 s 1080p25 source with a 10 s GOP (x264 -g 250),
medialib's poster step takes at most 2.0x the CPU time of the raw ffmpeg
command that writes the same poster files from one fixed time (no search at
all): the search may cost at most as much as writing the posters.

Three variants, in the same process, interleaved (the order rotates from one
repetition to the next), median of --repeat runs:

- ``medialib``: ``make_posters`` as ``medialib process`` runs it (candidates
  from keyframes, exact frames only when keyframes are too few);
- ``exact search``: ``make_posters(..., keyframes=False)``, every candidate
  decoded at its exact time: the search medialib did before (poster v1);
- ``raw ffmpeg``: medialib's own ``poster_args`` at the middle of the window,
  run with ``subprocess`` directly: the floor for a poster at a fixed time.

CPU seconds are the reaped children's (ffmpeg: ``RUSAGE_CHILDREN``) plus this
process's own (the scoring is Python), as deltas around each run. "others" is
the CPU time other processes used meanwhile (``/proc/stat`` busy time minus
the measured CPU, floored at 0), so a noisy run can be told apart.

    .venv/bin/python bench/posters.py [--dir /tmp/medialib-bench] [--repeat 5] [--seconds 60]
                                      [--size 1920x1080] [--gop 250] [--clean]

The source (testsrc2 and a sine tone, x264 ultrafast, AAC; see
bench/process.py) is kept in --dir and reused unless --clean is given.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import check_importable, code_version, median, verdict  # noqa: E402
from process import Spec, busy_cpu, make_source  # noqa: E402

TARGET = 2.0  # medialib / raw ffmpeg, CPU seconds


def cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(work: Callable[[], str]) -> tuple[float, float, float, str]:
    """(CPU s, wall s, other processes' CPU s, note) of one call of ``work``."""
    busy0, cpu0, t0 = busy_cpu(), cpu_now(), time.perf_counter()
    note = work()
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    return cpu, wall, max(0.0, busy_cpu() - busy0 - cpu), note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medialib-bench"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--gop", type=int, default=250)
    parser.add_argument("--clean", action="store_true", help="delete the source at the end")
    args = parser.parse_args()
    check_importable()

    from medialib.config import DEFAULT_FORMATS
    from medialib.media import posters
    from medialib.media.ffmpeg import FFmpeg
    from medialib.media.probe import tech_info
    from medialib.media.types import SourceMedia

    import medialib

    width, height = (int(x) for x in args.size.split("x"))
    spec = Spec(args.seconds, width, height, gop=args.gop)
    print(f"medialib {code_version()} from {Path(medialib.__file__).parent}")
    path = make_source(args.dir, spec)
    ff = FFmpeg(formats=list(DEFAULT_FORMATS))
    probe = ff.probe(path)
    src = SourceMedia(path, tech_info(probe, path.name), probe)
    recipe = posters.check_recipe("poster", {})
    print(f"source: {path.name} ({spec.label}, keyframe every {args.gop} frames); "
          f"poster recipe: defaults ({recipe['candidates']} candidates in the window "
          f"{recipe['window'][0]:g}-{recipe['window'][1]:g}, {len(posters.WIDE_POSITIONS)} outside; "
          f"widths {recipe['widths']}, {'+'.join(recipe['formats'])})")

    scratch = Path(tempfile.mkdtemp(prefix="medialib-bench-posters-"))
    middle = round(sum(recipe["window"]) / 2 * src.duration, 3)

    def fresh(name: str) -> Path:
        folder = scratch / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return folder

    def search(keyframes: bool) -> Callable[[], str]:
        def work() -> str:
            data = posters.make_posters(ff, src, recipe, fresh("search"), keyframes=keyframes).data
            return f"{data['search']}, {len(data['candidates'])} candidates, poster at {data['time']:g} s"

        return work

    def raw() -> str:
        out = fresh("raw")
        sizes = posters.poster_sizes(src.display_size, recipe["widths"])
        planned = [(w, h, fmt, out / f"poster-{w}.{fmt}") for w, h in sizes for fmt in recipe["formats"]]
        argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
                *posters.poster_args(src.path, ff.formats, int(src.video_stream["index"]), middle, planned,
                                     recipe["quality"])]  # fmt: skip
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=True)
        return f"poster at {middle:g} s"

    variants: dict[str, Callable[[], str]] = {
        "medialib": search(True), "exact search": search(False), "raw ffmpeg": raw,
    }  # fmt: skip
    results: dict[str, list[tuple[float, float, float, str]]] = {name: [] for name in variants}
    names = list(variants)
    try:
        for name in names:  # warm-up: page cache, untimed
            variants[name]()
        for rep in range(args.repeat):
            order = names[rep % len(names):] + names[: rep % len(names)]
            for name in order:
                os.sync()
                results[name].append(measure(variants[name]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.clean:
            path.unlink(missing_ok=True)

    print(f"\n{'variant':<14} {'CPU s (median)':>14} {'wall s':>8}  each run: CPU s [others' CPU s]")
    cpu = {}
    for name in names:
        runs = results[name]
        cpu[name] = median([r[0] for r in runs])
        each = ", ".join(f"{r[0]:.2f} [{r[2]:.2f}]" for r in runs)
        print(f"{name:<14} {cpu[name]:>14.3f} {median([r[1] for r in runs]):>8.3f}  {each}")
        print(f"{'':<14} {runs[-1][3]}")
    ratio = cpu["medialib"] / cpu["raw ffmpeg"]
    print(f"\nmedialib / exact search (before): {cpu['medialib'] / cpu['exact search']:.3f}x CPU")
    print(f"medialib / raw ffmpeg: {ratio:.3f}x CPU (target <= {TARGET:g}x): {verdict(ratio <= TARGET)}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
