"""What the server processes share through PostgreSQL, so that N workers (``kennisbank
serve --workers N``) or two instances behind one proxy behave as one.

- The rate limit: :class:`SharedRateLimiter`, the same sliding window as the in-memory
  :class:`~kennisbank.server.web.ratelimit.RateLimiter`, kept in the table ``rate_limit_hits``. A row holds no address: only a keyed hash of the client's key (HMAC-SHA256
  under a secret kept in the database, so every process hashes alike and the database
  alone cannot give the address back) and the moment. A client's rows older than the
  window go at its next submission, and everybody's every ``seconds`` (a sweeping thread
  in each process): nothing stays longer than twice the window. The table is ``UNLOGGED``: it
  is not written to PostgreSQL's log, so no replica or log archive keeps it, and a
  database crash empties it (the limit then starts counting again).
- The login lockout's address key (:func:`address_key`): the same secret, so a failed
  login counts against its address whichever process took it.
- The outbox worker's lock: a session advisory lock, held on a connection of its own
  (:meth:`SubmissionStore.side_connection`) while the worker runs; PostgreSQL releases it
  when the connection ends, however the worker ends (a SIGKILL too). How the worker
  waits for it and watches it is the outbox's (:mod:`kennisbank.server.outbox.locks`).

Sessions and the login failures are rows of the database already: every process reads
the same ones. The SQL of all this is the store's (:mod:`.dialects`); here is what is done with it.

The window is counted on the database's clock, one clock for every process and machine.
Checking and recording a submission is one call of the SQL function ``rate_limit_hit``
(one round trip), which takes a transaction-scoped advisory lock on the client's hash:
two processes recording the same client at once take turns, so the limit holds exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from typing import Any

from kennisbank.server.db.dialects import SIDE_TIMEOUT
from kennisbank.server.db.store import SubmissionStore

log = logging.getLogger("kennisbank.server")

__all__ = ["SharedRateLimiter", "Unavailable", "address_key", "check_connection_budget", "database_secret"]

ROTATION = 86400
"""Seconds one client key is used for (a day, from midnight UTC on each process's clock: processes
whose clocks differ by seconds hash apart for those seconds only). The next period has a new key
and the old one is deleted, so a hash stored under it can no longer be tried against addresses.
A client's count starts afresh then: at most twice its limit, once a day."""
TIMEOUT = SIDE_TIMEOUT
"""Seconds the rate limit waits for the database (to connect, or for a query) before it gives up with 503."""


class Unavailable(Exception):
    """The database the limit is counted in did not answer within :data:`TIMEOUT`."""


_secrets: dict[tuple[int, int], bytes] = {}
_secrets_lock = threading.Lock()


