"""Reading the caption files film-makers send: any common encoding, SRT, SBV or WebVTT.

The pipeline, one function per stage: :func:`decode` (bytes to text with LF
line endings), :func:`detect_format` (by content, never by file name),
:func:`srt_to_webvtt` / :func:`sbv_to_webvtt` (strict conversion), then
:func:`load`, which reads the WebVTT as a browser does
(:mod:`medialib.captions.webvtt`) and writes it back out normalised.

Every refusal is a :class:`~medialib.errors.BadInput` whose message starts
with the file's name and, where a line is at fault, ``line N`` (1-based, as an
editor counts lines: LF, CRLF and a lone CR each end one line).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from medialib.captions import webvtt
from medialib.errors import BadInput

# --------------------------------------------------------------------------- decoding

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8"),
    (b"\xff\xfe", "utf-16-le", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be", "utf-16-be"),
)

# Control characters that no caption tool writes: C0 except tab, LF, VT, FF
# and CR (the WebVTT parser treats those as whitespace), and DEL. C1 controls
# (U+0080-U+009F) count too: they come from bytes cp1252 leaves undefined.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")

# More than this share of control characters means binary data, not text.
# Browsers read a WebVTT file with the odd NUL (the conformance corpus has
# one with 2.5 % NULs); random or compressed bytes have about 20 %.
BINARY_SHARE = 0.05

# UTF-16 without a byte-order mark: in a caption file most characters are
# ASCII (timings, digits, line breaks), so one byte of each pair is NUL.
_UTF16_NUL_SHARE = 0.3
_UTF16_SAMPLE = 4096

# Latin text in cp1252 has a few accented letters among many ASCII ones; when
# most letters are non-ASCII the file is probably another 8-bit code page
# (Cyrillic cp1251, Greek cp1253...) and charset-normalizer breaks the tie.
_MOJIBAKE_SHARE = 0.4
_MOJIBAKE_MIN_LETTERS = 20


def _binary(name: str, at: int) -> BadInput:
    return BadInput(f"{name}: not a text file (binary data at byte {at})")


def _check_text(text: str, codec: str, bom: int, name: str) -> None:
    """BadInput if ``text`` (decoded with ``codec`` after a ``bom``-byte BOM) has too many control characters."""
    found = _CONTROL.search(text)
    if found is None:
        return
    count = len(_CONTROL.findall(text))
    if count > BINARY_SHARE * len(text):
        errors = "surrogateescape" if codec == "utf-8" else "replace"  # as _lenient decoded it
        raise _binary(name, bom + len(text[: found.start()].encode(codec, errors)))


def _lenient(data: bytes, codec: str) -> str:
    """``data`` decoded whatever it holds, so that binary data is told from a broken text file."""
    return data.decode(codec, "surrogateescape" if codec == "utf-8" else "replace")


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` when NULs fill one byte of each pair, else None."""
    sample = data[:_UTF16_SAMPLE]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even = sample[0 : 2 * pairs : 2].count(0) / pairs
    odd = sample[1 : 2 * pairs : 2].count(0) / pairs
    if odd >= _UTF16_NUL_SHARE and even < 0.05:
        return "utf-16-le"
    if even >= _UTF16_NUL_SHARE and odd < 0.05:
        return "utf-16-be"
    return None


# A valid multi-byte UTF-8 sequence (2 to 4 bytes).
_UTF8_MULTI = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _eight_bit(data: bytes, name: str, bad_at: int) -> tuple[str, str]:
    """Decode bytes that are not UTF-8: cp1252, Latin-1, or what charset-normalizer names."""
    valid_multi = len(_UTF8_MULTI.findall(data))
    invalid = len(data.decode("utf-8", errors="replace").split("\ufffd")) - 1
    if valid_multi > invalid:
        raise BadInput(
            f"{name}: not valid UTF-8 at byte {bad_at}, though most of the file is UTF-8 "
            "(were two files joined?); save it again as UTF-8"
        )
    try:
        text, codec = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined in cp1252
        text, codec = data.decode("latin-1"), "latin-1"
    letters = [c for c in text if c.isalpha()]
    high = sum(1 for c in letters if ord(c) > 0x7F)
    if high >= _MOJIBAKE_MIN_LETTERS and high > _MOJIBAKE_SHARE * len(letters):
        guess = _charset_normalizer_guess(data)
        if guess is not None:
            text, codec = guess
    return text, codec


