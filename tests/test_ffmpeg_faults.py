"""Faults around the ffmpeg programs: missing, hanging, crashing. The fakes
here are shell scripts standing in for ffprobe, named for the fault they inject."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import medialib_cmd, snapshot
from medialib.media.samples import make_sample


def fake_tool(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def film(cli):
    assert cli("film", "add", "f", "--title", "F").code == 0
    return "f"


def test_missing_ffprobe(cli, film, clips, monkeypatch, lib_dir):
    monkeypatch.setenv("MEDIALIB_FFMPEG_FFPROBE", "ffprobe-not-installed")
    before = snapshot(lib_dir)
    r = cli("cut", "add", film, str(clips.video))
    assert r.code == 2
    assert r.err.strip() == (
        "error: ffprobe-not-installed is not installed or not on PATH (on Debian/Ubuntu: apt-get install ffmpeg)"
    )
    assert snapshot(lib_dir) == before


def test_hanging_ffprobe_is_killed_by_the_timeout(cli, film, clips, monkeypatch, tmp_path, lib_dir):
    hang = fake_tool(tmp_path, "ffprobe-that-hangs", "exec sleep 30")
    monkeypatch.setenv("MEDIALIB_FFMPEG_FFPROBE", str(hang))
    monkeypatch.setenv("MEDIALIB_FFMPEG_PROBE_TIMEOUT", "1")
    before = snapshot(lib_dir)
    started = time.monotonic()
    r = cli("cut", "add", film, str(clips.video))
    assert time.monotonic() - started < 20  # killed, not waited for
    assert r.code == 2
    assert f"probing {clips.video}: ffprobe-that-hangs took longer than 1 s" in r.err
    assert snapshot(lib_dir) == before
    assert cli("cut", "list", film, "--json").json() == []


FAST_PROXIES = '[recipes.proxy-720]\npreset = "ultrafast"\n[recipes.proxy-360]\npreset = "ultrafast"\n'


def jobs_of(report: dict) -> dict[str, dict]:
    """recipe name -> job outcome, for the one cut in a `process --json` report."""
    (cut,) = report["cuts"]
    return {j["recipe"]: j for j in cut["jobs"]}


def test_derivatives_are_bounded_by_ffmpeg_timeout_not_the_probe_timeout(cli, film, clips, monkeypatch, lib_dir):
    """ffmpeg.probe_timeout bounds ffprobe only: with a limit no process can
    meet, every ffmpeg run still completes and only the proxies' ffprobe
    check stops."""
    with open(lib_dir / "config.toml", "a") as fh:
        fh.write(FAST_PROXIES)
    assert cli("cut", "add", film, str(clips.video)).code == 0
    monkeypatch.setenv("MEDIALIB_FFMPEG_PROBE_TIMEOUT", "0.001")
    r = cli("process", "--json")
    assert r.code == 1
    jobs = jobs_of(r.json())
    assert {name: jobs[name]["status"] for name in ("analysis", "poster", "storyboard")} == {
        "analysis": "done", "poster": "done", "storyboard": "done"}  # fmt: skip
    for name in ("proxy-360", "proxy-720"):
        assert jobs[name]["status"] == "failed"
        assert re.search(r"ffprobe took longer than 0\.001 s \(ffmpeg\.probe_timeout\)$", jobs[name]["error"])
    kinds = {d["kind"] for d in cli("film", "show", film, "--json").json()["derivatives"]}
    assert {"poster", "storyboard", "storyboard-vtt"} <= kinds


def test_hanging_ffmpeg_is_killed_by_the_processing_timeout(cli, film, ff, monkeypatch, tmp_path):
    """A fake ffmpeg that never finishes (injected fault): each derivative run
    is stopped at ffmpeg.timeout plus 10 s per second of film, not at the
    (much longer) probe timeout, and says which setting stopped it."""
    brief = make_sample(ff, tmp_path / "brief.mp4", duration=0.2, size="64x48")
    assert cli("cut", "add", film, str(brief)).code == 0
    duration = cli("film", "show", film, "--json").json()["cuts"][0]["duration"]
    hang = fake_tool(tmp_path, "ffmpeg-that-hangs", "exec sleep 120")
    monkeypatch.setenv("MEDIALIB_FFMPEG_FFMPEG", str(hang))
    monkeypatch.setenv("MEDIALIB_FFMPEG_TIMEOUT", "0.5")
    monkeypatch.setenv("MEDIALIB_FFMPEG_PROBE_TIMEOUT", "600")
    started = time.monotonic()
    r = cli("process", "--json")
    assert time.monotonic() - started < 60  # three runs killed, not waited for
    assert r.code == 1
    jobs = jobs_of(r.json())
    stopped = re.compile(r"ffmpeg-that-hangs took longer than ([0-9.]+) s and was stopped "
                         r"\(ffmpeg\.timeout 0\.5 s \+ 10 s per second of film\)$")  # fmt: skip
    for name, what in (("analysis", "analysing the audio of"), ("poster", "looking for a poster frame in"),
                       ("storyboard", "making a storyboard of")):  # fmt: skip
        assert jobs[name]["status"] == "failed", jobs[name]
        assert jobs[name]["error"].startswith(what), jobs[name]["error"]
        found = stopped.search(jobs[name]["error"])
        assert found, jobs[name]["error"]
        assert float(found.group(1)) == pytest.approx(0.5 + 10 * duration, abs=0.02)
    assert "loudness analysis" in jobs["proxy-360"]["error"]  # not started without it


def test_crashing_ffprobe_reports_its_last_line(cli, film, clips, monkeypatch, tmp_path):
    crash = fake_tool(tmp_path, "ffprobe-that-crashes", 'echo "first line" >&2; echo "Killed: out of memory" >&2; exit 137')
    monkeypatch.setenv("MEDIALIB_FFMPEG_FFPROBE", str(crash))
    r = cli("cut", "add", film, str(clips.video))
    assert r.code == 2
    assert r.err.strip() == f"error: probing {clips.video}: Killed: out of memory"


def test_verbose_logs_the_ffmpeg_commands(cli, film, clips):
    r = cli("-v", "cut", "add", film, str(clips.video))
    assert r.code == 0
    assert "-protocol_whitelist file,pipe" in r.err and "-format_whitelist mov,matroska" in r.err


def _run_on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run argv with stdout/stderr on a pseudo-terminal; return (code, screen)."""
    main_fd, child_fd = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    env.update(COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(argv, stdout=child_fd, stderr=child_fd, stdin=subprocess.DEVNULL, env=env)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only(lib_dir, film, ff, tmp_path):
    big = tmp_path / "big.mkv"
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", "8", "-c:v", "rawvideo",
            "-pix_fmt", "yuv420p", str(big)], what="big clip")  # fmt: skip
    cfg = ["--config", str(lib_dir / "config.toml")]
    code, screen = _run_on_a_terminal([*medialib_cmd(), *cfg, "cut", "add", film, str(big)])
    assert code == 0, screen
    assert "hashing and copying" in screen and "MB" in screen  # the rich bar was drawn
    piped = subprocess.run([*medialib_cmd(), *cfg, "film", "show", film], capture_output=True, text=True)
    assert "hashing" not in piped.stderr
    # not on a terminal: no bar, no escape codes
    other = tmp_path / "other.mkv"
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "rawvideo",
            "-pix_fmt", "yuv420p", str(other)], what="clip")  # fmt: skip
    piped = subprocess.run([*medialib_cmd(), *cfg, "cut", "add", film, str(other)], capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == "" and "\x1b[" not in piped.stdout
    code, screen = _run_on_a_terminal([*medialib_cmd(), *cfg, "-q", "cut", "add", film, str(big)])
    assert code == 0 and "hashing and copying" not in screen and "duplicate" in screen
