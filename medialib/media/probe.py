"""Technical metadata from ffprobe's JSON: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from medialib.errors import MediaError

# The file extension medialib stores an original under, by container. The
# extension comes from what ffprobe found, never from the uploaded name.
_MOV_BRANDS_QT = {"qt"}
_EXT_BY_FORMAT = {
    "matroska": "mkv",
    "avi": "avi",
    "mpegts": "ts",
    "mxf": "mxf",
    "mpeg": "mpg",
    "flv": "flv",
    "asf": "wmv",
    "ogg": "ogv",
    "dv": "dv",
}


@dataclass(frozen=True)
class TechInfo:
    """What medialib records about a cut's media."""

    container: str
    extension: str
    duration: float
    video_codec: str
    width: int
    height: int
    display_aspect_ratio: str
    frame_rate: float
    rotation: int
    audio_codec: str | None
    channels: int | None
    sample_rate: int | None
    bit_rate: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fraction(text: Any) -> Fraction | None:
    if not text or not isinstance(text, str):
        return None
    try:
        if ":" in text:
            num, den = text.split(":")
            value = Fraction(int(num), int(den))
        else:
            value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result else None  # NaN is no value


def rotation_of(stream: dict[str, Any]) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270)."""
    degrees = None
    for side in stream.get("side_data_list") or []:
        angle = _float(side.get("rotation"))
        if angle is not None:
            degrees = -angle  # the display matrix gives a counter-clockwise angle
    if degrees is None:
        degrees = _float((stream.get("tags") or {}).get("rotate"))
    return int(round(degrees or 0)) % 360


def _container(fmt: dict[str, Any]) -> tuple[str, str]:
    names = fmt.get("format_name", "").split(",")
    if names[0] == "mov":
        brand = ((fmt.get("tags") or {}).get("major_brand") or "").strip().lower()
        return ("mov", "mov") if brand in _MOV_BRANDS_QT else ("mp4", "mp4")
    if names[0] == "matroska":
        brand = ((fmt.get("tags") or {}).get("DOCTYPE") or "").lower()
        return ("webm", "webm") if brand == "webm" else ("matroska", "mkv")
    return names[0], _EXT_BY_FORMAT.get(names[0], "bin")


def tech_info(probe: dict[str, Any], name: str) -> TechInfo:
    """Check that ``probe`` describes a playable video and summarise it.

    Raises MediaError naming ``name`` if there is no video stream or no
    positive duration.
    """
    fmt = probe.get("format") or {}
    streams = probe.get("streams") or []
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        audio_only = any(s.get("codec_type") == "audio" for s in streams)
        raise MediaError(f"probing {name}: no video stream" + (" (audio only)" if audio_only else ""))
    video = videos[0]
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)

    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    if not duration or duration <= 0:
        raise MediaError(f"probing {name}: no positive duration (a still image or an empty stream)")

    width, height = _int(video.get("width")) or 0, _int(video.get("height")) or 0
    if width <= 0 or height <= 0:
        raise MediaError(f"probing {name}: the video stream has no picture size")

    sar = _fraction(video.get("sample_aspect_ratio")) or Fraction(1)
    dar = _fraction(video.get("display_aspect_ratio")) or Fraction(width, height) * sar
    rate = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    container, extension = _container(fmt)

    return TechInfo(
        container=container,
        extension=extension,
        duration=round(duration, 3),
        video_codec=video.get("codec_name") or "unknown",
        width=width,
        height=height,
        display_aspect_ratio=f"{dar.numerator}:{dar.denominator}",
        frame_rate=round(float(rate), 3) if rate else 0.0,
        rotation=rotation_of(video),
        audio_codec=audio.get("codec_name") if audio else None,
        channels=_int(audio.get("channels")) if audio else None,
        sample_rate=_int(audio.get("sample_rate")) if audio else None,
        bit_rate=_int(fmt.get("bit_rate")),
    )
