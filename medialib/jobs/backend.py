"""Which job backend a library uses, checked without importing procrastinate.

``jobs.backend = "local"`` (the default) runs derivative jobs in the process
that asks for them (medialib.jobs.process). ``"procrastinate"`` puts them in a
PostgreSQL queue (medialib.jobs.queue) that ``medialib worker`` processes run;
that needs the catalogue itself to be on PostgreSQL, because the queue lives in
the same database (jobs are enqueued in the catalogue's transaction).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from medialib.errors import ConfigError


def uses_queue(cfg) -> bool:  # noqa: ANN001 - a medialib.config.Config
    """True when jobs go through the procrastinate queue (and the database is fit for it)."""
    if cfg["jobs.backend"] != "procrastinate":
        return False
    require_postgres(cfg)
    return True


def require_postgres(cfg) -> None:  # noqa: ANN001
    """ConfigError unless the catalogue is PostgreSQL, naming both settings."""
    url = make_url(cfg.database_url)
    if url.get_backend_name() != "postgresql":
        shown = url.database if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)
        raise ConfigError(
            "jobs.backend",
            f'"procrastinate" needs a PostgreSQL database, but database is {url.get_backend_name()} '
            f"({shown}); set database = \"postgresql+psycopg://…\" or jobs.backend = \"local\"",
        )


def require_queue(cfg, command: str) -> None:  # noqa: ANN001
    """ConfigError unless jobs go through the procrastinate queue on PostgreSQL (``command``:
    the CLI command that needs it, for the message)."""
    backend = cfg["jobs.backend"]
    if backend != "procrastinate":
        raise ConfigError("jobs.backend", f'is "{backend}": `medialib {command}` needs "procrastinate" '
                          '(with "local", jobs run inside `medialib process`)')  # fmt: skip
    require_postgres(cfg)