def _charset_normalizer_guess(data: bytes) -> tuple[str, str] | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional: without it non-Latin 8-bit files read as cp1252
        return None
    best = from_bytes(data).best()
    if best is None or best.encoding.replace("_", "-").startswith(("utf", "ascii")):
        return None
    try:
        return data.decode(best.encoding), best.encoding.replace("_", "-")
    except (LookupError, UnicodeDecodeError):
        return None


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF (each ends one line, as in the WebVTT parser)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode(data: bytes, name: str) -> tuple[str, str]:
    """The text of a caption file and the encoding it was read with; line endings become LF.

    Tried in order: a byte-order mark (UTF-8, UTF-16 LE/BE); UTF-16 without
    one (NUL bytes in alternate positions); UTF-8; then Windows-1252 (Latin-1
    where cp1252 leaves a byte undefined), with charset-normalizer consulted
    only when most letters would come out non-ASCII (a Cyrillic or Greek code
    page). The encoding is returned as a Python codec name: ``utf-8``,
    ``utf-8-sig`` (with BOM), ``utf-16-le``, ``utf-16-be``, ``cp1252``,
    ``latin-1`` or charset-normalizer's name. The BOM is not part of the text.

    Raises BadInput ``NAME: not a text file (binary data at byte N)`` (N
    counted from 0) when more than 5 % of the characters are control
    characters other than tab, LF, VT, FF and CR; an occasional NUL is left
    for the WebVTT parser, which turns it into U+FFFD as browsers do. Also
    BadInput for broken UTF-16 and for UTF-8 with a stray non-UTF-8 byte.
    """
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                _check_text(_lenient(data[len(bom) :], label), label, len(bom), name)
                raise BadInput(f"{name}: not valid {label.upper()} at byte {exc.start} "
                               f"(the file starts with a {label.upper()} byte-order mark)") from None  # fmt: skip
            text = text.removeprefix("\ufeff")  # utf-16 codecs keep it
            _check_text(text, label, len(bom), name)
            return normalise_newlines(text), codec
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            _check_text(_lenient(data, utf16), utf16, 0, name)
            raise BadInput(f"{name}: looks like {utf16.upper()} without a byte-order mark, "
                           f"but is not valid {utf16.upper()} at byte {exc.start}") from None  # fmt: skip
        _check_text(text, utf16, 0, name)
        return normalise_newlines(text), utf16
    try:
        text, codec = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # Binary data first: its share of C0 control bytes decides before any guessing.
        controls = _CONTROL_BYTES.findall(data)
        if len(controls) > BINARY_SHARE * len(data):
            raise _binary(name, _CONTROL_BYTES.search(data).start())
        text, codec = _eight_bit(data, name, exc.start)
    _check_text(text, codec, 0, name)
    return normalise_newlines(text), codec


# --------------------------------------------------------------------------- detection

_SRT_COUNTER = re.compile(r"\s*\d+\s*")
_SBV_TIMING_LOOSE = re.compile(r"\s*\d+:\d+:\d+[.,]\d+\s*,\s*\d+:\d+:\d+[.,]\d+\s*")


def _shown(line: str, limit: int = 40) -> str:
    """A line quoted for a message, shortened."""
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")


def detect_format(text: str, name: str) -> str:
    """``vtt``, ``srt`` or ``sbv``, judged by content (decoded text, LF line endings).

    WebVTT: the first non-blank line starts with ``WEBVTT`` in any case (a
    bad signature such as ``WEBVTTX``, ``webvtt`` or one after a blank line
    still counts as WebVTT, so :func:`load` can say what is wrong with it). SRT: the first non-blank line is a cue number followed by a
    ``-->`` timing line, or is itself a timing line (SRT without numbers, or
    WebVTT without its signature, which is read as SRT). SBV: the first
    non-blank line is ``H:MM:SS.mmm,H:MM:SS.mmm``.

    Raises BadInput ``NAME line N: not a caption file: <why>``, N being the
    first non-blank line, or ``NAME: empty file``.
    """
    text = text.removeprefix("\ufeff")
    if text.startswith("WEBVTT"):
        return "vtt"
    lines = text.split("\n")
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if index is None:
        raise BadInput(f"{name}: empty file")
    first = lines[index]
    where = f"{name} line {index + 1}: not a caption file"
    if first.lstrip().upper().startswith("WEBVTT"):
        return "vtt"  # leading blank lines, lower case: load() explains why a browser rejects it
    if "-->" in first:
        return "srt"
    if _SRT_COUNTER.fullmatch(first):
        after = lines[index + 1] if index + 1 < len(lines) else ""
        if "-->" in after:
            return "srt"
        raise BadInput(f"{name} line {index + 2}: not a caption file: line {index + 1} is a number, but "
                       f"{_shown(after)} is not an SRT timing line (00:00:01,000 --> 00:00:02,500)")  # fmt: skip
    if _SBV_TIMING_LOOSE.fullmatch(first):
        return "sbv"
    raise BadInput(f"{where}: {_shown(first)} is not a WebVTT signature ('WEBVTT'), an SRT cue number "
                   "or an SBV timing line (0:00:01.000,0:00:02.500)")  # fmt: skip


