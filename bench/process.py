"""Benchmark: `medialib process` (derivatives) against the same ffmpeg commands run directly.

Targets (2 CPU cores):

1. One 60 s 1080p source: `medialib process` takes at most 1.10x the wall time
   of the same ffmpeg/ffprobe commands run directly, one after another. Also
   measured: the proxies from one ffmpeg process (decode once, `split`) against
   two processes, one per rendition (the design notes say 0.79x).
2. Four sources: `medialib process` (default --jobs) takes at most 1.05x the
   faster of two baselines run in the same benchmark: the same commands one
   after another, and two chains at a time (each chain runs one cut's commands
   in order, then takes the next cut). For long sources (4 x 15 s 720p by
   default, to keep the run short; e.g. --multi-seconds 30 --multi-size
   1920x1080) and for short clips (4 x 3 s 360p); --jobs 1 and --jobs 2 are
   measured too.
3. A 10 min source (960x540 by default: a 1080p one takes long to make and
   to proxy on 2 cores): posters plus storyboard take less than 10 % of the
   proxy time, from medialib's own job timings (`process --json`, per-job
   seconds).
4. A rerun with nothing changed, 100 cuts: less than 1 s.

    .venv/bin/python bench/process.py [--dir /tmp/medialib-bench] [--quick] [--only 1,2,3,4] [--cases long,short] [--clean]

Sources are made by ffmpeg (testsrc2 and a sine tone, x264 ultrafast with its
default 250-frame GOP, yuv420p, AAC) under DIR and reused by later runs.
Each measurement gets a fresh library: one template per case is made with the
CLI (`medialib init`, `film add`, `cut add`), and every timed run works on a
copy of it. Timed runs are `medialib --config CFG -v process --json`: -v logs
every ffmpeg/ffprobe command (a few lines of stderr), and the first run of each
case supplies the baseline: its commands, with the output paths moved from the
library's assets/tmp/ work folders to a scratch folder, run with subprocess in
the same order (input paths unchanged: that library is kept until the case
ends). Every later medialib run must log the same commands. `sync` runs,
untimed, before each timed command. Runs are interleaved in an order that
rotates from one repetition to the next; medians are reported, with the CPU
seconds that other processes used meanwhile (from /proc/stat), so a noisy
run can be told apart. Target 4 ingests its clips through the Python API in
one child process and times `medialib -q process` (no -v). Libraries and
outputs are deleted at the end; sources are kept unless --clean is given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB, Run, check_importable, code_version, fmt_times, median, medialib_argv, run, startup_seconds, verdict,
)

TARGET_SINGLE = 1.10  # 1: medialib / the same commands one after another
TARGET_MULTI = 1.05  # 2: medialib (default --jobs) / the faster baseline
TARGET_SHARE = 0.10  # 3: (posters + storyboard) / proxies
TARGET_RERUN = 1.0  # 4: seconds for a rerun with nothing to do
DESIGN_SPLIT = 0.79  # the design notes' figure for one process with split / two processes

RATE = 25
LOG_PREFIX = "debug: medialib.media.ffmpeg: running "
TRANSCODE_PREFIX = ["-hide_banner", "-nostdin", "-nostats", "-v", "info", "-y", "-progress", "pipe:1"]
WORKDIR = re.compile(r"/assets/tmp/(\d+-[0-9a-f]+\.d)/")
ORIGINAL = re.compile(r"/assets/originals/[0-9a-f]{2}/[0-9a-f]{2}/([0-9a-f]{64})")
STEPS = ("analysis", "proxy", "poster", "storyboard")


# --- sources ------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A generated source: testsrc2 at width x height, 25 fps, and a sine tone."""

    seconds: float
    width: int
    height: int
    freq: int = 440  # Hz; different tones make different files (medialib de-duplicates by content)
    gop: int | None = None  # x264 keyint; None: x264's default (250)

    @property
    def name(self) -> str:
        gop = f"-g{self.gop}" if self.gop else ""
        return f"src-{self.width}x{self.height}-{self.seconds:g}s-{self.freq}hz{gop}.mp4"

    @property
    def label(self) -> str:
        return f"{self.seconds:g} s {self.width}x{self.height}"


def make_source(folder: Path, spec: Spec) -> Path:
    """The source file for ``spec`` (made once; a complete file is only ever renamed into place)."""
    path = folder / spec.name
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(".part-" + path.name)
    print(f"source: generating {path.name} ({spec.label}) ...", end=" ", flush=True)
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={spec.width}x{spec.height}:rate={RATE}",
        "-f", "lavfi", "-i", f"sine=frequency={spec.freq}:sample_rate=48000",
        "-t", f"{spec.seconds:g}", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        *(["-g", str(spec.gop)] if spec.gop else []),
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "mp4", str(part),
    ]  # fmt: skip
    r = run(argv).check()
    os.replace(part, path)
    print(f"{path.stat().st_size / MB:,.1f} MB in {r.seconds:.1f} s", flush=True)
    return path


