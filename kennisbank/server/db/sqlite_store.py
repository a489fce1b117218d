"""The SQLite backend of :class:`~kennisbank.server.db.store.SubmissionStore` (stdlib sqlite3).

- WAL journal with ``synchronous=FULL``: a submission is on disk when ``add`` returns,
  so every acknowledged submission survives a crash or a ``kill -9``.
- ``secure_delete`` and a WAL checkpoint after deleting: erased and purged rows are
  overwritten, not left in free pages or the log.
- The schema is created and changed only by the numbered ``.sql`` files in
  ``migrations/sqlite/``, each applied once, in order, in its own transaction; the
  table ``schema_migrations`` records which ones ran.
- One connection per store, used under a lock: callers may use it from any thread.
- ``backup`` copies the database while the server runs and writes (``VACUUM INTO``).
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from kennisbank.server.db.sql_common import SQLStore, load_migrations
from kennisbank.server.db.store import StoreError, StoreURLError, format_time, utc_now

MEMORY = ":memory:"

log = logging.getLogger("kennisbank.server")

T = TypeVar("T")


def parse_url(rest: str, base: Path) -> str | Path:
    """The file of ``sqlite:///<rest>``; ``sqlite:///relative`` is relative to ``base``."""
    if "?" in rest or "#" in rest:
        raise StoreURLError("options in the SQLite URL are not supported", "give only the file: sqlite:///var/kennisbank.sqlite3")
    if not rest.startswith("/") or rest == "/":
        raise StoreURLError(
            f"'sqlite://{rest}' names no file",
            "write sqlite:///var/kennisbank.sqlite3 (relative to the project folder) or sqlite:////absolute/path.sqlite3",
        )
    path = rest[1:]
    if path == MEMORY:
        return MEMORY
    file = Path(path).expanduser()
    file = file if file.is_absolute() else base / file
    if file.exists() and not file.is_file():
        raise StoreURLError(f"{file} exists and is not a file", "point DATABASE_URL at a file, e.g. sqlite:///var/kennisbank.sqlite3")
    return file


def open_target(target: str | Path) -> SQLiteStore:
    return SQLiteStore(target)


def open_source(target: str | Path) -> SQLiteStore:
    """``target`` opened only to be read (``kennisbank db copy --from``): it must exist, and is
    neither created nor migrated (SQLite's ``mode=ro``)."""
    if target == MEMORY:
        raise StoreError("sqlite:///:memory: is a new, empty database: there is nothing to copy. Fix: name the database file to copy")
    if not Path(target).is_file():
        raise StoreError(
            f"{target}: no such file; nothing was read or changed. Fix: check the path (the server's database is DATABASE_URL, by default var/kennisbank.sqlite3)"
        )
    return SQLiteStore(target, read_only=True)


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration, in order; versions run 1, 2, 3 ... without gaps."""
    return load_migrations("sqlite")


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _statements(sql: str) -> Iterator[str]:
    """The statements of a script, split where SQLite says a statement is complete."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:60]!r}")