# --------------------------------------------------------------------------- conversion

# What the film-maker's tools put in cue text, and what WebVTT keeps of it.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # "a < b" is text, not a tag
_KEPT_TAG = re.compile(r"</?(i|b|u|c|v|lang|ruby|rt)(?=[\s.>/])", re.IGNORECASE)
_BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")  # {\an8}, {\i1}: SSA/ASS positioning and styling
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def _escape(plain: str) -> str:
    """Plain text as WebVTT cue text: bare ``&`` and ``<`` escaped, entities kept."""
    out, at = [], 0
    for m in _ENTITY.finditer(plain):
        out.append(plain[at : m.start()].replace("&", "&amp;"))
        out.append(m.group(0))
        at = m.end()
    out.append(plain[at:].replace("&", "&amp;"))
    return "".join(out).replace("<", "&lt;")


def _cue_line(line: str) -> list[str]:
    """One SRT/SBV text line as WebVTT cue-text lines (``<br>`` splits it; may be empty)."""
    line = _ASS_OVERRIDE.sub("", line)
    line = _BR_TAG.sub("\n", line)
    out, at = [], 0
    for m in _TAG.finditer(line):
        out.append(_escape(line[at : m.start()]))
        kept = _KEPT_TAG.match(m.group(0))
        if kept:  # tag name in lower case, the rest (classes, voice name) as written
            out.append(m.group(0)[: kept.start(1)] + kept.group(1).lower() + m.group(0)[kept.end(1) :])
        at = m.end()  # <font ...>, </font> and other HTML tags are dropped, their text kept
    out.append(_escape(line[at:]))
    # A line holding "-->" would end the cue in a WebVTT file.
    text = "".join(out).replace("-->", "--&gt;")
    return [part for part in text.split("\n") if part.strip()]


@dataclass(frozen=True)
class _Converted:
    """WebVTT text and, for each of its lines, the source line it came from (1-based)."""

    text: str
    source_lines: list[int]


def _ms_text(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _webvtt(cues: list[tuple[int, int, int, list[tuple[int, str]]]]) -> _Converted:
    """``(timing line, start ms, end ms, [(line, text)])`` cues as a WebVTT file."""
    out, source = ["WEBVTT", ""], [1, 1]
    for line_no, start, end, text_lines in cues:
        out.append(f"{_ms_text(start)} --> {_ms_text(end)}")
        source.append(line_no)
        for text_no, text in text_lines:
            for part in _cue_line(text):
                out.append(part)
                source.append(text_no)
        out.append("")
        source.append(source[-1])
    return _Converted("\n".join(out), source)


_TIMESTAMP = re.compile(r"(\d+):(\d+):(\d+)([,.])(\d+)")


def _timestamp_ms(token: str, where: str, example: str) -> tuple[int, str]:
    """Milliseconds and the separator before them; BadInput naming ``where`` if malformed."""
    m = _TIMESTAMP.fullmatch(token)
    if m is None:
        raise BadInput(f"{where}: {_shown(token)} is not a timestamp like {example}")
    hours, minutes, seconds, sep, millis = m.groups()
    if len(minutes) != 2 or int(minutes) > 59:
        raise BadInput(f"{where}: minutes {minutes} out of range in {_shown(token)} (00 to 59)")
    if len(seconds) != 2 or int(seconds) > 59:
        raise BadInput(f"{where}: seconds {seconds} out of range in {_shown(token)} (00 to 59)")
    if len(millis) != 3:
        raise BadInput(f"{where}: {_shown(token)} must have three digits of milliseconds, like {example}")
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis), sep


def _check_order(start: int, end: int, where: str) -> None:
    if end < start:
        raise BadInput(f"{where}: end {_ms_text(end)} is before start {_ms_text(start)}")


_SRT_TIMING = re.compile(r"\s*(\S+?)\s*-->\s*(\S+)(.*)")
# The optional SRT display rectangle after the end time, dropped.
_SRT_COORDINATES = re.compile(r"(\s+[XY][12]:\s*-?\d+)*\s*", re.IGNORECASE)
_SEP_NAME = {",": "a comma", ".": "a period"}


