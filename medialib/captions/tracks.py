"""Caption tracks in the catalogue: import, check, drafts, approval, export.

The reviewed text of each track is a plain file, ``captions/<slug>/<lang>.vtt``
(``<lang>.<kind>.vtt`` for kinds other than captions), always normalised
UTF-8 WebVTT. Staff may edit it by hand: medialib notices, because it keeps
the sha256 of the file as it wrote it, as a machine draft was generated, and
as it was approved. An approval binds the cut sha256 and the caption sha256:
a new cut or an edited file voids it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from medialib.catalog import audit, validate
from medialib.catalog.db import utcnow
from medialib.catalog.films import get_film
from medialib.catalog.gates import Check
from medialib.catalog.models import CaptionTrack, Film
from medialib.errors import BadInput, CheckFailed, NotFound

KINDS = ("captions", "subtitles", "descriptions", "chapters")
MAX_BYTES = 20_000_000  # a caption file larger than this is not a caption file


def relative_path(slug: str, language: str, kind: str) -> str:
    return f"{slug}/{language}.vtt" if kind == "captions" else f"{slug}/{language}.{kind}.vtt"


def sha256_text(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_upload(path: str | os.PathLike[str]) -> bytes:
    shown = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise NotFound(f"{shown}: no such file")
    if not p.is_file():
        raise BadInput(f"{shown}: not a regular file")
    if p.stat().st_size > MAX_BYTES:
        raise BadInput(f"{shown}: {p.stat().st_size / 1e6:.1f} MB is too large for a caption file")
    return p.read_bytes()


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise BadInput(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def get_track(session: Session, film: Film, language: str, kind: str = "captions") -> CaptionTrack:
    track = session.scalars(select(CaptionTrack).where(
        CaptionTrack.film_id == film.id, CaptionTrack.language == language, CaptionTrack.kind == kind
    )).one_or_none()  # fmt: skip
    if track is None:
        raise NotFound(f"film {film.slug!r} has no {kind} track in {language!r} (medialib captions import)")
    return track


def tracks_of(session: Session, film: Film) -> list[CaptionTrack]:
    return list(session.scalars(select(CaptionTrack).where(CaptionTrack.film_id == film.id)
                                .order_by(CaptionTrack.language, CaptionTrack.kind)))  # fmt: skip


def _write(root: Path, rel: str, text: str) -> tuple[Path, Path, str]:
    """Write the normalised text beside its final name; returns (tmp, final, sha)."""
    final = root / rel
    final.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp, final, sha256_text(data)


def import_track(
    session: Session, lib: Any, actor: str, slug: str, upload: str | os.PathLike[str], language: str, kind: str
) -> tuple[CaptionTrack, Any]:
    """Read an SRT/SBV/WebVTT file, normalise it, store it and record the track.

    Refuses (BadInput, naming the line) a file that is not captions, or one
    in which a browser would drop cues: nothing is dropped silently.
    """
    from medialib.captions import formats

    film = get_film(session, slug, for_update=True)
    language = validate.language(language)
    check_kind(kind)
    shown = os.fspath(upload)
    loaded = formats.load(read_upload(upload), shown)
    errors = [p for p in loaded.parsed.problems if p.level == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; see `medialib captions check-file`)" if len(errors) > 1 else ""
        raise BadInput(f"{shown} line {first.line}: {first.message}{more}")
    rel = relative_path(slug, language, kind)
    tmp, final, sha = _write(lib.config.captions_dir, rel, loaded.vtt)
    try:
        track = session.scalars(select(CaptionTrack).where(
            CaptionTrack.film_id == film.id, CaptionTrack.language == language, CaptionTrack.kind == kind
        )).one_or_none()  # fmt: skip
        cut = film.current_cut
        if track is None:
            track = CaptionTrack(film_id=film.id, language=language, kind=kind, path=rel)
            session.add(track)
        track.source_format, track.encoding, track.origin = loaded.source_format, loaded.encoding, "human"
        track.sha256, track.draft_sha256, track.cut_sha256 = sha, None, cut.sha256 if cut else None
        track.status = "draft"
        session.flush()
        audit.record(session, actor, "captions.import", f"film:{slug}", language=language, kind=kind,
                     sha256=sha, source_format=loaded.source_format, encoding=loaded.encoding,
                     cues=len(loaded.parsed.cues))  # fmt: skip
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return track, loaded


def record_draft(session: Session, lib: Any, actor: str, film: Film, language: str, vtt: str) -> CaptionTrack:
    """Store a machine draft; never over a human track."""
    existing = session.scalars(select(CaptionTrack).where(
        CaptionTrack.film_id == film.id, CaptionTrack.language == language, CaptionTrack.kind == "captions"
    )).one_or_none()  # fmt: skip
    if existing is not None and existing.origin == "human":
        raise BadInput(f"film {film.slug!r} already has human captions in {language!r}: a draft never replaces them")
    rel = relative_path(film.slug, language, "captions")
    tmp, final, sha = _write(lib.config.captions_dir, rel, vtt)
    try:
        track = existing or CaptionTrack(film_id=film.id, language=language, kind="captions", path=rel)
        if existing is None:
            session.add(track)
        track.source_format, track.encoding, track.origin = "asr", "utf-8", "machine"
        track.sha256 = track.draft_sha256 = sha
        track.cut_sha256 = film.current_cut.sha256 if film.current_cut else None
        track.status, track.approved_by, track.approved_at = "draft", None, None
        track.approved_sha256 = track.approved_cut_sha256 = None
        session.flush()
        audit.record(session, actor, "captions.draft", f"film:{film.slug}", language=language, sha256=sha)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return track


@dataclass(frozen=True)
class TrackState:
    file_sha256: str | None  # None: the file is missing
    approved: bool  # approved for the current cut and unchanged since
    reason: str  # what a person should know


def track_state(lib: Any, track: CaptionTrack, current_cut_sha: str | None, read_file: bool = True) -> TrackState:
    """Whether ``track`` is approved for the current cut and unchanged since. ``read_file=False``
    trusts the catalogue's record of the file (the review board); publish and approval read it."""
    if read_file:
        path = lib.config.captions_dir / track.path
        file_sha = sha256_text(path.read_bytes()) if path.is_file() else None
    else:
        file_sha = track.sha256
    label = f"{track.language} {track.kind}"
    if file_sha is None:
        return TrackState(None, False, f"{label}: the file captions/{track.path} is missing")
    if track.status != "approved":
        draft = " (a machine draft)" if track.origin == "machine" else ""
        return TrackState(file_sha, False, f"{label}: not approved yet{draft}")
    if file_sha != track.approved_sha256:
        return TrackState(file_sha, False, f"{label}: edited since {track.approved_by} approved it; approve again")
    if track.approved_cut_sha256 != current_cut_sha:
        return TrackState(file_sha, False,
                          f"{label}: approved for cut {str(track.approved_cut_sha256)[:12]}, not the current cut; "
                          "check the timing and approve again")  # fmt: skip
    return TrackState(file_sha, True, f"{label}: approved by {track.approved_by}")


