"""Checks and parsers for values users type: slugs, languages, times. Pure."""

from __future__ import annotations

import re
from datetime import datetime, time, timezone

from medialib.errors import BadInput

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 80
LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def slug(value: str) -> str:
    """A film slug: lowercase letters, digits and single hyphens, at most 80 characters."""
    if not SLUG_RE.match(value) or len(value) > SLUG_MAX:
        raise BadInput(
            f"invalid slug {value!r}: use lowercase letters, digits and single hyphens "
            f"(like 'hope-street'), at most {SLUG_MAX} characters"
        )
    if value in RESERVED_SLUGS:
        raise BadInput(f"invalid slug {value!r}: reserved (the web app's page for a new film); choose another")
    return value


RESERVED_SLUGS = frozenset({"new"})


def language(value: str) -> str:
    """A BCP 47 language tag such as 'en', 'cy' or 'pt-BR', normalised in case."""
    if not LANG_RE.match(value):
        raise BadInput(f"invalid language code {value!r}: use a BCP 47 tag such as 'en', 'gd' or 'pt-BR'")
    head, *rest = value.split("-")
    parts = [head.lower()] + [p.upper() if len(p) == 2 else p.lower() for p in rest]
    return "-".join(parts)


def timestamp(value: str, what: str = "--publish-at") -> datetime:
    """Parse an ISO 8601 date or date-time; a time without a zone is taken as UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(0))
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{what}: {value!r} is not an ISO 8601 date or time (e.g. 2026-12-01 or 2026-12-01T09:00:00+00:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def text(value: str, what: str, max_len: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise BadInput(f"{what} must not be empty")
    if len(value) > max_len:
        raise BadInput(f"{what} is too long ({len(value)} characters, at most {max_len})")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise BadInput(f"{what} contains control characters")
    return value


def timecode(value: str, what: str = "--poster-at") -> float:
    """Seconds from 'HH:MM:SS(.mmm)', 'MM:SS(.mmm)' or plain seconds."""
    text = value.strip()
    try:
        parts = [float(p) for p in text.split(":")]
        if not 1 <= len(parts) <= 3 or any(p < 0 or p != p for p in parts):
            raise ValueError
        if any(p >= 60 for p in parts[1:]):
            raise ValueError
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
    except ValueError:
        raise BadInput(f"{what}: {value!r} is not a time such as 00:01:12, 1:12.5 or 72") from None
    return round(seconds, 3)