def make_tiny_clips(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 1 s 64x64 clips, cut from one testsrc2 stream by the segment muxer (one ffmpeg call)."""
    sub = folder / f"tiny-64x64-{count}"
    done = sub / "complete"
    clips = [sub / f"clip-{i:03d}.mp4" for i in range(count)]
    if done.is_file():
        return clips
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir(parents=True)
    print(f"source: generating {count} clips of 1 s 64x64 in {sub} ...", end=" ", flush=True)
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=64x64:rate={RATE}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(count), "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*1)",
        "-c:a", "aac", "-b:a", "64k", "-ac", "2",
        "-f", "segment", "-segment_time", "1", "-reset_timestamps", "1", "-segment_format", "mp4",
        str(sub / "clip-%03d.mp4"),
    ]  # fmt: skip
    r = run(argv).check()
    missing = [c.name for c in clips if not c.is_file()]
    if missing:
        raise SystemExit(f"the segment muxer did not write {missing[:3]}")
    done.touch()
    print(f"{r.seconds:.1f} s", flush=True)
    return clips


# --- libraries ------------------------------------------------------------------------


class Libraries:
    """Fresh libraries under one scratch folder: a template per case (made with the CLI), copies per run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.medialib = medialib_argv()
        self.count = 0

    def template(self, name: str, sources: list[tuple[str, Path]]) -> Path:
        lib = self.root / f"template-{name}"
        shutil.rmtree(lib, ignore_errors=True)
        run([*self.medialib, "init", str(lib)]).check()
        cfg = str(lib / "config.toml")
        for slug, path in sources:
            run([*self.medialib, "--config", cfg, "film", "add", slug, "--title", slug]).check()
            run([*self.medialib, "--config", cfg, "-q", "cut", "add", slug, str(path)]).check()
        return lib

    def copy(self, template: Path) -> Path:
        self.count += 1
        lib = self.root / f"lib-{self.count:03d}"
        shutil.copytree(template, lib)
        return lib


@dataclass
class Processed:
    """One timed `medialib process` run."""

    run: Run
    lib: Path
    report: dict
    commands: list[list[str]]  # as logged, in order
    others: float  # CPU seconds of other processes meanwhile

    def job_seconds(self) -> dict[str, float]:
        """Seconds per step, summed over cuts (renditions built together count once)."""
        out = dict.fromkeys(STEPS, 0.0)
        for cut in self.report["cuts"]:
            seen: set[str] = set()
            for job in cut["jobs"]:
                kind = job["kind"]
                if kind in seen:
                    continue  # proxies: one shared run, its time is on every rendition
                seen.add(kind)
                out[kind] += job.get("seconds", 0.0)
        return out


def logged_commands(stderr: bytes) -> list[list[str]]:
    return [shlex.split(line[len(LOG_PREFIX):]) for line in stderr.decode(errors="replace").splitlines()
            if line.startswith(LOG_PREFIX)]  # fmt: skip


def busy_cpu() -> float:
    """CPU seconds every core of the machine has spent busy since boot (user, nice, system, irq), from /proc/stat."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fh.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class Others:
    """CPU seconds spent by other processes (not the measured command, not this script) while measuring."""

    def __enter__(self) -> Self:
        self.busy, self.own = busy_cpu(), time.process_time()
        self.seconds = 0.0
        return self

    def done(self, measured_cpu: float) -> float:
        spent = busy_cpu() - self.busy - (time.process_time() - self.own)
        self.seconds = max(0.0, spent - measured_cpu)
        return self.seconds

    def __exit__(self, *exc: object) -> None:
        pass


def medialib_process(lib: Path, jobs: int | None, *, expect_built: int) -> Processed:
    argv = [*medialib_argv(), "--config", str(lib / "config.toml"), "-v", "process", "--json"]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    os.sync()
    with Others() as others:
        r = run(argv).check()
        others.done(r.user + r.sys)
    report = json.loads(r.stdout)
    if not report["ok"] or report["built"] != expect_built:
        raise SystemExit(f"medialib process built {report['built']} of {expect_built} (failed: {report['failed']})")
    return Processed(r, lib, report, logged_commands(r.stderr), others.seconds)


# --- the baseline: medialib's commands, run directly ------------------------------------


def kind_of(argv: list[str]) -> str:
    """Which step a logged command belongs to, and what it does."""
    text = " ".join(argv)
    if Path(argv[0]).name.startswith("ffprobe"):
        return "proxy:verify"
    if "loudnorm" in text and "print_format=json" in text:
        return "analysis"
    if "bwdif" in text:
        return "proxy"
    if "-pix_fmt gray" in text:
        return "poster:candidates"
    if "lanczos" in text:
        return "poster"
    if "showinfo" in text:
        return "storyboard:frames"
    if "tile=" in text:
        return "storyboard:sheets"
    raise SystemExit(f"bench/process.py does not know this command: {shlex.join(argv)[:300]}")


def step_of(kind: str) -> str:
    return kind.split(":")[0]


def by_cut(commands: list[list[str]]) -> dict[str, list[list[str]]]:
    """The commands of each cut (by the sha256 of its original), in order.

    A command names the original or a work folder; work folders are tied to
    the cut whose original a command used together with them.
    """
    owner: dict[str, str] = {}
    cuts: dict[str, list[list[str]]] = {}
    for argv in commands:
        text = " ".join(argv)
        sha = next(iter(ORIGINAL.findall(text)), None)
        folders = WORKDIR.findall(text)
        if sha is None:
            sha = next((owner[f] for f in folders if f in owner), None)
            if sha is None:
                raise SystemExit(f"cannot tell which cut this command is for: {shlex.join(argv)[:300]}")
        for f in folders:
            owner[f] = sha
        cuts.setdefault(sha, []).append(argv)
    return cuts


def normalised(argv: list[str], lib: Path) -> list[str]:
    """``argv`` without what differs from run to run: the library folder, work folders, pids."""
    out = []
    for arg in argv:
        arg = arg.replace(str(lib), "<LIB>")
        arg = WORKDIR.sub("/assets/tmp/<W>/", arg)
        arg = re.sub(r"\.(\d+)\.part\.mp4", ".<PID>.part.mp4", arg)
        out.append(arg)
    return out


def same_commands(a: Processed, b: Processed) -> bool:
    ca, cb = by_cut(a.commands), by_cut(b.commands)
    return set(ca) == set(cb) and all(
        [normalised(x, a.lib) for x in ca[sha]] == [normalised(x, b.lib) for x in cb[sha]] for sha in ca
    )


@dataclass
class Chain:
    """One cut's commands, as captured, ready to be rewritten into a scratch folder and run."""

    sha: str
    commands: list[list[str]]
    lib: Path

    def rewritten(self, out: Path) -> tuple[list[list[str]], list[Path]]:
        tmp = str(self.lib / "assets" / "tmp") + "/"
        pattern = re.compile(re.escape(tmp) + r"(\d+-[0-9a-f]+\.d)/")
        folders: set[str] = set()

        def move(arg: str) -> str:
            def repl(m: re.Match) -> str:
                folders.add(m.group(1))
                return f"{out}/{m.group(1)}/"

            return pattern.sub(repl, arg)

        argvs = [[move(a) for a in argv] for argv in self.commands]
        for argv in argvs:
            if any(tmp in a for a in argv):
                raise SystemExit(f"an output path was not moved: {shlex.join(argv)[:300]}")
        return argvs, [out / f for f in sorted(folders)]


@dataclass
class ChainTimes:
    seconds: float = 0.0
    user: float = 0.0
    sys: float = 0.0
    others: float = 0.0  # CPU seconds of other processes meanwhile
    steps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    kinds: dict[str, float] = field(default_factory=dict)
    kinds_cpu: dict[str, float] = field(default_factory=dict)

    def add(self, other: ChainTimes) -> None:
        self.user += other.user
        self.sys += other.sys
        for k, v in other.steps.items():
            self.steps[k] += v
        for k, v in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0.0) + v
        for k, v in other.kinds_cpu.items():
            self.kinds_cpu[k] = self.kinds_cpu.get(k, 0.0) + v


