"""Films through the CLI: the fixed interface, editing, pinning, the audit log."""

from __future__ import annotations

import json

import pytest


def test_film_add_list_show_json(cli):
    r = cli("film", "add", "hope-street", "--title", "Hope Street", "--summary", "Repairs, together.",
            "--location", "Glasgow", "--theme", "housing", "--theme", "co-production",
            "--language", "en", "--language", "GD", "--credit", "Director: Ailsa Grant",
            "--licence", "CC BY-NC-ND 4.0", "--publish-at", "2026-12-01T09:00:00+01:00", "--json")  # fmt: skip
    assert r.code == 0, r.err
    film = r.json()
    assert film["slug"] == "hope-street"
    assert film["languages"] == ["en", "gd"]
    assert film["publish_at"] == "2026-12-01T08:00:00Z"
    assert cli("film", "add", "a-second", "--title", "Second").code == 0

    films = cli("film", "list", "--json").json()
    assert [f["slug"] for f in films] == ["a-second", "hope-street"]
    assert {"slug", "title"} <= set(films[0])
    assert films[1]["themes"] == ["housing", "co-production"]
    assert films[1]["cut_count"] == 0 and films[1]["current_cut"] is None

    shown = cli("film", "show", "hope-street", "--json").json()
    assert shown["title"] == "Hope Street" and shown["cuts"] == []
    assert shown["credits"] == ["Director: Ailsa Grant"]


def test_film_list_plain_output_is_tab_separated(cli):
    cli("film", "add", "hope-street", "--title", "Hope Street")
    r = cli("film", "list")
    assert r.code == 0
    header, row = r.out.strip().splitlines()
    assert header.split("\t")[:2] == ["slug", "title"]
    assert row.split("\t")[:3] == ["hope-street", "Hope Street", "0"]


def test_publish_at_date_only_and_naive_are_utc(cli):
    assert cli("film", "add", "a", "--title", "A", "--publish-at", "2026-12-01").code == 0
    assert cli("film", "show", "a", "--json").json()["publish_at"] == "2026-12-01T00:00:00Z"
    assert cli("film", "edit", "a", "--publish-at", "2026-12-02T10:30").code == 0
    assert cli("film", "show", "a", "--json").json()["publish_at"] == "2026-12-02T10:30:00Z"
    assert cli("film", "edit", "a", "--publish-at", "none").code == 0
    assert cli("film", "show", "a", "--json").json()["publish_at"] is None


def test_edit_and_audit(cli):
    cli("film", "add", "hope-street", "--title", "Hope Street")
    r = cli("film", "edit", "hope-street", "--title", "Hope Street (2026)", "--theme", "repairs")
    assert r.code == 0, r.err
    film = cli("film", "show", "hope-street", "--json").json()
    assert film["title"] == "Hope Street (2026)" and film["themes"] == ["repairs"]
    events = cli("audit", "film:hope-street", "--json").json()
    assert [e["action"] for e in events] == ["film.add", "film.edit"]
    assert events[1]["actor"] == "tester"
    assert events[1]["details"]["before"]["title"] == "Hope Street"
    assert events[1]["details"]["changes"]["title"] == "Hope Street (2026)"


def test_user_flag_sets_actor(cli):
    cli("--user", "Morag", "film", "add", "x", "--title", "X")
    assert cli("audit", "film:x", "--json").json()[0]["actor"] == "Morag"


def test_edit_nothing_is_an_error(cli):
    cli("film", "add", "x", "--title", "X")
    r = cli("film", "edit", "x")
    assert r.code == 2 and "nothing to change" in r.err


def test_edit_unknown_film(cli):
    r = cli("film", "edit", "ghost", "--title", "Boo")
    assert r.code == 2 and "unknown film 'ghost'" in r.err


@pytest.mark.parametrize("lang", ["english", "e", "en_GB", "12"])
def test_bad_language(cli, lang):
    r = cli("film", "add", "x", "--title", "X", "--language", lang)
    assert r.code == 2 and "invalid language code" in r.err
    assert cli("film", "list", "--json").json() == []


def test_empty_title_refused(cli):
    r = cli("film", "add", "x", "--title", "  ")
    assert r.code == 2 and "title must not be empty" in r.err


def test_missing_title_is_usage_error(cli):
    r = cli("film", "add", "x")
    assert r.code == 2 and "--title" in r.err


