"""What every command shares: the app state, output helpers, shared options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click

from medialib.library import Library


@dataclass
class App:
    """Global options, and the library, opened on first use."""

    config_path: str | None = None
    user: str | None = None
    verbose: bool = False
    quiet: bool = False
    _library: Library | None = field(default=None, repr=False)

    @property
    def library(self) -> Library:
        if self._library is None:
            self._library = Library.open(self.config_path, overrides={"user": self.user})
        return self._library

    def close(self) -> None:
        if self._library is not None:
            self._library.close()


pass_app = click.make_pass_decorator(App)


def json_option(fn: Callable) -> Callable:
    """``--json``: print machine-readable output instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(fn)


def emit_json(data: Any) -> None:
    """JSON on stdout: indented for a person at a terminal, compact (and much
    faster to write) for a program reading a pipe."""
    indent = 2 if is_tty() else None
    click.echo(json.dumps(data, indent=indent, ensure_ascii=False, default=str))


def is_tty(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A rich table on a terminal; tab-separated lines with a header otherwise."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if is_tty():
        from rich.console import Console
        from rich.table import Table

        t = Table(*columns, title=title, header_style="bold")
        for row in cells:
            t.add_row(*row)
        Console().print(t)
    else:
        click.echo("\t".join(columns))
        for row in cells:
            click.echo("\t".join(c.replace("\t", " ").replace("\n", " ") for c in row))


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """Name/value lines for one object."""
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        click.echo(f"{key.ljust(width)}  {'' if value is None else value}")


@contextmanager
def byte_progress(app: App, description: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(on_start, on_progress) callbacks drawing a bar on a terminal, or nothing."""
    if app.quiet or not is_tty(sys.stderr):
        yield (lambda total: None), (lambda n: None)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)  # fmt: skip

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(description, total=None)
        yield (lambda total: bar.update(task, total=total)), (lambda n: bar.advance(task, n))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{int(round((seconds - whole) * 1000)):03d}"


def cut_table(cuts: list[dict[str, Any]]) -> None:
    table(
        ["#", "label", "current", "duration", "size", "video", "audio", "sha256", "uploaded"],
        [
            (c["seq"], c["label"], "*" if c["current"] else "", duration(c["duration"]),
             f"{c['width']}x{c['height']} {c['display_aspect_ratio']}",
             f"{c['video_codec']} {c['frame_rate']:g} fps",
             f"{c['audio_codec']} {c['channels']}ch" if c["audio_codec"] else "none",
             c["sha256"][:16], f"{c['uploaded_at']} by {c['uploaded_by']}")
            for c in cuts
        ],  # fmt: skip
    )
