"""The PostgreSQL backend of :class:`~kennisbank.server.store.SubmissionStore` (psycopg 3).

``DATABASE_URL=postgresql://user:password@host:5432/kennisbank`` (any libpq URL).

- The queries are :class:`~.sql_common.SQLStore`'s, the same SQL the SQLite store runs;
  a connection pool (``psycopg_pool``) lends each call a connection, so many threads
  (and processes: ``serve --workers N``) use the database at once.
- A commit is durable when it returns (PostgreSQL's default ``synchronous_commit``).
- The schema is created and changed only by the numbered ``.sql`` files in
  ``migrations/postgresql/`` (the same numbers and meaning as SQLite's), each applied
  once, in order, in its own transaction, under an advisory lock so that processes
  starting at once take turns; the table ``schema_migrations`` records which ones ran.
- The aggregates of migrations 0005 and 0006 are kept by PL/pgSQL triggers in the same
  transaction as the change, like SQLite's triggers.
- Caches and what tells they are stale: the dashboard's month figures use
  ``insight_changes`` (a counter per month that the triggers bump, as on SQLite); the
  peer counts use ``peer_changes``, a counter per definition digest that the triggers
  bump at every insert or delete that changes its counts. One indexed row read tells a
  cached figure is current, whichever process wrote; SQLite's ``PRAGMA data_version``
  has no PostgreSQL equivalent that is both cheap and exact (``pg_stat`` counters lag,
  ``xmin`` horizons move for unrelated tables). A search's figures are not cached: no
  counter covers every column a search reads, and a search is rare.
- The outbox: ``due_deliveries`` claims the rows it returns (``FOR UPDATE SKIP LOCKED``
  and a lease, ``claimed_until``, migration 0003), so two workers never get the same
  delivery; a worker that dies loses its claim when the lease runs out.
- ``backup``: use ``pg_dump`` (the error says so).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from .sql_common import SQLStore, load_migrations
from .store import Delivery, StoreError, StoreURLError, format_time, utc_now

log = logging.getLogger("kennisbank.server")

T = TypeVar("T")
POOL_SIZE = 8
"""Connections per process at most: a server's threads (and the outbox worker) share them."""
CONNECT_TIMEOUT = 10
DEADLOCK_TRIES = 3
LEASE = timedelta(minutes=5)
"""How long a claimed delivery stays with its worker; longer than one attempt can take (SMTP and webhook time-outs)."""
_MIGRATION_LOCK = 0x6B656E6E6973  # "kennis": the advisory lock taken while migrating
_JSON_COLUMNS = {"insight_answers": {"answer"}}
"""The jsonb columns (SQLite's are untyped): their values are wrapped when written from Python."""


def parse_url(rest: str, base: Path) -> str:
    """The libpq URL of ``postgresql://<rest>``, checked; ``base`` is not used (no files)."""
    url = f"postgresql://{rest}"
    try:
        conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreURLError(
            f"{redact(url)} is not a valid PostgreSQL URL ({str(exc).strip()})", "write it as postgresql://user:password@host:5432/database"
        ) from None
    return url


def open_target(target: str) -> PostgresStore:
    return PostgresStore(target)


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every PostgreSQL migration, in order."""
    return load_migrations("postgresql")


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    query = re.sub(r"(?i)(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s``; every literal ``%`` as ``%%`` (psycopg
    reads ``%`` inside quotes too); a ``?`` inside quoted text is text."""
    return _PLACEHOLDER.sub(lambda m: "%s" if m[0] == "?" else m[0].replace("%", "%%"), sql)


class _Db:
    """A pooled connection as the shared queries use one (``execute``, ``executemany``, ``?`` placeholders)."""

    def __init__(self, connection: psycopg.Connection):
        self.connection = connection

    def execute(self, sql: str, parameters: tuple | list = ()) -> psycopg.Cursor:
        if parameters:
            return self.connection.execute(_pyformat(sql), tuple(parameters))
        return self.connection.execute(sql)

    def executemany(self, sql: str, rows: Any) -> psycopg.Cursor:
        cursor = self.connection.cursor()
        rows = list(rows)
        if rows:
            cursor.executemany(_pyformat(sql), rows)
        return cursor


