"""Shared fixtures: real ffmpeg clips, real SQLite files, real PostgreSQL.

PostgreSQL tests use the server named by MEDIALIB_TEST_POSTGRES (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), each test in a fresh
schema. They are skipped when no server answers, except under CI=true,
where a missing server is an error: in CI they must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from medialib.cli import main
from medialib.config import DEFAULT_FORMATS
from medialib.library import Library
from medialib.media.ffmpeg import FFmpeg
from medialib.media.samples import make_sample

PG_URL = os.environ.get("MEDIALIB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "not here"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


_PG_PROBLEM = _pg_available()


@pytest.fixture(scope="session")
def ff() -> FFmpeg:
    return FFmpeg(formats=list(DEFAULT_FORMATS))


@dataclass(frozen=True)
class Clips:
    """Small media files made once per test session."""

    dir: Path

    def __getattr__(self, name: str) -> Path:  # clips.video -> dir/video.mp4 etc.
        for candidate in sorted(self.dir.glob(name + ".*")):
            return candidate
        raise AttributeError(name)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, ff: FFmpeg) -> Clips:
    d = tmp_path_factory.mktemp("clips")
    make_sample(ff, d / "video.mp4", duration=2.0, size="160x120")
    make_sample(ff, d / "video2.mp4", duration=3.0, size="160x120", pattern="smptebars")
    make_sample(ff, d / "faststart.mp4", duration=4.0, size="160x120", extra=["-movflags", "+faststart"])
    make_sample(ff, d / "silent.mkv", duration=2.0, size="128x96", audio=None)
    make_sample(ff, d / "anamorphic.mp4", duration=1.0, size="720x576", extra=["-vf", "setsar=64/45"])
    make_sample(ff, d / "upright.mp4", duration=1.0, size="160x96")
    ff.run(["-i", str(d / "upright.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(d / "rotated.mp4")],
           what="rotated clip")  # fmt: skip
    ff.run(["-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(d / "audio.m4a")], what="audio clip")
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", str(d / "still.png")], what="png")
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", str(d / "still.jpg")], what="jpg")
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video, just text renamed\n" * 20)
    (d / "doc.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    data = (d / "video2.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    data = (d / "faststart.mp4").read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(data[: len(data) // 2])
    # A playlist and a concat list pointing at another local file: ffmpeg must
    # never be allowed to follow them.
    secret = d / "secret-target.mp4"
    make_sample(ff, secret, duration=2.0, size="96x64", pattern="rgbtestsrc")
    (d / "playlist.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{secret}\n#EXT-X-ENDLIST\n"
    )
    (d / "list.ffconcat").write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    (d / "concat.mp4").write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    return Clips(d)


# --- databases --------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL for a brand-new PostgreSQL schema, dropped afterwards."""
    if _PG_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_URL}: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable ({_PG_PROBLEM})")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each catalogue test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "medialib.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def lib_dir(tmp_path: Path, db_url: str) -> Path:
    """A fresh library folder whose config.toml names the test database."""
    root = tmp_path / "library"
    root.mkdir()
    (root / "assets").mkdir()
    (root / "captions").mkdir()
    # Only what differs from the defaults, so tests can append [recipes.*] tables.
    (root / "config.toml").write_text(f'database = "{db_url}"\nuser = "tester"\n')
    return root


@pytest.fixture
def lib(lib_dir: Path) -> Iterator[Library]:
    library = Library.open(lib_dir / "config.toml", env={})
    yield library
    library.close()


# --- the command line -------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):  # noqa: ANN201
        import json

        return json.loads(self.out)


def _runner(config_file: Path | None):  # noqa: ANN202
    def run(*args: str, config: bool = True) -> Result:
        argv = (["--config", str(config_file)] if config and config_file else []) + list(args)
        runner = CliRunner()
        with runner.isolation() as (out, err, _):
            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    return run


@pytest.fixture
def cli(lib_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Run `medialib --config <lib>/config.toml ARGS...` in-process through main()."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    return _runner(lib_dir / "config.toml")


@pytest.fixture
def bare_cli(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Run `medialib ARGS...` in-process with no library configured."""
    monkeypatch.delenv("MEDIALIB_CONFIG", raising=False)
    monkeypatch.delenv("MEDIALIB_DATABASE", raising=False)
    return _runner(None)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with (size, mtime_ns): to prove nothing changed."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("medialib.db")
    }


def medialib_cmd() -> list[str]:
    """The real console entry, for tests that need a separate process."""
    exe = shutil.which("medialib", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "medialib"]


@pytest.fixture
def run_medialib(lib_dir: Path):  # noqa: ANN201
    """Run medialib in a separate process (for kill and concurrency tests)."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
        return subprocess.run(
            [*medialib_cmd(), "--config", str(lib_dir / "config.toml"), *args],
            capture_output=True, text=True, env=env, timeout=120, **kwargs,
        )  # fmt: skip

    return run


# --- sources for derivative tests (issue 3) -----------------------------------


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory, ff: FFmpeg) -> dict[str, Path]:
    """The awkward sources a derivative pipeline must handle, a few seconds each."""
    d = tmp_path_factory.mktemp("sources")
    out: dict[str, Path] = {}

    def make(name: str, **kwargs) -> None:
        out[name] = make_sample(ff, d / name, **kwargs)

    make("normal.mp4", duration=4.0, size="640x360")
    make("short.mp4", duration=0.5, size="320x240")
    make("landscape.mp4", duration=3.0, size="640x360")
    ff.run(["-i", str(d / "landscape.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(d / "portrait.mp4")],
           what="portrait clip")  # fmt: skip
    out["portrait.mp4"] = d / "portrait.mp4"  # stored 640x360, shown 360x640
    make("anamorphic.mp4", duration=2.0, size="720x576", extra=["-vf", "setsar=64/45"])
    make("uhd60.mp4", duration=1.0, size="3840x2160", rate=60)
    make("odd.mkv", duration=2.0, size="853x481", pattern="testsrc", vcodec="ffv1")
    make("silent.mp4", duration=2.0, size="320x240", audio=None)
    make("surround.mkv", duration=2.0, size="320x240",
         extra=["-af", "aformat=channel_layouts=5.1", "-ac", "6"])  # fmt: skip
    make("black.mp4", duration=3.0, size="320x240", pattern="color=c=black")
    make("interlaced.mp4", duration=2.0, size="720x576",
         extra=["-flags", "+ildct+ilme", "-top", "1", "-vf", "setfield=tff"])  # fmt: skip
    # variable frame rate: the first second at 30 fps, then every third frame
    ff.run(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3",
            "-vf", r"select=lt(n\,30)+not(mod(n\,3))", "-vsync", "vfr",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "vfr.mkv")],
           what="vfr clip")  # fmt: skip
    out["vfr.mkv"] = d / "vfr.mkv"
    return out
