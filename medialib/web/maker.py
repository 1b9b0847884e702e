"""Film-maker pages: register a film, upload cuts and captions, follow processing and QC."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from medialib.web.auth import Viewer

router = APIRouter(include_in_schema=False)


def maker_sections(lib: Any, viewer: Viewer, film: dict[str, Any]) -> dict[str, Any]:
    """Context for _film_maker.html (processing status, QC, upload forms)."""
    return {}
