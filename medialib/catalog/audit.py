"""Writing to the append-only audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from medialib.catalog.models import AuditEvent


def record(session: Session, actor: str, action: str, subject: str, **details: Any) -> AuditEvent:
    """Add one audit event to the caller's transaction.

    ``subject`` names what changed, e.g. ``film:hope-street`` or
    ``cut:hope-street#2``; ``details`` must be JSON-serialisable.
    """
    event = AuditEvent(actor=actor, action=action, subject=subject, details=details)
    session.add(event)
    return event
