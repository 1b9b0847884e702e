"""Film-maker pages and the upload API: register a film, upload cuts and captions, follow processing and QC.

Uploads are streamed to disk and never held in memory. The API is
resumable, in the manner of tus but simpler:

    POST   /api/films/{slug}/uploads  {"size": N, "name": "final.mov"}  -> {"id": ..., "offset": 0}
    PUT    /api/uploads/{id}   Upload-Offset: O   <raw bytes>           -> {"offset": O + bytes received}
    GET    /api/uploads/{id}   (or HEAD)                                -> the offset to resume from
    POST   /api/uploads/{id}/finish                                     -> the new cut (Library.add_cut)
    DELETE /api/uploads/{id}                                            -> cancelled, bytes removed

An upload in progress is a folder ``assets/tmp/<pid>-<16 hex>.d/`` holding
``.upload.json`` (film, account, declared size, label) and the received
bytes under the uploaded file's (sanitised) name, so the cut records that
name and error messages can name it; the name is metadata only. The store's
sweep removes such a folder once the server process that made it is gone;
uploads untouched for UPLOAD_TTL are removed when another upload starts.
Bytes received before a connection broke are kept: the client asks for the
offset and sends the rest. ``finish`` refuses an incomplete upload and leaves
it to be resumed; a finished upload (accepted or refused) leaves nothing in
``assets/tmp``.

Without JavaScript the film page's form posts the file as multipart form
data (Starlette spools it to a temporary file, never to memory), and it goes
the same way from there. After a cut is added, processing (derivatives and
QC) starts in one background thread per library (``processor_for(lib)``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from medialib.errors import BadInput, CheckFailed, MedialibError, NotFound
from medialib.web.auth import Viewer, check_csrf, csrf_form, csrf_header, lib_of, require
from medialib.web.pages import film_for

log = logging.getLogger(__name__)

UPLOAD_TTL = 24 * 3600  # seconds an unfinished upload is kept without new bytes
FLUSH = 1 << 20  # small network chunks are gathered up to this size before a write
COPY_CHUNK = 4 << 20  # copying a spooled form upload
RESERVED_SLUGS = ("new",)  # /films/new is the form, not a film
_UPLOAD_ID = re.compile(r"^[0-9a-f]{16}$")
_UNSAFE_NAME = re.compile(r"[^\w.+()\- ]")
_BYTES = re.compile(r"^[0-9]{1,18}$")  # an offset or a length: ASCII digits, below 10^18
MAX_SIZE = 10**15  # a declared size above this (a petabyte) is a mistake
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
META = ".upload.json"


# --- uploads on disk ----------------------------------------------------------


class UploadBusy(CheckFailed):
    """Another request is writing to (or finishing) the same upload."""


class OffsetMismatch(CheckFailed):
    """A chunk sent for an offset other than the bytes received so far."""


@dataclass(frozen=True)
class Upload:
    """One upload in progress: its folder, and what its creator declared."""

    id: str
    folder: Path
    film: str
    account: int
    name: str
    size: int
    label: str

    @property
    def data(self) -> Path:
        return self.folder / self.name

    def offset(self) -> int:
        try:
            return self.data.stat().st_size
        except FileNotFoundError:
            raise _gone(self.id) from None

    def as_dict(self) -> dict[str, Any]:
        offset = self.offset()
        return {"id": self.id, "film": self.film, "name": self.name, "label": self.label, "size": self.size,
                "offset": offset, "complete": offset == self.size}  # fmt: skip


def _gone(upload_id: str) -> NotFound:
    return NotFound(f"unknown upload {upload_id!r} (finished, cancelled or expired)")


def safe_name(name: str) -> str:
    """The uploaded file's name as a harmless file name: no folders, no leading dots, at most 200 bytes."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .").lstrip("-")
    base = base.encode("utf-8")[:200].decode("utf-8", errors="ignore").strip(" .")
    return base if base and base != META else "upload"


