"""Benchmark: one machine's cache of originals (`storage.cache_mib`) on the S3 asset store.

With the queue, each of a cut's four steps (analysis, proxies, poster, storyboard) is a
job of its own, and on the S3 store each job fetches the original. For long films the
link to the store is what stops the workers scaling (bench/README.md, "Throughput for
N machines"). With the cache a machine fetches each original once and its steps share
the checked copy.

Measured in one run, alternately, from nothing each round (derivatives, queue rows
and the machine's cache removed): PostgreSQL + SeaweedFS `weed mini` on loopback +
2 `medialib worker` processes (concurrency 1 each; one machine's scratch folder),
without the cache (the baseline) and with it. Printed per round: the wall time from
`medialib process` to the last job done, the GETs of originals and the bytes they
moved (counted by a forwarding proxy in front of the store, used in both rounds).

Targets: bytes of originals fetched per cut with the cache = 1x the original (4x
without: ratio <= 0.30); wall time with the cache <= 1.05x without (the sha256 check
of each fetched copy and the lock cost little).

    .venv/bin/python bench/s3_cache.py [--cuts 8] [--seconds 20] [--size 640x360] [--repeat 3] [--dir DIR]

PostgreSQL is $MEDIALIB_TEST_POSTGRES (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
the run uses a schema of its own and a SeaweedFS server of its own, removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # seaweed.py: shared with the tests

from jobs import (ENV, Timed, add_cuts, library, pg_schema, run, sample_clips, start_workers,  # noqa: E402
                  stop_workers, unbuild, wait_built, wait_registered)  # fmt: skip
from _common import code_version  # noqa: E402
from seaweed import CountingProxy, SeaweedFS, store_settings  # noqa: E402

CACHE_MIB = 4096


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuts", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of without, then with the cache (medians compared)")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="medialib-bench-cache-", dir=args.dir))
    workers: list = []
    with pg_schema() as pg_url:
        server = SeaweedFS(work).start()
        counting = CountingProxy(server.endpoint)
        ENV.update(server.env)  # the workers and the CLI get the server's credentials
        try:
            return _measure(args, work, pg_url, server, counting, workers)
        finally:
            for w in workers:
                w.kill()
            counting.close()
            server.stop()
            shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, work: Path, pg_url: str, server: SeaweedFS, counting: CountingProxy,
             workers: list) -> int:  # fmt: skip
    bucket = server.make_bucket("bench-assets")
    clips = sample_clips(work, args.cuts, args.seconds, args.size)
    scratch = work / "scratch"
    configs = {}
    for cache in (0, CACHE_MIB):
        settings = ('[jobs]\nbackend = "procrastinate"\n'
                    + store_settings(counting, bucket, scratch=str(scratch), cache_mib=cache))  # fmt: skip
        configs[cache] = library(work / f"cache-{cache}", pg_url, settings)
    add_cuts(configs[0], clips)
    sizes = {f"{hashlib.sha256(c.read_bytes()).hexdigest()}.mp4": c.stat().st_size for c in clips}
    original_mb = sum(sizes.values()) / len(sizes) / 1e6
    engine = create_engine(pg_url)
    print(f"medialib {code_version()}; {args.cuts} cuts of {args.seconds:g} s {args.size} ({original_mb:.2f} MB an original); "
          f"{os.cpu_count()} cores; 2 workers x 1 on one scratch folder; SeaweedFS on loopback", flush=True)

    results: dict[int, list[tuple[float, int, int]]] = {0: [], CACHE_MIB: []}
    for round_ in range(1, args.repeat + 1):
        for cache in (0, CACHE_MIB):
            unbuild(configs[cache], engine)
            client = server.client()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="library/derived/"):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
            shutil.rmtree(scratch, ignore_errors=True)
            workers[:] = start_workers(configs[cache], work, 2, 1)
            wait_registered(engine, 2, work)
            counting.gets.clear()
            with Timed() as t:
                run(configs[cache], "process")
                jobs, last = wait_built(engine, work)
                t.until(last)
            stop_workers(workers)
            workers.clear()
            gets = len(counting.gets)
            moved = sum(sizes[name] for name in counting.gets)
            results[cache].append((t.wall, gets, moved))
            label = f"cache {cache} MiB" if cache else "no cache"
            print(f"round {round_}, {label}: {t.wall:.2f} s for {jobs} jobs (machine CPU {t.cpu:.1f} s); "
                  f"{gets / args.cuts:.2f} GETs of the original a cut, {moved / args.cuts / 1e6:.2f} MB a cut",
                  flush=True)  # fmt: skip
    base_wall = statistics.median(r[0] for r in results[0])
    cache_wall = statistics.median(r[0] for r in results[CACHE_MIB])
    base_bytes = statistics.median(r[2] for r in results[0])
    cache_bytes = statistics.median(r[2] for r in results[CACHE_MIB])
    bytes_ratio, wall_ratio = cache_bytes / base_bytes, cache_wall / base_wall
    ok = bytes_ratio <= 0.30 and wall_ratio <= 1.05
    print(f"medians: bytes of originals fetched {cache_bytes / 1e6:.1f} MB with the cache vs "
          f"{base_bytes / 1e6:.1f} MB without = {bytes_ratio:.3f}x (target <= 0.30x); wall {cache_wall:.2f} s vs "
          f"{base_wall:.2f} s = {wall_ratio:.3f}x (target <= 1.05x) {'PASS' if ok else 'FAIL'}", flush=True)
    engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
