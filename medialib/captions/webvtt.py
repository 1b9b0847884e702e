"""The W3C WebVTT file parsing algorithm, as browsers apply it.

https://www.w3.org/TR/webvtt1/#file-parsing — implemented in plain Python so
that medialib predicts exactly which cues a browser keeps from a ``.vtt``
file, and says which line is at fault when it drops something.

- :func:`parse` reads already-decoded text, :func:`parse_bytes` decodes bytes
  the way a browser does (UTF-8, BOM stripped, invalid bytes -> U+FFFD).
- Every block a browser drops (a malformed timing line, a bad timestamp such
  as ``00:75:00.000``, stray lines) is reported as an ``"error"``
  :class:`Problem` with its line number; nothing is dropped silently.
- Beyond the browser's own rules, an end time not after the start time and
  cues out of start-time order are reported as errors too (the cues are kept,
  as a browser keeps them).  Settings a browser ignores are ``"warning"``\\ s.
- :func:`serialize` writes normalised WebVTT (UTF-8 text, LF endings).

``Cue.settings`` uses the keys and value conventions of the VTTCue DOM
interface, as in ``shared/conformance/wpt-webvtt/expected-chromium-experimental``:
``vertical`` ("" | "rl" | "lr"), ``line`` ("auto" | float), ``lineAlign``,
``position`` ("auto" | float), ``positionAlign``, ``size`` (float), ``align``,
``region`` (region id or None) and ``snapToLines`` (False when ``line`` is a
percentage).

Where Chromium's own parser (a line-by-line state machine) knowingly differs
from the spec on a file, we follow the spec and add a warning: a cue timing
line directly under header lines (no blank line after the header), and a
STYLE/REGION line inside the header.

Do not use webvtt-py for browser predictions: in its default mode it silently
drops bad cues.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULT_SETTINGS",
    "Cue",
    "Parsed",
    "Problem",
    "Region",
    "parse",
    "parse_bytes",
    "serialize",
    "timestamp",
]


@dataclass(frozen=True)
class Cue:
    id: str
    start: float  # seconds
    end: float
    text: str  # cue text as the browser keeps it (tags kept as written)
    settings: dict[str, Any]  # VTTCue attribute names/values (see module docstring)
    # 1-based line number of the timing line; not part of equality, so that
    # parse(serialize(cues)).cues == cues even though line numbers move.
    line: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        # Cues built by hand (e.g. settings={}) get the browser's defaults for
        # missing keys, so that they compare equal to parsed cues.
        if self.settings.keys() != _SETTING_KEYS:
            object.__setattr__(self, "settings", {**DEFAULT_SETTINGS, **self.settings})


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line number
    level: str  # "error" (browser drops something / rejects the file) | "warning"
    message: str  # one line


@dataclass(frozen=True)
class Region:
    """A WebVTT region (REGION block), with VTTRegion's defaults."""

    id: str
    width: float = 100.0
    lines: int = 3
    region_anchor: tuple[float, float] = (0.0, 100.0)
    viewport_anchor: tuple[float, float] = (0.0, 100.0)
    scroll: str = ""  # "" or "up"
    line: int = field(default=0, compare=False)  # line of the REGION keyword


@dataclass(frozen=True)
class Parsed:
    accepted: bool  # False: the browser rejects the whole file (event "error")
    cues: list[Cue]
    problems: list[Problem]
    header: str  # text after "WEBVTT" on the signature line and header lines, verbatim
    # Additions beyond the core interface (defaults keep 4-argument construction working):
    regions: list[Region] = field(default_factory=list)  # as the browser keeps them (last id wins)
    styles: list[str] = field(default_factory=list)  # CSS text of STYLE blocks

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]


DEFAULT_SETTINGS: dict[str, Any] = {
    "vertical": "",
    "line": "auto",
    "lineAlign": "start",
    "position": "auto",
    "positionAlign": "auto",
    "size": 100.0,
    "align": "center",
    "region": None,
    "snapToLines": True,
}

