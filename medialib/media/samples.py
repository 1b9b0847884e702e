"""Small sample films made from test patterns, for the demo and the tests.

Pictures come from ffmpeg's lavfi sources; speech, when espeak-ng is
installed, from espeak-ng (useful later for caption drafts), else a tone.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from medialib.errors import ToolFailed
from medialib.media.ffmpeg import FFmpeg, file_url


def speech_wav(text: str, path: Path, voice: str = "en-gb") -> bool:
    """Speak ``text`` into a WAV file with espeak-ng; False if it is not installed."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return False
    try:
        subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(path), text],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        raise ToolFailed(f"espeak-ng: {exc}") from None
    return True


def sample_args(
    output: Path,
    *,
    duration: float = 4.0,
    size: str = "320x240",
    rate: int = 25,
    pattern: str = "testsrc2",
    audio: str | None = "tone",
    speech: Path | None = None,
    vcodec: str = "libx264",
    extra: list[str] | None = None,
) -> list[str]:
    """ffmpeg argv (after the program name) for a sample clip. Pure."""
    sep = ":" if "=" in pattern else "="
    args = ["-f", "lavfi", "-i", f"{pattern}{sep}size={size}:rate={rate}:duration={duration}"]
    if speech is not None:
        args += ["-f", "wav", "-protocol_whitelist", "file", "-i", file_url(speech)]
        args += ["-filter_complex", f"[1:a]apad,atrim=0:{duration},aformat=channel_layouts=stereo[a]",
                 "-map", "0:v", "-map", "[a]"]  # fmt: skip
    elif audio == "tone":
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}",
                 "-map", "0:v", "-map", "1:a", "-ac", "2"]  # fmt: skip
    if vcodec == "libx264":
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    else:
        args += ["-c:v", vcodec]
    if speech is not None or audio == "tone":
        args += ["-c:a", "aac", "-b:a", "96k"]
    args += [*(extra or []), "-t", str(duration), file_url(output)]
    return args


def make_sample(ff: FFmpeg, output: Path, *, speech_text: str | None = None, **kwargs: object) -> Path:
    """Write a sample clip to ``output`` (atomically); see sample_args for options."""
    with tempfile.TemporaryDirectory(prefix="medialib-sample-") as tmp:
        speech = None
        if speech_text:
            wav = Path(tmp) / "speech.wav"
            if speech_wav(speech_text, wav):
                speech = wav
        return ff.write_atomically(
            Path(output),
            lambda part: sample_args(part, speech=speech, **kwargs),  # type: ignore[arg-type]
            what=f"making sample {output}",
        )
