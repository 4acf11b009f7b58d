"""Who may do what: passwords, API tokens, roles, CSRF tokens, login throttling.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106). API tokens
are random, shown once, and stored as SHA-256 only. People use pages with a
session cookie; machines use the API with `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain_alerts.models import ApiToken, User

_HASHER = PasswordHasher()
#: A hash checked when the user does not exist, so both cases take as long.
_DUMMY_HASH = _HASHER.hash("coldchain: no such user")
#: Shortest password accepted.
MIN_PASSWORD = 10
TOKEN_PREFIX = "cct_"


class Role(StrEnum):
    OFFICER = "officer"
    """Hygiene officer: reads, acknowledges and closes alerts."""
    AUDITOR = "auditor"
    """Reads everything, changes nothing."""
    ADMIN = "admin"
    """Everything an officer does, and contacts, policies and users."""


#: Roles allowed to acknowledge and close alerts.
ACTING = frozenset({Role.OFFICER, Role.ADMIN})


class PasswordTooShort(ValueError):
    def __init__(self) -> None:
        super().__init__(f"a password needs at least {MIN_PASSWORD} characters")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PasswordTooShort
    return _HASHER.hash(password)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (same time either way)."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active or user.password_hash is None:
        return None
    return user


def new_token() -> tuple[str, str]:
    """A new API token and the SHA-256 (hex) to store for it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(session: Session, token: str) -> User | None:
    """The active user an unrevoked token belongs to, or None."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == token_digest(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user


def csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and secrets.compare_digest(str(expected), str(given))


class LoginThrottle:
    """Refuses logins for a name or an address after too many failures in a window.

    Kept in memory: a restart forgets it, which costs an attacker a restart per
    `failures` guesses. Thread-safe.
    """

    def __init__(self, failures: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.failures = failures
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: list[str], now: datetime | None = None) -> int:
        """Seconds until a login for any of `keys` is allowed again; 0 if it is now."""
        now = now or datetime.now(UTC)
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self.failures:
                    wait = max(wait, (recent[0] + self.window - now).total_seconds())
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, keys: list[str], now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        recent = self._seen.setdefault(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent
