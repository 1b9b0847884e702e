"""Reading caption files as film-makers send them: encodings, line endings, SRT/SBV, refusals."""

from __future__ import annotations

import codecs
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medialib.captions import formats, quality, webvtt
from medialib.errors import BadInput

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nCafé — l’été\n\n00:00:03.000 --> 00:00:04.000\n<i>Oui</i>\n"
SRT = (
    '1\n00:00:01,000 --> 00:00:02,500\n<font color="#ffff00">Café</font> {\\an8}<I>l’été</I>\n\n'
    "2\n00:00:03,000 --> 00:00:04,000\n<v Ann>Oui</v> <b>&</b> <u>non</u>\n"
)
SBV = "0:00:01.000,0:00:02.500\nCafé — l’été\n\n0:00:03.000,0:00:04.000\n<i>Oui</i>[br]second line\n"


def cues(parsed: webvtt.Parsed) -> list[tuple[float, float, str]]:
    return [(c.start, c.end, c.text) for c in parsed.cues]


def refused(data: bytes | str, name: str = "hope.srt") -> str:
    """The BadInput message load() gives for ``data``."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with pytest.raises(BadInput) as info:
        formats.load(data, name)
    return str(info.value)


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (VTT.encode("utf-8"), "utf-8"),
        (VTT.encode("utf-8-sig"), "utf-8-sig"),
        (VTT.encode("utf-16"), "utf-16-le"),  # Python writes a little-endian BOM
        (codecs.BOM_UTF16_BE + VTT.encode("utf-16-be"), "utf-16-be"),
        (VTT.encode("utf-16-le"), "utf-16-le"),  # no BOM: found by its NUL bytes
        (VTT.encode("utf-16-be"), "utf-16-be"),
        (VTT.encode("cp1252"), "cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-bom", "utf-16-be-bom", "utf-16-le-no-bom", "utf-16-be-no-bom", "cp1252"],
)
def test_decode_every_encoding(data: bytes, encoding: str) -> None:
    text, found = formats.decode(data, "x.vtt")
    assert (text, found) == (VTT, encoding)
    assert not text.startswith("\ufeff")


def test_cp1252_short_word_is_not_guessed_away() -> None:
    assert formats.decode("café".encode("cp1252"), "x.srt") == ("café", "cp1252")
    assert formats.decode("l’été — “oui”".encode("cp1252"), "x.srt") == ("l’été — “oui”", "cp1252")


def test_latin1_when_cp1252_leaves_a_byte_undefined() -> None:
    text, encoding = formats.decode("café ".encode("latin-1") + b"\x81" + b" et th\xe9" * 5, "x.srt")
    assert encoding == "latin-1" and text.startswith("café \x81 et thé")


def test_cyrillic_code_page_uses_charset_normalizer_as_tie_breaker() -> None:
    body = "1\n00:00:01,000 --> 00:00:02,000\nПривет, как дела? Это субтитры для нашего фильма о море.\n"
    text, encoding = formats.decode(body.encode("cp1251"), "x.srt")
    assert text == body and encoding == "cp1251"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_every_line_ending_becomes_lf(ending: str, codec: str) -> None:
    data = VTT.replace("\n", ending).encode(codec)
    text, _ = formats.decode(data, "x.vtt")
    assert text == VTT
    loaded = formats.load(data, "x.vtt")
    assert cues(loaded.parsed) == [(1.0, 2.5, "Café — l’été"), (3.0, 4.0, "<i>Oui</i>")]
    assert "\r" not in loaded.vtt


def test_mixed_line_endings() -> None:
    text, _ = formats.decode(b"WEBVTT\r\n\r00:00:01.000 --> 00:00:02.000\nA\r\n", "x.vtt")
    assert text == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\n"


def test_an_occasional_nul_is_left_for_the_webvtt_parser() -> None:
    # As in the web-platform-tests corpus (nulls.vtt): a browser reads such a file.
    data = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\ntext\x00 one\n" + b"\n00:00:02.000 --> 00:00:03.000\nmore\n" * 3
    text, encoding = formats.decode(data, "x.vtt")
    assert encoding == "utf-8" and "\x00" in text
    assert formats.load(data, "x.vtt").parsed.cues[0].text == "text\ufffd one"


# --------------------------------------------------------------------------- refusals: not text


def test_empty_file() -> None:
    assert refused(b"") == "hope.srt: empty file"
    assert refused(codecs.BOM_UTF8 + b"\r\n \n") == "hope.srt: empty file"


def test_random_binary() -> None:
    message = refused(b"\x00\x01" + os.urandom(4000))
    assert message == "hope.srt: not a text file (binary data at byte 0)"


def test_random_binary_after_a_text_start() -> None:
    data = b"WEBVTT\n\n" + bytes(range(256)) * 8
    assert refused(data, "a.vtt") == "a.vtt: not a text file (binary data at byte 8)"


def test_png_header() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x80\x00\x00\x01\xe0\x08\x06\x00\x00\x00" + os.urandom(200)
    assert refused(png, "poster.png") == "poster.png: not a text file (binary data at byte 6)"


def test_utf16_bom_with_nul_bytes_after_it() -> None:
    data = codecs.BOM_UTF16_LE + VTT.encode("utf-32-le")  # UTF-16 text would have no NUL characters
    assert refused(data) == "hope.srt: not a text file (binary data at byte 4)"


def test_utf16_bom_then_broken_utf16() -> None:
    data = codecs.BOM_UTF16_LE + "WEBVTT\n".encode("utf-16-le") + b"\x00\xd8A\x00"  # a lone surrogate
    assert refused(data) == (
        "hope.srt: not valid UTF-16-LE at byte 16 (the file starts with a UTF-16-LE byte-order mark)"
    )


def test_utf16_without_bom_but_truncated() -> None:
    message = refused(VTT.encode("utf-16-le")[:-1], "x.vtt")
    assert message.startswith("x.vtt: looks like UTF-16-LE without a byte-order mark, but is not valid UTF-16-LE")


def test_utf8_with_one_stray_latin1_byte_is_refused_not_garbled() -> None:
    data = VTT.encode("utf-8") + "Voilà\n".encode("latin-1")
    message = refused(data, "x.vtt")
    assert message.startswith(f"x.vtt: not valid UTF-8 at byte {len(VTT.encode()) + 4}, though most of the file")


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (VTT, "vtt"),
        ("WEBVTT - a title\n", "vtt"),
        (SRT, "srt"),
        ("\n\n" + SRT, "srt"),
        ("00:00:01,000 --> 00:00:02,000\nno counter\n", "srt"),
        (SBV, "sbv"),
    ],
)
def test_detect_format(text: str, kind: str) -> None:
    assert formats.detect_format(text, "x") == kind


def test_plain_text_is_not_captions_and_the_line_is_named() -> None:
    message = refused("\n\nDear editor,\nhere are my notes.\n", "notes.srt")
    assert message == (
        "notes.srt line 3: not a caption file: 'Dear editor,' is not a WebVTT signature ('WEBVTT'), "
        "an SRT cue number or an SBV timing line (0:00:01.000,0:00:02.500)"
    )


def test_number_without_timing_is_not_captions() -> None:
    message = refused("1\nHello\n", "x.srt")
    assert message.startswith("x.srt line 2: not a caption file: line 1 is a number, but 'Hello' is not")


# --------------------------------------------------------------------------- WebVTT signature


def test_webvttx_header_is_rejected_as_a_browser_would() -> None:
    message = refused("WEBVTTX\n\n00:00:01.000 --> 00:00:02.000\nHello\n", "x.vtt")
    assert message == (
        "x.vtt line 1: WEBVTTX: the file must start with 'WEBVTT' followed by a space, tab or line break; "
        "a browser rejects the whole file"
    )


def test_blank_line_before_signature_is_rejected() -> None:
    message = refused("\nWEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello\n", "x.vtt")
    assert message.startswith("x.vtt line 1: the first line is blank: the file must start with 'WEBVTT'")


def test_lower_case_signature_is_rejected() -> None:
    assert refused("webvtt\n\n00:00:01.000 --> 00:00:02.000\nHello\n", "x.vtt").startswith(
        "x.vtt line 1: webvtt: the file must start with 'WEBVTT'"
    )


@pytest.mark.parametrize("first", ["WEBVTT", "WEBVTT title", "WEBVTT\ttitle"])
def test_good_signatures(first: str) -> None:
    assert formats.signature_problem(first + "\n\n") is None
    loaded = formats.load(f"{first}\n\n00:00:01.000 --> 00:00:02.000\nHello\n".encode(), "x.vtt")
    assert cues(loaded.parsed) == [(1.0, 2.0, "Hello")]


# --------------------------------------------------------------------------- SRT


def test_srt_conversion_keeps_tags_and_drops_font_and_positions() -> None:
    assert formats.srt_to_webvtt(SRT, "x.srt") == (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.500\nCafé <i>l’été</i>\n\n"
        "00:00:03.000 --> 00:00:04.000\n<v Ann>Oui</v> <b>&amp;</b> <u>non</u>\n"
    )


def test_srt_escapes_and_line_breaks() -> None:
    srt = "7\n01:02:03,004 --> 01:02:04,000 X1:10 X2:20 Y1:30 Y2:40\nif a < b &amp; c --> d<br>next&nbsp;line\n"
    assert formats.srt_to_webvtt(srt, "x.srt") == (
        "WEBVTT\n\n01:02:03.004 --> 01:02:04.000\nif a &lt; b &amp; c --&gt; d\nnext&nbsp;line\n"
    )


_srt_line = st.text(st.sampled_from(list(" &;<>-1é.")), min_size=1, max_size=30).filter(lambda x: x.strip())


@given(st.lists(_srt_line, min_size=1, max_size=3))
def test_srt_text_reaches_the_viewer_unchanged(lines: list[str]) -> None:
    # Whatever "&", "<", ">" and "-->" a plain SRT line holds, a browser shows the same characters.
    srt = "1\n00:00:01,000 --> 00:00:02,000\n" + "\n".join(lines) + "\n"
    (cue,) = formats.load(srt.encode(), "x.srt").parsed.cues
    assert quality.display_lines(cue.text) == [re.sub(" +", " ", line).strip(" ") for line in lines]


def test_srt_without_counters_or_blank_lines_between_cues() -> None:
    srt = "00:00:01,000 --> 00:00:02,000\nOne\n2\n00:00:03,000 --> 00:00:04,000\nTwo\n"
    parsed = webvtt.parse(formats.srt_to_webvtt(srt, "x.srt"))
    assert cues(parsed) == [(1.0, 2.0, "One"), (3.0, 4.0, "Two")]


def test_srt_with_periods_throughout_is_accepted() -> None:
    parsed = formats.load(b"1\n00:00:01.000 --> 00:00:02.000\nOne\n", "x.srt").parsed
    assert cues(parsed) == [(1.0, 2.0, "One")]


def test_srt_load_reports_lines_of_the_srt_file() -> None:
    loaded = formats.load(SRT.replace("\n", "\r\n").encode("cp1252"), "x.srt")
    assert (loaded.source_format, loaded.encoding) == ("srt", "cp1252")
    assert [c.line for c in loaded.parsed.cues] == [2, 6]  # the SRT timing lines
    assert [c.id for c in loaded.parsed.cues] == ["", ""]  # counters are dropped
    assert loaded.vtt == webvtt.serialize(loaded.parsed.cues, loaded.parsed.header, regions=loaded.parsed.regions)
    assert cues(webvtt.parse(loaded.vtt)) == cues(loaded.parsed)


def test_srt_mixing_comma_and_period_across_lines() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\nOne\n\n2\n00:00:03.000 --> 00:00:04.000\nTwo\n"
    assert refused(srt) == (
        "hope.srt line 6: '00:00:03.000' has a period before the milliseconds, but line 2 has a comma; "
        "use one style throughout (00:00:01,000)"
    )


def test_srt_mixing_comma_and_period_in_one_line() -> None:
    assert refused("1\n00:00:01,000 --> 00:00:02.000\nOne\n").startswith("hope.srt line 2: '00:00:02.000' has a period")


@pytest.mark.parametrize("stamp", ["00:75:00,000", "00:75:00.000"])
def test_srt_minutes_out_of_range(stamp: str) -> None:
    end = stamp[:-4] + stamp[-4] + "500"
    message = refused(f"1\n00:00:01,000 --> 00:00:02,000\nOne\n\n2\n{stamp} --> {end}\nTwo\n")
    assert message.startswith("hope.srt line 6: ")
    assert "minutes 75 out of range" in message


def test_srt_seconds_and_milliseconds_malformed() -> None:
    assert "seconds 61 out of range" in refused("1\n00:00:61,000 --> 00:01:02,000\nx\n")
    assert "three digits of milliseconds" in refused("1\n00:00:01,5 --> 00:00:02,000\nx\n")
    assert "is not a timestamp" in refused("1\n00:00:01 --> 00:00:02,000\nx\n")


def test_srt_end_before_start() -> None:
    message = refused("1\n00:00:01,000 --> 00:00:02,000\nOne\n\n2\n00:00:04,000 --> 00:00:03,000\nTwo\n")
    assert message == "hope.srt line 6: end 00:00:03.000 is before start 00:00:04.000"


def test_srt_text_outside_a_cue() -> None:
    message = refused("1\n00:00:01,000 --> 00:00:02,000\nOne\n\nstray\n")
    assert message.startswith("hope.srt line 5: 'stray' is outside any cue")


def test_srt_unexpected_text_after_end_time() -> None:
    assert "unexpected 'align:start'" in refused("1\n00:00:01,000 --> 00:00:02,000 align:start\nx\n")


# --------------------------------------------------------------------------- SBV


def test_sbv_conversion() -> None:
    assert formats.sbv_to_webvtt(SBV, "x.sbv") == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nCafé — l’été\n\n"
        "00:00:03.000 --> 00:00:04.000\n<i>Oui</i>\nsecond line\n"
    )
    loaded = formats.load(SBV.encode("utf-16"), "x.sbv")
    assert (loaded.source_format, loaded.encoding) == ("sbv", "utf-16-le")
    assert [c.line for c in loaded.parsed.cues] == [1, 4]


@pytest.mark.parametrize(
    ("timing", "why"),
    [
        ("0:75:00.000,0:76:00.000", "minutes 75 out of range in '0:75:00.000'"),
        ("0:00:01,000,0:00:02,000", "'0:00:01,000' has a comma before the milliseconds"),
        ("0:00:04.000,0:00:03.000", "end 00:00:03.000 is before start 00:00:04.000"),
    ],
)
def test_sbv_bad_timings(timing: str, why: str) -> None:
    message = refused(f"0:00:00.000,0:00:00.500\nfirst\n\n{timing}\nsecond\n", "x.sbv")
    assert message.startswith("x.sbv line 4: ") and why in message


# --------------------------------------------------------------------------- WebVTT input


def test_vtt_load_normalises_and_keeps_tags() -> None:
    text = "WEBVTT\r\n\r\nintro\r\n00:00:01.000 --> 00:00:02.000\r\n<v Ann><i>Hi</i></v>\r\n"
    loaded = formats.load(text.encode("utf-8-sig"), "x.vtt")
    assert (loaded.source_format, loaded.encoding) == ("vtt", "utf-8-sig")
    assert loaded.vtt == webvtt.serialize(loaded.parsed.cues, loaded.parsed.header, regions=loaded.parsed.regions)
    assert "<v Ann><i>Hi</i></v>" in loaded.vtt and "\r" not in loaded.vtt
    assert [(c.id, c.line) for c in loaded.parsed.cues] == [("intro", 4)]


def test_vtt_cue_faults_come_back_as_problems_not_refusals() -> None:
    # A browser drops just the cue whose timing line is malformed (commas, minutes 75).
    text = "WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nOne\n\n00:75:00.000 --> 00:76:00.000\nTwo\n\n" \
           "00:00:03.000 --> 00:00:04.000\nThree\n"  # fmt: skip
    loaded = formats.load(text.encode(), "x.vtt")
    assert cues(loaded.parsed) == [(3.0, 4.0, "Three")]
    errors = {p.line for p in loaded.parsed.problems if p.level == "error"}
    assert {3, 6} <= errors
