"""Staff pages: the film page's player, captions, consent, approval and audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from medialib.web.auth import Viewer

router = APIRouter(include_in_schema=False)


def staff_sections(lib: Any, viewer: Viewer, film: dict[str, Any]) -> dict[str, Any]:
    """Context for _film_staff.html (player, captions, consent, approval, audit)."""
    return {}
