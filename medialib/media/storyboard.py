"""Storyboard sprites and their WebVTT thumbnails track.

One small frame every ``interval`` seconds, tiled into JPEG sheets, and a
``storyboard.vtt`` whose cues point into the sheets with ``#xywh=`` media
fragments: the thumbnails format video.js, Plyr and JW Player read for
scrub-bar previews.

How frames are picked, measured on a 60 s 1080p25 x264 clip (2 cores, one
frame every 10 s, 160 px tiles):

==========================================  ============  ==========
approach                                    keyint 50     keyint 250
==========================================  ============  ==========
keyframes only (``-skip_frame nokey``)      0.40 s        0.26 s
an input seek per step, one process each    6 x 0.12 s    6 x 0.12 s
an input seek per step, all in one process  0.38 s 240 MB 0.44 s
decode everything, ``select``               5.5 s         6.1 s
==========================================  ============  ==========

Keyframes only wins and keeps winning as films get longer: it costs about
6 ms per keyframe in the file, where a seek costs a process (or an open
decoder) plus decoding up to a GOP per step. So :func:`make_storyboard`
decodes keyframes only and picks the first keyframe at or after each step,
learning its real time from ``showinfo``. Only when keyframes are too sparse
for the interval (fewer frames than half the steps: long-GOP screen
recordings) does it decode everything.

The frames go to a scratch raw file first, because the sheet layout depends
on how many frames there are; a second, cheap ffmpeg run tiles them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from medialib.errors import ConfigError, ToolFailed
from medialib.media.ffmpeg import PROTOCOLS, FFmpeg, file_url, input_args
from medialib.media.posters import height_for, jpeg_qscale
from medialib.media.recipes import fill_defaults
from medialib.media.types import Output, Result, SourceMedia

DEFAULTS: dict[str, Any] = {
    "interval": 10.0,
    "width": 160,
    "columns": 10,
    "rows": 10,
    "quality": 80,
}

SHEET_NAME = "storyboard-{:03d}.jpg"
VTT_NAME = "storyboard.vtt"
SCRATCH_NAME = ".storyboard-frames.rgb"

# Fewer keyframes than this share of the steps: decode every frame instead.
SPARSE_SHARE = 0.5


# --- recipe -----------------------------------------------------------------


def check_recipe(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The storyboard recipe ``recipes.<name>`` with defaults filled in.

    Raises ConfigError naming the key for an unknown key or a bad value.
    """
    recipe = fill_defaults(name, params, DEFAULTS)

    def key(k: str) -> str:
        return f"recipes.{name}.{k}"

    interval = recipe["interval"]
    if not _is_number(interval) or interval <= 0:
        raise ConfigError(key("interval"), f"expected a positive number of seconds, not {interval!r}")
    if interval < 0.1:
        raise ConfigError(key("interval"), f"{interval:g} s is too short (at least 0.1 s)")
    width = recipe["width"]
    if not _is_int(width) or width <= 0:
        raise ConfigError(key("width"), f"expected a positive whole number of pixels, not {width!r}")
    if not 16 <= width <= 1920:
        raise ConfigError(key("width"), f"{width} is outside 16..1920 pixels")
    for k in ("columns", "rows"):
        value = recipe[k]
        if not _is_int(value) or value <= 0:
            raise ConfigError(key(k), f"expected a positive whole number, not {value!r}")
        if value > 50:
            raise ConfigError(key(k), f"{value} is more than 50 tiles")
    _check_quality(key("quality"), recipe["quality"])
    return {
        "interval": float(interval),
        "width": int(width),
        "columns": int(recipe["columns"]),
        "rows": int(recipe["rows"]),
        "quality": int(recipe["quality"]),
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_quality(key: str, quality: Any) -> None:
    if not _is_int(quality) or not 1 <= quality <= 100:
        raise ConfigError(key, f"expected a whole number from 1 to 100, not {quality!r}")


# --- layout and the VTT track (pure) -----------------------------------------


def tile_size(display: tuple[int, int], width: int) -> tuple[int, int]:
    """One tile: ``width`` wide, the display aspect ratio, even height."""
    return width, height_for(width, display)


def step_count(duration: float, interval: float) -> int:
    """How many interval steps (0, interval, 2 interval...) fall before the end; at least 1."""
    return max(1, math.ceil(duration / interval - 1e-9))


def last_grid(count: int, columns: int, rows: int) -> tuple[int, int]:
    """(columns, rows) for a sheet of ``count`` <= columns*rows frames, with the fewest padding tiles.

    Ties go to the widest grid, so a sheet that fits a row stays one row.
    """
    if not 1 <= count <= columns * rows:
        raise ValueError(f"{count} frames do not fit one {columns}x{rows} sheet")
    best: tuple[int, int, int] | None = None  # (padding, -columns, rows)
    for c in range(min(columns, count), 0, -1):
        r = math.ceil(count / c)
        if r > rows:
            break
        key = (c * r - count, -c, r)
        if best is None or key < best:
            best = key
    assert best is not None
    return -best[1], best[2]


def sheet_grids(count: int, columns: int, rows: int) -> list[tuple[int, int]]:
    """(columns, rows) of each sheet for ``count`` frames: full sheets, then a smaller last one."""
    per_sheet = columns * rows
    full, rest = divmod(count, per_sheet)
    grids = [(columns, rows)] * full
    if rest:
        grids.append(last_grid(rest, columns, rows))
    return grids


def tile_rects(count: int, columns: int, rows: int, tile: tuple[int, int]) -> list[tuple[int, int, int, int, int]]:
    """Where each frame lands: (sheet number from 1, x, y, w, h)."""
    w, h = tile
    per_sheet = columns * rows
    grids = sheet_grids(count, columns, rows)
    rects = []
    for i in range(count):
        sheet, j = divmod(i, per_sheet)
        c, _ = grids[sheet]
        rects.append((sheet + 1, (j % c) * w, (j // c) * h, w, h))
    return rects


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` for a WebVTT cue."""
    return _stamp(round(max(seconds, 0.0) * 1000))


def _stamp(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def build_vtt(
    times: Sequence[float],
    duration: float,
    tile: tuple[int, int],
    columns: int,
    rows: int,
    *,
    sheet_name: str = SHEET_NAME,
) -> str:
    """The WebVTT thumbnails track for frames shown at ``times``.

    Cue i covers [times[i], times[i+1]) and the last one runs to
    ``duration``; the first starts at 0 so the whole timeline has a
    thumbnail. Each cue's text is ``<sheet>#xywh=x,y,w,h`` with the sheet
    name relative to the track.
    """
    if not times:
        raise ValueError("a storyboard needs at least one frame")
    starts = [0] + [round(t * 1000) for t in times[1:]]
    ends = starts[1:] + [round(duration * 1000)]
    lines = ["WEBVTT", ""]
    for start, end, (sheet, x, y, w, h) in zip(starts, ends, tile_rects(len(times), columns, rows, tile)):
        end = max(end, start + 1)
        lines += [f"{_stamp(start)} --> {_stamp(end)}", f"{sheet_name.format(sheet)}#xywh={x},{y},{w},{h}", ""]
    return "\n".join(lines)


# --- ffmpeg argv (pure) -----------------------------------------------------


def select_expr(interval: float) -> str:
    """A ``select`` expression keeping the first frame at or after each interval step.

    A frame is kept when it falls in a later step than the last kept one;
    negative times (B-frame reordering at the start) count as step 0. Commas
    are escaped for a filtergraph.
    """
    i = repr(float(interval))
    return (
        rf"isnan(prev_selected_t)+gte(floor(max(t\,0)/{i})\,floor(max(prev_selected_t\,0)/{i})+1)"
    )


def frames_args(
    path: str | os.PathLike[str],
    formats: Sequence[str],
    stream: int,
    interval: float,
    tile: tuple[int, int],
    out: Path,
    *,
    keyframes_only: bool = True,
) -> list[str]:
    """argv tail writing the picked frames, scaled to ``tile``, as raw RGB to ``out``.

    ``showinfo`` logs each picked frame's time (needs log level info).
    """
    w, h = tile
    before = ["-skip_frame", "nokey"] if keyframes_only else []
    graph = f"[0:{stream}]select={select_expr(interval)},scale={w}:{h}:flags=area,setsar=1,format=rgb24,showinfo[v]"
    return [*input_args(path, formats, before=before), "-filter_complex", graph, "-map", "[v]",
            "-fps_mode", "passthrough", "-f", "rawvideo", file_url(out)]  # fmt: skip


def sheets_args(
    frames: Path,
    tile: tuple[int, int],
    grids: Sequence[tuple[int, int]],
    per_sheet: int,
    quality: int,
    outputs: Sequence[Path],
) -> list[str]:
    """argv tail tiling the raw frames in ``frames`` into one JPEG per grid."""
    w, h = tile
    n = len(grids)
    graph = ["[0:v]split=" + str(n) + "".join(f"[s{k}]" for k in range(n))]
    tail: list[str] = []
    for k, ((c, r), out) in enumerate(zip(grids, outputs)):
        first = k * per_sheet
        graph.append(f"[s{k}]trim=start_frame={first}:end_frame={first + c * r},tile={c}x{r},"
                     f"scale=out_color_matrix=bt601:out_range=full,format=yuvj420p[o{k}]")  # fmt: skip
        tail += ["-map", f"[o{k}]", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", str(jpeg_qscale(quality)),
                 "-f", "image2", "-update", "1", file_url(out)]  # fmt: skip
    head = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{w}x{h}", "-framerate", "1",
            "-protocol_whitelist", PROTOCOLS, "-format_whitelist", "rawvideo", "-i", file_url(frames)]  # fmt: skip
    return [*head, "-filter_complex", ";".join(graph), *tail]


_SHOWINFO = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]*\] n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[0-9.]+(?:e[-+]?\d+)?)")


def parse_showinfo(stderr: str) -> list[float]:
    """The time of each frame ``showinfo`` logged, in order, clamped at 0."""
    return [round(max(float(t), 0.0), 3) for t in _SHOWINFO.findall(stderr)]


# --- running ----------------------------------------------------------------


def make_storyboard(
    ff: FFmpeg,
    src: SourceMedia,
    recipe: Mapping[str, Any],
    workdir: Path,
    on_progress: Callable[[float, float | None], None] | None = None,
) -> Result:
    """Write ``storyboard-NNN.jpg`` sheets and ``storyboard.vtt`` into ``workdir``.

    ``recipe`` is a checked storyboard recipe (see :func:`check_recipe`).
    ``on_progress(fraction, speed)`` only ever moves forward and ends at 1.
    Raises ToolFailed if ffmpeg fails or its output does not add up.
    """
    name = src.path.name
    interval = recipe["interval"]
    columns, rows = recipe["columns"], recipe["rows"]
    tile = tile_size(src.display_size, recipe["width"])
    stream = int(src.video_stream["index"])
    scratch = workdir / SCRATCH_NAME
    progress = _Forward(on_progress)
    try:
        times = _pick_frames(ff, src, stream, interval, tile, scratch, keyframes_only=True,
                             on_progress=progress.scaled(0.0, 0.9))  # fmt: skip
        decoded = "keyframes"
        if len(times) < SPARSE_SHARE * step_count(src.duration, interval):
            times = _pick_frames(ff, src, stream, interval, tile, scratch, keyframes_only=False,
                                 on_progress=progress.scaled(progress.done, 1.0))  # fmt: skip
            decoded = "all"
        if not times:
            raise ToolFailed(f"making a storyboard of {name}: no frames could be decoded")
        grids = sheet_grids(len(times), columns, rows)
        sheets = [workdir / SHEET_NAME.format(k + 1) for k in range(len(grids))]
        ff.run(sheets_args(scratch, tile, grids, columns * rows, recipe["quality"], sheets),
               what=f"tiling the storyboard of {name}", duration=src.duration)  # fmt: skip
    finally:
        scratch.unlink(missing_ok=True)

    outputs = []
    for path, (c, r) in zip(sheets, grids):
        if not path.is_file() or path.stat().st_size == 0:
            raise ToolFailed(f"tiling the storyboard of {name}: ffmpeg did not write {path.name}")
        outputs.append(Output(path.name, path, kind="storyboard", mime="image/jpeg",
                              width=c * tile[0], height=r * tile[1]))  # fmt: skip
    vtt = workdir / VTT_NAME
    vtt.write_text(build_vtt(times, src.duration, tile, columns, rows), encoding="utf-8")
    outputs.append(Output(VTT_NAME, vtt, kind="storyboard-vtt", mime="text/vtt", duration=src.duration))
    progress(1.0, None)
    return Result(
        outputs=outputs,
        data={
            "frames": len(times),
            "sheets": len(grids),
            "interval": interval,
            "tile": list(tile),
            "grids": [list(g) for g in grids],
            "decoded": decoded,
            "times": times,
        },
    )


def _pick_frames(
    ff: FFmpeg,
    src: SourceMedia,
    stream: int,
    interval: float,
    tile: tuple[int, int],
    out: Path,
    *,
    keyframes_only: bool,
    on_progress: Callable[[float, float | None], None],
) -> list[float]:
    """Write the picked frames to ``out``; return their times."""
    what = f"making a storyboard of {src.path.name}"
    stderr = ff.transcode(frames_args(src.path, ff.formats, stream, interval, tile, out, keyframes_only=keyframes_only),
                          what=what, duration=src.duration, on_progress=on_progress, loglevel="info")  # fmt: skip
    times = parse_showinfo(stderr)
    size = out.stat().st_size if out.is_file() else 0
    frame_bytes = tile[0] * tile[1] * 3
    if size != len(times) * frame_bytes:
        raise ToolFailed(f"{what}: ffmpeg logged {len(times)} frames but wrote {size / frame_bytes:g}")
    return times


class _Forward:
    """Wraps on_progress so it never goes back; ``scaled`` maps a pass into a range."""

    def __init__(self, callback: Callable[[float, float | None], None] | None) -> None:
        self.callback = callback
        self.done = 0.0

    def __call__(self, fraction: float, speed: float | None) -> None:
        if fraction < self.done:
            return
        self.done = fraction
        if self.callback is not None:
            self.callback(fraction, speed)

    def scaled(self, low: float, high: float) -> Callable[[float, float | None], None]:
        return lambda f, speed: self(low + (high - low) * f, speed)


def repoint(vtt_text: str, sheets: Mapping[str, str]) -> str:
    """The thumbnails track with each ``<sheet>#xywh=`` reference to a sheet named in
    ``sheets`` replaced by its new address (where the sheet is served or published)."""
    lines = []
    for line in vtt_text.splitlines():
        sheet, sep, frag = line.partition("#xywh=")
        if sep and sheet in sheets:
            line = f"{sheets[sheet]}#xywh={frag}"
        lines.append(line)
    return "\n".join(lines) + "\n"
