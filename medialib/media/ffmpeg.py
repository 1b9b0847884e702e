"""The one place medialib runs ffmpeg and ffprobe.

Uploaded media is untrusted input to a large C program, so every call made
here:

- reads files only through the ``file`` and ``pipe`` protocols
  (``-protocol_whitelist``) and only with the demuxers named in the
  ``ffmpeg.formats`` setting (``-format_whitelist``) — no playlists, no
  concat lists, nothing that can make ffmpeg open a second file;
- passes input paths as absolute ``file:`` URLs, so a name starting with
  ``-`` or holding a colon is never read as an option or a protocol;
- runs with a time limit (``ffmpeg.probe_timeout`` for probes and checks,
  ``ffmpeg.timeout`` plus 10 s per second of film for processing runs), and
  reports failure as an error carrying the last line of ffmpeg's stderr and
  the file it was working on;
- writes outputs to a temporary name and renames them only after a check.

Argument builders are pure functions, tested without running anything.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medialib.errors import MediaError, ToolFailed, ToolMissing

log = logging.getLogger(__name__)

PROTOCOLS = "file,pipe"

# A processing run may take ``ffmpeg.timeout`` plus this many seconds per
# second of the media it works through (the setting's documented meaning).
TIMEOUT_PER_SECOND = 10.0


def file_url(path: str | os.PathLike[str]) -> str:
    """An absolute ``file:`` URL for ``path`` that ffmpeg cannot misread."""
    return "file:" + os.path.abspath(os.fspath(path))


def input_args(
    path: str | os.PathLike[str],
    formats: Sequence[str],
    *,
    ss: float | None = None,
    before: Sequence[str] = (),
) -> list[str]:
    """The options and ``-i`` for one untrusted input, with the whitelists.

    ``ss`` makes it an input seek (fast: from the keyframe before ``ss``);
    ``before`` are further input options (e.g. ``-skip_frame nokey``).
    """
    args = [*before, "-protocol_whitelist", PROTOCOLS, "-format_whitelist", ",".join(formats)]
    if ss is not None:
        args += ["-ss", f"{ss:.3f}"]
    return [*args, "-i", file_url(path)]


def probe_args(ffprobe: str, path: str | os.PathLike[str], formats: Sequence[str]) -> list[str]:
    """argv for a JSON probe of the container and every stream of ``path``."""
    return [
        ffprobe,
        "-hide_banner",
        "-v", "error",
        "-protocol_whitelist", PROTOCOLS,
        "-format_whitelist", ",".join(formats),
        "-show_format",
        "-show_streams",
        "-of", "json",
        file_url(path),
    ]  # fmt: skip


def tail_decode_args(
    ffmpeg: str, path: str | os.PathLike[str], formats: Sequence[str], start: float
) -> list[str]:
    """argv that decodes the first video stream from ``start`` to the end.

    ``-xerror`` makes any damaged packet fatal; ``-progress`` reports how many
    frames were decoded, so "nothing there" is told apart from "fine".
    """
    import ffmpeg as ffmpeg_python  # ffmpeg-python (and its `future` dependency) only where it is used

    stream = ffmpeg_python.input(
        file_url(path),
        ss=f"{max(start, 0.0):.3f}",
        protocol_whitelist=PROTOCOLS,
        format_whitelist=",".join(formats),
    )
    out = ffmpeg_python.output(stream["v:0"], "-", f="null")
    return [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-progress", "pipe:1",
            *out.get_args()[:-1], "-"]  # fmt: skip


def last_line(text: str) -> str:
    """The last non-empty line of a tool's stderr, for a one-line message."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line:
            # ffmpeg prefixes lines with "[demuxer @ 0x55...] "; keep the words.
            if line.startswith("[") and "] " in line:
                line = line.split("] ", 1)[1]
            return line
    return "no message"