def speech_intervals(session: Session, lib: Any, film: Film) -> list[tuple[float, float]] | None:
    """Where the current cut has sound above the silence threshold (None if not measured)."""
    from medialib.jobs import derived

    cut = film.current_cut
    if cut is None:
        return None
    analysis = next((j for j in derived.current_jobs(session, lib, film).values()
                     if j.kind == "analysis" and j.status == "done"), None)  # fmt: skip
    if analysis is None or not analysis.data.get("audio"):
        return None
    speech, at = [], 0.0
    for start, end in analysis.data.get("silences", []):
        if start > at:
            speech.append((at, start))
        at = max(at, end)
    if at < cut.duration:
        speech.append((at, cut.duration))
    return speech


def check_text(data: bytes, name: str, config: Any, *, duration: float | None = None, frame_rate: float = 25.0,
               speech: Sequence[tuple[float, float]] | None = None) -> dict[str, Any]:  # fmt: skip
    """The syntax and quality report of caption bytes (read as a browser reads them)."""
    from medialib.captions import formats, quality

    loaded = formats.load(data, name)
    found = quality.check(loaded.parsed, quality.thresholds_from_config(config), video_duration=duration,
                          frame_rate=frame_rate, speech=list(speech) if speech is not None else None)  # fmt: skip
    return {
        "cues": len(loaded.parsed.cues),
        "source_format": loaded.source_format,
        "encoding": loaded.encoding,
        "findings": [f.as_dict() for f in found],
        "errors": sum(1 for f in found if f.level == "error"),
        "warnings": sum(1 for f in found if f.level == "warning"),
        "parsed": loaded.parsed,
    }


