"""Admin pages: the publish plan, publish and take-down buttons, user management."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