def run_chain(chain: Chain, out: Path) -> ChainTimes:
    argvs, folders = chain.rewritten(out)
    for f in folders:
        f.mkdir(parents=True, exist_ok=True)
    times = ChainTimes()
    start = time.perf_counter()
    for argv in argvs:
        r = run(argv).check()
        kind = kind_of(argv)
        times.steps[step_of(kind)] += r.seconds
        times.kinds[kind] = times.kinds.get(kind, 0.0) + r.seconds
        times.kinds_cpu[kind] = times.kinds_cpu.get(kind, 0.0) + r.user + r.sys
        times.user += r.user
        times.sys += r.sys
    times.seconds = time.perf_counter() - start
    return times


def run_baseline(chains: list[Chain], out_root: Path, parallel: int) -> ChainTimes:
    """All chains, ``parallel`` at a time (1: one after another); wall time of the whole."""
    out_root.mkdir(parents=True)
    os.sync()
    total = ChainTimes()
    with Others() as others:
        start = time.perf_counter()
        try:
            if parallel == 1:
                results = [run_chain(c, out_root / f"cut-{i}") for i, c in enumerate(chains)]
            else:
                with ThreadPoolExecutor(max_workers=parallel) as pool:
                    results = list(pool.map(lambda ic: run_chain(ic[1], out_root / f"cut-{ic[0]}"),
                                            enumerate(chains)))  # fmt: skip
            total.seconds = time.perf_counter() - start
            for r in results:
                total.add(r)
            total.others = others.done(total.user + total.sys)
        finally:
            shutil.rmtree(out_root, ignore_errors=True)
    return total


def chains_of(p: Processed) -> list[Chain]:
    return [Chain(sha, cmds, p.lib) for sha, cmds in by_cut(p.commands).items()]


# --- proxies: one process with split against one process per rendition -----------------


