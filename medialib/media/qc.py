"""Technical QC of a cut: measurements gathered in one dict, then findings.

Pure functions. The measurements come from the probe (SourceMedia), the
audio analysis (medialib.media.analysis: loudness, silences) and the proxy
pass (medialib.media.proxy: black stretches, frames kept). A finding of
level ``error`` blocks publication (gate 2 in DESIGN.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from medialib.errors import ConfigError
from medialib.media.types import SourceMedia

LEVELS = ("error", "warning", "info")

DEFAULT_THRESHOLDS: dict[str, Any] = {
    # error no_audio: a film must have an audio stream (set False for silent films)
    "audio_required": True,
    # error all_black: black covers at least this share of the duration
    "all_black_share": 0.95,
    # warning black_start: more than this many seconds of black at the start
    "black_start_max": 2.0,
    # warning black_end: more than this many seconds of black at the end
    "black_end_max": 2.0,
    # warning black_inside: a black stretch longer than this (seconds) inside the film
    "black_inside_max": 2.0,
    # error all_silent: silence covers at least this share of the duration
    "all_silent_share": 0.95,
    # warning silence: a silent stretch longer than this many seconds
    "silence_max": 10.0,
    # warning loudness_low: integrated loudness of the source below this (LUFS)
    "loudness_min": -30.0,
    # warning loudness_high: integrated loudness of the source above this (LUFS)
    "loudness_max": -8.0,
    # warning true_peak: true peak of the source above this (dBTP): clipping risk
    "true_peak_max": -1.0,
    # warning short: a film shorter than this many seconds
    "duration_min": 1.0,
}

# The comments above, for the config.toml template.
THRESHOLD_HELP: dict[str, str] = {
    'audio_required': 'error no_audio: a film must have an audio stream (set False for silent films)',
    'all_black_share': 'error all_black: black covers at least this share of the duration',
    'black_start_max': 'warning black_start: more than this many seconds of black at the start',
    'black_end_max': 'warning black_end: more than this many seconds of black at the end',
    'black_inside_max': 'warning black_inside: a black stretch longer than this (seconds) inside the film',
    'all_silent_share': 'error all_silent: silence covers at least this share of the duration',
    'silence_max': 'warning silence: a silent stretch longer than this many seconds',
    'loudness_min': 'warning loudness_low: integrated loudness of the source below this (LUFS)',
    'loudness_max': 'warning loudness_high: integrated loudness of the source above this (LUFS)',
    'true_peak_max': 'warning true_peak: true peak of the source above this (dBTP): clipping risk',
    'duration_min': 'warning short: a film shorter than this many seconds',
}

# A stretch starting within this many seconds of 0 is "at the start"; one
# ending within this (or one and a half frames, if longer) of the end is "at
# the end". Detectors report the last frame's time, not the stream's end.
EDGE_TOLERANCE = 0.25


@dataclass(frozen=True)
class Finding:
    """One thing QC noticed: ``level`` is error, warning or info."""

    level: str
    code: str
    message: str
    at: float | None = None  # seconds into the film, when the finding has a place

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"finding level must be one of {', '.join(LEVELS)}, not {self.level!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def clock(seconds: float) -> str:
    """``00:01:12`` for 72.4 seconds."""
    whole = max(int(seconds), 0)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _fraction(text: Any) -> Fraction | None:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def _stream_duration(stream: Mapping[str, Any]) -> float | None:
    """A stream's duration from ffprobe: the field, or Matroska's DURATION tag."""
    seconds = _float(stream.get("duration"))
    if seconds:
        return seconds
    tag = (stream.get("tags") or {}).get("DURATION")
    if isinstance(tag, str) and tag.count(":") == 2:
        h, m, s = tag.split(":")
        try:
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            return None
    return None


def variable_frame_rate(src: SourceMedia, proxy_data: Mapping[str, Any] | None) -> bool | None:
    """Whether frames come at an irregular rate; None if it cannot be told.

    Counts frames against the nominal rate (``r_frame_rate``): from the
    source's own frame count when the container records one (MP4), else
    from the proxy pass, which keeps each source frame; as a last resort
    compares the nominal rate with the average one.
    """
    video = src.video_stream
    nominal = _fraction(video.get("r_frame_rate"))
    frames = video.get("nb_frames")
    duration = _stream_duration(video)
    if not (frames and str(frames).isdigit() and duration) and proxy_data:
        frames, duration = proxy_data.get("video_frames"), proxy_data.get("video_duration")
    if nominal and frames and duration:
        expected = float(nominal) * float(duration)
        return abs(int(frames) - expected) > max(2.0, 0.02 * expected)
    average = _fraction(video.get("avg_frame_rate"))
    if nominal and average:
        return abs(float(nominal - average)) / float(nominal) > 0.02
    return None


def _audio_stream(src: SourceMedia) -> Mapping[str, Any] | None:
    return next((s for s in src.probe.get("streams", []) if s.get("codec_type") == "audio"), None)


def _total(stretches: list[list[float]]) -> float:
    return round(float(sum(max(end - start, 0.0) for start, end in stretches)), 3)


def measurements(
    src: SourceMedia,
    analysis_data: Mapping[str, Any] | None,
    proxy_data: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Everything QC judges, as one JSON-ready dict; None for what was not measured.

    ``analysis_data`` is analyse_audio's ``data``, ``proxy_data`` is
    make_proxies' ``data``; either may be None (not run yet). Black
    stretches are split into ``black_start`` and ``black_end`` (seconds of
    black at either edge, 0 if none) and ``black_inside`` (the others).
    ``not_measured`` names what is missing.
    """
    info = src.info
    duration = info.duration
    display_w, display_h = src.display_size
    audio = _audio_stream(src)
    not_measured: list[str] = []

    loudness = None
    silences = None
    if not src.has_audio:
        silences = []  # nothing to measure
    elif analysis_data is None or not analysis_data.get("audio"):
        not_measured += ["loudness", "silences"]
    else:
        loudness = analysis_data.get("loudness") or {}
        silences = [list(s) for s in analysis_data.get("silences") or []]

    black = black_inside = None
    black_start = black_end = None
    if proxy_data is None or proxy_data.get("black") is None:
        not_measured.append("black")
    else:
        black = [list(s) for s in proxy_data["black"]]
        frame = 1.5 / info.frame_rate if info.frame_rate else 0.0
        edge = max(EDGE_TOLERANCE, frame)
        black_start = black_end = 0.0
        black_inside = []
        for start, end in black:
            at_start, at_end = start <= edge, end >= duration - edge
            if at_start:
                black_start = max(black_start, round(end - start, 3))
            if at_end:
                black_end = max(black_end, round(end - start, 3))
            if not (at_start or at_end):
                black_inside.append([start, end])

    return {
        "duration": duration,
        "width": info.width,
        "height": info.height,
        "display_width": display_w,
        "display_height": display_h,
        "frame_rate": info.frame_rate,
        "variable_frame_rate": variable_frame_rate(src, proxy_data),
        "interlaced": src.interlaced,
        "field_order": src.video_stream.get("field_order"),
        "audio": src.has_audio,
        "audio_channels": info.channels,
        "channel_layout": audio.get("channel_layout") if audio else None,
        "integrated_lufs": loudness.get("input_i") if loudness is not None else None,
        "loudness_range": loudness.get("input_lra") if loudness is not None else None,
        "true_peak": loudness.get("input_tp") if loudness is not None else None,
        "black": black,
        "black_total": _total(black) if black is not None else None,
        "black_start": black_start,
        "black_end": black_end,
        "black_inside": black_inside,
        "silences": silences,
        "silence_total": _total(silences) if silences is not None else None,
        "not_measured": not_measured,
    }


