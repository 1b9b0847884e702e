"""Settings: layered loading, path resolution, clear errors, and the documented file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from medialib import config
from medialib.media import qc, recipes
from medialib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path):
    cfg = config.load(env={}, cwd=tmp_path)
    assert cfg.path is None
    assert cfg.database_url == f"sqlite:///{tmp_path}/medialib.db"
    assert cfg.assets_dir == tmp_path / "assets"
    assert cfg["ffmpeg.formats"] == config.DEFAULT_FORMATS


def test_layers_file_then_env_then_flags(tmp_path):
    lib = tmp_path / "lib"
    write(lib / "config.toml", 'assets = "media"\nuser = "from-file"\n[ingest]\nchunk_mib = 8\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = config.load(lib / "config.toml", env={}, cwd=elsewhere)
    # relative paths in the file resolve against the file's folder, not the cwd
    assert cfg.assets_dir == lib / "media"
    assert cfg.database_url == f"sqlite:///{lib}/medialib.db"
    assert cfg.user == "from-file" and cfg["ingest.chunk_mib"] == 8

    env = {"MEDIALIB_USER": "from-env", "MEDIALIB_INGEST_CHUNK_MIB": "2", "MEDIALIB_ASSETS": "rel"}
    cfg = config.load(lib / "config.toml", env=env, cwd=elsewhere)
    assert cfg.user == "from-env" and cfg["ingest.chunk_mib"] == 2
    assert cfg.assets_dir == elsewhere / "rel"  # env paths resolve against the cwd

    cfg = config.load(lib / "config.toml", env=env, cwd=elsewhere, overrides={"user": "from-flag", "assets": None})
    assert cfg.user == "from-flag" and cfg.assets_dir == elsewhere / "rel"


def test_config_found_by_env_and_cwd(tmp_path):
    write(tmp_path / "a" / "config.toml", 'user = "a"\n')
    write(tmp_path / "b" / "config.toml", 'user = "b"\n')
    assert config.load(env={}, cwd=tmp_path / "a").user == "a"
    assert config.load(env={"MEDIALIB_CONFIG": str(tmp_path / "b" / "config.toml")}, cwd=tmp_path / "a").user == "b"
    assert config.load(tmp_path / "b", env={}, cwd=tmp_path).user == "b"  # a folder means its config.toml


def test_database_url_passes_through(tmp_path):
    write(tmp_path / "config.toml", 'database = "postgresql+psycopg://u@h/db"\n')
    assert config.load(env={}, cwd=tmp_path).database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    "text, message",
    [
        ("nonsense = 1\n", "configuration error: nonsense: unknown setting"),
        ('[ingest]\nchunk_mib = "big"\n', "configuration error: ingest.chunk_mib: expected an integer"),
        ("user = 3\n", "configuration error: user: expected a string"),
        ("[ffmpeg]\nprobe_timeout = -1\n", "configuration error: ffmpeg.probe_timeout: must be positive"),
        ('[ffmpeg]\nformats = ["mov", "hls"]\n', "configuration error: ffmpeg.formats: must not include hls"),
        ('[ffmpeg]\nformats = "mov"\n', "configuration error: ffmpeg.formats: expected a list of strings"),
        ("user = \n", "not valid TOML"),
        ('database = ""\n', "configuration error: database: must not be empty"),
    ],
)
def test_bad_settings_say_which_key(tmp_path, text, message):
    write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as info:
        config.load(env={}, cwd=tmp_path)
    assert message in str(info.value)


def test_bad_env_value(tmp_path):
    with pytest.raises(ConfigError, match="ffmpeg.probe_timeout"):
        config.load(env={"MEDIALIB_FFMPEG_PROBE_TIMEOUT": "soon"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="ffmpeg.formats: must not include concat"):
        config.load(env={"MEDIALIB_FFMPEG_FORMATS": "mov,concat"}, cwd=tmp_path)


def test_bad_config_via_cli(tmp_path, cli):
    bad = write(tmp_path / "bad" / "config.toml", "[ingest]\nchunk_mib = []\n")
    r = cli("--config", str(bad), "film", "list", config=False)
    assert r.code == 2
    assert r.err.strip() == "error: configuration error: ingest.chunk_mib: expected an integer"


def test_repository_config_documents_every_setting():
    """config.toml at the repository root is the generated template: every
    setting, at its default, with its help text."""
    text = (ROOT / "config.toml").read_text()
    assert text == config.render_template()
    for setting in config.SETTINGS:
        if setting.kind == "table":
            assert f"[{setting.key}" in text  # tables are set in the file only
        else:
            assert setting.env_name in text
    for key, help_text in qc.THRESHOLD_HELP.items():
        assert f"\n{key} = " in text and help_text.split(":")[0] in text
    assert config.load(ROOT / "config.toml", env={}).values["user"] == ""


def test_template_round_trips(tmp_path):
    write(tmp_path / "config.toml", config.render_template())
    loaded = config.load(env={}, cwd=tmp_path)
    defaults = config.load(env={}, cwd=tmp_path / "nowhere")
    skip = ("database", "assets", "captions.dir", "publish.target", "recipes", "qc")
    assert {k: v for k, v in loaded.values.items() if k not in skip} == {
        k: v for k, v in defaults.values.items() if k not in skip
    }
    # the tables written out at their defaults mean exactly the defaults
    assert recipes.resolve(loaded["recipes"]) == recipes.resolve(defaults["recipes"])
    assert qc.check_thresholds(loaded["qc"]) == qc.DEFAULT_THRESHOLDS


def test_recipes_layered_over_defaults(tmp_path):
    write(tmp_path / "config.toml", '[recipes.proxy-360]\ncrf = 28\n[recipes.poster]\nenabled = false\n'
                                    '[recipes.proxy-1080]\nkind = "proxy"\nheight = 1080\n')  # fmt: skip
    resolved = recipes.resolve(config.load(env={}, cwd=tmp_path)["recipes"])
    assert resolved["proxy-360"].params["crf"] == 28 and resolved["proxy-360"].params["height"] == 360
    assert "poster" not in resolved and resolved["proxy-1080"].params["height"] == 1080
    default = recipes.resolve(None)
    assert resolved["proxy-720"].hash("x") == default["proxy-720"].hash("x")
    assert resolved["proxy-360"].hash("x") != default["proxy-360"].hash("x")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[recipes.thing]\nkind = "gif"\n', "recipes.thing.kind"),
        ('[recipes.poster]\nformats = ["bmp"]\n', "recipes.poster.formats"),
        ("[recipes.storyboard]\ninterval = 0\n", "recipes.storyboard.interval"),
        ("[recipes.proxy-720]\ncolour = 1\n", "recipes.proxy-720.colour"),
        ('[recipes.analysis2]\nkind = "analysis"\n', "only one recipe of kind 'analysis'"),
        ("[qc]\nblack_start_max = \"long\"\n", "qc.black_start_max"),
        ("[qc]\nnonsense = 1\n", "qc.nonsense"),
        ("recipes = 3\n", "recipes: expected a table"),
    ],
)
def test_bad_recipes_and_thresholds(tmp_path, text, message):
    write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        cfg = config.load(env={}, cwd=tmp_path)
        recipes.resolve(cfg["recipes"])
        qc.check_thresholds(cfg["qc"])


def test_publish_target_and_boolean_settings(tmp_path):
    write(tmp_path / "config.toml", '[publish]\ntarget = "out/site"\npath_style = true\n')
    loaded = config.load(env={}, cwd=tmp_path)
    assert loaded["publish.target"] == (tmp_path / "out" / "site").resolve().as_uri()
    assert loaded["publish.path_style"] is True
    assert config.load(env={"MEDIALIB_PUBLISH_PATH_STYLE": "no"}, cwd=tmp_path)["publish.path_style"] is False
    s3 = config.load(env={"MEDIALIB_PUBLISH_TARGET": "s3://launch/2027"}, cwd=tmp_path)
    assert s3["publish.target"] == "s3://launch/2027"
    with pytest.raises(ConfigError, match="publish.path_style: expected true or false"):
        config.load(env={"MEDIALIB_PUBLISH_PATH_STYLE": "maybe"}, cwd=tmp_path)
    write(tmp_path / "config.toml", '[publish]\npath_style = "yes"\n')
    with pytest.raises(ConfigError, match="publish.path_style: expected true or false"):
        config.load(env={}, cwd=tmp_path)


# --- the [jobs] table (issue 8) -------------------------------------------------


def test_jobs_table_defaults_and_values(tmp_path):
    cfg = config.load(env={}, cwd=tmp_path)
    assert (cfg["jobs.backend"], cfg["jobs.workers"], cfg["jobs.max_attempts"]) == ("local", 0, 3)
    assert cfg["jobs.retry_backoff"] == 5.0 and cfg["jobs.stalled_after"] == 60.0
    write(tmp_path / "config.toml", '[jobs]\nbackend = "procrastinate"\nworkers = 3\nmax_attempts = 5\n'
                                    'retry_backoff = 0.5\nstalled_after = 12\n')  # fmt: skip
    cfg = config.load(env={}, cwd=tmp_path)
    assert cfg["jobs.backend"] == "procrastinate" and cfg["jobs.workers"] == 3 and cfg["jobs.max_attempts"] == 5
    assert cfg["jobs.retry_backoff"] == 0.5 and cfg["jobs.stalled_after"] == 12.0
    env = {"MEDIALIB_JOBS_BACKEND": "local", "MEDIALIB_JOBS_WORKERS": "2"}
    cfg = config.load(env=env, cwd=tmp_path)
    assert cfg["jobs.backend"] == "local" and cfg["jobs.workers"] == 2


def test_old_top_level_jobs_integer_still_read(tmp_path):
    """Libraries made before the [jobs] table have `jobs = N` at the top level."""
    write(tmp_path / "config.toml", 'jobs = 4\nuser = "old"\n')
    cfg = config.load(env={}, cwd=tmp_path)
    assert cfg["jobs.workers"] == 4 and cfg["jobs"] == 4 and cfg["jobs.backend"] == "local"
    assert config.load(env={"MEDIALIB_JOBS": "2"}, cwd=tmp_path)["jobs.workers"] == 2
    # the new variable wins over the old one
    assert config.load(env={"MEDIALIB_JOBS": "2", "MEDIALIB_JOBS_WORKERS": "6"}, cwd=tmp_path)["jobs.workers"] == 6
    assert config.load(env={}, cwd=tmp_path, overrides={"jobs": 7})["jobs.workers"] == 7
    with pytest.raises(ConfigError, match="jobs.workers: 'many' is not valid"):
        config.load(env={"MEDIALIB_JOBS": "many"}, cwd=tmp_path)


@pytest.mark.parametrize("text, message", [
    ('[jobs]\nbackend = "celery"\n', "jobs.backend: must be one of local, procrastinate, not 'celery'"),
    ('[jobs]\nmax_attempts = 0\n', "jobs.max_attempts: must be at least 1"),
    ('[jobs]\nworkers = -1\n', "jobs.workers: must be at least 0"),
    ('jobs = -2\n', "jobs.workers: must be at least 0"),
    ('[storage]\ncache_mib = -1\n', "storage.cache_mib: must be at least 0"),
    ('[storage]\ncache_mib = "lots"\n', "storage.cache_mib: expected an integer"),
    ('[jobs]\nstalled_after = 0\n', "jobs.stalled_after: must be positive"),
    ('[jobs]\nqueue = "x"\n', "jobs.queue: unknown setting"),
])  # fmt: skip
def test_bad_jobs_settings(tmp_path, text, message):
    write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(env={}, cwd=tmp_path)


def test_procrastinate_backend_needs_postgresql(tmp_path, bare_cli):
    write(tmp_path / "config.toml", '[jobs]\nbackend = "procrastinate"\n')
    r = bare_cli("--config", str(tmp_path / "config.toml"), "process")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert r.err.startswith('error: configuration error: jobs.backend: "procrastinate" needs a PostgreSQL database, '
                            "but database is sqlite")  # fmt: skip
    assert "database" in r.err.split("jobs.backend", 1)[1]
