"""Poster images: one representative frame of a cut, in a few widths and formats.

The frame is chosen, not taken at a fixed time: a fixed time lands on black
leaders, fades and blank title cards. :func:`make_posters` grabs a handful of
candidate frames (input seeks only, never decoding the whole film) as tiny
grey images, scores them in pure Python (:func:`frame_stats`,
:func:`score_frame`, :func:`choose_frame`) and then extracts the winner once,
writing every size and format from one ffmpeg process.

The candidates are keyframes: each seek stops at the keyframe before its
time and decodes that one frame (:func:`keyframe_candidates`), where an exact
seek decodes everything from that keyframe up to the time, up to a whole GOP
(10 s of video with x264's default GOP). When the keyframes give too little to
choose from (:func:`enough_keyframes`: a short clip with one keyframe, a GOP
longer than the window, keyframes that are all black), the exact times are
searched instead (:func:`exact_candidates`). A time chosen by staff is always
decoded exactly.

Measured on a 2-core machine (testsrc2, x264, one frame per candidate):

- 12 candidates as 12 ``-ss T -i`` inputs of one process, ``-threads 1`` per
  input: 1080p 1.15 s and 350 MB; 2160p 3.2 s and 580 MB (1.2 GB with
  default decoder threads). Twelve one-frame processes: 1080p ~2.6 s.
  For 2160p the time hardly depends on the batching (1, 3, 6, 12 inputs a
  process: 4.5, 4.1, 4.0, 4.1 s for a 1 s 60 fps clip; decoding dominates)
  but memory does (92, 183, 309, 561 MB). So one process, with the inputs
  split into batches by picture size (:data:`PIXELS_PER_RUN`: all twelve
  for 1080p, three at a time for 2160p).
- Those figures are for short GOPs. With 10 s GOPs (x264's default), the
  exact search took 5.1 CPU s for a 60 s 1080p source and 16.7 s for a 30 s
  2160p one; the keyframe search and the posters together 0.55 s and 1.4 s,
  against 0.3 s and 0.5 s for writing the posters alone (``bench/posters.py``).
"""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medialib.errors import BadInput, ConfigError, ToolFailed
from medialib.media.ffmpeg import FFmpeg, file_url, input_args
from medialib.media.recipes import fill_defaults
from medialib.media.types import Output, Result, SourceMedia

DEFAULTS: dict[str, Any] = {
    "widths": [1280, 640, 320],
    "formats": ["jpg", "webp"],
    "quality": 85,
    "candidates": 9,
    "window": [0.25, 0.45],
}

MIME_TYPES = {"jpg": "image/jpeg", "webp": "image/webp"}

MAX_CANDIDATES = 30

# Extra candidates outside the window, as shares of the duration: they rescue
# a window that is all fade or all dark, and win only when clearly better.
WIDE_POSITIONS = (0.1, 0.6, 0.75)
WIDE_WEIGHT = 0.75

# Scoring thresholds, on full-range grey (0 black .. 255 white).
DARK_LUMA = 36.0  # mean below this: a black or nearly black frame
BRIGHT_LUMA = 235.0  # mean above this: washed out / a white card
FLAT_STD = 10.0  # standard deviation below this: a uniform (blank) frame
# A usable frame much darker than the brightest usable candidate is most
# likely mid-fade or an underexposed moment: it is penalised.
DIM_RATIO = 0.75
DIM_PENALTY = 0.5
DETAIL_WEIGHT = 0.5

GREY_WIDTH = 64  # width of the little grey images candidates are scored on
PIXELS_PER_RUN = 12 * 1920 * 1088  # decoded source pixels per candidate process

# Fewer different keyframes than this among the candidates (short clips, long
# GOPs), or none in the window: search the exact candidate times instead.
MIN_KEYFRAMES = 3
# Input options that make a seek stop at the keyframe before the time and
# decode that keyframe only.
KEYFRAME_SEEK = ["-skip_frame", "nokey", "-noaccurate_seek"]


# --- recipe -----------------------------------------------------------------


