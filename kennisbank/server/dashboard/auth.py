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

from ..settings import RateLimit
from ..store import SESSION_IDLE, SESSION_LONGEST, Admin, Session, utc_now

IDLE = SESSION_IDLE
LONGEST = SESSION_LONGEST
COOKIE = "kb-beheer"
SECURE_COOKIE = "__Host-" + COOKIE
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
(:func:`~..shared_state.address_key`), so every process hashes an address alike."""


def session_alive(session: Session, now: datetime | None = None) -> bool:
    now = now or utc_now()
    return now - session.last_seen < IDLE and now - session.created_at < LONGEST


@dataclass(frozen=True)
class Lockout:
    """Failed logins per account and per client address in a window; :meth:`wait` says how long is left."""

    store: object
    limit: RateLimit

    def keys(self, email: str, address: str | None) -> list[str]:
        """The account's key, and the address's as a keyed hash: no IP address is stored."""
        from ..shared_state import address_key

        key = address_key(self.store, _ADDRESS_KEY)
        return [f"account:{email.strip().lower()}", "address:" + hmac.new(key, (address or "unknown").encode(), "sha256").hexdigest()[:32]]

    def wait(self, keys: list[str]) -> int | None:
        """Seconds until a login may be tried again under ``keys``, or ``None``: now."""
        now = utc_now()
        since = now - timedelta(seconds=self.limit.seconds)
        waits = []
        for key in keys:
            failures = self.store.login_failures(key, since)
            if len(failures) >= self.limit.count:
                oldest_counting = failures[-self.limit.count]
                waits.append(max(1, int((oldest_counting + timedelta(seconds=self.limit.seconds) - now).total_seconds())))
        return max(waits) if waits else None

    def failed(self, keys: list[str]) -> None:
        self.store.login_failed(keys, forget_before=utc_now() - timedelta(seconds=self.limit.seconds))

    def succeeded(self, keys: list[str]) -> None:
        self.store.clear_login_failures(keys[0])  # the account's; the address's count stays
