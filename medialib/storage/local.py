"""A content-addressed folder of immutable files (the embedded default store).

Files are stored as ``<prefix>/ab/cd/<sha256>.<ext>``. A file reaches its
final name only complete: it is written under ``tmp/`` with a name holding
the writer's process id, fsynced, checked, and renamed atomically. Temporary
files left by a killed writer are removed by the next writer.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from medialib.errors import BadInput, IntegrityError

Progress = Callable[[int], None]

_KEY_RE = re.compile(r"^[a-z]+(/[0-9a-f]{2}){2}/[0-9a-f]{64}\.[a-z0-9]{1,5}$")
_TMP_RE = re.compile(r"^(\d+)-[0-9a-f]{16}\.part$")


def content_key(prefix: str, sha256: str, ext: str) -> str:
    """The storage key of a content-addressed file: ``prefix/ab/cd/<sha>.<ext>``."""
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


@dataclass(frozen=True)
class Stored:
    """The result of putting one file into the store."""

    key: str
    sha256: str
    size: int
    created: bool  # False when identical content was already stored


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_dirs(path: Path) -> None:
    """mkdir -p, fsyncing each parent whose entries changed, so a new folder
    survives a power cut along with the file renamed into it."""
    if path.is_dir():
        return
    _make_dirs(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


SYNC_EVERY = 256 << 20  # flush written data to disk as we go, not all at the end


class _VerifiedWriter:
    """Writes chunks at increasing offsets, reads each back and compares it.

    Dirty pages are flushed every SYNC_EVERY bytes so the final fsync is
    short and the kernel never throttles one huge burst of writes.
    """

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.offset = 0
        self.unsynced = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        if os.pread(self.fd, len(data), self.offset) != data:
            raise IntegrityError(f"storing {self.name}: bytes read back at offset {self.offset} differ from those written")
        self.offset += len(data)
        self.unsynced += len(data)
        if self.unsynced >= SYNC_EVERY:
            os.fdatasync(self.fd)
            self.unsynced = 0


QUEUE_CHUNKS = 4  # chunks buffered per consumer: bounds memory to about 10 chunks


def _consume(q: queue.Queue, fn: Callable[[bytes], None], errors: list[BaseException]) -> None:
    while (data := q.get()) is not None:
        if errors:
            continue  # drain so the reader never blocks
        try:
            fn(data)
        except BaseException as exc:  # re-raised on the calling thread
            errors.append(exc)


def hash_copy(src: int, writer: _VerifiedWriter, chunk_size: int, on_progress: Progress | None = None) -> tuple[str, int]:
    """Copy ``src`` (a file descriptor) through ``writer``, hashing the same bytes.

    One read pass: each chunk read is handed to a hashing thread and a
    writing thread, which run side by side (hashlib and os.write release the
    GIL) through small bounded queues, so a slow flush to disk does not stall
    hashing. Returns (sha256 hex, bytes copied).
    """
    digest = hashlib.sha256()
    errors: list[BaseException] = []
    queues = [queue.Queue(QUEUE_CHUNKS), queue.Queue(QUEUE_CHUNKS)]
    threads = [
        threading.Thread(target=_consume, args=(queues[0], digest.update, errors), name="ingest-hash"),
        threading.Thread(target=_consume, args=(queues[1], writer.write, errors), name="ingest-write"),
    ]
    for thread in threads:
        thread.start()
    total = 0
    try:
        while not errors and (data := os.read(src, chunk_size)):
            for q in queues:
                q.put(data)
            total += len(data)
            if on_progress is not None:
                on_progress(len(data))
    finally:
        for q in queues:
            q.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return digest.hexdigest(), total


class LocalStore:
    """Content-addressed files under ``root``."""

    def __init__(self, root: Path, chunk_size: int = 4 << 20) -> None:
        self.root = Path(root)
        self.chunk_size = chunk_size

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def path(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise BadInput(f"not a storage key: {key!r}")
        return self.root / key

    def sweep_temporary(self) -> list[Path]:
        """Remove temporary files whose writing process is gone."""
        removed = []
        if not self.tmp_dir.is_dir():
            return removed
        for entry in self.tmp_dir.iterdir():
            match = _TMP_RE.match(entry.name)
            if match and not _pid_alive(int(match.group(1))):
                entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed

    def put_file(
        self,
        source: Path,
        prefix: str,
        ext: str,
        *,
        on_progress: Progress | None = None,
        expect: os.stat_result | None = None,
    ) -> Stored:
        """Copy ``source`` into the store under its content hash.

        ``expect``: the source's stat when it was probed; if the file has
        changed since, BadInput is raised and nothing is stored.
        Raises IntegrityError if the written file does not check out.
        """
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_dir / f"{os.getpid()}-{os.urandom(8).hex()}.part"
        try:
            src = os.open(source, os.O_RDONLY)
        except OSError as exc:
            raise BadInput(f"reading {source}: {exc.strerror}") from None
        try:
            before = os.fstat(src)
            if expect is not None and _changed(expect, before):
                raise BadInput(f"reading {source}: the file changed while it was being added")
            dst = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                sha, size = hash_copy(src, _VerifiedWriter(dst, str(source)), self.chunk_size, on_progress)
                os.fsync(dst)
                written = os.fstat(dst).st_size
            finally:
                os.close(dst)
            if _changed(before, os.fstat(src)) or size != before.st_size:
                raise BadInput(f"reading {source}: the file changed while it was being added")
            if written != size:
                raise IntegrityError(f"storing {source}: wrote {written} bytes of {size}")
            key = content_key(prefix, sha, ext)
            final = self.root / key
            if final.exists():
                if final.stat().st_size != size:
                    raise IntegrityError(f"{final}: stored file has the wrong size; run `medialib verify`")
                return Stored(key, sha, size, created=False)
            _make_dirs(final.parent)
            os.chmod(tmp, 0o444)  # originals are never modified
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return Stored(key, sha, size, created=True)
        finally:
            os.close(src)
            tmp.unlink(missing_ok=True)

    def hash_file(self, key: str, on_progress: Progress | None = None) -> tuple[str, int]:
        """Re-read a stored file and return (sha256, size)."""
        return _hash_path(self.path(key), self.chunk_size, on_progress)

    def iter_keys(self, prefix: str) -> Iterator[str]:
        """Every file stored under ``prefix`` (also stray ones, for fixity checks)."""
        base = self.root / prefix
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                yield Path(dirpath, name).relative_to(self.root).as_posix()

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def _hash_path(path: Path, chunk_size: int, on_progress: Progress | None = None) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while data := fh.read(chunk_size):
            digest.update(data)
            total += len(data)
            if on_progress is not None:
                on_progress(len(data))
    return digest.hexdigest(), total


def _changed(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino) != (b.st_size, b.st_mtime_ns, b.st_ino)