def check_track(session: Session, lib: Any, slug: str, language: str, kind: str = "captions") -> dict[str, Any]:
    film = get_film(session, slug)
    language = validate.language(language)
    track = get_track(session, film, language, check_kind(kind))
    path = lib.config.captions_dir / track.path
    if not path.is_file():
        raise NotFound(f"captions/{track.path}: the caption file is missing")
    cut = film.current_cut
    report = check_text(path.read_bytes(), f"captions/{track.path}", lib.config,
                        duration=cut.duration if cut else None, frame_rate=(cut.frame_rate or 25.0) if cut else 25.0,
                        speech=speech_intervals(session, lib, film))  # fmt: skip
    state = track_state(lib, track, cut.sha256 if cut else None)
    report.pop("parsed")
    return {"film": slug, "language": language, "kind": kind, "origin": track.origin, "status": track.status,
            "approved": state.approved, "state": state.reason, **report}  # fmt: skip


def film_context(session: Session, lib: Any, film: Film) -> dict[str, Any]:
    """What caption checks need to know about the film's current cut: duration, frame rate, speech."""
    cut = film.current_cut
    return {"duration": cut.duration if cut else None, "frame_rate": (cut.frame_rate or 25.0) if cut else 25.0,
            "speech": speech_intervals(session, lib, film)}  # fmt: skip


def report_text(text: str, config: Any, *, duration: float | None = None, frame_rate: float = 25.0,
                speech: Sequence[tuple[float, float]] | None = None) -> dict[str, Any]:  # fmt: skip
    """The syntax and quality report of WebVTT text as a person typed it, read as a browser reads it.

    Unlike :func:`check_text` it never refuses: a file a browser rejects as a
    whole (a bad signature) comes back as one ``syntax`` error finding, so
    that an editor can show what is wrong. ``accepted`` is False then.
    """
    from medialib.captions import quality, webvtt

    parsed = webvtt.parse(text)
    found = quality.check(parsed, quality.thresholds_from_config(config), video_duration=duration,
                          frame_rate=frame_rate, speech=list(speech) if speech is not None else None)  # fmt: skip
    return {
        "accepted": parsed.accepted,
        "cues": len(parsed.cues),
        "findings": [f.as_dict() for f in found],
        "errors": sum(1 for f in found if f.level == "error"),
        "warnings": sum(1 for f in found if f.level == "warning"),
    }


def edited_text(text: str) -> str:
    """Text from an editor as it is stored: no byte-order mark, LF line ends, one final line break.

    Raises BadInput for blank text, text that is not valid Unicode, or text over the caption file size limit."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise BadInput("the caption text is empty: nothing to save (a track is never replaced by an empty file)")
    if not text.endswith("\n"):
        text += "\n"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise BadInput(f"the caption text is not valid Unicode (a lone surrogate at character {exc.start})") from None
    if size > MAX_BYTES:
        raise BadInput(f"the caption text is {size / 1e6:.1f} MB: too large for a caption file")
    return text


def check_edit(session: Session, lib: Any, slug: str, language: str, text: str) -> dict[str, Any]:
    """The report of edited caption text against the film's current cut, without saving anything."""
    film = get_film(session, slug)
    validate.language(language)
    return report_text(edited_text(text), lib.config, **film_context(session, lib, film))


def save_text(session: Session, lib: Any, actor: str, slug: str, language: str, text: str,
              kind: str = "captions", by: str | None = None) -> tuple[CaptionTrack, dict[str, Any], bool]:  # fmt: skip
    """Store caption text edited by a person as the track's new version; returns (track, report, changed).

    The new version is a human-edited draft: kept even when a browser would
    drop cues or reject the file (``report`` lists the findings, and approval
    stays refused while errors remain), and any approval of the track is
    void. An edited machine draft becomes a human track (so a new machine
    draft never replaces it); saved unchanged it stays a machine draft.
    Text identical to the current file changes nothing (``changed`` False).
    The file is written beside its final name and renamed into place.

    Raises NotFound (no such film or track), BadInput (a bad language or
    kind, blank or oversized text).
    """
    film = get_film(session, slug, for_update=True)
    language = validate.language(language)
    track = get_track(session, film, language, check_kind(kind))
    text = edited_text(text)
    report = report_text(text, lib.config, **film_context(session, lib, film))
    sha = sha256_text(text.encode("utf-8"))
    path = lib.config.captions_dir / track.path
    on_disk = sha256_text(path.read_bytes()) if path.is_file() else None
    if sha == on_disk == track.sha256:
        return track, report, False
    tmp, final, sha = _write(lib.config.captions_dir, track.path, text)
    try:
        was_machine_draft = track.origin == "machine"
        if not (was_machine_draft and sha == track.draft_sha256):
            track.origin = "human"
        track.source_format, track.encoding, track.sha256 = "vtt", "utf-8", sha
        track.cut_sha256 = film.current_cut.sha256 if film.current_cut else None
        track.status, track.approved_by, track.approved_at = "draft", None, None
        track.approved_sha256 = track.approved_cut_sha256 = None
        session.flush()
        audit.record(session, actor, "captions.edit", f"film:{slug}", language=language, kind=kind, sha256=sha,
                     previous_sha256=on_disk, by=by, cues=report["cues"], errors=report["errors"],
                     warnings=report["warnings"], machine_draft_edited=was_machine_draft)  # fmt: skip
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return track, report, True


