"""Ingest through the CLI and the Python API: metadata, de-duplication, fixity."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from medialib import Library
from medialib.errors import MediaError, NotFound


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def film(cli):
    assert cli("film", "add", "hope-street", "--title", "Hope Street").code == 0
    return "hope-street"


def test_cut_add_records_technical_metadata(cli, lib_dir, clips, film):
    r = cli("cut", "add", film, str(clips.video), "--label", "final", "--json")
    assert r.code == 0, r.err
    cut = r.json()
    assert cut["sha256"] == sha256(clips.video)
    assert cut["size"] == clips.video.stat().st_size
    assert cut["duration"] == pytest.approx(2.0, abs=0.1)
    assert (cut["width"], cut["height"]) == (160, 120)
    assert cut["video_codec"] == "h264" and cut["audio_codec"] == "aac"
    assert cut["channels"] == 2 and cut["sample_rate"] == 48000
    assert cut["frame_rate"] == 25 and cut["display_aspect_ratio"] == "4:3"
    assert cut["container"] == "mp4" and cut["label"] == "final" and cut["seq"] == 1
    assert cut["duplicate"] is False and cut["uploaded_by"] == "tester"
    stored = lib_dir / "assets" / cut["storage_key"]
    assert sha256(stored) == cut["sha256"]
    assert not stat.S_IMODE(stored.stat().st_mode) & 0o222, "originals are stored read-only"
    assert list((lib_dir / "assets" / "tmp").iterdir()) == []

    shown = cli("film", "show", film, "--json").json()["cuts"][0]
    for key in ("sha256", "duration", "width", "height"):
        assert shown[key] == cut[key]
    events = cli("audit", "cut:", "--json").json()
    assert events[-1]["action"] == "cut.add" and events[-1]["details"]["sha256"] == cut["sha256"]


def test_anamorphic_rotated_and_silent(cli, clips, film):
    ana = cli("cut", "add", film, str(clips.anamorphic), "--json").json()
    assert (ana["width"], ana["height"]) == (720, 576)
    assert ana["display_aspect_ratio"] == "16:9"
    rot = cli("cut", "add", film, str(clips.rotated), "--json").json()
    assert rot["rotation"] == 270  # ffmpeg stores the tag as a counter-clockwise matrix
    silent = cli("cut", "add", film, str(clips.silent), "--json").json()
    assert silent["audio_codec"] is None and silent["channels"] is None
    assert silent["container"] == "matroska" and silent["storage_key"].endswith(".mkv")


def test_duplicate_same_film(cli, lib_dir, clips, film):
    first = cli("cut", "add", film, str(clips.video), "--json").json()
    events = len(cli("audit", "--json").json())
    r = cli("cut", "add", film, str(clips.video))
    assert r.code == 0 and "duplicate" in r.out
    again = cli("cut", "add", film, str(clips.video), "--json").json()
    assert again["duplicate"] is True and again["seq"] == first["seq"]
    assert len(cli("cut", "list", film, "--json").json()) == 1
    assert len(cli("audit", "--json").json()) == events


def test_same_content_in_two_films_stored_once(cli, lib_dir, clips, film):
    cli("film", "add", "other", "--title", "Other")
    a = cli("cut", "add", film, str(clips.video), "--json").json()
    b = cli("cut", "add", "other", str(clips.video), "--json").json()
    assert a["storage_key"] == b["storage_key"] and b["duplicate"] is False
    files = [p for p in (lib_dir / "assets" / "originals").rglob("*") if p.is_file()]
    assert len(files) == 1


def test_verify_reports_missing_changed_untracked(cli, lib_dir, clips, film):
    a = cli("cut", "add", film, str(clips.video), "--json").json()
    b = cli("cut", "add", film, str(clips.video2), "--json").json()
    c = cli("cut", "add", film, str(clips.faststart), "--json").json()
    r = cli("verify", "--json")
    assert r.code == 0 and r.json()["ok"] and r.json()["checked"] == 3

    os.unlink(lib_dir / "assets" / a["storage_key"])
    changed = lib_dir / "assets" / b["storage_key"]
    changed.chmod(0o644)
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the middle
    changed.write_bytes(bytes(data))
    stray = lib_dir / "assets" / "originals" / "00" / "00" / ("0" * 64 + ".mp4")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"stray")

    r = cli("verify", "--json")
    assert r.code == 1
    report = r.json()
    assert [m["key"] for m in report["missing"]] == [a["storage_key"]]
    assert [m["key"] for m in report["changed"]] == [b["storage_key"]]
    assert report["untracked"] == [str(stray.relative_to(lib_dir / "assets"))]
    assert report["checked"] == 2
    plain = cli("verify")
    assert plain.code == 1
    assert plain.err.strip() == "error: verify: 1 missing, 1 changed, 1 untracked"
    assert f"missing   {a['storage_key']}" in plain.out
    assert c["storage_key"] not in plain.out


def test_verify_sweeps_temporary_files_of_dead_writers(cli, lib_dir, clips, film):
    cli("cut", "add", film, str(clips.video))
    tmp = lib_dir / "assets" / "tmp"
    dead = tmp / "999999999-0123456789abcdef.part"  # no such pid
    dead.write_bytes(b"half a file")
    mine = tmp / f"{os.getpid()}-0123456789abcdef.part"  # a live writer: kept
    mine.write_bytes(b"being written")
    r = cli("verify", "--json")
    assert r.code == 0
    assert r.json()["removed_temporary"] == [dead.name]
    assert not dead.exists() and mine.exists()


def test_python_api(lib_dir, clips):
    with Library.open(lib_dir / "config.toml", env={}) as lib:
        film = lib.add_film("api-film", "From a script", themes=["x"], publish_at="2026-12-01")
        assert film["publish_at"] == "2026-12-01T00:00:00Z"
        seen = []
        result = lib.add_cut("api-film", clips.video, label="rough", on_progress=seen.append)
        assert not result.duplicate and result.stored_new_file
        assert sum(seen) == clips.video.stat().st_size
        assert lib.film("api-film")["cuts"][0]["sha256"] == result.cut["sha256"]
        assert lib.verify().ok
        with pytest.raises(NotFound):
            lib.add_cut("nope", clips.video)
        with pytest.raises(MediaError, match="no video stream"):
            lib.add_cut("api-film", clips.audio)
        assert [f["slug"] for f in lib.films()] == ["api-film"]


def test_file_changed_during_ingest_is_refused(lib_dir, clips, tmp_path):
    """A source modified between the probe and the copy is not stored."""
    src = tmp_path / "moving.mp4"
    src.write_bytes(clips.video.read_bytes())
    with Library.open(lib_dir / "config.toml", env={}) as lib:
        lib.add_film("f", "F")

        def on_start(total: int) -> None:
            with open(src, "ab") as fh:  # the film-maker's export is still running
                fh.write(b"\0" * 1024)

        with pytest.raises(Exception, match="changed while it was being added"):
            lib.add_cut("f", src, on_start=on_start)
        assert lib.film("f")["cuts"] == []
    assert not [p for p in (lib_dir / "assets").rglob("*") if p.is_file() and "originals" in p.parts]


def test_copy_falls_back_to_user_space_when_the_kernel_cannot_copy(tmp_path, monkeypatch):
    """Fault injection: copy_file_range refused (as across some file systems) -> the threaded copy."""
    import errno
    import hashlib

    from medialib.storage import local

    calls = []

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(local.os, "copy_file_range", refuse)
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    store = local.LocalStore(tmp_path / "store", chunk_size=1 << 20)
    stored = store.put_file(src, "originals", "bin")
    assert calls and stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert (tmp_path / "store" / stored.key).read_bytes() == data


def test_kernel_copy_hashes_the_stored_bytes(tmp_path):
    import hashlib

    from medialib.storage import local

    data = os.urandom(5 * 1024 * 1024 + 3)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    seen = []
    stored = local.LocalStore(tmp_path / "store", chunk_size=1 << 20).put_file(src, "originals", "bin",
                                                                                  on_progress=seen.append)  # fmt: skip
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and sum(seen) == len(data) and len(seen) >= 5
