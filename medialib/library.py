"""The Python API: one object per library, offering what the CLI offers.

    from medialib import Library
    lib = Library.open("path/to/config.toml")
    lib.add_film("hope-street", title="Hope Street")
    result = lib.add_cut("hope-street", "final.mov", label="final")

Each method runs in its own transaction and returns plain data (dicts and
lists, the same shapes as the CLI's ``--json``). For several changes in one
transaction, use the service functions with ``lib.session()``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from medialib import config as config_mod
from medialib.catalog import audit, db, queries, validate, views
from medialib.catalog.films import FilmChanges, add_film, edit_film, get_film
from medialib.errors import AlreadyExists, BadInput, NotFound
from medialib.media.ffmpeg import FFmpeg
from medialib.storage import Progress, Store, open_store

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from medialib.ingest.fixity import FixityReport

ASSETS_README = """\
This folder holds the library's media. medialib manages it: do not edit by hand.

originals/ab/cd/<sha256>.<ext>   uploaded cuts, content-addressed, never modified
derived/<sha256>/<recipe>/       posters, storyboards, proxies (rebuilt on demand)
private/consent/                 signed consent forms: personal data, never published
tmp/                             files being written; removed if their writer died
"""

CAPTIONS_README = """\
Reviewed caption files, one folder per film: <film-slug>/<lang>.vtt (UTF-8 WebVTT).
"""


@dataclass(frozen=True)
class CutResult:
    """What ``add_cut`` did: the cut, and whether it was already there."""

    cut: dict[str, Any]
    duplicate: bool
    stored_new_file: bool

    def as_dict(self) -> dict[str, Any]:
        return {**self.cut, "duplicate": self.duplicate}


class Library:
    """A medialib library: its settings, catalogue, asset store and tools."""

    def __init__(self, cfg: config_mod.Config, engine: Engine | None = None) -> None:
        self.config = cfg
        self.engine = engine or db.make_engine(cfg.database_url, cfg["database_busy_timeout"])
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(db.writer(self.engine), expire_on_commit=False)
        self.store: Store = open_store(cfg)
        self.ffmpeg = FFmpeg.from_config(cfg)
        self.qc_memo: dict[Any, Any] = {}  # jobs.derived.qc_errors: shared with acting_as copies

    # --- opening and creating -------------------------------------------

    @classmethod
    def open(
        cls,
        config_path: str | os.PathLike[str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        migrate: bool = True,
    ) -> "Library":
        """Open the library described by ``config_path`` (or ./config.toml,
        or MEDIALIB_CONFIG). Pending schema migrations run automatically.

        Raises ConfigError, or BadInput when there is no library here.
        """
        env = os.environ if env is None else env
        cfg = config_mod.load(config_path, overrides=overrides, env=env)
        explicit_db = (overrides or {}).get("database") or env.get("MEDIALIB_DATABASE")
        if cfg.path is None and not explicit_db:
            raise BadInput(
                f"no medialib library here: no {config_mod.CONFIG_NAME} in {Path.cwd()} "
                "(run `medialib init`, or pass --config PATH)"
            )
        lib = cls(cfg)
        if migrate:
            db.ensure_schema(lib.engine)
        return lib

    @classmethod
    def init(
        cls,
        directory: str | os.PathLike[str] = ".",
        *,
        actor: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> "Library":
        """Create a new library in ``directory``: config.toml, assets/, captions/
        and the catalogue — medialib.db there, or the database MEDIALIB_DATABASE
        names (as every other command would use). Raises AlreadyExists if one is
        there already."""
        env = os.environ if env is None else env
        root = Path(directory).resolve()
        if root.exists() and not root.is_dir():
            raise BadInput(f"{directory}: exists and is not a directory")
        cfg_file = root / config_mod.CONFIG_NAME
        if cfg_file.exists():
            raise AlreadyExists(f"{cfg_file}: a library already exists here (refusing to overwrite it)")
        db_file = root / "medialib.db"
        if db_file.exists():
            raise AlreadyExists(f"{db_file}: a catalogue already exists here (refusing to overwrite it)")
        root.mkdir(parents=True, exist_ok=True)
        for sub, readme in (("assets", ASSETS_README), ("captions", CAPTIONS_README)):
            (root / sub).mkdir(exist_ok=True)
            if not (root / sub / "README.md").exists():
                (root / sub / "README.md").write_text(readme, encoding="utf-8")
        tmp = cfg_file.with_name(f".{cfg_file.name}.tmp")
        tmp.write_text(config_mod.render_template(), encoding="utf-8")
        os.replace(tmp, cfg_file)
        database = env.get("MEDIALIB_DATABASE")
        lib = cls.open(cfg_file, env={"MEDIALIB_DATABASE": database} if database else {})
        with lib.transaction() as s:
            audit.record(s, actor or lib.config.user, "library.init", f"library:{root}")
        return lib

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sessions ---------------------------------------------------------

    def session(self) -> Session:
        """A session for reading; the caller begins and ends transactions."""
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction, committed on success, rolled back on error.

        On SQLite it takes the write lock at once (BEGIN IMMEDIATE)."""
        with self._writers() as session, session.begin():
            yield session

    @property
    def actor(self) -> str:
        """Who the audit log names for changes made through this object."""
        return getattr(self, "_acting_as", None) or self.config.user

    def acting_as(self, name: str) -> "Library":
        """The same library (engine, store, settings), with changes recorded as made by ``name``
        (the web app: the signed-in person)."""
        import copy

        other = copy.copy(self)
        other._acting_as = name
        return other

    # --- films --------------------------------------------------------------

    def add_film(self, slug: str, title: str, **fields: Any) -> dict[str, Any]:
        """Register a film. Fields: summary, location, licence, themes,
        languages, credits, publish_at (datetime or ISO 8601 text)."""
        changes = _changes(title=title, **fields)
        with self.transaction() as s:
            return views.film_view(add_film(s, self.actor, slug, changes))

    def edit_film(self, slug: str, **fields: Any) -> dict[str, Any]:
        """Change a film's metadata; ``current_cut=N`` pins cut N, ``None`` unpins."""
        with self.transaction() as s:
            return views.film_view(edit_film(s, self.actor, slug, _changes(**fields)))

    def film(self, slug: str) -> dict[str, Any]:
        """One film with its cuts and the derivatives of its current cut."""
        from medialib.jobs import derived

        with self.session() as s:
            film = get_film(s, slug)
            data = views.film_view(film)
            data["derivatives"] = derived.files_view(s, self, film)
            return data

    def films(self) -> list[dict[str, Any]]:
        with self.session() as s:
            return [views.film_summary(row) for row in s.execute(queries.film_summaries())]

    def cuts(self, slug: str) -> list[dict[str, Any]]:
        return self.film(slug)["cuts"]

    def audit(self, subject_prefix: str = "") -> list[dict[str, Any]]:
        """Audit events whose subject starts with ``subject_prefix``, oldest first."""
        with self.session() as s:
            return [views.audit_view(e) for e in s.scalars(queries.audit_for(subject_prefix))]

    def film_audit(self, slug: str) -> list[dict[str, Any]]:
        """A film's audit trail: its own events, its cuts', and consent events about people in it."""
        with self.session() as s:
            get_film(s, slug)
            events = []
            for event in s.scalars(queries.audit_for_film(slug)):
                if (event.subject == f"film:{slug}" or event.subject.startswith(f"cut:{slug}#")
                        or slug in (event.details or {}).get("films", [])):  # fmt: skip
                    events.append(views.audit_view(event))
            return events

    # --- cuts ----------------------------------------------------------------

    def add_cut(
        self,
        slug: str,
        path: str | os.PathLike[str],
        *,
        label: str = "",
        on_start: Callable[[int], None] | None = None,
        on_progress: Progress | None = None,
    ) -> CutResult:
        """Probe, store and record one upload as the film's newest cut.

        ``on_start(total_bytes)`` is called before copying, ``on_progress(n)``
        as bytes are copied. Raises NotFound for an unknown film, MediaError
        for a file that is not a playable video, BadInput for other bad input.
        An identical file already recorded for the film is reported as a
        duplicate and changes nothing.
        """
        from medialib.ingest import stages

        shown = os.fspath(path)
        with self.session() as s:
            get_film(s, slug)  # fail fast on an unknown film, before any work
        source = stages.check_source(path)
        self.store.sweep_temporary()
        if on_start is not None:
            on_start(source.stat.st_size)
        probed, stored = stages.probe_and_store(self.ffmpeg, self.store, source, shown, on_progress)
        with self.transaction() as s:
            cut, duplicate = stages.record_cut(s, self.actor, slug, probed, stored, label)
            data = views.cut_view(cut)
            data["film"] = slug
        return CutResult(cut=data, duplicate=duplicate, stored_new_file=stored.created)

    # --- derivatives and QC -------------------------------------------------

    def process(
        self,
        slugs: Sequence[str] = (),
        *,
        jobs: int = 0,
        retry_failed: bool = False,
        on_event: Callable[[Any], None] | None = None,
    ) -> Any:
        """Build the missing derivatives of the given films' cuts (every film if
        none); see medialib.jobs.process. Returns a Report.

        With ``jobs.backend = "procrastinate"`` (PostgreSQL only, ConfigError
        otherwise) the steps are queued for `medialib worker` instead, and a
        medialib.jobs.queue.QueueReport is returned."""
        from medialib.jobs.backend import uses_queue

        if uses_queue(self.config):
            from medialib.jobs.queue import enqueue

            return enqueue(self, slugs, retry_failed=retry_failed)
        from medialib.jobs.process import process

        return process(self, slugs, jobs=jobs, retry_failed=retry_failed, on_event=on_event)

    def derivatives(self, slug: str) -> list[dict[str, Any]]:
        """The files derived from the film's current cut under the current recipes."""
        from medialib.jobs import derived

        with self.session() as s:
            film = get_film(s, slug)
            return derived.files_view(s, self, film)

    def qc(self, slug: str) -> dict[str, Any]:
        """The technical QC report of the film's current cut: measurements and findings."""
        from medialib.jobs import derived

        with self.session() as s:
            film = get_film(s, slug)
            return derived.qc_report(s, self, film)

    # --- people, consent, review ------------------------------------------

    def consent_policy(self) -> Any:
        from medialib.consent.records import ConsentPolicy

        return ConsentPolicy(
            scopes=tuple(self.config["consent.scopes"]),
            minor_age=self.config["consent.minor_age"],
            max_form_bytes=self.config["consent.max_form_mb"] * 1_000_000,
        )

    def add_person(self, name: str, *, born: str | None = None, contact: str | None = None) -> dict[str, Any]:
        from medialib.consent import records

        born_on = records.parse_date(born, "--born") if born else None
        with self.transaction() as s:
            return views.person_view(records.add_person(s, self.actor, name, born_on, contact))

    def people(self) -> list[dict[str, Any]]:
        from medialib.catalog.models import Person

        with self.session() as s:
            return [views.person_view(p) for p in s.scalars(select(Person).order_by(Person.id))]

    def person(self, person_id: int) -> dict[str, Any]:
        from medialib.consent import records

        with self.session() as s:
            person = records.get_person(s, person_id)
            data = views.person_view(person)
            data["consents"] = [views.consent_view(c) for c in person.consents]
            data["films"] = records.films_of(s, person_id)
            return data

    def add_consent(self, person_id: int, *, scopes: Sequence[str], signed: str, form: str | os.PathLike[str],
                    expires: str | None = None, **options: Any) -> dict[str, Any]:  # fmt: skip
        """Record a consent (options: guardian, method, verified_by, wording_version,
        collected_by, notes, supersedes). Pending until verified."""
        from medialib.consent import records

        signed_on = records.parse_date(signed, "--signed")
        expires_on = records.parse_date(expires, "--expires") if expires else None
        created: list[str] = []  # the form, when this call stored it
        try:
            with self.transaction() as s:
                consent = records.add_consent(s, self.actor, self.store, self.consent_policy(), person_id=person_id,
                                              scopes=scopes, signed_on=signed_on, expires_on=expires_on, form=form,
                                              created_forms=created, **options)  # fmt: skip
                return views.consent_view(consent)
        except BaseException:
            # the form is stored before the row that points at it: a record that did not
            # commit must not leave a signed form behind that no erasure could ever find
            try:
                self._remove_forms_no_one_holds(created)
            except Exception as exc:  # noqa: BLE001 - the first error is the one to report
                log.warning("consent form %s was stored but not recorded, and removing it failed: %s",
                            created, exc)  # fmt: skip
            raise

    def verify_consent(self, consent_id: int, by: str) -> dict[str, Any]:
        from medialib.consent import records

        with self.transaction() as s:
            return views.consent_view(records.verify_consent(s, self.actor, consent_id, by))

    def withdraw_consent(self, consent_id: int, reason: str = "") -> tuple[dict[str, Any], bool]:
        """Withdraw; returns (consent, already_withdrawn)."""
        from medialib.consent import records

        with self.transaction() as s:
            consent, already = records.withdraw_consent(s, self.actor, consent_id, reason)
            data = views.consent_view(consent)
            data["films"] = records.films_of(s, consent.person_id)
            return data, already

    def consent_form(self, consent_id: int) -> tuple[str, str]:
        """The stored form of a consent (storage key, mime) — for staff only; read it
        through ``self.store``."""
        from medialib.consent import records

        with self.session() as s:
            consent = records.get_consent(s, consent_id)
            if consent.form_key is None:
                raise NotFound(f"consent {consent_id} has no form on file (the person was erased)")
            return consent.form_key, consent.form_mime

    def consent_report(self, within_days: int = 30, at: datetime | None = None) -> list[dict[str, Any]]:
        from medialib.consent import records

        with self.session() as s:
            return records.expiring(s, at or db.utcnow(), within_days)

    def add_appearance(self, slug: str, person_id: int, *, identifiable: bool = True,
                       ranges: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
        from medialib.consent import records

        with self.transaction() as s:
            return views.appearance_view(records.add_appearance(s, self.actor, slug, person_id, identifiable, ranges))

    def erase_person(self, person_id: int) -> dict[str, Any]:
        """Erase a person's personal data (see consent.records.erase_person)."""
        from medialib.consent import records

        with self.transaction() as s:
            person, forms = records.erase_person(s, self.actor, person_id)
            data = views.person_view(person)
            data["films"] = records.films_of(s, person_id)
        data["forms_removed"] = len(self._remove_forms_no_one_holds(forms))
        return data

    def _remove_forms_no_one_holds(self, keys: Sequence[str]) -> list[str]:
        """Remove the stored consent forms among ``keys`` that no consent record points at
        (a form with the same bytes may also be another person's: a group release)."""
        from medialib.catalog.models import Consent

        if not keys:
            return []
        with self.session() as s:
            held = set(s.scalars(select(Consent.form_key).where(Consent.form_key.in_(set(keys)))))
        removed = sorted(set(keys) - held)
        for key in removed:
            self.store.remove(key)
        return removed

    def review(self, slug: str | None = None, at: datetime | None = None, *, check_files: bool = True) -> Any:
        """The gates of one film (a dict), or of every film (a list). ``check_files=False``
        (every film only) trusts the catalogue that derivative files are in place."""
        from medialib.consent import review

        at = at or db.utcnow()
        with self.session() as s:
            if slug is not None:
                return review.review(s, self, get_film(s, slug), at)
            return review.review_all(s, self, at, check_files)

    def approve(self, slug: str, by: str, at: datetime | None = None) -> dict[str, Any]:
        """Approve the current cut; CheckFailed listing the unmet gates if not allowed."""
        from medialib.consent import review

        with self.transaction() as s:
            film = get_film(s, slug, for_update=True)
            approval = review.approve(s, self, self.actor, film, by, at or db.utcnow())
            return {"film": slug, "cut": film.current_cut.seq, "sha256": approval.cut_sha256, "by": approval.by,
                    "at": views.iso(approval.at)}  # fmt: skip

    # --- captions -----------------------------------------------------------

    def import_captions(self, slug: str, path: str | os.PathLike[str], *, language: str,
                        kind: str = "captions") -> dict[str, Any]:  # fmt: skip
        """Import an SRT, SBV or WebVTT file as the film's track in ``language``."""
        from medialib.captions import tracks

        with self.transaction() as s:
            track, loaded = tracks.import_track(s, self, self.actor, slug, path, language, kind)
            data = views.caption_view(track)
            data.update(cues=len(loaded.parsed.cues), warnings=sum(p.level == "warning" for p in loaded.parsed.problems))
            return data

    def captions(self, slug: str) -> list[dict[str, Any]]:
        """The film's caption tracks, each with whether its approval holds now."""
        from medialib.captions import tracks

        with self.session() as s:
            film = get_film(s, slug)
            cut = film.current_cut
            out = []
            for track in tracks.tracks_of(s, film):
                state = tracks.track_state(self, track, cut.sha256 if cut else None)
                out.append({**views.caption_view(track), "approved": state.approved, "state": state.reason})
            return out

    def check_captions(self, slug: str, language: str, kind: str = "captions") -> dict[str, Any]:
        from medialib.captions import tracks

        with self.session() as s:
            return tracks.check_track(s, self, slug, language, kind)

    def approve_captions(self, slug: str, language: str, by: str, kind: str = "captions") -> dict[str, Any]:
        from medialib.captions import tracks

        with self.transaction() as s:
            return views.caption_view(tracks.approve_track(s, self, self.actor, slug, language, by, kind))

    def check_caption_text(self, slug: str, language: str, text: str) -> dict[str, Any]:
        """The syntax and quality findings of WebVTT text for the film's current cut, without saving it.

        Never refuses text a browser would reject: that is a finding (see tracks.report_text)."""
        from medialib.captions import tracks

        with self.session() as s:
            return tracks.check_edit(s, self, slug, language, text)

    def save_captions(self, slug: str, language: str, text: str, kind: str = "captions",
                      by: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Save edited WebVTT text as the track's new version: a human-edited draft, kept even with
        errors, its approval void. Returns the track with ``changed`` and the ``report`` (findings)."""
        from medialib.captions import tracks

        with self.transaction() as s:
            track, report, changed = tracks.save_text(s, self, self.actor, slug, language, text, kind, by=by)
            return {**views.caption_view(track), "changed": changed, "report": report}

    def draft_captions(self, slug: str, language: str = "en",
                       on_progress: Callable[[float, float | None], None] | None = None) -> dict[str, Any]:  # fmt: skip
        """Draft captions for the current cut by offline speech recognition."""
        from medialib.captions import draft, tracks, webvtt

        language = validate.language(language)
        with self.session() as s:
            film = get_film(s, slug)
            cut = film.current_cut
            if cut is None:
                raise BadInput(f"film {slug!r} has no cut to draft captions from")
            existing = [t for t in tracks.tracks_of(s, film) if t.language == language and t.kind == "captions"]
            if existing and existing[0].origin == "human":
                raise BadInput(f"film {slug!r} already has human captions in {language!r}: a draft never replaces them")
            storage_key, sha256 = cut.storage_key, cut.sha256
        from medialib.jobs.backend import uses_queue

        if uses_queue(self.config):  # a worker recognises the speech; the track is recorded here
            from medialib.jobs import queue

            vtt = queue.draft_captions(self, slug, sha256, storage_key, language)
            cues = webvtt.parse_bytes(vtt.encode("utf-8")).cues
        else:
            with self.store.local_file(storage_key) as source:
                cues = draft.draft_with_settings(self.ffmpeg, source, self.config, language, on_progress)
            vtt = webvtt.serialize(cues)
        with self.transaction() as s:
            track = tracks.record_draft(s, self, self.actor, get_film(s, slug), language, vtt)
            return {**views.caption_view(track), "cues": len(cues)}

    def export_captions(self, slug: str, language: str, fmt: str = "vtt", kind: str = "captions") -> str:
        """The track's text as WebVTT or SRT."""
        from medialib.captions import tracks, webvtt

        with self.session() as s:
            film = get_film(s, slug)
            track = tracks.get_track(s, film, validate.language(language), tracks.check_kind(kind))
            data = (self.config.captions_dir / track.path).read_bytes()
        if fmt == "vtt":
            return data.decode("utf-8")
        parsed = webvtt.parse_bytes(data)
        return tracks.to_srt(parsed.cues)

    def export_captions_hls(self, slug: str, language: str, output: str | os.PathLike[str],
                            kind: str = "captions", seconds: int = 10) -> list[Path]:  # fmt: skip
        """HLS-segmented WebVTT (webvtt-py's segmenter) of the track, for HLS proxies."""
        import tempfile

        import webvtt as webvtt_py

        text = self.export_captions(slug, language, "vtt", kind)
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "captions.vtt"
            source.write_text(text, encoding="utf-8")
            webvtt_py.segment(str(source), str(out), seconds=seconds)
        return sorted(out.iterdir())

    # --- fixity -----------------------------------------------------------

    # --- accounts (the web app) ---------------------------------------------------

    def add_user(self, name: str, role: str, password: str) -> dict[str, Any]:
        """An account for the web app: role film-maker, staff or admin; the password is stored as argon2."""
        from medialib import accounts

        with self.transaction() as s:
            return accounts.add_user(s, self.actor, name, role, password).as_dict()

    def users(self) -> list[dict[str, Any]]:
        from medialib import accounts

        with self.session() as s:
            return accounts.list_users(s)

    def set_user_role(self, name: str, role: str) -> dict[str, Any]:
        from medialib import accounts

        with self.transaction() as s:
            return accounts.set_role(s, self.actor, name, role).as_dict()

    def disable_user(self, name: str) -> dict[str, Any]:
        """Disable an account and end its sessions (the account stays in the audit log)."""
        from medialib import accounts

        with self.transaction() as s:
            return accounts.disable_user(s, self.actor, name).as_dict()

    # --- publishing -------------------------------------------------------------

    def publish(self, target: str | None = None, *, at: str | datetime | None = None, dry_run: bool = False,
                progress: Callable[[str, int, int], None] | None = None) -> Any:  # fmt: skip
        """Bring the launch site at ``target`` (default: setting publish.target) in line with the
        catalogue: every film passing every gate now goes up, anything else comes down.

        Returns an Outcome with ``plan`` (uploads, unchanged, deletes, excluded films and why)
        and the counts. ``at`` previews the site at another moment; it needs ``dry_run``."""
        from medialib.publish import publisher

        if at is not None and not dry_run:
            raise BadInput("--at previews the launch site at another time and needs --dry-run; a publish "
                           "always judges the gates at the moment it runs")  # fmt: skip
        moment = publisher.parse_at(at)
        tgt = publisher.target_for(self.config, target)
        try:
            return publisher.apply(self, tgt, moment, dry_run=dry_run, progress=progress)
        finally:
            tgt.close()

    def verify_published(self, target: str | None = None,
                         progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:  # fmt: skip
        """Check every object the published manifest names (size and SHA-256): missing,
        different and unexpected objects; ``ok`` is False if there is any."""
        from medialib.publish import publisher

        tgt = publisher.target_for(self.config, target)
        try:
            return publisher.verify(self, tgt, progress)
        finally:
            tgt.close()

    def takedown(self, slug: str, target: str | None = None, reason: str = "") -> dict[str, Any]:
        """Remove one film from the published site at once. Its approval is void from now on:
        it goes back up only after staff approve it again."""
        from medialib.catalog import validate
        from medialib.publish import publisher

        reason = validate.text(reason, "--reason", 1000)
        tgt = publisher.target_for(self.config, target)
        try:
            return publisher.takedown(self, tgt, slug, reason)
        finally:
            tgt.close()

    def verify(self, on_start: Callable[[int], None] | None = None, on_progress: Progress | None = None) -> FixityReport:
        """Re-hash every original; see FixityReport for what is reported. With
        ``jobs.backend = "procrastinate"`` the workers re-hash them (one queued check
        per original) and this waits for their outcomes (medialib.jobs.queue.verify)."""
        from medialib.jobs.backend import uses_queue

        if uses_queue(self.config):
            from medialib.jobs import queue

            return queue.verify(self, on_start=on_start, on_progress=on_progress)
        from medialib.ingest.fixity import verify_originals

        with self.session() as s:
            recorded = list(s.execute(queries.stored_originals()))
        if on_start is not None:
            on_start(sum(size for _k, _s, size in recorded))
        return verify_originals(self.store, recorded, on_progress=on_progress)


def _changes(**fields: Any) -> FilmChanges:
    known = set(FilmChanges.__dataclass_fields__)
    unknown = set(fields) - known
    if unknown:
        raise BadInput(f"unknown film field(s): {', '.join(sorted(unknown))}")
    publish_at = fields.get("publish_at")
    if isinstance(publish_at, str):
        fields["publish_at"] = validate.timestamp(publish_at)
    elif isinstance(publish_at, datetime) and publish_at.tzinfo is None:
        raise BadInput("publish_at must carry a time zone")
    return FilmChanges(**fields)