SPLIT_CODE = r"""
import json, re, sys
from pathlib import Path
from sqlalchemy import select
from medialib.catalog.models import Cut, DerivativeJob
from medialib.library import Library
from medialib.media import analysis as analysis_mod
from medialib.media import recipes as recipes_mod
from medialib.media.probe import tech_info
from medialib.media.proxy import proxy_args
from medialib.media.types import SourceMedia

cfg, proxy, out, head_len = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
with Library.open(cfg, env={}) as lib:
    recipes = recipes_mod.resolve(lib.config["recipes"])
    with lib.session() as s:
        cut = s.scalars(select(Cut)).one()
        job = s.scalars(select(DerivativeJob).where(DerivativeJob.kind == "analysis")).one()
        analysis_data = dict(job.data)
        src = SourceMedia(lib.store.root / cut.storage_key, tech_info(cut.probe, cut.storage_key), cut.probe)
    formats = lib.ffmpeg.formats
arecipe = {**analysis_mod.DEFAULTS, **next(r.params for r in recipes.values() if r.kind == "analysis")}
renditions = [(n, recipes[n].params) for n in sorted(recipes) if recipes[n].kind == "proxy"]
outputs = [Path(a.removeprefix("file:")) for a in proxy if a.startswith("file:") and "/assets/tmp/" in a]
head = proxy[:head_len]
rebuilt = head + proxy_args(src, renditions, outputs, analysis_data, arecipe, formats=formats) == proxy
singles = [head + proxy_args(src, [r], [out / f"{r[0]}.mp4"], analysis_data, arecipe, formats=formats)
           for r in renditions]
print(json.dumps({"rebuilt": rebuilt, "singles": singles}))
"""


