"""Web proxies: H.264/AAC MP4 renditions of a cut, made in one ffmpeg process.

The source is decoded once; a ``split`` feeds every rendition's scaler and a
small black-frame detector, so the QC report's black stretches cost no extra
decode. Audio is downmixed to stereo and normalised with the second pass of
``loudnorm``, using the figures measured by medialib.media.analysis.

Argument builders are pure; :func:`make_proxies` is the only function here
that runs anything, and it writes each proxy under a temporary name that is
renamed only after the file has been checked with ffprobe.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from medialib.config import DEFAULT_FORMATS
from medialib.errors import ConfigError, ToolFailed
from medialib.media import analysis
from medialib.media.ffmpeg import PROTOCOLS, FFmpeg, file_url
from medialib.media.probe import rotation_of
from medialib.media.types import Output, Result, SourceMedia

DEFAULTS: dict[str, Any] = {
    "kind": "proxy",
    "height": 720,  # the short side of the displayed picture, in pixels; never upscaled
    "crf": 23,  # x264 constant rate factor: 0 (lossless) .. 51 (worst)
    "maxrate": "3M",  # peak video bitrate, so the proxy streams on a modest connection
    "bufsize": "6M",  # the VBV buffer the peak is measured over
    "preset": "veryfast",  # x264 speed/size trade-off
    "audio_bitrate": "128k",  # AAC stereo
    "keyframe_interval": 2.0,  # seconds between forced keyframes (seek granularity)
}

# The renditions made when the configuration names none.
DEFAULT_RECIPES: dict[str, dict[str, Any]] = {
    "proxy-720": dict(DEFAULTS),
    "proxy-360": {**DEFAULTS, "height": 360, "crf": 24, "maxrate": "1M", "bufsize": "2M"},
}

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast",
                "medium", "slow", "slower", "veryslow", "placebo")  # fmt: skip

# ffmpeg reads "3m" as 3 milli: only k, K and M are accepted as suffixes.
_BITRATE = re.compile(r"^(\d+(?:\.\d+)?)([kKM]?)$")
_RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")
_BLACK = re.compile(r"black_start:\s*(-?[\d.]+(?:e[-+]?\d+)?)\s+black_end:\s*(-?[\d.]+(?:e[-+]?\d+)?)")

BLACK_WIDTH = 160  # the black detector looks at a picture this wide: plenty, and cheap
DURATION_TOLERANCE = 0.5  # seconds a proxy may differ from its source


# --- recipes -------------------------------------------------------------------


def _bitrate(value: Any) -> float | None:
    """Bits per second of ``"128k"`` / ``"3M"``; None if malformed."""
    if not isinstance(value, str):
        return None
    found = _BITRATE.match(value.strip())
    if not found:
        return None
    return float(found.group(1)) * {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[found.group(2)]


def check_name(name: str) -> None:
    """Recipe names become file names (``<name>.mp4``): letters, digits, ``-``, ``_``."""
    if not isinstance(name, str) or not _RECIPE_NAME.match(name):
        raise ConfigError(f"recipes.{name}", "a recipe name is 1-60 letters, digits, '-' or '_', "
                                             "starting with a letter or digit")  # fmt: skip


def check_recipe(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A proxy or analysis recipe with defaults filled in and every value checked.

    ``params["kind"]`` selects the kind (``proxy`` when absent). A proxy
    recipe named like a default one (``proxy-360``) starts from that one's
    values, so ``[recipes.proxy-360] crf = 26`` keeps its height of 360.
    Raises ConfigError(``recipes.<name>.<key>``, why) for an unknown key, a
    wrong type or a bad value.
    """
    check_name(name)
    kind = params.get("kind", "proxy")
    if kind == "analysis":
        return analysis.check_analysis_recipe(name, params)
    if kind != "proxy":
        raise ConfigError(f"recipes.{name}.kind", f"expected 'proxy' or 'analysis', not {kind!r}")
    recipe = dict(DEFAULT_RECIPES.get(name, DEFAULTS))
    for key, value in params.items():
        where = f"recipes.{name}.{key}"
        if key not in DEFAULTS:
            raise ConfigError(where, f"unknown setting for a proxy recipe (known: {', '.join(sorted(DEFAULTS))})")
        if key == "kind":
            continue
        if key in ("height", "crf"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(where, f"must be a whole number, not {value!r}")
            if key == "crf" and not 0 <= value <= 51:
                raise ConfigError(where, f"must be between 0 and 51, not {value}")
            if key == "height" and not (2 <= value <= 4320 and value % 2 == 0):
                raise ConfigError(where, f"must be an even number of pixels from 2 to 4320, not {value}")
        elif key == "preset":
            if value not in X264_PRESETS:
                raise ConfigError(where, f"must be one of {', '.join(X264_PRESETS)}, not {value!r}")
        elif key in ("maxrate", "bufsize", "audio_bitrate"):
            bits = _bitrate(value)
            if bits is None:
                raise ConfigError(where, f'must be a bitrate like "128k" or "3M", not {value!r}')
            if bits <= 0:
                raise ConfigError(where, "must be more than zero")
            if key == "audio_bitrate" and not 16e3 <= bits <= 512e3:
                raise ConfigError(where, f"must be from 16k to 512k for stereo AAC, not {value}")
        elif key == "keyframe_interval":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(where, f"must be a number of seconds, not {value!r}")
            if not 0.1 <= value <= 60:
                raise ConfigError(where, f"must be between 0.1 and 60 seconds, not {value:g}")
            value = float(value)
        recipe[key] = value
    return recipe


# --- pure argument builders ------------------------------------------------------


def _even_down(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _even_nearest(value: Fraction) -> int:
    return max(2, math.floor(value / 2 + 0.5) * 2)


def proxy_size(src: SourceMedia, height: int) -> tuple[int, int]:
    """Width and height of a proxy whose displayed short side is ``height``.

    Square pixels, rotation applied, aspect ratio of the display kept, both
    even (x264 and yuv420p need it), and never larger than the source as
    displayed: a smaller source keeps its own size (rounded down to even).
    """
    shown_w, shown_h = src.display_size
    aspect = src.dar if src.info.rotation not in (90, 270) else 1 / src.dar  # width / height as shown
    short = _even_down(min(height, shown_w, shown_h))
    if shown_w >= shown_h:
        return min(_even_nearest(short * aspect), _even_down(shown_w)), short
    return short, min(_even_nearest(short / aspect), _even_down(shown_h))


def _loudnorm(loudness: Mapping[str, Any] | None, recipe: Mapping[str, Any]) -> str | None:
    """The second-pass loudnorm filter, or None when the first pass has no usable figures."""
    if not loudness or any(loudness.get(k) is None for k in analysis.LOUDNESS_KEYS):
        return None  # no audio measured, or digital silence (-inf): nothing to normalise

    def clamp(key: str, low: float, high: float) -> str:
        return f"{min(max(float(loudness[key]), low), high):.2f}"

    return (
        f"loudnorm=I={recipe['loudness']:g}:TP={recipe['true_peak']:g}:LRA={recipe['lra']:g}"
        f":measured_I={clamp('input_i', -99, 0)}:measured_TP={clamp('input_tp', -99, 99)}"
        f":measured_LRA={clamp('input_lra', 0, 99)}:measured_thresh={clamp('input_thresh', -99, 0)}"
        f":offset={clamp('target_offset', -99, 99)}:linear=true"
    )


def proxy_args(
    src: SourceMedia,
    renditions: Sequence[tuple[str, Mapping[str, Any]]],
    outputs: Sequence[Path],
    analysis_data: Mapping[str, Any] | None,
    analysis_recipe: Mapping[str, Any],
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> list[str]:
    """The ffmpeg argv tail writing every rendition of ``src`` from one decode. Pure.

    ``renditions`` are ``(name, checked proxy recipe)`` pairs and ``outputs``
    the file each is written to. ``analysis_data`` is the ``data`` of
    :func:`medialib.media.analysis.analyse_audio` (its loudness figures drive
    loudnorm's linear second pass); ``analysis_recipe`` gives the loudness
    targets and the black-detection settings.
    """
    if not renditions or len(renditions) != len(outputs):
        raise ValueError("proxy_args needs one output path per rendition")
    arecipe = {**analysis.DEFAULTS, **analysis_recipe}
    n = len(renditions)

    # Deinterlacing: a source whose stream says it is interlaced gets every
    # frame deinterlaced (some codecs do not flag each frame); any other source
    # still has frames that are flagged interlaced deinterlaced (mixed material),
    # which costs nothing for progressive frames (bwdif passes them through).
    deint = "all" if src.interlaced else "interlaced"
    # The video stream SourceMedia describes, by its index: "v:0" could be a
    # cover picture (attached_pic) that comes first in some files.
    index = src.video_stream.get("index")
    video_in = f"0:{index}" if isinstance(index, int) else "0:v:0"
    chains = [f"[{video_in}]bwdif=mode=send_frame:parity=auto:deint={deint},split={n + 1}"
              + "".join(f"[v{i}]" for i in range(n)) + "[vb]"]  # fmt: skip
    for i, (_, recipe) in enumerate(renditions):
        width, height = proxy_size(src, int(recipe["height"]))
        chains.append(f"[v{i}]scale={width}:{height},setsar=1,format=yuv420p[o{i}]")
    chains.append(f"[vb]scale={BLACK_WIDTH}:-2,blackdetect=d={arecipe['black_min']:g}"
                  f":pix_th={arecipe['black_pixel']:g},nullsink")  # fmt: skip
    if src.has_audio:
        audio = ["aformat=channel_layouts=stereo"]
        norm = _loudnorm((analysis_data or {}).get("loudness"), arecipe)
        if norm:
            audio.append(norm)
        audio += ["aresample=48000", f"asplit={n}"]
        chains.append("[0:a:0]" + ",".join(audio) + "".join(f"[a{i}]" for i in range(n)))

    args = [
        "-protocol_whitelist", PROTOCOLS,
        "-format_whitelist", ",".join(formats),
        "-i", file_url(src.path),
        "-filter_complex", ";".join(chains),
    ]  # fmt: skip
    for i, ((_, recipe), output) in enumerate(zip(renditions, outputs, strict=True)):
        args += ["-map", f"[o{i}]"]
        if src.has_audio:
            args += ["-map", f"[a{i}]"]
        args += [
            "-c:v", "libx264",
            "-preset", str(recipe["preset"]),
            "-crf", str(recipe["crf"]),
            "-maxrate", str(recipe["maxrate"]),
            "-bufsize", str(recipe["bufsize"]),
            "-pix_fmt", "yuv420p",
            "-profile:v", "high",
            "-force_key_frames", f"expr:gte(t,n_forced*{float(recipe['keyframe_interval']):g})",
            # Keep each frame's own timestamp (variable frame rate sources stay
            # in sync, nothing is duplicated); only frames with equal
            # timestamps are dropped.
            "-fps_mode", "vfr",
        ]  # fmt: skip
        if src.has_audio:
            args += ["-c:a", "aac", "-b:a", str(recipe["audio_bitrate"]), "-ac", "2"]
        args += [
            # No titles, dates or GPS from the original, no chapters; ffmpeg has
            # rotated the frames upright, and a filtered stream carries no
            # display matrix (make_proxies checks).
            "-map_metadata", "-1",
            "-map_chapters", "-1",
            "-movflags", "+faststart",
            "-f", "mp4",
            file_url(output),
        ]  # fmt: skip
    return args


# --- reading ffmpeg's output -------------------------------------------------------


def parse_black(stderr: str) -> list[list[float]]:
    """``[[start, end], ...]`` from blackdetect lines in ``stderr``."""
    return [[round(max(float(s), 0.0), 3), round(max(float(e), 0.0), 3)] for s, e in _BLACK.findall(stderr)]


def mp4_boxes(path: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """The top-level boxes of an MP4 file: ``(type, offset, size)`` in file order.

    Stops at the end of the file or at a box whose size makes no sense.
    """
    boxes: list[tuple[str, int, int]] = []
    with open(path, "rb") as f:
        end = os.fstat(f.fileno()).st_size
        offset = 0
        while offset + 8 <= end:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:  # 64-bit size follows the type
                if offset + 16 > end:
                    break
                (size,) = struct.unpack(">Q", f.read(8))
            elif size == 0:  # the box runs to the end of the file
                size = end - offset
            if size < 8:
                break
            boxes.append((kind.decode("latin-1"), offset, size))
            offset += size
    return boxes


def is_faststart(path: str | os.PathLike[str]) -> bool:
    """True if the ``moov`` index comes before the ``mdat`` media data."""
    offsets: dict[str, int] = {}
    for kind, offset, _ in mp4_boxes(path):
        offsets.setdefault(kind, offset)
    return "moov" in offsets and "mdat" in offsets and offsets["moov"] < offsets["mdat"]


def verify_proxy(
    ff: FFmpeg, src: SourceMedia, path: Path, size: tuple[int, int], *, name: str | None = None
) -> dict[str, Any]:
    """Check a written proxy; return its probe. Raises ToolFailed naming the output.

    A proxy must last as long as its source (within 0.5 s), hold one
    upright H.264 yuv420p video stream of ``size`` with square pixels, one
    AAC stereo stream if and only if the source has audio, and have its
    index before its data (faststart).
    """
    shown = name or path.name
    probe = ff.probe(path, name=shown)

    def fail(why: str) -> ToolFailed:
        return ToolFailed(f"checking proxy {shown}: {why}")

    streams = probe.get("streams") or []
    videos = [s for s in streams if s.get("codec_type") == "video"]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    duration = float((probe.get("format") or {}).get("duration") or 0.0)
    if abs(duration - src.duration) > DURATION_TOLERANCE:
        raise fail(f"lasts {duration:.2f} s but the source lasts {src.duration:.2f} s")
    if len(videos) != 1:
        raise fail(f"{len(videos)} video streams instead of 1")
    video = videos[0]
    if video.get("codec_name") != "h264" or video.get("pix_fmt") != "yuv420p":
        raise fail(f"video is {video.get('codec_name')} {video.get('pix_fmt')}, not h264 yuv420p")
    got = (int(video.get("width") or 0), int(video.get("height") or 0))
    if got != tuple(size):
        raise fail(f"picture is {got[0]}x{got[1]}, expected {size[0]}x{size[1]}")
    if video.get("sample_aspect_ratio") not in (None, "1:1", "0:1"):
        raise fail(f"pixels are not square (SAR {video.get('sample_aspect_ratio')})")
    if rotation_of(video) != 0 or any("matrix" in (d.get("side_data_type") or "").lower()
                                      for d in video.get("side_data_list") or []):  # fmt: skip
        raise fail("the video still carries rotation metadata")
    if src.has_audio:
        if len(audios) != 1 or audios[0].get("codec_name") != "aac" or int(audios[0].get("channels") or 0) != 2:
            found = ", ".join(f"{a.get('codec_name')} {a.get('channels')} ch" for a in audios) or "none"
            raise fail(f"expected one AAC stereo audio stream, found {found}")
    elif audios:
        raise fail("has an audio stream but the source has none")
    if not is_faststart(path):
        raise fail("the moov index is not before the media data (not faststart)")
    return probe


# --- running it ------------------------------------------------------------------------


def make_proxies(
    ff: FFmpeg,
    src: SourceMedia,
    renditions: Sequence[tuple[str, Mapping[str, Any]]],
    workdir: Path,
    analysis_data: Mapping[str, Any] | None,
    analysis_recipe: Mapping[str, Any],
    on_progress: Callable[[float, float | None], None] | None = None,
) -> Result:
    """Write ``<name>.mp4`` in ``workdir`` for each rendition, from one decode of ``src``.

    ``data["black"]`` holds the black stretches ``[[start, end], ...]``;
    ``data["video_frames"]`` and ``data["video_duration"]`` describe the
    first proxy's video (frames kept from the source: the QC report reads
    a variable frame rate from them); ``data["loudnorm"]`` says whether the
    audio was normalised. Raises ToolFailed if ffmpeg fails (or takes
    longer than ``ffmpeg.timeout`` allows) or a proxy fails its check; no
    partial file is left behind.
    """
    if not renditions:
        raise ValueError("make_proxies needs at least one rendition")
    for name, _ in renditions:
        check_name(name)
    if len({name for name, _ in renditions}) != len(renditions):
        raise ValueError("make_proxies got two renditions with the same name")
    workdir.mkdir(parents=True, exist_ok=True)
    finals = [workdir / f"{name}.mp4" for name, _ in renditions]
    temps = [workdir / f".{name}.{os.getpid()}.part.mp4" for name, _ in renditions]
    sizes = [proxy_size(src, int(recipe["height"])) for _, recipe in renditions]
    arecipe = {**analysis.DEFAULTS, **analysis_recipe}
    what = f"making proxies of {src.path.name}"
    try:
        stderr = ff.transcode(
            proxy_args(src, renditions, temps, analysis_data, arecipe, formats=ff.formats),
            what=what,
            duration=src.duration,
            on_progress=on_progress,
        )
        probes = [verify_proxy(ff, src, tmp, size, name=final.name)
                  for tmp, final, size in zip(temps, finals, sizes, strict=True)]  # fmt: skip
        for tmp, final in zip(temps, finals, strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)

    outputs = []
    for final, size, probe in zip(finals, sizes, probes, strict=True):
        outputs.append(Output(name=final.name, path=final, kind="proxy", mime="video/mp4", width=size[0],
                              height=size[1], duration=round(float(probe["format"]["duration"]), 3)))  # fmt: skip
    first_video = next(s for s in probes[0]["streams"] if s.get("codec_type") == "video")
    frames = first_video.get("nb_frames")
    video_duration = first_video.get("duration")
    loudness = (analysis_data or {}).get("loudness")
    data = {
        "black": parse_black(stderr),
        "video_frames": int(frames) if frames and str(frames).isdigit() else None,
        "video_duration": round(float(video_duration), 3) if video_duration else None,
        "deinterlaced": "all frames" if src.interlaced else "frames flagged interlaced",
        "loudnorm": src.has_audio and _loudnorm(loudness, arecipe) is not None,
    }
    return Result(outputs=outputs, data=data)
