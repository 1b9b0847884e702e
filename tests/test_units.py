"""Pure logic: probe parsing, argument builders, validation, the error line."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medialib.catalog import validate
from medialib.errors import BadInput, MediaError
from medialib.media.ffmpeg import file_url, last_line, probe_args, tail_decode_args
from medialib.media.probe import rotation_of, tech_info
from medialib.storage.local import content_key


def probe(streams, **fmt):
    return {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "10.0", **fmt}, "streams": streams}


VIDEO = {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080,
         "sample_aspect_ratio": "1:1", "display_aspect_ratio": "16:9", "avg_frame_rate": "30000/1001"}  # fmt: skip
AUDIO = {"codec_type": "audio", "codec_name": "aac", "channels": 2, "sample_rate": "48000"}


def test_tech_info_summary():
    info = tech_info(probe([VIDEO, AUDIO], bit_rate="5000000", tags={"major_brand": "isom"}), "x.mp4")
    assert info.container == "mp4" and info.extension == "mp4"
    assert info.frame_rate == 29.97 and info.display_aspect_ratio == "16:9"
    assert (info.audio_codec, info.channels, info.sample_rate, info.bit_rate) == ("aac", 2, 48000, 5000000)


def test_quicktime_brand_keeps_mov():
    assert tech_info(probe([VIDEO], tags={"major_brand": "qt  "}), "x").extension == "mov"


def test_dar_computed_from_sar_when_missing():
    video = {**VIDEO, "width": 720, "height": 576, "sample_aspect_ratio": "64:45", "display_aspect_ratio": None}
    assert tech_info(probe([video]), "x").display_aspect_ratio == "16:9"


def test_cover_art_is_not_a_video():
    cover = {**VIDEO, "codec_name": "mjpeg", "disposition": {"attached_pic": 1}}
    with pytest.raises(MediaError, match="x.m4a: no video stream \\(audio only\\)"):
        tech_info(probe([AUDIO, cover]), "x.m4a")


@pytest.mark.parametrize("duration", [None, "0", "-1", "N/A", "nan"])
def test_no_positive_duration(duration):
    with pytest.raises(MediaError, match="no positive duration"):
        tech_info({"format": {"format_name": "mov", "duration": duration}, "streams": [VIDEO]}, "x")


def test_rotation_conventions():
    assert rotation_of({"side_data_list": [{"rotation": -90}]}) == 90
    assert rotation_of({"side_data_list": [{"rotation": 90}]}) == 270
    assert rotation_of({"tags": {"rotate": "180"}}) == 180
    assert rotation_of({}) == 0


def test_probe_args_whitelist_and_safe_path():
    argv = probe_args("ffprobe", "-evil name.mp4", ["mov", "matroska"])
    assert argv[argv.index("-protocol_whitelist") + 1] == "file,pipe"
    assert argv[argv.index("-format_whitelist") + 1] == "mov,matroska"
    assert argv[-1].startswith("file:/") and argv[-1].endswith("/-evil name.mp4")


def test_tail_decode_args():
    argv = tail_decode_args("ffmpeg", "/a/b.mkv", ["matroska"], 41.5)
    assert argv[argv.index("-ss") + 1] == "41.500"
    assert argv.index("-ss") < argv.index("-i"), "input seeking, not decoding from the start"
    assert "-xerror" in argv and argv[argv.index("-i") + 1] == "file:/a/b.mkv"
    assert tail_decode_args("ffmpeg", "/a", ["mov"], -0.5)[argv.index("-ss") + 1] == "0.000"


def test_file_url_is_absolute():
    assert file_url("rel/x:y.mp4").startswith("file:/")


def test_last_line_strips_component_prefix():
    assert last_line("noise\n[mov,mp4 @ 0x55d] moov atom not found\n\n") == "moov atom not found"
    assert last_line("") == "no message"


def test_content_key():
    sha = "ab" + "cd" + "0" * 60
    assert content_key("originals", sha, "mp4") == f"originals/ab/cd/{sha}.mp4"


@given(st.text(min_size=1, max_size=100))
def test_slug_accepts_only_url_safe(value):
    try:
        validate.slug(value)
    except BadInput:
        return
    assert value == value.lower() and all(c.isascii() and (c.isalnum() or c == "-") for c in value)
    assert not value.startswith("-") and not value.endswith("-") and "--" not in value


@pytest.mark.parametrize("value, expected", [("en", "en"), ("EN-gb", "en-GB"), ("gd", "gd"), ("zh-Hant-TW", "zh-hant-TW")])
def test_language_normalised(value, expected):
    assert validate.language(value) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=timezone.utc)),
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=timezone.utc)),
        ("2026-12-01T09:00:00+02:00", datetime(2026, 12, 1, 7, tzinfo=timezone.utc)),
        ("2026-12-01 09:00", datetime(2026, 12, 1, 9, tzinfo=timezone.utc)),
    ],
)
def test_timestamp(text, expected):
    assert validate.timestamp(text) == expected


def test_default_jobs_doubles_only_when_every_cut_is_a_short_clip(monkeypatch):
    from medialib.jobs import process as process_mod

    monkeypatch.setattr(process_mod.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)

    def task(width: int, height: int, seconds: float) -> process_mod.Task:
        probe = {"format": {"duration": str(seconds)},
                 "streams": [{"codec_type": "video", "width": width, "height": height}]}  # fmt: skip
        return process_mod.Task("f#1", "0" * 64, "k", probe, {}, ["proxy"], [])

    short, long_ = task(640, 360, 3.0), task(1280, 720, 15.0)  # 0.7 and 13.8 million pixel-seconds
    assert process_mod.default_jobs([short, short]) == 6
    assert process_mod.default_jobs([short, long_]) == 3
    assert process_mod.default_jobs([]) == 3
    assert process_mod.default_jobs([task(1920, 1080, 4.0)]) == 6  # 8.3 Mpx s: still short
    assert process_mod.default_jobs([task(1920, 1080, 6.0)]) == 3
    broken = process_mod.Task("f#2", "1" * 64, "k", {}, {}, ["proxy"], [])  # no usable probe: not short
    assert process_mod.default_jobs([short, broken]) == 3
