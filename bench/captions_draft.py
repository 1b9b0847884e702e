"""Benchmark: caption drafts (`medialib.captions.draft`) on a minute of synthetic speech.

Target: transcription runs at a real-time factor (transcription wall time /
audio duration) of at most 0.1 on this machine, with the shipped Whisper
tiny.en model, once the model is loaded. The model load time, the audio
decode, the cue shaping and a cold end-to-end `draft()` are reported apart,
and the word error rate against the text espeak-ng read out.

    .venv/bin/python bench/captions_draft.py [--dir /tmp/medialib-bench] [--repeat 3] [--threads 0]

The clip is made once per run: espeak-ng (voice en-gb, 150 words a minute)
reads REFERENCE into a WAV, ffmpeg muxes it under a small test picture into
an MP4, as an uploaded cut would be. Everything is timed in this process with
time.perf_counter, in this order: importing faster_whisper, loading the model
(cold), decoding the audio with ffmpeg, then --repeat transcriptions with the
model loaded (the median gives the RTF), then shaping the words into cues.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MB, check_importable, code_version, fmt_times, median, verdict  # noqa: E402

TARGET_RTF = 0.10

# Plain English without numbers (Whisper writes "1,000" where the text says "a thousand").
REFERENCE = """\
The river starts high in the hills, where the snow melts slowly in the spring. For most of the year it is only a
narrow stream, and children can cross it on the stones without getting their feet wet.

By the time it reaches the town, the river is wide and brown. Boats carry wood, grain and coal down to the harbour,
and the old mill still turns when the water is high. People have lived on its banks for as long as anyone can
remember.

In the evening, the fishermen come back with their nets. They sell what they have caught in the market square, then
sit outside the small cafe and talk about the weather. Nobody knows exactly how old the bridge is, but everyone
agrees that it has never fallen down.

Next summer, the council plans to build a new path along the water, so that families can walk from the station to
the sea. On a clear morning you can see the whole valley from the church tower.
"""


def make_clip(folder: Path) -> tuple[Path, float]:
    """An MP4 of espeak-ng reading REFERENCE, and its duration in seconds."""
    from medialib.config import DEFAULT_FORMATS
    from medialib.media.ffmpeg import FFmpeg
    from medialib.media.samples import make_sample, speech_wav

    wav = folder / "speech.wav"
    if not speech_wav(" ".join(REFERENCE.split()), wav):
        sys.exit("espeak-ng is not on PATH")
    with wave.open(str(wav)) as fh:
        seconds = fh.getnframes() / fh.getframerate()
    duration = round(seconds + 0.5, 1)
    clip = make_sample(FFmpeg(formats=list(DEFAULT_FORMATS)), folder / "speech.mp4",
                       speech_text=" ".join(REFERENCE.split()), duration=duration, size="320x240")  # fmt: skip
    return clip, duration


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/medialib-bench"),
                        help="scratch folder for the clip (default /tmp/medialib-bench)")
    parser.add_argument("--repeat", type=int, default=3, help="transcriptions timed after the load (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for recognition; 0: all cores (default)")
    parser.add_argument("--model", default="", help="a CTranslate2 Whisper model folder (default: the shipped tiny.en)")
    args = parser.parse_args()
    check_importable()
    for tool in ("ffmpeg", "ffprobe", "espeak-ng"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from medialib.captions import draft as drafting
    from medialib.config import DEFAULT_FORMATS, load
    from medialib.media.ffmpeg import FFmpeg

    print(f"python: {sys.executable}; cores: {os.cpu_count()}; load average before: "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))  # fmt: skip
    print(f"medialib commit: {code_version()}")
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="captions-draft-", dir=args.dir) as tmp:
        clip, duration = make_clip(Path(tmp))
        print(f"clip: {clip.name}, {duration:.1f} s, {len(REFERENCE.split())} words read by espeak-ng")

        model_path = drafting.resolve_model(args.model)
        threads = drafting._threads(args.threads)
        print(f"model: {model_path}; threads: {threads}")

        started = time.perf_counter()
        import faster_whisper  # noqa: F401

        import_s = time.perf_counter() - started
        cpu0, started = cpu_seconds(), time.perf_counter()
        drafting.load_model(model_path, threads=args.threads)
        load_s, load_cpu = time.perf_counter() - started, cpu_seconds() - cpu0

        ff = FFmpeg(formats=list(DEFAULT_FORMATS))
        started = time.perf_counter()
        audio = drafting.load_audio(ff, clip, DEFAULT_FORMATS)
        decode_s = time.perf_counter() - started
        seconds = len(audio) / drafting.SAMPLE_RATE

        times: list[float] = []
        cpus: list[float] = []
        words: list[drafting.Word] = []
        for rep in range(args.repeat):
            cpu0, started = cpu_seconds(), time.perf_counter()
            words = drafting.transcribe(audio, model_path, threads=args.threads)
            times.append(time.perf_counter() - started)
            cpus.append(cpu_seconds() - cpu0)
            print(f"rep {rep + 1}/{args.repeat}: transcription {times[-1]:.2f} s (RTF {times[-1] / seconds:.3f}), "
                  f"CPU {cpus[-1]:.2f} s, {len(words)} words", flush=True)  # fmt: skip

        options = drafting.shape_options(load(env={}, cwd=Path(tmp)))
        started = time.perf_counter()
        cues = drafting.shape_cues(words, **options, until=seconds)
        shape_s = time.perf_counter() - started
        hypothesis = " ".join(c.text for c in cues)
        wer = drafting.word_error_rate(REFERENCE, hypothesis)

        drafting._MODELS.clear()  # a cold end-to-end draft: probe, decode, load, transcribe, shape
        started = time.perf_counter()
        drafting.draft(ff, clip, DEFAULT_FORMATS, model_setting=args.model, threads=args.threads, shape=options)
        cold_s = time.perf_counter() - started

    rtf = median(times) / seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    print()
    print(f"audio: {seconds:.2f} s; repetitions: {args.repeat}; load average after: "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))  # fmt: skip
    print(f"  import faster_whisper                  {import_s:7.3f} s")
    print(f"  model load (cold)                      {load_s:7.3f} s  CPU {load_cpu:.2f} s")
    print(f"  audio decode (ffmpeg, 16 kHz mono)     {decode_s:7.3f} s")
    print(f"  transcription, model loaded (median)   {median(times):7.3f} s  CPU {median(cpus):.2f} s  ({fmt_times(times)})")
    print(f"  shape_cues ({len(words)} words -> {len(cues)} cues)      {shape_s:7.3f} s")
    print(f"  draft() end to end, model cold         {cold_s:7.3f} s  (RTF {cold_s / seconds:.3f}, informative)")
    print(f"  peak RSS of this process               {peak:7.1f} MB")
    print()
    cores_used = median(cpus) / median(times)
    print(f"CPU seconds per audio second: {median(cpus) / seconds:.3f} (informative: not slowed by other processes); "
          f"during transcription this process ran on {cores_used:.2f} of {threads} cores (CPU / wall)")  # fmt: skip
    edits = round(wer * len(REFERENCE.split()))
    print(f"word error rate: {wer:.3f} ({edits} word edits for {len(REFERENCE.split())} reference words)")
    print(f"real-time factor: {median(times):.3f} / {seconds:.2f} = {rtf:.3f} "
          f"({1 / rtf:.1f}x faster than real time); target <= {TARGET_RTF:.2f}: {verdict(rtf <= TARGET_RTF)}")
    return 0 if rtf <= TARGET_RTF else 1


if __name__ == "__main__":
    sys.exit(main())