def _sweep_stale(tmp_dir: Path, now: float) -> None:
    """Remove upload folders that have received nothing for UPLOAD_TTL (their writer may still be alive)."""
    for meta in tmp_dir.glob(f"*.d/{META}"):
        folder = meta.parent
        try:
            newest = max(p.stat().st_mtime for p in folder.iterdir())
        except (OSError, ValueError):
            continue
        if now - newest > UPLOAD_TTL:
            shutil.rmtree(folder, ignore_errors=True)


def create_upload(lib: Any, slug: str, account: int, name: str, size: int, label: str) -> Upload:
    """A new, empty upload for film ``slug``. Raises BadInput (empty, too large for the disk)."""
    shown = safe_name(name)
    if size == 0:
        raise BadInput(f"{shown}: empty file (0 bytes)")
    if size < 0:
        raise BadInput(f"{shown}: size must not be negative")
    if size > MAX_SIZE:
        raise BadInput(f"{shown}: the declared size is larger than any disk this library could have")
    label = _checked_label(label)
    tmp_dir: Path = lib.store.tmp_dir
    tmp_dir.mkdir(parents=True, exist_ok=True)
    _sweep_stale(tmp_dir, time.time())
    free = shutil.disk_usage(tmp_dir).free
    if 2 * size > free:  # the upload, then its copy in the store
        raise BadInput(f"{shown}: {size / 1e9:.2f} GB will not fit: the library's disk has {free / 1e9:.2f} GB free "
                       "and needs room for the upload and its stored copy")  # fmt: skip
    upload_id = os.urandom(8).hex()
    folder = tmp_dir / f"{os.getpid()}-{upload_id}.d"
    folder.mkdir(mode=0o700)
    meta = {"film": slug, "account": account, "name": shown, "size": size, "label": label}
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")
    (folder / shown).touch(mode=0o600)
    return Upload(upload_id, folder, slug, account, shown, size, label)


def _checked_label(label: str) -> str:
    """The cut's label, checked now as add_cut will check it, so a long upload is not refused at the end."""
    from medialib.catalog import validate

    try:
        label.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("--label: not valid text (a lone surrogate)") from None
    return validate.text(label, "--label", 100)


def find_upload(lib: Any, upload_id: str) -> Upload:
    """The upload with this id. Raises NotFound."""
    if not _UPLOAD_ID.match(upload_id):
        raise _gone(upload_id)
    for folder in lib.store.tmp_dir.glob(f"*-{upload_id}.d"):
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return Upload(upload_id, folder, meta["film"], meta["account"], meta["name"], meta["size"], meta["label"])
    raise _gone(upload_id)


def remove_upload(upload: Upload) -> None:
    shutil.rmtree(upload.folder, ignore_errors=True)


