"""Publishing: the launch site as the catalogue says it should be, and nothing else.

``plan`` works out the desired set — every film that passes every gate at the
moment of the run, with its current cut's derivatives and approved captions,
the pages and the manifest — and compares it with what the target holds (the
recorded publications, checked against one listing of the target). ``apply``
then uploads in an order that never leaves a page pointing at a missing
object: content-hashed files first, film pages next, the gallery, the
manifest last; deletions only after the pages stop referring to them.

Each object is recorded as published only after the server accepted it with
its checksum, so a run killed at any point, or a server that goes away, leaves
records that are true; the next run converges. One publish or take-down per
target runs at a time (a lock row in the catalogue).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session, selectinload

from medialib import holders
from medialib.catalog import audit, gates
from medialib.catalog.db import utcnow
from medialib.catalog.models import CaptionTrack, Film, Publication, PublishLock
from medialib.errors import BadInput, CheckFailed, MedialibError
from medialib.publish import site as site_mod
from medialib.publish.targets import (FolderTarget, Item, S3Options, S3Target, hex_to_b64, open_target,
                                      parse_target)  # fmt: skip

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=60, must-revalidate"
MANIFEST = "films.json"
INDEX = "index.html"
PUBLISHED_KINDS = ("proxy", "poster", "storyboard", "storyboard-vtt")
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                 ".vtt": "text/vtt; charset=utf-8", ".html": "text/html; charset=utf-8",
                 ".json": "application/json"}  # fmt: skip
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg", "gd": "Gàidhlig", "ga": "Gaeilge", "fr": "Français",
                  "de": "Deutsch", "es": "Español", "it": "Italiano", "pl": "Polski", "pt": "Português",
                  "ar": "العربية", "ur": "اردو", "pa": "ਪੰਜਾਬੀ", "bn": "বাংলা", "zh": "中文", "so": "Soomaali",
                  "ro": "Română", "uk": "Українська", "nl": "Nederlands", "sv": "Svenska"}  # fmt: skip


class PublishBusy(MedialibError):
    """Another publish or take-down holds the target's lock."""

    exit_code = 1


# --- the desired set -------------------------------------------------------------------


@dataclass
class FilmSet:
    """One film as it will be published: its manifest entry and its objects."""

    slug: str
    entry: dict[str, Any]
    items: list[Item]
    transcripts: list[dict[str, Any]]


@dataclass
class Plan:
    target: str
    at: datetime
    films: list[FilmSet]
    excluded: dict[str, list[str]]  # slug -> the unmet gates, why it is not published
    uploads: list[Item] = field(default_factory=list)  # content-hashed files, then pages, then the manifest
    unchanged: list[Item] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)  # recorded, but gone from the target
    adopt: list[Item] = field(default_factory=list)  # on the target with the right checksum, not yet recorded

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "at": _iso(self.at),
            "films": [f.slug for f in self.films],
            "excluded": [{"slug": s, "reasons": r} for s, r in sorted(self.excluded.items())],
            "uploads": [{"key": i.key, "size": i.size, "film": i.film} for i in self.uploads],
            "unchanged": len(self.unchanged),
            "deletes": list(self.deletes),
            "upload_bytes": sum(i.size for i in self.uploads),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def _hashed_name(stem: str, sha256: str, suffix: str) -> str:
    return f"{stem}.{sha256[:8]}{suffix}"


def _page_item(key: str, data: bytes, film: str | None) -> Item:
    return Item(key, _content_type(key), SHORT, hashlib.sha256(data).hexdigest(), len(data), data=data, film=film)


def site_settings(config: Any) -> dict[str, Any]:
    base = config["publish.base_url"].strip()
    return {"title": config["publish.site_title"], "language": config["publish.site_language"],
            "base_url": (base.rstrip("/") + "/") if base else None,
            "description": config["publish.site_description"]}  # fmt: skip


