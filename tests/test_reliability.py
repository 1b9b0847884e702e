"""Reliability of `cut add`: SIGKILL at any point, and concurrent writers.

Every `cut add` that is killed or raced runs as the real console program in
its own process (subprocess.Popen) and is killed with SIGKILL; the library is
then checked with real reads: the catalogue rows and audit log, the bytes
under assets/originals/ (re-hashed), assets/tmp/, and `medialib verify`.
Re-runs to completion and `verify` go through the CLI's main() in-process.

The invariant after any kill: each cut row has its original, complete
(recorded size and sha256); every file under a final name in
assets/originals/ is complete (its sha256 is its name); a cut row exists
exactly when its audit event does. After a re-run to completion nothing is
left in assets/tmp/ and `medialib verify` passes.

The source is a large rawvideo Matroska (about 86 MB) so that hashing and
copying take a measurable share of a run. Its title tag is rewritten in place
(same length) to give each run distinct content without copying it again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import medialib_cmd
from medialib.catalog.films import get_film
from medialib.library import Library
from medialib.media.ffmpeg import FFmpeg
from medialib.storage.local import content_key

pytestmark = pytest.mark.slow  # kill loops on large files; still run by default

SLUG = "hope-street"
TITLE_TAG = "medialib-reliability-"
TITLE_WIDTH = len(TITLE_TAG) + 10
_variants = itertools.count(1)
ORIGINAL_KEY = re.compile(r"^originals/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,5}$")


# --- the large source ---------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while data := fh.read(8 << 20):
            digest.update(data)
    return digest.hexdigest()


@dataclass
class BigClip:
    """A large playable Matroska whose title can be rewritten in place."""

    path: Path
    title_offset: int
    sha256: str = ""

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def vary(self) -> str:
        """Give the file new, unique content (same size); returns its sha256."""
        tag = f"{TITLE_TAG}{next(_variants):010d}".encode()
        assert len(tag) == TITLE_WIDTH
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, tag, self.title_offset)
        finally:
            os.close(fd)
        self.sha256 = sha256_of(self.path)
        return self.sha256


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("big")
    yield d
    shutil.rmtree(d, ignore_errors=True)  # hundreds of MB: do not keep them around


def _make_big(ff: FFmpeg, path: Path) -> BigClip:
    placeholder = TITLE_TAG + "0" * 10
    ff.run(
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", "10",
         "-c:v", "rawvideo", "-pix_fmt", "yuv420p",
         "-metadata", f"title={placeholder}", "-write_crc32", "0", str(path)],
        what="big clip", timeout=120,
    )  # fmt: skip
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    offset = head.find(placeholder.encode())
    assert offset > 0 and head.count(placeholder.encode()) == 1, "title tag not found once in the Matroska header"
    return BigClip(path, offset)


@pytest.fixture(scope="module")
def big(big_dir: Path, ff: FFmpeg) -> BigClip:
    clip = _make_big(ff, big_dir / "big.mkv")
    clip.vary()
    return clip


@pytest.fixture(scope="module")
def big2(big_dir: Path, big: BigClip) -> BigClip:
    """A second large clip: a copy of the first, with a different title."""
    path = big_dir / "big2.mkv"
    shutil.copyfile(big.path, path)
    clip = BigClip(path, big.title_offset)
    clip.vary()
    return clip


@pytest.fixture
def library(lib_dir: Path, cli) -> Iterator[Path]:  # noqa: ANN001
    """A library (SQLite or PostgreSQL) with film SLUG and no cuts; its
    originals are removed afterwards (they are large)."""
    r = cli("film", "add", SLUG, "--title", "Hope Street")
    assert r.code == 0, r.err
    yield lib_dir
    shutil.rmtree(lib_dir / "assets", ignore_errors=True)


# --- processes ------------------------------------------------------------------


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    """A test that fails half-way must not leave a writer running."""
    yield
    while _started:
        kill(_started.pop())


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}


def start_add(lib_dir: Path, source: Path, *extra: str) -> subprocess.Popen[str]:
    """Start `medialib cut add SLUG SOURCE --json` in its own process."""
    proc = subprocess.Popen(
        [*medialib_cmd(), "--config", str(lib_dir / "config.toml"), "cut", "add", SLUG, str(source), "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=_env(),
    )  # fmt: skip
    _started.append(proc)
    return proc


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for (and reap) the process: a reaped pid is a dead writer to the sweeper."""
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def kill(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """SIGKILL the process (if it is still running) and reap it."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return finish(proc)


def wait_until(proc: subprocess.Popen[str], condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` every millisecond while ``proc`` runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None and not condition():
            code, out, err = finish(proc)
            pytest.fail(f"cut add ended (exit {code}) before {what}\nstdout: {out}\nstderr: {err}")
        if time.monotonic() > deadline:
            kill(proc)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def has_child(pid: int) -> bool:
    """Whether the process has a child process (ffprobe or ffmpeg) running."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                if fh.read().split():
                    return True
        except FileNotFoundError:
            continue
    return False


def parts(lib_dir: Path) -> list[Path]:
    tmp = lib_dir / "assets" / "tmp"
    return sorted(tmp.glob("*.part")) if tmp.is_dir() else []


def originals(lib_dir: Path) -> dict[str, Path]:
    """Every file under assets/originals/, by storage key."""
    base = lib_dir / "assets" / "originals"
    if not base.is_dir():
        return {}
    return {p.relative_to(lib_dir / "assets").as_posix(): p for p in sorted(base.rglob("*")) if p.is_file()}


@contextmanager
def write_lock_held(lib_dir: Path) -> Iterator[None]:
    """Hold the catalogue write lock that `cut add` needs to record a cut: on
    SQLite the database write lock (BEGIN IMMEDIATE), on PostgreSQL the film
    row (SELECT ... FOR UPDATE). Files are stored first, so a writer reaches
    the point between "file renamed into place" and "row committed" and waits."""
    with Library.open(lib_dir / "config.toml", env={}) as lib, lib.transaction() as s:
        get_film(s, SLUG, for_update=True)
        yield


# --- the invariants ---------------------------------------------------------------

_hashes: dict[tuple[str, int, int, int], str] = {}


def _stored_sha(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = sha256_of(path)
    return _hashes[key]


def check_library(lib_dir: Path) -> list[dict]:
    """Assert the library is consistent; return the film's cuts.

    - every file under assets/originals/ is complete: a well-formed key whose
      name is the sha256 of its bytes, read-only;
    - every cut row has its file, with the recorded size and sha256;
    - cuts are numbered 1..n, with distinct contents;
    - there is one `cut.add` audit event per cut, and none for a cut not there.
    """
    files = originals(lib_dir)
    for key, path in files.items():
        assert ORIGINAL_KEY.match(key), f"unexpected file under originals: {key}"
        sha = _stored_sha(path)
        ext = path.suffix.lstrip(".")
        assert key == content_key("originals", sha, ext), f"{key}: content does not match its name (sha256 {sha})"
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, f"{key}: an original is writable"

    with Library.open(lib_dir / "config.toml", env={}) as lib:
        cuts = lib.cuts(SLUG)
        events = [e for e in lib.audit(f"cut:{SLUG}#") if e["action"] == "cut.add"]

    for cut in cuts:
        key = cut["storage_key"]
        assert key in files, f"cut {cut['seq']} has no file: {key} is missing"
        assert files[key].stat().st_size == cut["size"], f"cut {cut['seq']}: size differs from the catalogue"
        assert _stored_sha(files[key]) == cut["sha256"], f"cut {cut['seq']}: sha256 differs from the catalogue"
    assert [c["seq"] for c in cuts] == list(range(1, len(cuts) + 1))
    assert len({c["sha256"] for c in cuts}) == len(cuts)
    assert sorted(e["subject"] for e in events) == sorted(f"cut:{SLUG}#{c['seq']}" for c in cuts)
    assert {e["details"]["sha256"] for e in events} == {c["sha256"] for c in cuts}
    return cuts


def rerun_and_verify(lib_dir: Path, source: BigClip, cli, *, already_there: bool) -> dict:  # noqa: ANN001
    """Run `cut add` again to completion, then `medialib verify`; both must pass.

    (In-process, through the CLI's main(): only the killed runs need their
    own process, and this saves two interpreter start-ups per kill.)"""
    r = cli("cut", "add", SLUG, str(source.path), "--json")
    assert r.code == 0, f"re-run of cut add failed: {r.err}"
    result = r.json()
    assert result["sha256"] == source.sha256
    assert result["size"] == source.size
    assert result["duplicate"] is already_there
    assert parts(lib_dir) == [], "temporary files left in assets/tmp after a successful cut add"

    v = cli("verify", "--json")
    assert v.code == 0, f"verify failed after the re-run: {v.out}{v.err}"
    report = v.json()
    assert report["ok"] and not report["untracked"] and not report["missing"] and not report["changed"]
    cuts = check_library(lib_dir)
    assert cuts[-1]["sha256"] == source.sha256 and cuts[-1]["seq"] == result["seq"]
    return result


def _rows(cuts: list[dict]) -> list[dict]:
    return [{k: v for k, v in c.items() if k != "current"} for c in cuts]  # which is current moves on


def after_kill(lib_dir: Path, before: list[dict], source: BigClip) -> bool:
    """Check a killed `cut add` left a complete cut or nothing; return which."""
    cuts = check_library(lib_dir)
    if len(cuts) == len(before):
        assert _rows(cuts) == _rows(before)
        added = False
    else:
        assert _rows(cuts[:-1]) == _rows(before) and len(cuts) == len(before) + 1
        assert cuts[-1]["sha256"] == source.sha256 and cuts[-1]["size"] == source.size
        added = True
    # Nothing stored that the catalogue lacks, except (at most) the complete
    # original of this very upload, renamed into place before the commit.
    known = {c["storage_key"] for c in cuts}
    orphans = set(originals(lib_dir)) - known
    assert orphans <= {content_key("originals", source.sha256, "mkv")}
    return added


# --- SIGKILL ----------------------------------------------------------------------


# Start-up (imports) takes about half a run, so the later moments are denser.
KILL_FRACTIONS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15, 1.4)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: the phase test below
def test_sigkill_at_a_spread_of_moments_leaves_a_complete_cut_or_nothing(
    library: Path, big: BigClip, cli  # noqa: ANN001
) -> None:
    """Kill `cut add` at fractions of an uninterrupted run's duration: from
    start-up, through probing and hashing+copying, to after the commit."""
    elapsed = []
    for seq in (1, 2):  # two uninterrupted runs set the time scale
        big.vary()
        t0 = time.monotonic()
        code, out, err = finish(start_add(library, big.path))
        elapsed.append(time.monotonic() - t0)
        assert code == 0, err
        assert json.loads(out)["seq"] == seq
    run_time = sum(elapsed) / len(elapsed)
    cuts = check_library(library)

    outcomes = []
    for fraction in KILL_FRACTIONS:
        big.vary()
        proc = start_add(library, big.path)
        time.sleep(fraction * run_time)  # where to strike, not a measurement
        code, _out, err = kill(proc)
        assert code in (0, -signal.SIGKILL), f"cut add failed on its own: {err}"
        left = [p.name for p in parts(library)]
        added = after_kill(library, cuts, big)
        if code == 0:
            assert added, "cut add exited 0 but its cut is not in the catalogue"
        orphan = not added and bool(originals(library).keys() - {c["storage_key"] for c in cuts})
        outcomes.append((fraction, "finished" if code == 0 else "killed",
                         "cut" if added else "orphan file" if orphan else "nothing", len(left)))  # fmt: skip
        rerun_and_verify(library, big, cli, already_there=added)
        cuts = check_library(library)
    assert len(cuts) == 2 + len(KILL_FRACTIONS)
    print(f"uninterrupted run {run_time:.2f} s; kills (fraction, exit, left behind, .part files): {outcomes}")


PHASES = ("probing", "copying", "renamed", "committed")


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_in_each_phase_leaves_a_complete_cut_or_nothing(
    library: Path, big: BigClip, cli, phase: str  # noqa: ANN001
) -> None:
    """Kill `cut add` at a precise point, found by watching the process:

    probing    while ffprobe/ffmpeg (its child) runs, the copy already going on
               beside it: at most a temporary file in assets/tmp, nothing else;
    copying    when a quarter of the temporary file is written: it is left in
               assets/tmp only, never under a final name;
    renamed    the original is in place but the row is not committed (the
               test holds the catalogue lock): a complete orphan, no row;
    committed  as soon as the row is visible: a complete cut.
    """
    sha = big.vary()
    final = library / "assets" / content_key("originals", sha, "mkv")
    quarter = big.size // 4

    def part_quarter_written() -> bool:
        return any(p.stat().st_size >= quarter for p in parts(library) if p.exists())

    reader = Library.open(library / "config.toml", env={})

    def row_visible() -> bool:
        return bool(reader.cuts(SLUG))

    if phase == "renamed":
        with write_lock_held(library):
            proc = start_add(library, big.path)
            wait_until(proc, final.exists, "the original was renamed into place")
            assert proc.poll() is None
            code, _out, err = kill(proc)
    else:
        proc = start_add(library, big.path)
        if phase == "probing":
            wait_until(proc, lambda: has_child(proc.pid), "ffprobe started")
        elif phase == "copying":
            wait_until(proc, part_quarter_written, "a quarter of the file was copied")
        else:
            wait_until(proc, row_visible, "the cut was committed")
        code, _out, err = kill(proc)
    reader.close()
    assert code in (0, -signal.SIGKILL), err

    left = parts(library)
    added = after_kill(library, [], big)
    stored = originals(library)
    if phase == "probing":
        assert code == -signal.SIGKILL
        assert not added and stored == {}
        assert all(p.name.startswith(f"{proc.pid}-") and p.stat().st_size < big.size for p in left)
    elif phase == "copying":
        assert code == -signal.SIGKILL
        assert not added and stored == {}
        assert len(left) == 1 and left[0].name.startswith(f"{proc.pid}-")
        assert quarter <= left[0].stat().st_size < big.size  # the incomplete copy is only in tmp/
    elif phase == "renamed":
        assert code == -signal.SIGKILL
        assert not added
        assert list(stored) == [content_key("originals", sha, "mkv")]  # complete (checked by after_kill)
        # verify sees an untracked original, but nothing missing or changed
        report = cli("verify", "--json").json()
        assert report["missing"] == [] and report["changed"] == []
        assert set(report["untracked"]) <= set(stored)
    else:
        assert added and list(stored) == [content_key("originals", sha, "mkv")]

    result = rerun_and_verify(library, big, cli, already_there=added)
    assert result["seq"] == 1
    assert list(originals(library)) == [content_key("originals", sha, "mkv")]


# --- concurrency -------------------------------------------------------------------


@pytest.mark.parametrize("contended", [False, True], ids=["free", "lock-contended"])
def test_two_cut_adds_of_different_files_at_once_both_succeed(
    library: Path, big: BigClip, big2: BigClip, cli, contended: bool  # noqa: ANN001
) -> None:
    """Two processes add two different files to the same film at once.

    lock-contended: the test holds the catalogue lock until both have stored
    their files, so both are waiting for it when it is released."""
    shas = {big.vary(), big2.vary()}
    finals = [library / "assets" / content_key("originals", s, "mkv") for s in shas]
    if contended:
        with write_lock_held(library):
            procs = [start_add(library, big.path), start_add(library, big2.path)]
            for proc in procs:
                wait_until(proc, lambda: all(f.exists() for f in finals) and not parts(library), "both files stored")
            assert all(p.poll() is None for p in procs), "both writers should be waiting for the lock"
    else:
        procs = [start_add(library, big.path), start_add(library, big2.path)]
    results = [finish(p) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
    data = [json.loads(out) for _code, out, _err in results]
    assert sorted(d["seq"] for d in data) == [1, 2]
    assert [d["duplicate"] for d in data] == [False, False]
    assert {d["sha256"] for d in data} == shas

    cuts = check_library(library)
    assert [c["seq"] for c in cuts] == [1, 2]
    assert {c["sha256"] for c in cuts} == shas
    assert set(originals(library)) == {c["storage_key"] for c in cuts}
    assert parts(library) == []
    v = cli("verify")
    assert v.code == 0, v.out + v.err


@pytest.mark.parametrize("contended", [False, True], ids=["free", "lock-contended"])
def test_two_cut_adds_of_the_same_file_at_once_store_and_record_it_once(
    library: Path, big: BigClip, cli, contended: bool  # noqa: ANN001
) -> None:
    """Two processes add the same file at once: both succeed, one reports a
    duplicate, there is one cut and one stored file."""
    sha = big.vary()
    key = content_key("originals", sha, "mkv")
    if contended:
        seen: set[str] = set()

        def both_stored() -> bool:
            # Both writers have had a temporary file, and neither has one any more.
            now = {p.name.split("-")[0] for p in parts(library)}
            seen.update(now)
            return (library / "assets" / key).exists() and len(seen) == 2 and not now

        with write_lock_held(library):
            procs = [start_add(library, big.path), start_add(library, big.path)]
            for proc in procs:
                wait_until(proc, both_stored, "both writers stored the file")
            assert seen == {str(p.pid) for p in procs}
            assert all(p.poll() is None for p in procs), "both writers should be waiting for the lock"
    else:
        procs = [start_add(library, big.path), start_add(library, big.path)]
    results = [finish(p) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
    data = [json.loads(out) for _code, out, _err in results]
    assert sorted(d["duplicate"] for d in data) == [False, True]
    assert [d["seq"] for d in data] == [1, 1]
    assert [d["sha256"] for d in data] == [sha, sha]

    cuts = check_library(library)
    assert len(cuts) == 1 and cuts[0]["sha256"] == sha
    assert list(originals(library)) == [key]
    assert parts(library) == []
    v = cli("verify")
    assert v.code == 0, v.out + v.err
