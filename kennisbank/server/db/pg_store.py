"""The PostgreSQL backend of :class:`~kennisbank.server.db.store.SubmissionStore` (psycopg 3).

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
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from kennisbank.server import redaction
from kennisbank.server.db.sql_common import SQLStore, load_migrations
from kennisbank.server.db.store import Delivery, StoreError, StoreURLError, format_time, utc_now
from kennisbank.server.outbox import notify  # SEND_TIMEOUT for the claim size: to be passed in by the outbox

log = logging.getLogger("kennisbank.server")

T = TypeVar("T")
POOL_SIZE = 8
"""Connections per process at most: a server's threads (and the outbox worker) share them."""
CONNECT_TIMEOUT = 10
DEADLOCK_TRIES = 3
LEASE = timedelta(minutes=5)
"""How long a claimed delivery stays with its worker: ten times the longest send (``notify.SEND_TIMEOUT``); a claim takes
no more deliveries than fit in half of it (``PostgresStore.claim_size``)."""
_DB_TIME = "to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
"""A time on the database's clock in ``store.format_time``'s form (fixed width: text order is time order)."""
_MIGRATION_LOCK = 0x6B656E6E6973  # "kennis": the advisory lock taken while migrating
_JSON_COLUMNS = {"insight_answers": {"answer"}}
"""The jsonb columns (SQLite's are untyped): their values are wrapped when written from Python."""


def parse_url(rest: str, base: Path) -> str:
    """The libpq URL of ``postgresql://<rest>``, checked; ``base`` is not used (no files).

    No message shows the password: libpq's own (which quotes the token it could not read,
    the password itself when its percent-encoding is broken) has it replaced by ``***``."""
    url = f"postgresql://{rest}"
    fix = "write it as postgresql://user:password@host:5432/database, with %, /, @ and # in the user name or password percent-encoded (%25, %2F, %40, %23)"
    authority = rest.partition("/")[0]
    if "@" not in authority and "@" in rest.partition("?")[0]:
        # libpq reads up to the first / as user:password@host: a / in the password makes the rest of it the host and port
        raise StoreURLError(f"{redaction.url(url)} is not a valid PostgreSQL URL (a / before the @: the password holds a / that is not percent-encoded)", fix)
    try:
        conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreURLError(f"{redaction.url(url)} is not a valid PostgreSQL URL ({redaction.message(str(exc).strip(), url)})", fix) from None
    return url


def open_target(target: str) -> PostgresStore:
    return PostgresStore(target)


