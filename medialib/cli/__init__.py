"""The ``medialib`` command line: click commands over the library API.

``main()`` is the one place that turns a MedialibError into
``error: <message>`` on stderr and an exit code: 2 for bad input or usage,
1 for a check that failed. Tracebacks only with ``-v``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback

import click

from medialib import __version__
from medialib.cli.common import App
from medialib.errors import MedialibError

EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

_state = {"verbose": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", metavar="PATH", envvar="MEDIALIB_CONFIG",
              help="The library's config.toml (default: ./config.toml, or $MEDIALIB_CONFIG).")
@click.option("--user", metavar="NAME", help="Who is acting, for the audit log (default: setting 'user', else the login name).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug output, including every ffmpeg command, and show tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.version_option(__version__, prog_name="medialib")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, user: str | None, verbose: bool, quiet: bool) -> None:
    """medialib: catalogue films and their cuts, keep them intact, and (later) publish them.

    Run `medialib init` to create a library, then `medialib film add` and
    `medialib cut add`. Settings come from config.toml, MEDIALIB_* variables
    and these options, in that order.
    """
    _state["verbose"] = verbose
    app = App(config_path=config_path, user=user, verbose=verbose, quiet=quiet)
    ctx.obj = app
    ctx.call_on_close(app.close)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
        logger = logging.getLogger("medialib")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        ctx.call_on_close(lambda: logger.removeHandler(handler))


def _register() -> None:
    from medialib.cli import (appearance, captions, consent, cut, db, demo, film, init, jobs, log, person,
                              process, publish, qc, review, serve, user, verify, worker)  # fmt: skip

    for module in (init, film, cut, process, qc, captions, person, consent, appearance, verify, log, db, demo,
                   publish, user, serve, worker, jobs):  # fmt: skip
        cli.add_command(module.command)
    cli.add_command(publish.takedown)
    cli.add_command(review.review)
    cli.add_command(review.approve)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    # The modules are loaded: keep the cyclic garbage collector from walking their
    # objects again and again while a command runs (a command is one short process).
    gc.freeze()
    try:
        cli.main(args=argv, prog_name="medialib", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except MedialibError as exc:
        if _state["verbose"]:
            traceback.print_exc()
        click.echo(f"error: {exc.message}", err=True)
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout went away (e.g. `| head`): be quiet about it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: say so in one line unless asked for more
        if _state["verbose"]:
            traceback.print_exc()
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True)
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())