class SQLiteStore(SQLStore):
    """The queries are :class:`~.sql_common.SQLStore`'s; here the connection, the schema and the caches' stamps."""

    REFUSED = (sqlite3.IntegrityError,)
    read_only = False
    """Opened by :func:`open_source`: read, never written or migrated."""
    SEARCH_SOURCE = "submissions INDEXED BY submissions_search"
    """A search reads the leads' index newest first, not every row (the planner, left alone,
    may walk submissions_created_at and read each row to test the LIKE)."""

    def __init__(self, target: str | Path, *, read_only: bool = False):
        super().__init__()
        self.target = target
        self.read_only = read_only
        if read_only:  # open_source: never created, never migrated
            self._lock = threading.RLock()
            self._connect()
            return
        if target != MEMORY:
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path.parent}: cannot create the database folder ({exc.strerror}). Fix: create it or point DATABASE_URL elsewhere") from None
        # one connection, used by one thread at a time; re-entrant: a transaction reads through it too
        self._lock = threading.RLock()
        self._connect()
        self.migrate()

    def _connect(self) -> None:
        try:
            if self.read_only:
                uri = f"{Path(self.target).resolve().as_uri()}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
                self._db.execute("PRAGMA query_only = ON")
            else:
                self._db = sqlite3.connect(str(self.target), isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA busy_timeout = 30000")
            if self.target != MEMORY and not self.read_only:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"{self.target}: SQLite refused the WAL journal (got {mode!r}). Fix: put the database on a local file system")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.target}: cannot open the SQLite database ({exc}). Fix: check the path in DATABASE_URL and its permissions") from None
        self._identity = self._file_identity()
        # a new connection counts its changes from 0 again: a cached stamp could match by chance
        self._peers.clear()

    def _file_identity(self) -> tuple[int, int] | None:
        if self.target == MEMORY:
            return None
        try:
            stat = os.stat(self.target)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _ensure_file(self) -> None:
        """Reopen when the database file was deleted or replaced while open (``make clean``).

        SQLite keeps writing to a deleted file through its open handle: the commits
        succeed and vanish at the next start. So before every write the path must still
        name the file this connection holds; if not, a new database is opened there
        (migrated, with the definitions this server serves) and the write goes into it.
        (A file deleted in the microseconds between this check and the commit is not
        caught; the check before the next write reopens.)"""
        if self.target == MEMORY or self._file_identity() == self._identity:
            return
        log.error("%s: the database file was deleted or replaced while the server ran; opening a new one there", self.target)
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        self._connect()
        self._migrate_locked()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._remember_in(self._db, list(self._definitions.values()))
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless a write could be committed now (the health check)."""
        with self._lock:
            try:
                self._ensure_file()
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("CREATE TEMP TABLE IF NOT EXISTS _health (x)")
                self._db.execute("ROLLBACK")
            except (sqlite3.Error, OSError) as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._reopen_after_failure()
                raise StoreError(f"{self.target}: the database cannot be written ({exc}). Fix: check the file system and the file's permissions") from None

    def _reopen_after_failure(self) -> None:
        """After a failed write, open the file anew next time: a connection opened
        read-only stays read-only, even once the file system is writable again."""
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        try:
            self._connect()
        except StoreError as exc:
            log.error("%s", exc)

    # Schema

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._version()

    def schema_current(self) -> bool:
        return self.schema_version == len(migrations())

    def _version(self) -> int:
        try:
            row = self._db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        except sqlite3.OperationalError:
            if self.read_only:  # not a kennisbank database, or one never migrated (a read-only source)
                return 0
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.target}: not a SQLite database ({exc}). Fix: check the path in the URL") from None
        return row[0]

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks; the names of those applied."""
        with self._lock:
            return self._migrate_locked()

    def _migrate_locked(self) -> list[str]:
        applied = []
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        known = migrations()
        current = self._version()
        if current > len(known):
            raise StoreError(
                f"{self.target}: the database is at schema version {current}, newer than this code knows ({len(known)}). "
                "Fix: run the newer version of kennisbank, or point DATABASE_URL at another file"
            )
        for version, name, sql in known:
            if version <= current:
                continue
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if self._version() < version:  # another process may have just applied it
                    for statement in _statements(sql):
                        self._db.execute(statement)
                    self._db.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        (version, name, format_time(utc_now())),
                    )
                    applied.append(name)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"migrations/sqlite/{name}: failed and was rolled back: {exc}") from None
        return applied

    def outbox_version(self) -> int:
        """A number that changes when another connection commits (``PRAGMA data_version``).

        The outbox worker, in a process of its own, asks this a few times a second and
        reads the outbox only when it changed: a submission wakes it without a word
        between the processes, and an idle worker costs next to nothing."""
        with self._lock:
            self._ensure_file()  # a database replaced under the worker: follow it, as a write would
            return self._db.execute("PRAGMA data_version").fetchone()[0]

    def outbox_lock_file(self) -> Path | None:
        """The file the one outbox worker of this database keeps locked; ``None`` in memory,
        where no other process can see the outbox."""
        return None if self.target == MEMORY else Path(f"{self.target}.outbox-lock")

    def backup(self, path: Path) -> int:
        """Copy the database to the new file ``path`` while others read and write it; the
        number of submissions the copy holds.

        ``VACUUM INTO`` reads one snapshot (in WAL mode the server's writes go on
        meanwhile) and writes it compacted, as one file with a rollback journal: no free
        pages, so nothing erased or purged lingers in the copy. It goes to a temporary
        file beside ``path``, readable by its owner only, is checked (``PRAGMA
        integrity_check``) and synced, and only then linked to ``path``, which is never
        overwritten (``FileExistsError``). On any failure the temporary file is
        removed: no half-written backup is left."""
        if self.target == MEMORY:
            raise StoreError("an in-memory database cannot be backed up. Fix: point DATABASE_URL at the server's database file")
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            # created empty and private first (VACUUM INTO fills an empty file): the copy holds
            # personal data, and is readable by its owner only, whatever the umask
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            with self._lock:
                self._db.execute("VACUUM INTO ?", (str(temporary),))
            copy = sqlite3.connect(str(temporary), isolation_level=None)
            try:
                problems = [row[0] for row in copy.execute("PRAGMA integrity_check").fetchall()]
                if problems != ["ok"]:
                    raise StoreError(
                        f"{self.target}: its copy failed the integrity check ({'; '.join(problems[:3])}); no backup was written. "
                        "Fix: check the disk and the database (PRAGMA integrity_check), then back up again"
                    )
                if copy.execute("PRAGMA journal_mode").fetchone()[0].lower() != "delete":
                    copy.execute("PRAGMA journal_mode = DELETE")  # one file: nothing to copy beside it
                count = copy.execute("SELECT count(*) FROM submissions").fetchone()[0]
            finally:
                copy.close()
            _fsync(temporary)
            os.link(temporary, path)  # unlike rename, refuses to replace an existing file
            os.unlink(temporary)
            _fsync(path.parent)
        finally:
            temporary.unlink(missing_ok=True)
        return count

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # What the shared queries need from SQLite

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction, committed (and synced) before returning."""
        with self._lock:
            self._ensure_file()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                result = work(self._db)
                self._db.execute("COMMIT")
            except sqlite3.OperationalError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._reopen_after_failure()
                raise
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            return result

    def _peer_stamp(self, db: sqlite3.Connection, definition: str, claim: bool = False) -> tuple[int, int]:
        """Changes by this connection, and commits by any other (another process's erase or purge).

        Writers take turns already (``BEGIN IMMEDIATE``): ``claim`` needs nothing more."""
        return db.total_changes, db.execute("PRAGMA data_version").fetchone()[0]

    def _data_stamp(self, db: sqlite3.Connection) -> tuple[int, int]:
        return self._peer_stamp(db, "")

    # kennisbank db copy (kennisbank.server.db.copy)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every table as of one moment, while others write (WAL)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    @staticmethod
    def _columns(db: sqlite3.Connection, table: str) -> list[str]:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]

    @staticmethod
    def _adapt_row(table: str, names: list[str], row: tuple) -> tuple:
        return tuple(row)

    def _bulk_load(self, tables: tuple[str, ...], work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(db)`` in one transaction with the triggers dropped (SQLite cannot switch them
        off) and created again before the commit: rows copied with their aggregates are not counted twice."""

        def run(db: sqlite3.Connection) -> T:
            triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall()
            for name, _ in triggers:
                db.execute(f'DROP TRIGGER "{name}"')
            result = work(db)
            for _, sql in triggers:
                db.execute(sql)
            return result

        return self._transaction(run)

    def _after_delete(self) -> None:
        if self.target != MEMORY:
            # move the overwritten pages into the database file and empty the log
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
