"""The asset store: where originals, derivatives and consent forms live.

Two backends implement :class:`Store`: a local folder (:class:`~medialib.storage.local.LocalStore`,
the embedded default) and an S3 bucket (:class:`~medialib.storage.s3.S3Store`,
``storage.backend = "s3"``). Keys are generated (content hashes, recipe names), never
taken from an uploaded file name. Callers never build a path from a key: they ask the
store for a local file (``with store.local_file(key) as path:``), its size, its hash.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from medialib.storage.local import LocalStore, Progress, Stored, work_folder

__all__ = ["Store", "PendingWrite", "Stored", "Progress", "open_store", "work_folder"]


class PendingWrite(Protocol):
    """An upload being copied into the store while it is hashed (see Store.begin_put)."""

    def finish(self, prefix: str, ext: str, *, flat: bool = False) -> Stored: ...

    def abort(self) -> None: ...


class Store(Protocol):
    """What callers may ask of an asset store, whichever the backend."""

    @property
    def tmp_dir(self) -> Path:
        """A local folder for work files (ffmpeg outputs, web uploads, fetched copies)."""
        ...

    def describe(self, key: str) -> str:
        """Where ``key`` lives, for messages and listings (a path or an s3:// URL)."""
        ...

    def begin_put(self, source: Path, *, on_progress: Progress | None = None,
                  expect: os.stat_result | None = None) -> PendingWrite:  # fmt: skip
        """Start storing ``source`` under its content hash (originals)."""
        ...

    def put_file(self, source: Path, prefix: str, ext: str, *, on_progress: Progress | None = None,
                 expect: os.stat_result | None = None, flat: bool = False) -> Stored:  # fmt: skip
        ...

    def put_private(self, source: Path, prefix: str, ext: str) -> Stored:
        """Store a private file (a consent form) as ``<prefix>/<sha256>.<ext>``."""
        ...

    def put_derived(self, path: Path, key: str, *, sha256: str | None = None) -> None:
        """Put a finished derivative file under ``key``; the local file is consumed.
        ``sha256``: its hash when the caller has it already (else the store hashes it if it needs to)."""
        ...

    def remove(self, key: str) -> None: ...

    def remove_tree(self, key: str) -> None:
        """Remove everything under the folder ``key`` (a superseded recipe's outputs)."""
        ...

    def iter_keys(self, prefix: str) -> Iterator[str]: ...

    def size(self, key: str) -> int | None:
        """The stored size of ``key``, or None when nothing is stored there."""
        ...

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every key stored under the folder ``prefix`` with its size: one listing (on S3,
        a LIST per 1,000 keys instead of a HEAD per key)."""
        ...

    def hash_file(self, key: str, on_progress: Progress | None = None) -> tuple[str, int]:
        """Re-read a stored object: (sha256, size)."""
        ...

    def sweep_temporary(self) -> list[str]:
        """Remove what dead writers left behind; returns the names removed."""
        ...

    def local_file(self, key: str) -> AbstractContextManager[Path]:
        """A local file holding ``key``'s bytes for the duration of the ``with`` block."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file itself when the store is a local folder (served in place), else None."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """A small object's bytes (a WebVTT track)."""
        ...

    def presigned_url(self, key: str, *, expires: int = 300, content_type: str | None = None,
                      filename: str | None = None, cache_control: str | None = None) -> str | None:  # fmt: skip
        """A short-lived URL a browser can GET ``key`` from, or None (a local store)."""
        ...


def open_store(cfg: Any) -> Store:
    """The asset store the settings describe. Raises ConfigError."""
    chunk = cfg["ingest.chunk_mib"] << 20
    if cfg["storage.backend"] == "s3":
        from medialib.storage.s3 import S3Store

        return S3Store.from_config(cfg)
    return LocalStore(cfg.assets_dir, chunk_size=chunk)