def test_current_cut_newest_unless_pinned(cli, clips):
    cli("film", "add", "f", "--title", "F")
    first = cli("cut", "add", "f", str(clips.video), "--label", "rough", "--json").json()
    second = cli("cut", "add", "f", str(clips.video2), "--label", "fine", "--json").json()
    assert (first["seq"], second["seq"]) == (1, 2)
    film = cli("film", "show", "f", "--json").json()
    assert film["current_cut"] == 2 and not film["pinned"]
    assert [c["current"] for c in film["cuts"]] == [False, True]

    assert cli("film", "edit", "f", "--current-cut", "1").code == 0
    film = cli("film", "show", "f", "--json").json()
    assert film["current_cut"] == 1 and film["pinned"]
    listed = cli("film", "list", "--json").json()[0]
    assert listed["current_cut"]["seq"] == 1 and listed["cut_count"] == 2
    assert listed["current_cut"]["sha256"] == first["sha256"]

    # a newer cut does not move a pin
    third = cli("cut", "add", "f", str(clips.faststart), "--json").json()
    assert cli("film", "show", "f", "--json").json()["current_cut"] == 1
    assert cli("film", "edit", "f", "--current-cut", "latest").code == 0
    assert cli("film", "list", "--json").json()[0]["current_cut"]["seq"] == third["seq"]

    r = cli("film", "edit", "f", "--current-cut", "9")
    assert r.code == 2 and "no cut 9" in r.err
    r = cli("film", "edit", "f", "--current-cut", "two")
    assert r.code == 2


def test_show_plain(cli, clips):
    cli("film", "add", "f", "--title", "Fine Film")
    cli("cut", "add", "f", str(clips.video))
    r = cli("film", "show", "f")
    assert r.code == 0
    assert "Fine Film" in r.out and "160x120" in r.out and "h264" in r.out


def test_no_library_here(bare_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = bare_cli("film", "list")
    assert r.code == 2
    assert "no medialib library here" in r.err


def test_config_file_missing(cli, tmp_path):
    r = cli("--config", str(tmp_path / "nope.toml"), "film", "list", config=False)
    assert r.code == 2 and "configuration error: config:" in r.err and "nope.toml" in r.err


def test_json_is_valid_for_unicode(cli):
    cli("film", "add", "x", "--title", "Caithness — Gàidhlig ♪")
    out = cli("film", "list", "--json").out
    assert json.loads(out)[0]["title"] == "Caithness — Gàidhlig ♪"
    assert "Gàidhlig" in out  # not \u-escaped


def test_the_actor_name_fits_the_audit_log_on_every_engine(cli, lib_dir):
    """PostgreSQL enforces the width of audit_events.actor (200); SQLite does not. A longer
    --user is bad input on both, before anything is written."""
    r = cli("--user", "u" * 201, "film", "add", "x", "--title", "X")
    assert r.code == 2 and r.err.count("\n") == 1
    assert r.err.startswith("error: configuration error: user: must be at most 200 characters"), r.err
    assert cli("film", "list", "--json").json() == []
    config = lib_dir / "config.toml"
    good = config.read_text()
    config.write_text(good.replace('"tester"', '"' + "t" * 201 + '"'))
    r = cli("film", "add", "x", "--title", "X")
    assert r.code == 2 and "user: must be at most 200 characters" in r.err
    config.write_text(good)

    assert cli("--user", "u" * 200, "film", "add", "x", "--title", "X").code == 0
    assert [e["actor"] for e in cli("--user", "me", "audit", "--json").json()] == ["u" * 200]


def test_audit_subject_prefix_is_matched_exactly_on_every_engine(cli):
    """SQLite's LIKE ignores case and PostgreSQL's does not: the prefix match must not depend on the engine."""
    assert cli("film", "add", "hope-street", "--title", "Hope Street").code == 0
    assert [e["subject"] for e in cli("audit", "film:hope", "--json").json()] == ["film:hope-street"]
    assert cli("audit", "FILM:hope", "--json").json() == []
    assert cli("audit", "film:hope_street", "--json").json() == []  # "_" is not a wildcard
    assert [e["action"] for e in cli("audit", "--json").json()] == ["film.add"]


def test_two_adds_of_one_slug_at_once_the_second_is_refused(lib_dir, db_url):
    """SQLite queues writers, so the second `film add` sees the first film. On PostgreSQL the
    second insert waits on the unique index until the first commits: it must still end as
    "already exists" (exit 2), not as an internal error."""
    from conftest import start_while_uncommitted
    from medialib.catalog.films import FilmChanges, add_film
    from medialib.library import Library

    with Library.open(lib_dir / "config.toml", env={}) as lib:
        with lib.transaction() as s:
            add_film(s, "first", "x", FilmChanges(title="First"))
            s.flush()
            second = start_while_uncommitted(s, lib_dir / "config.toml", "film", "add", "x", "--title", "Second")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert err.strip() == "error: film 'x' already exists", err
        assert [f["title"] for f in lib.films()] == ["First"]
