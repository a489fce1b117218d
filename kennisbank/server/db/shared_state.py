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
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("kennisbank.server")

OUTBOX_LOCK = 0x6B62_6F75_7462  # "kbout": the advisory lock of the one outbox worker per database
ROTATION = 86400
"""Seconds one client key is used for (a day, from midnight UTC on each process's clock: processes
whose clocks differ by seconds hash apart for those seconds only). The next period has a new key
and the old one is deleted, so a hash stored under it can no longer be tried against addresses.
A client's count starts afresh then: at most twice its limit, once a day."""
TIMEOUT = 2.0
"""Seconds the rate limit waits for the database (to connect, or for a query) before it gives up with 503."""
LOCK_CHECK = 1.0
"""Seconds between the outbox worker's checks that it still holds its lock."""


class Unavailable(Exception):
    """The database the limit is counted in did not answer within :data:`TIMEOUT`."""


def shared_pool(store: Any) -> Any | None:
    """The connection pool of a store that several processes can share (PostgreSQL), else ``None``.

    The hook into :mod:`.pg_store`: its ``PostgresStore`` keeps a ``psycopg_pool``
    pool; SQLite's store has none (it is single-process)."""
    return getattr(store, "_pool", None)


def is_shared(store: Any) -> bool:
    """Whether other processes may serve from this store at the same time."""
    return shared_pool(store) is not None


