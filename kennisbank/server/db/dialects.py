"""What each database does its own way, each in one place: SQLite's and PostgreSQL's.

:class:`~.store.SubmissionStore` runs the same statements on both (SQLAlchemy ``text()``
with ``:name`` parameters, compiled once per dialect: :func:`compiled`); a dialect here
supplies the rest: how a connection is opened and lent, a transaction, the stamps that
tell a cached figure is current, the outbox's claims, a bulk load with the triggers off,
the lock migrations take, and PostgreSQL's share of several server processes.

Why the statements run on the driver's cursor and not through ``Connection.execute``:
SQLAlchemy's execution layer costs about 20 us a statement (measured: 24 against 2.5 on
SQLite), and a submission runs five; the hot path (``add_many``) would pay a tenth of the
receiver's CPU for it. The compiled text is SQLAlchemy's, cached per dialect; the engine
opens, pools and checks the connections, and Alembic migrates through it.

SQLite:

- WAL journal with ``synchronous=FULL``: a submission is on disk when ``add`` returns,
  so every acknowledged one survives a crash or a ``kill -9``; ``secure_delete`` and a WAL
  checkpoint after deleting: erased rows are overwritten, not left in free pages or the log.
- One connection per store, used under a lock: callers may use it from any thread;
  writers take turns for the whole file (``BEGIN IMMEDIATE``).
- A database file deleted or replaced while open is noticed before the next write.

PostgreSQL (``DATABASE_URL=postgresql://user:password@host:5432/kennisbank``, any libpq URL):

- A pool lends each call a connection (``POOL_SIZE`` at most per process, checked before
  it is lent), so many threads and processes (``serve --workers N``) use it at once; a
  commit is durable when it returns (the server's default ``synchronous_commit``).
- A cached count is current while its counter stands (``peer_changes``, ``insight_changes``,
  bumped by the triggers): one indexed row read, whichever process wrote. SQLite's
  ``PRAGMA data_version`` has no PostgreSQL equivalent that is both cheap and exact.
- The outbox: a claim (``FOR UPDATE SKIP LOCKED`` and a lease) so two workers never get the
  same delivery; a worker that dies loses its claim when the lease runs out.
- A deadlock (an erasure's triggers lock aggregate rows in another order than a submission's)
  is tried again, twice at most.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool, StaticPool

from kennisbank.server import redaction
from kennisbank.server.db import schema
from kennisbank.server.db.records import StoreError

log = logging.getLogger("kennisbank.server")

T = TypeVar("T")
MEMORY = ":memory:"
POOL_SIZE = 8
"""PostgreSQL connections per process at most: a server's threads (and the outbox worker) share them."""
CONNECT_TIMEOUT = 10
DEADLOCK_TRIES = 3
MIGRATION_LOCK = 0x6B656E6E6973  # "kennis": the advisory lock processes starting at once migrate under
OUTBOX_LOCK = 0x6B62_6F75_7462  # "kbout": the advisory lock of the one outbox worker per database
LOGIN_LOCKS = 1801613933
"""The first key of the two-int advisory locks the login attempts of one key take turns under."""
SIDE_TIMEOUT = 2.0
"""Seconds a connection of its own (the rate limit's, the outbox lock's) waits for the database before it gives up."""
DB_TIME = "to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
"""A time on PostgreSQL's clock in ``records.format_time``'s form (fixed width: text order is time order)."""

_DIALECTS = {"sqlite": pysqlite.dialect(paramstyle="named"), "postgresql": pg_dialect.dialect()}
PROBE_KEY = "health:probe"
"""The key of the row the health check writes and takes back (``login_failures``: no id sequence
that a rolled-back row would leave a gap in, no trigger; no login uses this key)."""
PROBE_BUSY = 2.0
"""Seconds the health check's own SQLite connection waits for the file's write lock (a batch of submissions takes milliseconds)."""
SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN = 8, 10, 13, 14


@lru_cache(maxsize=2048)
def compiled(sql: str, dialect: str) -> str:
    """``sql`` (``:name`` parameters) as ``dialect``'s driver takes it, compiled by SQLAlchemy once."""
    return str(text(sql).compile(dialect=_DIALECTS[dialect]))


