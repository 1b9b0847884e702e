"""One machine's cache of originals fetched from an S3 asset store (``storage.cache_mib``).

Every step of a cut (analysis, proxies, poster, storyboard) needs the original; on an
S3 store each would fetch it again — four times the film's size per cut, which is what
fills the link to the store first when films are long. Originals are content-addressed
and never change, so a fetched copy whose bytes hash to its name stays good: the steps
that run on the same machine share one.

Layout, under ``<scratch>/originals-cache/``:

- ``<sha256>.<ext>`` — a verified copy (read-only), its mtime the last time it was used;
- ``<sha256>.<ext>.lock`` — taken (``flock``) while that name is looked up or fetched,
  so the worker processes and threads of one machine fetch each original once;
- ``<pid>-<random>.part`` — a fetch in progress, swept once its process is gone.

A caller gets a hard link to the copy in its own work folder, so a copy evicted while
ffmpeg reads it stays readable until the caller's folder is removed. Eviction is least
recently used first, whenever a new copy would take the cache past its limit; a file
larger than the whole limit is not cached (the caller keeps its fetched file).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from medialib.storage.local import sweep_dead_writers

FOLDER = "originals-cache"


class OriginalsCache:
    """Verified copies of originals under ``folder``, at most ``limit`` bytes of them."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit

    def get(self, name: str, into: Path, fetch: Callable[[Path], None]) -> Path:
        """``into/name``: a hard link to the cached copy of ``name``, fetched first with
        ``fetch(path)`` when it is not cached (``fetch`` writes the file and raises if its
        bytes are not the original's: only verified bytes are kept)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        cached, target = self.folder / name, into / name
        with open(self.folder / f"{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            if cached.is_file():
                os.utime(cached)  # most recently used
                _link_or_copy(cached, target)
                return target
            part = self.folder / f"{os.getpid()}-{os.urandom(8).hex()}.part"
            try:
                fetch(part)
                size = part.stat().st_size
                if size > self.limit:
                    os.replace(part, target)  # bigger than the whole cache: this caller's alone
                    return target
                self._make_room(size)
                part.chmod(0o400)
                os.replace(part, cached)
            finally:
                part.unlink(missing_ok=True)
            _link_or_copy(cached, target)
            return target

    def _make_room(self, size: int) -> None:
        """Evict the least recently used copies until ``size`` more bytes fit."""
        copies = []
        for entry in self.folder.iterdir():
            if entry.suffix in (".lock", ".part") or not entry.is_file():
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            copies.append((st.st_mtime, st.st_size, entry))
        used = sum(c[1] for c in copies)
        for _mtime, bytes_, entry in sorted(copies):
            if used + size <= self.limit:
                break
            entry.unlink(missing_ok=True)
            (self.folder / f"{entry.name}.lock").unlink(missing_ok=True)
            used -= bytes_

    def sweep(self) -> list[str]:
        """Remove the partial fetches of processes that are gone."""
        return sweep_dead_writers(self.folder)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)
