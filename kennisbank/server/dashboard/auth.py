"""Accounts, sessions and the login's defences: argon2 hashes, server-side sessions,
synchroniser CSRF tokens, a lockout per account and address pair and per address with a
delay per account, optional TOTP.

The session is a random value in the one cookie the product sets; the database keeps
only its SHA-256, with the account, the CSRF token and the chosen language. A
session ends after ``IDLE`` without a request, ``LONGEST`` after the login at most,
and at logout; every login makes a new one (no fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import math
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


ACCOUNT_DELAY_MAX = 60
"""Seconds at most between two checked passwords of an account from addresses that have failed."""


@dataclass(frozen=True)
class Lockout:
    """Failed logins, counted so that guessing stops and the owner still gets in.

    Three counts in a window of ``limit.seconds`` (each a row per failure):

    - per account and address pair: ``limit.count`` failures, and that address may not try
      that account again until the window has passed;
    - per address (over all accounts): ``limit.count`` failures, and that address waits;
    - per account (over all addresses): from ``limit.count`` failures on, a delay from the
      account's latest failure, doubling with each failure (1 s, 2 s, 4 s, ... at most
      :data:`ACCOUNT_DELAY_MAX`), for attempts from addresses that have failed. An address
      with no failures in the window is not delayed: a correct password (and TOTP) from a
      fresh address gets in however many guesses came from elsewhere, which is what keeps
      the lockout from shutting the owner out (issue 25, finding 5).

    An attempt is counted before its password is checked (:meth:`attempt`: count and
    record in one transaction, attempts under the same key taking turns), and its record
    is taken back when the login succeeds (:meth:`succeeded`). So parallel attempts, in
    one process or many, check at most ``limit.count`` passwords per window, address and
    account, and one per delay from addresses that have failed."""

    store: SubmissionStore
    limit: RateLimit

    def keys(self, email: str, address: str | None) -> list[str]:
        """The account's key, the address's (its IPv6 /64 network, as the rate limit counts) and
        the pair's, the last two as keyed hashes: no IP address is stored."""
        from kennisbank.server.db.shared_state import address_key
        from kennisbank.server.web.ratelimit import client_key

        key = address_key(self.store, _ADDRESS_KEY)
        account = email.strip().lower()
        network = client_key(address)
        return [
            f"account:{account}",
            "address:" + hmac.new(key, network.encode(), "sha256").hexdigest()[:32],
            "pair:" + hmac.new(key, f"{account}\n{network}".encode(), "sha256").hexdigest()[:32],
        ]

    def wait(self, counted: list[list[datetime]], now: datetime) -> int | None:
        """Seconds to wait, or ``None`` to go on, given the failures (oldest first) under the
        account, the address and the pair of :meth:`keys`."""
        account, address, pair = counted
        waits = []
        for failures in (address, pair):  # shut, for the window, where the guessing comes from
            if len(failures) >= self.limit.count:
                oldest_counting = failures[-self.limit.count]
                waits.append((oldest_counting + timedelta(seconds=self.limit.seconds) - now).total_seconds())
        if address and len(account) >= self.limit.count:  # slowed, for addresses that have failed
            delay = min(ACCOUNT_DELAY_MAX, 2 ** min(len(account) - self.limit.count, 16))
            waits.append((account[-1] + timedelta(seconds=delay) - now).total_seconds())
        waits = [wait for wait in waits if wait > 0]
        return max(1, math.ceil(max(waits))) if waits else None

    def attempt(self, keys: list[str]) -> tuple[int | None, datetime]:
        """Count a login attempt under ``keys`` unless it must wait: ``(None, at)``
        when counted (``at`` for :meth:`succeeded`), else ``(seconds to wait, at)``, counting nothing.
        Also forgets every failure outside the window."""
        now = utc_now()
        window = timedelta(seconds=self.limit.seconds)
        return self.store.count_login_attempt(keys, now, window, lambda counted: self.wait(counted, now)), now

    def succeeded(self, keys: list[str], at: datetime) -> None:
        """The attempt of :meth:`attempt` at ``at`` was a good login: the account's failures go (its
        delay with them), and this attempt's record under the address and the pair (the
        address's earlier failures stay: they may be guesses at other accounts)."""
        self.store.forget_login_attempt(keys[0], keys[1:], at)

    def forget(self) -> int:
        """Delete every failure outside the window (the keyed hashes with them); how many."""
        return self.store.forget_login_failures(utc_now() - timedelta(seconds=self.limit.seconds))