def _film_set(session: Session, lib: Any, film: Film, facts: gates.FilmFacts, first_published: dict[str, datetime],
              at: datetime, jobs: list[Any], tracks: list[CaptionTrack]) -> FilmSet:  # fmt: skip
    from medialib.jobs import derived

    slug = film.slug
    files = [f for f in derived.files_view(session, lib, film, jobs) if f["kind"] in PUBLISHED_KINDS]
    items: list[Item] = []
    published: dict[str, str] = {}  # derivative file name -> published key

    def add(f: dict[str, Any]) -> str:
        p = PurePosixPath(f["name"])
        stem = p.stem if p.stem.startswith(f["recipe"]) else f"{f['recipe']}.{p.stem}"
        key = f"{slug}/{_hashed_name(stem, f['sha256'], p.suffix)}"
        items.append(Item(key, _content_type(f["name"]), IMMUTABLE, f["sha256"], f["size"],
                          path=lib.store.local_path(f["storage_key"]), film=slug,
                          source_key=f["storage_key"]))  # fmt: skip
        published[f["name"]] = key
        return key

    sources = [{"key": add(f), "type": "video/mp4", "width": f["width"], "height": f["height"],
                "label": f"{f['height']}p"} for f in files if f["kind"] == "proxy"]  # fmt: skip
    sources.sort(key=lambda s: -(s["height"] or 0))
    posters = [{"key": add(f), "width": f["width"], "height": f["height"], "type": f["mime"]}
               for f in files if f["kind"] == "poster"]  # fmt: skip
    posters.sort(key=lambda p: (-(p["width"] or 0), p["type"]))
    for f in files:
        if f["kind"] == "storyboard":
            add(f)
    storyboard = None
    for f in files:
        if f["kind"] == "storyboard-vtt":
            # The cues name the sprite sheets: point them at the published (hashed) names.
            from medialib.media.storyboard import repoint

            names = {sheet: PurePosixPath(key).name for sheet, key in published.items()}
            data = repoint(lib.store.read_bytes(f["storage_key"]).decode("utf-8"), names).encode("utf-8")
            sha = hashlib.sha256(data).hexdigest()
            storyboard = f"{slug}/{_hashed_name('storyboard', sha, '.vtt')}"
            items.append(Item(storyboard, CONTENT_TYPES[".vtt"], IMMUTABLE, sha, len(data), data=data, film=slug))

    captions, transcripts = [], []
    approved = dict(facts.caption_tracks)  # "lang/kind" -> approved sha256
    for track in tracks:
        sha = approved.get(f"{track.language}/{track.kind}")
        if not sha or track.kind not in ("captions", "subtitles"):
            continue
        data = (lib.config.captions_dir / track.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise CheckFailed(f"captions/{track.path}: changed since it was approved; not published "
                              "(approve it again)")  # fmt: skip
        stem = "captions" if track.kind == "captions" else "subtitles"
        key = f"{slug}/{_hashed_name(f'{stem}.{track.language}', sha, '.vtt')}"
        items.append(Item(key, CONTENT_TYPES[".vtt"], IMMUTABLE, sha, len(data), data=data, film=slug))
        label = LANGUAGE_NAMES.get(track.language.split("-")[0].lower(), track.language)
        captions.append({"key": key, "language": track.language, "kind": track.kind, "label": label})
        if all(t["language"] != track.language for t in transcripts):  # one transcript per language
            transcripts.append(site_mod.transcript(data.decode("utf-8-sig"), track.language, label))

    cut = film.current_cut
    entry = {
        "slug": slug, "title": film.title, "summary": film.summary, "location": film.location or None,
        "themes": list(film.themes or []), "languages": list(film.languages or []),
        "credits": list(film.credits or []), "licence": film.licence or None,
        "publish_at": _iso(film.publish_at) if film.publish_at else None,
        "published_at": _iso(first_published.get(slug, at)),
        "duration": round(cut.duration, 3), "width": sources[0]["width"] if sources else None,
        "height": sources[0]["height"] if sources else None, "page": f"{slug}/{INDEX}",
        "posters": posters, "sources": sources, "captions": captions, "storyboard": storyboard,
    }  # fmt: skip
    return FilmSet(slug, entry, items, transcripts)


def _manifest(site: dict[str, Any], films: list[dict[str, Any]], items: list[Item]) -> bytes:
    files = [{"key": i.key, "size": i.size, "sha256": i.sha256, "content_type": i.content_type, "film": i.film}
             for i in sorted(items, key=lambda i: i.key)]  # fmt: skip
    doc = {"format": "medialib-site/1", "site": site, "films": films, "files": files}
    # Compact: json's C encoder (indenting falls back to the pure-Python one, 10x slower on 1,000 files).
    return (json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def pages(site: dict[str, Any], films: list[FilmSet]) -> list[Item]:
    """The film pages, the gallery and the manifest, in the order they must be written."""
    out = [_page_item(f"{f.slug}/{INDEX}", site_mod.render_film(site, f.entry, f.transcripts), f.slug)
           for f in films]  # fmt: skip
    entries = [f.entry for f in films]
    out.append(_page_item(INDEX, site_mod.render_index(site, entries), None))
    content = [i for f in films for i in f.items] + out
    out.append(_page_item(MANIFEST, _manifest(site, entries, content), None))
    return out


def make_plan(session: Session, lib: Any, target: Any, at: datetime, listing: dict[str, int] | None = None,
              *, clean_up: bool = False) -> Plan:  # fmt: skip
    """The plan for ``target`` at ``at``. ``clean_up``: first abort what a killed run left there."""
    from medialib.consent import review

    policy = review.policy(lib.config)

    def look() -> dict[str, int]:
        if clean_up:
            target.cleanup()
        return target.list()

    # The listing (a network round trip, and boto3's start-up) runs while the catalogue is read.
    lister = ThreadPoolExecutor(1, thread_name_prefix="publish-list") if listing is None else None
    listed = lister.submit(look) if lister is not None else None
    try:
        return _plan(session, lib, target, at, policy, listing if listed is None else None, listed)
    finally:
        if lister is not None:
            lister.shutdown(wait=True)


def _plan(session: Session, lib: Any, target: Any, at: datetime, policy: Any, listing: dict[str, int] | None,
          listed: Future[dict[str, int]] | None) -> Plan:  # fmt: skip
    from medialib.consent import review

    spec = target.spec
    recorded = {p.key: p for p in session.scalars(select(Publication).where(Publication.target == spec.url))}
    first = {p.film_slug: p.published_at for p in recorded.values() if p.key == f"{p.film_slug}/{INDEX}"}
    films, excluded = [], {}
    catalogue = list(session.scalars(select(Film).options(selectinload(Film.cuts)).order_by(Film.slug)))
    pre = review.prefetch(session, catalogue)  # every gate is still judged on disk (check_files)
    for film in catalogue:
        facts = review.film_facts(session, lib, film, pre)
        results = gates.evaluate(facts, at, policy)
        if not gates.publishable(results):
            excluded[film.slug] = [f"{r.gate}: {' / '.join(r.reasons)}" for r in results if not r.ok]
            continue
        jobs = pre.jobs.get(film.current_cut.sha256, []) if film.current_cut else []
        films.append(_film_set(session, lib, film, facts, first, at, jobs, pre.tracks.get(film.id, [])))
    films.sort(key=lambda f: (f.entry["title"].casefold(), f.slug))
    site = site_settings(lib.config)
    content = [i for f in films for i in f.items]
    wanted = content + pages(site, films)
    listing = listed.result() if listed is not None else (listing or {})
    plan = Plan(spec.url, at, films, excluded)
    for item in wanted:
        rec = recorded.get(item.key)
        if listing.get(item.key) == item.size and rec is not None and rec.sha256 == item.sha256:
            plan.unchanged.append(item)
        elif listing.get(item.key) == item.size and _server_has(target, item):
            plan.unchanged.append(item)  # landed before a run was killed, never recorded: adopt it
            plan.adopt.append(item)
        else:
            plan.uploads.append(item)
    keys = {i.key for i in wanted}
    plan.deletes = sorted(k for k in listing if k not in keys)
    plan.forget = sorted(k for k in recorded if k not in listing and k not in keys)
    return plan


def _server_has(target: Any, item: Item) -> bool:
    """Whether the target holds exactly ``item`` by its own checksum (one HEAD; only for unrecorded objects)."""
    state = target.stat(item.key)
    return bool(state and state.size == item.size and state.checksum == hex_to_b64(item.sha256))


# --- the lock ---------------------------------------------------------------------------


class Lock:
    def __init__(self, lib: Any, target: str) -> None:
        self.lib, self.target, self.holder = lib, target, holders.me()
        self._beat = time.monotonic()

    def acquire(self) -> None:
        stale = timedelta(seconds=self.lib.config["publish.lock_stale"])
        try:
            with self.lib.transaction() as s:
                row = s.get(PublishLock, self.target, with_for_update=True)
                now = utcnow()
                if row is None:
                    s.add(PublishLock(target=self.target, holder=self.holder, acquired_at=now, heartbeat_at=now))
                elif row.holder == self.holder or not holders.alive(row.holder) or now - row.heartbeat_at > stale:
                    row.holder, row.acquired_at, row.heartbeat_at = self.holder, now, now
                else:
                    raise PublishBusy(f"another publish to {self.target} is running ({row.holder}, since "
                                      f"{_iso(row.acquired_at)}); try again when it has finished")  # fmt: skip
        except DBIntegrityError:
            raise PublishBusy(f"another publish to {self.target} started at the same moment; try again") from None

    def beat(self) -> None:
        if time.monotonic() - self._beat < 30:
            return
        self._beat = time.monotonic()
        with self.lib.transaction() as s:
            row = s.get(PublishLock, self.target)
            if row is not None and row.holder == self.holder:
                row.heartbeat_at = utcnow()

    def release(self) -> None:
        with self.lib.transaction() as s:
            s.execute(delete(PublishLock).where(PublishLock.target == self.target,
                                                PublishLock.holder == self.holder))  # fmt: skip


@contextmanager
def locked(lib: Any, target: str) -> Iterator[Lock]:
    lock = Lock(lib, target)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


# --- applying a plan ------------------------------------------------------------------------


@dataclass
class Outcome:
    plan: Plan
    uploaded: int = 0
    uploaded_bytes: int = 0
    deleted: int = 0
    seconds: float = 0.0
    urls: dict[str, str] = field(default_factory=dict)  # slug -> public URL of the film page
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.as_dict(), "dry_run": self.dry_run, "uploaded": self.uploaded,
                "uploaded_bytes": self.uploaded_bytes, "deleted": self.deleted, "seconds": round(self.seconds, 3),
                "urls": self.urls}  # fmt: skip


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def _record(lib: Any, target: str, done: list[tuple[Item, str | None]], at: datetime) -> None:
    if not done:
        return
    with lib.transaction() as s:
        rows = {p.key: p for p in s.scalars(select(Publication).where(
            Publication.target == target, Publication.key.in_([i.key for i, _ in done])))}  # fmt: skip
        for item, checksum in done:
            row = rows.get(item.key)
            if row is None:
                s.add(Publication(target=target, key=item.key, film_slug=item.film, sha256=item.sha256,
                                  size=item.size, checksum=checksum, content_type=item.content_type,
                                  published_at=at))  # fmt: skip
            else:
                row.sha256, row.size, row.checksum = item.sha256, item.size, checksum
                row.content_type, row.film_slug = item.content_type, item.film
    done.clear()


def _upload_all(lib: Any, target: Any, items: list[Item], pool: ThreadPoolExecutor, lock: Lock,
                progress: Progress | None, phase: str, at: datetime) -> int:  # fmt: skip
    """Upload ``items``; record each as it lands; on the first failure stop and raise it."""
    spec = target.spec.url
    done: list[tuple[Item, str | None]] = []
    total, finished, nbytes = len(items), 0, 0
    part_size = getattr(getattr(target, "options", None), "part_size", None)
    small: list[Item] = []
    large: list[Item] = []
    for item in items:
        (small if part_size is None or item.data is not None or item.size <= part_size else large).append(item)
    failure: BaseException | None = None
    pending: dict[Future[str | None], Item] = {}
    queue = iter(small)
    limit = max(1, getattr(getattr(target, "options", None), "threads", 4))

    def fill() -> None:
        while failure is None and len(pending) < limit * 2:
            item = next(queue, None)
            if item is None:
                return
            pending[pool.submit(target.put, item)] = item

    def landed(item: Item, checksum: str | None) -> None:
        nonlocal finished, nbytes
        done.append((item, checksum))
        finished += 1
        nbytes += item.size
        if len(done) >= 200:
            _record(lib, spec, done, at)
        if progress:
            progress(phase, finished, total)
        lock.beat()

    try:
        fill()
        while pending:
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in ready:
                item = pending.pop(fut)
                try:
                    landed(item, fut.result())
                except BaseException as exc:  # noqa: BLE001 - the first failure is re-raised below
                    failure = failure or exc
            fill()
        if failure is None:
            for item in large:
                landed(item, target.put(item, pool) if isinstance(target, S3Target) else target.put(item))
    finally:
        _record(lib, spec, done, at)
    if failure is not None:
        raise failure
    return nbytes


def apply(lib: Any, target: Any, at: datetime, *, dry_run: bool = False, progress: Progress | None = None,
          actor: str | None = None) -> Outcome:  # fmt: skip
    started = time.monotonic()
    if dry_run:
        with lib.session() as s:
            plan = make_plan(s, lib, target, at)
        return Outcome(plan, dry_run=True, seconds=time.monotonic() - started,
                       urls={f.slug: target.public_url(f.entry["page"]) for f in plan.films})  # fmt: skip
    spec = target.spec.url
    with locked(lib, spec) as lock:
        with lib.session() as s:
            plan = make_plan(s, lib, target, at, clean_up=True)
        outcome = Outcome(plan)
        _record(lib, spec, [(i, hex_to_b64(i.sha256)) for i in plan.adopt], at)
        page_keys = _page_keys(plan)
        content = [i for i in plan.uploads if i.key not in page_keys]
        page_items = [i for i in plan.uploads if i.key in page_keys]
        threads = max(1, lib.config["publish.threads"])
        with ExitStack() as fetched, ThreadPoolExecutor(threads, thread_name_prefix="publish") as pool:
            content = [_local(lib.store, i, fetched) for i in content]
            outcome.uploaded_bytes += _upload_all(lib, target, content, pool, lock, progress, "files", at)
            film_pages = [i for i in page_items if i.key not in (INDEX, MANIFEST)]
            outcome.uploaded_bytes += _upload_all(lib, target, film_pages, pool, lock, progress, "pages", at)
        for key in (INDEX, MANIFEST):  # the gallery, then the manifest: last
            for item in page_items:
                if item.key == key:
                    _record(lib, spec, [(item, target.put(item))], at)
                    outcome.uploaded_bytes += item.size
        outcome.uploaded = len(plan.uploads)
        if plan.deletes:
            target.delete(plan.deletes)
        gone = set(plan.deletes) | set(plan.forget)
        with lib.transaction() as s:
            if gone:
                s.execute(delete(Publication).where(Publication.target == spec, Publication.key.in_(sorted(gone))))
            if plan.uploads or plan.deletes:  # a run that changed nothing is not an event
                audit.record(s, actor or lib.actor, "publish", f"target:{spec}",
                             films=[f.slug for f in plan.films], uploaded=len(plan.uploads),
                             unchanged=len(plan.unchanged), deleted=len(plan.deletes),
                             excluded=sorted(plan.excluded))  # fmt: skip
        outcome.deleted = len(plan.deletes)
    outcome.urls = {f.slug: target.public_url(f.entry["page"]) for f in plan.films}
    outcome.seconds = time.monotonic() - started
    return outcome


def _local(store: Any, item: Item, fetched: ExitStack) -> Item:
    """The item with a local file to upload from: an S3 asset store's object is fetched into
    the scratch folder (removed when ``fetched`` closes)."""
    if item.path is not None or item.source_key is None:
        return item
    return replace(item, path=fetched.enter_context(store.local_file(item.source_key)))


def _page_keys(plan: Plan) -> set[str]:
    return {INDEX, MANIFEST} | {f"{f.slug}/{INDEX}" for f in plan.films}


# --- take-down ---------------------------------------------------------------------------------


def takedown(lib: Any, target: Any, slug: str, reason: str, actor: str | None = None) -> dict[str, Any]:
    """Remove one film from the published site at once, and keep it off until it is approved again."""
    from medialib.catalog.films import get_film

    at = parse_at(None)
    spec = target.spec.url
    with lib.session() as s:
        get_film(s, slug)  # NotFound for an unknown film
    with locked(lib, spec):
        target.cleanup()
        raw = target.read(MANIFEST)
        listing = target.list(f"{slug}/")
        removed_pages: list[Item] = []
        if raw is not None:
            try:
                manifest = json.loads(raw)
                films = [f for f in manifest["films"] if f["slug"] != slug]
                kept = [f for f in manifest["files"] if f.get("film") != slug and f["key"] != INDEX]
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckFailed(f"{spec}{MANIFEST}: not a medialib manifest ({exc}); run `medialib publish`") from None
            site = site_settings(lib.config)
            index = _page_item(INDEX, site_mod.render_index(site, films), None)
            items = [Item(f["key"], f["content_type"], IMMUTABLE, f["sha256"], f["size"], data=b"", film=f["film"])
                     for f in kept] + [index]  # fmt: skip
            doc = _page_item(MANIFEST, _manifest(site, films, items), None)
            for item in (index, doc):
                _record(lib, spec, [(item, target.put(item))], at)
                removed_pages.append(item)
        keys = sorted(k for k in listing if k.startswith(f"{slug}/"))
        if keys:
            target.delete(keys)
        with lib.transaction() as s:
            film = get_film(s, slug, for_update=True)
            film.taken_down_at = utcnow()
            film.taken_down_reason = reason or None
            s.execute(delete(Publication).where(Publication.target == spec, Publication.film_slug == slug))
            audit.record(s, actor or lib.actor, "takedown", f"film:{slug}", target=spec, deleted=len(keys),
                         reason=reason)  # fmt: skip
    return {"film": slug, "target": spec, "deleted": len(keys), "pages_rewritten": len(removed_pages)}


# --- verification ------------------------------------------------------------------------------


def verify(lib: Any, target: Any, progress: Progress | None = None) -> dict[str, Any]:
    """Check every object the manifest names: present, the right size and SHA-256."""
    spec = target.spec.url
    raw = target.read(MANIFEST)
    if raw is None:
        return {"target": spec, "ok": False, "checked": 0, "missing": [MANIFEST], "different": [],
                "unexpected": sorted(target.list()), "downloaded": 0}  # fmt: skip
    try:
        files = json.loads(raw)["files"]
        expected = {f["key"]: (int(f["size"]), str(f["sha256"])) for f in files}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(f"{spec}{MANIFEST}: not a medialib manifest ({exc})") from None
    with lib.session() as s:
        recorded = {p.key: p.checksum for p in s.scalars(select(Publication).where(Publication.target == spec))}
    listing = target.list()
    missing, different, downloaded = [], [], 0

    def check(key: str) -> tuple[str, str | None, bool]:
        size, sha = expected[key]
        if key not in listing:
            return key, "missing", False
        if listing[key] != size:
            return key, f"size {listing[key]}, expected {size}", False
        state = target.stat(key)
        if state is None:
            return key, "missing", False
        if state.checksum and "-" not in state.checksum:
            from medialib.publish.targets import b64_to_hex

            return key, (None if b64_to_hex(state.checksum) == sha else "sha256 differs"), False
        if state.checksum and recorded.get(key) == state.checksum:
            return key, None, False  # a multipart object: the server's composite matches what was sent
        got = target.digest(key)  # no usable checksum: download and hash
        if got is None:
            return key, "missing", True
        return key, (None if got == (size, sha) else "sha256 differs"), True

    threads = max(1, min(16, lib.config["publish.threads"]))
    with ThreadPoolExecutor(threads) as pool:
        for n, (key, problem, fetched) in enumerate(pool.map(check, sorted(expected)), 1):
            downloaded += fetched
            if problem == "missing":
                missing.append(key)
            elif problem:
                different.append({"key": key, "problem": problem})
            if progress:
                progress("verify", n, len(expected))
    unexpected = sorted(k for k in listing if k not in expected and k != MANIFEST)
    damaged = missing + [d["key"] for d in different]
    if damaged:  # forget them: the next publish sends them again
        with lib.transaction() as s:
            s.execute(delete(Publication).where(Publication.target == spec, Publication.key.in_(damaged)))
    ok = not (missing or different or unexpected)
    return {"target": spec, "ok": ok, "checked": len(expected), "missing": missing, "different": different,
            "unexpected": unexpected, "downloaded": downloaded}  # fmt: skip


# --- opening a target from settings -----------------------------------------------------------


def target_for(config: Any, url: str | None = None) -> FolderTarget | S3Target:
    chosen = url or config["publish.target"]
    if url and "://" not in url:
        chosen = Path(url).resolve().as_uri()  # a plain folder path on the command line
    parse_target(chosen)
    from medialib.config import check_storage

    check_storage(config.values, chosen)  # a --target inside the asset store is refused too
    base = config["publish.base_url"].strip() or None
    options = S3Options(endpoint_url=config["publish.endpoint_url"] or None, region=config["publish.region"] or None,
                        path_style=config["publish.path_style"], threads=max(1, config["publish.threads"]),
                        part_size=max(5, config["publish.part_mib"]) << 20, retries=config["publish.retries"],
                        base_url=base)  # fmt: skip
    return open_target(chosen, options)


def parse_at(value: str | datetime | None) -> datetime:
    from medialib.catalog import validate

    if value is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise BadInput("--at: give a time zone (e.g. 2027-03-01T09:00:00Z)")
        return value
    return validate.timestamp(value, "--at")