@dataclass
class FFmpeg:
    """ffmpeg and ffprobe, configured once per library.

    Two time limits, from the settings of the same names:
    ``probe_timeout`` bounds :meth:`probe` and :meth:`check_playable` (quick,
    whatever the film's length); ``timeout`` plus :data:`TIMEOUT_PER_SECOND`
    per second of media (``duration``) bounds the processing runs
    (:meth:`run`, :meth:`capture`, :meth:`transcode`). A caller passes
    ``timeout=`` only to override that limit for one run.
    """

    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    timeout: float = 3600.0
    probe_timeout: float = 60.0
    formats: Sequence[str] = field(default_factory=lambda: ["mov", "matroska"])
    _checked: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_config(cls, config: Any) -> "FFmpeg":
        return cls(
            ffmpeg=config["ffmpeg.ffmpeg"],
            ffprobe=config["ffmpeg.ffprobe"],
            timeout=config["ffmpeg.timeout"],
            probe_timeout=config["ffmpeg.probe_timeout"],
            formats=config["ffmpeg.formats"],
        )

    def check(self) -> None:
        """Make sure both programs exist; raise ToolMissing with a hint if not."""
        if self._checked:
            return
        for name in (self.ffmpeg, self.ffprobe):
            if shutil.which(name) is None:
                raise ToolMissing(
                    f"{name} is not installed or not on PATH "
                    "(on Debian/Ubuntu: apt-get install ffmpeg)"
                )
        self._checked = True

    def run_limit(self, duration: float | None = None) -> float:
        """Seconds a processing run over ``duration`` seconds of media may take."""
        return self.timeout + TIMEOUT_PER_SECOND * max(duration or 0.0, 0.0)

    def _limit(self, duration: float | None, timeout: float | None) -> tuple[float, str]:
        """The limit of one processing run, and what to say if it is reached."""
        if timeout:
            return timeout, "and was stopped"
        return self.run_limit(duration), (
            f"and was stopped (ffmpeg.timeout {self.timeout:g} s + {TIMEOUT_PER_SECOND:g} s per second of film)"
        )

    def _run(self, argv: list[str], *, what: str, limit: float, why: str) -> subprocess.CompletedProcess[str]:
        self.check()
        log.debug("running %s", shlex.join(argv))
        try:
            return subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=limit,
            )
        except subprocess.TimeoutExpired:
            raise ToolFailed(f"{what}: {Path(argv[0]).name} took longer than {limit:g} s {why}") from None

    def _probe_run(self, argv: list[str], *, what: str) -> subprocess.CompletedProcess[str]:
        return self._run(argv, what=what, limit=self.probe_timeout, why="(ffmpeg.probe_timeout)")

    def probe(self, path: str | os.PathLike[str], *, name: str | None = None) -> dict[str, Any]:
        """ffprobe's JSON for ``path`` (format and streams).

        Raises MediaError naming the file if it cannot be opened as one of
        the allowed formats.
        """
        shown = name or os.fspath(path)
        proc = self._probe_run(probe_args(self.ffprobe, path, self.formats), what=f"probing {shown}")
        if proc.returncode != 0:
            raise MediaError(f"probing {shown}: {_explain(proc.stderr, path)}")
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise MediaError(f"probing {shown}: ffprobe gave unreadable output") from None
        if not data.get("format"):
            raise MediaError(f"probing {shown}: not a recognised media file")
        return data

    def check_playable(self, path: str | os.PathLike[str], duration: float, *, name: str | None = None) -> None:
        """Decode the last second of the first video stream; raise MediaError if damaged.

        Catches truncated files whose header is intact (e.g. an MP4 with the
        index at the front and half its data missing).
        """
        shown = name or os.fspath(path)
        argv = tail_decode_args(self.ffmpeg, path, self.formats, duration - 1.0)
        proc = self._probe_run(argv, what=f"decoding {shown}")
        if proc.returncode != 0:
            raise MediaError(f"decoding {shown}: damaged or truncated video ({_explain(proc.stderr, path)})")
        frames = _progress_value(proc.stdout, "frame")
        if not frames:
            raise MediaError(f"decoding {shown}: no video frames could be decoded near the end")

    def run(
        self,
        argv_tail: Iterable[str],
        *,
        what: str,
        duration: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Run ffmpeg with the standard safety flags and ``argv_tail``.

        Untrusted uploads must go through :meth:`probe` first. ``duration``
        (seconds of media worked through) sets the time limit, see
        :class:`FFmpeg`. Raises ToolFailed with the last stderr line on
        failure, or when the limit is reached (the process is killed).
        """
        argv = [self.ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", *argv_tail]
        limit, why = self._limit(duration, timeout)
        proc = self._run(argv, what=what, limit=limit, why=why)
        if proc.returncode != 0:
            raise ToolFailed(f"{what}: {last_line(proc.stderr)}")

    def transcode(
        self,
        argv_tail: Iterable[str],
        *,
        what: str,
        duration: float | None = None,
        on_progress: Callable[[float, float | None], None] | None = None,
        timeout: float | None = None,
        loglevel: str = "info",
    ) -> str:
        """Run a long ffmpeg job, streaming ``-progress`` into ``on_progress``.

        ``on_progress(fraction, speed)`` gets the share of ``duration`` done
        (0..1) and ffmpeg's speed (x real time) if known; ``duration`` also
        sets the time limit (see :class:`FFmpeg`). Returns ffmpeg's stderr (at
        ``loglevel``, so filters such as blackdetect can be read from it).
        Raises ToolFailed with the last stderr line on failure or when the
        limit is reached (the process is killed).
        """
        self.check()
        argv = [self.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-v", loglevel, "-y",
                "-progress", "pipe:1", *argv_tail]  # fmt: skip
        log.debug("running %s", shlex.join(argv))
        limit, why = self._limit(duration, timeout)
        errors: list[str] = []
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace")  # fmt: skip
        reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
        reader.start()
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            proc.kill()

        timer = threading.Timer(limit, stop)
        timer.start()
        try:
            speed: float | None = None
            for line in proc.stdout:  # type: ignore[union-attr]
                key, _, value = line.strip().partition("=")
                if key == "speed" and value.endswith("x"):
                    try:
                        speed = float(value[:-1])
                    except ValueError:
                        speed = None
                elif key == "out_time_us" and on_progress is not None and duration:
                    try:
                        done = int(value) / 1e6
                    except ValueError:
                        continue
                    on_progress(min(max(done / duration, 0.0), 1.0), speed)
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join()
        stderr = "".join(errors)
        if fired.is_set():
            raise ToolFailed(f"{what}: {Path(self.ffmpeg).name} took longer than {limit:g} s {why}")
        if code != 0:
            raise ToolFailed(f"{what}: {last_line(stderr)}" + (f" (exit {code})" if code > 0 else f" (killed by signal {-code})"))
        if on_progress is not None:
            on_progress(1.0, speed)
        return stderr

    def capture(
        self,
        argv_tail: Iterable[str],
        *,
        what: str,
        duration: float | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Run ffmpeg and return what it writes to stdout (e.g. raw frames to ``-``).

        ``duration`` sets the time limit as for :meth:`run`. Raises ToolFailed
        with the last stderr line on failure or when the limit is reached.
        """
        return self.capture_with_log(argv_tail, what=what, duration=duration, timeout=timeout, loglevel="error")[0]

    def capture_with_log(
        self,
        argv_tail: Iterable[str],
        *,
        what: str,
        duration: float | None = None,
        timeout: float | None = None,
        loglevel: str = "info",
    ) -> tuple[bytes, str]:
        """Like :meth:`capture`, also returning ffmpeg's stderr at ``loglevel`` (e.g. ``showinfo`` lines)."""
        self.check()
        argv = [self.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-v", loglevel, *argv_tail]
        log.debug("running %s", shlex.join(argv))
        limit, why = self._limit(duration, timeout)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise ToolFailed(f"{what}: {Path(self.ffmpeg).name} took longer than {limit:g} s {why}") from None
        stderr = proc.stderr.decode(errors="replace")
        if proc.returncode != 0:
            raise ToolFailed(f"{what}: {last_line(stderr)}")
        return proc.stdout, stderr

    def write_atomically(
        self,
        output: Path,
        build: Callable[[Path], Iterable[str]],
        *,
        what: str,
        verify: Callable[[Path], None] | None = None,
        timeout: float | None = None,
    ) -> Path:
        """Run ffmpeg into a temporary name beside ``output``, verify, rename.

        ``build(tmp_path)`` returns the argv tail writing to ``tmp_path``. On
        any failure the partial file is removed and the error re-raised.
        """
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.stem}.{os.getpid()}.part{output.suffix}")
        try:
            self.run(build(tmp), what=what, timeout=timeout)
            if verify is not None:
                verify(tmp)
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
        return output


def _explain(stderr: str, path: str | os.PathLike[str]) -> str:
    line = last_line(stderr)
    prefix = file_url(path) + ": "
    if line.startswith(prefix):
        line = line[len(prefix):]
    if "Format not on whitelist" in stderr or "not on whitelist" in line:
        return "not an accepted video format (playlists, concat lists and images are refused)"
    if line.endswith("Invalid data found when processing input"):
        return "not a recognised video file (invalid data)"
    return line


def _progress_value(progress: str, key: str) -> int:
    """The last integer value of ``key=`` in ffmpeg ``-progress`` output."""
    value = 0
    for line in progress.splitlines():
        k, _, v = line.partition("=")
        if k.strip() == key:
            try:
                value = int(v.strip())
            except ValueError:
                pass
    return value
