"""Proxies, audio analysis and technical QC.

Argument builders, parsers and QC rules are tested as pure functions (on
synthetic probe data and captured ffmpeg output); then real ffmpeg makes
proxies of every awkward source in the ``sources`` fixture. Test recipes use
``preset=ultrafast`` to keep the suite quick on two cores.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medialib.errors import ConfigError, ToolFailed
from medialib.media import analysis, proxy, qc
from medialib.media.ffmpeg import FFmpeg, file_url
from medialib.media.probe import tech_info
from medialib.media.types import SourceMedia


def media(ff: FFmpeg, path: Path) -> SourceMedia:
    probe = ff.probe(path)
    return SourceMedia(path, tech_info(probe, path.name), probe)


def fake_media(
    width: int = 640,
    height: int = 360,
    *,
    sar: str = "1:1",
    rotation: int = 0,
    field_order: str = "progressive",
    channels: int | None = 2,
    layout: str = "stereo",
    duration: float = 4.0,
    rate: str = "25/1",
    avg_rate: str | None = None,
    nb_frames: int | None = None,
) -> SourceMedia:
    """A SourceMedia from a hand-written probe: for the pure functions."""
    video = {
        "index": 0, "codec_type": "video", "codec_name": "h264", "width": width, "height": height,
        "sample_aspect_ratio": sar, "r_frame_rate": rate, "avg_frame_rate": avg_rate or rate,
        "field_order": field_order, "duration": str(duration),
    }  # fmt: skip
    if nb_frames is not None:
        video["nb_frames"] = str(nb_frames)
    if rotation:
        video["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": -rotation}]
    streams = [video]
    if channels:
        streams.append({"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": channels,
                        "channel_layout": layout, "sample_rate": "48000"})  # fmt: skip
    probe = {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": str(duration)}, "streams": streams}
    return SourceMedia(Path("/nonexistent/source.mp4"), tech_info(probe, "source.mp4"), probe)


FAST = {"preset": "ultrafast"}
R720 = ("proxy-720", proxy.check_recipe("proxy-720", FAST))
R360 = ("proxy-360", proxy.check_recipe("proxy-360", FAST))
ANALYSIS = analysis.check_analysis_recipe("analysis", {})


# --- proxy_size -------------------------------------------------------------------


def test_proxy_size_anamorphic_uses_the_display_aspect():
    src = fake_media(720, 576, sar="64:45")
    assert src.display_size == (1024, 576)
    assert proxy.proxy_size(src, 360) == (640, 360)
    assert proxy.proxy_size(src, 720) == (1024, 576)  # short side 576 < 720: not upscaled


def test_proxy_size_portrait_is_not_upscaled():
    src = fake_media(640, 360, rotation=90)
    assert src.display_size == (360, 640)
    assert proxy.proxy_size(src, 720) == (360, 640)
    assert proxy.proxy_size(src, 360) == (360, 640)
    assert proxy.proxy_size(fake_media(1920, 1080, rotation=270), 720) == (720, 1280)


def test_proxy_size_odd_source_gives_even_numbers():
    src = fake_media(853, 481)
    assert proxy.proxy_size(src, 720) == (852, 480)
    assert proxy.proxy_size(src, 360) == (638, 360)


def test_proxy_size_4k():
    src = fake_media(3840, 2160)
    assert proxy.proxy_size(src, 720) == (1280, 720)
    assert proxy.proxy_size(src, 360) == (640, 360)


@given(
    width=st.integers(16, 4096),
    height=st.integers(16, 4096),
    sar=st.sampled_from(["1:1", "64:45", "16:15", "4:3", "8:9"]),
    rotation=st.sampled_from([0, 90, 180, 270]),
    target=st.sampled_from([144, 240, 360, 480, 720, 1080]),
)
def test_proxy_size_is_even_never_upscaled_and_keeps_the_shape(width, height, sar, rotation, target):
    src = fake_media(width, height, sar=sar, rotation=rotation)
    w, h = proxy.proxy_size(src, target)
    shown_w, shown_h = src.display_size
    assert w % 2 == 0 and h % 2 == 0
    assert w <= max(shown_w, 2) and h <= max(shown_h, 2)
    assert min(w, h) == max(2, min(target, shown_w, shown_h) // 2 * 2)
    if min(w, h) >= 32:  # rounding to even moves the ratio by at most a pixel or two
        assert abs(w / h - shown_w / shown_h) <= 2.5 / min(w, h) * max(w / h, 1)


# --- proxy_args -------------------------------------------------------------------

LOUDNESS = {"input_i": -30.0, "input_tp": -29.0, "input_lra": 1.5, "input_thresh": -40.0, "target_offset": 0.2}


def _graph(args: list[str]) -> str:
    return args[args.index("-filter_complex") + 1]


def test_proxy_args_decode_once_and_write_every_rendition():
    src = fake_media(1920, 1080)
    outs = [Path("/w/proxy-720.mp4"), Path("/w/proxy-360.mp4")]
    args = proxy.proxy_args(src, [R720, R360], outs, {"audio": True, "loudness": LOUDNESS}, ANALYSIS,
                            formats=["mov", "matroska"])  # fmt: skip
    assert args.count("-i") == 1
    assert args[: args.index("-i") + 2] == [
        "-protocol_whitelist", "file,pipe", "-format_whitelist", "mov,matroska", "-i", file_url(src.path),
    ]  # fmt: skip
    graph = _graph(args)
    assert graph.startswith("[0:0]bwdif=mode=send_frame:parity=auto:deint=interlaced,split=3[v0][v1][vb];")
    assert "[v0]scale=1280:720,setsar=1,format=yuv420p[o0]" in graph
    assert "[v1]scale=640:360,setsar=1,format=yuv420p[o1]" in graph
    assert "[vb]scale=160:-2,blackdetect=d=0.5:pix_th=0.1,nullsink" in graph
    assert (
        "[0:a:0]aformat=channel_layouts=stereo,loudnorm=I=-16:TP=-1:LRA=11:measured_I=-30.00:measured_TP=-29.00"
        ":measured_LRA=1.50:measured_thresh=-40.00:offset=0.20:linear=true,"
        "aresample=48000,asplit=2[a0][a1]"
    ) in graph
    assert [args[i + 1] for i, a in enumerate(args) if a == "-map"] == ["[o0]", "[a0]", "[o1]", "[a1]"]
    assert args.count("expr:gte(t,n_forced*2)") == 2
    assert args.count("+faststart") == 2
    assert args.count("-map_metadata") == args.count("-map_chapters") == 2
    assert args[args.index("-crf") + 1] == "23" and args[len(args) - 1 - args[::-1].index("-crf") + 1] == "24"
    assert args[args.index("-maxrate") + 1] == "3M" and args[args.index("-b:a") + 1] == "128k"
    assert args[-1] == file_url(outs[1]) and file_url(outs[0]) in args


def test_proxy_args_read_the_film_not_a_cover_picture_that_comes_first():
    src = fake_media()
    cover = {"index": 0, "codec_type": "video", "codec_name": "mjpeg", "width": 600, "height": 600,
             "disposition": {"attached_pic": 1}}  # fmt: skip
    streams = [cover] + [{**s, "index": s["index"] + 1} for s in src.probe["streams"]]
    probe = {**src.probe, "streams": streams}
    src = SourceMedia(src.path, tech_info(probe, "cover.mp4"), probe)
    args = proxy.proxy_args(src, [R360], [Path("/w/p.mp4")], None, ANALYSIS)
    assert _graph(args).startswith("[0:1]bwdif=")


def test_proxy_args_without_audio_have_no_audio_at_all():
    args = proxy.proxy_args(fake_media(channels=None), [R360], [Path("/w/p.mp4")],
                            {"audio": False, "loudness": None, "silences": []}, ANALYSIS)  # fmt: skip
    assert "[0:a:0]" not in _graph(args) and "loudnorm" not in _graph(args)
    assert "-c:a" not in args and "[a0]" not in args
    assert "split=2[v0][vb]" in _graph(args)


@pytest.mark.parametrize("data", [None, {"audio": True, "loudness": {**LOUDNESS, "input_i": None}}])
def test_proxy_args_skip_loudnorm_when_loudness_was_not_measured(data):
    args = proxy.proxy_args(fake_media(), [R360], [Path("/w/p.mp4")], data, ANALYSIS)
    assert "loudnorm" not in _graph(args)
    assert "[0:a:0]aformat=channel_layouts=stereo,aresample=48000,asplit=1[a0]" in _graph(args)
    assert args[args.index("-ac") + 1] == "2"


def test_proxy_args_deinterlace_every_frame_of_an_interlaced_source():
    args = proxy.proxy_args(fake_media(720, 576, field_order="tt"), [R360], [Path("/w/p.mp4")], None, ANALYSIS)
    assert "bwdif=mode=send_frame:parity=auto:deint=all," in _graph(args)


def test_proxy_args_follow_the_recipes():
    recipe = proxy.check_recipe("small", {"height": 240, "crf": 30, "keyframe_interval": 4, "audio_bitrate": "64k",
                                          "maxrate": "500k", "bufsize": "1M", "preset": "medium"})  # fmt: skip
    args = proxy.proxy_args(fake_media(), [("small", recipe)], [Path("/w/small.mp4")], None,
                            {"black_min": 1.5, "black_pixel": 0.2})  # fmt: skip
    assert "scale=426:240" in _graph(args) and "blackdetect=d=1.5:pix_th=0.2" in _graph(args)
    for flag, value in [
        ("-crf", "30"),
        ("-preset", "medium"),
        ("-b:a", "64k"),
        ("-maxrate", "500k"),
        ("-bufsize", "1M"),
        ("-force_key_frames", "expr:gte(t,n_forced*4)"),
        ("-fps_mode", "vfr"),
    ]:
        assert args[args.index(flag) + 1] == value


# --- recipes ------------------------------------------------------------------------


def test_check_recipe_fills_defaults():
    assert proxy.check_recipe("proxy-720", {}) == proxy.DEFAULTS
    assert proxy.check_recipe("proxy-360", {"crf": 26}) == {**proxy.DEFAULT_RECIPES["proxy-360"], "crf": 26}
    assert proxy.check_recipe("web", {"kind": "proxy", "height": 480})["height"] == 480
    analysis_recipe = proxy.check_recipe("analysis", {"kind": "analysis", "loudness": -23})
    assert analysis_recipe == {**analysis.DEFAULTS, "loudness": -23.0}


@pytest.mark.parametrize(
    ("params", "key", "why"),
    [
        ({"colour": "red"}, "colour", "unknown setting"),
        ({"crf": 52}, "crf", "between 0 and 51"),
        ({"crf": "23"}, "crf", "whole number"),
        ({"crf": True}, "crf", "whole number"),
        ({"preset": "fastest"}, "preset", "must be one of ultrafast"),
        ({"maxrate": "3m"}, "maxrate", 'like "128k" or "3M"'),
        ({"bufsize": 6000000}, "bufsize", 'like "128k" or "3M"'),
        ({"audio_bitrate": "2M"}, "audio_bitrate", "from 16k to 512k"),
        ({"height": 721}, "height", "even number"),
        ({"height": -720}, "height", "even number"),
        ({"keyframe_interval": 0}, "keyframe_interval", "between 0.1 and 60"),
        ({"kind": "poster"}, "kind", "expected 'proxy' or 'analysis'"),
        ({"kind": "analysis", "loudness": 3}, "loudness", "between -70 and -5"),
        ({"kind": "analysis", "black_pixel": "dark"}, "black_pixel", "must be a number"),
        ({"kind": "analysis", "height": 720}, "height", "unknown setting for an analysis recipe"),
    ],
)
def test_check_recipe_names_the_bad_key(params, key, why):
    with pytest.raises(ConfigError) as err:
        proxy.check_recipe("web", params)
    assert err.value.key == f"recipes.web.{key}"
    assert why in str(err.value)
    assert str(err.value).startswith(f"configuration error: recipes.web.{key}: ")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 61])
def test_recipe_names_must_be_safe_file_names(name):
    with pytest.raises(ConfigError):
        proxy.check_recipe(name, {})


# --- parsing ffmpeg's stderr -----------------------------------------------------------

LOUDNORM_STDERR = """\
size=N/A time=00:00:02.02 bitrate=N/A speed=55.6x
video:0kB audio:1140kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown
[Parsed_loudnorm_2 @ 0x56109de21200] \n{
\t"input_i" : "-21.77",
\t"input_tp" : "-21.03",
\t"input_lra" : "0.00",
\t"input_thresh" : "-31.77",
\t"output_i" : "-16.06",
\t"output_tp" : "-15.26",
\t"output_lra" : "0.00",
\t"output_thresh" : "-26.06",
\t"normalization_type" : "linear",
\t"target_offset" : "0.06"
}
"""


def test_parse_loudnorm():
    assert analysis.parse_loudnorm(LOUDNORM_STDERR) == {
        "input_i": -21.77, "input_tp": -21.03, "input_lra": 0.0, "input_thresh": -31.77, "target_offset": 0.06,
    }  # fmt: skip


def test_parse_loudnorm_digital_silence_is_none():
    silent = LOUDNORM_STDERR.replace('"-21.77"', '"-inf"').replace('"-21.03"', '"-inf"').replace('"0.06"', '"inf"')
    got = analysis.parse_loudnorm(silent)
    assert got is not None
    assert got["input_i"] is None and got["input_tp"] is None and got["target_offset"] is None
    assert got["input_thresh"] == -31.77
    assert analysis.parse_loudnorm("no json here\n") is None


def test_parse_silences_closes_an_open_silence_at_the_duration():
    stderr = (
        "[silencedetect @ 0x563d830f6ac0] silence_start: -0.0213\n"
        "[silencedetect @ 0x563d830f6ac0] silence_end: 2.5 | silence_duration: 2.52\n"
        "size=N/A time=00:00:00.02 bitrate=N/A speed=N/A    [silencedetect @ 0x5] silence_start: 7.25\n"
        "[silencedetect @ 0x5] silence_end: 19.75 | silence_duration: 12.5\n"
        "[silencedetect @ 0x5] silence_start: 58\n"
    )
    assert analysis.parse_silences(stderr, 60.0) == [[0.0, 2.5], [7.25, 19.75], [58.0, 60.0]]
    assert analysis.parse_silences("", 60.0) == []


def test_parse_black():
    stderr = (
        "frame=   75 fps=0.0 q=-1.0 Lsize=       3kB time=00:00:02.96 bitrate=   7.6kbits/s speed=61.1x\n"
        "[blackdetect @ 0x557e7bf15f00] black_start:0 black_end:2.96 black_duration:2.96\n"
        "[blackdetect @ 0x557e7bf15f00] black_start:10.04 black_end:13.28 black_duration:3.24\n"
    )
    assert proxy.parse_black(stderr) == [[0.0, 2.96], [10.04, 13.28]]


def test_analysis_args_read_the_first_audio_stream_only():
    args = analysis.analysis_args(fake_media(), ANALYSIS, formats=["mov"])
    assert args.count("-i") == 1 and "-vn" in args and args[-3:] == ["-f", "null", "-"]
    graph = _graph(args)
    assert graph.startswith("[0:a:0]aformat=channel_layouts=stereo,asplit=2")
    assert "loudnorm=I=-16:TP=-1:LRA=11:print_format=json" in graph
    assert "silencedetect=noise=-50dB:d=2" in graph


def test_analyse_audio_without_audio_runs_nothing():
    ff = FFmpeg(ffmpeg="/nonexistent/ffmpeg", ffprobe="/nonexistent/ffprobe")
    result = analysis.analyse_audio(ff, fake_media(channels=None), ANALYSIS)
    assert result.data == {"audio": False, "loudness": None, "silences": []}
    assert result.outputs == []


# --- faststart ----------------------------------------------------------------------------


def _box(kind: bytes, payload: bytes = b"", large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_mp4_boxes_and_faststart(tmp_path):
    fast = tmp_path / "fast.mp4"
    fast.write_bytes(_box(b"ftyp", b"isom") + _box(b"moov", b"x" * 20) + _box(b"mdat", b"m" * 50, large=True))
    assert proxy.mp4_boxes(fast) == [("ftyp", 0, 12), ("moov", 12, 28), ("mdat", 40, 66)]
    assert proxy.is_faststart(fast)
    slow = tmp_path / "slow.mp4"
    slow.write_bytes(_box(b"ftyp", b"isom") + _box(b"free") + _box(b"mdat", b"moov" * 5) + _box(b"moov"))
    assert not proxy.is_faststart(slow)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(_box(b"ftyp") + struct.pack(">I4s", 3, b"moov"))
    assert proxy.mp4_boxes(broken) == [("ftyp", 0, 8)] and not proxy.is_faststart(broken)


# --- QC findings --------------------------------------------------------------------------


def _codes(found: list[qc.Finding]) -> list[str]:
    return [f.code for f in found]


def test_clock():
    assert qc.clock(72.9) == "00:01:12"
    assert qc.clock(3 * 3600 + 5) == "03:00:05"
    assert qc.clock(-1) == "00:00:00"


def test_a_clean_film_has_no_findings():
    m = qc.measurements(fake_media(duration=60.0, nb_frames=1500),
                        {"audio": True, "loudness": {**LOUDNESS, "input_i": -18.0, "input_tp": -3.0}, "silences": []},
                        {"black": [], "video_frames": 1500, "video_duration": 60.0})  # fmt: skip
    assert qc.findings(m, qc.DEFAULT_THRESHOLDS) == []
    assert m["integrated_lufs"] == -18.0 and m["true_peak"] == -3.0 and m["loudness_range"] == 1.5
    assert m["black_start"] == m["black_end"] == 0.0 and m["black_inside"] == []
    assert m["variable_frame_rate"] is False and m["not_measured"] == []
    assert (m["display_width"], m["display_height"]) == (640, 360)
    assert (m["audio_channels"], m["channel_layout"]) == (2, "stereo")


def test_black_stretches_are_split_by_place():
    m = qc.measurements(fake_media(duration=120.0), None,
                        {"black": [[0.0, 3.2], [72.4, 76.5], [80.0, 81.0], [117.0, 119.96]]})  # fmt: skip
    assert (m["black_start"], m["black_end"]) == (3.2, 2.96)
    assert m["black_inside"] == [[72.4, 76.5], [80.0, 81.0]]
    found = [f for f in qc.findings(m) if f.code.startswith("black")]
    assert [(f.level, f.code, f.message, f.at) for f in found] == [
        ("warning", "black_start", "3.2 s of black at the start", 0.0),
        ("warning", "black_inside", "4.1 s of black at 00:01:12", 72.4),
        ("warning", "black_end", "3.0 s of black at the end (from 00:01:57)", 117.04),
    ]


def test_all_black_is_one_error_not_three_warnings():
    m = qc.measurements(fake_media(duration=3.0), None, {"black": [[0.0, 2.96]]})
    found = qc.findings(m)
    assert _codes(found) == ["all_black", "not_measured"]
    assert found[0].level == "error" and found[0].message == "the picture is black for 99% of the film"


def test_silence_findings():
    loud = {**LOUDNESS, "input_i": -20.0}
    data = {"audio": True, "loudness": loud, "silences": [[5.0, 17.5], [40, 45]]}
    m = qc.measurements(fake_media(duration=100.0), data, {"black": []})
    found = qc.findings(m)
    assert [(f.code, f.message, f.at) for f in found] == [("silence", "12.5 s of silence at 00:00:05", 5.0)]
    m = qc.measurements(fake_media(duration=100.0), {"audio": True, "loudness": {k: None for k in LOUDNESS},
                                                     "silences": [[0.0, 100.0]]}, {"black": []})  # fmt: skip
    assert _codes(qc.findings(m)) == ["all_silent"]
    assert m["integrated_lufs"] is None


def test_loudness_and_peak_findings_and_thresholds():
    def run(i: float, tp: float, thresholds: dict | None = None) -> list[str]:
        data = {"audio": True, "loudness": {**LOUDNESS, "input_i": i, "input_tp": tp}, "silences": []}
        return _codes(qc.findings(qc.measurements(fake_media(duration=30.0), data, {"black": []}), thresholds))

    assert run(-34.0, -20.0) == ["loudness_low"]
    assert run(-6.5, -0.2) == ["loudness_high", "true_peak"]
    assert run(-34.0, -20.0, {"loudness_min": -36}) == []
    assert run(-20.0, -0.5, {"true_peak_max": 0.0}) == []
    data = {"audio": True, "loudness": {**LOUDNESS, "input_i": -34.2}, "silences": []}
    (low,) = qc.findings(qc.measurements(fake_media(duration=30.0), data, {"black": []}))
    assert low.level == "warning"
    assert low.message == "quiet: -34.2 LUFS integrated, below -30 LUFS (before normalisation)"


def test_source_property_findings():
    m = qc.measurements(fake_media(720, 576, field_order="tt", channels=None, duration=0.5), None, None)
    found = qc.findings(m)
    assert [(f.level, f.code) for f in found] == [
        ("error", "no_audio"), ("warning", "short"), ("info", "interlaced"), ("info", "not_measured"),
    ]  # fmt: skip
    assert found[1].message == "only 0.50 s long (under 1 s)"
    assert found[2].message == "interlaced source (top field first): deinterlaced in the proxies"
    assert found[3].message == "not measured yet: black"
    assert m["silences"] == [] and m["black"] is None and m["black_start"] is None
    assert _codes(qc.findings(m, {"audio_required": False}))[0] == "short"
    m = qc.measurements(fake_media(), None, None)
    assert qc.findings(m)[-1].message == "not measured yet: loudness, silences, black"
    assert m["integrated_lufs"] is None and m["silences"] is None


def test_variable_frame_rate():
    # MP4 records a frame count: 50 frames in 3 s is not 30 fps.
    assert qc.variable_frame_rate(fake_media(duration=3.0, rate="30/1", nb_frames=50), None) is True
    assert qc.variable_frame_rate(fake_media(duration=3.0, rate="30/1", nb_frames=90), None) is False
    assert qc.variable_frame_rate(fake_media(duration=10.0, rate="30000/1001", nb_frames=300), None) is False
    # Matroska does not: the proxy pass counts the frames it kept.
    mkv = fake_media(duration=3.0, rate="30/1")
    assert qc.variable_frame_rate(mkv, {"video_frames": 50, "video_duration": 2.933}) is True
    assert qc.variable_frame_rate(mkv, None) is False  # nominal and average agree: nothing better to go on
    assert qc.variable_frame_rate(fake_media(rate="30/1", avg_rate="24/1"), None) is True
    m = qc.measurements(mkv, None, {"black": [], "video_frames": 50, "video_duration": 2.933})
    assert "vfr" in _codes(qc.findings(m))


@pytest.mark.parametrize(
    ("thresholds", "key"),
    [({"loudnes_min": -30}, "qc.loudnes_min"), ({"silence_max": "long"}, "qc.silence_max"),
     ({"all_black_share": 1.5}, "qc.all_black_share"), ({"audio_required": 1}, "qc.audio_required")],
)  # fmt: skip
def test_bad_thresholds_are_config_errors(thresholds, key):
    with pytest.raises(ConfigError) as err:
        qc.findings(qc.measurements(fake_media(), None, None), thresholds)
    assert err.value.key == key


def test_every_threshold_is_documented():
    source = Path(qc.__file__).read_text()
    for key in qc.DEFAULT_THRESHOLDS:
        line = next(ln for ln in source.splitlines() if ln.strip().startswith(f'"{key}":'))
        previous = source.splitlines()[source.splitlines().index(line) - 1].strip()
        assert previous.startswith("#"), f"threshold {key} has no comment"


def test_report_is_json_ready():
    rep = qc.report(fake_media(channels=None), None, {"black": []})
    assert rep["passed"] is False
    assert json.loads(json.dumps(rep))["findings"][0] == {"level": "error", "code": "no_audio",
                                                          "message": "no audio stream", "at": None}  # fmt: skip


# --- real ffmpeg ---------------------------------------------------------------------------


def _ffprobe_json(ff: FFmpeg, path: Path, *args: str) -> dict:
    """An independent ffprobe look at an output (not through the code under test)."""
    argv = [ff.ffprobe, "-v", "error", "-protocol_whitelist", "file", "-of", "json", *args, file_url(path)]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout)


def _check_output(ff: FFmpeg, src: SourceMedia, path: Path, size: tuple[int, int]) -> dict:
    probe = _ffprobe_json(ff, path, "-show_format", "-show_streams")
    video = [s for s in probe["streams"] if s["codec_type"] == "video"]
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1
    assert (video[0]["codec_name"], video[0]["pix_fmt"]) == ("h264", "yuv420p")
    assert (video[0]["width"], video[0]["height"]) == size
    assert video[0].get("sample_aspect_ratio", "1:1") == "1:1"
    assert "side_data_list" not in video[0]  # no display matrix: shown as stored
    assert video[0]["field_order"] == "progressive"
    if src.has_audio:
        assert [(a["codec_name"], a["channels"], a["channel_layout"]) for a in audio] == [("aac", 2, "stereo")]
        assert audio[0]["sample_rate"] == "48000"
    else:
        assert audio == []
    assert abs(float(probe["format"]["duration"]) - src.duration) <= 0.5
    assert "tags" not in probe["format"] or set(probe["format"]["tags"]) <= {
        "major_brand", "minor_version", "compatible_brands", "encoder"}  # fmt: skip
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart, seen crudely
    return probe


CASES = {
    # source: (renditions, proxy sizes, QC finding codes expected)
    "normal.mp4": ([R720, R360], [(640, 360), (640, 360)], []),
    "anamorphic.mp4": ([R360], [(640, 360)], []),
    "portrait.mp4": ([R720], [(360, 640)], []),
    "uhd60.mp4": ([R720], [(1280, 720)], []),
    "odd.mkv": ([R360], [(638, 360)], []),
    "silent.mp4": ([R360], [(320, 240)], ["no_audio"]),
    "surround.mkv": ([R360], [(320, 240)], []),
    "black.mp4": ([R360], [(320, 240)], ["all_black"]),
    "interlaced.mp4": ([R360], [(450, 360)], ["interlaced"]),
    "vfr.mkv": ([R360], [(320, 240)], ["no_audio", "vfr"]),
    "short.mp4": ([R360], [(320, 240)], ["short"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_proxies_and_qc_of_real_sources(ff, sources, tmp_path, name):
    renditions, sizes, codes = CASES[name]
    src = media(ff, sources[name])
    audio = analysis.analyse_audio(ff, src, ANALYSIS)
    assert audio.data["audio"] is src.has_audio
    progress: list[float] = []
    result = proxy.make_proxies(ff, src, renditions, tmp_path, audio.data, ANALYSIS,
                                on_progress=lambda done, speed: progress.append(done))  # fmt: skip

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.mp4" for n, _ in renditions)  # no leftovers
    assert progress and progress[-1] == 1.0 and all(0.0 <= p <= 1.0 for p in progress)
    for (rname, _), out, size in zip(renditions, result.outputs, sizes, strict=True):
        assert (out.name, out.path) == (f"{rname}.mp4", tmp_path / f"{rname}.mp4")
        assert (out.kind, out.mime) == ("proxy", "video/mp4")
        assert (out.width, out.height) == size
        assert out.duration is not None and abs(out.duration - src.duration) <= 0.5
        probe = _check_output(ff, src, out.path, size)

    m = qc.measurements(src, audio.data, result.data)
    assert sorted(_codes(qc.findings(m))) == sorted(codes)

    if name == "surround.mkv":
        assert (m["audio_channels"], m["channel_layout"]) == (6, "5.1")
    if name == "uhd60.mp4":
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        assert video["avg_frame_rate"] == "60/1"
    if name == "vfr.mkv":
        assert result.data["video_frames"] == 50  # every source frame kept, none duplicated
    if name == "black.mp4":
        assert result.data["black"] == [[0.0, 2.96]]
    if name == "interlaced.mp4":
        assert m["interlaced"] and result.data["deinterlaced"] == "all frames"
    if src.has_audio:
        assert result.data["loudnorm"] is True


@pytest.fixture(scope="module")
def tone(ff, tmp_path_factory) -> Path:
    """6 s, 320x180, a 1 kHz tone at -30 dBFS that falls silent at 3.5 s."""
    path = tmp_path_factory.mktemp("tone") / "tone.mp4"
    wave = "0.0316*sin(2*PI*1000*t)*lt(t\\,3.5)"
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=6",
            "-f", "lavfi", "-i", f"aevalsrc={wave}|{wave}:s=48000:d=6",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-t", "6", str(path)], what="tone clip")  # fmt: skip
    return path


def test_keyframes_loudness_and_silence_through_a_proxy(ff, tone, tmp_path):
    src = media(ff, tone)
    measured = analysis.analyse_audio(ff, src, ANALYSIS).data
    assert measured["loudness"]["input_i"] == pytest.approx(-30.0, abs=1.0)
    assert measured["silences"] == [[pytest.approx(3.5, abs=0.05), src.duration]]

    result = proxy.make_proxies(ff, src, [R360], tmp_path, measured, ANALYSIS)
    out = result.outputs[0].path
    assert (result.outputs[0].width, result.outputs[0].height) == (320, 180)

    frames = _ffprobe_json(ff, out, "-skip_frame", "nokey", "-select_streams", "v:0",
                           "-show_entries", "frame=pts_time")["frames"]  # fmt: skip
    keys = [float(f["pts_time"]) for f in frames]
    for forced in (0.0, 2.0, 4.0):
        assert any(abs(k - forced) < 0.05 for k in keys), keys
    assert all(b - a <= 2.05 for a, b in zip(keys, [*keys[1:], src.duration], strict=True)), keys

    after = analysis.analyse_audio(ff, media(ff, out), ANALYSIS).data
    assert after["loudness"]["input_i"] == pytest.approx(-16.0, abs=1.5)
    assert after["loudness"]["input_tp"] <= -1.0 + 0.5
    assert after["silences"][0][0] == pytest.approx(3.5, abs=0.1)


def test_verify_proxy_names_the_output_and_the_problem(ff, sources):
    src = media(ff, sources["normal.mp4"])  # a real MP4, but not faststart
    with pytest.raises(ToolFailed, match=r"^checking proxy normal\.mp4: the moov index is not before the media data"):
        proxy.verify_proxy(ff, src, sources["normal.mp4"], (640, 360))
    with pytest.raises(ToolFailed, match=r"^checking proxy p\.mp4: picture is 640x360, expected 320x180$"):
        proxy.verify_proxy(ff, src, sources["normal.mp4"], (320, 180), name="p.mp4")
    short = media(ff, sources["short.mp4"])
    with pytest.raises(ToolFailed, match=r"lasts 4\.\d\d s but the source lasts 0\.5\d s"):
        proxy.verify_proxy(ff, short, sources["normal.mp4"], (640, 360))


def test_make_proxies_leaves_no_partial_file_with_an_ffmpeg_that_crashes(sources, tmp_path):
    crash = tmp_path / "ffmpeg-that-crashes"
    # Writes something to its last output, then dies the way an OOM kill would.
    crash.write_text('#!/bin/sh\nfor last; do :; done\necho partial > "${last#file:}"\n'
                     'echo "Conversion failed: out of memory" >&2\nexit 137\n')  # fmt: skip
    crash.chmod(0o755)
    ff = FFmpeg(ffmpeg=str(crash), formats=["mov"])
    src = media(FFmpeg(formats=["mov"]), sources["normal.mp4"])
    work = tmp_path / "work"
    with pytest.raises(ToolFailed, match=r"proxies of normal\.mp4: Conversion failed: out of memory \(exit 137\)"):
        proxy.make_proxies(ff, src, [R720, R360], work, None, ANALYSIS)
    assert list(work.iterdir()) == []
