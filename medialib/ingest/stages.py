"""The stages of ingesting a cut. Each does one thing and raises MedialibError."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from medialib.catalog import audit, queries, validate
from medialib.catalog.films import get_film
from medialib.catalog.models import Cut
from medialib.errors import BadInput, NotFound
from medialib.media.ffmpeg import FFmpeg
from medialib.media.probe import TechInfo, tech_info
from medialib.storage import Progress, Store, Stored

ORIGINALS = "originals"


@dataclass(frozen=True)
class Source:
    """An upload as found on disk, before anything is read from it."""

    path: Path
    name: str  # what the user called it: metadata only, never part of a storage path
    stat: os.stat_result


@dataclass(frozen=True)
class Probed:
    source: Source
    info: TechInfo
    probe: dict[str, Any]


def check_source(path: str | os.PathLike[str]) -> Source:
    """The upload must exist, be a regular file and not be empty."""
    shown = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(f"{shown}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{shown}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{shown}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{shown}: not a regular file")
    if st.st_size == 0:
        raise BadInput(f"{shown}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise BadInput(f"{shown}: permission denied")
    return Source(path=Path(os.path.abspath(path)), name=os.path.basename(shown), stat=st)


def probe_source(ff: FFmpeg, source: Source, shown: str) -> Probed:
    """Probe the upload and decode its end: it must be a playable video."""
    data = ff.probe(source.path, name=shown)
    info = tech_info(data, shown)
    ff.check_playable(source.path, info.duration, name=shown)
    return Probed(source=source, info=info, probe=data)


def probe_and_store(ff: FFmpeg, store: Store, source: Source, shown: str,
                    on_progress: Progress | None = None) -> tuple[Probed, Stored]:  # fmt: skip
    """Probe the upload while it is already being copied and hashed into the store (one read
    pass, on its own thread). If the probe refuses the file, the copy is stopped and its
    temporary file removed: nothing is stored."""
    pending = store.begin_put(source.path, on_progress=on_progress, expect=source.stat)
    try:
        probed = probe_source(ff, source, shown)
    except BaseException:
        pending.abort()
        raise
    return probed, pending.finish(ORIGINALS, probed.info.extension)


def record_cut(
    session: Session, actor: str, slug: str, probed: Probed, stored: Stored, label: str
) -> tuple[Cut, bool]:
    """Add the cut to the film, or find the identical one already there.

    Returns (cut, duplicate). Locks the film row so concurrent uploads get
    distinct sequence numbers.
    """
    label = validate.text(label, "--label", 100)
    film = get_film(session, slug, for_update=True)
    existing = session.scalars(queries.cut_by_sha(film.id, stored.sha256)).one_or_none()
    if existing is not None:
        return existing, True
    seq = (session.scalar(queries.last_seq(film.id)) or 0) + 1
    info = probed.info
    cut = Cut(
        film_id=film.id,
        seq=seq,
        label=label,
        sha256=stored.sha256,
        size=stored.size,
        storage_key=stored.key,
        container=info.container,
        duration=info.duration,
        video_codec=info.video_codec,
        width=info.width,
        height=info.height,
        display_aspect_ratio=info.display_aspect_ratio,
        frame_rate=info.frame_rate,
        rotation=info.rotation,
        audio_codec=info.audio_codec,
        channels=info.channels,
        sample_rate=info.sample_rate,
        bit_rate=info.bit_rate,
        probe=probed.probe,
        original_name=probed.source.name,
        uploaded_by=actor,
    )
    session.add(cut)
    session.flush()
    audit.record(
        session,
        actor,
        "cut.add",
        f"cut:{slug}#{seq}",
        sha256=stored.sha256,
        size=stored.size,
        label=label,
        original_name=probed.source.name,
    )
    return cut, False