def _lock(fd: int, upload_id: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UploadBusy(f"upload {upload_id} is busy: another request is sending or finishing it") from None


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _TooLarge(Exception):
    pass


async def _receive(request: Request, fd: int, room: int) -> tuple[int, bool]:
    """Append the request body to ``fd`` as it arrives; at most ``room`` bytes (else _TooLarge).
    Returns (bytes written, whether the client went away before the end)."""
    written, pending, disconnected = 0, bytearray(), False
    try:
        async for chunk in request.stream():
            if written + len(pending) + len(chunk) > room:
                raise _TooLarge
            if not pending and len(chunk) >= FLUSH:
                await run_in_threadpool(_write_all, fd, chunk)
                written += len(chunk)
                continue
            pending += chunk
            if len(pending) >= FLUSH:
                await run_in_threadpool(_write_all, fd, pending)
                written, pending = written + len(pending), bytearray()
    except ClientDisconnect:
        disconnected = True  # keep what arrived: the client resumes from the offset
    if pending:
        await run_in_threadpool(_write_all, fd, pending)
        written += len(pending)
    return written, disconnected


def _shown(message: str, upload: Upload) -> str:
    """A library message about the temporary file, naming the uploaded file instead."""
    return message.replace(str(upload.data), upload.name).replace(str(upload.folder), "upload")


def finish_upload(lib: Any, upload: Upload) -> Any:
    """Add a complete upload as the film's newest cut (Library.add_cut), then remove it.

    An incomplete upload is refused (CheckFailed) and kept for resuming; a
    refused file (not a video...) is removed and its error re-raised naming
    the uploaded file. Returns the CutResult."""
    try:
        fd = os.open(upload.data, os.O_RDONLY)
    except FileNotFoundError:
        raise _gone(upload.id) from None
    try:
        _lock(fd, upload.id)
        received = os.fstat(fd).st_size
        if received < upload.size:
            raise CheckFailed(f"{upload.name}: upload incomplete: {received:,} of {upload.size:,} bytes received; "
                              f"send the rest from byte {received} and finish again")  # fmt: skip
        try:
            result = lib.add_cut(upload.film, upload.data, label=upload.label)
        except MedialibError as exc:
            remove_upload(upload)
            exc.message = _shown(exc.message, upload)
            exc.args = (exc.message,)
            raise
    finally:
        os.close(fd)
    remove_upload(upload)
    return result


def _upload_from_form(lib: Any, slug: str, account: int, file: UploadFile, label: str) -> Upload:
    """Copy a spooled multipart upload into a new upload folder, in chunks."""
    source = file.file
    source.seek(0, os.SEEK_END)
    size = source.tell()
    source.seek(0)
    upload = create_upload(lib, slug, account, file.filename or "", size, label)
    try:
        with open(upload.data, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
    except BaseException:
        remove_upload(upload)
        raise
    return upload


# --- processing in the background ----------------------------------------------


class Processor:
    """Runs ``Library.process`` for one film at a time, in one background thread.

    ``status(slug)`` says whether the film is queued or running here, and the
    step and fraction done. ``hold()`` keeps new work queued until
    ``release()`` (tests, maintenance); ``wait()`` waits for everything
    submitted so far.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medialib-process")
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = {}
        self._futures: list[Future[None]] = []
        self._held: list[tuple[Any, str, bool]] | None = None

    def submit(self, lib: Any, slug: str, *, retry_failed: bool = False) -> None:
        with self._lock:
            state = self._state.get(slug)
            if state and state["state"] == "queued":
                return  # it will pick up the newest cut when it runs
            self._state[slug] = {"state": "queued", "step": "", "fraction": None, "error": ""}
            if self._held is not None:
                self._held.append((lib, slug, retry_failed))
                return
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._executor.submit(self._run, lib, slug, retry_failed))

    def _run(self, lib: Any, slug: str, retry_failed: bool) -> None:
        with self._lock:
            state = self._state[slug]
            state["state"] = "running"

        def on_event(event: Any) -> None:
            state["step"], state["fraction"] = event.step, event.fraction

        try:
            lib.process([slug], jobs=1, retry_failed=retry_failed, on_event=on_event)
        except MedialibError as exc:
            state["error"] = exc.message
        except Exception as exc:  # a background thread: say what happened, keep serving
            log.exception("processing %s", slug)
            state["error"] = f"processing stopped: {type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                state["state"] = "finished"

    def status(self, slug: str) -> dict[str, Any] | None:
        with self._lock:
            state = self._state.get(slug)
            return dict(state) if state else None

    def hold(self) -> None:
        with self._lock:
            if self._held is None:
                self._held = []

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
        for lib, slug, retry in held:
            with self._lock:
                self._state.pop(slug, None)
            self.submit(lib, slug, retry_failed=retry)

    def wait(self) -> None:
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            future.result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_PROCESSORS: weakref.WeakKeyDictionary[Any, Processor] = weakref.WeakKeyDictionary()
_PROCESSORS_LOCK = threading.Lock()


def processor_for(lib: Any) -> Processor:
    """The background processor of this library: one per open catalogue (the web app hands each
    request a copy of the Library acting as the signed-in person; they share the engine)."""
    with _PROCESSORS_LOCK:
        if lib.engine not in _PROCESSORS:
            _PROCESSORS[lib.engine] = Processor()
        return _PROCESSORS[lib.engine]


def _shutdown_processors() -> None:
    """On server shutdown: queued work is dropped (a running ffmpeg finishes; `medialib process` resumes)."""
    with _PROCESSORS_LOCK:
        processors = list(_PROCESSORS.values())
        _PROCESSORS.clear()
    for p in processors:
        p.shutdown()


# --- what the film page shows ---------------------------------------------------

STATUS_CHIP = {"done": "ok", "failed": "bad"}


def _timecode(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int(round((seconds - whole) * 10)) % 10}"


def _recipe_names(lib: Any) -> list[str]:
    from medialib.media import recipes

    return list(recipes.resolve(lib.config["recipes"]))


def processing_status(lib: Any, film: dict[str, Any]) -> dict[str, Any]:
    """The current cut's processing, one row per recipe (status: not started, queued, running, done, failed),
    an overall state, and the QC report once there is a cut."""
    slug = film["slug"]
    here = processor_for(lib).status(slug)
    busy = here["state"] if here and here["state"] in ("queued", "running") else None
    if not film.get("current_cut"):
        return {"cut": None, "state": "no cut", "recipes": [], "qc": None, "busy": busy,
                "error": here["error"] if here else ""}  # fmt: skip
    qc = lib.qc(slug)
    rows = []
    for name in _recipe_names(lib):
        status = qc["processing"].get(name, "not started")
        fraction = None
        if status != "done" and busy == "queued":
            status = "queued"
        elif status != "done" and busy == "running" and here and name in here["step"].split("+"):
            status, fraction = "running", here["fraction"]
        rows.append({"recipe": name, "status": status, "chip": STATUS_CHIP.get(status, "wait"),
                     "percent": None if fraction is None else int(fraction * 100),
                     "error": qc["errors"].get(name, "")})  # fmt: skip
    statuses = {r["status"] for r in rows}
    if busy:
        state = busy
    elif "failed" in statuses:
        state = "failed"
    elif statuses <= {"done"}:
        state = "done"
    elif "running" in statuses:
        state = "running"
    else:
        state = "not started"
    findings = [{**f, "at_text": _timecode(f.get("at"))} for f in qc["findings"]]
    return {"cut": qc["cut"], "state": state, "recipes": rows, "busy": busy, "error": here["error"] if here else "",
            "qc": {**qc, "findings": findings}}  # fmt: skip


def maker_sections(lib: Any, viewer: Viewer, film: dict[str, Any]) -> dict[str, Any]:
    """Context for _film_maker.html: cuts, processing status, QC, caption tracks, upload forms."""
    return {"maker": {"processing": processing_status(lib, film), "captions": lib.captions(film["slug"]),
                      "cut_error": "", "caption_error": "", "caption_language": "", "label": ""}}  # fmt: skip


def _film_page(request: Request, lib: Any, viewer: Viewer, film: dict[str, Any], status_code: int,
               **maker: Any) -> Response:  # fmt: skip
    """The film page again (as film_page.py renders it), with a form's error."""
    from medialib.web import staff
    from medialib.web.app import render

    context: dict[str, Any] = {"film": film, "notice": ""}
    context.update(maker_sections(lib, viewer, film))
    context["maker"].update(maker)
    if viewer.at_least("staff"):
        context.update(staff.staff_sections(lib, viewer, film))
    return render(request, "film.html", status_code=status_code, **context)


def _to_film(slug: str, notice: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/films/{slug}?notice={quote(notice)}{anchor}", status_code=303)


# --- pages ------------------------------------------------------------------------

pages = APIRouter(include_in_schema=False)

NEW_FILM_FIELDS = ("slug", "title", "summary", "location", "languages", "publish_at", "owner")


def _film_makers(lib: Any, viewer: Viewer) -> list[dict[str, Any]]:
    if not viewer.at_least("staff"):
        return []
    return [u for u in lib.users() if u["role"] == "film-maker" and not u["disabled"]]


def _error_field(message: str) -> str:
    """Which form field a film registration error is about (for aria-invalid)."""
    for needle, field in (("slug", "slug"), ("already exists", "slug"), ("title", "title"), ("summary", "summary"),
                          ("location", "location"), ("language", "languages"), ("publish", "publish_at"),
                          ("owner", "owner")):  # fmt: skip
        if needle in message:
            return field
    return ""


@pages.get("/films/new")
def new_film_form(request: Request, viewer: Viewer = Depends(require())) -> Response:
    from medialib.web.app import render

    lib = lib_of(request)
    return render(request, "film_new.html", values=dict.fromkeys(NEW_FILM_FIELDS, ""), error="", error_field="",
                  makers=_film_makers(lib, viewer))  # fmt: skip


@pages.post("/films/new")
def new_film(request: Request, viewer: Viewer = Depends(csrf_form), slug: str = Form(""), title: str = Form(""),
             summary: str = Form(""), location: str = Form(""), languages: str = Form(""),
             publish_at: str = Form(""), owner: str = Form("")) -> Response:  # fmt: skip
    """Register a film; a film-maker becomes its owner, staff may name a film-maker as owner."""
    from medialib.catalog import validate
    from medialib.web.app import render, status_of

    lib = lib_of(request)
    makers = _film_makers(lib, viewer)
    values = {k: _CONTROL.sub("\ufffd", v) for k, v in (  # shown again on error: no control characters in HTML
        ("slug", slug), ("title", title), ("summary", summary), ("location", location), ("languages", languages),
        ("publish_at", publish_at), ("owner", owner))}  # fmt: skip
    try:
        slug = validate.slug(slug.strip())
        if slug in RESERVED_SLUGS:
            raise BadInput(f"invalid slug {slug!r}: it is reserved by the web app (/films/{slug})")
        if viewer.at_least("staff"):
            owner_id = None
            if owner.strip():
                owner_id = next((u["id"] for u in makers if str(u["id"]) == owner.strip()), None)
                if owner_id is None:
                    raise BadInput("owner: not an active film-maker account")
        else:
            owner_id = viewer.account.id
        film = lib.add_film(slug, title, summary=summary, location=location,
                            languages=[x for x in re.split(r"[\s,]+", languages) if x],
                            publish_at=publish_at.strip() or None, owner_id=owner_id)  # fmt: skip
    except MedialibError as exc:
        return render(request, "film_new.html", status_code=status_of(exc), values=values, error=exc.message,
                      error_field=_error_field(exc.message), makers=makers)  # fmt: skip
    return _to_film(film["slug"], f"Registered {film['title']}. Upload a cut below.")


@pages.post("/films/{slug}/cuts")
async def upload_cut_form(slug: str, request: Request, viewer: Viewer = Depends(require())) -> Response:
    """The upload form without JavaScript: a multipart POST (file, label, csrf_token)."""
    lib = lib_of(request)
    film = await run_in_threadpool(film_for, lib, viewer, slug)  # before the body is read
    async with request.form(max_files=1) as form:
        token = form.get("csrf_token")
        check_csrf(viewer, token if isinstance(token, str) else None)
        file, label = form.get("file"), form.get("label")
        label = label.strip() if isinstance(label, str) else ""
        return await run_in_threadpool(_add_cut_from_form, request, lib, viewer, film, file, label)


def _add_cut_from_form(request: Request, lib: Any, viewer: Viewer, film: dict[str, Any], file: Any,
                       label: str) -> Response:  # fmt: skip
    slug = film["slug"]
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise BadInput("choose a video file to upload")
        upload = _upload_from_form(lib, slug, viewer.account.id, file, label)
        result = finish_upload(lib, upload)
    except MedialibError as exc:
        from medialib.web.app import status_of

        return _film_page(request, lib, viewer, film, status_of(exc), cut_error=exc.message, label=label)
    processor_for(lib).submit(lib, slug)
    return _to_film(slug, _cut_notice(result), "#processing")


def _cut_notice(result: Any) -> str:
    cut = result.cut
    if result.duplicate:
        return f"That file is already cut {cut['seq']}; nothing was added."
    return f"Added cut {cut['seq']} ({cut['duration']:.1f} s, {cut['width']}x{cut['height']}). Processing has started."


@pages.post("/films/{slug}/captions")
async def upload_captions_form(slug: str, request: Request, viewer: Viewer = Depends(require())) -> Response:
    """A caption file (SRT, WebVTT, SBV) for one language: multipart POST (file, language, kind, csrf_token)."""
    lib = lib_of(request)
    film = await run_in_threadpool(film_for, lib, viewer, slug)
    async with request.form(max_files=1) as form:
        token = form.get("csrf_token")
        check_csrf(viewer, token if isinstance(token, str) else None)
        fields = {k: (v.strip() if isinstance(v := form.get(k), str) else "") for k in ("language", "kind")}
        return await run_in_threadpool(_import_captions, request, lib, viewer, film, form.get("file"),
                                       fields["language"], fields["kind"] or "captions")  # fmt: skip


def _import_captions(request: Request, lib: Any, viewer: Viewer, film: dict[str, Any], file: Any, language: str,
                     kind: str) -> Response:  # fmt: skip
    from medialib.captions.tracks import MAX_BYTES

    slug = film["slug"]
    upload = None
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise BadInput("choose a caption file to upload")
        if not language:
            raise BadInput("language: give the captions' language, e.g. en or gd")
        if file.size is not None and file.size > MAX_BYTES:
            raise BadInput(f"{safe_name(file.filename)}: {file.size / 1e6:.1f} MB is too large for a caption file")
        upload = _upload_from_form(lib, slug, viewer.account.id, file, "")
        try:
            track = lib.import_captions(slug, upload.data, language=language, kind=kind)
        except MedialibError as exc:
            exc.message = _shown(exc.message, upload)
            raise
    except MedialibError as exc:
        from medialib.web.app import status_of

        return _film_page(request, lib, viewer, film, status_of(exc), caption_error=exc.message,
                          caption_language=language)  # fmt: skip
    finally:
        if upload is not None:
            remove_upload(upload)
    return _to_film(slug, f"Imported {track['cues']} {track['language']} cues ({track['source_format']}); "
                          "they wait for a staff check.", "#captions")  # fmt: skip


@pages.post("/films/{slug}/process")
def process_again(slug: str, request: Request, viewer: Viewer = Depends(csrf_form)) -> Response:
    """Start (or retry) processing the current cut: for a cut added on the command line, or after a failure."""
    lib = lib_of(request)
    film = film_for(lib, viewer, slug)
    if not film.get("current_cut"):
        raise BadInput(f"film {slug!r} has no cut to process yet")
    processor_for(lib).submit(lib, slug, retry_failed=True)
    return _to_film(slug, "Processing has started.", "#processing")


# --- the upload API ----------------------------------------------------------------

api = APIRouter(prefix="/api", tags=["uploads"])


class NewUpload(BaseModel):
    size: int
    name: str = ""
    label: str = ""


def _own_upload(lib: Any, viewer: Viewer, upload_id: str) -> Upload:
    """The upload if this viewer started it and may still see its film; NotFound otherwise."""
    upload = find_upload(lib, upload_id)
    if upload.account != viewer.account.id:
        raise _gone(upload_id)
    film_for(lib, viewer, upload.film)
    return upload


def _offset_of(header: str | None, query: str | None) -> int:
    raw = header if header is not None else query
    if raw is None:
        raise BadInput("say where this chunk goes: an Upload-Offset header (or ?offset=) is required")
    if not _BYTES.match(raw.strip()):
        raise BadInput(f"Upload-Offset: {raw[:40]!r} is not a byte offset (a whole number, 0 or more)")
    return int(raw)


@api.post("/films/{slug}/uploads", status_code=201, summary="Start a resumable upload of a cut")
def start_upload(slug: str, body: NewUpload, request: Request,
                 viewer: Viewer = Depends(csrf_header)) -> dict[str, Any]:  # fmt: skip
    """Declare the file's size (bytes) and name; then PUT its bytes to the returned id."""
    lib = lib_of(request)
    film_for(lib, viewer, slug)
    upload = create_upload(lib, slug, viewer.account.id, body.name, body.size, body.label.strip())
    return {**upload.as_dict(), "url": f"/api/uploads/{upload.id}"}


@api.get("/uploads/{upload_id}", summary="How much of an upload has arrived (resume from offset)")
def upload_status(upload_id: str, request: Request, viewer: Viewer = Depends(require())) -> dict[str, Any]:
    return _own_upload(lib_of(request), viewer, upload_id).as_dict()


@api.head("/uploads/{upload_id}", summary="The upload's offset in the Upload-Offset header")
def upload_head(upload_id: str, request: Request, viewer: Viewer = Depends(require())) -> Response:
    upload = _own_upload(lib_of(request), viewer, upload_id)
    return Response(headers={"Upload-Offset": str(upload.offset()), "Upload-Length": str(upload.size)})


@api.put("/uploads/{upload_id}", summary="Append a chunk at Upload-Offset", openapi_extra={"requestBody": {
    "required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_chunk(upload_id: str, request: Request, viewer: Viewer = Depends(csrf_header),
                       upload_offset: str | None = Header(None, alias="Upload-Offset"),
                       offset: str | None = Query(None, description="instead of the Upload-Offset header"),
                       ) -> dict[str, Any]:  # fmt: skip
    """The body's bytes are appended to the upload as they arrive. The offset must equal the bytes
    received so far (409 otherwise: ask GET for the offset); bytes beyond the declared size are refused
    (400, nothing kept from this request). Bytes that arrived before a broken connection are kept."""
    lib = lib_of(request)
    upload = await run_in_threadpool(_own_upload, lib, viewer, upload_id)
    start = _offset_of(upload_offset, offset)
    length = request.headers.get("content-length")
    try:
        fd = os.open(upload.data, os.O_WRONLY)
    except FileNotFoundError:
        raise _gone(upload_id) from None
    try:
        _lock(fd, upload_id)
        received = os.fstat(fd).st_size
        if start != received:
            raise OffsetMismatch(f"{upload.name}: offset {start} does not match the {received} bytes received so "
                                 f"far; resume from byte {received}")  # fmt: skip
        known = length is not None and bool(_BYTES.match(length))
        beyond = BadInput(f"{upload.name}: a chunk {f'of {length} bytes ' if known else ''}at byte {start} goes beyond "
                          f"the declared size of {upload.size} bytes")  # fmt: skip
        if known and start + int(length) > upload.size:
            raise beyond
        os.lseek(fd, received, os.SEEK_SET)
        try:
            written, _disconnected = await _receive(request, fd, upload.size - received)
        except _TooLarge:
            os.ftruncate(fd, received)
            raise beyond from None
        except OSError as exc:
            os.ftruncate(fd, received)
            status = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
            raise MedialibError(f"{upload.name}: writing the upload failed: {status}") from None
    finally:
        os.close(fd)
    return {**upload.as_dict(), "offset": received + written, "complete": received + written == upload.size}


@api.post("/uploads/{upload_id}/finish", summary="Add the complete upload as the film's newest cut")
def finish(upload_id: str, request: Request, viewer: Viewer = Depends(csrf_header)) -> dict[str, Any]:
    """Probes, hashes and stores the file (as `medialib cut add` does), then starts processing.
    409 if bytes are missing (the upload is kept to be resumed); 400 with the CLI's message
    for a file that is not a playable video (the upload is removed)."""
    lib = lib_of(request)
    upload = _own_upload(lib, viewer, upload_id)
    result = finish_upload(lib, upload)
    processor_for(lib).submit(lib, upload.film)
    return {"film": upload.film, "cut": result.cut, "duplicate": result.duplicate,
            "page": f"/films/{upload.film}", "notice": _cut_notice(result)}  # fmt: skip


@api.delete("/uploads/{upload_id}", status_code=204, summary="Cancel an upload and remove its bytes")
def cancel(upload_id: str, request: Request, viewer: Viewer = Depends(csrf_header)) -> Response:
    upload = _own_upload(lib_of(request), viewer, upload_id)
    fd = os.open(upload.data, os.O_RDONLY)
    try:
        _lock(fd, upload_id)
        remove_upload(upload)
    finally:
        os.close(fd)
    return Response(status_code=204)


@api.get("/films/{slug}/processing", summary="Processing status per recipe and the QC report of the current cut")
def processing(slug: str, request: Request, viewer: Viewer = Depends(require())) -> dict[str, Any]:
    lib = lib_of(request)
    return processing_status(lib, film_for(lib, viewer, slug))


router = APIRouter(on_shutdown=[_shutdown_processors])
router.include_router(pages)
router.include_router(api)
