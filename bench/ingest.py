"""Benchmark: ingest of a large video (`medialib cut add`) against cp and openssl.

Target: the wall time of `medialib -q cut add SLUG FILE` on a ~2 GB video is
at most 1.10x the slower of `cp FILE DEST` and `openssl dgst -sha256 FILE`,
measured in the same run, and the medialib process peaks below 100 MB RSS.

    .venv/bin/python bench/ingest.py [--dir /tmp/medialib-bench] [--size-gb 2.0] [--repeat 3] [--clean]

Each repetition creates a fresh library (`medialib init`, `film add`), then
times, in an order that rotates from one repetition to the next: the ingest,
`cp`, `openssl dgst -sha256` and, for information, `cat FILE > DEST` and
`cp FILE DEST && sync DEST` (a copy that, like ingest, waits for the disk). `sync` runs
untimed before each timed command so no command pays for another's dirty
pages. Copies and libraries are deleted as soon as they have been measured.
The generated source video is kept for the next run unless --clean is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB, Run, check_importable, code_version, fmt_times, median, medialib_argv, run, startup_seconds, verdict,
)

FRAME_BYTES = 1280 * 720 * 3 // 2  # one 1280x720 yuv420p frame: 1,382,400 bytes
RATE = 25
TARGET_RATIO = 1.10
TARGET_RSS_MB = 100.0


def make_source(folder: Path, size_gb: float) -> Path:
    """A playable rawvideo-in-Matroska file of about ``size_gb`` GB (10^9 bytes); reused if present."""
    target = int(size_gb * 1e9)
    frames = max(RATE, round(target / FRAME_BYTES))
    path = folder / f"source-{size_gb:g}GB.mkv"
    if path.is_file() and abs(path.stat().st_size - target) <= 0.02 * target:
        print(f"source: reusing {path} ({path.stat().st_size / MB:,.0f} MB)")
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.stem + ".part.mkv")
    seconds = frames / RATE
    print(f"source: generating {path} ({frames} frames = {seconds:.2f} s of 1280x720 rawvideo) ...", flush=True)
    start = time.perf_counter()
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={RATE}",
        "-t", f"{seconds:.3f}", "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(part),
    ]  # fmt: skip
    run(argv).check()
    os.replace(part, path)
    print(f"source: {path.stat().st_size / MB:,.0f} MB in {time.perf_counter() - start:.1f} s")
    return path


def sha256_of(openssl_stdout: bytes) -> str:
    # "SHA2-256(path)= <hex>" or "SHA256(path)= <hex>"
    return openssl_stdout.decode().strip().rsplit("= ", 1)[-1].strip()


def probe_overhead(source: Path) -> tuple[float, float]:
    """Wall time of the two ffmpeg calls ingest makes before copying (probe, tail decode)."""
    from medialib.config import DEFAULT_FORMATS
    from medialib.media.ffmpeg import probe_args, tail_decode_args

    probe = run(probe_args("ffprobe", source, DEFAULT_FORMATS)).check()
    duration = float(json.loads(probe.stdout)["format"]["duration"])
    tail = run(tail_decode_args("ffmpeg", source, DEFAULT_FORMATS, duration - 1.0)).check()
    return probe.seconds, tail.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medialib-bench"),
                        help="scratch folder for the source video, libraries and copies (default /tmp/medialib-bench)")
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of the source video in GB (default 2.0)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each timed command (default 3)")
    parser.add_argument("--clean", action="store_true", help="also delete the generated source video at the end")
    args = parser.parse_args()
    check_importable()
    for tool in ("ffmpeg", "ffprobe", "openssl", "cp", "sync"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH")

    scratch = args.dir.resolve()
    source = make_source(scratch, args.size_gb)
    size = source.stat().st_size
    work = scratch / f"run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    medialib = medialib_argv()

    print(f"python: {sys.executable}; medialib: {' '.join(medialib)}; cores: {os.cpu_count()}")
    print(f"medialib commit: {code_version()}")
    startup = startup_seconds()
    print(f"start-up `python -c 'import medialib.cli'`: {startup:.3f} s (median of 5)")
    probe_s, tail_s = probe_overhead(source)
    print(f"ffprobe of the source: {probe_s:.3f} s; tail decode (playability check): {tail_s:.3f} s")

    # Warm the page cache once so the first timed command is not the only one reading from disk.
    run(["cat", str(source)], capture=False).check()

    times: dict[str, list[float]] = {"ingest": [], "cp": [], "openssl": [], "cat": [], "cp+sync": []}
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in times}  # (user, sys) per run

    def timed(name: str, r: Run) -> Run:
        times[name].append(r.seconds)
        cpu[name].append((r.user, r.sys))
        return r

    rss_wait4: list[float] = []
    rss_hwm: list[float] = []
    expected_sha = None

    def do_ingest(rep: int) -> None:
        lib = work / f"lib-{rep}"
        cfg = str(lib / "config.toml")
        run([*medialib, "init", str(lib)]).check()
        run([*medialib, "--config", cfg, "film", "add", "bench", "--title", "Bench"]).check()
        os.sync()
        r = run([*medialib, "--config", cfg, "-q", "cut", "add", "bench", str(source)], sample_hwm=True).check()
        timed("ingest", r)
        rss_wait4.append(r.maxrss_mb)
        if r.hwm_mb is not None:
            rss_hwm.append(r.hwm_mb)
        stored = list((lib / "assets" / "originals").rglob("*.mkv"))
        if len(stored) != 1 or stored[0].stat().st_size != size:
            raise SystemExit(f"ingest did not store the file as expected: {stored}")
        if expected_sha and not stored[0].name.startswith(expected_sha):
            raise SystemExit(f"stored under {stored[0].name}, but openssl says sha256 {expected_sha}")
        shutil.rmtree(lib)

    def do_cp(rep: int) -> None:
        dest = work / f"copy-{rep}.mkv"
        os.sync()
        timed("cp", run(["cp", str(source), str(dest)]).check())
        dest.unlink()

    def do_openssl(rep: int) -> None:
        nonlocal expected_sha
        os.sync()
        r = timed("openssl", run(["openssl", "dgst", "-sha256", str(source)]).check())
        expected_sha = sha256_of(r.stdout)

    def do_cat(rep: int) -> None:
        dest = work / f"cat-{rep}.mkv"
        os.sync()
        timed("cat", run(["sh", "-c", 'cat "$1" > "$2"', "sh", str(source), str(dest)]).check())
        dest.unlink()

    def do_cp_sync(rep: int) -> None:
        dest = work / f"durable-{rep}.mkv"
        os.sync()
        argv = ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", str(source), str(dest)]
        timed("cp+sync", run(argv).check())
        dest.unlink()

    steps = [("openssl", do_openssl), ("ingest", do_ingest), ("cp", do_cp), ("cat", do_cat), ("cp+sync", do_cp_sync)]
    try:
        for rep in range(args.repeat):
            order = steps[rep % len(steps):] + steps[: rep % len(steps)]
            for name, step in order:
                step(rep)
            print(
                f"rep {rep + 1}/{args.repeat}: "
                + ", ".join(f"{name} {times[name][-1]:.2f} s" for name, _ in order)
                + f"; ingest peak RSS {rss_wait4[-1]:.1f} MB",
                flush=True,
            )
        os.sync()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.clean:
            source.unlink(missing_ok=True)

    med = {name: median(values) for name, values in times.items()}
    baseline = max(med["cp"], med["openssl"])
    ratio = med["ingest"] / baseline
    peak = max(rss_wait4)
    hwm = max(rss_hwm) if rss_hwm else None
    gb = size / 1e9

    print()
    print(f"file: {size:,} bytes ({gb:.2f} GB); repetitions: {args.repeat}; median wall seconds, "
          "median CPU user/sys seconds, (each run's wall seconds)")
    for name, label in (
        ("ingest", "medialib -q cut add"),
        ("cp", "cp FILE DEST"),
        ("openssl", "openssl dgst -sha256"),
        ("cat", "cat FILE > DEST (informative)"),
        ("cp+sync", "cp + sync DEST (informative)"),
    ):
        user = median([u for u, _ in cpu[name]])
        kernel = median([k for _, k in cpu[name]])
        print(f"  {label:32s} {med[name]:7.3f} s  {gb / med[name]:6.2f} GB/s  CPU {user:5.2f}/{kernel:5.2f}   "
              f"({fmt_times(times[name])})")
    print(f"  {'python -c import medialib.cli':32s} {startup:7.3f} s")
    print()
    print(f"ingest / max(cp, openssl) = {med['ingest']:.3f} / {baseline:.3f} = {ratio:.2f}x "
          f"(target <= {TARGET_RATIO:.2f}x): {verdict(ratio <= TARGET_RATIO)}")
    print(f"ingest / openssl          = {med['ingest'] / med['openssl']:.2f}x (informative)")
    print(f"ingest / cp               = {med['ingest'] / med['cp']:.2f}x (informative)")
    print(f"ingest / cat              = {med['ingest'] / med['cat']:.2f}x (informative)")
    print(f"ingest / (cp + sync)      = {med['ingest'] / med['cp+sync']:.2f}x (informative: both wait for the disk)")
    floor = startup + probe_s + tail_s + med["openssl"]
    print(f"floor = start-up + ffprobe + tail decode + openssl = {floor:.3f} s = {floor / baseline:.2f}x the baseline "
          "(ingest cannot hash faster than openssl, and pays the fixed costs on top)")
    print(f"peak RSS of medialib (wait4 ru_maxrss, max over runs) = {peak:.1f} MB "
          f"(target < {TARGET_RSS_MB:.0f} MB): {verdict(peak < TARGET_RSS_MB)}")
    if hwm is not None:
        print(f"  VmHWM of the medialib process alone (sampled from /proc) = {hwm:.1f} MB")
    return 0 if ratio <= TARGET_RATIO and peak < TARGET_RSS_MB else 1


if __name__ == "__main__":
    sys.exit(main())
