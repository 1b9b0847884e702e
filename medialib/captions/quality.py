"""Caption quality: the rulebook of CAPTIONS.md applied to parsed cues.

Pure functions over a :class:`medialib.captions.webvtt.Parsed` (only its
``cues`` and ``problems`` are read). Every threshold is a ``captions.*``
setting (see :data:`THRESHOLDS`). A finding of level ``error`` blocks
approval; ``warning`` does not.

Decisions, where the rulebook leaves room:

- Text is measured as a viewer sees it: tags removed (``<`` up to the next
  ``>``, as the WebVTT tokenizer does), character references decoded
  (``&amp;`` is one character, ``&nbsp;`` a visible space), runs of spaces
  and tabs counted once and spaces at a line's ends not at all (browsers
  render cue text with ``white-space: pre-line``), Unicode NFC (an accented
  letter is one character however it was typed).
- Times are compared to the millisecond (WebVTT's resolution), so a cue at
  exactly a limit is within it: 20 characters a second is not over a limit
  of 20, a gap of exactly 3 frames is contiguous.
- One finding per cue per rule (for line length, the longest line). An
  empty cue is one ``empty_cue`` error; its text and duration are not
  judged further, and it covers no speech.
- Order: file-level findings (cue None: uncovered speech, problems in
  blocks the browser drops) first, then by cue, by level (error, warning,
  info), then in the order of :data:`RULES`.
- Gaps and overlaps are measured in start-time order (the order a browser
  shows cues), against the latest end so far, so a cue inside a long one
  still counts as overlapping it.
- ``beyond_end`` is an error, as the rulebook has it: a cue starting at or
  after the end of the video (never shown), and one ending more than
  :data:`BEYOND_END_TOLERANCE` seconds after it (cut short; usually captions
  timed for another cut). Within the tolerance nothing is reported:
  container durations and frame rounding differ by a frame or two.
- End at or before start is an error (rule ``timing``; never shown), and so
  is a cue starting before the cue above it (rule ``order``; browsers sort
  cues, but the WebVTT spec and editors expect start-time order). The
  parser reports both itself (as ``syntax`` findings); these rules only
  fire for a line the parser did not already report.
- Uncovered speech: for each stretch of time with no (non-empty) cue on
  screen, the detected speech inside it is added up; more than
  ``uncovered_speech_warning`` seconds is a warning. Short pauses therefore
  do not split one long uncaptioned passage into several small ones.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from medialib.config import SETTINGS
from medialib.errors import ConfigError

if TYPE_CHECKING:
    from medialib.captions.webvtt import Parsed

LEVELS = ("error", "warning", "info")
_RANK = {level: i for i, level in enumerate(LEVELS)}

RULES = (
    "syntax", "timing", "order", "empty_cue", "line_length", "lines_per_cue", "reading_speed",
    "min_duration", "max_duration", "gap", "overlap", "beyond_end", "uncovered_speech",
)  # fmt: skip

# The caption-quality settings, declared once in medialib.config.
_KEYS = (
    "line_chars_warning", "line_chars_error", "max_lines", "cps_warning", "cps_error",
    "min_duration_warning", "seconds_per_word", "min_duration_error", "max_duration_warning",
    "gap_warning", "gap_frames", "uncovered_speech_warning",
)  # fmt: skip
_DEFAULTS = {s.key: s.default for s in SETTINGS}
THRESHOLDS: dict[str, Any] = {key: _DEFAULTS[f"captions.{key}"] for key in _KEYS}

# A cue may end this many seconds after the video before it is reported
# (container durations and frame rounding differ by a frame or two).
BEYOND_END_TOLERANCE = 0.5

_EPS = 1e-6  # below WebVTT's millisecond resolution


@dataclass(frozen=True)
class Finding:
    """One thing the quality check noticed.

    ``level``: error, warning or info. ``rule``: a short code from
    :data:`RULES`. ``cue``: 1-based position of the cue in the file (None
    for the file as a whole or a cue the browser drops). ``start``: the
    cue's start in seconds (or where the finding begins). ``line``: 1-based
    line in the file. ``message``: one line for a person.
    """

    level: str
    rule: str
    cue: int | None
    start: float | None
    line: int | None
    message: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"finding level must be one of {', '.join(LEVELS)}, not {self.level!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def thresholds_from_config(config: Any) -> dict[str, Any]:
    """The quality thresholds from a loaded Config (or a mapping with ``captions.*`` keys)."""
    return {key: config[f"captions.{key}"] for key in _KEYS}


def _merged(thresholds: Mapping[str, Any] | None) -> dict[str, float]:
    merged = dict(THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in THRESHOLDS:
            raise ConfigError(f"captions.{key}", f"unknown caption threshold (known: {', '.join(sorted(THRESHOLDS))})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"captions.{key}", f"must be a number of at least 0, not {value!r}")
        merged[key] = value
    return merged


# --------------------------------------------------------------------------- text as shown

_TAG = re.compile(r"<[^>]*>?")  # the WebVTT tokenizer: a tag runs to the next '>' or the end
_SPACES = re.compile(r"[ \t\f\r]+")


def display_lines(text: str) -> list[str]:
    """Cue text as a viewer reads it, one string per line (see the module notes)."""
    if "<" in text:
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if "  " in text or "\t" in text or "\f" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    return [line.strip(" ") for line in text.split("\n")]


def line_lengths(text: str) -> list[int]:
    """Characters in each line of cue text as shown (tags stripped, spaces counted)."""
    return [len(line) for line in display_lines(text)]


def _ts(seconds: float) -> str:
    ms = max(round(seconds * 1000), 0)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _quote(line: str, limit: int = 30) -> str:
    return "'" + (line if len(line) <= limit else line[: limit - 1] + "…") + "'"


def _over(value: float, limit: float) -> bool:
    return value > limit + _EPS


def _under(value: float, limit: float) -> bool:
    return value < limit - _EPS


# --------------------------------------------------------------------------- the check


def check(
    parsed: Parsed,
    thresholds: Mapping[str, Any] | None = None,
    *,
    video_duration: float | None = None,
    frame_rate: float = 25.0,
    speech: Sequence[Sequence[float]] | None = None,
) -> list[Finding]:
    """Syntax and quality findings for parsed captions, ordered by cue, then severity.

    Each parse problem becomes a ``syntax`` finding (its level, its line,
    the cue it falls in if the browser kept that cue); then the rulebook.
    ``thresholds`` override :data:`THRESHOLDS`. ``video_duration`` (seconds)
    enables ``beyond_end``; ``frame_rate`` sizes the contiguous gap
    (``gap_frames`` frames); ``speech`` (start, end) intervals, e.g. the
    complement of detected silences, enable ``uncovered_speech``.
    File-level findings (cue None) come first. Linear in the number of
    cues, apart from one sort by start time.

    Raises ConfigError (``captions.<key>``) for an unknown or malformed threshold.
    """
    t = _merged(thresholds)
    cues = list(parsed.cues)
    out: list[Finding] = []
    add = out.append

    line_to_cue: dict[int, int] = {}
    for n, cue in enumerate(cues, 1):
        if cue.id:
            line_to_cue.setdefault(cue.line - 1, n)
        for k in range(cue.text.count("\n") + 2):  # the timing line and each text line
            line_to_cue.setdefault(cue.line + k, n)
    problem_lines = set()
    for p in parsed.problems:
        problem_lines.add(p.line)
        n = line_to_cue.get(p.line)
        add(Finding(p.level, "syntax", n, cues[n - 1].start if n else None, p.line, p.message))

    timed: list[int] = []  # cues with end after start
    shown: list[Any] = []  # timed cues with text: what covers speech
    previous_start: float | None = None  # the latest start so far, and its cue
    previous = 0
    for n, cue in enumerate(cues, 1):
        start, end, line = cue.start, cue.end, cue.line
        duration = round(end - start, 3)

        if previous_start is not None and _under(start, previous_start) and line not in problem_lines:
            add(Finding("error", "order", n, start, line,
                        f"starts at {_ts(start)}, before cue {previous} ({_ts(previous_start)}): "
                        "cues should be in start-time order"))  # fmt: skip
        if previous_start is None or start >= previous_start:
            previous_start, previous = start, n

        if video_duration is not None:
            if not _under(start, video_duration):
                add(Finding("error", "beyond_end", n, start, line,
                            f"starts at {_ts(start)}, after the video ends ({_ts(video_duration)})"))  # fmt: skip
            elif _over(end, video_duration + BEYOND_END_TOLERANCE):
                add(Finding("error", "beyond_end", n, start, line,
                            f"ends at {_ts(end)}, {end - video_duration:.1f} s after the video ends "
                            f"({_ts(video_duration)}): timed for another cut?"))  # fmt: skip

        if duration <= 0:
            if line not in problem_lines:
                add(Finding("error", "timing", n, start, line,
                            f"ends at {_ts(end)}, {'before' if duration < 0 else 'at'} its start "
                            f"{_ts(start)}: never shown"))  # fmt: skip
        else:
            timed.append(n)

        lines = display_lines(cue.text)
        if not any(lines):
            add(Finding("error", "empty_cue", n, start, line, "empty cue: no text to show"))
            continue
        if duration > 0:
            shown.append(cue)

        longest = max(range(len(lines)), key=lambda k: len(lines[k]))
        chars = len(lines[longest])
        for level, limit in (("error", t["line_chars_error"]), ("warning", t["line_chars_warning"])):
            if chars > limit:
                add(Finding(level, "line_length", n, start, line + 1 + longest,
                            f"{chars} characters in a line, more than {limit:g}: {_quote(lines[longest])}"))  # fmt: skip
                break

        if len(lines) > t["max_lines"]:
            add(Finding("error", "lines_per_cue", n, start, line + 1,
                        f"{len(lines)} lines, more than {t['max_lines']:g}"))  # fmt: skip

        if duration <= 0:
            continue
        total = sum(len(x) for x in lines)
        cps = total / duration
        for level, limit in (("error", t["cps_error"]), ("warning", t["cps_warning"])):
            if _over(cps, limit):
                add(Finding(level, "reading_speed", n, start, line,
                            f"reading speed {cps:.1f} characters a second, more than {limit:g} "
                            f"({total} characters in {duration:.3f} s)"))  # fmt: skip
                break

        words = sum(len(x.split()) for x in lines)
        needed = max(t["min_duration_warning"], t["seconds_per_word"] * words)
        if _under(duration, t["min_duration_error"]):
            add(Finding("error", "min_duration", n, start, line,
                        f"on screen for {duration:.3f} s, less than {t['min_duration_error']:g} s"))  # fmt: skip
        elif _under(duration, needed):
            add(Finding("warning", "min_duration", n, start, line,
                        f"on screen for {duration:.3f} s; {words} word{'s' if words != 1 else ''} "
                        f"need at least {needed:.3g} s"))  # fmt: skip
        if _over(duration, t["max_duration_warning"]):
            add(Finding("warning", "max_duration", n, start, line,
                        f"on screen for {duration:.1f} s, more than {t['max_duration_warning']:g} s"))  # fmt: skip

    out += _gaps(cues, timed, t, frame_rate)
    if speech:
        out += _uncovered(shown, speech, t["uncovered_speech_warning"])
    return sorted(out, key=_order)


_RULE_RANK = {rule: i for i, rule in enumerate(RULES)}


def _order(f: Finding) -> tuple[Any, ...]:
    """File-level findings first, then by cue; within a cue by level, then in the order of RULES."""
    start = f.start if f.start is not None else -1.0
    return (f.cue or 0, _RANK[f.level], _RULE_RANK.get(f.rule, len(RULES)), f.line or 0, start, f.message)


def _gaps(cues: Sequence[Any], timed: list[int], t: Mapping[str, Any], frame_rate: float) -> list[Finding]:
    """Overlaps (error) and awkward short gaps (warning), in start-time order."""
    contiguous = t["gap_frames"] / frame_rate if frame_rate > 0 else 0.0
    found = []
    latest_end, latest = None, 0
    for n in sorted(timed, key=lambda n: (cues[n - 1].start, n)):
        cue = cues[n - 1]
        if latest_end is not None:
            gap = round(cue.start - latest_end, 3)
            if gap < 0:
                found.append(Finding("error", "overlap", n, cue.start, cue.line,
                                     f"starts at {_ts(cue.start)}, before cue {latest} ends "
                                     f"({_ts(latest_end)}): overlapping cues"))  # fmt: skip
            elif _over(gap, contiguous) and _under(gap, t["gap_warning"]):
                found.append(Finding("warning", "gap", n, cue.start, cue.line,
                                     f"gap of {gap:.3f} s after cue {latest}: close it to {t['gap_frames']:g} "
                                     f"frames or less, or leave at least {t['gap_warning']:g} s"))  # fmt: skip
        if latest_end is None or cue.end > latest_end:
            latest_end, latest = cue.end, n
    return found


def _merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _uncovered(shown: Sequence[Any], speech: Sequence[Sequence[float]], limit: float) -> list[Finding]:
    """Speech adding up to more than ``limit`` seconds inside one stretch with no cue on screen."""
    talk = _merge_intervals((float(s[0]), float(s[1])) for s in speech if s[1] > s[0])
    covered = _merge_intervals((c.start, c.end) for c in shown)
    windows, at = [], float("-inf")
    for start, end in covered:
        windows.append((at, start))
        at = end
    windows.append((at, float("inf")))

    found, j = [], 0
    for w_start, w_end in windows:
        while j < len(talk) and talk[j][1] <= w_start:
            j += 1
        total, first, last = 0.0, None, None
        k = j
        while k < len(talk) and talk[k][0] < w_end:
            s, e = max(talk[k][0], w_start), min(talk[k][1], w_end)
            if e > s:
                total += e - s
                first = s if first is None else first
                last = e
            k += 1
        if first is not None and _over(round(total, 3), limit):
            found.append(Finding("warning", "uncovered_speech", None, round(first, 3), None,
                                 f"{total:.1f} s of speech between {_ts(first)} and {_ts(last)} "
                                 "has no captions"))  # fmt: skip
    return found


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings of each level: ``{"error": n, "warning": n, "info": n}``."""
    counts = dict.fromkeys(LEVELS, 0)
    for f in findings:
        counts[f.level] += 1
    return counts


def has_errors(findings: Iterable[Finding]) -> bool:
    """True if any finding blocks approval."""
    return any(f.level == "error" for f in findings)
