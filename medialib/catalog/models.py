"""The catalogue: films, their cuts, and the append-only audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from medialib.catalog.db import Base, utcnow


class Film(Base):
    """A story in the programme: its metadata and the cuts uploaded for it."""

    __tablename__ = "films"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list[str]] = mapped_column(default=list)
    location: Mapped[str] = mapped_column(String(300), default="")
    languages: Mapped[list[str]] = mapped_column(default=list)
    credits: Mapped[list[str]] = mapped_column(default=list)
    licence: Mapped[str] = mapped_column(String(200), default="")
    publish_at: Mapped[datetime | None]
    poster_at: Mapped[float | None]  # seconds into the current cut; None = chosen automatically
    taken_down_at: Mapped[datetime | None]  # `medialib takedown`: voids earlier approvals
    taken_down_reason: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    pinned_cut_id: Mapped[int | None] = mapped_column(
        ForeignKey("cuts.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cuts: Mapped[list[Cut]] = relationship(
        back_populates="film",
        lazy="selectin",
        order_by="Cut.seq",
        foreign_keys="Cut.film_id",
        cascade="all, delete-orphan",
    )

    @property
    def current_cut(self) -> Cut | None:
        """The pinned cut if one is pinned, else the newest."""
        if self.pinned_cut_id is not None:
            for cut in self.cuts:
                if cut.id == self.pinned_cut_id:
                    return cut
        return self.cuts[-1] if self.cuts else None

    def __repr__(self) -> str:
        return f"<Film {self.slug!r}>"


class Cut(Base):
    """One uploaded version of a film, with the technical metadata of its original."""

    __tablename__ = "cuts"
    __table_args__ = (
        UniqueConstraint("film_id", "seq"),
        UniqueConstraint("film_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    label: Mapped[str] = mapped_column(String(100), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(200))
    container: Mapped[str] = mapped_column(String(40))
    duration: Mapped[float]
    video_codec: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    display_aspect_ratio: Mapped[str] = mapped_column(String(20))
    frame_rate: Mapped[float]
    rotation: Mapped[int] = mapped_column(default=0)
    audio_codec: Mapped[str | None] = mapped_column(String(40))
    channels: Mapped[int | None]
    sample_rate: Mapped[int | None]
    bit_rate: Mapped[int | None] = mapped_column(BigInteger)
    probe: Mapped[dict[str, Any]]
    original_name: Mapped[str] = mapped_column(String(1000), default="")
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    film: Mapped[Film] = relationship(back_populates="cuts", lazy="select", foreign_keys=[film_id])

    def __repr__(self) -> str:
        return f"<Cut {self.film_id}#{self.seq} {self.sha256[:12]}>"


class AuditEvent(Base):
    """One decision or change: who, what, when. Never updated or deleted
    (the database refuses, through triggers created by the migrations)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(Text)  # "library:<folder>", "target:<url>": no fixed width
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.subject}>"


