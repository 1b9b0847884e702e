"""The one error hierarchy of medialib.

Every error a user can cause or act on is a :class:`MedialibError`. The
interfaces (CLI, web, Python API callers) turn it into a one-line message;
``exit_code`` says which code the CLI uses: 2 for bad input or usage, 1 for a
check or gate that failed.
"""

from __future__ import annotations


class MedialibError(Exception):
    """Base of every error medialib reports to a user."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(MedialibError):
    """A setting is missing, malformed or contradictory."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"configuration error: {key}: {why}")
        self.key = key


class BadInput(MedialibError):
    """An argument or value given by the user is not acceptable."""


class NotFound(BadInput):
    """A named thing (film, cut, file) does not exist."""


class ObjectMissing(NotFound):
    """An object the catalogue records is not in the asset store."""


class StoreUnavailable(MedialibError):
    """The asset store could not be reached, or kept failing."""


class AlreadyExists(BadInput):
    """Creating something that already exists (a slug, a library)."""


class MediaError(BadInput):
    """A media file is not what medialib can accept (not a playable video...)."""


class ToolMissing(MedialibError):
    """An external program (ffmpeg, ffprobe) is not installed."""


class ToolFailed(MedialibError):
    """An external program failed on input that passed validation."""


class CheckFailed(MedialibError):
    """A check ran and found problems (fixity, QC, gates)."""

    exit_code = 1


class IntegrityError(CheckFailed):
    """Stored bytes do not match what was written or recorded."""