_SETTING_KEYS = DEFAULT_SETTINGS.keys()
_DIGITS = "0123456789"
_ALIGNS = ("start", "center", "end", "left", "right")
_LINE_ALIGNS = ("start", "center", "end")
_POSITION_ALIGNS = ("line-left", "center", "line-right")

# The canonical timing line "hh:mm:ss.ttt --> hh:mm:ss.ttt" at the very start
# of the line.  Matching it gives exactly what the spec's step-by-step
# algorithm gives for such a line (checked below for minutes/seconds < 60);
# anything else goes through the step-by-step scanner.
_FAST_TIMING = re.compile(
    r"([0-9][0-9]):([0-9][0-9]):([0-9][0-9])\.([0-9][0-9][0-9]) --> "
    r"([0-9][0-9]):([0-9][0-9]):([0-9][0-9])\.([0-9][0-9][0-9])(?![0-9])"
)


def _is_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def _snippet(s: str, limit: int = 60) -> str:
    if len(s) > limit:
        s = s[:limit] + "…"
    return repr(s)


def _lines_desc(a: int, b: int) -> str:
    return f"line {a}" if a == b else f"lines {a}-{b}"


# ---------------------------------------------------------------------------
# Timestamps


def _scan_timestamp(s: str, i: int) -> tuple[float | None, int, str]:
    """The spec's "collect a WebVTT timestamp" at s[i:].

    Returns (seconds, new position, "") or (None, position, reason)."""
    n = len(s)
    if i >= n or s[i] not in _DIGITS:
        return None, i, "expected a timestamp"
    j = i
    while j < n and s[j] in _DIGITS:
        j += 1
    v1 = int(s[i:j])
    hours = (j - i) != 2 or v1 > 59
    i = j
    if i >= n or s[i] != ":":
        return None, i, "expected ':'"
    i += 1
    j = i
    while j < n and s[j] in _DIGITS:
        j += 1
    if j - i != 2:
        return None, i, "two digits expected"
    v2 = int(s[i:j])
    i = j
    if hours or (i < n and s[i] == ":"):
        if i >= n or s[i] != ":":
            return None, i, "expected ':'"
        i += 1
        j = i
        while j < n and s[j] in _DIGITS:
            j += 1
        if j - i != 2:
            return None, i, "two digits expected"
        v3 = int(s[i:j])
        i = j
    else:
        v1, v2, v3 = 0, v1, v2
    if i >= n or s[i] != ".":
        return None, i, "expected '.'"
    i += 1
    j = i
    while j < n and s[j] in _DIGITS:
        j += 1
    if j - i != 3:
        return None, i, "three digits expected"
    ms = int(s[i:j])
    if v2 > 59 or v3 > 59:
        return None, j, "over 59"
    # Integer milliseconds / 1000: the double nearest the written value.
    return (((v1 * 60 + v2) * 60 + v3) * 1000 + ms) / 1000, j, ""


def _explain_timestamp(tok: str) -> str:
    """A human hint for a timestamp token the spec's scanner rejected."""
    if not tok:
        return "a timestamp is missing"
    odd = next((c for c in tok if c not in "0123456789:.,"), None)
    if odd is not None:
        what = " (a NUL byte or an undecodable byte?)" if odd == "\ufffd" else ""
        return f"unexpected character {odd!r}{what}"
    if "," in tok:
        return "use '.' before the milliseconds"
    main, dot, frac = tok.rpartition(".")
    if not dot:
        return "the '.ttt' milliseconds are missing"
    parts = main.split(":")
    if len(parts) in (2, 3) and all(_is_digits(p) for p in parts):
        if not _is_digits(frac) or len(frac) != 3:
            return "the milliseconds need exactly 3 digits"
        if any(len(p) != 2 for p in parts[-2:]):
            if len(parts) == 2 and len(parts[0]) != 2 and len(parts[1]) == 2:
                return "minutes need exactly 2 digits (or write hh:mm:ss.ttt)"
            return "minutes and seconds need exactly 2 digits"
        if int(parts[-1]) > 59 or int(parts[-2]) > 59:
            return "minutes and seconds must be below 60"
    return "write hh:mm:ss.ttt or mm:ss.ttt"


