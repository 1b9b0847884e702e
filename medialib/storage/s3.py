"""The asset store in an S3 bucket (``storage.backend = "s3"``), so workers need no shared disk.

Keys are the local store's (``originals/ab/cd/<sha>.<ext>``, ``derived/…``,
``private/consent/<sha>.<ext>``) under ``storage.prefix``. An upload is streamed to a
temporary key ``tmp/<host>:<pid>-<random>.part`` while it is hashed (one part in memory
at a time; multipart above ``storage.part_mib``), then copied on the server to its
content key with the sha256 as object metadata, and the temporary key deleted. A
writer killed on the way leaves a temporary key or an incomplete multipart upload: the
next writer on the same machine removes them when that process is gone (and any
machine does after a day). Objects are never given a public ACL; the bucket must be
private. Callers that need a file (ffmpeg, the publisher) get a copy fetched into the
scratch folder, removed when they are done.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from medialib import holders
from medialib.errors import BadInput, IntegrityError, MedialibError, ObjectMissing, StoreUnavailable
from medialib.storage.cache import FOLDER as CACHE_FOLDER
from medialib.storage.cache import OriginalsCache
from medialib.storage.local import (_KEY_RE, CancellableCopy, Progress, Stored, _changed, _hash_path,
                                    sweep_dead_writers, work_folder)  # fmt: skip

TMP = "tmp/"
_TMP_KEY = re.compile(r"^tmp/(?P<host>[^/]+):(?P<pid>\d+)-[0-9a-f]{16}\.part$")
STALE = timedelta(days=1)  # another machine's temporary key older than this is abandoned
COPY_LIMIT = 5 << 30  # CopyObject's limit; larger objects are copied in parts by boto3's managed copy


def make_client(endpoint_url: str | None, region: str | None, path_style: bool, retries: int,
                threads: int = 16) -> Any:  # fmt: skip
    """A boto3 S3 client as medialib makes them, for the asset store and the publish target:
    credentials from boto3's chain, standard retries with backoff, short connect timeout,
    checksums only where medialib sends them (SHA-256, on every body it writes)."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region or None,
        signature_version="s3v4",  # also for presigned URLs
        retries={"max_attempts": max(1, retries), "mode": "standard"},
        max_pool_connections=max(10, threads + 4),
        connect_timeout=5,
        read_timeout=60,
        # The SHA-256 checksum header protects every body; signing it again is wasted CPU.
        s3={"addressing_style": "path" if path_style else "auto", "payload_signing_enabled": False},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )  # fmt: skip
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)


