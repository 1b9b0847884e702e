"""Posters and storyboards: pure helpers, then real ffmpeg on tiny clips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import webvtt

from medialib.errors import BadInput, ConfigError, ToolFailed
from medialib.media import posters, storyboard
from medialib.media.ffmpeg import FFmpeg, file_url
from medialib.media.posters import (
    Candidate,
    FrameStats,
    candidate_times,
    choose_frame,
    frame_stats,
    jpeg_qscale,
    make_posters,
    poster_sizes,
    rejection,
    score_frame,
)
from medialib.media.probe import tech_info
from medialib.media.storyboard import build_vtt, last_grid, make_storyboard, sheet_grids, tile_rects, vtt_timestamp
from medialib.media.types import SourceMedia

IMAGE_FORMATS = ["image2", "jpeg_pipe", "webp_pipe"]
JPEG_MAGIC = b"\xff\xd8\xff"


def media(ff: FFmpeg, path: Path) -> SourceMedia:
    probe = ff.probe(path)
    return SourceMedia(path, tech_info(probe, path.name), probe)


def image_info(path: Path) -> tuple[str, int, int]:
    """(codec, width, height) of an image file, as ffprobe sees it."""
    stream = FFmpeg(formats=IMAGE_FORMATS).probe(path)["streams"][0]
    return stream["codec_name"], stream["width"], stream["height"]


def grey(ff: FFmpeg, path: Path) -> bytes:
    """The decoded picture of an image file as 8-bit grey bytes."""
    argv = ["-protocol_whitelist", "file,pipe", "-format_whitelist", ",".join(IMAGE_FORMATS),
            "-i", file_url(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    return ff.capture(argv, what=f"decoding {path.name}")


def mean_luma(ff: FFmpeg, path: Path) -> float:
    data = grey(ff, path)
    return sum(data) / len(data)


def workdir(path: Path) -> Path:
    """A fresh work folder, as the caller of a derivative operation makes it."""
    path.mkdir()
    return path


def check_image(ff: FFmpeg, path: Path, mime: str, width: int, height: int, *, min_luma: float = 60.0) -> None:
    head = path.read_bytes()[:16]
    if mime == "image/jpeg":
        assert head.startswith(JPEG_MAGIC), head
        codec = "mjpeg"
    else:
        assert head[:4] == b"RIFF" and head[8:12] == b"WEBP", head
        codec = "webp"
    assert image_info(path) == (codec, width, height)
    assert mean_luma(ff, path) > min_luma, f"{path.name} is too dark"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, ff: FFmpeg) -> dict[str, Path]:
    """Clips these tests need beyond the shared sources."""
    d = tmp_path_factory.mktemp("posters-storyboard")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]

    def make(name: str, source: str, *extra: str) -> None:
        ff.run(["-f", "lavfi", "-i", source, *extra, *x264, str(d / name)], what=f"making {name}")

    # Fades in from black over the first 4 of 6 s.
    make("fade.mp4", "testsrc2=size=320x240:rate=25:duration=6", "-vf", "fade=in:st=0:d=4")
    # Black for the first 40% (2.4 s of 6).
    make("late.mp4", "testsrc2=size=320x240:rate=25:duration=6",
         "-vf", "drawbox=c=black:t=fill:enable='lt(t,2.4)'")  # fmt: skip
    # Narrower than every default poster width.
    make("tiny.mp4", "testsrc2=size=200x150:rate=25:duration=1")
    # 25 s with a keyframe every second: a storyboard frame exactly every step.
    make("long.mp4", "testsrc2=size=192x108:rate=10:duration=25", "-g", "10", "-sc_threshold", "0")
    # 12 s with one keyframe only: keyframes are too sparse for a storyboard.
    make("onekey.mp4", "testsrc2=size=192x108:rate=10:duration=12", "-g", "1000", "-sc_threshold", "0")
    # 10 s with a keyframe every second: the poster search can use keyframes.
    every_second = ["-g", "25", "-sc_threshold", "0"]
    make("keyed.mp4", "testsrc2=size=320x240:rate=25:duration=10", *every_second)
    make("keyed-interlaced.mp4", "testsrc2=size=320x240:rate=25:duration=10", *every_second,
         "-flags", "+ildct+ilme", "-top", "1", "-vf", "setfield=tff")  # fmt: skip
    # The same, but every keyframe is black (and nothing else).
    make("black-keys.mp4", "testsrc2=size=320x240:rate=25:duration=10", *every_second,
         "-vf", "drawbox=c=black:t=fill:enable='eq(mod(n,25),0)'")  # fmt: skip
    return {p.name: p for p in d.iterdir()}


# --- posters: pure helpers ----------------------------------------------------


def test_frame_stats_of_uniform_and_checkerboard() -> None:
    flat = frame_stats(bytes([200]) * 64, 8, 8)
    assert (flat.mean, flat.std, flat.detail) == (200, 0, 0)
    board = bytes(255 * ((x + y) % 2) for y in range(8) for x in range(8))
    stats = frame_stats(board, 8, 8)
    assert stats.mean == pytest.approx(127.5)
    assert stats.std == pytest.approx(127.5)
    assert stats.detail == pytest.approx(255)
    with pytest.raises(ValueError):
        frame_stats(b"\0" * 10, 8, 8)


@pytest.mark.parametrize(
    ("stats", "why"),
    [
        (None, "missing"),
        (FrameStats(mean=5, std=3, detail=1), "dark"),
        (FrameStats(mean=30, std=25, detail=4), "dark"),  # a dim frame with some texture is still dark
        (FrameStats(mean=128, std=2, detail=0.5), "blank"),  # a grey card
        (FrameStats(mean=250, std=12, detail=2), "washed-out"),
        (FrameStats(mean=120, std=60, detail=8), None),
    ],
)
def test_rejection(stats: FrameStats | None, why: str | None) -> None:
    assert rejection(stats) == why
    assert (score_frame(stats) == 0) == (why is not None)


def test_score_prefers_contrast_and_detail() -> None:
    soft = FrameStats(mean=120, std=20, detail=2)
    crisp = FrameStats(mean=120, std=60, detail=10)
    assert score_frame(crisp) > score_frame(soft) > 0


def test_choose_frame_all_dark_gives_none() -> None:
    dark = FrameStats(mean=3, std=1, detail=0)
    assert choose_frame([Candidate(t, True, dark) for t in (1.0, 2.0)] + [Candidate(3.0, True, None)]) is None
    assert choose_frame([]) is None


def test_choose_frame_prefers_window_then_rescues_a_fade() -> None:
    good = FrameStats(mean=120, std=60, detail=8)
    # Equal frames: the one in the window wins.
    assert choose_frame([Candidate(9.0, False, good), Candidate(3.0, True, good)]).time == 3.0
    # A window that is all mid-fade (dim copies of the picture) loses to a
    # fully faded-in frame outside it.
    fading = [Candidate(t, True, FrameStats(mean=120 * k, std=60 * k, detail=8 * k))
              for t, k in ((2.0, 0.4), (2.5, 0.55), (3.0, 0.68))]  # fmt: skip
    assert choose_frame([*fading, Candidate(5.0, False, good)]).time == 5.0
    # ...but a normal picture in the window is not beaten by a slightly better one outside.
    fine = FrameStats(mean=115, std=55, detail=7)
    assert choose_frame([Candidate(3.0, True, fine), Candidate(5.0, False, good)]).time == 3.0


def test_candidate_times() -> None:
    tried = candidate_times(100.0, [0.25, 0.45], 9)
    inside = [t for t, w in tried if w]
    assert inside == pytest.approx([25.0, 27.5, 30.0, 32.5, 35.0, 37.5, 40.0, 42.5, 45.0])
    assert [t for t, w in tried if not w] == [10.0, 60.0, 75.0]
    assert candidate_times(10.0, [0.2, 0.4], 1) == [(3.0, True), (1.0, False), (6.0, False), (7.5, False)]
    # Clamped to the last frame, duplicates dropped.
    tried = candidate_times(1.0, [0.9, 1.0], 3, last=0.96)
    assert [t for t, _ in tried] == [0.9, 0.95, 0.96, 0.1, 0.6, 0.75]


@pytest.mark.parametrize(
    ("display", "widths", "sizes"),
    [
        ((1920, 1080), [1280, 640, 320], [(1280, 720), (640, 360), (320, 180)]),
        ((1024, 576), [1280, 640, 320], [(640, 360), (320, 180)]),  # anamorphic PAL 16:9
        ((360, 640), [1280, 640, 320], [(320, 568)]),  # portrait
        ((853, 481), [1280, 640, 320], [(640, 360), (320, 180)]),  # odd size: even heights
        ((320, 240), [1280, 640, 320], [(320, 240)]),  # exactly one width fits
        ((200, 150), [1280, 640, 320], [(200, 150)]),  # none fits: the display width, not upscaled
        ((201, 113), [640], [(201, 114)]),
        ((640, 360), [320, 640, 320], [(640, 360), (320, 180)]),
    ],
)
def test_poster_sizes(display: tuple[int, int], widths: list[int], sizes: list[tuple[int, int]]) -> None:
    assert poster_sizes(display, widths) == sizes
    assert all(h % 2 == 0 for _, h in sizes)


def test_jpeg_qscale() -> None:
    assert jpeg_qscale(85) == 5
    assert jpeg_qscale(80) == 7
    assert jpeg_qscale(100) == jpeg_qscale(94) == 2
    assert jpeg_qscale(1) == 31
    qs = [jpeg_qscale(q) for q in range(1, 101)]
    assert qs == sorted(qs, reverse=True)


def test_argv_builders_whitelist_every_input_and_seek_before_it() -> None:
    argv = posters.candidates_args(Path("/m/-odd:name.mp4"), ["mov", "matroska"], 0, [1.0, 2.5, 4.0], (64, 36))
    assert argv.count("-i") == 3
    for i, arg in enumerate(argv):
        if arg == "-i":
            assert argv[i + 1] == "file:/m/-odd:name.mp4"
            assert argv[i - 2] == "-ss"
            assert argv[i - 6 : i - 2] == ["-protocol_whitelist", "file,pipe", "-format_whitelist", "mov,matroska"]
    assert "hstack=inputs=3" in argv[argv.index("-filter_complex") + 1]
    assert argv[-1] == "-"
    one = posters.candidates_args(Path("/m/a.mp4"), ["mov"], 1, [1.0], (64, 36))
    assert "hstack" not in one[one.index("-filter_complex") + 1]

    outs = [(640, 360, "jpg", Path("/w/poster-640.jpg")), (640, 360, "webp", Path("/w/poster-640.webp"))]
    argv = posters.poster_args(Path("/m/a.mp4"), ["mov"], 0, 12.3456, outs, 85)
    assert argv[argv.index("-ss") + 1] == "12.346"
    assert argv.index("-ss") < argv.index("-i")
    assert argv.count("-i") == 1 and argv.count("-frames:v") == 2
    assert argv[-1] == "file:/w/poster-640.webp"
    assert "-q:v" in argv and argv[argv.index("-q:v") + 1] == "5"

    argv = storyboard.frames_args(Path("/m/a.mp4"), ["mov"], 0, 10.0, (160, 90), Path("/w/f.rgb"))
    assert argv[:2] == ["-skip_frame", "nokey"] and argv.index("-skip_frame") < argv.index("-i")
    assert "-skip_frame" not in storyboard.frames_args(
        Path("/m/a.mp4"), ["mov"], 0, 10.0, (160, 90), Path("/w/f.rgb"), keyframes_only=False
    )


# --- posters: recipes -----------------------------------------------------------


def test_poster_recipe_defaults() -> None:
    recipe = posters.check_recipe("poster", {})
    assert recipe == {"widths": [1280, 640, 320], "formats": ["jpg", "webp"], "quality": 85,
                      "candidates": 9, "window": [0.25, 0.45]}  # fmt: skip
    recipe["widths"].append(1)
    assert posters.DEFAULTS["widths"] == [1280, 640, 320]  # a copy, not the defaults themselves
    assert posters.check_recipe("p", {"widths": [400], "window": [0, 1]})["window"] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"size": 3}, "size"),
        ({"widths": []}, "widths"),
        ({"widths": 640}, "widths"),
        ({"widths": [640, 0]}, "widths"),
        ({"widths": [-320]}, "widths"),
        ({"widths": [640.5]}, "widths"),
        ({"widths": [640, 640]}, "widths"),
        ({"formats": ["png"]}, "formats"),
        ({"formats": "jpg"}, "formats"),
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"quality": "high"}, "quality"),
        ({"quality": True}, "quality"),
        ({"candidates": 0}, "candidates"),
        ({"candidates": 2.5}, "candidates"),
        ({"window": [0.5, 0.2]}, "window"),
        ({"window": [0.2]}, "window"),
        ({"window": [-0.1, 0.3]}, "window"),
        ({"window": ["a", "b"]}, "window"),
    ],
)
def test_bad_poster_recipes(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        posters.check_recipe("poster", params)
    assert err.value.key == f"recipes.poster.{key}"
    assert str(err.value).startswith(f"configuration error: recipes.poster.{key}: ")


# --- posters: real ffmpeg -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sizes", "params"),
    [
        ("normal.mp4", [(640, 360), (320, 180)], {}),
        ("anamorphic.mp4", [(640, 360), (320, 180)], {}),  # 720x576 stored, 16:9 shown
        ("portrait.mp4", [(320, 568)], {}),  # 640x360 stored, rotated
        ("odd.mkv", [(640, 360), (320, 180)], {}),  # 853x481: even heights
        ("uhd60.mp4", [(1280, 720), (640, 360), (320, 180)], {"candidates": 3}),  # 4K: fewer seeks, quicker
        ("short.mp4", [(320, 240)], {}),  # a 320 px source is not upscaled
        ("interlaced.mp4", [(640, 512), (320, 256)], {}),
        ("vfr.mkv", [(320, 240)], {}),
        ("surround.mkv", [(320, 240)], {}),
    ],
)
def test_posters_of_sources(ff: FFmpeg, sources: dict[str, Path], tmp_path: Path, name: str,
                            sizes: list[tuple[int, int]], params: dict) -> None:  # fmt: skip
    src = media(ff, sources[name])
    result = make_posters(ff, src, posters.check_recipe("poster", params), tmp_path)
    assert result.data["chosen_by"] == "search"
    assert result.data["all_dark"] is False
    assert 0 <= result.data["time"] < src.duration
    expected = [(f"poster-{w}.{ext}", w, h) for w, h in sizes for ext in ("jpg", "webp")]
    assert [(o.name, o.width, o.height) for o in result.outputs] == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, _, _ in expected)
    for out in result.outputs:
        assert out.kind == "poster" and out.path == tmp_path / out.name
        assert out.mime == ("image/jpeg" if out.name.endswith(".jpg") else "image/webp")
        check_image(ff, out.path, out.mime, out.width, out.height)
    if name == "portrait.mp4":
        assert all(o.height > o.width for o in result.outputs)
    if name == "short.mp4":  # 0.5 s, one keyframe: the exact frames are searched
        assert result.data["keyframes"] == 1 and result.data["search"] == "exact"


@pytest.mark.parametrize("name", ["keyed.mp4", "keyed-interlaced.mp4"])
def test_poster_search_decodes_keyframes_only(ff: FFmpeg, made: dict[str, Path], tmp_path: Path, name: str) -> None:
    src = media(ff, made[name])
    recipe = posters.check_recipe("poster", {"widths": [320]})
    result = make_posters(ff, src, recipe, workdir(tmp_path / "search"))
    assert result.data["search"] == "keyframes" and result.data["chosen_by"] == "search"
    # The keyframe before each tried time (window 2.5-4.5 s, and 1, 6, 7.5 s), each once.
    tried = result.data["candidates"]
    assert [c["time"] for c in tried] == [2.0, 3.0, 4.0, 1.0, 6.0, 7.0]
    assert [c["in_window"] for c in tried] == [False, True, True, False, False, False]
    assert result.data["keyframes"] == 6
    # Each is the frame at its time: the same picture an exact seek decodes.
    exact = posters.grab_stats(ff, src, [c["time"] for c in tried])
    assert [{k: c[k] for k in ("mean", "std", "detail")} for c in tried] == [s.as_dict() for s in exact]
    assert result.data["time"] in (3.0, 4.0) and result.data["in_window"] is True
    for out in result.outputs:
        check_image(ff, out.path, out.mime, 320, 240)
    # The poster written is that frame: exactly what choosing its time by hand gives
    # (an interlaced keyframe is deinterlaced without its neighbours, so only nearly).
    chosen = make_posters(ff, src, recipe, workdir(tmp_path / "chosen"), at=result.data["time"])
    for out in result.outputs:
        mine, theirs = grey(ff, out.path), grey(ff, tmp_path / "chosen" / out.name)
        if src.interlaced:
            assert sum(abs(a - b) for a, b in zip(mine, theirs)) / len(mine) < 3
        else:
            assert out.path.read_bytes() == (tmp_path / "chosen" / out.name).read_bytes()
    # A time chosen by hand is honoured exactly, not moved to its keyframe.
    between = make_posters(ff, src, recipe, workdir(tmp_path / "between"), at=result.data["time"] + 0.52)
    assert between.data["time"] == result.data["time"] + 0.52 and "search" not in between.data
    assert between.data["frame"] == posters.grab_stats(ff, src, [result.data["time"] + 0.52])[0].as_dict()
    assert between.data["frame"] != chosen.data["frame"]


def test_poster_search_falls_back_to_exact_frames_when_the_keyframes_are_black(
    ff: FFmpeg, made: dict[str, Path], tmp_path: Path
) -> None:
    result = make_posters(ff, media(ff, made["black-keys.mp4"]), posters.check_recipe("poster", {}), tmp_path)
    assert result.data["keyframes"] == 6 and result.data["search"] == "exact"
    assert result.data["chosen_by"] == "search" and result.data["rejected"] is None
    tried = {c["time"]: c for c in result.data["candidates"]}
    assert tried[3.0]["rejected"] == "dark" and tried[2.75].get("rejected") is None  # on and off a keyframe
    assert result.data["time"] % 1.0 != 0.0
    for ext in ("jpg", "webp"):
        assert mean_luma(ff, tmp_path / f"poster-320.{ext}") > 100


def test_poster_skips_a_fade_in(ff: FFmpeg, made: dict[str, Path], tmp_path: Path) -> None:
    result = make_posters(ff, media(ff, made["fade.mp4"]), posters.check_recipe("poster", {}), tmp_path)
    # The fade ends at 4 s; the window (1.5-2.7 s) is all mid-fade.
    assert result.data["time"] >= 3.5, result.data
    assert mean_luma(ff, tmp_path / "poster-320.jpg") > 100


def test_poster_is_not_black_when_the_first_40_percent_is(ff: FFmpeg, made: dict[str, Path], tmp_path: Path) -> None:
    result = make_posters(ff, media(ff, made["late.mp4"]), posters.check_recipe("poster", {}), tmp_path)
    assert result.data["time"] >= 2.4
    assert result.data["chosen_by"] == "search"
    assert any(c.get("rejected") == "dark" for c in result.data["candidates"])
    for ext in ("jpg", "webp"):
        assert mean_luma(ff, tmp_path / f"poster-320.{ext}") > 100


def test_poster_of_an_all_black_film_falls_back_to_the_middle(ff: FFmpeg, sources: dict[str, Path],
                                                              tmp_path: Path) -> None:  # fmt: skip
    result = make_posters(ff, media(ff, sources["black.mp4"]), posters.check_recipe("poster", {}), tmp_path)
    assert result.data["chosen_by"] == "fallback-middle"
    assert result.data["all_dark"] is True
    assert result.data["time"] == pytest.approx(1.5)
    assert result.data["rejected"] == "dark"
    assert all(c["rejected"] == "dark" for c in result.data["candidates"])
    assert [o.name for o in result.outputs] == ["poster-320.jpg", "poster-320.webp"]
    assert mean_luma(ff, tmp_path / "poster-320.jpg") < 10  # what there is, for QC to flag


def test_poster_override_time(ff: FFmpeg, sources: dict[str, Path], tmp_path: Path) -> None:
    src = media(ff, sources["normal.mp4"])
    recipe = posters.check_recipe("poster", {"widths": [320], "formats": ["jpg"]})
    result = make_posters(ff, src, recipe, workdir(tmp_path / "a"), at=1.0)
    assert result.data["chosen_by"] == "override"
    assert result.data["time"] == 1.0
    assert "candidates" not in result.data
    check_image(ff, tmp_path / "a" / "poster-320.jpg", "image/jpeg", 320, 180)
    # Clamped into the film: past the end gives the last frame, before the start the first.
    late = make_posters(ff, src, recipe, workdir(tmp_path / "b"), at=99.0)
    assert src.duration - 0.5 <= late.data["time"] < src.duration
    assert (tmp_path / "b" / "poster-320.jpg").stat().st_size > 0
    assert make_posters(ff, src, recipe, workdir(tmp_path / "c"), at=-3).data["time"] == 0.0
    with pytest.raises(BadInput):
        make_posters(ff, src, recipe, workdir(tmp_path / "d"), at=math.nan)


def test_poster_recipe_widths_formats_and_no_upscale(ff: FFmpeg, sources: dict[str, Path], made: dict[str, Path],
                                                     tmp_path: Path) -> None:  # fmt: skip
    recipe = posters.check_recipe("poster", {"widths": [300, 100], "formats": ["webp"], "quality": 50})
    result = make_posters(ff, media(ff, sources["normal.mp4"]), recipe, workdir(tmp_path / "a"), at=2.0)
    assert [(o.name, o.width, o.height) for o in result.outputs] == [("poster-300.webp", 300, 168),
                                                                      ("poster-100.webp", 100, 56)]  # fmt: skip
    for out in result.outputs:
        check_image(ff, out.path, "image/webp", out.width, out.height)
    # A 200 px source: one poster at its own width.
    result = make_posters(ff, media(ff, made["tiny.mp4"]), posters.check_recipe("poster", {}), workdir(tmp_path / "b"))
    assert [(o.name, o.width, o.height) for o in result.outputs] == [("poster-200.jpg", 200, 150),
                                                                      ("poster-200.webp", 200, 150)]  # fmt: skip
    check_image(ff, tmp_path / "b" / "poster-200.jpg", "image/jpeg", 200, 150)


def test_poster_ffmpeg_failure_raises_toolfailed(ff: FFmpeg, sources: dict[str, Path], tmp_path: Path) -> None:
    good = media(ff, sources["normal.mp4"])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 4096)
    src = SourceMedia(broken, good.info, good.probe)
    with pytest.raises(ToolFailed, match="broken.mp4"):
        make_posters(ff, src, posters.check_recipe("poster", {}), workdir(tmp_path / "a"))
    with pytest.raises(ToolFailed, match="broken.mp4"):
        make_posters(ff, src, posters.check_recipe("poster", {}), workdir(tmp_path / "b"), at=1.0)


# --- storyboard: pure helpers ---------------------------------------------------


def test_vtt_timestamp() -> None:
    assert vtt_timestamp(0) == "00:00:00.000"
    assert vtt_timestamp(25.0) == "00:00:25.000"
    assert vtt_timestamp(3723.4567) == "01:02:03.457"
    assert vtt_timestamp(-0.02) == "00:00:00.000"


@pytest.mark.parametrize(
    ("count", "columns", "rows", "grids"),
    [
        (3, 10, 10, [(3, 1)]),
        (1, 10, 10, [(1, 1)]),
        (100, 10, 10, [(10, 10)]),
        (12, 2, 2, [(2, 2)] * 3),
        (13, 2, 2, [(2, 2)] * 3 + [(1, 1)]),
        (11, 2, 2, [(2, 2)] * 3),  # 3 left: 2x2 with one padding tile (3x1 is too wide)
        (112, 10, 10, [(10, 10), (6, 2)]),  # 12 left: 6x2, no padding (not 10x2 with 8 black tiles)
        (13, 10, 10, [(7, 2)]),  # 13 is prime: one padding tile at most
        (2, 1, 5, [(1, 2)]),
    ],
)
def test_sheet_grids(count: int, columns: int, rows: int, grids: list[tuple[int, int]]) -> None:
    assert sheet_grids(count, columns, rows) == grids
    assert all(c <= columns and r <= rows for c, r in grids)
    assert sum(c * r for c, r in grids) >= count


def test_last_grid_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        last_grid(5, 2, 2)
    with pytest.raises(ValueError):
        last_grid(0, 2, 2)


def test_tile_rects_walk_rows_then_sheets() -> None:
    rects = tile_rects(13, 2, 2, (160, 90))
    assert rects[:5] == [(1, 0, 0, 160, 90), (1, 160, 0, 160, 90), (1, 0, 90, 160, 90), (1, 160, 90, 160, 90),
                         (2, 0, 0, 160, 90)]  # fmt: skip
    assert rects[-1] == (4, 0, 0, 160, 90)


def test_build_vtt_25s_every_10s() -> None:
    assert build_vtt([0.0, 10.0, 20.0], 25.0, (160, 90), 10, 10) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:10.000\nstoryboard-001.jpg#xywh=0,0,160,90\n\n"
        "00:00:10.000 --> 00:00:20.000\nstoryboard-001.jpg#xywh=160,0,160,90\n\n"
        "00:00:20.000 --> 00:00:25.000\nstoryboard-001.jpg#xywh=320,0,160,90\n"
    )


def test_build_vtt_real_times_overflow_and_edges() -> None:
    times = [0.08, 10.04, 21.5, 30.0, 40.0]
    text = build_vtt(times, 41.234, (100, 56), 2, 2)
    cues = text.split("\n\n")[1:]
    assert cues[0] == "00:00:00.000 --> 00:00:10.040\nstoryboard-001.jpg#xywh=0,0,100,56"  # from 0, not 0.08
    assert cues[2] == "00:00:21.500 --> 00:00:30.000\nstoryboard-001.jpg#xywh=0,56,100,56"
    assert cues[4] == "00:00:40.000 --> 00:00:41.234\nstoryboard-002.jpg#xywh=0,0,100,56\n"
    # A last frame at (or after) the rounded duration still gets a cue that ends after it starts.
    assert build_vtt([0.0], 0.0, (10, 10), 1, 1).splitlines()[2] == "00:00:00.000 --> 00:00:00.001"
    with pytest.raises(ValueError):
        build_vtt([], 1.0, (10, 10), 1, 1)


def test_parse_showinfo() -> None:
    stderr = (
        "[Parsed_showinfo_4 @ 0x55] config in time_base: 1/12800, frame_rate: 25/1\n"
        "[Parsed_showinfo_4 @ 0x55] n:   0 pts:   -512 pts_time:-0.04 pos: 48 fmt:rgb24 sar:1/1 s:160x90\n"
        "frame=1 fps=0.0 [Parsed_showinfo_4 @ 0x55] n:   1 pts: 128000 pts_time:10      pos: 6227186 fmt:rgb24\n"
        "[Parsed_showinfo_4 @ 0x55] n:   2 pts: 261888 pts_time:20.46   pos: 9 fmt:rgb24\n"
    )
    assert storyboard.parse_showinfo(stderr) == [0.0, 10.0, 20.46]


def test_storyboard_recipe() -> None:
    assert storyboard.check_recipe("storyboard", {}) == {"interval": 10.0, "width": 160, "columns": 10,
                                                         "rows": 10, "quality": 80}  # fmt: skip
    assert storyboard.check_recipe("sb", {"interval": 2})["interval"] == 2.0


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"height": 90}, "height"),
        ({"interval": 0}, "interval"),
        ({"interval": -5}, "interval"),
        ({"interval": "10s"}, "interval"),
        ({"interval": math.inf}, "interval"),
        ({"width": 0}, "width"),
        ({"width": 160.0}, "width"),
        ({"width": 99999}, "width"),
        ({"columns": 0}, "columns"),
        ({"rows": -1}, "rows"),
        ({"rows": "ten"}, "rows"),
        ({"quality": 0}, "quality"),
        ({"quality": 100.5}, "quality"),
    ],
)
def test_bad_storyboard_recipes(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        storyboard.check_recipe("storyboard", params)
    assert err.value.key == f"recipes.storyboard.{key}"


# --- storyboard: real ffmpeg ----------------------------------------------------


def tile_lumas(ff: FFmpeg, sheet: Path, columns: int, rows: int, tile: tuple[int, int]) -> list[float]:
    """Mean luma of each tile of a decoded sheet, row by row."""
    w, h = tile
    data = grey(ff, sheet)
    width = columns * w
    out = []
    for r in range(rows):
        for c in range(columns):
            pixels = [data[(r * h + y) * width + c * w + x] for y in range(h) for x in range(w)]
            out.append(sum(pixels) / len(pixels))
    return out


def test_storyboard_25s_every_10s(ff: FFmpeg, made: dict[str, Path], tmp_path: Path) -> None:
    src = media(ff, made["long.mp4"])
    seen: list[float] = []
    result = make_storyboard(ff, src, storyboard.check_recipe("storyboard", {}), tmp_path,
                             on_progress=lambda f, speed: seen.append(f))  # fmt: skip
    assert result.data == {"frames": 3, "sheets": 1, "interval": 10.0, "tile": [160, 90], "grids": [[3, 1]],
                           "decoded": "keyframes", "times": [0.0, 10.0, 20.0]}  # fmt: skip
    sheet, vtt = result.outputs
    assert (sheet.name, sheet.kind, sheet.mime, sheet.width, sheet.height) == (
        "storyboard-001.jpg", "storyboard", "image/jpeg", 480, 90)
    assert (vtt.name, vtt.kind, vtt.mime) == ("storyboard.vtt", "storyboard-vtt", "text/vtt")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["storyboard-001.jpg", "storyboard.vtt"]
    check_image(ff, sheet.path, "image/jpeg", 480, 90)
    assert all(luma > 60 for luma in tile_lumas(ff, sheet.path, 3, 1, (160, 90)))
    end = vtt_timestamp(src.duration)
    assert vtt.path.read_text() == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:10.000\nstoryboard-001.jpg#xywh=0,0,160,90\n\n"
        "00:00:10.000 --> 00:00:20.000\nstoryboard-001.jpg#xywh=160,0,160,90\n\n"
        f"00:00:20.000 --> {end}\nstoryboard-001.jpg#xywh=320,0,160,90\n"
    )
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_storyboard_overflows_onto_sheets_with_a_smaller_last_one(ff: FFmpeg, made: dict[str, Path],
                                                                  tmp_path: Path) -> None:  # fmt: skip
    src = media(ff, made["long.mp4"])
    recipe = storyboard.check_recipe("storyboard", {"interval": 2, "columns": 2, "rows": 2, "width": 96})
    result = make_storyboard(ff, src, recipe, tmp_path)
    assert result.data["frames"] == 13 and result.data["sheets"] == 4
    assert result.data["times"] == [float(t) for t in range(0, 25, 2)]
    assert result.data["tile"] == [96, 54]
    sheets = [o for o in result.outputs if o.kind == "storyboard"]
    assert [(o.name, o.width, o.height) for o in sheets] == [
        ("storyboard-001.jpg", 192, 108), ("storyboard-002.jpg", 192, 108),
        ("storyboard-003.jpg", 192, 108), ("storyboard-004.jpg", 96, 54)]  # fmt: skip
    for o in sheets:
        check_image(ff, o.path, "image/jpeg", o.width, o.height)
    assert all(luma > 60 for luma in tile_lumas(ff, tmp_path / "storyboard-003.jpg", 2, 2, (96, 54)))
    text = (tmp_path / "storyboard.vtt").read_text()
    parsed = webvtt.from_string(text)  # the track is valid WebVTT, cue after cue
    assert [c.start for c in parsed][:3] == ["00:00:00.000", "00:00:02.000", "00:00:04.000"]
    assert all(c.start < c.end for c in parsed)
    assert all(a.end == b.start for a, b in zip(parsed, parsed[1:]))
    cues = text.strip().split("\n\n")[1:]
    assert len(cues) == 13
    assert cues[3] == "00:00:06.000 --> 00:00:08.000\nstoryboard-001.jpg#xywh=96,54,96,54"
    assert cues[4] == "00:00:08.000 --> 00:00:10.000\nstoryboard-002.jpg#xywh=0,0,96,54"
    assert cues[12] == f"00:00:24.000 --> {vtt_timestamp(src.duration)}\nstoryboard-004.jpg#xywh=0,0,96,54"


def test_storyboard_decodes_everything_when_keyframes_are_sparse(ff: FFmpeg, made: dict[str, Path],
                                                                 tmp_path: Path) -> None:  # fmt: skip
    seen: list[float] = []
    recipe = storyboard.check_recipe("storyboard", {"interval": 1, "columns": 2, "rows": 2})
    result = make_storyboard(ff, media(ff, made["onekey.mp4"]), recipe, tmp_path,
                             on_progress=lambda f, speed: seen.append(f))  # fmt: skip
    assert result.data["decoded"] == "all"
    assert result.data["times"] == [float(t) for t in range(12)]
    assert result.data["sheets"] == 3 and result.data["grids"] == [[2, 2]] * 3  # 12 frames, 2x2: 3 sheets
    assert seen == sorted(seen) and seen[-1] == 1.0
    for o in result.outputs[:3]:
        check_image(ff, o.path, "image/jpeg", 320, 180)


@pytest.mark.parametrize(
    ("name", "tile"),
    [
        ("short.mp4", (160, 120)),  # shorter than one interval: still one frame
        ("portrait.mp4", (160, 284)),
        ("anamorphic.mp4", (160, 90)),
        ("odd.mkv", (160, 90)),
        ("vfr.mkv", (160, 120)),
        ("interlaced.mp4", (160, 128)),
    ],
)
def test_storyboard_of_sources(ff: FFmpeg, sources: dict[str, Path], tmp_path: Path, name: str,
                               tile: tuple[int, int]) -> None:  # fmt: skip
    src = media(ff, sources[name])
    result = make_storyboard(ff, src, storyboard.check_recipe("storyboard", {}), tmp_path)
    assert result.data["frames"] == 1 and result.data["tile"] == list(tile)
    check_image(ff, tmp_path / "storyboard-001.jpg", "image/jpeg", *tile)
    assert (tmp_path / "storyboard.vtt").read_text() == (
        f"WEBVTT\n\n00:00:00.000 --> {vtt_timestamp(src.duration)}\n"
        f"storyboard-001.jpg#xywh=0,0,{tile[0]},{tile[1]}\n"
    )


def test_storyboard_ffmpeg_failure_raises_toolfailed_and_leaves_no_scratch(ff: FFmpeg, sources: dict[str, Path],
                                                                           tmp_path: Path) -> None:  # fmt: skip
    good = media(ff, sources["normal.mp4"])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 4096)
    work = workdir(tmp_path / "work")
    with pytest.raises(ToolFailed, match="broken.mp4"):
        make_storyboard(ff, SourceMedia(broken, good.info, good.probe), storyboard.check_recipe("s", {}), work)
    assert list(work.iterdir()) == []
