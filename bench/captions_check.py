"""Benchmark: checking a 1,000-cue caption file (target: < 0.2 s).

Measures, in one run, on the same generated file:
  - medialib's check in-process: browser-exact parse + the caption rulebook;
  - the baseline: webvtt-py's own (lenient) reading of the file, which does
    far less (no rule checks, no problem reporting);
  - `medialib captions check-file` as a command, start-up included.
Prints medians of --repeat runs, the ratio to the baseline, and PASS/FAIL.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import medialib_argv  # noqa: E402

TARGET = 0.2


def make_vtt(n: int) -> str:
    lines = ["WEBVTT", ""]
    for i in range(n):
        start = i * 3.0
        lines += [str(i + 1), f"{_ts(start)} --> {_ts(start + 2.4)}",
                  f"<v Speaker {i % 3}>Line {i} of the film,", "with a <i>second</i> line.", ""]  # fmt: skip
    return "\n".join(lines)


def _ts(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cues", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import webvtt as webvtt_py

    from medialib.captions import formats, quality
    from medialib.config import load

    text = make_vtt(args.cues)
    data = text.encode()
    thresholds = quality.thresholds_from_config(load(env={}))

    def medialib_check() -> None:
        loaded = formats.load(data, "bench.vtt")
        quality.check(loaded.parsed, thresholds, video_duration=args.cues * 3.0 + 1)

    def baseline() -> None:
        webvtt_py.from_string(text)

    medialib_check()  # warm imports
    baseline()
    ours = median_time(medialib_check, args.repeat)
    theirs = median_time(baseline, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.vtt"
        path.write_bytes(data)
        cli = median_time(lambda: subprocess.run([*medialib_argv(), "captions", "check-file", str(path), "--json"],
                                                 capture_output=True, check=False), max(3, args.repeat // 2))  # fmt: skip
        startup = median_time(lambda: subprocess.run([sys.executable, "-c", "import medialib.cli"], check=True), 3)

    print(f"{args.cues} cues, median of {args.repeat} runs")
    print(f"  medialib parse + rulebook (in-process)   {ours:.4f} s")
    print(f"  baseline: webvtt-py lenient read         {theirs:.4f} s   ratio {ours / theirs:.2f}x")
    print(f"  medialib captions check-file (command)   {cli:.4f} s   (python start-up + import {startup:.3f} s)")
    ok = ours < TARGET
    print(f"check of {args.cues} cues: {ours:.4f} s, target < {TARGET} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
