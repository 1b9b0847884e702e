"""Audio analysis of a cut: EBU R128 loudness and silent stretches, in one pass.

The loudness measured here is the first pass of a two-pass ``loudnorm``: the
proxies (medialib.media.proxy) feed these figures back to ``loudnorm`` so
that it can apply one linear gain instead of compressing dynamically. Both
passes see the same signal: the first audio stream downmixed to stereo.

Black stretches are measured by the proxy pass (it decodes the picture
anyway); this module reads the audio only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from medialib.config import DEFAULT_FORMATS
from medialib.errors import ConfigError, ToolFailed
from medialib.media.ffmpeg import PROTOCOLS, FFmpeg, file_url
from medialib.media.types import Result, SourceMedia

DEFAULTS: dict[str, Any] = {
    "kind": "analysis",
    "loudness": -16.0,  # integrated loudness target of the proxies, LUFS
    "true_peak": -1.0,  # maximum true peak of the proxies, dBTP
    "lra": 11.0,  # loudness range target, LU
    "silence_db": -50.0,  # below this level (dBFS) audio counts as silent
    "silence_min": 2.0,  # shortest silent stretch reported, seconds
    "black_min": 0.5,  # shortest black stretch reported, seconds (measured by the proxy pass)
    "black_pixel": 0.10,  # a pixel darker than this share of the luma range is black
}

# name -> (lowest, highest) accepted; the loudnorm limits of ffmpeg 5.1 for
# the first three.
_RANGES: dict[str, tuple[float, float]] = {
    "loudness": (-70.0, -5.0),
    "true_peak": (-9.0, 0.0),
    "lra": (1.0, 50.0),
    "silence_db": (-90.0, -1.0),
    "silence_min": (0.01, 3600.0),
    "black_min": (0.01, 3600.0),
    "black_pixel": (0.0, 1.0),
}

LOUDNESS_KEYS = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")

_SILENCE_START = re.compile(r"silence_start:\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")
_LOUDNORM_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.DOTALL)


def check_analysis_recipe(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with defaults filled in and values checked.

    Raises ConfigError(``recipes.<name>.<key>``) for an unknown key, a wrong
    type or a value out of range.
    """
    recipe = dict(DEFAULTS)
    for key, value in params.items():
        where = f"recipes.{name}.{key}"
        if key not in DEFAULTS:
            raise ConfigError(where, f"unknown setting for an analysis recipe (known: {', '.join(sorted(DEFAULTS))})")
        if key == "kind":
            if value != "analysis":
                raise ConfigError(where, f"must be 'analysis', not {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(where, f"must be a number, not {value!r}")
        low, high = _RANGES[key]
        if not low <= value <= high:
            raise ConfigError(where, f"must be between {low:g} and {high:g}, not {value:g}")
        recipe[key] = float(value)
    return recipe


def analysis_args(
    src: SourceMedia, recipe: Mapping[str, Any], *, formats: Sequence[str] = DEFAULT_FORMATS
) -> list[str]:
    """The ffmpeg argv tail that measures loudness and silences of ``src``. Pure.

    Only the first audio stream is decoded (``-vn``); the measurement is
    written to stderr, the audio itself to the null muxer.
    """
    graph = (
        "[0:a:0]aformat=channel_layouts=stereo,asplit=2[loud][quiet];"
        f"[loud]loudnorm=I={recipe['loudness']:g}:TP={recipe['true_peak']:g}:LRA={recipe['lra']:g}"
        ":print_format=json[out];"
        f"[quiet]silencedetect=noise={recipe['silence_db']:g}dB:d={recipe['silence_min']:g},anullsink"
    )
    return [
        "-protocol_whitelist", PROTOCOLS,
        "-format_whitelist", ",".join(formats),
        "-i", file_url(src.path),
        "-vn", "-sn", "-dn",
        "-filter_complex", graph,
        "-map", "[out]",
        "-f", "null", "-",
    ]  # fmt: skip


def _number(text: Any) -> float | None:
    """A finite float, or None for -inf/inf/nan/garbage (digital silence gives -inf)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_loudnorm(stderr: str) -> dict[str, float | None] | None:
    """The figures of loudnorm's JSON block in ``stderr``; None if there is none.

    Values that are not finite (``-inf`` for digital silence) become None.
    """
    blocks = _LOUDNORM_JSON.findall(stderr)
    if not blocks:
        return None
    try:
        raw = json.loads(blocks[-1])
    except json.JSONDecodeError:
        return None
    return {key: _number(raw.get(key)) for key in LOUDNESS_KEYS}


def parse_silences(stderr: str, duration: float) -> list[list[float]]:
    """``[[start, end], ...]`` from silencedetect lines in ``stderr``.

    A silence still open at the end of the stream ends at ``duration``.
    Times are clamped to ``[0, duration]`` (AAC priming can make the first
    start slightly negative).
    """
    silences: list[list[float]] = []
    start: float | None = None
    for line in stderr.splitlines():
        found = _SILENCE_START.search(line)
        if found:
            start = float(found.group(1))
        found = _SILENCE_END.search(line)
        if found and start is not None:
            silences.append([start, float(found.group(1))])
            start = None
    if start is not None:
        silences.append([start, duration])
    return [[round(min(max(s, 0.0), duration), 3), round(min(max(e, 0.0), duration), 3)] for s, e in silences]


def analyse_audio(
    ff: FFmpeg,
    src: SourceMedia,
    recipe: Mapping[str, Any],
    on_progress: Callable[[float, float | None], None] | None = None,
) -> Result:
    """Measure the loudness (EBU R128) and the silent stretches of ``src``.

    ``recipe`` is an analysis recipe (see :func:`check_analysis_recipe`).
    ``data`` holds ``audio`` (bool), ``loudness`` (the loudnorm first-pass
    figures, None without audio) and ``silences`` (``[[start, end], ...]``).
    A source without audio is not an error: nothing is run. Raises
    ToolFailed if ffmpeg fails or prints no measurement.
    """
    if not src.has_audio:
        return Result(data={"audio": False, "loudness": None, "silences": []})
    recipe = {**DEFAULTS, **recipe}
    what = f"analysing the audio of {src.path.name}"
    stderr = ff.transcode(
        analysis_args(src, recipe, formats=ff.formats),
        what=what,
        duration=src.duration,
        on_progress=on_progress,
    )
    loudness = parse_loudnorm(stderr)
    if loudness is None:
        raise ToolFailed(f"{what}: ffmpeg printed no loudness measurement")
    return Result(data={"audio": True, "loudness": loudness, "silences": parse_silences(stderr, src.duration)})
