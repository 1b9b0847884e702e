"""The command line as a whole: help everywhere, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from medialib.cli import cli as root_group

ROOT = Path(__file__).resolve().parents[1]


def all_commands(group: click.Group = root_group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


COMMANDS = [" ".join(path) for path, _ in all_commands()]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_documented(bare_cli, command):
    r = bare_cli(*command.split(), "--help")
    assert r.code == 0, r.err
    assert "Usage: medialib " + command in r.out
    _path, cmd = next((p, c) for p, c in all_commands() if " ".join(p) == command)
    assert cmd.help and len(cmd.help.strip()) > 20, f"{command} needs a real help text"
    readme = (ROOT / "README.md").read_text()
    assert f"medialib {command}" in readme, f"`medialib {command}` is not in README.md"


def test_usage_errors_are_one_line(cli):
    for args in (["film", "add", "x"], ["nope"], ["cut", "add"], ["film", "list", "--bogus"]):
        r = cli(*args)
        assert r.code == 2
        assert r.err.count("\n") == 1 and r.err.startswith("error: "), r.err


def test_version(bare_cli):
    r = bare_cli("--version")
    assert r.code == 0 and "medialib" in r.out


def test_internal_errors_are_one_line_without_traceback(cli, monkeypatch):
    from medialib.library import Library

    def broken(self):  # a fault injected to check the last-resort handler
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Library, "films", broken)
    r = cli("film", "list")
    assert r.code == 3
    assert r.err.strip() == "error: internal error: RuntimeError: disk on fire (run with -v for the traceback)"
    r = cli("-v", "film", "list")
    assert "Traceback" in r.err


def test_verbose_shows_traceback_for_user_errors(cli):
    r = cli("-v", "film", "show", "ghost")
    assert r.code == 2 and "Traceback" in r.err and r.err.strip().endswith("error: unknown film 'ghost' (see `medialib film list`)")
