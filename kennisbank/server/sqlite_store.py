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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TypeVar

from .store import (
    SESSION_LONGEST,
    STATUSES,
    Admin,
    AssessmentStats,
    AuditEntry,
    ContactRequest,
    Delivery,
    DeliveryState,
    Insight,
    Lead,
    LeadFilter,
    Note,
    PeerCounts,
    Session,
    Stats,
    StoredDefinition,
    StoreError,
    StoreURLError,
    Submission,
    format_time,
    normalise_email,
    parse_time,
    utc_now,
)

MEMORY = ":memory:"

log = logging.getLogger("kennisbank.server")

T = TypeVar("T")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_COLUMNS = "public_id, created_at, assessment, version, lang, answers, score, band, consent, name, email, organisation, message, discuss, definition"
_REQUEST_COLUMNS = "public_id, created_at, lang, kind, name, email, message"
_INSERT_SUBMISSION = f"INSERT INTO submissions ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(',')))})"
_NO_COUNTS = (0,) * 101


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
        self._insights: dict[LeadFilter, tuple[tuple[int, int], Insight]] = {}
        self._edges: dict[tuple, tuple[int, Insight]] = {}
        self._months: dict[tuple, tuple[int, Insight]] = {}
        self._peers: dict[str, tuple[tuple[int, int], PeerCounts]] = {}
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

    # The interface

    def add(self, submission: Submission, channels: Iterable[str] = ()) -> PeerCounts:
        (outcome,) = self.add_many([(submission, channels)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def add_many(self, items: Iterable[tuple[Submission, Iterable[str]]]) -> list[PeerCounts | Exception]:
        """Store several submissions in ONE transaction (group commit: one fsync for all),
        each in a savepoint of its own, so that one refused by the schema is rolled back
        alone and reported in its place while the others are stored. Each gets the peer
        counts as they were just before it: the earlier ones of the batch included.

        Returns, in order, the counts before each submission or the exception that refused
        it; an error of the transaction itself (disk full, locked) is raised, and then
        nothing of the batch is stored."""
        items = [(submission, list(channels)) for submission, channels in items]
        now = format_time(utc_now())
        outcomes: list[PeerCounts | Exception] = []
        # the counts as this transaction sees them, per definition: read once (cached), then
        # kept up to date in memory with every insert of the batch; cached only after COMMIT
        counts: dict[str, dict[str, tuple[int, ...]]] = {}

        def work(db: sqlite3.Connection) -> tuple[int, int]:
            for submission, channels in items:
                definition = submission.definition
                if definition and definition not in counts:
                    counts[definition] = dict(self._peer_counts_locked(definition))
                db.execute("SAVEPOINT submission")
                try:
                    rowid = db.execute(_INSERT_SUBMISSION, _row(submission)).lastrowid
                    scores = [(theme, value) for theme, value in submission.themes.items()] if definition else []
                    if scores:
                        db.executemany(
                            "INSERT INTO submission_themes (submission, definition, theme, score) VALUES (?, ?, ?, ?)",
                            [(rowid, definition, theme, value) for theme, value in scores],
                        )
                    db.executemany(
                        "INSERT INTO outbox (submission, channel, next_attempt, created_at) VALUES (?, ?, ?, ?)",
                        [(rowid, channel, now, now) for channel in channels],
                    )
                except sqlite3.IntegrityError as exc:
                    # refused by the schema (a repeated public id, a CHECK): this one only
                    db.execute("ROLLBACK TO submission")
                    db.execute("RELEASE submission")
                    outcomes.append(exc)
                    continue
                db.execute("RELEASE submission")
                if not definition:
                    outcomes.append({})
                    continue
                before = counts[definition]
                outcomes.append(before)
                after = dict(before)
                for measure, value in [("", submission.score), *((theme, value) for theme, value in scores if value is not None)]:
                    values = list(after.get(measure, _NO_COUNTS))
                    values[value] += 1
                    after[measure] = tuple(values)
                counts[definition] = after
            return self._stamp()

        with self._lock:
            stamp = self._transaction(work)
            # the batch's own changes, added to the cached counts: no read for the next
            # submission (the stamp was read just before COMMIT: had another process written
            # in between, its data_version differs, so nothing cached under it goes stale)
            for definition, found in counts.items():
                self._peers[definition] = (stamp, found)
        return outcomes

    # Where a reader stands (migration 0006; the figures: kennisbank.server.peers)

    def peer_counts(self, definition: str) -> PeerCounts:
        with self._lock:
            return self._peer_counts_locked(definition)

    def _stamp(self) -> tuple[int, int]:
        """Changes by this connection, and commits by any other (another process's erase or purge)."""
        return self._db.total_changes, self._db.execute("PRAGMA data_version").fetchone()[0]

    def _peer_counts_locked(self, definition: str) -> PeerCounts:
        """The counts of ``definition``, cached until the data changes."""
        stamp = self._stamp()
        cached = self._peers.get(definition)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        counts: dict[str, list[int]] = {}
        for measure, value, count in self._db.execute("SELECT measure, value, count FROM peer_counts WHERE definition = ? AND count > 0", (definition,)):
            counts.setdefault(measure, [0] * 101)[value] = count
        found = {measure: tuple(values) for measure, values in counts.items()}
        self._peers[definition] = (stamp, found)
        while len(self._peers) > 32:
            self._peers.pop(next(iter(self._peers)))
        return found

    def submissions_without_themes(self, limit: int = 1000, after: int = 0) -> list[tuple[int, str, str, dict]]:
        """``(row id, assessment, definition digest, answers)`` of stored submissions whose theme
        scores were never written (stored before migration 0006), at most ``limit``, row ids above ``after``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.assessment, s.definition, s.answers FROM submissions s WHERE s.definition IS NOT NULL "
                "AND s.id > ? AND NOT EXISTS (SELECT 1 FROM submission_themes t WHERE t.submission = s.id) ORDER BY s.id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    def add_themes(self, rows: Iterable[tuple[int, str, str, int | None]]) -> None:
        """Write ``(row id, definition, theme, score)`` theme scores of stored submissions (the backfill)."""
        rows = list(rows)
        with self._lock:
            self._transaction(
                lambda db: db.executemany(
                    "INSERT OR IGNORE INTO submission_themes (submission, definition, theme, score) "
                    "SELECT id, ?, ?, ? FROM submissions WHERE id = ? AND definition = ?",
                    [(definition, theme, value, rowid, definition) for rowid, definition, theme, value in rows],
                )
            )

    # The outbox

    def add_request(self, request: ContactRequest, channels: Iterable[str] = ()) -> None:
        """The request and a pending outbox delivery per channel, in one transaction: both or neither."""
        row = (request.public_id, format_time(request.created_at), request.lang, request.kind, request.name, normalise_email(request.email), request.message)
        now = format_time(utc_now())

        def work(db: sqlite3.Connection) -> None:
            rowid = db.execute(f"INSERT INTO requests ({_REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row).lastrowid
            db.executemany(
                "INSERT INTO outbox (request, channel, next_attempt, created_at) VALUES (?, ?, ?, ?)", [(rowid, channel, now, now) for channel in channels]
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
            db.executemany(
                "UPDATE outbox SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL WHERE id = ?", [(attempts, now, id_) for id_, attempts in sent]
            )
            db.executemany(
                "UPDATE outbox SET state = ?, attempts = ?, last_error = ?, next_attempt = coalesce(?, next_attempt) WHERE id = ?",
                [
                    ("pending" if retry_at else "failed", attempts, error[:500], format_time(retry_at) if retry_at else None, id_)
                    for id_, attempts, error, retry_at in failed
                ],
            )

        if sent or failed:
            with self._lock:
                self._transaction(work)

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
        count = self._delete("WHERE created_at < ?", (format_time(cutoff),))
        # the dashboard's audit log and failed logins are kept no longer than the submissions,
        # and sessions no longer than they can be used (7 days after the login)
        oldest_session = format_time(utc_now() - SESSION_LONGEST)
        with self._lock:
            self._transaction(
                lambda db: (
                    db.execute("DELETE FROM audit_log WHERE at < ?", (format_time(cutoff),)),
                    db.execute("DELETE FROM login_failures WHERE at < ?", (format_time(cutoff),)),
                    db.execute("DELETE FROM admin_sessions WHERE created_at < ?", (oldest_session,)),
                )
            )
        return count

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

    # The dashboard (/beheer/)

    def leads(self, chosen: LeadFilter, limit: int = 50, after: str | None = None) -> list[Lead]:
        """Submissions ``chosen`` selects, newest first, ``limit`` at most, after the cursor ``after``."""
        where, parameters = _where(chosen)
        if after:
            created, _, rowid = after.partition("~")
            if rowid.isdigit():
                where.append("(created_at, id) < (?, ?)")
                parameters += [created, int(rowid)]
        # a search reads the leads' index newest first, not every row (the planner, left
        # alone, may walk submissions_created_at and read each row to test the LIKE)
        source = "submissions INDEXED BY submissions_search" if chosen.search else "submissions"
        sql = f"SELECT {_COLUMNS}, status, id FROM {source} {_clause(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*parameters, limit)).fetchall()
        return [Lead(_submission(row[:15]), row[15], f"{row[1]}~{row[16]}") for row in rows]

    def count_leads(self, chosen: LeadFilter) -> int:
        """How many submissions ``chosen`` selects: whole months from ``insight_counts``, partial months and searches from the rows."""
        with self._lock:
            if chosen.search:
                where, parameters = _where(chosen)
                return self._db.execute(f"SELECT count(*) FROM submissions {_clause(where)}", parameters).fetchone()[0]
            first, last, edges = _months(chosen.since, chosen.until)
            count = 0
            if first is None or last is None or first <= last:
                dimensions, parameters = _dimensions(chosen)
                dimensions += ["month >= ?"] * (first is not None) + ["month <= ?"] * (last is not None)
                parameters += [month for month in (first, last) if month is not None]
                count += self._db.execute(f"SELECT coalesce(sum(n), 0) FROM insight_counts {_clause(dimensions)}", parameters).fetchone()[0]
            for since, until in edges:
                where, parameters = _where(replace(chosen, since=since, until=until))
                count += self._db.execute(f"SELECT count(*) FROM submissions {_clause(where)}", parameters).fetchone()[0]
            return count

    def lead(self, public_id: str) -> Lead | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS}, status, id FROM submissions WHERE public_id = ?", (public_id,)).fetchone()
        return Lead(_submission(row[:15]), row[15], f"{row[1]}~{row[16]}") if row else None

    def set_status(self, public_id: str, status: str) -> bool:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        with self._lock:
            return self._write("UPDATE submissions SET status = ? WHERE public_id = ?", (status, public_id)) == 1

    def add_note(self, public_id: str, author: str, text: str) -> bool:
        with self._lock:
            return (
                self._write(
                    "INSERT INTO notes (submission, author, created_at, text) SELECT id, ?, ?, ? FROM submissions WHERE public_id = ?",
                    (author, format_time(utc_now()), text, public_id),
                )
                == 1
            )

    def notes(self, public_id: str) -> list[Note]:
        with self._lock:
            rows = self._db.execute(
                "SELECT n.author, n.created_at, n.text FROM notes n JOIN submissions s ON s.id = n.submission WHERE s.public_id = ? ORDER BY n.id",
                (public_id,),
            ).fetchall()
        return [Note(row[0], parse_time(row[1]), row[2]) for row in rows]

    def select(self, chosen: LeadFilter) -> list[Submission]:
        """Every submission ``chosen`` selects, oldest first (the dashboard's export)."""
        where, parameters = _where(chosen)
        return self._select(f"{_clause(where)} ORDER BY created_at, id", tuple(parameters))

    def insight(self, chosen: LeadFilter) -> Insight:
        """The counts behind the charts.

        Whole months come from the aggregate tables of migration 0005 (kept by triggers,
        so they are current after every write); a month the period covers only in part is
        counted from its rows and kept until that month's rows change (a new submission
        changes only the current month). A search counts every row it finds."""
        with self._lock:
            if chosen.search:
                return self._searched_insight_locked(chosen)
            return self._insight_locked(chosen)

    def _insight_locked(self, chosen: LeadFilter) -> Insight:
        first, last, edges = _months(chosen.since, chosen.until)
        period = ["month >= ?"] * (first is not None) + ["month <= ?"] * (last is not None)
        bounds = [month for month in (first, last) if month is not None]
        parts = []
        # month by month, each kept until its rows change: a new submission re-sums only
        # the current month's few thousand aggregate rows, not the whole year's
        for month, changes in self._db.execute(f"SELECT month, changes FROM insight_changes {_clause(period)}", bounds).fetchall():
            key = (replace(chosen, since=None, until=None, search=None), month, self._identity)
            cached = self._months.get(key)
            if cached is None or cached[0] != changes:
                cached = (changes, self._month_insight_locked(chosen, month))
                self._months[key] = cached
            parts.append(cached[1])
        while len(self._months) > 1024:
            self._months.pop(next(iter(self._months)))
        parts += [self._edge_locked(chosen, since, until) for since, until in edges]
        count, scores, months, answers = 0, {}, {}, {}
        for part in parts:
            count += part.count
            for decile, n in part.scores.items():
                scores[decile] = scores.get(decile, 0) + n
            for month, bands in part.bands_by_month.items():
                per_band = months.setdefault(month, {})
                for band, n in bands.items():
                    per_band[band] = per_band.get(band, 0) + n
            for question, values in part.answers.items():
                per_question = answers.setdefault(question, {})
                for value, n in values.items():
                    per_question[value] = per_question.get(value, 0) + n
        return Insight(count, scores, dict(sorted(months.items())), answers)

    def _month_insight_locked(self, chosen: LeadFilter, month: str) -> Insight:
        """One whole month's figures from the aggregate tables."""
        dimensions, parameters = _dimensions(chosen)
        clause = _clause(["month = ?", *dimensions])
        parameters = [month, *parameters]
        scores: dict[int, int] = {}
        months: dict[str, dict[str, int]] = {}
        count = _add_scores(self._db.execute(f"SELECT month, band, decile, sum(n) FROM insight_counts {clause} GROUP BY 1, 2, 3", parameters), scores, months)
        answers: dict = {}
        for question, value, n in self._db.execute(f"SELECT question, answer, sum(n) FROM insight_answers {clause} GROUP BY 1, 2", parameters):
            answers.setdefault(question, {})[value] = n
        return Insight(count, scores, months, answers)

    def _edge_locked(self, chosen: LeadFilter, since: str, until: str) -> Insight:
        """The figures of the days ``since``..``until`` (one month, in part) from the rows, kept while that month is unchanged."""
        row = self._db.execute("SELECT changes FROM insight_changes WHERE month = ?", (since[:7],)).fetchone()
        changes = row[0] if row else 0
        key = (replace(chosen, since=since, until=until, search=None), self._identity)
        cached = self._edges.get(key)
        if cached is not None and cached[0] == changes:
            return cached[1]
        found = self._rows_insight_locked(replace(chosen, since=since, until=until, search=None))
        self._edges[key] = (changes, found)
        while len(self._edges) > 64:
            self._edges.pop(next(iter(self._edges)))
        return found

    def _searched_insight_locked(self, chosen: LeadFilter) -> Insight:
        version = (self._db.total_changes, self._db.execute("PRAGMA data_version").fetchone()[0])
        cached = self._insights.get(chosen)
        if cached is not None and cached[0] == version:
            return cached[1]
        found = self._rows_insight_locked(chosen)
        self._insights[chosen] = (version, found)
        while len(self._insights) > 32:
            self._insights.pop(next(iter(self._insights)))
        return found

    def _rows_insight_locked(self, chosen: LeadFilter) -> Insight:
        """The figures counted from the rows (a partial month, a search; the tests' reference)."""
        where, parameters = _where(chosen)
        clause = _clause(where)
        scores: dict[int, int] = {}
        months: dict[str, dict[str, int]] = {}
        grouped = f"SELECT substr(created_at, 1, 7), band, min(score / 10, 9), count(*) FROM submissions {clause} GROUP BY 1, 2, 3"
        count = _add_scores(self._db.execute(grouped, parameters), scores, months)
        # identical answer sets are counted once by SQLite, then split per question here
        answers: dict[str, dict[int, int]] = {}
        for text, n in self._db.execute(f"SELECT answers, count(*) FROM submissions {clause} GROUP BY answers", parameters):
            for question, value in json.loads(text).items():
                counts = answers.setdefault(question, {})
                counts[value] = counts.get(value, 0) + n
        return Insight(count, scores, dict(sorted(months.items())), answers)

    # Accounts, sessions, failed logins, the audit log

    def add_admin(self, email: str, password_hash: str, *, replace: bool = False) -> bool:
        """Add an account (or with ``replace`` set a new password, ending its sessions); whether it is new."""
        email = normalise_email(email)

        def work(db: sqlite3.Connection) -> bool:
            found = db.execute("SELECT id FROM admins WHERE email = ?", (email,)).fetchone()
            if found and not replace:
                raise StoreError(f"the account {email} exists. Fix: remove it first (kennisbank admin remove {email}) or give --reset to set a new password")
            if found:
                db.execute("UPDATE admins SET password = ? WHERE id = ?", (password_hash, found[0]))
                db.execute("DELETE FROM admin_sessions WHERE admin = ?", (found[0],))
                return False
            db.execute("INSERT INTO admins (email, password, created_at) VALUES (?, ?, ?)", (email, password_hash, format_time(utc_now())))
            return True

        with self._lock:
            return self._transaction(work)

    def remove_admin(self, email: str) -> bool:
        """Remove an account and its sessions; whether there was one."""
        with self._lock:
            return self._write("DELETE FROM admins WHERE email = ?", (normalise_email(email),)) == 1

    def admins(self) -> list[Admin]:
        with self._lock:
            rows = self._db.execute("SELECT id, email, password, totp_secret, totp_last, created_at FROM admins ORDER BY email").fetchall()
        return [_admin(row) for row in rows]

    def admin(self, email: str) -> Admin | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, email, password, totp_secret, totp_last, created_at FROM admins WHERE email = ?", (normalise_email(email),)
            ).fetchone()
        return _admin(row) if row else None

    def update_admin(self, admin_id: int, **changes: object) -> None:
        """Change ``password``, ``totp_secret`` or ``totp_last`` of an account."""
        allowed = {"password", "totp_secret", "totp_last"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"only {', '.join(sorted(allowed))} can be changed")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._lock:
            self._write(f"UPDATE admins SET {assignments} WHERE id = ?", (*changes.values(), admin_id))

    def use_totp_step(self, admin_id: int, step: int) -> bool:
        """Record a TOTP time step as used; ``False`` if it (or a later one) was used before (a replay)."""
        with self._lock:
            return self._write("UPDATE admins SET totp_last = ? WHERE id = ? AND coalesce(totp_last, -1) < ?", (step, admin_id, step)) == 1

    def create_session(self, token_hash: str, admin_id: int, csrf: str, lang: str) -> None:
        now = format_time(utc_now())
        with self._lock:
            self._write(
                "INSERT INTO admin_sessions (token_hash, admin, csrf, lang, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, admin_id, csrf, lang, now, now),
            )

    def session(self, token_hash: str) -> Session | None:
        with self._lock:
            row = self._db.execute(
                "SELECT a.id, a.email, a.password, a.totp_secret, a.totp_last, a.created_at, s.csrf, s.lang, s.created_at, s.last_seen "
                "FROM admin_sessions s JOIN admins a ON a.id = s.admin WHERE s.token_hash = ?",
                (token_hash,),
            ).fetchone()
        return Session(_admin(row[:6]), row[6], row[7], parse_time(row[8]), parse_time(row[9])) if row else None

    def touch_session(self, token_hash: str, lang: str | None = None) -> None:
        with self._lock:
            self._write(
                "UPDATE admin_sessions SET last_seen = ?, lang = coalesce(?, lang) WHERE token_hash = ?",
                (format_time(utc_now()), lang, token_hash),
            )

    def end_session(self, token_hash: str) -> None:
        with self._lock:
            self._write("DELETE FROM admin_sessions WHERE token_hash = ?", (token_hash,))

    def end_sessions_before(self, created_before: datetime, seen_before: datetime) -> int:
        """Delete sessions started before the one or idle since before the other; the number."""
        with self._lock:
            return self._write("DELETE FROM admin_sessions WHERE created_at < ? OR last_seen < ?", (format_time(created_before), format_time(seen_before)))

    def login_failed(self, keys: list[str], forget_before: datetime | None = None) -> None:
        """Record a failed login under ``keys``; forget those before ``forget_before`` (out of every window)."""
        now = format_time(utc_now())

        def work(db: sqlite3.Connection) -> None:
            if forget_before is not None:
                db.execute("DELETE FROM login_failures WHERE at < ?", (format_time(forget_before),))
            db.executemany("INSERT INTO login_failures (key, at) VALUES (?, ?)", [(key, now) for key in keys])

        with self._lock:
            self._transaction(work)

    def login_failures(self, key: str, since: datetime) -> list[datetime]:
        """The times of the failed logins under ``key`` since ``since``, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT at FROM login_failures WHERE key = ? AND at >= ? ORDER BY at", (key, format_time(since))).fetchall()
        return [parse_time(row[0]) for row in rows]

    def clear_login_failures(self, key: str) -> None:
        with self._lock:
            self._write("DELETE FROM login_failures WHERE key = ?", (key,))

    def audit(self, actor: str, action: str, subject: str | None = None, detail: str | None = None) -> None:
        with self._lock:
            self._write(
                "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                (format_time(utc_now()), actor, action, subject, detail),
            )

    def audit_log(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first, ``limit`` entries older than entry ``before``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before if before is not None else 2**62, limit),
            ).fetchall()
        return [AuditEntry(row[0], parse_time(row[1]), row[2], row[3], row[4], row[5]) for row in rows]

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


def _row(submission: Submission) -> tuple:
    """A submission as the values of ``_INSERT_SUBMISSION``."""
    return (
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


def _admin(row: tuple) -> Admin:
    return Admin(row[0], row[1], row[2], row[3], row[4], parse_time(row[5]))


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(chosen: LeadFilter) -> tuple[list[str], list]:
    """The conditions (and their parameters) of a dashboard filter; every value a parameter."""
    where: list[str] = []
    parameters: list = []
    if chosen.since:
        where.append("created_at >= ?")
        parameters.append(f"{chosen.since}T00:00:00Z")
    if chosen.until:
        where.append("created_at <= ?")
        parameters.append(f"{chosen.until}T23:59:59Z")
    dimensions, values = _dimensions(chosen)
    where += dimensions
    parameters += values
    if chosen.search:
        # only a lead has an email or organisation (the table's CHECK): consent = 1 lets
        # SQLite read the smaller index submissions_search (migration 0005) instead of every row
        where.append("consent = 1 AND (email LIKE ? ESCAPE '\\' OR organisation LIKE ? ESCAPE '\\')")
        parameters += [_like(chosen.search)] * 2
    return where, parameters


def _dimensions(chosen: LeadFilter) -> tuple[list[str], list]:
    """The conditions of a filter on the aggregate tables of migration 0005 (the period apart)."""
    where: list[str] = []
    parameters: list = []
    for column in ("assessment", "band", "lang", "status"):
        value = getattr(chosen, column)
        if value:
            where.append(f"{column} = ?")
            parameters.append(value)
    if chosen.kind == "lead":
        where.append("consent = 1")
    elif chosen.kind == "anonymous":
        where.append("consent = 0")
    return where, parameters


def _months(since: str | None, until: str | None) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """A period's whole months (first and last ``YYYY-MM``; ``None``: open) and its partial months' days.

    ``2026-03-15``..``2026-06-30`` is the whole months 2026-04..2026-06 and the days
    2026-03-15..2026-03-31. Whole months with ``first > last`` select nothing."""
    start = date.fromisoformat(since) if since else None
    end = date.fromisoformat(until) if until else None
    if start and end and start > end:
        return "9999-12", "0000-01", []
    edges: list[tuple[str, str]] = []
    first = last = None
    if start:
        first = f"{start:%Y-%m}"
        if start.day != 1:
            month_end = _month_end(start)
            edges.append((start.isoformat(), min(month_end, end).isoformat() if end else month_end.isoformat()))
            first = f"{month_end + timedelta(days=1):%Y-%m}"
    if end:
        last = f"{end:%Y-%m}"
        if end != _month_end(end):
            month_start = end.replace(day=1)
            if not (start and start.day != 1 and (start.year, start.month) == (end.year, end.month)):
                edges.append((max(month_start, start).isoformat() if start else month_start.isoformat(), end.isoformat()))
            last = f"{month_start - timedelta(days=1):%Y-%m}"
    return first, last, edges


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _add_scores(rows: Iterable[tuple], scores: dict[int, int], months: dict[str, dict[str, int]]) -> int:
    """Add ``(month, band, decile, count)`` rows to the score and band counts; their total."""
    count = 0
    for month, band, decile, n in rows:
        count += n
        scores[decile] = scores.get(decile, 0) + n
        per_band = months.setdefault(month, {})
        per_band[band] = per_band.get(band, 0) + n
    return count


def _clause(where: list[str]) -> str:
    return ("WHERE " + " AND ".join(where)) if where else ""
