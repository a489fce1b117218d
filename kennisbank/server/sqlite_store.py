"""The SQLite backend of :class:`~kennisbank.server.store.SubmissionStore` (stdlib sqlite3).

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

import json
import logging
import os
import re
import secrets
import sqlite3
import threading
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from .store import AssessmentStats, ContactRequest, Delivery, DeliveryState, Stats, StoredDefinition, StoreError, StoreURLError, Submission, format_time, normalise_email, parse_time, utc_now

MEMORY = ":memory:"

log = logging.getLogger("kennisbank.server")

T = TypeVar("T")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_COLUMNS = (
    "public_id, created_at, assessment, version, lang, answers, score, band, "
    "consent, name, email, organisation, message, discuss, definition"
)
_REQUEST_COLUMNS = "public_id, created_at, lang, kind, name, email, message"


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


def open_target(target: str | Path) -> "SQLiteStore":
    return SQLiteStore(target)


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration, in order; versions run 1, 2, 3 ... without gaps."""
    folder = resources.files("kennisbank.server").joinpath("migrations", "sqlite")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise StoreError(f"migrations/sqlite/{name}: expected version {expected:04d}; number the files 0001, 0002, ... without gaps")
    return found


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


class SQLiteStore:
    def __init__(self, target: str | Path):
        self.target = target
        if target != MEMORY:
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path.parent}: cannot create the database folder ({exc.strerror}). Fix: create it or point DATABASE_URL elsewhere") from None
        self._lock = threading.Lock()
        self._definitions: dict[str, StoredDefinition] = {}
        self._connect()
        self.migrate()

    def _connect(self) -> None:
        try:
            self._db = sqlite3.connect(str(self.target), isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA busy_timeout = 30000")
            if self.target != MEMORY:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"{self.target}: SQLite refused the WAL journal (got {mode!r}). Fix: put the database on a local file system")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.target}: cannot open the SQLite database ({exc}). Fix: check the path in DATABASE_URL and its permissions") from None
        self._identity = self._file_identity()

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
        self._remember_locked(list(self._definitions.values()))

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
        row = self._db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return row[0]

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks; the names of those applied."""
        with self._lock:
            return self._migrate_locked()

    def _migrate_locked(self) -> list[str]:
        applied = []
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
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

    # The interface

    def add(self, submission: Submission, channels: Iterable[str] = ()) -> None:
        row = (
            submission.public_id,
            format_time(submission.created_at),
            submission.assessment,
            submission.version,
            submission.lang,
            json.dumps(dict(submission.answers), ensure_ascii=False, separators=(",", ":")),
            submission.score,
            submission.band,
            int(submission.consent),
            submission.name,
            normalise_email(submission.email) if submission.email else None,
            submission.organisation,
            submission.message,
            None if submission.discuss is None else int(submission.discuss),
            submission.definition,
        )
        now = format_time(utc_now())

        def work(db: sqlite3.Connection) -> None:
            cursor = db.execute(f"INSERT INTO submissions ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
            # the deliveries it triggers, in the same transaction: both or neither
            db.executemany(
                "INSERT INTO outbox (submission, channel, next_attempt, created_at) VALUES (?, ?, ?, ?)",
                [(cursor.lastrowid, channel, now, now) for channel in channels],
            )

        with self._lock:
            self._transaction(work)

    # The outbox

    def add_request(self, request: ContactRequest, channels: Iterable[str] = ()) -> None:
        row = (request.public_id, format_time(request.created_at), request.lang, request.kind, request.name, normalise_email(request.email), request.message)
        now = format_time(utc_now())

        def work(db: sqlite3.Connection) -> None:
            cursor = db.execute(f"INSERT INTO requests ({_REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            db.executemany(
                "INSERT INTO outbox (request, channel, next_attempt, created_at) VALUES (?, ?, ?, ?)",
                [(cursor.lastrowid, channel, now, now) for channel in channels],
            )

        with self._lock:
            self._transaction(work)

    def requests(self, email: str | None = None) -> list[ContactRequest]:
        where, parameters = ("WHERE email = ?", (normalise_email(email),)) if email else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT {_REQUEST_COLUMNS} FROM requests {where} ORDER BY created_at, id", parameters).fetchall()
        return [_request(row) for row in rows]

    def due_deliveries(self, now: datetime, limit: int = 20, *, all_pending: bool = False) -> list[Delivery]:
        """Pending deliveries whose time has come (every pending one with ``all_pending``), oldest first."""
        due = "" if all_pending else "AND o.next_attempt <= ?"
        parameters = () if all_pending else (format_time(now),)
        submission_columns = ", ".join(f"s.{name.strip()}" for name in _COLUMNS.split(","))
        request_columns = ", ".join(f"r.{name.strip()}" for name in _REQUEST_COLUMNS.split(","))
        with self._lock:
            for_submissions = self._db.execute(
                f"SELECT o.id, o.channel, o.attempts, o.next_attempt, {submission_columns} FROM outbox o JOIN submissions s ON s.id = o.submission "
                f"WHERE o.state = 'pending' {due} ORDER BY o.next_attempt, o.id LIMIT ?",
                (*parameters, limit),
            ).fetchall()
            for_requests = self._db.execute(
                f"SELECT o.id, o.channel, o.attempts, o.next_attempt, {request_columns} FROM outbox o JOIN requests r ON r.id = o.request "
                f"WHERE o.state = 'pending' {due} ORDER BY o.next_attempt, o.id LIMIT ?",
                (*parameters, limit),
            ).fetchall()
        found = [(row[3], row[0], Delivery(id=row[0], channel=row[1], attempts=row[2], submission=_submission(row[4:]))) for row in for_submissions]
        found += [(row[3], row[0], Delivery(id=row[0], channel=row[1], attempts=row[2], request=_request(row[4:]))) for row in for_requests]
        return [delivery for _, _, delivery in sorted(found, key=lambda item: item[:2])[:limit]]

    def record_deliveries(self, sent: list[tuple[int, int]], failed: list[tuple[int, int, str, datetime | None]]) -> None:
        """The outcome of a batch of attempts, in one commit: ``(id, attempts)`` sent, and
        ``(id, attempts, error, retry_at)`` failed (``retry_at`` ``None``: failed for good)."""
        now = format_time(utc_now())

        def work(db: sqlite3.Connection) -> None:
            db.executemany("UPDATE outbox SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL WHERE id = ?", [(attempts, now, id_) for id_, attempts in sent])
            db.executemany(
                "UPDATE outbox SET state = ?, attempts = ?, last_error = ?, next_attempt = coalesce(?, next_attempt) WHERE id = ?",
                [("pending" if retry_at else "failed", attempts, error[:500], format_time(retry_at) if retry_at else None, id_) for id_, attempts, error, retry_at in failed],
            )

        if sent or failed:
            with self._lock:
                self._transaction(work)

    def delivered(self, delivery_id: int, attempts: int) -> None:
        with self._lock:
            self._write(
                "UPDATE outbox SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL WHERE id = ?",
                (attempts, format_time(utc_now()), delivery_id),
            )

    def delivery_failed(self, delivery_id: int, attempts: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: try again at ``retry_at``, or never (``None``: failed for good)."""
        state = "pending" if retry_at is not None else "failed"
        with self._lock:
            self._write(
                "UPDATE outbox SET state = ?, attempts = ?, last_error = ?, next_attempt = coalesce(?, next_attempt) WHERE id = ?",
                (state, attempts, error[:500], format_time(retry_at) if retry_at else None, delivery_id),
            )

    def deliveries(self, states: Iterable[str] = ("pending", "failed"), public_id: str | None = None) -> list[DeliveryState]:
        states = tuple(states)
        where = f"o.state IN ({', '.join('?' * len(states))})" + (" AND coalesce(s.public_id, r.public_id) = ?" if public_id else "")
        with self._lock:
            rows = self._db.execute(
                "SELECT o.id, coalesce(s.public_id, r.public_id), o.channel, o.state, o.attempts, o.next_attempt, o.last_error, o.created_at, o.sent_at "
                "FROM outbox o LEFT JOIN submissions s ON s.id = o.submission LEFT JOIN requests r ON r.id = o.request "
                f"WHERE {where} ORDER BY o.id",
                (*states, *((public_id,) if public_id else ())),
            ).fetchall()
        return [
            DeliveryState(row[0], row[1], row[2], row[3], row[4], parse_time(row[5]), row[6], parse_time(row[7]), parse_time(row[8]) if row[8] else None)
            for row in rows
        ]

    def retry_deliveries(self, ids: Iterable[int] | None = None) -> int:
        """Failed deliveries (those in ``ids``, or all) made pending again, due now; the number."""
        ids = None if ids is None else tuple(ids)
        where = "" if ids is None else f" AND id IN ({', '.join('?' * len(ids))})"
        with self._lock:
            return self._write(
                f"UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = ? WHERE state = 'failed'{where}",
                (format_time(utc_now()), *(ids or ())),
            )

    def remember_definitions(self, definitions: Iterable[StoredDefinition]) -> int:
        """Record definitions served; those already known are left as they are. The number new."""
        definitions = list(definitions)
        with self._lock:
            self._definitions.update((d.digest, d) for d in definitions)
            self._ensure_file()
            return self._remember_locked(definitions)

    def _remember_locked(self, definitions: list[StoredDefinition]) -> int:
        rows = [(d.digest, d.assessment, d.version, d.definition, format_time(utc_now())) for d in definitions]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO definitions (digest, assessment, version, definition, first_served) VALUES (?, ?, ?, ?, ?)", rows)
            added = self._db.total_changes - before
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return added

    def definition(self, digest: str) -> StoredDefinition | None:
        with self._lock:
            row = self._db.execute("SELECT digest, assessment, version, definition FROM definitions WHERE digest = ?", (digest,)).fetchone()
        return StoredDefinition(*row) if row else None

    def all(self) -> list[Submission]:
        return self._select("ORDER BY created_at, id")

    def by_email(self, email: str) -> list[Submission]:
        return self._select("WHERE email = ? ORDER BY created_at, id", (normalise_email(email),))

    def erase_email(self, email: str) -> int:
        """Every submission and request stored under ``email``; the number of submissions."""
        self._delete("WHERE email = ?", (normalise_email(email),), table="requests")
        return self._delete("WHERE email = ?", (normalise_email(email),))

    def purge_older_than(self, cutoff: datetime) -> int:
        """Submissions and requests received before ``cutoff``; the number of submissions."""
        self._delete("WHERE created_at < ?", (format_time(cutoff),), table="requests")
        return self._delete("WHERE created_at < ?", (format_time(cutoff),))

    def stats(self) -> Stats:
        with self._lock:
            rows = self._db.execute(
                "SELECT assessment, band, count(*), sum(score), "
                "sum(consent = 1 AND coalesce(name, email, organisation, message) IS NOT NULL), sum(coalesce(discuss, 0)) "
                "FROM submissions GROUP BY assessment, band ORDER BY assessment, band"
            ).fetchall()
        totals: dict[str, dict] = {}
        for assessment, band, count, score_sum, contact, discuss in rows:
            entry = totals.setdefault(assessment, {"count": 0, "sum": 0, "bands": {}, "contact": 0, "discuss": 0})
            entry["count"] += count
            entry["sum"] += score_sum
            entry["bands"][band] = count
            entry["contact"] += contact
            entry["discuss"] += discuss
        return Stats(
            count=sum(entry["count"] for entry in totals.values()),
            assessments={
                key: AssessmentStats(
                    count=entry["count"],
                    mean_score=entry["sum"] / entry["count"] if entry["count"] else None,
                    bands=entry["bands"],
                    with_contact=entry["contact"],
                    discuss=entry["discuss"],
                )
                for key, entry in totals.items()
            },
        )

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

    # Helper functions

    def _write(self, sql: str, parameters: tuple) -> int:
        """Run one change in its own transaction, committed (and synced) before returning."""
        return self._transaction(lambda db: db.execute(sql, parameters).rowcount)

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction, committed (and synced) before returning."""
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

    def _delete(self, where: str, parameters: tuple, table: str = "submissions") -> int:
        with self._lock:
            count = self._write(f"DELETE FROM {table} {where}", parameters)
            if count and self.target != MEMORY:
                # move the overwritten pages into the database file and empty the log
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    def _select(self, tail: str, parameters: tuple = ()) -> list[Submission]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM submissions {tail}", parameters).fetchall()
        return [_submission(row) for row in rows]


def _request(row: tuple) -> ContactRequest:
    return ContactRequest(public_id=row[0], created_at=parse_time(row[1]), lang=row[2], kind=row[3], name=row[4], email=row[5], message=row[6])


def _submission(row: tuple) -> Submission:
    return Submission(
        public_id=row[0],
        created_at=parse_time(row[1]),
        assessment=row[2],
        version=row[3],
        lang=row[4],
        answers=json.loads(row[5]),
        score=row[6],
        band=row[7],
        consent=bool(row[8]),
        name=row[9],
        email=row[10],
        organisation=row[11],
        message=row[12],
        discuss=None if row[13] is None else bool(row[13]),
        definition=row[14],
    )
