"""Shared fixtures: real ffmpeg clips, real SQLite files, real PostgreSQL.

PostgreSQL tests use the server named by MEDIALIB_TEST_POSTGRES (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), each test in a fresh
schema with a unique name, dropped afterwards. They are skipped when no
server answers, except under CI=true, where a missing server is an error:
in CI they must run. MEDIALIB_TEST_DATABASE (sqlite, postgresql or both)
chooses the engines; see "databases" below.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, event, text

from medialib.catalog import db
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
#
# MEDIALIB_TEST_DATABASE picks the catalogue engine(s) every test library uses:
#   sqlite      SQLite files only
#   postgresql  PostgreSQL only, and only the tests that create a catalogue
#               (the others were run by the SQLite pass); tests about SQLite
#               itself are skipped, saying so
#   both        (the default) each catalogue test once on each engine
# `./dev test` runs a sqlite pass, then a postgresql pass.

ENGINES = {"sqlite": ["sqlite"], "postgresql": ["postgresql"], "both": ["sqlite", "postgresql"]}
TEST_DATABASE = os.environ.get("MEDIALIB_TEST_DATABASE", "").strip().lower() or "both"
if TEST_DATABASE not in ENGINES:
    raise pytest.UsageError(
        f"MEDIALIB_TEST_DATABASE={TEST_DATABASE!r}: expected one of {', '.join(ENGINES)}"
    )
PG_ONLY = TEST_DATABASE == "postgresql"

# The fixtures through which a test gets a catalogue: a test using none of
# them is not run again in the postgresql pass.
DB_FIXTURES = frozenset({"db_url", "empty_db_url", "session_db_url"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; skipped in the postgresql pass"
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"medialib test catalogue: MEDIALIB_TEST_DATABASE={TEST_DATABASE} (PostgreSQL at {PG_URL})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not PG_ONLY:
        return
    keep, drop = [], []
    for item in items:
        (keep if DB_FIXTURES & set(getattr(item, "fixturenames", ())) else drop).append(item)
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"about SQLite itself: {reason}"))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _pg_unavailable() -> None:
    if _PG_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_URL}: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable ({_PG_PROBLEM})")


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


_HEAD_SCRIPT: list[str] = []


def _head_script(admin: Engine) -> list[str]:
    """The SQL that the real migrations run to bring an empty schema to head,
    recorded once per session (in a schema of its own) and replayed for each
    test: one round trip instead of running Alembic for every test."""
    if not _HEAD_SCRIPT:
        with _pg_schema(admin, ready=False) as url:
            engine = db.make_engine(url)
            recorded: list[str] = []

            @event.listens_for(engine, "before_cursor_execute")
            def _record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
                if not statement.lstrip().upper().startswith("SELECT"):
                    assert not parameters, f"a migration statement with parameters: {statement}"
                    recorded.append(statement)

            try:
                db.upgrade(engine)
            finally:
                engine.dispose()
        _HEAD_SCRIPT.extend(recorded)
    return _HEAD_SCRIPT


@contextmanager
def _pg_schema(admin: Engine, *, ready: bool) -> Iterator[str]:
    """A brand-new schema with a unique name (other runs share the server),
    empty or at the newest migration; dropped afterwards."""
    script = _head_script(admin) if ready else []
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        if script:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            conn.exec_driver_sql(";\n".join(script))
    try:
        yield _schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An engine on the test server's database, for creating and dropping schemas."""
    _pg_unavailable()
    admin = create_engine(PG_URL)
    yield admin
    admin.dispose()


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """A SQLAlchemy URL for a brand-new, empty PostgreSQL schema, dropped afterwards."""
    with _pg_schema(pg_admin, ready=False) as url:
        yield url


def _sqlite_url(folder: Path) -> str:
    return "sqlite:///" + str(folder / "medialib.db")


def _pinned(request: pytest.FixtureRequest) -> None:
    """A test may pin itself to SQLite (parametrize db_url with ["sqlite"]); the postgresql pass skips it."""
    if PG_ONLY and request.param == "sqlite":
        pytest.skip("pinned to SQLite by the test (its PostgreSQL side is covered elsewhere)")


def _catalogue(request: pytest.FixtureRequest, folder: Path, *, ready: bool) -> Iterator[str]:
    """A new SQLite file in ``folder``, or a new PostgreSQL schema (at the newest migration if ``ready``)."""
    _pinned(request)
    if request.param == "sqlite":
        yield _sqlite_url(folder)
        return
    with _pg_schema(request.getfixturevalue("pg_admin"), ready=ready) as url:
        yield url


@pytest.fixture(params=ENGINES[TEST_DATABASE])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The catalogue of a test library: a new SQLite file, or a new PostgreSQL
    schema already at the newest migration."""
    yield from _catalogue(request, tmp_path, ready=True)


@pytest.fixture(params=ENGINES[TEST_DATABASE])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty catalogue (no tables): for migrations and `medialib init`."""
    yield from _catalogue(request, tmp_path, ready=False)


@pytest.fixture(scope="session", params=ENGINES[TEST_DATABASE])
def session_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like db_url, for a library shared by a whole session (the browser tests)."""
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path_factory.mktemp("catalogue"))
        return
    with _pg_schema(request.getfixturevalue("pg_admin"), ready=True) as url:
        yield url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


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


def start_while_uncommitted(session, config: Path, *argv: str, stdin: str = "") -> subprocess.Popen[str]:
    """Start ``medialib --config config argv…`` while ``session`` holds an uncommitted
    insert; on PostgreSQL return only once the second process waits on that insert's
    lock (so committing next is the race the caller means to test). SQLite queues
    writers: there the second process simply waits for the write lock."""
    import tempfile
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIALIB_")}
    with tempfile.TemporaryFile("w+") as given:
        given.write(stdin)
        given.seek(0)
        second = subprocess.Popen([*medialib_cmd(), "--config", str(config), *argv], stdin=given,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    if session.get_bind().dialect.name == "sqlite":
        return second
    me = session.execute(text("SELECT pg_backend_pid()")).scalar()
    waiting = text(
        "SELECT count(*) FROM pg_locks w JOIN pg_locks h ON h.transactionid = w.transactionid "
        "WHERE NOT w.granted AND h.granted AND h.pid = :me"
    )
    deadline = time.monotonic() + 120  # a guard against hanging, not a measurement
    with session.get_bind().engine.connect() as watcher:
        while not watcher.execute(waiting, {"me": me}).scalar():
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, f"{' '.join(argv)} never reached its insert"
            watcher.rollback()
            time.sleep(0.05)
    return second


@pytest.fixture
def init_cli(bare_cli, empty_db_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """bare_cli for tests that run `medialib init`. On PostgreSQL, MEDIALIB_DATABASE
    names an empty schema, so init and every later command use it; on SQLite,
    init makes its own medialib.db."""
    if not is_sqlite(empty_db_url):
        monkeypatch.setenv("MEDIALIB_DATABASE", empty_db_url)
    return bare_cli


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


# --- a real S3 server -------------------------------------------------------


@pytest.fixture(scope="module")
def s3():  # noqa: ANN201 - tests.seaweed.SeaweedFS
    """SeaweedFS on loopback, one per test module (its data folder removed after)."""
    from tests.seaweed import SeaweedFS

    server = SeaweedFS().start()
    yield server
    server.stop()


@pytest.fixture
def creds(s3, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """``s3`` with its credentials in the environment, and no AWS or medialib setting that could steer elsewhere."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "MEDIALIB_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    return s3