def _parse_timing(line: str) -> tuple[float, float, str] | str:
    """Collect WebVTT cue timings; returns (start, end, settings text) or a reason."""
    m = _FAST_TIMING.match(line)
    if m is not None:
        g = m.groups()
        if g[1] <= "59" and g[2] <= "59" and g[5] <= "59" and g[6] <= "59":
            start = (((int(g[0]) * 60 + int(g[1])) * 60 + int(g[2])) * 1000 + int(g[3])) / 1000
            end = (((int(g[4]) * 60 + int(g[5])) * 60 + int(g[6])) * 1000 + int(g[7])) / 1000
            return start, end, line[m.end():]
    n = len(line)
    i = 0
    while i < n and line[i] in " \t\n\f\r":
        i += 1
    tok0 = i
    start, i, _why = _scan_timestamp(line, i)
    if start is None:
        tok = line[tok0:].split("-->", 1)[0].strip(" \t\f")
        return f"start time {tok!r}: {_explain_timestamp(tok)}" if tok else "the start time is missing"
    while i < n and line[i] in " \t\n\f\r":
        i += 1
    if not line.startswith("-->", i):
        found = line[i:].replace("\t", " ").replace("\f", " ").split(" ", 1)[0]
        return f"expected '-->' after the start time, found {_snippet(found, 20)}"
    i += 3
    while i < n and line[i] in " \t\n\f\r":
        i += 1
    tok0 = i
    end, i, _why = _scan_timestamp(line, i)
    if end is None:
        tok = line[tok0:].replace("\t", " ").replace("\f", " ").split(" ", 1)[0]
        return f"end time {tok!r}: {_explain_timestamp(tok)}" if tok else "the end time is missing"
    return start, end, line[i:]


# ---------------------------------------------------------------------------
# Settings


def _parse_percentage(v: str) -> float | None:
    """The spec's "parse a percentage string": digits[.digits]% within 0..100."""
    if len(v) < 2 or v[-1] != "%":
        return None
    num = v[:-1]
    whole, dot, frac = num.partition(".")
    if not _is_digits(whole) or (dot and not _is_digits(frac)):
        return None
    x = float(num)
    if not 0.0 <= x <= 100.0:
        return None
    return x


def _parse_line_number(lp: str) -> float | None:
    """The spec's non-percentage linepos rules: a (potentially signed) real number."""
    if not lp or any(c not in "-.0123456789" for c in lp):
        return None
    if not any(c in _DIGITS for c in lp):
        return None
    if "-" in lp[1:]:
        return None
    dots = lp.count(".")
    if dots > 1:
        return None
    if dots == 1:
        k = lp.index(".")
        if k == 0 or k == len(lp) - 1 or lp[k - 1] not in _DIGITS or lp[k + 1] not in _DIGITS:
            return None
    x = float(lp)
    if math.isinf(x):
        return None
    return x + 0.0  # -0 -> 0, as Chromium reports it


def _split_ws(s: str) -> list[str]:
    # ASCII whitespace only (U+000B and other Unicode spaces are not separators)
    if "\t" in s or "\f" in s or "\r" in s or "\n" in s:
        s = s.replace("\t", " ").replace("\f", " ").replace("\r", " ").replace("\n", " ")
    return [t for t in s.split(" ") if t]