def check_recipe(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The poster recipe ``recipes.<name>`` with defaults filled in.

    Raises ConfigError naming the key for an unknown key or a bad value.
    """
    recipe = fill_defaults(name, params, DEFAULTS)

    def key(k: str) -> str:
        return f"recipes.{name}.{k}"

    widths = recipe["widths"]
    if not isinstance(widths, (list, tuple)) or not widths:
        raise ConfigError(key("widths"), "expected a non-empty list of widths in pixels")
    for w in widths:
        if not _is_int(w) or w <= 0:
            raise ConfigError(key("widths"), f"{w!r} is not a positive whole number of pixels")
        if w > 8192:
            raise ConfigError(key("widths"), f"{w} is wider than 8192 pixels")
    if len(set(widths)) != len(widths):
        raise ConfigError(key("widths"), "a width is listed twice")

    formats = recipe["formats"]
    if not isinstance(formats, (list, tuple)) or not formats:
        raise ConfigError(key("formats"), "expected a non-empty list of image formats")
    for f in formats:
        if f not in MIME_TYPES:
            raise ConfigError(key("formats"), f"unknown format {f!r} (known: {', '.join(MIME_TYPES)})")
    if len(set(formats)) != len(formats):
        raise ConfigError(key("formats"), "a format is listed twice")

    _check_quality(key("quality"), recipe["quality"])

    count = recipe["candidates"]
    if not _is_int(count) or not 1 <= count <= MAX_CANDIDATES:
        raise ConfigError(key("candidates"), f"expected a whole number from 1 to {MAX_CANDIDATES}, not {count!r}")

    window = recipe["window"]
    if (
        not isinstance(window, (list, tuple))
        or len(window) != 2
        or not all(_is_number(x) for x in window)
    ):
        raise ConfigError(key("window"), "expected [start, end] as shares of the duration, e.g. [0.25, 0.45]")
    start, end = (float(x) for x in window)
    if not 0.0 <= start <= end <= 1.0:
        raise ConfigError(key("window"), f"need 0 <= start <= end <= 1, not [{start:g}, {end:g}]")

    return {
        "widths": [int(w) for w in widths],
        "formats": list(formats),
        "quality": int(recipe["quality"]),
        "candidates": int(count),
        "window": [start, end],
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_quality(key: str, quality: Any) -> None:
    if not _is_int(quality) or not 1 <= quality <= 100:
        raise ConfigError(key, f"expected a whole number from 1 to 100, not {quality!r}")


# --- pure helpers -----------------------------------------------------------


def even(value: float) -> int:
    """``value`` rounded to the nearest even whole number, at least 2."""
    return max(2, int(value / 2 + 0.5) * 2)


def height_for(width: int, display: tuple[int, int]) -> int:
    """The even height of a picture ``width`` wide with the display aspect ratio."""
    dw, dh = display
    return even(width * dh / dw)


def poster_sizes(display: tuple[int, int], widths: Iterable[int]) -> list[tuple[int, int]]:
    """(width, height) of each poster, widest first, never upscaled.

    Widths above the display width are skipped; if that leaves none, one
    poster at the display width is made instead. Heights follow the display
    aspect ratio and are even.
    """
    dw, _ = display
    fitting = sorted({w for w in widths if w <= dw}, reverse=True)
    if not fitting:
        fitting = [dw]
    return [(w, height_for(w, display)) for w in fitting]


def jpeg_qscale(quality: int) -> int:
    """ffmpeg's MJPEG ``-q:v`` (2 best .. 31 worst) for a libjpeg-style quality 1..100.

    Calibrated by comparing the quantisation tables ffmpeg writes with
    libjpeg's: -q:v 2 ~ quality 94, 3 ~ 91, 5 ~ 85, 6 ~ 82, 8 ~ 75, 12 ~ 64,
    i.e. -q:v ~ libjpeg's table scale (200 - 2q, or 5000/q below 50) / 6.
    """
    quality = min(max(int(quality), 1), 100)
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return min(max(round(scale / 6), 2), 31)


def last_frame_time(src: SourceMedia) -> float:
    """The latest time an input seek can still find a frame at."""
    frame = 1.0 / src.info.frame_rate if src.info.frame_rate > 0 else 0.04
    return max(0.0, src.duration - min(frame, 0.5))


def clamp_time(t: float, src: SourceMedia) -> float:
    """``t`` moved into [0, duration): onto the first or last frame if outside."""
    if not math.isfinite(t):
        raise BadInput(f"poster time must be a number of seconds, not {t!r}")
    return round(min(max(t, 0.0), last_frame_time(src)), 3)


def candidate_times(
    duration: float, window: Sequence[float], count: int, *, last: float | None = None
) -> list[tuple[float, bool]]:
    """Times to try, each with whether it lies in the preferred window.

    ``count`` times spread evenly over the window (both ends included), then
    a few wider ones (:data:`WIDE_POSITIONS`) outside it. Times are clamped
    to [0, last] and duplicates dropped.
    """
    start, end = window[0] * duration, window[1] * duration
    if count == 1:
        inside = [(start + end) / 2]
    else:
        inside = [start + (end - start) * i / (count - 1) for i in range(count)]
    outside = [p * duration for p in WIDE_POSITIONS if not window[0] <= p <= window[1]]
    limit = duration if last is None else last
    seen: set[float] = set()
    out: list[tuple[float, bool]] = []
    for times, in_window in ((inside, True), (outside, False)):
        for t in times:
            t = round(min(max(t, 0.0), limit), 3)
            if t not in seen:
                seen.add(t)
                out.append((t, in_window))
    return out


@dataclass(frozen=True)
class FrameStats:
    """What a small grey image of a frame says about it."""

    mean: float  # average luma, 0..255
    std: float  # luma standard deviation: overall contrast
    detail: float  # mean absolute difference of neighbouring pixels: edges, texture

    def as_dict(self) -> dict[str, float]:
        return {"mean": round(self.mean, 2), "std": round(self.std, 2), "detail": round(self.detail, 2)}


def frame_stats(pixels: bytes | bytearray | memoryview, width: int, height: int) -> FrameStats:
    """Mean, standard deviation and detail of an 8-bit grey image (row-major)."""
    data = memoryview(pixels)
    count = width * height
    if count == 0 or len(data) < count:
        raise ValueError(f"need {count} bytes for a {width}x{height} grey image, got {len(data)}")
    data = data[:count]
    # map() over C functions: no Python bytecode per pixel (a 160x90 frame, 12 candidates a cut).
    total = sum(data)
    mean = total / count
    var = sum(map(operator.mul, data, data)) / count - mean * mean
    # Neighbours across the whole image at once: left-right pairs (minus the pairs that wrap
    # from the end of one row to the start of the next) and top-bottom pairs.
    diffs = sum(map(abs, map(operator.sub, data[1:], data[:-1])))
    diffs -= sum(abs(data[y * width] - data[y * width - 1]) for y in range(1, height))
    diffs += sum(map(abs, map(operator.sub, data[width:], data[:-width]))) if height > 1 else 0
    pairs = height * (width - 1) + (height - 1) * width
    return FrameStats(mean=mean, std=math.sqrt(max(var, 0.0)), detail=diffs / pairs if pairs else 0.0)


def rejection(stats: FrameStats | None) -> str | None:
    """Why a frame cannot be a poster ("dark", "blank", "washed-out", "missing"), or None."""
    if stats is None:
        return "missing"
    if stats.mean < DARK_LUMA:
        return "dark"
    if stats.std < FLAT_STD:
        return "blank"
    if stats.mean > BRIGHT_LUMA:
        return "washed-out"
    return None


def score_frame(stats: FrameStats | None) -> float:
    """How good a poster the frame makes on its own; 0 for an unusable one.

    Contrast counts most, then detail: a near-uniform or soft frame scores
    low, a black, blank or washed-out one scores 0.
    """
    if stats is None or rejection(stats) is not None:
        return 0.0
    return stats.std + DETAIL_WEIGHT * stats.detail


@dataclass(frozen=True)
class Candidate:
    time: float
    in_window: bool
    stats: FrameStats | None
    seek: float | None = None  # for a keyframe: the keyframe seek that reaches it (see keyframe_candidates)


def ranked_scores(candidates: Sequence[Candidate]) -> list[float]:
    """Each candidate's score in the company of the others.

    Candidates outside the window are weighted down (:data:`WIDE_WEIGHT`);
    a usable frame much darker than the brightest usable one is taken to be
    mid-fade and penalised (:data:`DIM_RATIO`, :data:`DIM_PENALTY`).
    """
    usable = [c.stats.mean for c in candidates if c.stats is not None and score_frame(c.stats) > 0]
    brightest = max(usable, default=0.0)
    scores = []
    for c in candidates:
        score = score_frame(c.stats)
        if score > 0:
            if not c.in_window:
                score *= WIDE_WEIGHT
            if c.stats is not None and c.stats.mean < DIM_RATIO * brightest:
                score *= DIM_PENALTY
        scores.append(score)
    return scores


def choose_frame(candidates: Sequence[Candidate]) -> Candidate | None:
    """The best candidate, or None if every one is dark, blank or missing."""
    scores = ranked_scores(candidates)
    best = max(range(len(candidates)), key=lambda i: scores[i], default=None)
    if best is None or scores[best] <= 0:
        return None
    return candidates[best]


# --- ffmpeg argv (pure) -----------------------------------------------------


def candidates_args(
    path: str | os.PathLike[str],
    formats: Sequence[str],
    stream: int,
    times: Sequence[float],
    grey: tuple[int, int],
    *,
    keyframes: bool = False,
) -> list[str]:
    """argv tail writing one grey frame per time, side by side, as raw bytes to stdout.

    One input (with its own seek and one decoder thread) per time; the
    picture is ``len(times) * grey[0]`` wide and ``grey[1]`` high. By default
    each seek decodes up to the exact time. With ``keyframes`` it stops at
    the keyframe before the time and decodes only that (:data:`KEYFRAME_SEEK`);
    ``showinfo@k<i>`` then logs the frame of input ``i`` (at log level
    info), its ``pts`` relative to the seek time.
    """
    w, h = grey
    before = ["-threads", "1", *(KEYFRAME_SEEK if keyframes else [])]
    args: list[str] = []
    for t in times:
        args += input_args(path, formats, ss=t, before=before)
    first = "trim=end_frame=1,showinfo@k{i},setpts=PTS-STARTPTS," if keyframes else ""
    chains = [f"[{i}:{stream}]{first.format(i=i)}scale={w}:{h}:flags=area,format=gray" for i in range(len(times))]
    if len(times) == 1:
        graph = chains[0] + "[grey]"
    else:
        graph = ";".join(f"{c}[g{i}]" for i, c in enumerate(chains))
        graph += ";" + "".join(f"[g{i}]" for i in range(len(times))) + f"hstack=inputs={len(times)}[grey]"
    return [*args, "-filter_complex", graph, "-map", "[grey]", "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip


_KEY_TIMEBASE = re.compile(r"\[showinfo@k(\d+) @ [^\]]*\] config in time_base: (\d+)/(\d+)")
_KEY_FRAME = re.compile(r"\[showinfo@k(\d+) @ [^\]]*\] n:\s*0 pts:\s*(-?\d+) ")


def parse_keyframe_times(stderr: str, seeks: Sequence[float]) -> list[float | None]:
    """The time of the frame each input of a keyframe search found (None if none).

    ``seeks`` are the inputs' seek times; ``showinfo`` gives each frame's
    ``pts`` relative to its seek, in the filter's time base.
    """
    bases = {int(m[1]): (int(m[2]), int(m[3])) for m in _KEY_TIMEBASE.finditer(stderr)}
    out: list[float | None] = [None] * len(seeks)
    for m in _KEY_FRAME.finditer(stderr):
        i = int(m[1])
        if i < len(seeks) and out[i] is None and bases.get(i, (0, 0))[1]:
            num, den = bases[i]
            out[i] = max(0.0, seeks[i] + int(m[2]) * num / den)
    return out


def poster_args(
    path: str | os.PathLike[str],
    formats: Sequence[str],
    stream: int,
    time: float,
    outputs: Sequence[tuple[int, int, str, Path]],
    quality: int,
    *,
    deinterlace: bool = False,
    keyframe: bool = False,
) -> list[str]:
    """argv tail writing the frame at ``time`` once per (width, height, format, path).

    Decodes the one frame (input seek; with ``keyframe``, ``time`` is a seek
    time from the keyframe search and the keyframe it reaches is taken), then
    splits and scales it. JPEG gets full-range BT.601 (what JFIF means), WebP
    limited-range BT.601 (what libwebp expects); both square pixels.
    """
    n = len(outputs)
    first = "trim=end_frame=1,setpts=PTS-STARTPTS," if keyframe else ""
    head = f"[0:{stream}]{first}" + ("yadif=deint=interlaced," if deinterlace else "") + f"split={n}"
    graph = [head + "".join(f"[s{i}]" for i in range(n))]
    tail: list[str] = []
    for i, (w, h, fmt, out) in enumerate(outputs):
        scale = f"scale={w}:{h}:flags=lanczos:out_color_matrix=bt601"
        if fmt == "jpg":
            graph.append(f"[s{i}]{scale}:out_range=full,format=yuvj420p,setsar=1[o{i}]")
            codec = ["-c:v", "mjpeg", "-q:v", str(jpeg_qscale(quality)), "-f", "image2", "-update", "1"]
        elif fmt == "webp":
            graph.append(f"[s{i}]{scale}:out_range=tv,format=yuv420p,setsar=1[o{i}]")
            codec = ["-c:v", "libwebp", "-quality", str(quality), "-lossless", "0", "-f", "webp"]
        else:
            raise ValueError(f"unknown poster format {fmt!r}")
        tail += ["-map", f"[o{i}]", "-frames:v", "1", *codec, file_url(out)]
    before = KEYFRAME_SEEK if keyframe else []
    return [*input_args(path, formats, ss=time, before=before), "-filter_complex", ";".join(graph), *tail]


# --- running ----------------------------------------------------------------


def grey_size(display: tuple[int, int]) -> tuple[int, int]:
    return GREY_WIDTH, height_for(GREY_WIDTH, display)


def _batches(src: SourceMedia, times: Sequence[float]) -> list[list[float]]:
    """``times`` split so that one process never holds too many decoded pixels."""
    per_run = max(1, PIXELS_PER_RUN // max(1, src.info.width * src.info.height))
    return [list(times[i : i + per_run]) for i in range(0, len(times), per_run)]


def _split_stats(raw: bytes, count: int, grey: tuple[int, int]) -> list[FrameStats]:
    """FrameStats of each of ``count`` grey frames stacked side by side in ``raw``."""
    w, h = grey
    row = w * count
    return [frame_stats(b"".join(raw[y * row + k * w : y * row + (k + 1) * w] for y in range(h)), w, h)
            for k in range(count)]  # fmt: skip


def grab_stats(ff: FFmpeg, src: SourceMedia, times: Sequence[float]) -> list[FrameStats | None]:
    """FrameStats of the frame at each time (None where no frame was found).

    Input seeks decoding up to each exact time, in as few processes as
    memory allows. Raises ToolFailed if ffmpeg fails.
    """
    grey = grey_size(src.display_size)
    stream = int(src.video_stream["index"])
    out: list[FrameStats | None] = []
    for batch in _batches(src, times):
        raw = ff.capture(candidates_args(src.path, ff.formats, stream, batch, grey),
                         what=f"looking for a poster frame in {src.path.name}", duration=src.duration)  # fmt: skip
        if len(raw) != grey[0] * len(batch) * grey[1]:
            # An input found no frame (a seek past the last one), so the
            # stacked picture never came: try the times one by one.
            if len(batch) == 1:
                out.append(None)
            else:
                out.extend(stats for t in batch for stats in grab_stats(ff, src, [t]))
            continue
        out.extend(_split_stats(raw, len(batch), grey))
    return out


def keyframe_candidates(
    ff: FFmpeg, src: SourceMedia, tried: Sequence[tuple[float, bool]], window: Sequence[float]
) -> list[Candidate]:
    """The keyframes found before each tried time, each once, with their stats.

    Each seek decodes one keyframe instead of up to a GOP. A candidate's
    ``time`` is the keyframe's own time (``in_window`` is judged on it) and
    ``seek`` the seek time that reaches it again. A batch in which some
    input found no keyframe gives no candidates. Raises ToolFailed if
    ffmpeg fails.
    """
    grey = grey_size(src.display_size)
    stream = int(src.video_stream["index"])
    start, end = window[0] * src.duration, window[1] * src.duration
    seen: set[float] = set()
    out: list[Candidate] = []
    for batch in _batches(src, [t for t, _ in tried]):
        raw, log = ff.capture_with_log(
            candidates_args(src.path, ff.formats, stream, batch, grey, keyframes=True),
            what=f"looking for a poster frame in {src.path.name}", duration=src.duration,
        )  # fmt: skip
        found = parse_keyframe_times(log, batch)
        if len(raw) != grey[0] * len(batch) * grey[1] or None in found:
            continue
        for seek, key, stats in zip(batch, found, _split_stats(raw, len(batch), grey)):
            key = round(key, 3)  # type: ignore[arg-type]
            if key not in seen:
                seen.add(key)
                out.append(Candidate(key, start <= key <= end, stats, seek=seek))
    return out


def enough_keyframes(candidates: Sequence[Candidate], tried: Sequence[tuple[float, bool]]) -> bool:
    """Whether a keyframe search found enough to choose from.

    That is :data:`MIN_KEYFRAMES` different keyframes (or one per tried
    time, if fewer were tried), at least one of them in the window, and at
    least one usable frame.
    """
    return (
        len(candidates) >= min(MIN_KEYFRAMES, len(tried))
        and any(c.in_window for c in candidates)
        and choose_frame(candidates) is not None
    )


def exact_candidates(ff: FFmpeg, src: SourceMedia, tried: Sequence[tuple[float, bool]]) -> list[Candidate]:
    """The frame at each tried time, decoded exactly. Raises ToolFailed if ffmpeg fails."""
    measured = grab_stats(ff, src, [t for t, _ in tried])
    return [Candidate(t, inside, stats) for (t, inside), stats in zip(tried, measured)]


def make_posters(
    ff: FFmpeg,
    src: SourceMedia,
    recipe: Mapping[str, Any],
    workdir: Path,
    *,
    at: float | None = None,
    keyframes: bool = True,
) -> Result:
    """Write ``poster-<width>.<ext>`` files of a representative frame into ``workdir``.

    ``recipe`` is a checked poster recipe (see :func:`check_recipe`); ``at``
    (seconds, a staff choice) skips the search and is clamped into the
    film; that frame is decoded exactly. The search looks at the keyframes
    before the candidate times (``data["search"] == "keyframes"``); if they
    are too few (:func:`enough_keyframes`), or ``keyframes`` is False, it
    decodes the exact candidate times instead (``"exact"``). When every candidate is dark or blank the middle frame
    is used and ``data["all_dark"]`` is set, for QC to flag. Raises
    ToolFailed if ffmpeg fails or writes nothing, BadInput for a
    non-numeric ``at``.
    """
    name = src.path.name
    data: dict[str, Any] = {"all_dark": False}
    seek: float | None = None
    if at is not None:
        time = clamp_time(float(at), src)
        data["chosen_by"] = "override"
        stats = grab_stats(ff, src, [time])[0]
    else:
        last = last_frame_time(src)
        tried = candidate_times(src.duration, recipe["window"], recipe["candidates"], last=last)
        candidates = keyframe_candidates(ff, src, tried, recipe["window"]) if keyframes else []
        data["keyframes"] = len(candidates)
        data["search"] = "keyframes"
        if not enough_keyframes(candidates, tried):
            candidates = exact_candidates(ff, src, tried)
            data["search"] = "exact"
        scores = ranked_scores(candidates)
        data["candidates"] = [
            {"time": c.time, "in_window": c.in_window, "score": round(score, 2),
             **({"rejected": why} if (why := rejection(c.stats)) else {}),
             **(c.stats.as_dict() if c.stats else {})}
            for c, score in zip(candidates, scores)
        ]  # fmt: skip
        best = choose_frame(candidates)
        if best is None:
            time = clamp_time(src.duration / 2, src)
            data["chosen_by"] = "fallback-middle"
            data["all_dark"] = True
            stats = grab_stats(ff, src, [time])[0]
        else:
            time, stats, seek = best.time, best.stats, best.seek
            data["chosen_by"] = "search"
            data["in_window"] = best.in_window
    data["time"] = time
    data["frame"] = stats.as_dict() if stats else None
    data["rejected"] = rejection(stats)

    sizes = poster_sizes(src.display_size, recipe["widths"])
    planned = [(w, h, fmt, workdir / f"poster-{w}.{fmt}") for w, h in sizes for fmt in recipe["formats"]]
    argv = poster_args(src.path, ff.formats, int(src.video_stream["index"]), time if seek is None else seek,
                       planned, recipe["quality"], deinterlace=src.interlaced, keyframe=seek is not None)  # fmt: skip
    ff.run(argv, what=f"making posters of {name}", duration=src.duration)
    outputs = []
    for w, h, fmt, path in planned:
        if not path.is_file() or path.stat().st_size == 0:
            raise ToolFailed(f"making posters of {name}: ffmpeg wrote no frame at {time:.3f} s")
        outputs.append(Output(path.name, path, kind="poster", mime=MIME_TYPES[fmt], width=w, height=h))
    data["sizes"] = [[w, h] for w, h in sizes]
    return Result(outputs=outputs, data=data)
