"""Fixity: re-hash every stored original and compare it with the catalogue."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from medialib.ingest.stages import ORIGINALS
from medialib.storage import Progress, Store


@dataclass
class FixityReport:
    checked: int = 0
    bytes: int = 0
    missing: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    removed_temporary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.untracked)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bytes": self.bytes,
            "missing": self.missing,
            "changed": self.changed,
            "untracked": self.untracked,
            "removed_temporary": self.removed_temporary,
        }


def verify_originals(
    store: Store,
    recorded: Iterable[tuple[str, str, int]],
    *,
    on_progress: Progress | None = None,
    threads: int = 2,
) -> FixityReport:
    """Check each recorded (key, sha256, size): present, same size, same hash.

    Files under originals/ that the catalogue does not know are reported as
    untracked. Leftover temporary files of dead writers are removed and listed.
    """
    report = FixityReport()
    report.removed_temporary = store.sweep_temporary()
    expected = {key: (sha, size) for key, sha, size in recorded}

    present = []
    for key, (sha, size) in expected.items():
        if store.size(key) is None:
            report.missing.append({"key": key, "sha256": sha})
        else:
            present.append(key)

    def check(key: str) -> tuple[str, str, int]:
        sha, size = store.hash_file(key, on_progress)
        return key, sha, size

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for key, sha, size in pool.map(check, present):
            want_sha, want_size = expected[key]
            report.checked += 1
            report.bytes += size
            if sha != want_sha or size != want_size:
                report.changed.append(
                    {"key": key, "expected_sha256": want_sha, "actual_sha256": sha,
                     "expected_size": want_size, "actual_size": size}
                )  # fmt: skip

    report.untracked = sorted(k for k in store.iter_keys(ORIGINALS) if k not in expected)
    return report