def child_json(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter (the medialib of the CLI, never a stale import) and parse its JSON."""
    return json.loads(run([sys.executable, "-c", code, *args]).check().stdout)


def separate_proxy_commands(captured: Processed, out: Path) -> list[list[str]]:
    """One proxy command per rendition, built by medialib's own proxy_args.

    proxy_args with both renditions must give back exactly the proxy command
    medialib logged (so the comparison uses medialib's real graph and
    settings). Each single-rendition command writes into ``out``; black
    detection, which one pass needs only once, is kept in the first process
    only.
    """
    proxy = next(a for a in captured.commands if kind_of(a) == "proxy")
    head = [proxy[0], *TRANSCODE_PREFIX]
    if proxy[: len(head)] != head:
        raise SystemExit("the proxy command does not start as bench/process.py expects; it is out of date")
    got = child_json(SPLIT_CODE, str(captured.lib / "config.toml"), json.dumps(proxy), str(out), str(len(head)))
    if not got["rebuilt"]:
        raise SystemExit("proxy_args does not rebuild the proxy command medialib ran; bench/process.py is out of date")
    singles = got["singles"]
    for argv in singles[1:]:
        k = argv.index("-filter_complex") + 1
        chains = [c for c in argv[k].split(";") if not c.startswith("[vb]")]
        first = re.sub(r",split=2\[v0\]\[vb\]$", "[v0]", chains[0])
        if first == chains[0]:
            raise SystemExit(f"unexpected proxy filter graph: {argv[k]}")
        argv[k] = ";".join([first, *chains[1:]])
    return singles


# --- the measurements -----------------------------------------------------------------


def rotate(items: list, rep: int) -> list:
    k = rep % len(items)
    return items[k:] + items[:k]


def measure_single(args: argparse.Namespace, libs: Libraries, scratch: Path) -> bool:
    spec = Spec(args.single_seconds, *args.single_size)
    source = make_source(scratch, spec)
    print(f"\n== target 1: one source, {spec.label} ({source.stat().st_size / MB:,.0f} MB), "
          f"{args.repeat} repetitions ==", flush=True)
    template = libs.template("single", [("single", source)])
    reference: Processed | None = None
    chains: list[Chain] = []
    singles: list[list[str]] = []
    ml: list[Processed] = []
    base: list[ChainTimes] = []
    two: list[float] = []
    two_cpu: list[float] = []
    two_others: list[float] = []

    def do_medialib(rep: int) -> None:
        nonlocal reference, chains, singles
        lib = libs.copy(template)
        p = medialib_process(lib, None, expect_built=5)
        ml.append(p)
        if reference is None:
            reference = p  # kept: the baseline reads its original
            chains = chains_of(p)
            singles = separate_proxy_commands(p, scratch / "two-proxies")
        else:
            if not same_commands(reference, p):
                raise SystemExit("medialib ran different commands from one run to the next")
            shutil.rmtree(lib)

    def do_baseline(rep: int) -> None:
        base.append(run_baseline(chains, scratch / "baseline", 1))

    def do_two(rep: int) -> None:
        out = scratch / "two-proxies"
        out.mkdir(parents=True, exist_ok=True)
        os.sync()
        with Others() as others:
            start = time.perf_counter()
            runs = [run(argv).check() for argv in singles]
            two.append(time.perf_counter() - start)
            two_cpu.append(sum(r.user + r.sys for r in runs))
            two_others.append(others.done(two_cpu[-1]))
        written = [f for f in out.glob("*.mp4") if f.stat().st_size > 0]
        if len(written) != len(singles):
            raise SystemExit("the one-rendition proxy commands did not write one proxy each")
        shutil.rmtree(out)

    steps = [("medialib", do_medialib), ("baseline", do_baseline), ("two", do_two)]
    try:
        for rep in range(args.repeat):
            order = rotate(steps, rep)
            for _, step in order:
                step(rep)
            print(f"rep {rep + 1}/{args.repeat}: medialib {ml[-1].run.seconds:.2f} s, same commands directly "
                  f"{base[-1].seconds:.2f} s, proxies in two processes {two[-1]:.2f} s", flush=True)
    finally:
        if reference is not None:
            shutil.rmtree(reference.lib, ignore_errors=True)
        shutil.rmtree(template, ignore_errors=True)

    m = median([p.run.seconds for p in ml])
    b = median([t.seconds for t in base])
    split = median([t.kinds["proxy"] for t in base])
    sep = median(two)
    ratio = m / b
    print()
    print(f"{len(reference.commands)} commands: {', '.join(kind_of(a) for a in reference.commands)}")
    print("median wall seconds, median CPU seconds, CPU seconds of other processes meanwhile (each run's wall seconds)")
    rows = [
        ("medialib -v process --json", [p.run.seconds for p in ml], [p.run.user + p.run.sys for p in ml],
         [p.others for p in ml]),
        ("the same commands, one after another", [t.seconds for t in base], [t.user + t.sys for t in base],
         [t.others for t in base]),
    ]  # fmt: skip
    for label, wall, cpu, others in rows:
        print(f"  {label:40s} {median(wall):7.3f} s  CPU {median(cpu):6.2f} s  others {median(others):5.2f} s  "
              f"({fmt_times(wall)})")
    print(f"  {'python -c import medialib.cli':40s} {args.startup:7.3f} s")
    print("  per step: medialib's job seconds (--json) / the same commands directly, medians")
    for step in STEPS:
        mj = median([p.job_seconds()[step] for p in ml])
        bj = median([t.steps[step] for t in base])
        print(f"    {step:12s} {mj:7.3f} s / {bj:7.3f} s")
    print("  each command directly (median wall / CPU seconds):")
    for kind in sorted(base[0].kinds):
        print(f"    {kind:22s} {median([t.kinds[kind] for t in base]):7.3f} s / "
              f"{median([t.kinds_cpu[kind] for t in base]):6.2f} s")
    print(f"medialib / same commands = {m:.3f} / {b:.3f} = {ratio:.3f}x (target <= {TARGET_SINGLE:.2f}x): "
          f"{verdict(ratio <= TARGET_SINGLE)}")
    print(f"  medialib - same commands = {m - b:+.3f} s, of which start-up (import medialib.cli) ~{args.startup:.3f} s")
    print(f"proxies, one process with split: {split:.3f} s, CPU {median([t.kinds_cpu['proxy'] for t in base]):.2f} s "
          f"({fmt_times([t.kinds['proxy'] for t in base])})")
    print(f"proxies, two processes one after another: {sep:.3f} s, CPU {median(two_cpu):.2f} s, "
          f"others {median(two_others):.2f} s ({fmt_times(two)})")
    print(f"  one process / two processes = {split / sep:.3f}x wall, "
          f"{median([t.kinds_cpu['proxy'] for t in base]) / median(two_cpu):.3f}x CPU "
          f"(design notes: {DESIGN_SPLIT:.2f}x; informative)")
    return ratio <= TARGET_SINGLE


def measure_multi(args: argparse.Namespace, libs: Libraries, scratch: Path, case: str, spec: Spec,
                  repeat: int) -> tuple[bool, str]:  # fmt: skip
    specs = [Spec(spec.seconds, spec.width, spec.height, freq=500 + 100 * i) for i in range(4)]
    sources = [make_source(scratch, s) for s in specs]
    print(f"\n== target 2 ({case}): 4 sources of {spec.label}, {repeat} repetitions ==", flush=True)
    template = libs.template(case, [(f"{case}-{i + 1}", p) for i, p in enumerate(sources)])
    default_jobs: int | str = "?"  # medialib's own choice, from its report (`jobs`)
    reference: Processed | None = None
    chains: list[Chain] = []
    times: dict[str, list[float]] = {"default": [], "jobs1": [], "jobs2": [], "seq": [], "par": []}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    others: dict[str, list[float]] = {k: [] for k in times}
    outside: list[float] = []  # --jobs 1: wall time not spent inside a job (start-up, planning, claims, report)
    busy: list[float] = []  # --jobs 1: wall time inside jobs
    expect = 5 * len(sources)

    def medialib_step(name: str, jobs: int | None):
        def step(rep: int) -> None:
            nonlocal reference, chains, default_jobs
            lib = libs.copy(template)
            p = medialib_process(lib, jobs, expect_built=expect)
            if jobs is None:
                default_jobs = p.report.get("jobs", "?")
            times[name].append(p.run.seconds)
            cpu[name].append(p.run.user + p.run.sys)
            others[name].append(p.others)
            if jobs == 1:
                inside = sum(p.job_seconds().values())
                busy.append(inside)
                outside.append(p.run.seconds - inside)
            if reference is None:
                reference = p
                chains = chains_of(p)
                if len(chains) != len(sources):
                    raise SystemExit(f"expected the commands of {len(sources)} cuts, found {len(chains)}")
            else:
                if not same_commands(reference, p):
                    raise SystemExit("medialib ran different commands from one run to the next")
                shutil.rmtree(lib)

        return step

    def baseline_step(name: str, parallel: int):
        def step(rep: int) -> None:
            t = run_baseline(chains, scratch / f"baseline-{case}", parallel)
            times[name].append(t.seconds)
            cpu[name].append(t.user + t.sys)
            others[name].append(t.others)

        return step

    # --jobs 1 first: its log is in cut order, and it supplies the baseline.
    steps = [("jobs1", medialib_step("jobs1", 1)), ("seq", baseline_step("seq", 1)),
             ("default", medialib_step("default", None)), ("par", baseline_step("par", 2)),
             ("jobs2", medialib_step("jobs2", 2))]  # fmt: skip
    try:
        for rep in range(repeat):
            order = rotate(steps, rep)
            for _, step in order:
                step(rep)
            print(f"rep {rep + 1}/{repeat}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n, _ in order), flush=True)
    finally:
        if reference is not None:
            shutil.rmtree(reference.lib, ignore_errors=True)
        shutil.rmtree(template, ignore_errors=True)

    med = {k: median(v) for k, v in times.items()}
    best_base = min(med["seq"], med["par"])
    best_name = "one after another" if med["seq"] <= med["par"] else "two chains at a time"
    ratio = med["default"] / best_base
    labels = {
        "default": f"medialib process (default --jobs = {default_jobs})",
        "jobs1": "medialib process --jobs 1",
        "jobs2": "medialib process --jobs 2",
        "seq": "commands, one after another",
        "par": "commands, two chains at a time",
    }
    print()
    print(f"{case}: 4 x {spec.label}, {len(reference.commands) // 4} commands per cut; "
          "median wall seconds, median CPU seconds, CPU seconds of other processes meanwhile, "
          "(each run's wall seconds), and / the faster baseline")
    for k in ("default", "jobs1", "jobs2", "seq", "par"):
        print(f"  {labels[k]:44s} {med[k]:7.3f} s  CPU {median(cpu[k]):6.2f} s  others {median(others[k]):5.2f} s  "
              f"({fmt_times(times[k])})  {med[k] / best_base:.3f}x")
    print(f"  medialib --jobs 1: {median(busy):.3f} s inside its jobs (--json seconds), {median(outside):.3f} s "
          f"outside them (start-up, planning, claiming jobs, the report); start-up alone ~{args.startup:.3f} s")
    best_jobs = min(("jobs1", "jobs2"), key=lambda k: med[k])
    print(f"medialib (default) / faster baseline ({best_name}) = {med['default']:.3f} / {best_base:.3f} = "
          f"{ratio:.3f}x (target <= {TARGET_MULTI:.2f}x): {verdict(ratio <= TARGET_MULTI)}")
    print(f"  two chains / one after another = {med['par'] / med['seq']:.3f}x; "
          f"--jobs 2 / --jobs 1 = {med['jobs2'] / med['jobs1']:.3f}x")
    print(f"  best --jobs for {case}: {best_jobs[-1]} ({med[best_jobs]:.3f} s); the default is {default_jobs}")
    return ratio <= TARGET_MULTI, f"{case}: best --jobs {best_jobs[-1]}, default {default_jobs}"


def measure_share(args: argparse.Namespace, libs: Libraries, scratch: Path) -> bool:
    spec = Spec(args.long_minutes * 60, *args.long_size)
    source = make_source(scratch, spec)
    print(f"\n== target 3: posters + storyboard against proxies, one source of {spec.label} "
          f"({source.stat().st_size / MB:,.0f} MB) ==", flush=True)
    lib = libs.template("share", [("share", source)])
    try:
        p = medialib_process(lib, None, expect_built=5)
        jobs = p.job_seconds()
        chains = chains_of(p)
        # The poster and storyboard commands again, directly (cheap), to split ffmpeg from the rest.
        direct: dict[str, list[float]] = {}
        chain = chains[0]
        for rep in range(args.repeat):
            out = scratch / "share-direct"
            argvs, folders = chain.rewritten(out)
            for f in folders:
                f.mkdir(parents=True, exist_ok=True)
            os.sync()
            spent: dict[str, float] = {}
            for argv in argvs:
                kind = kind_of(argv)
                if step_of(kind) in ("poster", "storyboard"):
                    spent[kind] = spent.get(kind, 0.0) + run(argv).check().seconds
            for k, v in spent.items():
                direct.setdefault(k, []).append(v)
            shutil.rmtree(out)
    finally:
        shutil.rmtree(lib, ignore_errors=True)
    share = (jobs["poster"] + jobs["storyboard"]) / jobs["proxy"]
    print(f"medialib -v process --json: {p.run.seconds:.2f} s wall, CPU {p.run.user + p.run.sys:.2f} s, "
          f"others {p.others:.2f} s")
    print("  job seconds: " + ", ".join(f"{k} {jobs[k]:.3f} s" for k in STEPS))
    print(f"  the poster and storyboard commands directly, median of {args.repeat}: "
          + ", ".join(f"{k} {median(v):.3f} s ({fmt_times(v)})" for k, v in sorted(direct.items())))
    print(f"(posters + storyboard) / proxies = ({jobs['poster']:.3f} + {jobs['storyboard']:.3f}) / {jobs['proxy']:.3f} "
          f"= {share * 100:.1f} % (target < {TARGET_SHARE * 100:.0f} %): {verdict(share < TARGET_SHARE)}")
    direct_sum = sum(median(v) for v in direct.values())
    print(f"  with the poster and storyboard commands timed directly: {direct_sum:.3f} / {jobs['proxy']:.3f} = "
          f"{direct_sum / jobs['proxy'] * 100:.1f} % (informative)")
    return share < TARGET_SHARE


INGEST_CODE = r"""
import sys
from medialib.library import Library
with Library.open(sys.argv[1], env={}) as lib:
    for i, clip in enumerate(sys.argv[2:]):
        slug = f"clip-{i + 1:03d}"
        lib.add_film(slug, f"Clip {i + 1}")
        lib.add_cut(slug, clip)
"""

BREAKDOWN = r"""
import json, sys, time
t0 = time.perf_counter()
import medialib.cli
from medialib.library import Library
from medialib.jobs import process as jp
from medialib.media import recipes as rm
t1 = time.perf_counter()
lib = Library.open(sys.argv[1], env={})
t2 = time.perf_counter()
recipes = rm.resolve(lib.config["recipes"])
with lib.session() as s:
    tasks = jp.plan(s, recipes, (), False)
t3 = time.perf_counter()
report = lib.process(())
t4 = time.perf_counter()
json.dumps(report.as_dict())
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "plan": t3 - t2, "process": t4 - t3,
                  "todo": sum(len(t.todo) for t in tasks), "built": report.count("done")}))