def current_period() -> int:
    """The number of the key period now (:data:`ROTATION` seconds each, counted from the epoch)."""
    return int(time.time() // ROTATION)


def database_secret(store: SubmissionStore, period: int | None = None, read: Any = None) -> bytes:
    """The database's key of ``period`` (default: now) for hashing client addresses: made by
    whichever process comes first, the same for every process after. Kept in the UNLOGGED
    table ``client_keys`` (not in the log, on no replica, left out by
    ``pg_dump --no-unlogged-table-data``); the keys of earlier periods are deleted then.
    ``read``: how to read it (default: ``store.client_key``, on a pooled connection)."""
    period = current_period() if period is None else period
    with _secrets_lock:
        found = _secrets.get((id(store), period))
        if found is None:
            found = (read or store.client_key)(period)
            for stale in [cached for cached in _secrets if cached[0] == id(store) and cached[1] < period]:
                del _secrets[stale]
            _secrets[(id(store), period)] = found
        return found


def address_key(store: SubmissionStore, fallback: bytes) -> bytes:
    """The key the login lockout hashes addresses with: the database's with a shared store,
    else ``fallback`` (one process: its own random key)."""
    return database_secret(store) if store.shared else fallback


class SharedRateLimiter:
    """At most ``count`` submissions per ``seconds`` per client, counted in the database.

    The interface of :class:`~kennisbank.server.web.ratelimit.RateLimiter`: :meth:`wait` asks,
    :meth:`hit` records. Each is one short query on a connection of the limiter's own (not the
    pool's, which the threads writing submissions may hold). Each may block for up to
    :data:`TIMEOUT` (``blocking``): the receiver calls them in a thread, never on its event
    loop. A database that does not answer within :data:`TIMEOUT` raises :class:`Unavailable`
    (the receiver replies 503), whether it refuses connections, is gone from the network or
    has a lock held."""

    blocking = True

    def __init__(self, store: SubmissionStore, count: int, seconds: float, *, sweep: bool = True):
        self.store = store
        self.count = count
        self.seconds = seconds
        database_secret(store)  # made now: a database that is away shows at start-up
        self._stop = threading.Event()
        self._connection: Any = None
        self._lock = threading.Lock()
        if sweep:  # also while no submission comes in: nothing stays longer than twice the window
            threading.Thread(target=self._sweep_regularly, name="rate-limit-sweep", daemon=True).start()

    def _sweep_regularly(self) -> None:
        while not self._stop.wait(self.seconds):
            if self.store.closed:  # the app stopped and closed its store: so does the limiter
                self.close()
                return
            try:
                self.sweep()
            except Exception as exc:  # the database is away for a moment
                log.warning("the rate limit's old entries could not be deleted (%s); trying again in %g s", exc, self.seconds)

    def close(self) -> None:
        """Stop the sweeping thread and close the connection."""
        self._stop.set()
        with self._lock:
            self._disconnect()

    def wait(self, key: str) -> int | None:
        """``None`` if ``key`` may submit now, else the seconds to wait; records nothing."""
        return self._call(False, key)

    def hit(self, key: str) -> int | None:
        """Record one submission from ``key``; ``None`` if allowed, else the seconds to wait."""
        return self._call(True, key)

    def _call(self, recording: bool, key: str) -> int | None:
        # the calls take turns on the one connection; one that waits longer than a query may take gives up
        if not self._lock.acquire(timeout=TIMEOUT):
            raise Unavailable(f"the rate limit's database did not answer within {TIMEOUT:g} s")
        try:
            for attempt in range(2):
                fresh = self._connection is None or self._connection.closed
                try:
                    if fresh:
                        self._connection = self.store.side_connection()
                    # the key of a new period is read on this connection too: it gives up within TIMEOUT
                    secret = database_secret(self.store, read=self._connection.client_key)
                    client = hmac.new(secret, key.encode(), hashlib.sha256).digest()
                    wait = self._connection.rate_limit(recording, client, self.count, self.seconds)
                    break
                except Exception as exc:
                    self._disconnect()
                    if attempt or fresh:  # a connection broken by a restart is tried once more, on a new one
                        raise Unavailable(f"the rate limit could not be checked ({str(exc).strip() or type(exc).__name__})") from exc
        finally:
            self._lock.release()
        return None if wait is None else max(1, math.ceil(wait))

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def sweep(self) -> int:
        """Delete every hit outside the window (every client's); how many."""
        return self.store.sweep_rate_limit(self.seconds)

    def __len__(self) -> int:
        """How many clients are remembered now."""
        return self.store.rate_limited_clients()


def connections_needed(workers: int, pool_size: int) -> int:
    """The connections ``kennisbank serve`` opens at most: per worker process its pool and the
    rate limit's own; the outbox worker's pool and its lock's."""
    return workers * (pool_size + 1) + pool_size + 1


def check_connection_budget(store: SubmissionStore, workers: int) -> None:
    """Refuse (``ValueError``, naming the fix) when the server's processes could open more
    connections than PostgreSQL accepts: with the pools full, requests would fail with
    "too many clients" instead of waiting for a connection."""
    if not store.shared:
        return
    most, reserved = store.connection_limits()
    size = store.pool_size
    needed = connections_needed(workers, size)
    if needed > most - reserved:
        fitting = max(0, (most - reserved - size - 1) // (size + 1))
        raise ValueError(
            f"WORKERS: {workers} worker process(es) may open {needed} connections to PostgreSQL ({size} + 1 each, and {size + 1} "
            f"for the outbox worker), but its max_connections is {most} with {reserved} reserved for superusers. "
            f"Fix: run at most {fitting} worker(s) (--workers {max(1, fitting)}), or raise max_connections in postgresql.conf "
            f"to at least {needed + reserved} and restart PostgreSQL"
        )
