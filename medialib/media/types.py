"""What derivative operations take and give: shared by posters, storyboards,
proxies and analysis, and by the pipeline that runs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from medialib.media.probe import TechInfo


@dataclass(frozen=True)
class SourceMedia:
    """A cut's original, ready to be read by ffmpeg."""

    path: Path  # a local file (the stored original, or a scratch copy of it)
    info: TechInfo
    probe: dict[str, Any]

    @property
    def duration(self) -> float:
        return self.info.duration

    @property
    def has_audio(self) -> bool:
        return self.info.audio_codec is not None

    @property
    def dar(self) -> Fraction:
        num, den = self.info.display_aspect_ratio.split(":")
        return Fraction(int(num), int(den))

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: square pixels, rotation applied."""
        height = self.info.height
        width = int(round(height * self.dar))
        if self.info.rotation in (90, 270):
            return height, width
        return width, height

    @property
    def video_stream(self) -> dict[str, Any]:
        return next(
            s for s in self.probe.get("streams", [])
            if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
        )  # fmt: skip

    @property
    def interlaced(self) -> bool:
        return self.video_stream.get("field_order") in ("tt", "bb", "tb", "bt")


@dataclass(frozen=True)
class Output:
    """One file an operation wrote into its work folder."""

    name: str  # file name in the recipe's output folder, e.g. "poster-640.webp"
    path: Path  # where it was written
    kind: str  # poster | storyboard | storyboard-vtt | proxy
    mime: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass
class Result:
    """What one operation produced: files, plus data to keep (measurements, choices)."""

    outputs: list[Output] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
