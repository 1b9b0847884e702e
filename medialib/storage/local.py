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
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from medialib.errors import BadInput, IntegrityError, ObjectMissing
from medialib.holders import pid_alive

Progress = Callable[[int], None]

_KEY_RE = re.compile(
    r"^(?:[a-z]+(?:/[0-9a-f]{2}){2}/[0-9a-f]{64}\.[a-z0-9]{1,5}"  # originals/ab/cd/<sha>.<ext>
    r"|private/consent/[0-9a-f]{64}\.(?:pdf|jpg|png)"  # signed consent forms
    r"|derived/[0-9a-f]{64}/[A-Za-z0-9][A-Za-z0-9_-]{0,59}-[0-9a-f]{12}(?:/[a-z0-9][a-z0-9._-]{0,99})?)$"
)
_TMP_RE = re.compile(r"^(\d+)-[0-9a-f]{16}\.(?:part|d)$")


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


WRITEBACK_EVERY = 64 << 20  # start writing to disk as we go, so the final fsync is short
BUFFERS = 4  # chunk buffers in flight: bounds memory to BUFFERS x chunk size


def _start_writeback_fn() -> Callable[[int, int, int], None]:
    """sync_file_range(SYNC_FILE_RANGE_WRITE) where Linux offers it: it asks the
    kernel to start writing a range to disk without waiting. Elsewhere a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
        fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    except (OSError, AttributeError):
        return lambda fd, offset, length: None
    return lambda fd, offset, length: fn(fd, offset, length, 2)


_start_writeback = _start_writeback_fn()


class _Chunk:
    """A reusable buffer shared by the hashing and the writing thread; it goes
    back to the free list when both are done with it."""

    __slots__ = ("buf", "view", "users", "lock")

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.users = 0
        self.lock = threading.Lock()


def hash_copy(src: int, dst: int, chunk_size: int, on_progress: Progress | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` (file descriptors), hashing the same bytes.

    One read pass into a few reusable buffers; each filled buffer is hashed on
    one thread and written on another (hashlib and os.write release the GIL),
    so hashing, writing and reading overlap. Writeback to disk starts as the
    data is written. Returns (sha256 hex, bytes copied).
    """
    digest = hashlib.sha256()
    free: queue.Queue[_Chunk] = queue.Queue()
    for _ in range(BUFFERS):
        free.put(_Chunk(chunk_size))
    errors: list[BaseException] = []

    def release(chunk: _Chunk) -> None:
        with chunk.lock:
            chunk.users -= 1
            last = chunk.users == 0
        if last:
            free.put(chunk)

    def hasher(q: queue.Queue) -> None:
        while (item := q.get()) is not None:
            chunk, n = item
            try:
                if not errors:
                    digest.update(chunk.view[:n])
            except BaseException as exc:  # re-raised on the calling thread
                errors.append(exc)
            release(chunk)

    def writer(q: queue.Queue) -> None:
        offset = flushed = 0
        while (item := q.get()) is not None:
            chunk, n = item
            try:
                if not errors:
                    view = chunk.view[:n]
                    while view:
                        view = view[os.write(dst, view):]
                    offset += n
                    if offset - flushed >= WRITEBACK_EVERY:
                        _start_writeback(dst, flushed, offset - flushed)
                        flushed = offset
            except BaseException as exc:
                errors.append(exc)
            release(chunk)

    queues: list[queue.Queue] = [queue.Queue(), queue.Queue()]
    threads = [
        threading.Thread(target=hasher, args=(queues[0],), name="ingest-hash"),
        threading.Thread(target=writer, args=(queues[1],), name="ingest-write"),
    ]
    for thread in threads:
        thread.start()
    total = 0
    try:
        while not errors:
            chunk = free.get()
            n = os.readv(src, [chunk.view])
            if n == 0:
                break
            chunk.users = 2
            for q in queues:
                q.put((chunk, n))
            total += n
            if on_progress is not None:
                on_progress(n)
    finally:
        for q in queues:
            q.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return digest.hexdigest(), total


class _NoKernelCopy(Exception):
    """copy_file_range is not available for these two files: copy in user space instead."""


