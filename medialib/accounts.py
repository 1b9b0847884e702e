"""Accounts of the web app: users with a role, argon2 password hashes, server-side sessions.

A session is a random token in an HttpOnly cookie; the catalogue keeps only
its SHA-256, with the user, a CSRF token and an expiry, so signing out or
disabling a user ends the session at once. Nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from medialib.catalog import audit
from medialib.catalog.db import add_unique, utcnow
from medialib.catalog.models import User, WebSession
from medialib.errors import BadInput, NotFound

ROLES = ("film-maker", "staff", "admin")
RANK = {"film-maker": 0, "staff": 1, "admin": 2}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10


def _hasher():  # noqa: ANN202 - argon2.PasswordHasher, imported on first use
    from argon2 import PasswordHasher

    return PasswordHasher()


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise BadInput(f"user name {name!r}: 2-40 lower-case letters, digits, '.', '_' or '-', starting with a "
                       "letter or digit")  # fmt: skip
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInput(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"the password is too short (at least {MIN_PASSWORD} characters)")
    if len(password) > 1000:
        raise BadInput("the password is too long (at most 1000 characters)")
    return password


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role}


def _account(user: User) -> Account:
    return Account(user.id, user.name, user.role)


def add_user(session: Session, actor: str, name: str, role: str, password: str) -> Account:
    name, role = check_name(name), check_role(role)
    check_password(password)
    user = User(name=name, role=role, password_hash=_hasher().hash(password))
    add_unique(session, user, select(User).where(User.name == name), f"user {name!r}")
    audit.record(session, actor, "user.add", f"user:{name}", role=role)
    return _account(user)


def list_users(session: Session) -> list[dict[str, object]]:
    return [{"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled_at is not None,
             "created_at": u.created_at} for u in session.scalars(select(User).order_by(User.name))]  # fmt: skip


def get_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == check_name(name))).first()
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def set_role(session: Session, actor: str, name: str, role: str) -> Account:
    user = get_user(session, name)
    user.role = check_role(role)
    audit.record(session, actor, "user.role", f"user:{name}", role=role)
    return _account(user)


def disable_user(session: Session, actor: str, name: str) -> Account:
    user = get_user(session, name)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        audit.record(session, actor, "user.disable", f"user:{name}")
    return _account(user)


# A hash to verify against when the name is unknown, so both cases take as long.
_DUMMY: list[str] = []


def authenticate(session: Session, name: str, password: str) -> Account | None:
    """The account if ``name`` and ``password`` match an enabled user; None otherwise (never says which)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    user = session.scalars(select(User).where(User.name == (name or "").strip())).first()
    if user is None or user.disabled_at is not None:
        if not _DUMMY:
            _DUMMY.append(hasher.hash(secrets.token_hex(8)))
        try:
            hasher.verify(_DUMMY[0], password or "x")
        except (VerificationError, InvalidHashError):
            pass
        return None
    try:
        hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return _account(user)


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, account: Account, lifetime: timedelta) -> tuple[str, str]:
    """A new session: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(WebSession(id=_token_id(token), user_id=account.id, csrf_token=csrf,
                           expires_at=utcnow() + lifetime))  # fmt: skip
    return token, csrf


def resume(session: Session, token: str | None, now: datetime | None = None) -> tuple[Account, str] | None:
    """(account, CSRF token) of a live session; None if unknown, expired or the user is disabled."""
    if not token or len(token) > 200:
        return None
    row = session.get(WebSession, _token_id(token))
    if row is None or row.expires_at <= (now or utcnow()) or row.user.disabled_at is not None:
        return None
    return _account(row.user), row.csrf_token


def end_session(session: Session, token: str | None) -> None:
    if token and len(token) <= 200:
        session.execute(delete(WebSession).where(WebSession.id == _token_id(token)))


def purge_expired(session: Session) -> int:
    return session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow())).rowcount or 0
