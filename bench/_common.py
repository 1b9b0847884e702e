"""Helpers shared by the benchmark scripts (not a test module; no pytest).

Each helper runs a program as a child process and measures it from outside:
wall time with ``time.perf_counter`` and peak memory from ``os.wait4``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MB = 1_000_000  # figures are printed in MB (10^6 bytes); ru_maxrss is KiB on Linux


def medialib_argv() -> list[str]:
    """How to run the medialib CLI with the interpreter running this script."""
    script = Path(sys.executable).parent / "medialib"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "medialib"]


def check_importable() -> None:
    """Make sure medialib imports, with its bytecode compiled as an installed package has it.

    `pip install` compiles a package's .pyc files; an editable checkout only gets them when an
    import writes them, which PYTHONDONTWRITEBYTECODE=1 (set on some machines) prevents. The CLI
    would then compile every module of medialib on every call (about 0.1 s of start-up), which
    is not what a user's installation pays. `./dev` compiles them too."""
    import compileall

    try:
        import medialib
    except ImportError:
        sys.exit(f"medialib is not importable with {sys.executable}; run with /work/main/.venv/bin/python")
    compileall.compile_dir(str(Path(medialib.__file__).parent), quiet=1)


@dataclass
class Run:
    """One finished child process."""

    argv: list[str]
    seconds: float
    returncode: int
    maxrss_kib: int  # from wait4: the child, or its largest reaped descendant (RUSAGE_BOTH semantics)
    hwm_kib: int | None  # VmHWM of the child itself, sampled from /proc while it ran
    user: float = 0.0  # CPU seconds in user mode (the child and its reaped descendants)
    sys: float = 0.0  # CPU seconds in the kernel (likewise)
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def maxrss_mb(self) -> float:
        return self.maxrss_kib * 1024 / MB

    @property
    def hwm_mb(self) -> float | None:
        return None if self.hwm_kib is None else self.hwm_kib * 1024 / MB

    def check(self) -> "Run":
        if self.returncode != 0:
            raise SystemExit(
                f"command failed (exit {self.returncode}): {' '.join(self.argv)}\n"
                f"{self.stderr.decode(errors='replace')[-2000:]}"
            )
        return self


def _vm_hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def run(
    argv: list[str],
    *,
    stdout_path: Path | None = None,
    capture: bool = True,
    sample_hwm: bool = False,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``argv`` to completion; wall time covers fork/exec to reaping.

    stdout goes to ``stdout_path`` if given, else is captured (``capture``) or
    discarded. stderr is captured (it is small for every command used here).
    """
    out_fh = open(stdout_path, "wb") if stdout_path is not None else None
    try:
        stdout = out_fh if out_fh is not None else (subprocess.PIPE if capture else subprocess.DEVNULL)
        hwm: list[int] = []
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=env)
        done = threading.Event()
        if sample_hwm:

            def sample() -> None:
                while not done.wait(0.02):
                    value = _vm_hwm(proc.pid)
                    if value is not None:
                        hwm.append(value)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        # Drain pipes on threads so a chatty child never blocks; then reap with wait4.
        bufs: dict[str, bytes] = {}
        readers = []
        for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
            if stream is None:
                continue

            def drain(stream=stream, name=name) -> None:
                bufs[name] = stream.read()

            t = threading.Thread(target=drain, daemon=True)
            t.start()
            readers.append(t)
        _pid, status, rusage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        for t in readers:
            t.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting again
        if sample_hwm:
            sampler.join()
        return Run(
            argv=argv,
            seconds=seconds,
            returncode=proc.returncode,
            maxrss_kib=rusage.ru_maxrss,
            hwm_kib=max(hwm) if hwm else None,
            user=rusage.ru_utime,
            sys=rusage.ru_stime,
            stdout=bufs.get("out", b""),
            stderr=bufs.get("err", b""),
        )
    finally:
        if out_fh is not None:
            out_fh.close()


def code_version() -> str:
    """The commit of the medialib tree being measured (and whether medialib/ has local changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "medialib"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with local changes in medialib/" if dirty else "")


def startup_seconds(repeat: int = 5) -> float:
    """Median wall time of ``python -c 'import medialib.cli'`` (fixed CLI overhead)."""
    times = [run([sys.executable, "-c", "import medialib.cli"]).check().seconds for _ in range(repeat)]
    return statistics.median(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_times(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def which(name: str) -> str | None:
    return shutil.which(name)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
