"""Accounts, sessions and the login's defences: argon2 hashes, server-side sessions,
synchroniser CSRF tokens, lockout per account and per address, optional TOTP.

The session is a random value in the one cookie the product sets; the database keeps
only its SHA-256, with the account, the CSRF token and the chosen language. A
session ends after ``IDLE`` without a request, ``LONGEST`` after the login at most,
and at logout; every login makes a new one (no fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kennisbank.server.dashboard.paths import COOKIE, SECURE_COOKIE
from kennisbank.server.db.store import SESSION_IDLE, SESSION_LONGEST, Admin, Session, SubmissionStore, utc_now
from kennisbank.server.settings import RateLimit

IDLE = SESSION_IDLE
LONGEST = SESSION_LONGEST
"""With Secure (HTTPS): the ``__Host-`` prefix binds it to this host and path /."""

hasher = PasswordHasher()  # argon2id with the library's current defaults
_DUMMY = hasher.hash(secrets.token_urlsafe(16))
"""Verified against when the account does not exist: the same work, the same time."""


def hash_password(password: str) -> str:
    if len(password) < 12:
        raise ValueError("the password is shorter than 12 characters. Fix: choose a longer one (a passphrase of several words)")
    return hasher.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_password(admin: Admin | None, password: str) -> bool:
    """Whether ``password`` is the account's; for no account, the same work and ``False``."""
    try:
        return hasher.verify(admin.password if admin else _DUMMY, password) and admin is not None
    except (VerificationError, InvalidHashError):
        return False


def check_totp(admin: Admin, code: str, store) -> bool:
    """Whether ``code`` is the account's current TOTP (a step either side allowed), used once."""
    if not admin.totp_secret:
        return True
    code = "".join(code.split())
    if not code.isdigit():
        return False
    totp = pyotp.TOTP(admin.totp_secret)
    now = utc_now()
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=30 * offset)
        if hmac.compare_digest(totp.at(moment), code):
            return store.use_totp_step(admin.id, totp.timecode(moment))
    return False


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


_ADDRESS_KEY = secrets.token_bytes(32)
"""Per process (SQLite: one process): a failed login's address cannot be recovered from the
database. A store that several processes share has a key of its own in the database
(:func:`~kennisbank.server.db.shared_state.address_key`), so every process hashes an address alike."""


def session_alive(session: Session, now: datetime | None = None) -> bool:
    now = now or utc_now()
    return now - session.last_seen < IDLE and now - session.created_at < LONGEST


@dataclass(frozen=True)
class Lockout:
    """Failed logins per account and per client address in a window.

    An attempt is counted before its password is checked (:meth:`attempt`: count and
    record in one transaction, attempts under the same key taking turns), and its record
    is taken back when the login succeeds (:meth:`succeeded`). So parallel attempts, in
    one process or many, check at most ``limit.count`` passwords per window and key."""

    store: SubmissionStore
    limit: RateLimit

    def keys(self, email: str, address: str | None) -> list[str]:
        """The account's key, and the address's (its IPv6 /64 network, as the rate limit counts)
        as a keyed hash: no IP address is stored."""
        from kennisbank.server.db.shared_state import address_key
        from kennisbank.server.web.ratelimit import client_key

        key = address_key(self.store, _ADDRESS_KEY)
        return [f"account:{email.strip().lower()}", "address:" + hmac.new(key, client_key(address).encode(), "sha256").hexdigest()[:32]]

    def _wait(self, counted: list[list[datetime]], now: datetime) -> int | None:
        waits = []
        for failures in counted:
            if len(failures) >= self.limit.count:
                oldest_counting = failures[-self.limit.count]
                waits.append(max(1, int((oldest_counting + timedelta(seconds=self.limit.seconds) - now).total_seconds())))
        return max(waits) if waits else None

    def attempt(self, keys: list[str]) -> tuple[int | None, datetime]:
        """Count a login attempt under ``keys`` unless one of them is locked: ``(None, at)``
        when counted (``at`` for :meth:`succeeded`), else ``(seconds to wait, at)``, counting nothing.
        Also forgets every failure outside the window."""
        now = utc_now()
        window = timedelta(seconds=self.limit.seconds)
        return self.store.count_login_attempt(keys, now, window, lambda counted: self._wait(counted, now)), now

    def succeeded(self, keys: list[str], at: datetime) -> None:
        """The attempt of :meth:`attempt` at ``at`` was a good login: the account's failures go,
        and this attempt's record under the address (the address's earlier failures stay)."""
        self.store.forget_login_attempt(keys[0], keys[1:], at)

    def forget(self) -> int:
        """Delete every failure outside the window (the address rows' keyed hashes with them); how many."""
        return self.store.forget_login_failures(utc_now() - timedelta(seconds=self.limit.seconds))