def connect_options(kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """psycopg connection arguments for a connection of its own that must notice a database
    that is away: a connect timeout, a statement timeout and TCP keepalives (a killed session
    or a vanished host shows as an error within seconds, not at the kernel's two hours)."""
    return {
        **(kwargs or {}),
        "autocommit": True,
        "connect_timeout": max(1, math.ceil(TIMEOUT)),
        "options": f"-c statement_timeout={int(TIMEOUT * 1000)}",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
    }


_secrets: dict[tuple[int, int], bytes] = {}
_secrets_lock = threading.Lock()


def current_period() -> int:
    """The number of the key period now (:data:`ROTATION` seconds each, counted from the epoch)."""
    return int(time.time() // ROTATION)


def database_secret(pool: Any, period: int | None = None, timeout: float | None = None) -> bytes:
    """The database's key of ``period`` (default: now) for hashing client addresses: made by
    whichever process comes first, the same for every process after. Kept in the UNLOGGED
    table ``client_keys`` (not in the log, on no replica, left out by
    ``pg_dump --no-unlogged-table-data``); the keys of earlier periods are deleted then.
    ``timeout``: the seconds to wait for a pooled connection (default: the pool's)."""
    period = current_period() if period is None else period
    with _secrets_lock:
        found = _secrets.get((id(pool), period))
        if found is None:
            with pool.connection(**({} if timeout is None else {"timeout": timeout})) as connection:
                connection.execute("DELETE FROM client_keys WHERE period < %s", (period,))
                connection.execute(
                    "INSERT INTO client_keys (period, secret) VALUES (%s, %s) ON CONFLICT (period) DO NOTHING", (period, secrets.token_bytes(32))
                )
                found = bytes(connection.execute("SELECT secret FROM client_keys WHERE period = %s", (period,)).fetchone()[0])
            for stale in [cached for cached in _secrets if cached[0] == id(pool) and cached[1] < period]:
                del _secrets[stale]
            _secrets[(id(pool), period)] = found
        return found


def address_key(store: Any, fallback: bytes) -> bytes:
    """The key the login lockout hashes addresses with: the database's with a shared store,
    else ``fallback`` (one process: its own random key)."""
    pool = shared_pool(store)
    return fallback if pool is None else database_secret(pool)


class SharedRateLimiter:
    """At most ``count`` submissions per ``seconds`` per client, counted in the database.

    The interface of :class:`~.ratelimit.RateLimiter`: :meth:`wait` asks, :meth:`hit`
    records. Each is one short query on a connection of the limiter's own (not the pool's,
    which the threads writing submissions may hold). Each may block for up to
    :data:`TIMEOUT` (``blocking``): the receiver calls them in a thread, never on its event
    loop. A database that does not answer within :data:`TIMEOUT` raises :class:`Unavailable`
    (the receiver replies 503), whether it refuses connections, is gone from the network or
    has a lock held."""

    blocking = True

    def __init__(self, pool: Any, count: int, seconds: float, *, sweep: bool = True):
        self.pool = pool
        self.count = count
        self.seconds = seconds
        database_secret(pool)  # made now: a database that is away shows at start-up
        self._stop = threading.Event()
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
        return hmac.new(database_secret(self.pool, timeout=TIMEOUT), key.encode(), hashlib.sha256).digest()

    def wait(self, key: str) -> int | None:
        """``None`` if ``key`` may submit now, else the seconds to wait; records nothing."""
        return self._call("rate_limit_wait", key)

    def hit(self, key: str) -> int | None:
        """Record one submission from ``key``; ``None`` if allowed, else the seconds to wait."""
        return self._call("rate_limit_hit", key)

    def _call(self, function: str, key: str) -> int | None:
        import psycopg

        try:
            client = self._client(key)
        except Exception as exc:  # the key of a new period could not be read: the pool's database is away
            raise Unavailable(f"the rate limit's key could not be read ({type(exc).__name__})") from exc
        # the calls take turns on the one connection; one that waits longer than a query may take gives up
        if not self._lock.acquire(timeout=TIMEOUT):
            raise Unavailable(f"the rate limit's database did not answer within {TIMEOUT:g} s")
        try:
            for attempt in range(2):
                fresh = self._connection is None or self._connection.closed
                try:
                    if fresh:
                        self._connection = psycopg.connect(self.pool.conninfo, **connect_options(self.pool.kwargs))
                    wait = self._connection.execute(f"SELECT {function}(%s, %s, %s)", (client, self.count, float(self.seconds))).fetchone()[0]
                    break
                except psycopg.Error as exc:
                    self._disconnect()
                    if attempt or fresh:  # a connection broken by a restart is tried once more, on a new one
                        raise Unavailable(f"the rate limit could not be checked ({str(exc).strip() or type(exc).__name__})") from exc
        finally:
            self._lock.release()
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


class LockLost(RuntimeError):
    """The outbox worker's lock went with its connection (a database restart, an idle-session killer)."""


def holds_lock(connection: Any) -> bool:
    """Whether ``connection``'s session holds the outbox lock now; ``False`` if the connection is gone."""
    try:
        return bool(
            connection.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
                " AND ((classid::bigint << 32) | objid::bigint) = %s)",
                (OUTBOX_LOCK,),
            ).fetchone()[0]
        )
    except Exception:
        return False


@contextlib.contextmanager
def outbox_lock(store: Any, stop: threading.Event) -> Iterator[bool]:
    """Hold the database's outbox lock (one worker per database); ``False`` if ``stop`` was set while waiting.

    A connection of its own, not the pool's: the session lock lives as long as that
    connection, and PostgreSQL ends it when the worker's process ends. The lock also ends
    when the connection does while the worker runs (a database restart, an idle-session
    killer, ``pg_terminate_backend``): another worker may take it and deliver the same
    outbox. So a thread checks every :data:`LOCK_CHECK` seconds that the lock is still
    held; when it is not, it sets ``stop`` (the worker stops before its next batch) and
    leaving the block raises :class:`LockLost` (the worker exits, and its parent starts it
    again: it waits for the lock then)."""
    import psycopg

    connection = psycopg.connect(store.url, **connect_options())
    lost = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(LOCK_CHECK):
            if not holds_lock(connection):
                log.error("the outbox worker lost its lock (advisory lock %d; its database connection ended): it stops after the batch in hand", OUTBOX_LOCK)
                lost.set()
                stop.set()
                return

    try:
        from kennisbank.server.outbox.worker import wait_for_lock  # here, not at the top: the rate limit imports this module and needs nothing of the outbox

        if not wait_for_lock(lambda: connection.execute("SELECT pg_try_advisory_lock(%s)", (OUTBOX_LOCK,)).fetchone()[0], f"advisory lock {OUTBOX_LOCK}", stop):
            yield False
            return
        watcher = threading.Thread(target=watch, name="outbox-lock-watch", daemon=True)
        watcher.start()
        try:
            yield True
        finally:
            done.set()
            watcher.join()
        if lost.is_set():
            raise LockLost(
                f"the outbox worker lost its lock (advisory lock {OUTBOX_LOCK}) and stopped. It is started again by kennisbank serve; by hand, start it again"
            )
    finally:
        connection.close()  # releases the lock


def connections_needed(workers: int, pool_size: int) -> int:
    """The connections ``kennisbank serve`` opens at most: per worker process its pool and the
    rate limit's own; the outbox worker's pool and its lock's."""
    return workers * (pool_size + 1) + pool_size + 1


def check_connection_budget(store: Any, workers: int) -> None:
    """Refuse (``ValueError``, naming the fix) when the server's processes could open more
    connections than PostgreSQL accepts: with the pools full, requests would fail with
    "too many clients" instead of waiting for a connection."""
    pool = shared_pool(store)
    if pool is None:
        return
    with pool.connection() as connection:
        settings = dict(
            connection.execute(
                "SELECT name, setting::integer FROM pg_settings WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
            ).fetchall()
        )
    most = settings["max_connections"]
    reserved = settings.get("superuser_reserved_connections", 0) + settings.get("reserved_connections", 0)
    needed = connections_needed(workers, pool.max_size)
    if needed > most - reserved:
        fitting = max(0, (most - reserved - pool.max_size - 1) // (pool.max_size + 1))
        raise ValueError(
            f"WORKERS: {workers} worker process(es) may open {needed} connections to PostgreSQL ({pool.max_size} + 1 each, and {pool.max_size + 1} "
            f"for the outbox worker), but its max_connections is {most} with {reserved} reserved for superusers. "
            f"Fix: run at most {fitting} worker(s) (--workers {max(1, fitting)}), or raise max_connections in postgresql.conf "
            f"to at least {needed + reserved} and restart PostgreSQL"
        )