class Db:
    """A driver connection that runs SQLAlchemy text: ``execute(sql, {name: value})``."""

    __slots__ = ("raw", "dialect")

    def __init__(self, raw: Any, dialect: str):
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, parameters: dict | None = None) -> Any:
        # always a mapping: psycopg reads %% as % only when it is given parameters
        return self.raw.execute(compiled(sql, self.dialect), parameters or {})

    def executemany(self, sql: str, rows: list[dict]) -> None:
        if rows:
            self.raw.cursor().executemany(compiled(sql, self.dialect), rows)


def write_check(db: Db, at: str) -> int:
    """Write a row and delete it again, in the caller's transaction (a real write: a full disk or a
    read-only file or database refuses it); the schema's revision (0: none)."""
    db.execute("INSERT INTO login_failures (key, at) VALUES (:key, :at)", {"key": PROBE_KEY, "at": at})
    db.execute("DELETE FROM login_failures WHERE key = :key", {"key": PROBE_KEY})
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return int(row[0]) if row and row[0] else 0


# SQLite


class SQLite:
    name = "sqlite"
    REFUSED: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    DECILE = "min(score / 10, 9)"
    """A score's decile (0: 0-9 ... 9: 90-100)."""
    LIKE = "LIKE"
    """Case-insensitive for ASCII letters (PostgreSQL's ILIKE: for every letter)."""
    SEARCH_SOURCE = "submissions INDEXED BY submissions_search"
    """A search reads the leads' index newest first, not every row (the planner, left alone,
    may walk submissions_created_at and read each row to test the LIKE)."""
    shared = False
    """One process: its rate limit, its client key and its outbox lock are its own."""
    lock_file_suffix = ".outbox-lock"
    pool_size = 1
    """Its one connection."""

    def __init__(self, target: str | Path, read_only: bool):
        self.target = target
        self.read_only = read_only
        self.label = str(target)
        self.lock = threading.RLock()  # re-entrant: a transaction reads through the same connection
        if target != MEMORY and not read_only:
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"{path.parent}: cannot create the database folder ({error.strerror}). Fix: create it or point DATABASE_URL elsewhere"
                ) from None
        self.engine = create_engine("sqlite://", creator=self._open, poolclass=StaticPool)
        if not read_only:  # Alembic's transactions are SQLite's BEGIN IMMEDIATE too: processes migrating at once take turns
            event.listen(self.engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        self.on_reconnect: Callable[[], None] = lambda: None
        self.closed = False
        self._probe: sqlite3.Connection | None = None  # the health check's own connection (probe)
        self._probe_identity: tuple[int, int] | None = None
        self._probe_lock = threading.Lock()
        self._connect()

    def _open(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                uri = f"{Path(self.target).resolve().as_uri()}?mode=ro"
                raw = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
                raw.execute("PRAGMA query_only = ON")
            else:
                if self.target != MEMORY:
                    _create_private(Path(self.target))
                raw = sqlite3.connect(str(self.target), isolation_level=None, check_same_thread=False, timeout=30)
            raw.execute("PRAGMA busy_timeout = 30000")
            if self.target != MEMORY and not self.read_only:
                mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"{self.target}: SQLite refused the WAL journal (got {mode!r}). Fix: put the database on a local file system")
            raw.execute("PRAGMA synchronous = FULL")
            raw.execute("PRAGMA secure_delete = ON")
            raw.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise StoreError(f"{self.target}: cannot open the SQLite database ({error}). Fix: check the path in DATABASE_URL and its permissions") from None
        return raw

    def _connect(self) -> None:
        self.engine.dispose()  # the static pool's one connection: opened anew by _open
        try:
            self.raw: sqlite3.Connection = self.engine.raw_connection().driver_connection
        except exc.DBAPIError as error:
            raise StoreError(
                f"{self.target}: cannot open the SQLite database ({error.orig}). Fix: check the path in DATABASE_URL and its permissions"
            ) from None
        self.db = Db(self.raw, self.name)
        self.identity = self._file_identity()
        self.on_reconnect()  # a new connection counts its changes from 0 again: a cached stamp could match by chance

    def _file_identity(self) -> tuple[int, int] | None:
        if self.target == MEMORY:
            return None
        try:
            stat = os.stat(self.target)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def replaced(self) -> bool:
        """Whether the database file was deleted or replaced while open (``make clean``): SQLite
        would go on writing to the deleted file, and the commits would vanish at the next start."""
        return self.target != MEMORY and self._file_identity() != self.identity

    def reopen(self) -> None:
        log.error("%s: the database file was deleted or replaced while the server ran; opening a new one there", self.target)
        self._connect()

    def reopen_after_failure(self) -> None:
        """After a failed write, open the file anew next time: a connection opened read-only
        stays read-only, even once the file system is writable again."""
        try:
            self._connect()
        except StoreError as error:
            log.error("%s", error)

    @contextmanager
    def reading(self) -> Iterator[Db]:
        with self.lock:
            try:
                yield self.db
            except self.REFUSED:
                raise
            except sqlite3.DatabaseError as error:
                raise StoreError(f"{self.target}: the database could not be read ({error}). Fix: check the file and its permissions") from None

    def transaction(self, work: Callable[[Db], T]) -> T:
        """``work`` in one transaction, committed (and synced) before returning."""
        with self.lock:
            raw = self.raw
            try:
                raw.execute("BEGIN IMMEDIATE")
                result = work(self.db)
                raw.execute("COMMIT")
            except BaseException as error:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                if isinstance(error, self.REFUSED) or not isinstance(error, sqlite3.Error):
                    raise
                if isinstance(error, sqlite3.OperationalError):
                    self.reopen_after_failure()
                raise StoreError(f"{self.target}: the database refused the write, nothing of it was kept ({error}). {self.fix(error)}") from None
            return result

    @contextmanager
    def snapshot(self) -> Iterator[Db]:
        """One read transaction: every table as of one moment, while others write (WAL)."""
        with self.lock:
            self.raw.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.raw.execute("COMMIT")

    def peer_stamp(self, db: Db, definition: str, claim: bool = False) -> tuple[int, int]:
        """Changes by this connection, and commits by any other (another process's erase or purge).
        Writers take turns already (``BEGIN IMMEDIATE``): ``claim`` needs nothing more."""
        return self.raw.total_changes, self.raw.execute("PRAGMA data_version").fetchone()[0]

    def data_stamp(self, db: Db) -> tuple[int, int]:
        return self.peer_stamp(db, "")

    def outbox_version(self) -> int:
        """A number that changes when another connection commits (``PRAGMA data_version``): the
        worker, in a process of its own, reads the outbox only when it moved."""
        with self.lock:
            return self.raw.execute("PRAGMA data_version").fetchone()[0]

    def after_delete(self) -> None:
        if self.target != MEMORY:
            with self.lock:  # the overwritten pages into the database file, the log emptied
                self.raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def check_writable(self, at: str) -> int:
        """The start-up check, on the store's own connection: :func:`write_check` committed (a
        rollback in WAL mode writes nothing to the disk; the commit writes and syncs the log as a
        submission's does, and leaves the database as it was); the schema's revision."""
        with self.lock:
            return self._write_check(self.raw, at, self.reopen_after_failure)

    def probe(self, at: str) -> int:
        """The health check's :func:`write_check`, on a connection of its own: never under the
        store's lock, so a monitor polling never waits for (nor holds up) the writer of
        submissions; it waits only for SQLite's file lock between two commits. The schema's revision."""
        if self.target == MEMORY:  # no second connection sees an in-memory database
            return self.check_writable(at)
        with self._probe_lock:
            if self._probe is None or self._probe_identity != self._file_identity():
                self._close_probe()
                try:
                    _create_private(Path(self.target))
                    self._probe = sqlite3.connect(str(self.target), isolation_level=None, check_same_thread=False, timeout=PROBE_BUSY)
                    self._probe.execute("PRAGMA synchronous = FULL")
                    self._probe.execute("PRAGMA secure_delete = ON")
                except sqlite3.Error as error:
                    self._close_probe()
                    raise StoreError(f"{self.target}: the database cannot be written ({error}{self._why_read_only(error)}). {self.fix(error)}") from None
                self._probe_identity = self._file_identity()
            return self._write_check(self._probe, at, self._close_probe)

    def _write_check(self, raw: sqlite3.Connection, at: str, after_failure: Callable[[], None]) -> int:
        try:
            raw.execute("BEGIN IMMEDIATE")
            revision = write_check(Db(raw, self.name), at)
            raw.execute("COMMIT")
            return revision
        except (sqlite3.Error, OSError) as error:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            after_failure()  # a connection opened read-only stays so: the next check opens anew
            raise StoreError(f"{self.target}: the database cannot be written ({error}{self._why_read_only(error)}). {self.fix(error)}") from None

    def _close_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
        self._probe = None

    def _why_read_only(self, error: BaseException) -> str:
        """Why a file SQLite would not write is read-only, from the file system ("" if it is not)."""
        if self.target == MEMORY:
            return ""
        file = Path(self.target)
        try:
            os.close(os.open(file, os.O_WRONLY))  # as the server's user; nothing written
        except FileNotFoundError:
            pass
        except OSError as problem:
            return f"; the file cannot be opened for writing: {problem.strerror}"
        if not os.access(file.parent, os.W_OK):
            return f"; its folder {file.parent} cannot be written"
        return ""

    def fix(self, error: BaseException) -> str:
        """The fix for a write SQLite refused, naming the file: a full disk and a read-only file
        (or folder, or file system) get their own."""
        code = getattr(error, "sqlite_errorcode", None)
        code = code & 0xFF if isinstance(code, int) else None
        if self.target != MEMORY:
            file = Path(self.target)
            if code == SQLITE_FULL or getattr(error, "errno", None) == 28:
                return f"Fix: the disk is full: free space on the file system that holds {file.parent} (df -h {file.parent})"
            if self._why_read_only(error) or code in (SQLITE_READONLY, SQLITE_CANTOPEN) and not os.access(file.parent, os.W_OK):
                return (
                    f"Fix: the database is read-only: let the user the server runs as write {file} and its folder "
                    f"(chown that user {file} and chmod 600 {file}; chattr -i {file} if it is immutable; "
                    "remount a read-only file system read-write); no restart is needed"
                )
        return "Fix: check the file system and the file's permissions"

    @contextmanager
    def migrating(self) -> Iterator[Any]:
        """An Alembic connection in one BEGIN IMMEDIATE transaction: another process waits for it."""
        with self.lock, self.engine.connect() as connection, connection.begin():
            yield connection

    def bulk_load(self, work: Callable[[Db], T]) -> T:
        """``work(db)`` in one transaction with the triggers dropped (SQLite cannot switch them off)
        and made again before the commit: rows copied with their aggregates are not counted twice."""

        def run(db: Db) -> T:
            triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall()
            for name, _ in triggers:
                db.execute(f'DROP TRIGGER "{name}"')
            result = work(db)
            for _, sql in triggers:
                self.raw.execute(sql)  # as written: not through the compiler, which would read its NEW.x as text
            return result

        return self.transaction(run)

    @staticmethod
    def adapt(table: str, names: list[str], row: tuple) -> tuple:
        return tuple(row)

    def delete_one_login_failure(self, db: Db, key: str, at: str) -> None:
        db.execute("DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures WHERE key = :key AND at = :at LIMIT 1)", {"key": key, "at": at})

    def lock_login_keys(self, db: Db, keys: list[str]) -> None:
        """Nothing: SQLite's writers take turns for the whole file already."""

    def backup(self, temporary: Path) -> None:
        with self.lock:
            self.raw.execute("VACUUM INTO ?", (str(temporary),))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.engine.dispose()
        with self._probe_lock:
            self._close_probe()


def _create_private(file: Path) -> None:
    """Create ``file`` empty (SQLite takes an empty file as a new database) and readable by its
    owner only, whatever the umask (``make serve`` runs with the shell's, usually 022). SQLite
    gives the -wal and -shm files it creates the database file's mode. A file that exists keeps
    its mode: it is the operator's."""
    try:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        pass  # SQLite's own open says why, worded by the caller


# PostgreSQL


class PostgreSQL:
    name = "postgresql"
    REFUSED: tuple[type[Exception], ...] = (psycopg.IntegrityError,)
    DECILE = "least(score / 10, 9)"
    LIKE = "ILIKE"
    SEARCH_SOURCE = "submissions"
    shared = True
    """Several processes may serve from it at once: the rate limit, the client key and the outbox lock are the database's."""
    JSON_COLUMNS = {"insight_answers": {"answer"}}
    """The jsonb columns (SQLite's are untyped): their values are wrapped when written from Python."""

    def __init__(self, url: str, read_only: bool, pool_size: int = POOL_SIZE):
        self.url = url
        self.read_only = read_only
        self.pool_size = pool_size
        self.label = redaction.url(url)
        self.options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        self.on_reconnect: Callable[[], None] = lambda: None
        # the libpq URL as the driver reads it (not re-parsed as SQLAlchemy's); checked before it is
        # lent (pre-ping): a connection the server closed (a restart) is replaced, not lent
        self.engine: Engine = create_engine(
            "postgresql+psycopg://",
            creator=lambda: psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, **self.options),
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=CONNECT_TIMEOUT,
            pool_pre_ping=True,
        )
        self.closed = False

    def unreachable(self, error: BaseException) -> str:
        error = getattr(error, "orig", None) or error
        detail = redaction.message(str(error).strip().splitlines()[0], self.url) if str(error).strip() else type(error).__name__
        return (
            f"{self.label}: cannot use the PostgreSQL database ({detail}). "
            "Fix: start the server, or check the host, port, user, password and database name in DATABASE_URL (create the database with createdb)"
        )

    def refused(self, error: psycopg.Error) -> str:
        """An error other than an unreachable server or a refused row (a read-only database after a
        fail-over, a missing right, a changed schema): the work was rolled back."""
        detail = redaction.message(str(error).strip().splitlines()[0], self.url) if str(error).strip() else type(error).__name__
        return (
            f"{self.label}: the database refused the work, nothing of it was kept ({type(error).__name__}: {detail}). "
            "Fix: check that DATABASE_URL names the primary, that its user may write every table, and that kennisbank db migrate has run"
        )

    @contextmanager
    def _lent(self) -> Iterator[Any]:
        """A pooled connection, its errors worded: unreachable, refused (a row is the caller's: ``REFUSED``)."""
        try:
            pooled = self.engine.raw_connection()
        except (exc.DBAPIError, exc.TimeoutError, psycopg.OperationalError) as error:
            raise StoreError(self.unreachable(error)) from None
        try:
            yield pooled
        except psycopg.OperationalError as error:
            pooled.invalidate()  # a connection that failed this way is not lent again
            raise StoreError(self.unreachable(error)) from None
        except self.REFUSED:
            raise
        except psycopg.Error as error:
            raise StoreError(self.refused(error)) from None
        finally:
            pooled.close()  # back to the pool, rolled back if a transaction is open

    @contextmanager
    def reading(self) -> Iterator[Db]:
        with self._lent() as pooled:
            yield Db(pooled.driver_connection, self.name)

    def transaction(self, work: Callable[[Db], T]) -> T:
        """``work`` in one transaction, committed (and durable) before returning; a deadlock is
        tried again, twice at most: ``work`` runs from its start in a new transaction. (A
        connection goes back to the pool rolled back, whatever happened.)"""
        for attempt in range(1, DEADLOCK_TRIES + 1):
            with self._lent() as pooled:
                connection = pooled.driver_connection
                try:
                    result = work(Db(connection, self.name))
                    connection.commit()
                    return result
                except psycopg.errors.DeadlockDetected:
                    if attempt == DEADLOCK_TRIES:
                        raise StoreError(f"{self.label}: a write deadlocked {DEADLOCK_TRIES} times. Fix: try again; report it if it repeats") from None
                    log.warning("%s: a write deadlocked with another; trying again", self.label)
        raise AssertionError("unreachable")

    @contextmanager
    def snapshot(self) -> Iterator[Db]:
        """One read transaction: every table as of one moment, while others write."""
        with self.reading() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield db

    def peer_stamp(self, db: Db, definition: str, claim: bool = False) -> int:
        """The change counter of ``definition`` (``peer_changes``, bumped by the triggers). With
        ``claim`` its row is locked until the commit: writers of one definition take turns, so
        each reads the counts of every submission committed before its own."""
        if claim:
            sql = (
                "INSERT INTO peer_changes (definition, changes) VALUES (:definition, 0) "
                "ON CONFLICT (definition) DO UPDATE SET changes = peer_changes.changes RETURNING changes"
            )
        else:
            sql = "SELECT changes FROM peer_changes WHERE definition = :definition"
        row = db.execute(sql, {"definition": definition}).fetchone()
        return row[0] if row else 0

    def data_stamp(self, db: Db) -> None:
        return None  # no counter covers every column a search reads, and a search is rare: counted each time

    def outbox_version(self) -> int:
        """A number that changes when a delivery is added or made pending again: the newest id
        and the number pending (both read from indexes)."""
        with self.reading() as db:
            newest, pending = db.execute("SELECT coalesce(max(id), 0), count(*) FILTER (WHERE state = 'pending') FROM outbox").fetchone()
        return newest * 1_000_003 + pending

    def claim(self, db: Db, token: str, lease: float, due: str | None, limit: int, channel: str | None = None) -> list[int]:
        """Claim up to ``limit`` pending deliveries (due by ``due``; ``None``: any; of ``channel`` only,
        if given) for ``lease`` seconds on the database's clock, one clock for every worker; their ids."""
        rows = db.execute(
            f"UPDATE outbox SET claimed_until = {DB_TIME.format('now() + make_interval(secs => :lease)')}, claimed_by = :token WHERE id IN ("
            f"SELECT id FROM outbox WHERE state = 'pending'{'' if due is None else ' AND next_attempt <= :due'}"
            f"{'' if channel is None else ' AND channel = :channel'} "
            f"AND (claimed_until IS NULL OR claimed_until < {DB_TIME.format('now()')}) "
            "ORDER BY next_attempt, id LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING id",
            {"lease": lease, "token": token, "due": due, "limit": limit, "channel": channel},
        ).fetchall()
        return [row[0] for row in rows]

    def after_delete(self) -> None:
        """Nothing: PostgreSQL's files are its server's (VACUUM)."""

    def check_writable(self, at: str) -> int:
        """:func:`write_check` in a transaction rolled back (a read-only database or standby refuses
        the row); the schema's revision. On a pooled connection: PostgreSQL has no one writer to wait for."""
        pooled = None
        try:
            pooled = self.engine.raw_connection()
            connection = pooled.driver_connection
            if connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise StoreError(f"{self.label}: the database is a read-only standby. Fix: point DATABASE_URL at the primary")
            return write_check(Db(connection, self.name), at)
        except (exc.DBAPIError, exc.TimeoutError, psycopg.OperationalError) as error:
            if pooled is not None:
                pooled.invalidate()
            raise StoreError(self.unreachable(error)) from None
        except psycopg.Error as error:
            detail = redaction.message(str(error).strip(), self.url)
            raise StoreError(f"{self.label}: the database cannot be written ({detail}). Fix: check the server and the user's rights") from None
        finally:
            if pooled is not None:
                pooled.close()  # rolled back: the health check leaves nothing

    probe = check_writable

    @contextmanager
    def migrating(self) -> Iterator[Any]:
        """An Alembic connection under the migration lock (a session's, so processes starting at
        once take turns), in one transaction."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                connection.commit()
                try:
                    with connection.begin():
                        yield connection
                finally:
                    if not connection.invalidated:
                        connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                        connection.commit()
        except exc.OperationalError as error:
            raise StoreError(self.unreachable(error)) from None

    def bulk_load(self, work: Callable[[Db], T]) -> T:
        """``work(db)`` in one transaction with the tables' own triggers off (rows copied with their
        aggregates are not counted twice), then the id sequences set past the copied ids."""

        def run(db: Db) -> T:
            for table in schema.COPIED:
                db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # the foreign keys stay checked
            result = work(db)
            for table in schema.COPIED:
                db.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                if "id" in schema.metadata.tables[table].columns:
                    db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
            # the peer counts changed without their triggers: every digest's counter moves, so no cache holds
            db.execute(
                "INSERT INTO peer_changes (definition, changes) SELECT DISTINCT definition, 1 FROM peer_counts "
                "ON CONFLICT (definition) DO UPDATE SET changes = peer_changes.changes + 1"
            )
            return result

        return self.transaction(run)

    def adapt(self, table: str, names: list[str], row: tuple) -> tuple:
        """A row from either database as PostgreSQL takes it: a jsonb column's value wrapped as JSON."""
        if table not in self.JSON_COLUMNS:
            return tuple(row)
        return tuple(Jsonb(value) if name in self.JSON_COLUMNS[table] else value for name, value in zip(names, row, strict=True))

    def delete_one_login_failure(self, db: Db, key: str, at: str) -> None:
        db.execute("DELETE FROM login_failures WHERE ctid IN (SELECT ctid FROM login_failures WHERE key = :key AND at = :at LIMIT 1)", {"key": key, "at": at})

    def lock_login_keys(self, db: Db, keys: list[str]) -> None:
        """The attempts under one key take turns across processes; in one order, so two never deadlock."""
        for key in sorted(keys):
            db.execute("SELECT pg_advisory_xact_lock(:locks, hashtext(:key))", {"locks": LOGIN_LOCKS, "key": key})

    def backup(self, temporary: Path) -> None:
        raise StoreError(
            f"{self.label}: kennisbank backup copies SQLite files only. "
            "Fix: back up PostgreSQL with pg_dump, e.g. pg_dump --format=custom --file=backup.dump <DATABASE_URL>"
        )

    # What several server processes share (kennisbank.server.db.shared_state)

    def client_key(self, period: int) -> bytes:
        """The database's key of ``period``, made by whichever process comes first; earlier periods' deleted."""
        with self._lent() as pooled:
            found = client_key(pooled.driver_connection, period)
            pooled.driver_connection.commit()
            return found

    def side_connection(self) -> SideConnection:
        return SideConnection(self.url)

    def sweep_rate_limit(self, seconds: float) -> int:
        return self.transaction(
            lambda db: (
                db.execute("DELETE FROM rate_limit_hits WHERE at <= extract(epoch FROM clock_timestamp()) - :seconds", {"seconds": float(seconds)}).rowcount
            )
        )

    def rate_limited_clients(self) -> int:
        with self.reading() as db:
            return db.execute("SELECT count(DISTINCT client) FROM rate_limit_hits").fetchone()[0]

    def connection_limits(self) -> tuple[int, int]:
        """PostgreSQL's ``max_connections`` and how many of them are reserved (for superusers)."""
        with self.reading() as db:
            settings = dict(
                db.execute(
                    "SELECT name, setting::integer FROM pg_settings WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
                ).fetchall()
            )
        return settings["max_connections"], settings.get("superuser_reserved_connections", 0) + settings.get("reserved_connections", 0)

    def close(self) -> None:
        self.closed = True
        self.engine.dispose()


