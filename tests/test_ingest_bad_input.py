"""Every bad upload: exit 2, one line naming the file and the problem, nothing changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import snapshot


@pytest.fixture
def film(cli) -> str:
    assert cli("film", "add", "hope-street", "--title", "Hope Street").code == 0
    return "hope-street"


def _assert_refused(cli, lib_dir: Path, args: list[str], *expected: str) -> str:
    before = snapshot(lib_dir)
    cuts_before = cli("cut", "list", "hope-street", "--json").json()
    audit_before = cli("audit", "--json").json()
    r = cli(*args)
    assert r.code == 2, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in r.err
    for word in expected:
        assert word in lines[0], (word, lines[0])
    assert snapshot(lib_dir) == before, "files under the library changed"
    assert cli("cut", "list", "hope-street", "--json").json() == cuts_before
    assert cli("audit", "--json").json() == audit_before
    assert not any((lib_dir / "assets" / "tmp").glob("*")) if (lib_dir / "assets" / "tmp").exists() else True
    return lines[0]


BAD_FILES = {
    "empty.mp4": "empty file",
    "text.mp4": "not a recognised video file",
    "doc.pdf": "not",
    "truncated.mp4": "not a recognised video file",
    "truncated_faststart.mp4": "damaged or truncated",
    "audio.m4a": "no video stream",
    "still.png": "not an accepted video format",
    "still.jpg": "not an accepted video format",
    "playlist.m3u8": "not",
    "list.ffconcat": "not an accepted video format",
    "concat.mp4": "not an accepted video format",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_upload_is_refused(cli, lib_dir, clips, film, name):
    path = str(clips.dir / name)
    line = _assert_refused(cli, lib_dir, ["cut", "add", film, path], path, BAD_FILES[name])
    assert "secret-target" not in line


def test_missing_path(cli, lib_dir, film, tmp_path):
    missing = str(tmp_path / "nope.mp4")
    _assert_refused(cli, lib_dir, ["cut", "add", film, missing], missing, "no such file")


def test_directory(cli, lib_dir, film, clips):
    _assert_refused(cli, lib_dir, ["cut", "add", film, str(clips.dir)], str(clips.dir), "is a directory")


def test_unknown_film(cli, lib_dir, film, clips):
    _assert_refused(cli, lib_dir, ["cut", "add", "no-such-film", str(clips.video)], "unknown film", "no-such-film")


@pytest.mark.parametrize("slug", ["Hope", "hope street", "../etc", "hope--street", "-hope", "hopé", "a" * 81, ""])
def test_invalid_slug_on_add(cli, lib_dir, film, slug):
    _assert_refused(cli, lib_dir, ["film", "add", "--title", "X", "--", slug], "invalid slug")


def test_duplicate_slug(cli, lib_dir, film):
    _assert_refused(cli, lib_dir, ["film", "add", film, "--title", "Again"], "already exists", film)


@pytest.mark.parametrize("when", ["tomorrow", "2026-13-01", "01/12/2026", "2026-12-01T25:00", "12 Dec 2026"])
def test_publish_at_not_iso(cli, lib_dir, film, when):
    _assert_refused(cli, lib_dir, ["film", "add", "other", "--title", "O", "--publish-at", when], "--publish-at", when)
    _assert_refused(cli, lib_dir, ["film", "edit", film, "--publish-at", when], "--publish-at")


def test_playlist_content_never_read(cli, clips, film):
    """ffmpeg must not follow the playlist: the secret clip's bytes appear nowhere."""
    for name in ("playlist.m3u8", "list.ffconcat", "concat.mp4"):
        r = cli("cut", "add", film, str(clips.dir / name), "--json")
        assert r.code == 2
        assert r.out == ""
    assert cli("film", "show", film, "--json").json()["cuts"] == []


@pytest.mark.parametrize(
    "name",
    ["../escape.mp4", "with space.mp4", "quote'and\"double.mp4", "ünïcødé-ĉut.mp4", "-leading-dash.mp4",
     "colon:name.mp4", "$(touch pwned).mp4"],
)  # fmt: skip
def test_odd_file_names_are_metadata_only(cli, lib_dir, clips, film, tmp_path, name):
    folder = tmp_path / "uploads" / "sub"
    folder.mkdir(parents=True)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clips.video, path)
    uploads_before = snapshot(tmp_path / "uploads")
    r = cli("cut", "add", film, "--json", "--", str(path))
    assert r.code == 0, r.err
    cut = r.json()
    assert cut["original_name"] == Path(name).name
    # the stored path is made of the content hash only
    assert cut["storage_key"] == f"originals/{cut['sha256'][:2]}/{cut['sha256'][2:4]}/{cut['sha256']}.mp4"
    assert (lib_dir / "assets" / cut["storage_key"]).is_file()
    stored = [p.name for p in (lib_dir / "assets").rglob("*") if p.is_file()]
    assert all(Path(name).stem not in s for s in stored)
    assert snapshot(tmp_path / "uploads") == uploads_before, "the upload folder was touched"
    assert not Path("pwned").exists()


def test_relative_leading_dash_name(cli, clips, film, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(clips.video, tmp_path / "-x.mp4")
    r = cli("cut", "add", film, "--json", "--", "-x.mp4")
    assert r.code == 0, r.err
    assert r.json()["original_name"] == "-x.mp4"
