"""Who may do what: passwords, API tokens, roles, CSRF tokens, login throttling.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106). API tokens
are random, shown once, and stored as SHA-256 only. People use pages with a
session cookie; machines use the API with `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain_alerts.models import ApiToken, User

_HASHER = PasswordHasher()
#: Shortest password accepted.
MIN_PASSWORD = 10
TOKEN_PREFIX = "cct_"


@functools.cache
def _dummy_hash() -> str:
    """A hash checked when the user does not exist, so both cases take as long: made
    at the first login, not at import (about 0.1 s that every command paid)."""
    return _HASHER.hash("coldchain: no such user")


class Role(StrEnum):
    VIEWER = "viewer"
    """Reads alerts, the fleet and policies; not the audit log; changes nothing."""
    OFFICER = "officer"
    """Hygiene officer: reads, acknowledges and closes alerts."""
    AUDITOR = "auditor"
    """Reads everything, changes nothing."""
    ADMIN = "admin"
    """Everything an officer does, and contacts, policies and users."""


#: Roles allowed to acknowledge and close alerts.
ACTING = frozenset({Role.OFFICER, Role.ADMIN})
#: Roles allowed to read the audit log.
AUDITING = frozenset({Role.AUDITOR, Role.OFFICER, Role.ADMIN})


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
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
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


@dataclass(frozen=True)
class Allowance:
    """How many failed logins are free, and how fast they are forgiven."""

    free: int
    """Failures without any wait; each one beyond waits twice as long as the one before."""
    forgiven_s: float
    """Seconds after which one failure is forgiven."""


#: Per name and address: the officer's own typing mistakes, and an attacker's steady
#: rate once the waits reach a failure's forgiveness: one guess a quarter of an hour.
PER_NAME_AND_ADDRESS = Allowance(free=3, forgiven_s=15 * 60)
#: Per address over all names, against guessing one password for many names: an office
#: behind one address has room for its people's mistakes; a guesser gets one a minute.
PER_ADDRESS = Allowance(free=20, forgiven_s=60)
#: The longest wait, in seconds.
MAX_WAIT_S = 15 * 60
#: Most names and addresses remembered; the longest quiet are forgotten first.
MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class _Failures:
    count: float
    """Failures not yet forgiven, as of `at`."""
    at: float
    """The clock's seconds at the last failure."""
    allowance: Allowance

    @property
    def until(self) -> float:
        """No login before this."""
        beyond = self.count - self.allowance.free
        if beyond <= 0:
            return self.at
        # At most MAX_WAIT_S: bounded before the power, which overflows a float past 2**1023.
        return self.at + 2 ** min(beyond - 1, math.log2(MAX_WAIT_S))

    def forgiven(self, now: float) -> bool:
        return self.plus(0, now).count == 0 and self.until <= now

    def plus(self, failures: float, now: float) -> _Failures:
        forgiven = (now - self.at) / self.allowance.forgiven_s
        return _Failures(max(self.count - forgiven, 0.0) + failures, now, self.allowance)


class LoginThrottle:
    """Slows down password guessing without letting anyone lock a user out.

    Failures count per name and address, and per address over all names. Beyond an
    allowance's free failures, each failure makes the next attempt from there wait
    twice as long as the last (1 s, 2 s, 4 s ... towards MAX_WAIT_S), and failures are
    forgiven one by one as time passes. A name is never locked as such: failures from
    other addresses do not slow down its owner at her own. The client's address is the
    peer's, or what a trusted proxy says (settings.trusted_proxies).

    An attempt counts as a failure from its start, so that attempts made at once cannot
    all pass before the first has failed; a login takes it back, and forgets the
    failures of its name and address (not those of its address over all names).

    Kept in memory: a restart forgets it. Thread-safe; `clock` gives seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[tuple[str, ...], _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, username: str, address: str) -> float:
        """Seconds to wait before `username` may try to log in from `address`, or 0: then
        the attempt may go ahead, and counts as failed until `succeeded`."""
        now = self._clock()
        keys = _keys(username, address)
        with self._lock:
            wait = max(
                (self._failures[k].until - now for k in keys if k in self._failures), default=0.0
            )
            if wait > 0:
                return wait
            for key, allowance in zip(keys, (PER_NAME_AND_ADDRESS, PER_ADDRESS), strict=True):
                before = self._failures.pop(key, None) or _Failures(0.0, now, allowance)
                self._failures[key] = before.plus(1, now)
            self._forget(now)
        return 0.0

    def succeeded(self, username: str, address: str) -> None:
        pair, anywhere = _keys(username, address)
        with self._lock:
            self._failures.pop(pair, None)
            if anywhere in self._failures:
                self._failures[anywhere] = self._failures[anywhere].plus(-1, self._clock())

    def _forget(self, now: float) -> None:
        """Drop the longest quiet failures: all forgiven, or beyond MAX_REMEMBERED."""
        while self._failures:
            oldest = next(iter(self._failures.values()))
            if len(self._failures) <= MAX_REMEMBERED and not oldest.forgiven(now):
                return
            self._failures.popitem(last=False)


def _keys(username: str, address: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    network = _network(address)
    return ("name", username.lower(), network), ("address", network)


#: One IPv6 subscriber gets a /64 or more: its addresses are one place for the throttle.
IPV6_PREFIX = 64


def _network(address: str) -> str:
    """The address as the throttle counts it: an IPv4 address, or its IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_PREFIX}", strict=False))