class PostgresStore(SQLStore):
    DECILE = "least(score / 10, 9)"
    LIKE = "ILIKE"
    """SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE ignores it for every letter."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE):
        super().__init__()
        self.url = url
        self.target = redact(url)
        self._identity = self.target
        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as connection:
                self._migrate(connection)
        except psycopg.OperationalError as exc:
            raise StoreError(self._unreachable(exc)) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"connect_timeout": CONNECT_TIMEOUT},
            check=ConnectionPool.check_connection,  # a connection the server closed (a restart) is replaced, not lent
            open=False,
            name="kennisbank",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            self._pool.close()
            raise StoreError(
                f"{self.target}: PostgreSQL took no connection within {CONNECT_TIMEOUT} s. Fix: check that the server runs and accepts connections"
            ) from None

    def _unreachable(self, exc: Exception) -> str:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"{self.target}: cannot use the PostgreSQL database ({detail}). "
            "Fix: start the server, or check the host, port, user, password and database name in DATABASE_URL (create the database with createdb)"
        )

    # Schema

    @property
    def schema_version(self) -> int:
        with self._reading() as db:
            return self._version(db)

    def schema_current(self) -> bool:
        return self.schema_version == len(migrations())

    @staticmethod
    def _version(db: Any) -> int:
        return db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks; the names of those applied."""
        try:
            with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as connection:
                return self._migrate(connection)
        except psycopg.OperationalError as exc:
            raise StoreError(self._unreachable(exc)) from None

    def _migrate(self, connection: psycopg.Connection) -> list[str]:
        applied = []
        known = migrations()
        # processes starting at once take turns; the lock is the session's, released below (or when it ends)
        connection.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)")
            current = self._version(connection)
            if current > len(known):
                raise StoreError(
                    f"{self.target}: the database is at schema version {current}, newer than this code knows ({len(known)}). "
                    "Fix: run the newer version of kennisbank, or point DATABASE_URL at another database"
                )
            for version, name, sql in known[current:]:
                try:
                    with connection.transaction():
                        connection.execute(sql)
                        connection.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)", (version, name, format_time(utc_now()))
                        )
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    raise StoreError(f"migrations/postgresql/{name}: failed and was rolled back: {str(exc).strip()}") from None
                applied.append(name)
        finally:
            if not connection.closed:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        return applied

    # What the shared queries need from PostgreSQL

    @contextmanager
    def _reading(self) -> Iterator[_Db]:
        try:
            with self._pool.connection() as connection:
                yield _Db(connection)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreError(self._unreachable(exc)) from None

    def _transaction(self, work: Callable[[_Db], T]) -> T:
        """Run ``work`` in one transaction, committed (and durable) before returning.

        A deadlock (PostgreSQL ends one of two transactions that wait for each other's rows:
        an erasure's triggers lock aggregate rows in another order than a submission's) is
        tried again, twice at most: ``work`` runs from its start in a new transaction."""
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                with self._pool.connection() as connection:
                    # the pool's connection commits at the end of the block, or rolls back on an error
                    return work(_Db(connection))
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_TRIES:
                    raise StoreError(f"{self.target}: a write deadlocked {DEADLOCK_TRIES} times. Fix: try again; report it if it repeats") from None
                log.warning("%s: a write deadlocked with another; trying again", self.target)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise StoreError(self._unreachable(exc)) from None
        raise AssertionError("unreachable")

    def _peer_stamp(self, db: _Db, definition: str, claim: bool = False) -> int:
        """The change counter of ``definition`` (``peer_changes``, bumped by the triggers of 0006).

        With ``claim`` its row is locked until the commit: writers of one definition take
        turns, so each reads the counts of every submission committed before its own."""
        if claim:
            sql = (
                "INSERT INTO peer_changes (definition, changes) VALUES (?, 0) "
                "ON CONFLICT (definition) DO UPDATE SET changes = peer_changes.changes RETURNING changes"
            )
        else:
            sql = "SELECT changes FROM peer_changes WHERE definition = ?"
        row = db.execute(sql, (definition,)).fetchone()
        return row[0] if row else 0

    def _data_stamp(self, db: _Db) -> None:
        return None  # see the module's docstring: a search's figures are counted each time

    # The outbox

    def due_deliveries(self, now: datetime, limit: int = 20, *, all_pending: bool = False) -> list[Delivery]:
        """Pending deliveries whose time has come (every pending one with ``all_pending``), oldest
        first, claimed for ``LEASE``: another worker skips them until they are recorded or the lease ends."""
        moment = format_time(now)
        until = format_time(utc_now() + LEASE)
        due = "" if all_pending else " AND next_attempt <= ?"

        def work(db: _Db) -> list[Delivery]:
            claimed = db.execute(
                "UPDATE outbox SET claimed_until = ? WHERE id IN ("
                f"SELECT id FROM outbox WHERE state = 'pending'{due} AND (claimed_until IS NULL OR claimed_until < ?) "
                "ORDER BY next_attempt, id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING id",
                (until, *(() if all_pending else (moment,)), format_time(utc_now()), limit),
            ).fetchall()
            if not claimed:
                return []
            ids = [row[0] for row in claimed]
            return self._deliveries_in(db, f"o.id IN ({', '.join('?' * len(ids))})", tuple(ids), limit)

        return self._transaction(work)

    # a recorded outcome ends the claim
    SENT = "UPDATE outbox SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL, claimed_until = NULL WHERE id = ?"
    FAILED = "UPDATE outbox SET state = ?, attempts = ?, last_error = ?, next_attempt = coalesce(?, next_attempt), claimed_until = NULL WHERE id = ?"

    def outbox_version(self) -> int:
        """A number that changes when a delivery is added or made pending again.

        The newest delivery's id and the number pending (both read from indexes): a new
        submission's delivery raises the first, ``kennisbank outbox retry`` the second."""
        with self._reading() as db:
            newest, pending = db.execute("SELECT coalesce(max(id), 0), count(*) FILTER (WHERE state = 'pending') FROM outbox").fetchone()
        return newest * 1_000_003 + pending

    def outbox_lock_file(self) -> Path | None:
        """``None``: PostgreSQL needs no lock file; workers share the outbox by claiming rows (:meth:`due_deliveries`)."""
        return None

    # kennisbank db copy (kennisbank.server.db_copy)

    @contextmanager
    def _snapshot(self) -> Iterator[_Db]:
        """One read transaction: every table as of one moment, while others write."""
        with self._reading() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield db

    @staticmethod
    def _columns(db: _Db, table: str) -> list[str]:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", (table,)
        ).fetchall()
        return [row[0] for row in rows]

    @staticmethod
    def _adapt_row(table: str, names: list[str], row: tuple) -> tuple:
        """A row from either database as PostgreSQL takes it: a jsonb column's value wrapped as JSON."""
        if table not in _JSON_COLUMNS:
            return tuple(row)
        return tuple(Jsonb(value) if name in _JSON_COLUMNS[table] else value for name, value in zip(names, row, strict=True))

    def _bulk_load(self, tables: tuple[str, ...], work: Callable[[_Db], T]) -> T:
        """``work(db)`` in one transaction with the tables' own triggers off (rows copied with
        their aggregates are not counted twice), then the id sequences set past the copied ids."""

        def run(db: _Db) -> T:
            for table in tables:
                db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # the foreign keys stay checked
            result = work(db)
            for table in tables:
                db.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                if "id" in self._columns(db, table):
                    db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
            # the peer counts changed without their triggers: move every digest's change counter, so no cache holds
            db.execute(
                "INSERT INTO peer_changes (definition, changes) SELECT DISTINCT definition, 1 FROM peer_counts "
                "ON CONFLICT (definition) DO UPDATE SET changes = peer_changes.changes + 1"
            )
            return result

        return self._transaction(run)

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless a write could be committed now (the health check)."""
        try:
            with self._reading() as db:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS _health (x integer)")
                if db.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    raise StoreError(f"{self.target}: the database is a read-only standby. Fix: point DATABASE_URL at the primary")
                db.connection.rollback()
        except psycopg.Error as exc:
            raise StoreError(f"{self.target}: the database cannot be written ({str(exc).strip()}). Fix: check the server and the user's rights") from None

    def backup(self, path: Path) -> int:
        raise StoreError(
            f"{self.target}: kennisbank backup copies SQLite files only. "
            f"Fix: back up PostgreSQL with pg_dump, e.g. pg_dump --format=custom --file={path} <DATABASE_URL>"
        )

    def close(self) -> None:
        self._pool.close()
