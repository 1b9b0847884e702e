"""Publish targets: an S3 bucket (with a prefix) or a local folder with the same layout.

A target is addressed by a URL — ``s3://BUCKET/PREFIX`` or ``file:///PATH`` —
and offers the few operations the publisher needs: one listing, uploads that
carry a SHA-256 checksum (the local file is re-hashed while it is read, so a
derivative that changed on disk is never uploaded), deletions, and per-object
checks for ``publish verify``. Keys are always relative to the prefix.

Credentials never appear in a URL (one with user info is refused) and are never
logged: boto3 takes them from its standard chain (environment, ~/.aws, roles).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import threading

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from medialib.errors import BadInput, IntegrityError, MedialibError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
CHUNK = 1024 * 1024
TARGET_MAX = 500  # publications and publish locks record the target in a column this wide


class TargetUnavailable(MedialibError):
    """The target could not be reached or kept failing: nothing more was recorded as published."""

    exit_code = 1


@dataclass(frozen=True)
class TargetSpec:
    url: str  # normalised; what publications are recorded against
    scheme: str  # s3 | file
    bucket: str = ""
    prefix: str = ""  # "" or "a/b/" (always ending with a slash)
    path: Path | None = None


def _segments(path: str, url: str) -> list[str]:
    parts = [p for p in path.split("/") if p != ""]
    for part in parts:
        if part in (".", ".."):
            raise BadInput(f"publish target {url!r}: the path must not contain '.' or '..' segments")
        if _BAD_KEY_CHARS.search(part):
            raise BadInput(f"publish target {url!r}: the path contains a control character or a backslash")
    return parts


def parse_target(url: str) -> TargetSpec:
    """Check and normalise a target URL; BadInput naming the problem."""
    spec = _parse_target(url)
    if len(spec.url) > TARGET_MAX:
        raise BadInput(f"publish target {spec.url[:40]}…: at most {TARGET_MAX} characters once normalised "
                       f"(it has {len(spec.url)})")  # fmt: skip
    return spec


def _parse_target(url: str) -> TargetSpec:
    if not isinstance(url, str) or not url.strip():
        raise BadInput("publish target: empty URL (expected s3://BUCKET/PREFIX or file:///PATH)")
    raw = url.strip()
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise BadInput(f"publish target {raw!r}: not a URL ({exc})") from None
    if parts.query or parts.fragment:
        raise BadInput(f"publish target {raw!r}: a query or fragment is not allowed")
    if "@" in parts.netloc:
        raise BadInput(f"publish target {raw!r}: credentials must not be part of the URL (use the AWS "
                       "environment variables or ~/.aws)")  # fmt: skip
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise BadInput(f"publish target {raw!r}: {bucket!r} is not a valid bucket name "
                           "(3-63 lower-case letters, digits, dots and hyphens)")  # fmt: skip
        segs = _segments(unquote(parts.path), raw)
        prefix = "".join(s + "/" for s in segs)
        return TargetSpec(f"s3://{bucket}/{prefix}", "s3", bucket=bucket, prefix=prefix)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BadInput(f"publish target {raw!r}: a file URL must name a local path (file:///PATH)")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise BadInput(f"publish target {raw!r}: the path must be absolute (file:///PATH)")
        segs = _segments(path, raw)
        folder = Path("/" + "/".join(segs))
        return TargetSpec(folder.as_uri(), "file", path=folder)
    raise BadInput(f"publish target {raw!r}: expected s3://BUCKET/PREFIX or file:///PATH")


@dataclass(frozen=True)
class Item:
    """One object to put: its bytes come from ``path`` (re-hashed while read) or ``data``."""

    key: str
    content_type: str
    cache_control: str
    sha256: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    film: str | None = None  # the film it belongs to; None for site-wide pages
    source_key: str | None = None  # the asset-store key it is copied from (fetched into ``path`` first if remote)

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else self.key


@dataclass(frozen=True)
class ObjectState:
    size: int
    checksum: str | None  # the server's SHA-256 checksum (base64, "-N" suffix if composite); None if none


class Target(Protocol):
    spec: TargetSpec

    def list(self, under: str = "") -> dict[str, int]: ...
    def put(self, item: Item) -> str | None: ...
    def delete(self, keys: list[str]) -> None: ...
    def stat(self, key: str) -> ObjectState | None: ...
    def digest(self, key: str) -> tuple[int, str] | None: ...
    def read(self, key: str) -> bytes | None: ...
    def cleanup(self) -> int: ...
    def public_url(self, key: str) -> str: ...
    def close(self) -> None: ...


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def composite_checksum(part_digests: list[bytes]) -> str:
    """The S3 composite SHA-256 checksum of a multipart object: sha256(part digests) + "-N"."""
    return base64.b64encode(hashlib.sha256(b"".join(part_digests)).digest()).decode() + f"-{len(part_digests)}"


def _mismatch(item: Item, got: str) -> IntegrityError:
    return IntegrityError(f"{item.label}: sha256 {got[:16]}… does not match the recorded {item.sha256[:16]}… "
                          "(the file changed since it was made; run `medialib process` again); not published")  # fmt: skip


# --- a local folder -----------------------------------------------------------------

_TEMP = ".medialib-"


class FolderTarget:
    """The launch site as plain files in a folder (previews, the embedded default)."""

    def __init__(self, spec: TargetSpec) -> None:
        assert spec.path is not None
        self.spec = spec
        self.root = spec.path

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def list(self, under: str = "") -> dict[str, int]:
        """Every object (key -> size), or those whose key starts with ``under`` (a folder, ending in /)."""
        out: dict[str, int] = {}
        start = self._path(under.rstrip("/")) if under else self.root
        if not start.exists():
            return out
        for folder, _dirs, files in os.walk(start):
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(_TEMP):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                out[key] = os.stat(os.path.join(folder, name)).st_size
        return out

    def put(self, item: Item) -> str | None:
        final = self._path(item.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_TEMP, suffix=".part", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                if item.data is not None:
                    digest.update(item.data)
                    out.write(item.data)
                else:
                    assert item.path is not None
                    with open(item.path, "rb") as src:
                        while chunk := src.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != item.sha256:
                raise _mismatch(item, digest.hexdigest())
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return None

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            folder = path.parent
            while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent

    def stat(self, key: str) -> ObjectState | None:
        try:
            return ObjectState(self._path(key).stat().st_size, None)
        except FileNotFoundError:
            return None

    def digest(self, key: str) -> tuple[int, str] | None:
        try:
            with open(self._path(key), "rb") as fh:
                h, size = hashlib.sha256(), 0
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
            return size, h.hexdigest()
        except FileNotFoundError:
            return None

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def cleanup(self) -> int:
        """Remove temporary files a killed publish left behind."""
        n = 0
        if self.root.exists():
            for tmp in self.root.rglob(_TEMP + "*"):
                tmp.unlink(missing_ok=True)
                n += 1
        return n

    def public_url(self, key: str) -> str:
        return self._path(key).as_uri()

    def close(self) -> None:
        pass


# --- an S3 bucket ---------------------------------------------------------------------


@dataclass(frozen=True)
class S3Options:
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    threads: int = 16
    part_size: int = 64 * 1024 * 1024
    retries: int = 5
    base_url: str | None = None


class S3Target:
    """A bucket and prefix on any S3-compatible server, through boto3."""

    def __init__(self, spec: TargetSpec, options: S3Options) -> None:
        self.spec, self.options = spec, options
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (importing boto3 and making a client takes a
        quarter of a second: the publisher lists the target on a thread while it plans)."""
        with self._lock:
            if self._client is None:
                from medialib.storage.s3 import make_client

                options = self.options
                self._client = make_client(options.endpoint_url, options.region, options.path_style,
                                           options.retries, threads=options.threads)  # fmt: skip
            return self._client

    # errors -------------------------------------------------------------------------

    def _error(self, exc: Exception, doing: str) -> MedialibError:
        from medialib.storage.s3 import s3_error

        return s3_error(exc, where=f"publish target {self.spec.url}", bucket=self.spec.bucket, doing=doing,
                        client=self.client, unavailable=TargetUnavailable)  # fmt: skip

    def _call(self, doing: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, doing) from None

    def _quick(self, look: Any, prefix: str) -> Any:
        """A read without boto3 (publish.s3list) while boto3 is not loaded anyway; None: ask boto3."""
        if self._client is not None:
            return None
        return look(self.spec.bucket, prefix, endpoint_url=self.options.endpoint_url, region=self.options.region,
                    path_style=self.options.path_style)  # fmt: skip

    # operations ---------------------------------------------------------------------

    def list(self, under: str = "") -> dict[str, int]:
        """Every object under the prefix (key -> size), or those whose key starts with ``under``.
        Tried first without boto3 (publish.s3list: one signed request per 1,000 keys); boto3
        takes every case that one leaves, and every error."""
        from medialib.publish import s3list

        n = len(self.spec.prefix)
        quick = self._quick(s3list.list_prefix, self.spec.prefix + under)
        if quick is not None:
            return {key[n:]: size for key, size in quick.items()}
        out: dict[str, int] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.spec.bucket, "Prefix": self.spec.prefix + under, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("listing the bucket", self.client.list_objects_v2, **kwargs)
            for obj in page.get("Contents", []):
                out[obj["Key"][n:]] = obj["Size"]
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def _headers(self, item: Item) -> dict[str, Any]:
        return {"Bucket": self.spec.bucket, "Key": self.spec.prefix + item.key, "ContentType": item.content_type,
                "CacheControl": item.cache_control}  # fmt: skip

    def put(self, item: Item, pool: ThreadPoolExecutor | None = None) -> str | None:
        """Upload one object with its SHA-256 checksum; the returned checksum is the server's.

        Files larger than the part size go up in parts, in parallel on ``pool``."""
        if item.data is None and item.size > self.options.part_size and pool is not None:
            return self._put_multipart(item, pool)
        checksum = hex_to_b64(item.sha256)
        if item.data is not None:
            if hashlib.sha256(item.data).hexdigest() != item.sha256:
                raise _mismatch(item, hashlib.sha256(item.data).hexdigest())
            self._call(f"uploading {item.key}", self.client.put_object, Body=item.data, ChecksumSHA256=checksum,
                       **self._headers(item))  # fmt: skip
            return checksum
        assert item.path is not None
        # The header carries the recorded hash and the server hashes what it receives: if the file
        # changed since it was made, the server refuses the body (BadDigest). Only then, or if a
        # server answers without echoing the checksum, is the file hashed here, to name the problem.
        with open(item.path, "rb") as body:
            try:
                answer = self._call(f"uploading {item.key}", self.client.put_object, Body=body,
                                    ContentLength=item.size, ChecksumSHA256=checksum,
                                    **self._headers(item))  # fmt: skip
            except IntegrityError:
                got = _sha256_file(item.path)
                if got != item.sha256:
                    raise _mismatch(item, got) from None
                raise
        echoed = answer.get("ChecksumSHA256")
        if echoed != checksum:
            got = _sha256_file(item.path)
            if echoed is not None or got != item.sha256:
                self.delete([item.key])
                raise _mismatch(item, got if got != item.sha256 else b64_to_hex(echoed or ""))
        return checksum

    def _put_multipart(self, item: Item, pool: ThreadPoolExecutor) -> str:
        assert item.path is not None
        key = self.spec.prefix + item.key
        created = self._call(f"starting the upload of {item.key}", self.client.create_multipart_upload,
                             ChecksumAlgorithm="SHA256", **self._headers(item))  # fmt: skip
        upload_id = created["UploadId"]
        try:
            whole = hashlib.sha256()
            futures: list[Future[dict[str, Any]]] = []
            digests: list[bytes] = []
            window = max(1, self.options.threads)
            with open(item.path, "rb") as fh:
                number = 0
                while data := fh.read(self.options.part_size):
                    number += 1
                    whole.update(data)
                    digest = hashlib.sha256(data).digest()
                    digests.append(digest)
                    futures.append(pool.submit(self._upload_part, key, upload_id, number, data, digest, item.key))
                    # Bound what is held in memory: at most `threads` parts in flight.
                    while sum(1 for f in futures if not f.done()) >= window:
                        next(f for f in futures if not f.done()).result()
            parts = [f.result() for f in futures]
            if whole.hexdigest() != item.sha256:
                raise _mismatch(item, whole.hexdigest())
            self._call(f"completing the upload of {item.key}", self.client.complete_multipart_upload,
                       Bucket=self.spec.bucket, Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts})  # fmt: skip
        except BaseException:
            for f in futures:
                f.cancel()
            self._abort(key, upload_id)
            raise
        return composite_checksum(digests)

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes, digest: bytes, label: str) -> dict:
        checksum = base64.b64encode(digest).decode()
        r = self._call(f"uploading part {number} of {label}", self.client.upload_part, Bucket=self.spec.bucket,
                       Key=key, UploadId=upload_id, PartNumber=number, Body=data, ChecksumSHA256=checksum)  # fmt: skip
        return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": checksum}

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.spec.bucket, Key=key, UploadId=upload_id)
        except Exception:  # the server may be down; `cleanup` on the next run aborts it
            pass

    def cleanup(self) -> int:
        """Abort incomplete multipart uploads under the prefix (left by a killed publish).
        Looked for without boto3 first (publish.s3list); boto3 only if there are some."""
        from medialib.publish import s3list

        found = self._quick(s3list.list_uploads, self.spec.prefix)
        if found is None:
            page = self._call("listing incomplete uploads", self.client.list_multipart_uploads,
                              Bucket=self.spec.bucket, Prefix=self.spec.prefix)  # fmt: skip
            found = [(upload["Key"], upload["UploadId"]) for upload in page.get("Uploads", []) or []]
        for key, upload_id in found:
            self._abort(key, upload_id)
        return len(found)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.spec.prefix + k} for k in keys[start : start + 1000]]
            r = self._call("deleting objects", self.client.delete_objects, Bucket=self.spec.bucket,
                           Delete={"Objects": batch, "Quiet": True})  # fmt: skip
            errors = r.get("Errors") or []
            if errors:
                first = errors[0]
                raise TargetUnavailable(f"publish target {self.spec.url}: could not delete {first.get('Key')}: "
                                        f"{first.get('Code')} {first.get('Message', '')}".strip())  # fmt: skip

    def _or_none(self, doing: str, fn: Any, key: str, **kwargs: Any) -> Any:
        """``fn`` on ``key``; None if the object is not there, a MedialibError for anything else."""
        from botocore.exceptions import ClientError

        try:
            return fn(Bucket=self.spec.bucket, Key=self.spec.prefix + key, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, f"{doing} {key}") from None
        except Exception as exc:
            raise self._error(exc, f"{doing} {key}") from None

    def stat(self, key: str) -> ObjectState | None:
        r = self._or_none("checking", self.client.head_object, key, ChecksumMode="ENABLED")
        return None if r is None else ObjectState(r["ContentLength"], r.get("ChecksumSHA256"))

    def _get(self, key: str) -> Any:
        return self._or_none("reading", self.client.get_object, key)

    def digest(self, key: str) -> tuple[int, str] | None:
        r = self._get(key)
        if r is None:
            return None
        h, size = hashlib.sha256(), 0
        for chunk in r["Body"].iter_chunks(CHUNK):
            h.update(chunk)
            size += len(chunk)
        return size, h.hexdigest()

    def read(self, key: str) -> bytes | None:
        r = self._get(key)
        return None if r is None else r["Body"].read()

    def public_url(self, key: str) -> str:
        if self.options.base_url:
            return self.options.base_url.rstrip("/") + "/" + key
        endpoint = (self.options.endpoint_url or self.client.meta.endpoint_url).rstrip("/")
        return f"{endpoint}/{self.spec.bucket}/{self.spec.prefix}{key}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def open_target(url: str, options: S3Options) -> FolderTarget | S3Target:
    spec = parse_target(url)
    if spec.scheme == "file":
        return FolderTarget(spec)
    return S3Target(spec, options)