def _srt(text: str, name: str) -> _Converted:
    lines = text.removeprefix("\ufeff").split("\n")
    cues: list[tuple[int, int, int, list[tuple[int, str]]]] = []
    first_sep: tuple[str, int] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{name} line {i + 1}"
        if not line.strip():
            i += 1
            continue
        if "-->" not in line:
            if _SRT_COUNTER.fullmatch(line) and i + 1 < len(lines) and "-->" in lines[i + 1]:
                i += 1  # the cue number: dropped
                continue
            raise BadInput(f"{where}: {_shown(line)} is outside any cue: expected a cue number and a timing "
                           "line (a blank line inside a cue's text ends the cue)")  # fmt: skip
        m = _SRT_TIMING.fullmatch(line)
        if m is None:
            raise BadInput(f"{where}: {_shown(line)} is not a timing line like 00:00:01,000 --> 00:00:02,500")
        if not _SRT_COORDINATES.fullmatch(m.group(3)):
            raise BadInput(f"{where}: unexpected {_shown(m.group(3).strip())} after the end time")
        times = []
        for token in m.group(1), m.group(2):
            ms, sep = _timestamp_ms(token, where, "00:00:01,000")
            if first_sep is None:
                first_sep = (sep, i + 1)
            elif sep != first_sep[0]:
                raise BadInput(
                    f"{where}: {_shown(token)} has {_SEP_NAME[sep]} before the milliseconds, but line "
                    f"{first_sep[1]} has {_SEP_NAME[first_sep[0]]}; use one style throughout (00:00:01,000)"
                )
            times.append(ms)
        _check_order(times[0], times[1], where)
        timing_line = i + 1
        i += 1
        body: list[tuple[int, str]] = []
        while i < len(lines) and lines[i].strip():
            if "-->" in lines[i] and _SRT_TIMING.fullmatch(lines[i]) and _TIMESTAMP.match(lines[i].strip()):
                # The next cue without a blank line before it: its number is not text.
                if body and _SRT_COUNTER.fullmatch(body[-1][1]):
                    body.pop()
                break
            body.append((i + 1, lines[i]))
            i += 1
        cues.append((timing_line, times[0], times[1], body))
    return _webvtt(cues)


def srt_to_webvtt(text: str, name: str) -> str:
    """SubRip text (decoded, LF) as WebVTT text.

    Kept: ``<i>``, ``<b>``, ``<u>``, ``<v Name>`` (and the other WebVTT tags
    ``<c>``, ``<lang>``, ``<ruby>``, ``<rt>``), tag names lower-cased.
    Dropped, text kept: ``<font ...>`` and other HTML tags; ``<br>`` becomes a
    line break. Dropped: SSA positioning such as ``{\\an8}``, the optional
    ``X1: X2: Y1: Y2:`` rectangle after the end time, and the numeric cue
    counters (WebVTT ids are optional, and SRT numbers go stale when cues
    are edited; findings name cues by their position, which is the same
    number in a well-numbered file). A bare ``&`` or ``<`` is escaped, and
    ``-->`` inside text becomes ``--&gt;``. Cue numbers may be missing, and a
    missing blank line between cues is tolerated.

    Timestamps are strict: ``H+:MM:SS,mmm`` (periods instead of commas are
    accepted if the whole file uses them). BadInput ``NAME line N: ...`` for
    a malformed timestamp, minutes or seconds above 59, a file mixing commas
    and periods before the milliseconds, an end before its start, or a text
    line outside any cue.
    """
    return _srt(text, name).text


_SBV_TIMING = re.compile(r"\s*(\S+?)\s*,\s*(\d+:\d+:\d+[.,]\d+)\s*")