def open_source(target: str) -> PostgresStore:
    """``target`` opened only to be read (``kennisbank db copy --from``): not migrated, every
    transaction read-only (``default_transaction_read_only``)."""
    return PostgresStore(target, read_only=True)


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every PostgreSQL migration, in order."""
    return load_migrations("postgresql")


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
    REFUSED = (psycopg.IntegrityError,)
    DECILE = "least(score / 10, 9)"
    LIKE = "ILIKE"
    """SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE ignores it for every letter."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE, lease: timedelta = LEASE, *, read_only: bool = False):
        super().__init__()
        self.url = url
        self.read_only = read_only
        self.lease = lease
        # How many deliveries one claim takes at most: as many as can be sent in half the lease when
        # each send takes its longest (SEND_TIMEOUT), so a claim does not run out while its worker is
        # still sending; the worker also stops sending, leaving the rest to the next claim, when the
        # lease is nearly over (Outbox._send_all). Why not renew the claim, or record after each send:
        # both cost a commit per delivery where a batch costs one; 5 deliveries (a 5-minute lease,
        # 30 s a send) finish in 2.5 minutes at worst, and a worker sends several a second when all is well.
        self.claim_size = max(1, int(lease.total_seconds() // (2 * notify.SEND_TIMEOUT)))
        self.target = redaction.url(url)
        self._identity = self.target
        options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True, **options) as connection:
                if not read_only:
                    self._migrate(connection)
        except psycopg.OperationalError as exc:
            raise StoreError(self._unreachable(exc)) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"connect_timeout": CONNECT_TIMEOUT, **options},
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
        detail = redaction.message(str(exc).strip().splitlines()[0], self.url) if str(exc).strip() else type(exc).__name__
        return (
            f"{self.target}: cannot use the PostgreSQL database ({detail}). "
            "Fix: start the server, or check the host, port, user, password and database name in DATABASE_URL (create the database with createdb)"
        )

    # Schema

    @property
    def schema_version(self) -> int:
        with self._reading() as db:
            if db.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
                return 0  # never migrated (a source opened read-only, open_source)
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
        except self.REFUSED:
            raise
        except psycopg.Error as exc:
            raise StoreError(self._refused(exc)) from None

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
            except self.REFUSED:
                raise  # a row the schema refuses: the caller's to handle (add_many keeps the batch's others), as on SQLite
            except psycopg.Error as exc:
                raise StoreError(self._refused(exc)) from None
        raise AssertionError("unreachable")

    def _refused(self, exc: psycopg.Error) -> str:
        """The message of an error of the database other than an unreachable server or a refused row
        (a read-only database after a fail-over, a missing right, a changed schema): the work was rolled back."""
        detail = redaction.message(str(exc).strip().splitlines()[0], self.url) if str(exc).strip() else type(exc).__name__
        return (
            f"{self.target}: the database refused the work, nothing of it was kept ({type(exc).__name__}: {detail}). "
            "Fix: check that DATABASE_URL names the primary, that its user may write every table, and that kennisbank db migrate has run"
        )

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
        first, claimed for ``self.lease``: another worker skips them until they are recorded or the lease ends.

        A claim has a token of its own (``claimed_by``); only it records their outcomes
        (:meth:`record_deliveries`), so a worker whose lease ran out while it was still sending
        cannot overwrite the result of the worker that took them over. The lease is counted
        on the database's clock (``now()``), one clock for every worker, whatever theirs say.
        At most ``claim_size`` are claimed at once (see ``__init__``)."""
        claim = f"{os.getpid()}-{secrets.token_hex(8)}"
        due = "" if all_pending else " AND next_attempt <= ?"
        started = time.monotonic()  # before the database's now(): the lease ends no earlier than claim_ends

        def work(db: _Db) -> list[Delivery]:
            claimed = db.execute(
                f"UPDATE outbox SET claimed_until = {_DB_TIME.format('now() + make_interval(secs => ?)')}, claimed_by = ? WHERE id IN ("
                f"SELECT id FROM outbox WHERE state = 'pending'{due} AND (claimed_until IS NULL OR claimed_until < {_DB_TIME.format('now()')}) "
                "ORDER BY next_attempt, id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING id",
                (self.lease.total_seconds(), claim, *(() if all_pending else (format_time(now),)), min(limit, self.claim_size)),
            ).fetchall()
            if not claimed:
                return []
            ids = [row[0] for row in claimed]
            return self._deliveries_in(db, f"o.id IN ({', '.join('?' * len(ids))})", tuple(ids), limit)

        ends = started + self.lease.total_seconds()
        return [replace(delivery, claim=claim, claim_ends=ends) for delivery in self._transaction(work)]

    # a recorded outcome ends the claim, and is recorded only under the claim that took the row
    SENT = "UPDATE outbox SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL, claimed_until = NULL, claimed_by = NULL WHERE id = ?"
    FAILED = (
        "UPDATE outbox SET state = ?, attempts = ?, last_error = ?, next_attempt = coalesce(?, next_attempt), "
        "claimed_until = NULL, claimed_by = NULL WHERE id = ?"
    )
    CLAIMED = " AND claimed_by IS NOT DISTINCT FROM ?"

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

    # kennisbank db copy (kennisbank.server.db.copy)

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
            with self._pool.connection() as connection:  # not _reading: this method words its own errors
                connection.execute("CREATE TEMP TABLE IF NOT EXISTS _health (x integer)")
                if connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    raise StoreError(f"{self.target}: the database is a read-only standby. Fix: point DATABASE_URL at the primary")
                connection.rollback()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreError(self._unreachable(exc)) from None
        except psycopg.Error as exc:
            detail = redaction.message(str(exc).strip(), self.url)
            raise StoreError(f"{self.target}: the database cannot be written ({detail}). Fix: check the server and the user's rights") from None

    def backup(self, path: Path) -> int:
        raise StoreError(
            f"{self.target}: kennisbank backup copies SQLite files only. "
            f"Fix: back up PostgreSQL with pg_dump, e.g. pg_dump --format=custom --file={path} <DATABASE_URL>"
        )

    def close(self) -> None:
        self._pool.close()
