"""Caption tracks through the CLI: import, check, approve, voiding, export, the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import snapshot

GOOD_SRT = """1
00:00:00,500 --> 00:00:01,900
<i>Hope Street</i>, Glasgow.

2
00:00:02,100 --> 00:00:03,800
<v Ailsa>We rebuilt the repairs service.
"""

GOOD_VTT = "WEBVTT\n\n00:00.500 --> 00:01.900\nHope Street, Glasgow.\n\n00:02.100 --> 00:03.800\nWe rebuilt it.\n"


@pytest.fixture
def film(cli, clips):
    assert cli("film", "add", "hope", "--title", "Hope").code == 0
    assert cli("cut", "add", "hope", str(clips.faststart)).code == 0  # 4 s
    return "hope"


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_import_normalises_and_records(cli, lib_dir, film, tmp_path):
    src = write(tmp_path, "hope.srt", GOOD_SRT.replace("\n", "\r\n").encode("cp1252").decode("cp1252"))
    r = cli("captions", "import", film, str(src), "--lang", "en", "--json")
    assert r.code == 0, r.err
    track = r.json()
    assert track["source_format"] == "srt" and track["origin"] == "human" and track["status"] == "draft"
    stored = lib_dir / "captions" / "hope" / "en.vtt"
    text = stored.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT") and "\r" not in text
    assert "<i>Hope Street</i>" in text and "<v Ailsa>" in text
    assert "00:00:00.500 --> 00:00:01.900" in text
    listed = cli("captions", "list", film, "--json").json()
    assert listed[0]["language"] == "en" and listed[0]["approved"] is False


def test_check_and_approve_then_edits_and_new_cuts_void(cli, lib_dir, film, tmp_path, clips):
    src = write(tmp_path, "hope.vtt", GOOD_VTT)
    assert cli("captions", "import", film, str(src), "--lang", "en").code == 0
    r = cli("captions", "check", film, "--lang", "en", "--json")
    assert r.code == 0, r.out + r.err
    report = r.json()
    assert report["cues"] == 2 and all({"level", "rule", "message"} <= set(f) for f in report["findings"])
    assert cli("captions", "approve", film, "--lang", "en", "--by", "Morag").code == 0
    assert cli("captions", "list", film, "--json").json()[0]["approved"] is True
    gate = {g["gate"]: g for g in cli("review", film, "--json").json()["gates"]}["captions"]
    assert gate["ok"], gate

    # a hand edit of the file voids the approval
    stored = lib_dir / "captions" / "hope" / "en.vtt"
    stored.write_text(stored.read_text().replace("Glasgow", "Govan"))
    state = cli("captions", "list", film, "--json").json()[0]
    assert state["approved"] is False and "edited since Morag approved it" in state["state"]
    assert cli("captions", "approve", film, "--lang", "en", "--by", "Morag").code == 0

    # a new cut voids it too
    assert cli("cut", "add", film, str(clips.video2)).code == 0
    gate = {g["gate"]: g for g in cli("review", film, "--json").json()["gates"]}["captions"]
    assert not gate["ok"] and "not the current cut" in " ".join(gate["reasons"])


def test_approval_refused_with_errors(cli, film, tmp_path):
    three_lines = "WEBVTT\n\n00:00.500 --> 00:02.500\none\ntwo\nthree\n\n00:03.000 --> 00:09.000\nlate\n"
    assert cli("captions", "import", film, str(write(tmp_path, "x.vtt", three_lines)), "--lang", "en").code == 0
    r = cli("captions", "check", film, "--lang", "en", "--json")
    assert r.code == 1
    rules = {(f["level"], f["rule"]) for f in r.json()["findings"]}
    assert ("error", "lines_per_cue") in rules and ("error", "beyond_end") in rules
    r = cli("captions", "approve", film, "--lang", "en", "--by", "Morag")
    assert r.code == 1 and "cannot approve" in r.err and r.err.count("\n") == 1
    assert cli("captions", "list", film, "--json").json()[0]["status"] == "draft"


def test_check_file_outside_the_library(bare_cli, tmp_path):
    src = write(tmp_path, "x.srt", GOOD_SRT)
    r = bare_cli("captions", "check-file", str(src), "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert [c["text"] for c in report["cue_list"]] == ["<i>Hope Street</i>, Glasgow.", "<v Ailsa>We rebuilt the repairs service."]
    assert report["cue_list"][0]["start"] == 0.5
    r = bare_cli("captions", "check-file", str(write(tmp_path, "bad.vtt", "WEBVTTX\n\n00:01.000 --> 00:02.000\nx\n")))
    assert r.code == 2 and "bad.vtt" in r.err


def test_export(cli, film, tmp_path):
    assert cli("captions", "import", film, str(write(tmp_path, "hope.srt", GOOD_SRT)), "--lang", "en").code == 0
    srt = cli("captions", "export", film, "--lang", "en", "--format", "srt").out
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,900\n<i>Hope Street</i>, Glasgow.")
    assert "Ailsa: We rebuilt" in srt
    vtt = cli("captions", "export", film, "--lang", "en").out
    assert vtt.startswith("WEBVTT")
    out = tmp_path / "hls"
    r = cli("captions", "export", film, "--lang", "en", "--format", "hls", "--output", str(out))
    assert r.code == 0, r.err
    names = sorted(p.name for p in out.iterdir())
    assert any(n.endswith(".m3u8") for n in names) and any(n.endswith(".webvtt") or n.endswith(".vtt") for n in names)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "not a text file"),
        ("WEBVTTX\n\n00:01.000 --> 00:02.000\nx\n", "line 1"),
        ("1\n00:00:01,000 --> 00:00:02.000\nmixed\n", "line 2"),
        ("WEBVTT\n\n00:75:00.000 --> 00:76:00.000\nx\n", "line 3"),
        ("just some notes\nabout the film\n", "line 1"),
    ],
)
def test_bad_files_change_nothing(cli, lib_dir, film, tmp_path, content, message):
    src = write(tmp_path, "bad.vtt", content)
    before, audit_before = snapshot(lib_dir), cli("audit", "--json").json()
    r = cli("captions", "import", film, str(src), "--lang", "en")
    assert r.code == 2, (r.code, r.err)
    assert r.err.startswith("error: ") and r.err.count("\n") == 1 and "bad.vtt" in r.err and message in r.err
    assert snapshot(lib_dir) == before and cli("audit", "--json").json() == audit_before


@pytest.mark.parametrize("args, message", [
    (["captions", "import", "hope", "MISSING", "--lang", "en"], "no such file"),
    (["captions", "import", "hope", "GOOD", "--lang", "english"], "invalid language code"),
    (["captions", "import", "ghost", "GOOD", "--lang", "en"], "unknown film 'ghost'"),
    (["captions", "check", "hope", "--lang", "fr"], "no captions track in 'fr'"),
    (["captions", "approve", "hope", "--lang", "fr", "--by", "M"], "no captions track in 'fr'"),
])  # fmt: skip
def test_bad_arguments(cli, lib_dir, film, tmp_path, args, message):
    good = write(tmp_path, "good.vtt", GOOD_VTT)
    args = [str(good) if a == "GOOD" else str(tmp_path / "missing.vtt") if a == "MISSING" else a for a in args]
    before = snapshot(lib_dir)
    r = cli(*args)
    assert r.code == 2 and message in r.err, r.err
    assert snapshot(lib_dir) == before


def test_captions_for_a_film_without_a_cut(cli, tmp_path):
    cli("film", "add", "nocut", "--title", "No cut yet")
    assert cli("captions", "import", "nocut", str(write(tmp_path, "a.vtt", GOOD_VTT)), "--lang", "en").code == 0
    r = cli("captions", "approve", "nocut", "--lang", "en", "--by", "M")
    assert r.code == 1 and "no cut" in r.err


def test_draft_never_replaces_human_captions(cli, film, tmp_path):
    assert cli("captions", "import", film, str(write(tmp_path, "a.vtt", GOOD_VTT)), "--lang", "en").code == 0
    r = cli("captions", "draft", film, "--lang", "en")
    assert r.code == 2 and "human captions" in r.err


def test_draft_then_correct_then_approve(init_cli, ff, tmp_path):
    """The whole draft workflow on real synthetic speech, from `medialib init` on."""
    from medialib.media.samples import make_sample

    clip = make_sample(ff, tmp_path / "speech.mp4", duration=6.0, size="320x240",
                       speech_text="We sat down with the housing office. Together we rebuilt the repairs service.")  # fmt: skip
    lib = tmp_path / "lib"
    assert init_cli("init", str(lib)).code == 0
    cfg = ["--config", str(lib / "config.toml")]
    assert init_cli(*cfg, "film", "add", "talk", "--title", "Talk").code == 0
    assert init_cli(*cfg, "cut", "add", "talk", str(clip)).code == 0
    r = init_cli(*cfg, "captions", "draft", "talk", "--lang", "en", "--json")
    assert r.code == 0, r.err
    track = r.json()
    assert track["origin"] == "machine" and track["cues"] >= 1
    stored = lib / "captions" / "talk" / "en.vtt"
    assert "housing" in stored.read_text().lower()

    r = init_cli(*cfg, "captions", "approve", "talk", "--lang", "en", "--by", "Morag")
    assert r.code == 1 and "machine draft nobody has corrected" in r.err
    stored.write_text(stored.read_text().replace("housing office", "Housing Office"))
    r = init_cli(*cfg, "captions", "approve", "talk", "--lang", "en", "--by", "Morag")
    check = init_cli(*cfg, "captions", "check", "talk", "--lang", "en", "--json").json()
    if check["errors"]:
        assert r.code == 1  # the rulebook still objects: approval must wait
    else:
        assert r.code == 0, r.err
        events = init_cli(*cfg, "audit", "talk", "--json").json()
        assert events[-1]["action"] == "captions.approve" and events[-1]["details"]["machine_draft_corrected"] is True
    # a second draft would overwrite nothing human, but a human import is never replaced by one
    assert init_cli(*cfg, "captions", "import", "talk", str(stored), "--lang", "en").code == 0
    r = init_cli(*cfg, "captions", "draft", "talk", "--lang", "en")
    assert r.code == 2 and "human captions" in r.err