def kernel_copy_hash(src: int, dst: int, chunk_size: int, on_progress: Progress | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` inside the kernel (copy_file_range) and hash what was written.

    A thread copies chunk after chunk, starting writeback as it goes; the
    calling thread reads each copied chunk back from ``dst`` (page cache) and
    hashes it, so the hash is of the stored bytes themselves, and copying and
    hashing overlap on two cores. ``dst`` must be open for reading and
    writing. Raises _NoKernelCopy, having copied nothing, where the kernel or
    the file systems do not offer copy_file_range. Returns (sha256 hex, size).
    """
    digest = hashlib.sha256()
    state = {"copied": 0, "done": False, "error": None, "stop": False}
    ready = threading.Condition()

    def copier() -> None:
        copied = flushed = 0
        try:
            while not state["stop"]:
                n = os.copy_file_range(src, dst, chunk_size)
                if n == 0:
                    break
                copied += n
                with ready:
                    state["copied"] = copied
                    ready.notify()
                if copied - flushed >= WRITEBACK_EVERY:
                    _start_writeback(dst, flushed, copied - flushed)
                    flushed = copied
        except BaseException as exc:  # handed to the hashing thread
            state["error"] = exc
        with ready:
            state["done"] = True
            ready.notify()

    thread = threading.Thread(target=copier, name="ingest-copy")
    thread.start()
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    hashed = 0
    try:
        while True:
            with ready:
                while state["copied"] <= hashed and not state["done"]:
                    ready.wait()
                upto, finished = state["copied"], state["done"]
            while hashed < upto:
                n = os.preadv(dst, [view[: min(chunk_size, upto - hashed)]], hashed)
                if n == 0:
                    raise IntegrityError("the copy is shorter than what was written")
                digest.update(view[:n])
                hashed += n
                if on_progress is not None:
                    on_progress(n)
            if finished and hashed >= state["copied"]:
                break
    except BaseException:
        state["stop"] = True  # e.g. on_progress raised Cancelled: the copier stops at its next chunk
        raise
    finally:
        thread.join()
    error = state["error"]
    if error is not None:
        import errno

        if hashed == 0 and isinstance(error, OSError) and error.errno in (
                errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF):  # fmt: skip
            raise _NoKernelCopy() from error
        raise error
    return digest.hexdigest(), hashed


def copy_and_hash(src: int, dst: int, chunk_size: int, on_progress: Progress | None = None) -> tuple[str, int]:
    """The fastest available copy that hashes exactly the bytes stored (see kernel_copy_hash)."""
    if hasattr(os, "copy_file_range"):
        try:
            return kernel_copy_hash(src, dst, chunk_size, on_progress)
        except _NoKernelCopy:
            os.lseek(src, 0, os.SEEK_SET)
            os.lseek(dst, 0, os.SEEK_SET)
            os.ftruncate(dst, 0)
    return hash_copy(src, dst, chunk_size, on_progress)


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

    def describe(self, key: str) -> str:
        return str(self.root / key)

    def sweep_temporary(self) -> list[str]:
        """Remove temporary files whose writing process is gone; returns their names."""
        return sweep_dead_writers(self.tmp_dir)

    def size(self, key: str) -> int | None:
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        """The stored file itself (nothing is copied). Raises ObjectMissing."""
        path = self.path(key)
        if not path.is_file():
            raise ObjectMissing(f"{path}: missing from the asset store (run `medialib verify`)")
        yield path

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{self.root / key}: missing from the asset store") from None

    def presigned_url(self, key: str, **_: object) -> str | None:
        return None

    def put_file(
        self,
        source: Path,
        prefix: str,
        ext: str,
        *,
        on_progress: Progress | None = None,
        expect: os.stat_result | None = None,
        mode: int = 0o444,
        flat: bool = False,
    ) -> Stored:
        """Copy ``source`` into the store under its content hash, as
        ``prefix/ab/cd/<sha>.<ext>`` (or ``prefix/<sha>.<ext>`` if ``flat``),
        with permissions ``mode`` (read-only by default: never modified).

        ``expect``: the source's stat when it was probed; if the file has
        changed since, BadInput is raised and nothing is stored.
        Raises IntegrityError if the written file does not check out.
        """
        return self.begin_put(source, on_progress=on_progress, expect=expect).finish(prefix, ext, mode=mode,
                                                                                      flat=flat)  # fmt: skip

    def begin_put(self, source: Path, *, on_progress: Progress | None = None,
                  expect: os.stat_result | None = None) -> "PendingPut":  # fmt: skip
        """Start copying ``source`` into a temporary file of the store, hashing it, on a
        thread of its own; :meth:`PendingPut.finish` names it by its hash once the caller
        knows the extension (ingest probes the upload meanwhile), :meth:`PendingPut.abort`
        throws it away. Raises BadInput at once if ``source`` cannot be opened."""
        return PendingPut(self, source, on_progress, expect)

    def hash_file(self, key: str, on_progress: Progress | None = None) -> tuple[str, int]:
        """Re-read a stored file and return (sha256, size)."""
        return _hash_path(self.path(key), self.chunk_size, on_progress)

    def put_private(self, source: Path, prefix: str, ext: str) -> Stored:
        """Store a private file (a consent form) as ``<prefix>/<sha256>.<ext>``,
        readable by the owner only (0600, in a 0700 folder)."""
        folder = self.root / prefix
        _make_dirs(folder)
        for part in (self.root / "private", folder):
            os.chmod(part, 0o700)
        return self.put_file(source, prefix, ext, mode=0o600, flat=True)


    def put_derived(self, path: Path, key: str, *, sha256: str | None = None) -> None:
        """Move a finished derivative file into place under ``key`` (atomic rename)."""
        final = self.path(key)
        _make_dirs(final.parent)
        os.replace(path, final)

    def remove_tree(self, key: str) -> None:
        """Remove a derivative folder (a superseded recipe's outputs)."""
        shutil.rmtree(self.path(key), ignore_errors=True)

    def sizes(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        folders = [(self.root / prefix, prefix.rstrip("/"))]
        while folders:
            folder, key = folders.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append((Path(entry.path), f"{key}/{entry.name}"))
                elif entry.is_file():  # a regular file, as size() counts them
                    found[f"{key}/{entry.name}"] = entry.stat().st_size
        return found

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


@contextmanager
def work_folder(parent: Path) -> Iterator[Path]:
    """A new folder ``<pid>-<random>.d`` under ``parent`` (made if need be), removed with
    everything in it when the block ends, and by :func:`sweep_dead_writers` if this
    process dies first."""
    folder = parent / f"{os.getpid()}-{os.urandom(8).hex()}.d"
    parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_dead_writers(folder: Path) -> list[str]:
    """Remove the temporary files and folders in ``folder`` whose writing process is gone."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TMP_RE.match(entry.name)
        if match and not pid_alive(int(match.group(1))):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


class Cancelled(Exception):
    """A PendingPut was aborted while it copied."""


class CancellableCopy:
    """What the stores' pending puts share: progress reports that stop the copy once cancelled."""

    def __init__(self, on_progress: Progress | None) -> None:
        self._cancel = threading.Event()
        self._user_progress = on_progress
        self._result: tuple[str, int] | None = None  # (sha256, size) once copied
        self._error: BaseException | None = None

    def _progress(self, n: int) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        if self._user_progress is not None:
            self._user_progress(n)

    def _wait(self) -> None:  # the store's own: join the copy and release the source
        raise NotImplementedError

    def _copied(self, prefix: str, ext: str, flat: bool) -> tuple[str, str, int]:
        """Wait for the copy; (the content key it belongs under, sha256, size), or the copy's error raised."""
        self._wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        sha, size = self._result
        return (f"{prefix}/{sha}.{ext}" if flat else content_key(prefix, sha, ext)), sha, size


class PendingPut(CancellableCopy):
    """A copy into the store that runs on its own thread (see LocalStore.begin_put)."""

    def __init__(self, store: LocalStore, source: Path, on_progress: Progress | None,
                 expect: os.stat_result | None) -> None:  # fmt: skip
        super().__init__(on_progress)
        self.store, self.source, self.expect = store, source, expect
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = store.tmp_dir / f"{os.getpid()}-{os.urandom(8).hex()}.part"
        try:
            self._src = os.open(source, os.O_RDONLY)
        except OSError as exc:
            raise BadInput(f"reading {source}: {exc.strerror}") from None
        self._thread = threading.Thread(target=self._copy, name="ingest", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            before = os.fstat(self._src)
            if self.expect is not None and _changed(self.expect, before):
                raise BadInput(f"reading {self.source}: the file changed while it was being added")
            dst = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                sha, size = copy_and_hash(self._src, dst, self.store.chunk_size, self._progress)
                os.fsync(dst)
                written = os.fstat(dst).st_size
            finally:
                os.close(dst)
            if _changed(before, os.fstat(self._src)) or size != before.st_size:
                raise BadInput(f"reading {self.source}: the file changed while it was being added")
            if written != size:
                raise IntegrityError(f"storing {self.source}: wrote {written} bytes of {size}")
            self._result = (sha, size)
        except BaseException as exc:  # handed to finish()
            self._error = exc

    def _wait(self) -> None:
        self._thread.join()
        os.close(self._src)

    def finish(self, prefix: str, ext: str, *, mode: int = 0o444, flat: bool = False) -> Stored:
        """Wait for the copy, then move it to ``prefix/ab/cd/<sha>.<ext>`` (see LocalStore.put_file)."""
        try:
            key, sha, size = self._copied(prefix, ext, flat)
            final = self.store.root / key
            if final.exists():
                if final.stat().st_size != size:
                    raise IntegrityError(f"{final}: stored file has the wrong size; run `medialib verify`")
                return Stored(key, sha, size, created=False)
            _make_dirs(final.parent)
            os.chmod(self.tmp, mode)
            os.replace(self.tmp, final)
            _fsync_dir(final.parent)
            return Stored(key, sha, size, created=True)
        finally:
            self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop copying (at the next chunk) and remove the temporary file."""
        self._cancel.set()
        try:
            self._wait()
        finally:
            self.tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size) of a file."""
    return _hash_path(path, 4 << 20)


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