"""


def measure_rerun(args: argparse.Namespace, libs: Libraries, scratch: Path) -> bool:
    clips = make_tiny_clips(scratch, args.cuts)
    print(f"\n== target 4: a rerun with nothing changed, {args.cuts} cuts ==", flush=True)
    lib = libs.root / "rerun"
    shutil.rmtree(lib, ignore_errors=True)
    medialib = medialib_argv()
    cfg = lib / "config.toml"
    try:
        run([*medialib, "init", str(lib)]).check()
        # One film per clip, through the Python API in one child process (200 CLI start-ups would add 2 minutes).
        added = run([sys.executable, "-c", INGEST_CODE, str(cfg), *map(str, clips)]).check()
        print(f"ingest of {len(clips)} clips (films and cuts through the Python API): {added.seconds:.1f} s")
        first = run([*medialib, "--config", str(cfg), "-q", "process", "--json"]).check()
        report = json.loads(first.stdout)
        if report["built"] != 5 * len(clips) or not report["ok"]:
            raise SystemExit(f"first process built {report['built']} of {5 * len(clips)}")
        print(f"first `medialib process` (builds {report['built']} derivatives): {first.seconds:.1f} s", flush=True)
        argv = [*medialib, "--config", str(cfg), "-q", "process"]
        expected = f"0 built, {5 * len(clips)} unchanged, 0 failed"
        run(argv).check()  # warm-up, untimed
        reruns: list[float] = []
        starts: list[float] = []
        for _ in range(args.rerun_repeat):
            r = run(argv).check()
            if expected not in r.stdout.decode():
                raise SystemExit(f"the rerun did something: {r.stdout.decode()[-300:]}")
            reruns.append(r.seconds)
            starts.append(startup_seconds(repeat=1))
        js = run([*medialib, "--config", str(cfg), "-q", "process", "--json"]).check()
        if json.loads(js.stdout)["unchanged"] != 5 * len(clips):
            raise SystemExit("the --json rerun did not report every derivative unchanged")
        breakdown = json.loads(run([sys.executable, "-c", BREAKDOWN, str(cfg)]).check().stdout)
    finally:
        shutil.rmtree(lib, ignore_errors=True)
    m = median(reruns)
    s = median(starts)
    print(f"  {'medialib -q process (nothing to do)':40s} {m:7.3f} s  ({fmt_times(reruns)})")
    print(f"  {'medialib -q process --json':40s} {js.seconds:7.3f} s  (one run)")
    print(f"  {'python -c import medialib.cli':40s} {s:7.3f} s  ({fmt_times(starts)})")
    print("  in one process: " + ", ".join(f"{k} {breakdown[k]:.3f} s" for k in ("import", "open", "plan", "process"))
          + f" (plan found {breakdown['todo']} to do; process built {breakdown['built']})")
    print(f"rerun of {len(clips)} cuts = {m:.3f} s (target < {TARGET_RERUN:.1f} s): {verdict(m < TARGET_RERUN)}; "
          f"beyond start-up: {m - s:.3f} s")
    return m < TARGET_RERUN


def size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medialib-bench"),
                        help="scratch folder for sources, libraries and outputs (default /tmp/medialib-bench)")
    parser.add_argument("--quick", action="store_true",
                        help="small and few: 20 s 720p, 4 x 10 s 720p, a 2 min 360p source, 30 cuts, fewer repetitions")
    parser.add_argument("--only", default="1,2,3,4", help="which targets to measure, e.g. 1,3 (default all)")
    parser.add_argument("--repeat", type=int, help="repetitions for target 1 (default 3; the short clips get 4)")
    parser.add_argument("--repeat-long", type=int, help="repetitions for the long sources of target 2 (default 2)")
    parser.add_argument("--repeat-short", type=int, help="repetitions for the short clips of target 2 (default 4)")
    parser.add_argument("--single-seconds", type=float, help="target 1: length of the source (default 60)")
    parser.add_argument("--single-size", type=size, help="target 1: WxH (default 1920x1080)")
    parser.add_argument("--multi-seconds", type=float, help="target 2: length of each long source (default 15)")
    parser.add_argument("--multi-size", type=size, help="target 2: WxH of the long sources (default 1280x720)")
    parser.add_argument("--cases", default="long,short",
                        help="target 2: which cases to measure, long and/or short (default both)")
    parser.add_argument("--long-minutes", type=float, help="target 3: length of the source (default 10)")
    parser.add_argument("--long-size", type=size, help="target 3: WxH (default 960x540)")
    parser.add_argument("--cuts", type=int, help="target 4: number of cuts (default 100)")
    parser.add_argument("--clean", action="store_true", help="also delete the generated sources at the end")
    args = parser.parse_args()
    check_importable()
    for tool in ("ffmpeg", "ffprobe", "sync"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH")
    quick = args.quick
    defaults = {
        "repeat": 2 if quick else 3, "repeat_long": 1 if quick else 2,
        "single_seconds": 20.0 if quick else 60.0, "single_size": (1280, 720) if quick else (1920, 1080),
        "multi_seconds": 10.0 if quick else 15.0, "multi_size": (1280, 720),
        "long_minutes": 2.0 if quick else 10.0, "long_size": (640, 360) if quick else (960, 540),
        "cuts": 30 if quick else 100,
    }  # fmt: skip
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.repeat_short is None:
        args.repeat_short = 3 if quick else 4
    args.rerun_repeat = 3 if quick else 5
    only = {int(x) for x in args.only.split(",") if x.strip()}

    scratch = args.dir.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    libs = Libraries(scratch / f"process-{os.getpid()}")
    libs.root.mkdir(parents=True)
    started = time.perf_counter()
    print(f"python: {sys.executable}; medialib: {' '.join(medialib_argv())}; cores: {os.cpu_count()}")
    print(f"medialib commit: {code_version()}")
    where = run([sys.executable, "-c", "import medialib; print(medialib.__file__)"]).check().stdout.decode().strip()
    print(f"medialib imported from: {Path(where).parent}")
    args.startup = startup_seconds()
    print(f"start-up `python -c 'import medialib.cli'`: {args.startup:.3f} s (median of 5)")
    results: list[tuple[str, bool]] = []
    notes: list[str] = []
    try:
        if 1 in only:
            results.append(("1 one source", measure_single(args, libs, scratch)))
        cases = {c.strip() for c in args.cases.split(",")}
        if 2 in only and "long" in cases:
            ok, note = measure_multi(args, libs, scratch, "long", Spec(args.multi_seconds, *args.multi_size),
                                     args.repeat_long)  # fmt: skip
            results.append(("2 four long sources", ok))
            notes.append(note)
        if 2 in only and "short" in cases:
            ok, note = measure_multi(args, libs, scratch, "short", Spec(3.0, 640, 360), args.repeat_short)
            results.append(("2 four short clips", ok))
            notes.append(note)
        if 3 in only:
            results.append(("3 posters + storyboard share", measure_share(args, libs, scratch)))
        if 4 in only:
            results.append(("4 rerun, nothing changed", measure_rerun(args, libs, scratch)))
    finally:
        shutil.rmtree(libs.root, ignore_errors=True)
        for leftover in ("baseline", "baseline-long", "baseline-short", "two-proxies", "share-direct"):
            shutil.rmtree(scratch / leftover, ignore_errors=True)
        if args.clean:
            for path in scratch.glob("src-*.mp4"):
                path.unlink()
            for path in scratch.glob("tiny-64x64-*"):
                shutil.rmtree(path, ignore_errors=True)

    print(f"\nsummary ({time.perf_counter() - started:.0f} s in all):")
    for name, ok in results:
        print(f"  target {name}: {verdict(ok)}")
    for note in notes:
        print(f"  {note}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