def client_key(connection: psycopg.Connection, period: int) -> bytes:
    """The key of ``period`` on ``connection`` (the pool's, or the rate limit's own), made if none is yet."""
    connection.execute("DELETE FROM client_keys WHERE period < %s", (period,))
    connection.execute("INSERT INTO client_keys (period, secret) VALUES (%s, %s) ON CONFLICT (period) DO NOTHING", (period, secrets.token_bytes(32)))
    return bytes(connection.execute("SELECT secret FROM client_keys WHERE period = %s", (period,)).fetchone()[0])


class SideConnection:
    """A PostgreSQL connection of its own, not the pool's, that notices a database that is away:
    a connect timeout, a statement timeout and TCP keepalives (a killed session or a vanished host
    shows as an error within seconds, not at the kernel's two hours). The rate limit asks on one
    (not on the pool's, which the threads writing submissions may hold); the outbox worker holds
    its lock on one (a session lock lives as long as its connection)."""

    def __init__(self, url: str):
        self.connection = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(1, math.ceil(SIDE_TIMEOUT)),
            options=f"-c statement_timeout={int(SIDE_TIMEOUT * 1000)}",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        )

    @property
    def closed(self) -> bool:
        return self.connection.closed

    def client_key(self, period: int) -> bytes:
        return client_key(self.connection, period)

    def rate_limit(self, recording: bool, client: bytes, count: int, seconds: float) -> float | None:
        """``rate_limit_hit`` (``recording``) or ``rate_limit_wait``: the seconds ``client`` must wait, or ``None``."""
        function = "rate_limit_hit" if recording else "rate_limit_wait"
        return self.connection.execute(f"SELECT {function}(%s, %s, %s)", (client, count, float(seconds))).fetchone()[0]

    def try_outbox_lock(self) -> bool:
        return self.connection.execute("SELECT pg_try_advisory_lock(%s)", (OUTBOX_LOCK,)).fetchone()[0]

    def holds_outbox_lock(self) -> bool:
        """Whether this session holds the outbox lock now; ``False`` if the connection is gone."""
        try:
            return bool(
                self.connection.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
                    " AND ((classid::bigint << 32) | objid::bigint) = %s)",
                    (OUTBOX_LOCK,),
                ).fetchone()[0]
            )
        except Exception:
            return False

    def close(self) -> None:
        try:
            self.connection.close()  # releases a session's lock
        except Exception:
            pass