def approve_track(session: Session, lib: Any, actor: str, slug: str, language: str, by: str,
                  kind: str = "captions") -> CaptionTrack:  # fmt: skip
    """Approve a track for the current cut; CheckFailed while errors remain or a
    machine draft is unchanged."""
    by = validate.text(by, "--by", 200, required=True)
    report = check_track(session, lib, slug, language, kind)
    film = get_film(session, slug, for_update=True)
    track = get_track(session, film, validate.language(language), kind)
    cut = film.current_cut
    if cut is None:
        raise CheckFailed(f"cannot approve {slug} {language} captions: the film has no cut yet to approve them for")
    errors = [f for f in report["findings"] if f["level"] == "error"]
    if errors:
        listed = "; ".join(f"cue {f['cue']} ({f['rule']}): {f['message']}" if f.get("cue") else f["message"]
                           for f in errors[:5])  # fmt: skip
        more = f" … and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise CheckFailed(f"cannot approve {slug} {language} captions: {len(errors)} error(s): {listed}{more}")
    state = track_state(lib, track, cut.sha256)
    if track.origin == "machine" and state.file_sha256 == track.draft_sha256:
        raise CheckFailed(
            f"cannot approve {slug} {language} captions: they are a machine draft nobody has corrected since it "
            f"was generated; a person must review and edit captions/{track.path} first"
        )
    corrected = track.origin == "machine"
    track.status, track.approved_by, track.approved_at = "approved", by, utcnow()
    track.approved_sha256, track.approved_cut_sha256 = state.file_sha256, cut.sha256
    session.flush()
    audit.record(session, actor, "captions.approve", f"film:{slug}", language=language, kind=kind, by=by,
                 sha256=state.file_sha256, cut_sha256=cut.sha256, machine_draft_corrected=corrected)  # fmt: skip
    return track


def gate(session: Session, lib: Any, film: Film, prefetched: list[CaptionTrack] | None = None,
         read_files: bool = True) -> tuple[Check, tuple[tuple[str, str], ...]]:  # fmt: skip
    """The captions gate, and the (language, sha256) of the approved tracks.
    ``prefetched``: the film's tracks, when the caller loaded many films' at once;
    ``read_files=False`` trusts the recorded hashes of the caption files."""
    languages = [validate.language(lang) for lang in lib.config["captions.required_languages"]]
    cut = film.current_cut
    found = tracks_of(session, film) if prefetched is None else prefetched
    tracks = {(t.language, t.kind): t for t in found}
    reasons, approved = [], []
    states = {key: track_state(lib, t, cut.sha256 if cut else None, read_files) for key, t in tracks.items()}
    for key, track in tracks.items():
        state = states[key]
        if state.approved:
            approved.append((f"{track.language}/{track.kind}", state.file_sha256 or ""))
    for lang in languages:
        candidates = [t for (tl, kind), t in tracks.items() if tl == lang and kind in ("captions", "subtitles")]
        if not candidates:
            reasons.append(f"{lang}: no caption track (medialib captions import {film.slug} FILE --lang {lang})")
            continue
        states_of = [states[(t.language, t.kind)] for t in candidates]
        if not any(st.approved for st in states_of):
            reasons.extend(st.reason for st in states_of)
    if not languages:
        return Check(True, ("no caption language is required (setting captions.required_languages)",)), tuple(approved)
    if reasons:
        return Check(False, tuple(reasons)), tuple(approved)
    return Check(True, (f"approved captions in {', '.join(languages)}",)), tuple(approved)


def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def to_srt(cues: Sequence[Any]) -> str:
    """SubRip text of WebVTT cues: <i>, <b>, <u> kept; a <v Name> voice becomes "Name: "."""
    import re

    out = []
    for n, cue in enumerate(cues, 1):
        text = re.sub(r"<v(?:\.[^ >]*)? ([^>]*)>", r"\1: ", cue.text)
        text = re.sub(r"</?(?!/?[ibu]>)[^>]*>", "", text)
        out.append(f"{n}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n{text}\n")
    return "\n".join(out)
