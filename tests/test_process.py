"""`medialib process` and `medialib qc` end to end: real ffmpeg on small clips,
incremental rebuilds, failures that stay contained, crash safety."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import medialib_cmd, snapshot

FAST = """
[recipes.proxy-720]
preset = "ultrafast"
[recipes.proxy-360]
preset = "ultrafast"
"""


@pytest.fixture
def fast_lib(lib_dir: Path) -> Path:
    with open(lib_dir / "config.toml", "a") as fh:
        fh.write(FAST)
    return lib_dir


@pytest.fixture
def two_films(cli, fast_lib, sources):
    cli("film", "add", "hope", "--title", "Hope")
    cli("film", "add", "quiet", "--title", "Quiet")
    assert cli("cut", "add", "hope", str(sources["normal.mp4"])).code == 0
    assert cli("cut", "add", "quiet", str(sources["silent.mp4"])).code == 0
    return fast_lib


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def derived_files(lib_dir: Path) -> dict[str, str]:
    root = lib_dir / "assets" / "derived"
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_process_builds_everything_and_records_it(cli, two_films):
    r = cli("process", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["ok"] and report["failed"] == 0 and report["built"] == 10
    film = cli("film", "show", "hope", "--json").json()
    kinds = {d["kind"] for d in film["derivatives"]}
    assert {"proxy", "poster", "storyboard", "storyboard-vtt"} <= kinds
    for d in film["derivatives"]:
        path = Path(d["path"])
        assert path.is_file() and sha256(path) == d["sha256"] and path.stat().st_size == d["size"]
        assert d["storage_key"].startswith(f"derived/{film['cuts'][0]['sha256']}/")
    proxies = {d["name"]: d for d in film["derivatives"] if d["kind"] == "proxy"}
    assert proxies["proxy-360.mp4"]["height"] == 360 and proxies["proxy-360.mp4"]["width"] == 640
    assert not list((two_films / "assets" / "tmp").iterdir())


def test_rerun_changes_nothing_and_one_recipe_rebuilds_alone(cli, two_films):
    cli("process")
    before = derived_files(two_films)
    r = cli("process", "--json")
    assert r.json()["built"] == 0 and r.json()["unchanged"] > 0
    assert derived_files(two_films) == before

    with open(two_films / "config.toml", "a") as fh:
        fh.write('[recipes.storyboard]\ninterval = 1.0\n')
    r = cli("process", "--json")
    rebuilt = {(c["cut"], j["recipe"]) for c in r.json()["cuts"] for j in c["jobs"] if j["status"] == "done"}
    assert rebuilt == {("hope#1", "storyboard"), ("quiet#1", "storyboard")}
    after = derived_files(two_films)
    changed = {k.split("/")[1].rsplit("-", 1)[0] for k in set(after) ^ set(before)}
    assert changed == {"storyboard"}, "only the storyboard folders changed; the old ones are gone"
    assert all(v == before[k] for k, v in after.items() if k in before)


def test_qc_report(cli, two_films):
    cli("process")
    r = cli("qc", "hope", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["integrated_lufs"] is not None and report["duration"] == pytest.approx(4.0, abs=0.1)
    assert all({"level", "code", "message"} <= set(f) for f in report["findings"])
    assert report["processing"]["analysis"] == "done"

    r = cli("qc", "quiet", "--json")
    assert r.code == 1
    codes = {(f["level"], f["code"]) for f in r.json()["findings"]}
    assert ("error", "no_audio") in codes
    plain = cli("qc", "quiet")
    assert plain.code == 1 and plain.err.startswith("error: qc: 1 error(s) in quiet cut 1: no audio stream")


def test_missing_original_fails_that_cut_only(cli, two_films):
    quiet = cli("film", "show", "quiet", "--json").json()["cuts"][0]
    original = two_films / "assets" / quiet["storage_key"]
    hidden = original.with_name("hidden")
    original.rename(hidden)
    r = cli("process", "--json")
    assert r.code == 1
    report = r.json()
    quiet_jobs = next(c for c in report["cuts"] if c["cut"] == "quiet#1")["jobs"]
    assert {j["status"] for j in quiet_jobs} == {"failed"}
    assert all("original missing" in j["error"] and quiet["storage_key"] in j["error"] for j in quiet_jobs)
    hope_jobs = next(c for c in report["cuts"] if c["cut"] == "hope#1")["jobs"]
    assert {j["status"] for j in hope_jobs} == {"done"}

    # failed jobs wait for --retry-failed
    hidden.rename(original)
    r = cli("process", "--json")
    assert r.code == 1 and r.json()["built"] == 0
    r = cli("process", "--retry-failed", "--json")
    assert r.code == 0, r.out
    assert r.json()["failed"] == 0 and r.json()["built"] == len(quiet_jobs)


def test_ffmpeg_failure_is_recorded_and_others_carry_on(cli, two_films, tmp_path, monkeypatch):
    """A fake ffmpeg that fails for one cut only (injected fault), naming its reason on stderr."""
    quiet_sha = cli("film", "show", "quiet", "--json").json()["cuts"][0]["sha256"]
    fake = tmp_path / "ffmpeg-that-fails-for-one-cut"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *{quiet_sha}*) echo "something earlier" >&2; '
        'echo "Conversion failed: injected fault" >&2; exit 1;; esac\n'
        'exec ffmpeg "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("MEDIALIB_FFMPEG_FFMPEG", str(fake))
    r = cli("process", "--json")
    assert r.code == 1
    quiet = next(c for c in r.json()["cuts"] if c["cut"] == "quiet#1")
    errors = [j["error"] for j in quiet["jobs"] if j["status"] == "failed"]
    assert errors and all("injected fault" in e for e in errors)
    hope = next(c for c in r.json()["cuts"] if c["cut"] == "hope#1")
    assert {j["status"] for j in hope["jobs"]} == {"done"}
    qc_errors = cli("qc", "quiet", "--json").json()["errors"]
    assert qc_errors and all("injected fault" in e for e in qc_errors.values())


def test_poster_override(cli, two_films):
    cli("process")
    first = {d["name"]: d["sha256"] for d in cli("film", "show", "hope", "--json").json()["derivatives"]
             if d["kind"] == "poster"}  # fmt: skip
    assert cli("film", "edit", "hope", "--poster-at", "00:00:03.5").code == 0
    assert cli("film", "show", "hope", "--json").json()["poster_at"] == 3.5
    r = cli("process", "--json")
    rebuilt = {j["recipe"] for c in r.json()["cuts"] for j in c["jobs"] if j["status"] == "done"}
    assert rebuilt == {"poster"}
    second = {d["name"]: d["sha256"] for d in cli("film", "show", "hope", "--json").json()["derivatives"]
              if d["kind"] == "poster"}  # fmt: skip
    assert set(second) == set(first) and second != first


@pytest.mark.parametrize(
    "args, message",
    [
        (["process", "no-such-film"], "unknown film 'no-such-film'"),
        (["process", "--jobs", "0"], "--jobs"),
        (["film", "edit", "hope", "--poster-at", "1:75"], "is not a time"),
        (["film", "edit", "hope", "--poster-at", "99"], "beyond the end of cut 1"),
        (["qc", "empty"], "has no cut yet"),
        (["qc", "ghost"], "unknown film 'ghost'"),
    ],
)
def test_bad_input(cli, two_films, args, message):
    cli("film", "add", "empty", "--title", "Empty")
    before = snapshot(two_films)
    r = cli(*args)
    assert r.code == 2, (r.code, r.err)
    assert message in r.err and r.err.count("\n") == 1
    assert snapshot(two_films) == before


def test_bad_recipe_is_a_configuration_error(cli, two_films):
    with open(two_films / "config.toml", "a") as fh:
        fh.write('[recipes.proxy-1080]\nkind = "proxy"\nheight = 1080\ncrf = 99\n')
    r = cli("process")
    assert r.code == 2 and "configuration error: recipes.proxy-1080.crf" in r.err


def test_sigkill_during_process_then_rerun_completes(cli, two_films, ff, tmp_path):
    long = tmp_path / "long.mp4"
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=20", "-f", "lavfi",
            "-i", "sine=duration=20", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(long)],
           what="long clip")  # fmt: skip
    cli("film", "add", "long", "--title", "Long")
    assert cli("cut", "add", "long", str(long)).code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    cmd = [*medialib_cmd(), "--config", str(two_films / "config.toml"), "process", "long"]
    for delay in (1.5, 3.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)  # medialib and its ffmpeg, as a crash would
        proc.wait()
        # whatever is under a final name is recorded and complete
        recorded = {d["storage_key"]: d["sha256"] for d in cli("film", "show", "long", "--json").json()["derivatives"]}
        for key, digest in recorded.items():
            assert sha256(two_films / "assets" / key) == digest
    r = cli("process", "long", "--json")
    assert r.code == 0, r.out + r.err
    film = cli("film", "show", "long", "--json").json()
    assert {"proxy", "poster", "storyboard"} <= {d["kind"] for d in film["derivatives"]}
    for d in film["derivatives"]:
        assert sha256(Path(d["path"])) == d["sha256"]
    on_disk = {k for k in derived_files(two_films) if k.startswith(film["cuts"][0]["sha256"])}
    assert on_disk == {d["storage_key"].removeprefix("derived/") for d in film["derivatives"]}
    assert not list((two_films / "assets" / "tmp").iterdir())


def test_progress_bars_on_a_terminal_only(cli, two_films):
    from test_ffmpeg_faults import _run_on_a_terminal

    cfg = ["--config", str(two_films / "config.toml")]
    code, screen = _run_on_a_terminal([*medialib_cmd(), *cfg, "process", "hope"])
    assert code == 0, screen
    assert "hope#1 proxy-360+proxy-720" in screen and "100%" in screen
    with open(two_films / "config.toml", "a") as fh:
        fh.write('[recipes.storyboard]\ninterval = 2.0\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    piped = subprocess.run([*medialib_cmd(), *cfg, "process", "hope"], capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and piped.stderr == ""
    assert "storyboard\tdone" in piped.stdout and "\x1b[" not in piped.stdout
