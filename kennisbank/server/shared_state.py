"""What the server processes share through PostgreSQL, so that N workers (``kennisbank
serve --workers N``) or two instances behind one proxy behave as one.

- The rate limit: :class:`SharedRateLimiter`, the same sliding window as the in-memory
  :class:`~.ratelimit.RateLimiter`, kept in the table ``rate_limit_hits`` (migration
  0008). A row holds no address: only a keyed hash of the client's key (HMAC-SHA256
  under a secret kept in the database, so every process hashes alike and the database
  alone cannot give the address back) and the moment. A client's rows older than the
  window go at its next submission, and everybody's every ``seconds`` (a sweeping thread
  in each process): nothing stays longer than twice the window. The table is ``UNLOGGED``: it
  is not written to PostgreSQL's log, so no replica or log archive keeps it, and a
  database crash empties it (the limit then starts counting again).
- The login lockout's address key (:func:`address_key`): the same secret, so a failed
  login counts against its address whichever process took it.
- The outbox worker's lock (:func:`outbox_lock`): a session advisory lock, held on a
  connection of its own while the worker runs; PostgreSQL releases it when the
  connection ends, however the worker ends (a SIGKILL too).

Sessions and the login failures are rows of the database already: every process reads
the same ones.

The window is counted on the database's clock, one clock for every process and machine.
Checking and recording a submission is one call of the SQL function ``rate_limit_hit``
(one round trip), which takes a transaction-scoped advisory lock on the client's hash:
two processes recording the same client at once take turns, so the limit holds exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("kennisbank.server")

SECRET_NAME = "client-key"
OUTBOX_LOCK = 0x6B62_6F75_7462  # "kbout": the advisory lock of the one outbox worker per database


def shared_pool(store: Any) -> Any | None:
    """The connection pool of a store that several processes can share (PostgreSQL), else ``None``.

    The hook into :mod:`.pg_store`: its ``PostgresStore`` keeps a ``psycopg_pool``
    pool; SQLite's store has none (it is single-process)."""
    return getattr(store, "_pool", None)


def is_shared(store: Any) -> bool:
    """Whether other processes may serve from this store at the same time."""
    return shared_pool(store) is not None


_secrets: dict[int, bytes] = {}
_secrets_lock = threading.Lock()


def database_secret(pool: Any) -> bytes:
    """The database's own key for hashing client addresses: made once (by whichever
    process comes first), the same for every process after."""
    with _secrets_lock:
        found = _secrets.get(id(pool))
        if found is None:
            with pool.connection() as connection:
                connection.execute(
                    "INSERT INTO shared_secrets (name, secret) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING", (SECRET_NAME, secrets.token_bytes(32))
                )
                found = bytes(connection.execute("SELECT secret FROM shared_secrets WHERE name = %s", (SECRET_NAME,)).fetchone()[0])
            _secrets[id(pool)] = found
        return found


def address_key(store: Any, fallback: bytes) -> bytes:
    """The key the login lockout hashes addresses with: the database's with a shared store,
    else ``fallback`` (one process: its own random key)."""
    pool = shared_pool(store)
    return fallback if pool is None else database_secret(pool)


class SharedRateLimiter:
    """At most ``count`` submissions per ``seconds`` per client, counted in the database.

    The interface of :class:`~.ratelimit.RateLimiter`: :meth:`wait` asks, :meth:`hit`
    records. Each is one short query on a connection of the limiter's own; the receiver
    calls them on its event loop, as it does the in-memory one (a round trip to the
    database: a fraction of a millisecond on a local server). Should the database be
    away, the request passes the limit (its own write then fails with 503)."""

    def __init__(self, pool: Any, count: int, seconds: float, *, sweep: bool = True):
        self.pool = pool
        self.count = count
        self.seconds = seconds
        self._secret = database_secret(pool)
        self._stop = threading.Event()
        # a connection of its own, not the pool's: the receiver asks on its event loop, which
        # must never wait for a pooled connection that the threads writing submissions hold
        self._connection: Any = None
        self._lock = threading.Lock()
        if sweep:  # also while no submission comes in: nothing stays longer than twice the window
            threading.Thread(target=self._sweep_regularly, name="rate-limit-sweep", daemon=True).start()

    def _sweep_regularly(self) -> None:
        while not self._stop.wait(self.seconds):
            if getattr(self.pool, "closed", False):  # the app stopped and closed its store: so does the limiter
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

    def _client(self, key: str) -> bytes:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).digest()

    def wait(self, key: str) -> int | None:
        """``None`` if ``key`` may submit now, else the seconds to wait; records nothing."""
        return self._call("rate_limit_wait", key)

    def hit(self, key: str) -> int | None:
        """Record one submission from ``key``; ``None`` if allowed, else the seconds to wait."""
        return self._call("rate_limit_hit", key)

    def _call(self, function: str, key: str) -> int | None:
        import psycopg

        client = self._client(key)
        with self._lock:
            for attempt in range(2):
                try:
                    if self._connection is None or self._connection.closed:
                        self._connection = psycopg.connect(self.pool.conninfo, **{**self.pool.kwargs, "autocommit": True})
                    wait = self._connection.execute(f"SELECT {function}(%s, %s, %s)", (client, self.count, float(self.seconds))).fetchone()[0]
                    break
                except psycopg.OperationalError as exc:  # a database restart broke the connection: once more on a new one
                    self._disconnect()
                    if attempt:
                        # the submission's own write will fail too and say so (503); the limit does not turn that into a 500
                        log.error("the rate limit could not be checked (%s); this request passes it", str(exc).strip() or type(exc).__name__)
                        return None
        return None if wait is None else max(1, math.ceil(wait))

    def _disconnect(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass
            self._connection = None

    def sweep(self) -> int:
        """Delete every hit outside the window (every client's); how many."""
        with self.pool.connection() as connection:
            return connection.execute("DELETE FROM rate_limit_hits WHERE at <= extract(epoch FROM clock_timestamp()) - %s", (float(self.seconds),)).rowcount

    def __len__(self) -> int:
        """How many clients are remembered now."""
        with self.pool.connection() as connection:
            return connection.execute("SELECT count(DISTINCT client) FROM rate_limit_hits").fetchone()[0]


@contextlib.contextmanager
def outbox_lock(store: Any, stop: threading.Event) -> Iterator[bool]:
    """Hold the database's outbox lock (one worker per database); ``False`` if ``stop`` was set while waiting.

    A connection of its own, not the pool's: the session lock lives as long as that
    connection, and PostgreSQL ends it when the worker's process ends."""
    import psycopg

    connection = psycopg.connect(store.url, autocommit=True)
    try:
        told = False
        while not connection.execute("SELECT pg_try_advisory_lock(%s)", (OUTBOX_LOCK,)).fetchone()[0]:
            if not told:
                log.warning("another outbox worker delivers from this database (it holds advisory lock %d): waiting until it stops", OUTBOX_LOCK)
                told = True
            if stop.wait(1.0):
                yield False
                return
        yield True
    finally:
        connection.close()  # releases the lock