def _parse_settings(text: str, region_ids: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Parse the WebVTT cue settings; returns (settings, warnings)."""
    settings = dict(DEFAULT_SETTINGS)
    warns: list[str] = []
    if text and text[0] not in " \t\f":
        warns.append(f"no space between the end time and the cue settings {_snippet(text)}")
    if "\f" in text.strip(" \t\f"):
        warns.append("form feed between cue settings: the spec splits settings on it, Chromium does not "
                     "(it ignores the settings around it); separate settings with spaces")
    for tok in _split_ws(text):
        c = tok.find(":")
        if c <= 0 or c == len(tok) - 1:
            warns.append(f"cue setting {_snippet(tok)} ignored: expected name:value")
            continue
        name, value = tok[:c], tok[c + 1:]
        if name == "vertical":
            if value == "rl" or value == "lr":
                settings["vertical"] = value
            else:
                warns.append(f"cue setting {_snippet(tok)} ignored: vertical must be 'rl' or 'lr'")
        elif name == "line":
            lp, comma, la = value.partition(",")
            if lp.endswith("%"):
                number = _parse_percentage(lp)
            else:
                number = _parse_line_number(lp)
            if number is None:
                warns.append(
                    f"cue setting {_snippet(tok)} ignored: line must be a line number (e.g. -1) "
                    "or a percentage 0%-100%"
                )
                continue
            if comma and la not in _LINE_ALIGNS:
                hint = " (use 'center')" if la == "middle" else ""
                warns.append(
                    f"cue setting {_snippet(tok)} ignored: line alignment must be start, center or end{hint}"
                )
                continue
            if comma:
                settings["lineAlign"] = la
            settings["line"] = number
            settings["snapToLines"] = not lp.endswith("%")
        elif name == "position":
            pp, comma, pa = value.partition(",")
            number = _parse_percentage(pp)
            if number is None:
                warns.append(f"cue setting {_snippet(tok)} ignored: position must be a percentage 0%-100%")
                continue
            if comma and pa not in _POSITION_ALIGNS:
                hint = " (use 'center')" if pa == "middle" else ""
                warns.append(
                    f"cue setting {_snippet(tok)} ignored: position alignment must be "
                    f"line-left, center or line-right{hint}"
                )
                continue
            if comma:
                settings["positionAlign"] = pa
            settings["position"] = number
        elif name == "size":
            number = _parse_percentage(value)
            if number is None:
                warns.append(f"cue setting {_snippet(tok)} ignored: size must be a percentage 0%-100%")
                continue
            settings["size"] = number
        elif name == "align":
            if value in _ALIGNS:
                settings["align"] = value
            else:
                hint = " (use 'center')" if value == "middle" else ""
                warns.append(
                    f"cue setting {_snippet(tok)} ignored: align must be start, center, end, left or right{hint}"
                )
        elif name == "region":
            if value in region_ids:
                settings["region"] = value
            else:
                settings["region"] = None
                warns.append(f"cue setting {_snippet(tok)}: no REGION block defines this id, so it is ignored")
        else:
            warns.append(f"unknown cue setting {_snippet(tok)} ignored")
    return settings, warns


def _parse_region(block: list[str], line_no: int) -> tuple[Region, list[str]]:
    """The spec's "collect WebVTT region settings" over a REGION block's lines."""
    rid = ""
    width = 100.0
    lines = 3
    ranchor = (0.0, 100.0)
    vanchor = (0.0, 100.0)
    scroll = ""
    warns: list[str] = []
    for tok in _split_ws("\n".join(block)):
        c = tok.find(":")
        if c <= 0 or c == len(tok) - 1:
            warns.append(f"region setting {_snippet(tok)} ignored: expected name:value")
            continue
        name, value = tok[:c], tok[c + 1:]
        if name == "id":
            rid = value
        elif name == "width":
            x = _parse_percentage(value)
            if x is None:
                warns.append(f"region setting {_snippet(tok)} ignored: width must be a percentage 0%-100%")
            else:
                width = x
        elif name == "lines":
            if _is_digits(value):
                lines = int(value)
            else:
                warns.append(f"region setting {_snippet(tok)} ignored: lines must be a whole number")
        elif name in ("regionanchor", "viewportanchor"):
            a, comma, b = value.partition(",")
            x = _parse_percentage(a) if comma else None
            y = _parse_percentage(b) if comma else None
            if x is None or y is None:
                warns.append(f"region setting {_snippet(tok)} ignored: expected two percentages 'x%,y%' within 0%-100%")
            elif name == "regionanchor":
                ranchor = (x, y)
            else:
                vanchor = (x, y)
        elif name == "scroll":
            if value == "up":
                scroll = "up"
            else:
                warns.append(f"region setting {_snippet(tok)} ignored: scroll must be 'up'")
        else:
            warns.append(f"unknown region setting {_snippet(tok)} ignored")
    return Region(rid, width, lines, ranchor, vanchor, scroll, line_no), warns


# ---------------------------------------------------------------------------
# File parsing


def _is_note(line: str) -> bool:
    return line.startswith("NOTE") and (len(line) == 4 or line[4] in " \t")


def _is_keyword(line: str, word: str) -> bool:
    # "STYLE"/"REGION" followed by nothing but spaces and tabs
    return line.startswith(word) and not line[len(word):].strip(" \t")


def _chromium_first_id(lines: list[str], timing_i: int) -> str:
    """The id Chromium gives the file's first cue.

    Before its first cue Chromium reads lines one at a time, remembering a
    line only if the line before it was not remembered; the remembered line
    becomes the id.  So of the run of non-blank lines directly above the
    timing line (header lines included, the signature line not), the last
    one is the id when the run has odd length."""
    k = timing_i
    while k > 1 and lines[k - 1] != "":
        k -= 1
    run = lines[k:timing_i]
    if len(run) % 2 == 0 or "-->" in run[-1] or _is_keyword(run[0], "STYLE") or _is_keyword(run[0], "REGION"):
        return ""
    return run[-1]


def _reject(message: str) -> Parsed:
    return Parsed(False, [], [Problem(1, "error", message)], "")


def parse(text: str) -> Parsed:
    """Parse decoded WebVTT text exactly as the W3C file parsing algorithm does."""
    if isinstance(text, (bytes, bytearray)):
        return parse_bytes(bytes(text))
    text = text.removeprefix("\ufeff")
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")

    # Signature: "WEBVTT" alone, or followed by space, tab or a line break.
    if not text or text.isspace():
        return _reject("file is empty or blank: a browser rejects it (it must start with 'WEBVTT')")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    first = lines[0]
    if not (first == "WEBVTT" or (first.startswith("WEBVTT") and first[6] in " \t")):
        if first.startswith("WEBVTT"):
            hint = "'WEBVTT' must be followed by a space, a tab or the end of the line"
        elif first.strip(" \t\ufeff").upper().startswith("WEBVTT"):
            hint = "the first line must start with exactly 'WEBVTT' (upper case, nothing before it)"
        elif first == "":
            hint = "nothing may come before 'WEBVTT', not even a blank line"
        elif first[:1] in _DIGITS:
            hint = "this looks like SubRip (SRT), not WebVTT"
        else:
            hint = "the first line must be 'WEBVTT'"
        return _reject(f"bad signature {_snippet(first)}: {hint}; a browser rejects the whole file")

    problems: list[Problem] = []
    add = problems.append
    n = len(lines)

    # Header: the rest of the signature line, then lines up to a blank line
    # (or up to a line containing "-->", which starts the first block).
    j = 1
    while j < n and lines[j] != "" and "-->" not in lines[j]:
        j += 1
    header_lines = lines[1:j]
    header = first[6:] + "".join("\n" + h for h in header_lines)
    for k, h in enumerate(header_lines):
        if _is_keyword(h, "STYLE") or _is_keyword(h, "REGION"):
            add(Problem(k + 2, "warning",
                        f"{h.strip()} line inside the header (no blank line after 'WEBVTT'): "
                        "the spec ignores it, Chromium reads it as a block; add a blank line before it"))
    if j < n and lines[j] != "":
        add(Problem(j + 1, "warning", f"no blank line between the header and the timing line on line {j + 1}"))
    i = j

    cues: list[Cue] = []
    regions: dict[str, Region] = {}
    styles: list[str] = []
    settings_cache: dict[str, tuple[dict[str, Any], list[str]]] = {}
    seen_cue = False
    prev_cue: Cue | None = None
    # How the previous block ended when it was cut short by a line containing
    # "-->" (that line starts the next block): None, "cue", "note" or "other".
    cut: str | None = None
    cut_line = 0

    while i < n:
        if lines[i] == "":
            i += 1
            cut = None
            continue
        # --- collect a WebVTT block (spec 6.1, "collect a WebVTT block") ---
        start_i = i
        line_count = 0
        prev = i
        buf: list[str] = []
        seen_arrow = False
        timing: tuple[float, float, str] | None = None
        cue_id = ""
        timing_i = -1
        fail: str | None = None
        kind: str | None = None
        broke = False
        j = i
        while j < n:
            line = lines[j]
            j += 1
            line_count += 1
            if "-->" in line:
                if line_count == 1 or (line_count == 2 and not seen_arrow):
                    seen_arrow = True
                    prev = j
                    timing_i = j - 1
                    res = _parse_timing(line)
                    if type(res) is str:
                        fail = res
                    else:
                        timing = res  # type: ignore[assignment]
                        cue_id = buf[0] if buf else ""
                        buf = []
                        seen_cue = True
                else:
                    j = prev
                    broke = True
                    break
            elif line == "":
                break
            else:
                if line_count == 2 and buf and not seen_cue:
                    if _is_keyword(buf[0], "STYLE"):
                        kind = "style"
                        buf = []
                    elif _is_keyword(buf[0], "REGION"):
                        kind = "region"
                        buf = []
                buf.append(line)
                prev = j
        # Lines this block consumed: start_i .. last_i (0-based).
        last_i = (j - 1) if not broke else (prev - 1)
        if not broke and lines[j - 1] == "" and j - 1 > start_i:
            last_i = j - 2
        i = j
        first_line = lines[start_i]
        span = _lines_desc(start_i + 1, last_i + 1)

        if timing is not None:
            start, end, settings_text = timing
            if settings_text:
                cached = settings_cache.get(settings_text)
                if cached is None:
                    cached = settings_cache[settings_text] = _parse_settings(settings_text, set(regions))
                settings, warns = cached
                settings = dict(settings)
                for w in warns:
                    add(Problem(timing_i + 1, "warning", w))
            else:
                settings = dict(DEFAULT_SETTINGS)
            cue = Cue(cue_id, start, end, "\n".join(buf), settings, timing_i + 1)
            if not cues:
                other = _chromium_first_id(lines, timing_i)
                if other != cue_id:
                    add(Problem(timing_i + 1, "warning",
                                f"browsers disagree on this cue's id: the spec gives {_snippet(cue_id)}, "
                                f"Chromium {_snippet(other)}; put a blank line above the cue (and its id)"))
            if cut == "cue":
                add(Problem(timing_i + 1, "warning",
                            f"no blank line before this cue: line {timing_i + 1} ends the previous cue's text"))
            elif cut == "note" or (cue_id and _is_note(cue_id)):
                src = cut_line if cut == "note" else start_i + 1
                shown = f"a cue with id {_snippet(cue_id)}" if cue_id else "a cue"
                add(Problem(timing_i + 1, "warning",
                            f"no blank line between the NOTE comment (line {src}) and the timing line on "
                            f"line {timing_i + 1}: a browser ends the comment there and shows {span} as "
                            f"{shown} (a comment cannot contain '-->')"))
            if end <= start:
                add(Problem(timing_i + 1, "error",
                            f"cue end time {timestamp(end)} is not after its start time {timestamp(start)}"
                            " (a browser keeps it but never shows it)"))
            if prev_cue is not None and start < prev_cue.start:
                add(Problem(timing_i + 1, "error",
                            f"cue out of order: starts at {timestamp(start)}, before the previous cue "
                            f"(line {prev_cue.line}) at {timestamp(prev_cue.start)}"))
            cues.append(cue)
            prev_cue = cue
            cut = "cue" if broke else None
            cut_line = last_i + 1
            continue

        if fail is not None:
            if cut == "cue":
                add(Problem(timing_i + 1, "error",
                            f"cue text line {timing_i + 1} contains '-->': a browser ends the cue above and "
                            f"drops {span} ({_snippet(lines[timing_i])} is not a valid timing line)"))
            elif cut == "note" or _is_note(first_line):
                src = cut_line if cut == "note" else start_i + 1
                add(Problem(timing_i + 1, "warning",
                            f"NOTE comment (line {src}) contains '-->' on line {timing_i + 1}: a browser "
                            "reads that line as a (malformed) cue timing line; avoid '-->' in comments"))
            else:
                add(Problem(timing_i + 1, "error",
                            f"timing line is malformed: {_snippet(lines[timing_i])} ({fail}); "
                            "a browser drops this cue" + (f" ({span})" if last_i > start_i else "")))
            cut = "other" if broke else None
            cut_line = last_i + 1
            continue

        if kind == "style":
            styles.append("\n".join(buf))
            cut = "other" if broke else None
            continue
        if kind == "region":
            region, warns = _parse_region(buf, start_i + 1)
            for w in warns:
                add(Problem(start_i + 1, "warning", w))
            if region.id:
                if region.id in regions:
                    add(Problem(start_i + 1, "warning",
                                f"region {_snippet(region.id)} is defined again (line "
                                f"{regions[region.id].line}); the later definition wins"))
                    del regions[region.id]
                regions[region.id] = region
            else:
                add(Problem(start_i + 1, "warning", "REGION block without an id: no cue can use it"))
            cut = "other" if broke else None
            continue

        # A block that is neither a cue, a style sheet nor a region.
        if _is_note(first_line):
            if broke:
                cut, cut_line = "note", start_i + 1
            else:
                cut = None
            continue
        if _is_keyword(first_line, "STYLE") or _is_keyword(first_line, "REGION"):
            word = first_line.strip(" \t")
            if seen_cue:
                add(Problem(start_i + 1, "error",
                            f"{word} block after the first cue: a browser ignores it ({span}); "
                            "move it before the first cue"))
            elif line_count == 1 or (line_count == 2 and lines[start_i + 1] == ""):
                add(Problem(start_i + 1, "warning", f"empty {word} block"))
            cut = "other" if broke else None
            continue
        if cut == "note":
            add(Problem(start_i + 1, "warning",
                        f"NOTE comment (line {cut_line}) contains '-->': its remaining lines ({span}) are "
                        "read as a separate block (ignored); avoid '-->' in comments"))
        elif broke:
            add(Problem(start_i + 1, "error",
                        f"{span} {'is' if last_i == start_i else 'are'} not part of any cue: a cue id is a "
                        f"single line directly above the timing line (line {last_i + 2}), so a browser "
                        f"ignores {_snippet(first_line)}" + (" and what follows" if last_i > start_i else "")))
        else:
            add(Problem(start_i + 1, "error",
                        f"{_snippet(first_line)} is not part of any cue (no '-->' timing line; "
                        f"a blank line inside cue text ends the cue): a browser ignores {span}"))
        cut = "other" if broke else None

    problems.sort(key=lambda p: p.line)
    return Parsed(True, cues, problems, header, list(regions.values()), styles)


def parse_bytes(data: bytes) -> Parsed:
    """Decode as a browser does (UTF-8 decode: BOM stripped, bad bytes -> U+FFFD), then parse."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _reject(
            "file is UTF-16 (byte order mark): WebVTT must be UTF-8; decoded as UTF-8 (as the spec "
            "requires) it has no 'WEBVTT' signature and is rejected (some browsers sniff the BOM, others "
            "do not); convert it to UTF-8"
        )
    return parse(data.decode("utf-8", errors="replace"))


