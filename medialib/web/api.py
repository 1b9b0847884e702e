"""The JSON API under /api (OpenAPI at /api/openapi.json). Same services and rules as the pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from medialib.web.auth import Viewer, lib_of, require
from medialib.web.pages import film_for, visible_films

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/me", summary="The signed-in account")
def me(viewer: Viewer = Depends(require())) -> dict[str, Any]:
    return {**viewer.account.as_dict(), "csrf_token": viewer.csrf}


@router.get("/films", summary="Films the viewer may see")
def films(request: Request, viewer: Viewer = Depends(require())) -> list[dict[str, Any]]:
    return visible_films(lib_of(request), viewer)


@router.get("/films/{slug}", summary="One film with its cuts and derivatives")
def film(slug: str, request: Request, viewer: Viewer = Depends(require())) -> dict[str, Any]:
    data = film_for(lib_of(request), viewer, slug)
    # Where files live on the server is nobody's business over HTTP.
    data["derivatives"] = [{k: v for k, v in d.items() if k not in ("path", "storage_key")}
                           for d in data.get("derivatives", [])]  # fmt: skip
    return data


@router.get("/review", summary="The publication gates of every film (staff)")
def review(request: Request, viewer: Viewer = Depends(require("staff"))) -> list[dict[str, Any]]:
    return lib_of(request).review()