def _sbv(text: str, name: str) -> _Converted:
    lines = text.removeprefix("\ufeff").split("\n")
    cues: list[tuple[int, int, int, list[tuple[int, str]]]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{name} line {i + 1}"
        if not line.strip():
            i += 1
            continue
        m = _SBV_TIMING.fullmatch(line) if _SBV_TIMING_LOOSE.fullmatch(line) else None
        if m is None:
            raise BadInput(f"{where}: {_shown(line)} is outside any cue: expected an SBV timing line like "
                           "0:00:01.000,0:00:02.500 (a blank line inside a cue's text ends the cue)")  # fmt: skip
        times = []
        for token in m.group(1), m.group(2):
            ms, sep = _timestamp_ms(token, where, "0:00:01.000")
            if sep != ".":
                raise BadInput(f"{where}: {_shown(token)} has a comma before the milliseconds; "
                               "SBV uses a period (0:00:01.000)")  # fmt: skip
            times.append(ms)
        _check_order(times[0], times[1], where)
        timing_line = i + 1
        i += 1
        body: list[tuple[int, str]] = []
        while i < len(lines) and lines[i].strip():
            body.append((i + 1, lines[i].replace("[br]", "\n")))
            i += 1
        cues.append((timing_line, times[0], times[1], body))
    return _webvtt(cues)


def sbv_to_webvtt(text: str, name: str) -> str:
    """SubViewer (YouTube ``.sbv``) text (decoded, LF) as WebVTT text.

    Cues are a ``H:MM:SS.mmm,H:MM:SS.mmm`` line then text lines up to a blank
    line; ``[br]`` is a line break. Tags and escaping as in
    :func:`srt_to_webvtt`. BadInput ``NAME line N: ...`` for a malformed
    timestamp (a comma before the milliseconds, minutes or seconds above
    59), an end before its start, or a text line outside any cue.
    """
    return _sbv(text, name).text


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Loaded:
    """A caption file read as a browser would read its WebVTT form.

    ``vtt`` is the normalised file to store (UTF-8 WebVTT, LF), written by
    :func:`webvtt.serialize` from ``parsed`` (cues, header, and the STYLE and
    REGION blocks a browser keeps; NOTE comments are not kept). ``parsed`` holds the cues
    and the parser's problems with line numbers of the file as sent (for SRT
    and SBV: the SRT/SBV line each cue and text line came from).
    ``source_format`` is ``vtt``, ``srt`` or ``sbv``; ``encoding`` as
    :func:`decode` names it.
    """

    vtt: str
    parsed: webvtt.Parsed
    source_format: str
    encoding: str


_SIGNATURE_RULE = "the file must start with 'WEBVTT' followed by a space, tab or line break; " \
    "a browser rejects the whole file"  # fmt: skip


def signature_problem(text: str) -> str | None:
    """Why a browser rejects this WebVTT text's signature (first line), or None if it does not."""
    first = text.split("\n", 1)[0]
    if first == "WEBVTT" or (first.startswith("WEBVTT") and first[6] in " \t"):
        return None
    if not first.strip():
        return f"the first line is blank: {_SIGNATURE_RULE}"
    word = first.split()[0]
    return f"{word[:40]}: {_SIGNATURE_RULE}"


def _remap(parsed: webvtt.Parsed, source_lines: list[int]) -> webvtt.Parsed:
    """``parsed`` with line numbers of the converted text turned into source-file lines."""

    def src(line: int) -> int:
        return source_lines[line - 1] if 1 <= line <= len(source_lines) else line

    cues = [dataclasses.replace(c, line=src(c.line)) for c in parsed.cues]
    problems = [dataclasses.replace(p, line=src(p.line)) for p in parsed.problems]
    return dataclasses.replace(parsed, cues=cues, problems=problems)


def load(data: bytes, name: str) -> Loaded:
    """Read a caption file sent by a film-maker: decode, detect, convert, parse, normalise.

    A WebVTT file is not refused for cue-level faults: a browser drops only
    the faulty cue, so those come back as ``parsed.problems`` (the syntax
    findings of :func:`medialib.captions.quality.check`). SRT and SBV are
    converted strictly (see :func:`srt_to_webvtt`).

    Raises BadInput: ``NAME: empty file`` (no bytes, or only whitespace and a
    byte-order mark); ``NAME: not a text file (binary data at byte N)``;
    ``NAME line N: not a caption file: ...``; ``NAME line 1: WEBVTTX: the file
    must start with 'WEBVTT' followed by ...`` for a signature a browser
    rejects; and the conversion errors of SRT and SBV.
    """
    if not data:
        raise BadInput(f"{name}: empty file")
    text, encoding = decode(data, name)
    if not text.strip():
        raise BadInput(f"{name}: empty file")
    kind = detect_format(text, name)
    if kind == "vtt":
        why = signature_problem(text)
        if why is not None:
            raise BadInput(f"{name} line 1: {why}")
        parsed = webvtt.parse(text)
        if not parsed.accepted:
            first = next((p for p in parsed.problems if p.level == "error"), None)
            line, message = (first.line, first.message) if first else (1, _SIGNATURE_RULE)
            raise BadInput(f"{name} line {line}: {message}")
    else:
        converted = _srt(text, name) if kind == "srt" else _sbv(text, name)
        parsed = _remap(webvtt.parse(converted.text), converted.source_lines)
    vtt = webvtt.serialize(parsed.cues, parsed.header, regions=parsed.regions, styles=parsed.styles)
    return Loaded(vtt=vtt, parsed=parsed, source_format=kind, encoding=encoding)