def check_thresholds(thresholds: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_THRESHOLDS overridden by ``thresholds``; ConfigError(``qc.<key>``) for unknown or bad ones."""
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise ConfigError(f"qc.{key}", f"unknown QC threshold (known: {', '.join(sorted(DEFAULT_THRESHOLDS))})")
        if isinstance(DEFAULT_THRESHOLDS[key], bool):
            if not isinstance(value, bool):
                raise ConfigError(f"qc.{key}", f"must be true or false, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"qc.{key}", f"must be a number, not {value!r}")
        elif key.endswith("_share") and not 0 < value <= 1:
            raise ConfigError(f"qc.{key}", f"must be a share of the duration, above 0 and at most 1, not {value}")
        merged[key] = value
    return merged


_FIELD_ORDER = {"tt": "top field first", "bt": "top field first",
                "bb": "bottom field first", "tb": "bottom field first"}  # fmt: skip


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


def findings(m: Mapping[str, Any], thresholds: Mapping[str, Any] | None = None) -> list[Finding]:
    """What QC reports about measurements ``m`` (from :func:`measurements`).

    Errors first, then warnings, then notes; in film order within a level.
    Raises ConfigError for an unknown or malformed threshold.
    """
    t = check_thresholds(thresholds)
    out: list[Finding] = []
    duration = float(m["duration"] or 0.0)

    def add(level: str, code: str, message: str, at: float | None = None) -> None:
        out.append(Finding(level, code, message, at))

    def share(total: float | None) -> float:
        return (total or 0.0) / duration if duration > 0 else 0.0

    if not m["audio"] and t["audio_required"]:
        add("error", "no_audio", "no audio stream")

    if m["black"] is not None:
        if share(m["black_total"]) >= t["all_black_share"]:
            add("error", "all_black", f"the picture is black for {share(m['black_total']):.0%} of the film", 0.0)
        else:
            if m["black_start"] > t["black_start_max"]:
                add("warning", "black_start", f"{_seconds(m['black_start'])} of black at the start", 0.0)
            if m["black_end"] > t["black_end_max"]:
                start = round(max(duration - m["black_end"], 0.0), 3)
                add("warning", "black_end",
                    f"{_seconds(m['black_end'])} of black at the end (from {clock(start)})", start)  # fmt: skip
            for start, end in m["black_inside"]:
                if end - start > t["black_inside_max"]:
                    add("warning", "black_inside", f"{_seconds(end - start)} of black at {clock(start)}", start)

    all_silent = False
    if m["silences"] is not None and m["audio"]:
        all_silent = share(m["silence_total"]) >= t["all_silent_share"]
        if all_silent:
            add("error", "all_silent", f"the sound is silent for {share(m['silence_total']):.0%} of the film", 0.0)
        else:
            for start, end in m["silences"]:
                if end - start > t["silence_max"]:
                    add("warning", "silence", f"{_seconds(end - start)} of silence at {clock(start)}", start)

    lufs, peak = m["integrated_lufs"], m["true_peak"]
    if lufs is not None and not all_silent:
        if lufs < t["loudness_min"]:
            add("warning", "loudness_low",
                f"quiet: {lufs:.1f} LUFS integrated, below {t['loudness_min']:g} LUFS "
                "(before normalisation)")  # fmt: skip
        elif lufs > t["loudness_max"]:
            add("warning", "loudness_high",
                f"loud: {lufs:.1f} LUFS integrated, above {t['loudness_max']:g} LUFS "
                "(before normalisation)")  # fmt: skip
    if peak is not None and peak > t["true_peak_max"]:
        add("warning", "true_peak",
            f"true peak {peak:.1f} dBTP is above {t['true_peak_max']:g} dBTP: the source may clip")  # fmt: skip

    if m["variable_frame_rate"]:
        add("warning", "vfr", "variable frame rate: some players and editors drift out of sync")
    if duration < t["duration_min"]:
        add("warning", "short", f"only {duration:.2f} s long (under {t['duration_min']:g} s)")
    if m["interlaced"]:
        # ffprobe's field_order: coded order, then displayed order ("tb": top coded, bottom shown first).
        order = _FIELD_ORDER.get(m.get("field_order") or "")
        add("info", "interlaced", f"interlaced source{f' ({order})' if order else ''}: deinterlaced in the proxies")
    if m["not_measured"]:
        add("info", "not_measured", f"not measured yet: {', '.join(m['not_measured'])}")

    rank = {level: i for i, level in enumerate(LEVELS)}
    return sorted(out, key=lambda f: (rank[f.level], f.at if f.at is not None else -1.0))


def has_errors(found: list[Finding]) -> bool:
    """True if any finding blocks publication."""
    return any(f.level == "error" for f in found)


def report(
    src: SourceMedia,
    analysis_data: Mapping[str, Any] | None,
    proxy_data: Mapping[str, Any] | None,
    thresholds: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The QC report to store: ``{"measurements": ..., "findings": [...], "passed": bool}``."""
    m = measurements(src, analysis_data, proxy_data)
    found = findings(m, thresholds)
    return {"measurements": m, "findings": [f.as_dict() for f in found], "passed": not has_errors(found)}
