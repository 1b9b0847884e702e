"""medialib init: a new library, and never over an existing one."""

from __future__ import annotations

import sqlite3

from conftest import snapshot
from medialib.config import render_template


def test_init_creates_a_working_library(bare_cli, tmp_path, clips, monkeypatch):
    target = tmp_path / "new lib"
    r = bare_cli("init", str(target))
    assert r.code == 0, r.err
    assert (target / "config.toml").read_text() == render_template()
    assert (target / "assets" / "README.md").is_file() and (target / "captions" / "README.md").is_file()
    con = sqlite3.connect(target / "medialib.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"films", "cuts", "audit_events"} <= {r[0] for r in con.execute("select name from sqlite_master")}
    con.close()

    monkeypatch.chdir(target)  # found through ./config.toml
    assert bare_cli("film", "add", "x", "--title", "X").code == 0
    assert bare_cli("cut", "add", "x", str(clips.video)).code == 0
    assert len(list((target / "assets" / "originals").rglob("*.mp4"))) == 1
    assert [e["action"] for e in bare_cli("audit", "--json").json()] == ["library.init", "film.add", "cut.add"]


def test_init_refuses_existing_library(bare_cli, tmp_path):
    target = tmp_path / "lib"
    assert bare_cli("init", str(target)).code == 0
    before = snapshot(target)
    db_before = (target / "medialib.db").read_bytes()
    r = bare_cli("init", str(target))
    assert r.code == 2
    assert r.err.strip().startswith("error: ") and "already exists" in r.err and "config.toml" in r.err
    assert snapshot(target) == before and (target / "medialib.db").read_bytes() == db_before


def test_init_refuses_a_folder_with_a_catalogue(bare_cli, tmp_path):
    (tmp_path / "medialib.db").write_bytes(b"precious")
    r = bare_cli("init", str(tmp_path))
    assert r.code == 2 and "catalogue already exists" in r.err
    assert (tmp_path / "medialib.db").read_bytes() == b"precious"
    assert not (tmp_path / "config.toml").exists()


def test_init_on_a_file(bare_cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = bare_cli("init", str(f))
    assert r.code == 2 and "is a file" in r.err and r.err.count("\n") == 1
