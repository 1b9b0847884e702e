"""medialib init: a new library, and never over an existing one."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, inspect

from conftest import is_sqlite, snapshot
from medialib.config import render_template


def test_init_creates_a_working_library(init_cli, empty_db_url, tmp_path, clips, monkeypatch):
    target = tmp_path / "new lib"
    r = init_cli("init", str(target))
    assert r.code == 0, r.err
    assert (target / "config.toml").read_text() == render_template()
    assert (target / "assets" / "README.md").is_file() and (target / "captions" / "README.md").is_file()
    # The catalogue is where MEDIALIB_DATABASE says (PostgreSQL), else medialib.db in the folder.
    url = f"sqlite:///{target / 'medialib.db'}" if is_sqlite(empty_db_url) else empty_db_url
    assert (target / "medialib.db").exists() == is_sqlite(empty_db_url)
    engine = create_engine(url)
    assert {"films", "cuts", "audit_events"} <= set(inspect(engine).get_table_names())
    engine.dispose()

    monkeypatch.chdir(target)  # found through ./config.toml
    assert init_cli("film", "add", "x", "--title", "X").code == 0
    assert init_cli("cut", "add", "x", str(clips.video)).code == 0
    assert len(list((target / "assets" / "originals").rglob("*.mp4"))) == 1
    assert [e["action"] for e in init_cli("audit", "--json").json()] == ["library.init", "film.add", "cut.add"]


def test_init_in_a_deep_folder(init_cli, tmp_path):
    """The audit subject names the folder, whatever its length (PostgreSQL once refused more than 200)."""
    target = tmp_path.joinpath(*["a-long-folder-name-" + "x" * 40] * 5)
    assert len(str(target)) > 300
    r = init_cli("init", str(target))
    assert r.code == 0, r.err
    [event] = init_cli("--config", str(target / "config.toml"), "audit", "--json").json()
    assert (event["action"], event["subject"]) == ("library.init", f"library:{target}")


@pytest.mark.sqlite_only("the new catalogue file is in WAL mode")
def test_init_makes_a_wal_catalogue(init_cli, tmp_path):
    target = tmp_path / "lib"
    assert init_cli("init", str(target)).code == 0
    con = sqlite3.connect(target / "medialib.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_init_refuses_existing_library(init_cli, empty_db_url, tmp_path):
    target = tmp_path / "lib"
    assert init_cli("init", str(target)).code == 0
    cfg = ["--config", str(target / "config.toml")]
    events = init_cli(*cfg, "audit", "--json").json()
    before = snapshot(target)
    db_file = target / "medialib.db"
    db_before = db_file.read_bytes() if is_sqlite(empty_db_url) else None
    r = init_cli("init", str(target))
    assert r.code == 2
    assert r.err.strip().startswith("error: ") and "already exists" in r.err and "config.toml" in r.err
    assert snapshot(target) == before
    if db_before is not None:
        assert db_file.read_bytes() == db_before
    assert init_cli(*cfg, "audit", "--json").json() == events


def test_init_refuses_a_folder_with_a_catalogue(init_cli, tmp_path):
    (tmp_path / "medialib.db").write_bytes(b"precious")
    r = init_cli("init", str(tmp_path))
    assert r.code == 2 and "catalogue already exists" in r.err
    assert (tmp_path / "medialib.db").read_bytes() == b"precious"
    assert not (tmp_path / "config.toml").exists()


def test_init_on_a_file(bare_cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = bare_cli("init", str(f))
    assert r.code == 2 and "is a file" in r.err and r.err.count("\n") == 1