class DerivativeJob(Base):
    """One recipe applied to one original: keyed by (content sha256, recipe,
    recipe hash). Rebuilt only when the content or the recipe changes."""

    __tablename__ = "derivative_jobs"
    __table_args__ = (UniqueConstraint("sha256", "recipe", "recipe_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    recipe: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    recipe_hash: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|running|done|failed
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    worker: Mapped[str] = mapped_column(String(200), default="")  # host:pid while running
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    seconds: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # On a cut's analysis job: the error-level QC findings ("code: message") that `process`
    # found once the analysis and the proxies were done, and the key they hold for
    # (jobs.derived.qc_key: those jobs and the thresholds). The review board reads them.
    qc_key: Mapped[str | None] = mapped_column(String(64))
    qc_errors: Mapped[list[str] | None]

    files: Mapped[list[DerivativeFile]] = relationship(
        back_populates="job", lazy="selectin", order_by="DerivativeFile.name", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<DerivativeJob {self.recipe}@{self.recipe_hash} {self.sha256[:12]} {self.status}>"


class DerivativeFile(Base):
    """One file a derivative job wrote (a poster size, a proxy, a sprite sheet)."""

    __tablename__ = "derivative_files"
    __table_args__ = (UniqueConstraint("job_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("derivative_jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    mime: Mapped[str] = mapped_column(String(60))
    storage_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration: Mapped[float | None]

    job: Mapped[DerivativeJob] = relationship(back_populates="files", lazy="select")

    def __repr__(self) -> str:
        return f"<DerivativeFile {self.storage_key}>"


class Person(Base):
    """Someone who appears in a film. Personal data is kept to what consent needs;
    erasure replaces the name with a tombstone and removes the rest."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    born: Mapped[date | None]
    contact: Mapped[str | None] = mapped_column(Text)
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="person", lazy="selectin", order_by="Consent.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Person {self.id}>"


class Consent(Base):
    """A signed consent form: what it allows, from when to when, and its state.

    Expiry is not stored as a state: it is judged at the time of each check."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list[str]]
    signed_on: Mapped[date]
    expires_on: Mapped[date | None]
    signed_by: Mapped[str] = mapped_column(String(10))  # self | guardian
    guardian: Mapped[str | None] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(20))  # paper | e-sign | verbal
    wording_version: Mapped[str] = mapped_column(String(60), default="")
    collected_by: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    form_key: Mapped[str | None] = mapped_column(String(200))  # private/consent/<sha>.<ext>; None once erased
    form_sha256: Mapped[str] = mapped_column(String(64))
    form_mime: Mapped[str] = mapped_column(String(40))
    form_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|verified|withdrawn|superseded
    verified_by: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))
    withdraw_reason: Mapped[str] = mapped_column(Text, default="")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="consents", lazy="joined")

    def __repr__(self) -> str:
        return f"<Consent {self.id} person {self.person_id} {self.status}>"


class Appearance(Base):
    """A person in a film; a non-identifiable appearance needs no consent."""

    __tablename__ = "appearances"
    __table_args__ = (UniqueConstraint("film_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    identifiable: Mapped[bool] = mapped_column(default=True)
    ranges: Mapped[list[str]] = mapped_column(default=list)  # "00:01:00-00:01:30", …
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Appearance film {self.film_id} person {self.person_id}>"


class Approval(Base):
    """A staff approval of one cut. Never edited: it is void when the film's
    current cut or its consent state differs from the snapshot it recorded."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id", ondelete="CASCADE"), index=True)
    cut_sha256: Mapped[str] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)  # consent and caption state approved

    def __repr__(self) -> str:
        return f"<Approval film {self.film_id} cut {self.cut_sha256[:12]}>"


class CaptionTrack(Base):
    """A caption file of a film in one language: where it came from, and its approval.

    The text itself lives in captions/<slug>/<lang>.vtt, a plain file staff may
    edit; its sha256 is compared with the recorded ones to notice edits."""

    __tablename__ = "caption_tracks"
    __table_args__ = (UniqueConstraint("film_id", "language", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    film_id: Mapped[int] = mapped_column(ForeignKey("films.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(35))
    kind: Mapped[str] = mapped_column(String(20), default="captions")  # captions|subtitles|descriptions|chapters
    path: Mapped[str] = mapped_column(String(300))  # relative to the captions folder
    source_format: Mapped[str] = mapped_column(String(10))  # vtt|srt|sbv|asr
    encoding: Mapped[str] = mapped_column(String(30), default="utf-8")
    origin: Mapped[str] = mapped_column(String(10))  # human|machine
    sha256: Mapped[str] = mapped_column(String(64))  # of the file as medialib last wrote it
    draft_sha256: Mapped[str | None] = mapped_column(String(64))  # a machine draft as generated
    cut_sha256: Mapped[str | None] = mapped_column(String(64))  # the cut it was timed against
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft|approved
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    approved_sha256: Mapped[str | None] = mapped_column(String(64))
    approved_cut_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<CaptionTrack film {self.film_id} {self.language} {self.kind} {self.status}>"


class Publication(Base):
    """One object medialib put on a publish target, as last written there.

    The publisher compares the desired set with these rows and one listing of
    the target: an object listed with the recorded size and hash is unchanged."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("target", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(500))
    key: Mapped[str] = mapped_column(String(500))  # relative to the target's prefix
    film_slug: Mapped[str | None] = mapped_column(String(80), index=True)  # None: a site-wide page
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(100))  # the server's checksum (composite for multipart)
    content_type: Mapped[str] = mapped_column(String(100))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Publication {self.target} {self.key}>"


class PublishLock(Base):
    """Held while a publish or take-down runs against a target: one at a time."""

    __tablename__ = "publish_locks"

    target: Mapped[str] = mapped_column(String(500), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An account of the web app: a film-maker, staff or an admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)  # the sign-in name
    role: Mapped[str] = mapped_column(String(20))  # film-maker | staff | admin
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<User {self.name} {self.role}>"


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")
