"""One machine's cache of originals (medialib.storage.cache), on the local disk.

The S3 store's use of it (one GET per original, the sha256 check) is in
test_store_s3.py; here the cache's own rules: fetched once, even by racing
threads; least recently used evicted first; a file bigger than the cache not
kept; a failed fetch keeps nothing; a copy evicted while in use stays readable.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from medialib.storage.cache import OriginalsCache


class Fetches:
    """A fetch function that writes ``size`` bytes named after the file, and counts its calls."""

    def __init__(self, size: int = 100, pause: float = 0.0) -> None:
        self.size, self.pause, self.calls = size, pause, []

    def of(self, name: str):  # noqa: ANN201 - Callable[[Path], None]
        def fetch(part: Path) -> None:
            self.calls.append(name)
            time.sleep(self.pause)
            part.write_bytes(name.encode().ljust(self.size, b"."))

        return fetch


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def new(folder: Path) -> Path:
    folder.mkdir()
    return folder


def usage(cache: OriginalsCache) -> tuple[int, int]:
    """(number of cached copies, their bytes)."""
    sizes = [p.stat().st_size for p in cache.folder.iterdir() if p.suffix not in (".lock", ".part")]
    return len(sizes), sum(sizes)


def cached_names(cache: OriginalsCache) -> list[str]:
    return sorted(p.name for p in cache.folder.iterdir() if p.suffix not in (".lock", ".part"))


def test_a_second_use_links_the_copy_instead_of_fetching(tmp_path: Path, work: Path) -> None:
    cache, fetches = OriginalsCache(tmp_path / "cache", limit=1000), Fetches()
    first = cache.get("a.mp4", new(work / "1"), fetches.of("a.mp4"))
    second = cache.get("a.mp4", new(work / "2"), fetches.of("a.mp4"))
    assert fetches.calls == ["a.mp4"]
    assert first.read_bytes() == second.read_bytes() == b"a.mp4".ljust(100, b".")
    assert first.stat().st_ino == second.stat().st_ino == (cache.folder / "a.mp4").stat().st_ino  # hard links
    assert (cache.folder / "a.mp4").stat().st_mode & 0o777 == 0o400
    assert usage(cache) == (1, 100)


def test_the_least_recently_used_copy_is_evicted_first(tmp_path: Path, work: Path) -> None:
    cache, fetches = OriginalsCache(tmp_path / "cache", limit=250), Fetches()
    cache.get("a.mp4", new(work / "w"), fetches.of("a.mp4"))
    cache.get("b.mp4", new(work / "x"), fetches.of("b.mp4"))
    os.utime(cache.folder / "a.mp4", (time.time() - 120, time.time() - 120))  # a: fetched longest ago
    os.utime(cache.folder / "b.mp4", (time.time() - 60, time.time() - 60))
    cache.get("a.mp4", new(work / "y"), fetches.of("a.mp4"))  # a used again: now b is the oldest
    cache.get("c.mp4", new(work / "z"), fetches.of("c.mp4"))  # 300 > 250: one must go
    assert cached_names(cache) == ["a.mp4", "c.mp4"] and fetches.calls == ["a.mp4", "b.mp4", "c.mp4"]
    assert not (cache.folder / "b.mp4.lock").exists()
    assert usage(cache) == (2, 200)
    assert (work / "x" / "b.mp4").read_bytes().startswith(b"b.mp4")  # a caller's link outlives the eviction


def test_a_file_bigger_than_the_cache_is_served_but_not_kept(tmp_path: Path, work: Path) -> None:
    cache = OriginalsCache(tmp_path / "cache", limit=50)
    path = cache.get("big.mp4", work, Fetches(size=80).of("big.mp4"))
    assert path == work / "big.mp4" and path.stat().st_size == 80
    assert cached_names(cache) == [] and not list(cache.folder.glob("*.part"))


def test_a_failed_fetch_keeps_nothing(tmp_path: Path, work: Path) -> None:
    cache = OriginalsCache(tmp_path / "cache", limit=1000)

    def fetch_fails_half_way(part: Path) -> None:
        part.write_bytes(b"half")
        raise RuntimeError("the server went away")

    with pytest.raises(RuntimeError, match="went away"):
        cache.get("a.mp4", work, fetch_fails_half_way)
    assert cached_names(cache) == [] and not list(cache.folder.glob("*.part")) and list(work.iterdir()) == []
    fetches = Fetches()
    cache.get("a.mp4", work, fetches.of("a.mp4"))  # the next use fetches it properly
    assert fetches.calls == ["a.mp4"] and cached_names(cache) == ["a.mp4"]


def test_racing_users_of_one_original_fetch_it_once(tmp_path: Path, work: Path) -> None:
    """The steps of a cut start together (analysis, poster, storyboard): the lock makes
    the later ones wait for the first fetch and link its copy."""
    cache, fetches = OriginalsCache(tmp_path / "cache", limit=1000), Fetches(pause=0.3)
    got: list[bytes] = []

    def use(i: int) -> None:
        got.append(cache.get("a.mp4", new(work / str(i)), fetches.of("a.mp4")).read_bytes())

    threads = [threading.Thread(target=use, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetches.calls == ["a.mp4"] and len(got) == 4 and len(set(got)) == 1


def test_partial_fetches_of_dead_processes_are_swept(tmp_path: Path) -> None:
    cache = OriginalsCache(tmp_path / "cache", limit=1000)
    cache.folder.mkdir()
    dead = cache.folder / f"{2**22 + 12345}-{'ab' * 8}.part"  # above pid_max's default: no such process
    dead.write_bytes(b"half")
    mine = cache.folder / f"{os.getpid()}-{'cd' * 8}.part"
    mine.write_bytes(b"in progress")
    assert cache.sweep() == [dead.name]
    assert mine.exists() and not dead.exists()