def s3_error(exc: Exception, *, where: str, bucket: str, doing: str, client: Any,
             unavailable: type[MedialibError]) -> MedialibError:  # fmt: skip
    """What a boto3 error means, as one line naming ``where`` (the store or the target):
    BadInput for missing credentials, a missing bucket or refused access; IntegrityError
    for a corrupted body; ``unavailable`` for a server that does not answer or fails."""
    from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError,
                                     EndpointConnectionError, NoCredentialsError, ReadTimeoutError)  # fmt: skip

    if isinstance(exc, NoCredentialsError):
        return BadInput(f"{where}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        "or a profile in ~/.aws)")  # fmt: skip
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)):
        endpoint = client.meta.endpoint_url if client is not None else "?"
        return unavailable(f"{where}: the S3 server at {endpoint} is not answering ({doing}): {type(exc).__name__}")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket" or (code == "404" and doing == "checking the bucket"):
            return BadInput(f"{where}: the bucket {bucket!r} does not exist")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken",
                    "ExpiredToken"):  # fmt: skip
            return BadInput(f"{where}: the S3 server refused the credentials ({code}) while {doing}")
        if code == "BadDigest":
            return IntegrityError(f"{where}: the server received a corrupted body while {doing}; "
                                  "nothing was stored under that key")  # fmt: skip
        message = exc.response.get("Error", {}).get("Message", "")
        return unavailable(f"{where}: {doing} failed: {code} {message}".strip())
    return unavailable(f"{where}: {doing} failed: {type(exc).__name__}: {exc}")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class S3Store:
    """Content-addressed objects in ``bucket`` under ``prefix``, through boto3."""

    def __init__(self, bucket: str, prefix: str = "", *, scratch: Path, endpoint_url: str | None = None,
                 region: str | None = None, path_style: bool = False, part_size: int = 16 << 20,
                 retries: int = 5, chunk_size: int = 4 << 20, cache_bytes: int = 0) -> None:  # fmt: skip
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.scratch = Path(scratch)
        self.endpoint_url, self.region, self.path_style = endpoint_url, region, path_style
        self.part_size, self.retries, self.chunk_size = part_size, retries, chunk_size
        self._client: Any = None
        self._lock = threading.Lock()
        self.cache = OriginalsCache(self.scratch / CACHE_FOLDER, cache_bytes) if cache_bytes > 0 else None

    @classmethod
    def from_config(cls, cfg: Any) -> "S3Store":
        scratch = cfg["storage.scratch"] or os.path.join(tempfile.gettempdir(), "medialib-scratch")
        return cls(cfg["storage.bucket"], cfg["storage.prefix"], scratch=Path(scratch),
                   endpoint_url=cfg["storage.endpoint_url"] or None, region=cfg["storage.region"] or None,
                   path_style=cfg["storage.path_style"], part_size=cfg["storage.part_mib"] << 20,
                   retries=cfg["storage.retries"], chunk_size=cfg["ingest.chunk_mib"] << 20,
                   cache_bytes=cfg["storage.cache_mib"] << 20)  # fmt: skip

    # the client, and what its errors mean ----------------------------------------------

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def client(self) -> Any:
        """The boto3 client, made (and the bucket checked) on first use."""
        with self._lock:
            if self._client is None:
                client = make_client(self.endpoint_url, self.region, self.path_style, self.retries, threads=8)
                self._call("checking the bucket", client.head_bucket, client=client, Bucket=self.bucket)
                self._client = client
            return self._client

    def _error(self, exc: Exception, doing: str, key: str | None, client: Any = None) -> MedialibError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError) and key is not None:
            if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404", "NotFound"):
                return ObjectMissing(f"{self.describe(key)}: missing from the asset store (run `medialib verify`)")
        return s3_error(exc, where=f"asset store {self.where}", bucket=self.bucket, doing=doing,
                        client=client or self._client, unavailable=StoreUnavailable)  # fmt: skip

    def _call(self, doing: str, fn: Any, *, key: str | None = None, client: Any = None, **kwargs: Any) -> Any:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError, Boto3Error) as exc:  # Boto3Error: the managed transfers' failures
            raise self._error(exc, doing, key, client) from None

    def _key(self, key: str) -> str:
        if not _KEY_RE.match(key):
            raise BadInput(f"not a storage key: {key!r}")
        return self.prefix + key

    # the Store interface ------------------------------------------------------------

    @property
    def tmp_dir(self) -> Path:
        return self.scratch

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def begin_put(self, source: Path, *, on_progress: Progress | None = None,
                  expect: os.stat_result | None = None) -> "S3PendingPut":  # fmt: skip
        """Start streaming ``source`` to a temporary key while hashing it (see S3PendingPut)."""
        return S3PendingPut(self, source, on_progress, expect)

    def put_file(self, source: Path, prefix: str, ext: str, *, on_progress: Progress | None = None,
                 expect: os.stat_result | None = None, flat: bool = False) -> Stored:  # fmt: skip
        return self.begin_put(source, on_progress=on_progress, expect=expect).finish(prefix, ext, flat=flat)

    def put_private(self, source: Path, prefix: str, ext: str) -> Stored:
        """A consent form: a private object (no ACL is ever set; the bucket must not be public)."""
        return self.put_file(source, prefix, ext, flat=True)

    def put_derived(self, path: Path, key: str, *, sha256: str | None = None) -> None:
        """Upload a finished derivative under ``key`` with its sha256 as metadata; the local file is removed."""
        from boto3.s3.transfer import TransferConfig

        full = self._key(key)
        sha = sha256 or _hash_path(path, self.chunk_size)[0]
        config = TransferConfig(multipart_threshold=self.part_size, multipart_chunksize=self.part_size,
                                max_concurrency=4)  # fmt: skip
        self._call(f"uploading {key}", self.client.upload_file, Filename=str(path), Bucket=self.bucket, Key=full,
                   ExtraArgs={"Metadata": {"sha256": sha}}, Config=config)  # fmt: skip
        path.unlink(missing_ok=True)

    def remove(self, key: str) -> None:
        self._call(f"deleting {key}", self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def remove_tree(self, key: str) -> None:
        self._key(key)
        self._delete_keys([self.prefix + k for k in self.iter_keys(key)])

    def _delete_keys(self, full_keys: list[str]) -> None:
        for i in range(0, len(full_keys), 1000):
            batch = [{"Key": k} for k in full_keys[i:i + 1000]]
            self._call("deleting objects", self.client.delete_objects, Bucket=self.bucket,
                       Delete={"Objects": batch, "Quiet": True})  # fmt: skip

    def _list(self, under: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + under, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("listing the bucket", self.client.list_objects_v2, **kwargs)
            yield from page.get("Contents", []) or []
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def iter_keys(self, prefix: str) -> Iterator[str]:
        n = len(self.prefix)
        for obj in self._list(prefix.rstrip("/") + "/"):
            yield obj["Key"][n:]

    def sizes(self, prefix: str) -> dict[str, int]:
        n = len(self.prefix)
        return {obj["Key"][n:]: int(obj["Size"]) for obj in self._list(prefix.rstrip("/") + "/")}

    def _head(self, full: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, f"looking up {key}", key) from None
        except Exception as exc:  # BotoCoreError: connection and the like
            raise self._error(exc, f"looking up {key}", key) from None

    def size(self, key: str) -> int | None:
        head = self._head(self._key(key), key)
        return None if head is None else int(head["ContentLength"])

    def _get(self, key: str) -> Any:
        return self._call(f"reading {key}", self.client.get_object, key=key, Bucket=self.bucket, Key=self._key(key))

    def hash_file(self, key: str, on_progress: Progress | None = None) -> tuple[str, int]:
        """Re-read the object from the server: (sha256, size)."""
        body = self._get(key)["Body"]
        digest, total = hashlib.sha256(), 0
        try:
            for data in body.iter_chunks(self.chunk_size):
                digest.update(data)
                total += len(data)
                if on_progress is not None:
                    on_progress(len(data))
        except Exception as exc:  # the connection dropped mid-read
            raise self._error(exc, f"reading {key}", key) from None
        finally:
            body.close()
        return digest.hexdigest(), total

    def read_bytes(self, key: str) -> bytes:
        body = self._get(key)["Body"]
        try:
            return body.read()
        except Exception as exc:  # the connection dropped mid-read
            raise self._error(exc, f"reading {key}", key) from None
        finally:
            body.close()

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        """Fetch ``key`` into a folder of its own under the scratch folder, check its size,
        and remove it when the block ends. An original comes from this machine's cache
        when ``storage.cache_mib`` is set (fetched once, its sha256 checked, then shared
        by every step; see storage.cache). Raises ObjectMissing, StoreUnavailable,
        IntegrityError."""
        name = key.rsplit("/", 1)[-1]
        with ExitStack() as stack:
            try:
                folder = stack.enter_context(work_folder(self.scratch))
                if self.cache is not None and key.startswith("originals/"):
                    sha256 = name.split(".", 1)[0]
                    path = self.cache.get(name, folder, lambda part: self._fetch(key, part, sha256))
                else:
                    path = folder / name
                    self._fetch(key, path)
            except OSError as exc:  # the scratch folder (or its cache) cannot be written
                raise BadInput(f"fetching {self.describe(key)} into {self.scratch}: {exc.strerror or exc}") from None
            yield path

    def _fetch(self, key: str, path: Path, sha256: str | None = None) -> None:
        """Write ``key``'s bytes to ``path``, checking the size (and the sha256, if given)."""
        answer = self._get(key)
        want = int(answer["ContentLength"])
        got, digest = 0, hashlib.sha256() if sha256 else None
        try:
            with open(path, "wb") as out:
                for data in answer["Body"].iter_chunks(self.chunk_size):
                    out.write(data)
                    got += len(data)
                    if digest is not None:
                        digest.update(data)
        except Exception as exc:
            if isinstance(exc, OSError):  # the local disk's: local_file names the scratch folder
                raise
            raise self._error(exc, f"reading {key}", key) from None
        if got != want:
            raise IntegrityError(f"{self.describe(key)}: fetched {got} bytes of {want}")
        if digest is not None and digest.hexdigest() != sha256:
            raise IntegrityError(f"{self.describe(key)}: the fetched bytes do not hash to the key's sha256 "
                                 "(the stored object is corrupt; run `medialib verify`)")  # fmt: skip

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, *, expires: int = 300, content_type: str | None = None,
                      filename: str | None = None, cache_control: str | None = None) -> str:  # fmt: skip
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if cache_control:
            params["ResponseCacheControl"] = cache_control
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return self._call(f"signing a URL for {key}", self.client.generate_presigned_url, ClientMethod="get_object",
                          Params=params, ExpiresIn=expires)  # fmt: skip

    def sweep_temporary(self) -> list[str]:
        """Remove fetched copies and temporary keys of dead writers, and abort their
        incomplete multipart uploads. Returns the names removed."""
        removed = sweep_dead_writers(self.scratch) + sweep_dead_writers(self.scratch / CACHE_FOLDER)
        now = datetime.now(timezone.utc)
        n = len(self.prefix)
        dead = [obj["Key"] for obj in self._list(TMP) if _abandoned(obj["Key"][n:], obj["LastModified"], now)]
        self._delete_keys(dead)
        removed += [k[n + len(TMP):] for k in dead]
        page = self._call("listing incomplete uploads", self.client.list_multipart_uploads, Bucket=self.bucket,
                          Prefix=self.prefix + TMP)  # fmt: skip
        for upload in page.get("Uploads", []) or []:
            if _abandoned(upload["Key"][n:], upload["Initiated"], now):
                self._call("aborting an incomplete upload", self.client.abort_multipart_upload, Bucket=self.bucket,
                           Key=upload["Key"], UploadId=upload["UploadId"])  # fmt: skip
                removed.append(upload["Key"][n + len(TMP):])
        return sorted(set(removed))


def _abandoned(key: str, when: datetime, now: datetime) -> bool:
    """A temporary key whose writer is gone: a dead process of this machine, or older than STALE."""
    match = _TMP_KEY.match(key)
    if match is None:
        return now - when > STALE
    if match["host"] == holders.HOST:
        return not holders.pid_alive(int(match["pid"]))
    return now - when > STALE


class S3PendingPut(CancellableCopy):
    """An upload streamed to a temporary key on its own thread while it is hashed
    (see S3Store.begin_put); :meth:`finish` copies it to its content key."""

    def __init__(self, store: S3Store, source: Path, on_progress: Progress | None,
                 expect: os.stat_result | None) -> None:  # fmt: skip
        super().__init__(on_progress)
        self.store, self.source, self.expect = store, source, expect
        self.tmp = f"{TMP}{holders.me()}-{os.urandom(8).hex()}.part"
        try:
            self._src = open(source, "rb", buffering=0)  # noqa: SIM115 - closed by _wait
        except OSError as exc:
            raise BadInput(f"reading {source}: {exc.strerror}") from None
        self._thread = threading.Thread(target=self._copy, name="ingest-s3", daemon=True)
        self._thread.start()

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the source (less only at its end)."""
        parts, got = [], 0
        while got < n:
            data = self._src.read(min(self.store.chunk_size, n - got))
            if not data:
                break
            parts.append(data)
            got += len(data)
            self._progress(len(data))
        return b"".join(parts)

    def _copy(self) -> None:
        store = self.store
        try:
            before = os.fstat(self._src.fileno())
            if self.expect is not None and _changed(self.expect, before):
                raise BadInput(f"reading {self.source}: the file changed while it was being added")
            whole = hashlib.sha256()
            full = store.prefix + self.tmp
            first = self._read(store.part_size)
            whole.update(first)
            if len(first) < store.part_size:
                store._call(f"uploading {self.source}", store.client.put_object, Bucket=store.bucket, Key=full,
                            Body=first, ChecksumSHA256=_b64(hashlib.sha256(first).digest()))  # fmt: skip
                size = len(first)
            else:
                size = self._multipart(full, first, whole)
            if _changed(before, os.fstat(self._src.fileno())) or size != before.st_size:
                raise BadInput(f"reading {self.source}: the file changed while it was being added")
            self._result = (whole.hexdigest(), size)
        except BaseException as exc:  # handed to finish()
            self._error = exc

    def _multipart(self, full: str, first: bytes, whole: Any) -> int:
        """Upload in parts of ``part_size``: one part in memory at a time."""
        store = self.store
        created = store._call(f"starting the upload of {self.source}", store.client.create_multipart_upload,
                              Bucket=store.bucket, Key=full, ChecksumAlgorithm="SHA256")  # fmt: skip
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            data = first
            while data:
                number = len(parts) + 1
                checksum = _b64(hashlib.sha256(data).digest())
                answer = store._call(f"uploading part {number} of {self.source}", store.client.upload_part,
                                     Bucket=store.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                                     Body=data, ChecksumSHA256=checksum)  # fmt: skip
                parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum})
                size += len(data)
                data = self._read(store.part_size)
                whole.update(data)
            store._call(f"completing the upload of {self.source}", store.client.complete_multipart_upload,
                        Bucket=store.bucket, Key=full, UploadId=upload_id,
                        MultipartUpload={"Parts": parts})  # fmt: skip
        except BaseException:
            try:
                store.client.abort_multipart_upload(Bucket=store.bucket, Key=full, UploadId=upload_id)
            except Exception:  # the server may be down: the next sweep aborts it
                pass
            raise
        return size

    def _wait(self) -> None:
        self._thread.join()
        self._src.close()

    def _drop_tmp(self) -> None:
        try:
            self.store.client.delete_object(Bucket=self.store.bucket, Key=self.store.prefix + self.tmp)
        except Exception:  # the server may be down: the next sweep removes it
            pass

    def finish(self, prefix: str, ext: str, *, mode: int = 0o444, flat: bool = False) -> Stored:
        """Wait for the upload, then copy it on the server to ``prefix/ab/cd/<sha>.<ext>``
        (``prefix/<sha>.<ext>`` if ``flat``) with its sha256 as metadata. An identical object
        already stored is kept and nothing new is stored. Raises IntegrityError when a stored
        object does not check out. ``mode`` is the local store's and means nothing here."""
        store = self.store
        try:
            key, sha, size = self._copied(prefix, ext, flat)
            full = store._key(key)
            existing = store._head(full, key)
            if existing is not None:
                if int(existing["ContentLength"]) != size:
                    raise IntegrityError(f"{store.describe(key)}: stored object has the wrong size; "
                                         "run `medialib verify`")  # fmt: skip
                return Stored(key, sha, size, created=False)
            tmp_head = store._head(store.prefix + self.tmp, key)
            if tmp_head is None or int(tmp_head["ContentLength"]) != size:
                got = None if tmp_head is None else tmp_head["ContentLength"]
                raise IntegrityError(f"storing {self.source}: the server holds {got} bytes of {size}")
            source = {"Bucket": store.bucket, "Key": store.prefix + self.tmp}
            extra = {"Metadata": {"sha256": sha}, "MetadataDirective": "REPLACE"}
            if size <= COPY_LIMIT:
                store._call(f"storing {key}", store.client.copy_object, Bucket=store.bucket, Key=full,
                            CopySource=source, **extra)  # fmt: skip
            else:
                store._call(f"storing {key}", store.client.copy, CopySource=source, Bucket=store.bucket, Key=full,
                            ExtraArgs=extra)  # fmt: skip
            final = store._head(full, key)
            if final is None or int(final["ContentLength"]) != size or final.get("Metadata", {}).get("sha256") != sha:
                store._call(f"deleting {key}", store.client.delete_object, Bucket=store.bucket, Key=full)
                raise IntegrityError(f"{store.describe(key)}: the stored copy does not check out")
            return Stored(key, sha, size, created=True)
        finally:
            self._drop_tmp()

    def abort(self) -> None:
        """Stop uploading (at the next chunk) and remove the temporary key."""
        self._cancel.set()
        try:
            self._wait()
        finally:
            self._drop_tmp()