# ---------------------------------------------------------------------------
# Writing


def timestamp(seconds: float) -> str:
    """Seconds as a WebVTT timestamp "HH:MM:SS.mmm" (hours grow past 2 digits if needed)."""
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"not a valid cue time: {seconds!r}")
    ms = round(seconds * 1000)
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _fmt_number(x: float) -> str:
    """A decimal (no exponent) that parses back to exactly x."""
    x = float(x) + 0.0
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    s = format(Decimal(repr(x)), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _settings_text(settings: dict[str, Any]) -> str:
    st = settings
    out: list[str] = []
    vertical = st.get("vertical", "")
    if vertical:
        out.append(f"vertical:{vertical}")
    line = st.get("line", "auto")
    if line != "auto" and line is not None:
        v = _fmt_number(line) + ("" if st.get("snapToLines", True) else "%")
        la = st.get("lineAlign", "start")
        if la != "start":
            v += f",{la}"
        out.append(f"line:{v}")
    position = st.get("position", "auto")
    if position != "auto" and position is not None:
        v = _fmt_number(position) + "%"
        pa = st.get("positionAlign", "auto")
        if pa != "auto":
            v += f",{pa}"
        out.append(f"position:{v}")
    size = st.get("size", 100.0)
    if size != 100:
        out.append(f"size:{_fmt_number(size)}%")
    align = st.get("align", "center")
    if align != "center":
        out.append(f"align:{align}")
    region = st.get("region")
    if region:
        out.append(f"region:{region}")
    return " ".join(out)


def _clean_lines(text: str) -> list[str]:
    text = text.replace("\0", "\ufffd").replace("\r\n", "\n").replace("\r", "\n")
    # A blank line would end the block and a "-->" line would start a new one.
    return [ln.replace("-->", "--&gt;") for ln in text.split("\n") if ln != ""]


def _region_block(r: Region) -> str:
    out = ["REGION", f"id:{r.id}"]
    if r.width != 100:
        out.append(f"width:{_fmt_number(r.width)}%")
    if r.lines != 3:
        out.append(f"lines:{int(r.lines)}")
    if tuple(r.region_anchor) != (0.0, 100.0):
        out.append(f"regionanchor:{_fmt_number(r.region_anchor[0])}%,{_fmt_number(r.region_anchor[1])}%")
    if tuple(r.viewport_anchor) != (0.0, 100.0):
        out.append(f"viewportanchor:{_fmt_number(r.viewport_anchor[0])}%,{_fmt_number(r.viewport_anchor[1])}%")
    if r.scroll == "up":
        out.append("scroll:up")
    return "\n".join(out)


def serialize(
    cues: Sequence[Cue],
    header: str = "",
    *,
    regions: Sequence[Region] = (),
    styles: Sequence[str] = (),
) -> str:
    """Normalised WebVTT text (LF endings): header, STYLE and REGION blocks, then the cues.

    Cue ids, text and non-default settings are written back, so that
    ``parse(serialize(parse(x).cues, parse(x).header)).cues == parse(x).cues``.
    A region named by a cue but not given in ``regions`` is written as a
    bare ``REGION`` block with only its id (pass ``Parsed.regions`` to keep
    widths and anchors).  Text that cannot be written as is is made safe: blank
    lines inside cue text are dropped and ``-->`` in text becomes ``--&gt;``
    (which a browser displays as ``-->``).
    """
    h = header.replace("\0", "\ufffd").replace("\r\n", "\n").replace("\r", "\n")
    if h and h[0] not in " \t\n":
        h = " " + h
    first, *rest = h.split("\n")
    out = ["WEBVTT" + first + "".join("\n" + ln for ln in rest if ln and "-->" not in ln)]

    for css in styles:
        body = [ln for ln in _clean_lines(css) if "-->" not in ln and "--&gt;" not in ln]
        out.append("\n".join(["STYLE", *body]))

    written: set[str] = set()
    for r in regions:
        if r.id and r.id not in written:
            out.append(_region_block(r))
            written.add(r.id)
    for c in cues:
        rid = c.settings.get("region")
        if rid and rid not in written:
            out.append(_region_block(Region(rid)))
            written.add(rid)

    for c in cues:
        block: list[str] = []
        cid = c.id.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\0", "\ufffd")
        if cid:
            block.append(cid.replace("-->", "->"))
        timing = f"{timestamp(c.start)} --> {timestamp(c.end)}"
        st = _settings_text(c.settings)
        block.append(f"{timing} {st}" if st else timing)
        block.extend(_clean_lines(c.text))
        out.append("\n".join(block))
    return "\n\n".join(out) + "\n"
