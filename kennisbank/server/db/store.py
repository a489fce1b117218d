"""Where submissions are kept: one store for SQLite and PostgreSQL, the only way into a database.

``open_store`` opens the database ``DATABASE_URL`` names (``sqlite:///...`` or
``postgresql://...``), migrated to the current schema (:mod:`.migrate`). Every module
outside ``db/`` uses :class:`SubmissionStore`'s public methods and nothing else: the
statements are here, written once for both databases (SQLAlchemy ``text()`` with
``:name`` parameters against :mod:`.schema`'s tables); what a database does its own way is
in :mod:`.dialects`. The values going in and out are :mod:`.records`' (re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import conninfo

from kennisbank.assessment.model import NO_VERDICT
from kennisbank.server import redaction
from kennisbank.server.db import insight, migrate, reach
from kennisbank.server.db.dialects import MEMORY, POOL_SIZE, Db, PostgreSQL, SideConnection, SQLite
from kennisbank.server.db.reach import ReachFigures, ReachFilter
from kennisbank.server.db.records import (
    CONTACT_KEYS,
    SESSION_IDLE,
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
    answer_ids,
    format_time,
    months_before,
    new_public_id,
    normalise_email,
    parse_time,
    utc_now,
)

__all__ = [
    "CONTACT_KEYS",
    "SESSION_IDLE",
    "SESSION_LONGEST",
    "STATUSES",
    "Admin",
    "AssessmentStats",
    "AuditEntry",
    "ContactRequest",
    "Delivery",
    "DeliveryState",
    "Insight",
    "Lead",
    "LeadFilter",
    "Note",
    "PeerCounts",
    "ReachFigures",
    "ReachFilter",
    "Session",
    "Stats",
    "StoreError",
    "StoreURLError",
    "StoredDefinition",
    "Submission",
    "SubmissionStore",
    "answer_ids",
    "format_time",
    "months_before",
    "new_public_id",
    "normalise_email",
    "open_source",
    "open_store",
    "parse_database_url",
    "parse_time",
    "utc_now",
]

COLUMNS = "public_id, created_at, assessment, version, lang, answers, score, band, consent, name, email, organisation, message, discuss, definition"
REQUEST_COLUMNS = "public_id, created_at, lang, kind, name, email, message"
NO_COUNTS = (0,) * 101
LEASE = timedelta(minutes=5)
"""How long a claimed delivery stays with its worker (PostgreSQL) unless the caller gives its own."""

# the statements of the hot path (a submission), written once: compiled once per dialect
INSERT_SUBMISSION = f"INSERT INTO submissions ({COLUMNS}) VALUES ({', '.join(':' + name.strip() for name in COLUMNS.split(','))}) RETURNING id"
INSERT_THEME = "INSERT INTO submission_themes (submission, definition, theme, score) VALUES (:submission, :definition, :theme, :score)"
INSERT_DELIVERY = "INSERT INTO outbox ({owner}, channel, next_attempt, created_at) VALUES (:owner, :channel, :now, :now)"
PEER_COUNTS = "SELECT measure, value, count FROM peer_counts WHERE definition = :definition AND count > 0"
ADMIN_COLUMNS = "id, email, password, totp_secret, totp_last, created_at"
# a recorded outcome ends the claim (PostgreSQL's columns), and is recorded only under the claim that took the row
SENT = "UPDATE outbox SET state = 'sent', attempts = :attempts, sent_at = :now, last_error = NULL{unclaim} WHERE id = :id{claimed}"
FAILED = "UPDATE outbox SET state = :state, attempts = :attempts, last_error = :error, next_attempt = coalesce(:retry_at, next_attempt){unclaim} WHERE id = :id{claimed}"


def parse_database_url(url: str, base: Path) -> tuple[str, str | Path]:
    """``(dialect, target)`` of ``url``: a SQLite file (relative to ``base``) or ``:memory:``, or a libpq URL."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise StoreURLError(  # the value not shown: it may hold a password
            "the value is not a database URL (no :// after the scheme)",
            "write it as sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3 or postgresql://user:password@host/database",
        )
    if scheme == "sqlite":
        return "sqlite", _sqlite_target(rest, base)
    if scheme in ("postgresql", "postgres"):
        return "postgresql", _postgresql_target(rest)
    known = scheme if re.fullmatch(r"[a-z][a-z0-9+.-]{0,20}", scheme) else "in it"  # what may be a mistyped password is not shown
    raise StoreURLError(f"unknown database scheme {known!r}", "use one of: postgres, postgresql, sqlite (e.g. sqlite:///var/kennisbank.sqlite3)")


def _sqlite_target(rest: str, base: Path) -> str | Path:
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


def _postgresql_target(rest: str) -> str:
    """The libpq URL, checked. No message shows the password: libpq's own (which quotes the token it
    could not read, the password itself when its percent-encoding is broken) has it replaced by ``***``."""
    url = f"postgresql://{rest}"
    fix = "write it as postgresql://user:password@host:5432/database, with %, /, @ and # in the user name or password percent-encoded (%25, %2F, %40, %23)"
    if "@" not in rest.partition("/")[0] and "@" in rest.partition("?")[0]:
        # libpq reads up to the first / as user:password@host: a / in the password makes the rest of it the host and port
        raise StoreURLError(f"{redaction.url(url)} is not a valid PostgreSQL URL (a / before the @: the password holds a / that is not percent-encoded)", fix)
    try:
        conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise StoreURLError(f"{redaction.url(url)} is not a valid PostgreSQL URL ({redaction.message(str(error).strip(), url)})", fix) from None
    return url


def open_store(url: str, base: Path, *, pool_size: int = POOL_SIZE) -> SubmissionStore:
    """The store ``url`` names, created and migrated to the current schema if needed."""
    return SubmissionStore(*parse_database_url(url, base), pool_size=pool_size)


def open_source(url: str, base: Path) -> SubmissionStore:
    """The store ``url`` names, opened to be read (``kennisbank db copy --from``): it must exist,
    and is neither created nor migrated (SQLite's ``mode=ro``, PostgreSQL's read-only
    transactions); its schema version is the caller's to check."""
    dialect, target = parse_database_url(url, base)
    if target == MEMORY:
        raise StoreError("sqlite:///:memory: is a new, empty database: there is nothing to copy. Fix: name the database file to copy")
    if dialect == "sqlite" and not Path(target).is_file():
        raise StoreError(
            f"{target}: no such file; nothing was read or changed. Fix: check the path (the server's database is DATABASE_URL, by default var/kennisbank.sqlite3)"
        )
    return SubmissionStore(dialect, target, read_only=True)


class SubmissionStore:
    """Every submission the receiver acknowledged (``add`` returns only once it is durable), the
    outbox, the definitions served, and the dashboard's accounts, sessions and figures."""

    def __init__(self, dialect: str, target: str | Path, *, read_only: bool = False, pool_size: int = POOL_SIZE):
        self._dialect: SQLite | PostgreSQL = SQLite(target, read_only) if dialect == "sqlite" else PostgreSQL(str(target), read_only, pool_size)
        self.read_only = read_only
        self.target = self._dialect.label
        """What to call the database in a message (a PostgreSQL URL without its password)."""
        self._definitions: dict[str, StoredDefinition] = {}
        self._insights: dict[LeadFilter, tuple[Any, Insight]] = {}
        self._edges: dict[tuple, tuple[int, Insight]] = {}
        self._months: dict[tuple, tuple[int, Insight]] = {}
        self._peers: dict[str, tuple[Any, PeerCounts]] = {}
        self._reach: dict[tuple, tuple[Any, ReachFigures]] = {}
        self._cache_lock = threading.Lock()
        self._head: int | None = None  # the newest revision (probe), read once
        self._dialect.on_reconnect = self._peers.clear
        if not read_only:
            self.migrate()

    @property
    def REFUSED(self) -> tuple[type[Exception], ...]:  # the name callers catch by
        """The errors with which the database refuses one row (a constraint, a trigger): one submission fails, not its batch."""
        return self._dialect.REFUSED

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect.name

    @property
    def shared(self) -> bool:
        """Whether other processes may serve from this database at the same time (PostgreSQL):
        then the rate limit, the client key and the outbox lock are the database's."""
        return self._dialect.shared

    @property
    def pool_size(self) -> int:
        """Connections this store opens at most (SQLite: its one)."""
        return self._dialect.pool_size

    @property
    def closed(self) -> bool:
        return self._dialect.closed

    # Schema

    @property
    def schema_version(self) -> int:
        """The database's revision (0: never migrated by Alembic; :mod:`.migrate`)."""
        with self._connection() as connection:
            return migrate.version(connection)

    def schema_differences(self) -> list:
        """What the database lacks or has beyond :mod:`.schema` (``[]``: they agree; Alembic's comparison)."""
        with self._connection() as connection:
            return migrate.differences(connection)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A SQLAlchemy connection, for Alembic's reading of the database."""
        with self._dialect.lock if isinstance(self._dialect, SQLite) else contextlib.nullcontext(), self._dialect.engine.connect() as connection:
            yield connection

    def schema_current(self) -> bool:
        """Whether every migration this code knows is applied."""
        return self.schema_version == migrate.head()

    def migrate(self) -> list[str]:
        """Apply the revisions this database lacks; those applied."""
        with self._dialect.migrating() as connection:
            return migrate.upgrade(connection, self.target)

    def check_writable(self) -> None:
        """Raise :class:`StoreError` unless a row can be written now (the start-up check): one is
        written and taken back on the store's own connection, naming the file and the fix."""
        if isinstance(self._dialect, SQLite):
            self._ensure_file()
        self._dialect.check_writable(format_time(utc_now()))

    def probe(self) -> bool:
        """The health check: raise :class:`StoreError` unless a row can be written now (written and
        taken back, as :meth:`check_writable`, but on a connection of its own: never the writer's,
        never under the store's lock); whether every migration this code knows is applied."""
        if isinstance(self._dialect, SQLite) and self._dialect.replaced():
            self._ensure_file()  # once, after the file was deleted or replaced: a new one, migrated
        revision = self._dialect.probe(format_time(utc_now()))
        if self._head is None:
            self._head = migrate.head()
        return revision == self._head

    def close(self) -> None:
        self._dialect.close()

    # Raw SQL, for tools and tests

    def run_sql(self, sql: str, parameters: dict | None = None) -> list[tuple]:
        """Run one statement (``:name`` parameters) in its own transaction; the rows it returns (``[]`` if none)."""

        def work(db: Db) -> list[tuple]:
            cursor = db.execute(sql, parameters)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        if sql.lstrip()[:6].upper() == "PRAGMA":  # SQLite's: some may not change inside a transaction (synchronous)
            with self._dialect.reading() as db:
                return work(db)
        return self._transaction(work)

    # Submissions

    def add(self, submission: Submission, channels: Iterable[str] = ()) -> PeerCounts:
        """Store ``submission`` and a pending delivery per channel, in one transaction; the
        peer counts of its definition as they were just before it (see :mod:`..intake.peers`)."""
        (outcome,) = self.add_many([(submission, channels)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def add_many(self, items: Iterable[tuple[Submission, Iterable[str]]]) -> list[PeerCounts | Exception]:
        """Store several submissions in ONE transaction (group commit, :mod:`..intake.groupcommit`:
        one durable commit for all), each in a savepoint of its own, so that one the schema refuses
        is rolled back alone and reported in its place while the others are stored. Each gets the
        peer counts as they were just before it, the batch's earlier ones included: read in the
        transaction with the writers of its definition taking turns (``peer_stamp``), so
        concurrent batches each see all that came first.

        Returns, in order, the counts before each submission or the exception that refused it;
        an error of the transaction itself is raised, and then nothing of the batch is stored."""
        items = [(submission, list(channels)) for submission, channels in items]
        outcomes: list[PeerCounts | Exception] = []
        # per definition, the counts as this transaction sees them: read once, then kept up to
        # date in memory with every insert of the batch; cached only after the commit
        counts: dict[str, dict[str, tuple[int, ...]]] = {}
        stamps: dict[str, Any] = {}
        dialect = self._dialect
        refused = dialect.REFUSED
        insert_delivery = INSERT_DELIVERY.format(owner="submission")

        def work(db: Db) -> dict[str, Any]:
            outcomes.clear()  # a transaction tried again (a deadlock) starts afresh
            counts.clear()
            stamps.clear()
            now = format_time(utc_now())
            for submission, channels in items:
                definition = submission.definition
                if definition and definition not in counts:
                    stamps[definition] = dialect.peer_stamp(db, definition, claim=True)
                    counts[definition] = dict(self._peer_counts_in(db, definition, stamps[definition]))
                scores = list(submission.themes.items()) if definition else []
                db.raw.execute("SAVEPOINT submission")
                try:
                    rowid = db.execute(INSERT_SUBMISSION, row_of(submission)).fetchone()[0]
                    if scores:
                        db.executemany(
                            INSERT_THEME, [{"submission": rowid, "definition": definition, "theme": theme, "score": value} for theme, value in scores]
                        )
                    db.executemany(insert_delivery, [{"owner": rowid, "channel": channel, "now": now} for channel in channels])
                except refused as error:
                    # refused by the schema (a repeated public id, a CHECK): this one only
                    db.raw.execute("ROLLBACK TO SAVEPOINT submission")
                    db.raw.execute("RELEASE SAVEPOINT submission")
                    outcomes.append(error)
                    continue
                db.raw.execute("RELEASE SAVEPOINT submission")
                if not definition:
                    outcomes.append({})
                    continue
                before = counts[definition]
                outcomes.append(before)
                after = dict(before)
                # as the triggers count (revision 0002): a result without a verdict counts nowhere
                total = [] if submission.band == NO_VERDICT else [("", submission.score)]
                for measure, value in [*total, *((theme, value) for theme, value in scores if value is not None)]:
                    values = list(after.get(measure, NO_COUNTS))
                    values[value] += 1
                    after[measure] = tuple(values)
                counts[definition] = after
            return {definition: dialect.peer_stamp(db, definition) for definition in counts}

        stamps_after = self._transaction(work)
        # the batch's own changes, added to the counts read before it: no read for the next
        # submission (only if nothing else refreshed them meanwhile: the stamp they were read at is still theirs)
        with self._cache_lock:
            for definition, found in counts.items():
                cached = self._peers.get(definition)
                if cached is not None and cached[0] == stamps[definition]:
                    self._peers[definition] = (stamps_after[definition], found)
        return outcomes

    def peer_counts(self, definition: str) -> PeerCounts:
        """The submissions of ``definition`` counted per measure and score, as stored now."""
        with self._dialect.reading() as db:
            return self._peer_counts_in(db, definition, self._dialect.peer_stamp(db, definition))

    def _peer_counts_in(self, db: Db, definition: str, stamp: Any) -> PeerCounts:
        """The counts of ``definition``, cached until its stamp changes."""
        cached = self._peers.get(definition)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        counts: dict[str, list[int]] = {}
        for measure, value, count in db.execute(PEER_COUNTS, {"definition": definition}):
            counts.setdefault(measure, [0] * 101)[value] = count
        found = {measure: tuple(values) for measure, values in counts.items()}
        with self._cache_lock:
            self._peers[definition] = (stamp, found)
            while len(self._peers) > 32:
                self._peers.pop(next(iter(self._peers)))
        return found

    def submissions_without_themes(self, limit: int = 1000, after: int = 0) -> list[tuple[int, str, str, dict]]:
        """``(row id, assessment, definition digest, answers)`` of stored submissions whose theme
        scores were never written (stored before they were kept), at most ``limit``, row ids above ``after``."""
        with self._dialect.reading() as db:
            rows = db.execute(
                "SELECT s.id, s.assessment, s.definition, s.answers FROM submissions s WHERE s.definition IS NOT NULL "
                "AND s.id > :after AND NOT EXISTS (SELECT 1 FROM submission_themes t WHERE t.submission = s.id) ORDER BY s.id LIMIT :limit",
                {"after": after, "limit": limit},
            ).fetchall()
        return [(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    def add_themes(self, rows: Iterable[tuple[int, str, str, int | None]]) -> None:
        """Write ``(row id, definition, theme, score)`` theme scores of stored submissions (the backfill)."""
        rows = [{"theme": theme, "score": value, "id": rowid, "definition": definition} for rowid, definition, theme, value in rows]
        self._transaction(
            lambda db: db.executemany(
                "INSERT INTO submission_themes (submission, definition, theme, score) "
                "SELECT id, definition, :theme, CAST(:score AS INTEGER) FROM submissions WHERE id = :id AND definition = :definition ON CONFLICT DO NOTHING",
                rows,
            )
        )

    # The outbox

    def add_request(self, request: ContactRequest, channels: Iterable[str] = ()) -> None:
        """Store a reader's request and a pending delivery per channel, in one transaction."""
        row = {
            "public_id": request.public_id,
            "created_at": format_time(request.created_at),
            "lang": request.lang,
            "kind": request.kind,
            "name": request.name,
            "email": normalise_email(request.email),
            "message": request.message,
        }
        now = format_time(utc_now())
        channels = list(channels)

        def work(db: Db) -> None:
            rowid = db.execute(
                f"INSERT INTO requests ({REQUEST_COLUMNS}) VALUES (:public_id, :created_at, :lang, :kind, :name, :email, :message) RETURNING id", row
            ).fetchone()[0]
            db.executemany(INSERT_DELIVERY.format(owner="request"), [{"owner": rowid, "channel": channel, "now": now} for channel in channels])

        self._transaction(work)

    def requests(self, email: str | None = None) -> list[ContactRequest]:
        """Every request (under ``email``, if given), oldest first."""
        where = "WHERE email = :email" if email else ""
        with self._dialect.reading() as db:
            rows = db.execute(f"SELECT {REQUEST_COLUMNS} FROM requests {where} ORDER BY created_at, id", {"email": normalise_email(email or "")}).fetchall()
        return [request_of(row) for row in rows]

    def due_deliveries(
        self, now: datetime, limit: int = 20, *, all_pending: bool = False, lease: timedelta = LEASE, channel: str | None = None
    ) -> list[Delivery]:
        """Pending deliveries whose time has come (every pending one with ``all_pending``), oldest first, ``limit`` at most;
        with ``channel``, only that channel's (the outbox worker's loop of one channel).

        On a database several workers share (PostgreSQL) they are claimed for ``lease``: another
        worker skips them until they are recorded or the lease ends. A claim has a token of its own
        (``Delivery.claim``); only it records their outcomes (:meth:`record_deliveries`), so a worker
        whose lease ran out while it was still sending cannot overwrite the result of the worker that
        took them over. The caller sizes ``limit`` to what it can send within the lease."""
        due = None if all_pending else format_time(now)
        if not self.shared:
            where = "o.state = 'pending'" + ("" if all_pending else " AND o.next_attempt <= :due") + ("" if channel is None else " AND o.channel = :channel")
            with self._dialect.reading() as db:
                return self._deliveries_in(db, where, {"due": due, "channel": channel}, limit)
        claim = f"{os.getpid()}-{secrets.token_hex(8)}"
        started = time.monotonic()  # before the database's now(): the lease ends no earlier than claim_ends

        def work(db: Db) -> list[Delivery]:
            ids = self._dialect.claim(db, claim, lease.total_seconds(), due, limit, channel)
            if not ids:
                return []
            return self._deliveries_in(db, f"o.id IN ({', '.join(str(int(id_)) for id_ in ids)})", {}, limit)

        ends = started + lease.total_seconds()
        return [replace(delivery, claim=claim, claim_ends=ends) for delivery in self._transaction(work)]

    def _deliveries_in(self, db: Db, where: str, parameters: dict, limit: int) -> list[Delivery]:
        """The deliveries ``where`` selects with what they carry, oldest due first, ``limit`` at most."""
        submission_columns = ", ".join(f"s.{name.strip()}" for name in COLUMNS.split(","))
        request_columns = ", ".join(f"r.{name.strip()}" for name in REQUEST_COLUMNS.split(","))
        parameters = {**parameters, "limit": limit}
        for_submissions = db.execute(
            f"SELECT o.id, o.channel, o.attempts, o.next_attempt, {submission_columns} FROM outbox o JOIN submissions s ON s.id = o.submission "
            f"WHERE {where} ORDER BY o.next_attempt, o.id LIMIT :limit",
            parameters,
        ).fetchall()
        for_requests = db.execute(
            f"SELECT o.id, o.channel, o.attempts, o.next_attempt, {request_columns} FROM outbox o JOIN requests r ON r.id = o.request "
            f"WHERE {where} ORDER BY o.next_attempt, o.id LIMIT :limit",
            parameters,
        ).fetchall()
        found = [(row[3], row[0], Delivery(id=row[0], channel=row[1], attempts=row[2], submission=submission_of(row[4:]))) for row in for_submissions]
        found += [(row[3], row[0], Delivery(id=row[0], channel=row[1], attempts=row[2], request=request_of(row[4:]))) for row in for_requests]
        return [delivery for _, _, delivery in sorted(found, key=lambda item: item[:2])[:limit]]

    def record_deliveries(self, sent: list[tuple[int, int]], failed: list[tuple[int, int, str, datetime | None]], claim: str | None = None) -> list[int]:
        """The outcome of a batch of attempts, in one commit: ``(id, attempts)`` sent, and
        ``(id, attempts, error, retry_at)`` failed (``retry_at`` ``None``: failed for good).

        Under ``claim`` (the token of the claim that took them, PostgreSQL): a row another
        claim has taken since (this one's lease ran out) is left as that claim records it;
        the ids so refused are returned."""
        now = format_time(utc_now())
        shared = self.shared
        parts = {
            "unclaim": ", claimed_until = NULL, claimed_by = NULL" if shared else "",
            "claimed": " AND claimed_by IS NOT DISTINCT FROM :claim" if shared else "",
        }
        sent_sql, failed_sql = SENT.format(**parts), FAILED.format(**parts)

        def work(db: Db) -> list[int]:
            refused = []
            for id_, attempts in sent:
                if db.execute(sent_sql, {"attempts": attempts, "now": now, "id": id_, "claim": claim}).rowcount == 0:
                    refused.append(id_)
            for id_, attempts, error, retry_at in failed:
                row = {
                    "state": "pending" if retry_at else "failed",
                    "attempts": attempts,
                    "error": error[:500],
                    "retry_at": format_time(retry_at) if retry_at else None,
                    "id": id_,
                    "claim": claim,
                }
                if db.execute(failed_sql, row).rowcount == 0:
                    refused.append(id_)
            return refused

        return self._transaction(work) if sent or failed else []

    def deliveries(self, states: Iterable[str] = ("pending", "failed"), public_id: str | None = None) -> list[DeliveryState]:
        """The deliveries in ``states`` (of the submission or request ``public_id``), as ``kennisbank outbox`` shows them."""
        states = tuple(states)
        parameters: dict[str, Any] = {f"state{index}": state for index, state in enumerate(states)}
        where = f"o.state IN ({', '.join(':' + name for name in parameters)})" + (" AND coalesce(s.public_id, r.public_id) = :public_id" if public_id else "")
        with self._dialect.reading() as db:
            rows = db.execute(
                "SELECT o.id, coalesce(s.public_id, r.public_id), o.channel, o.state, o.attempts, o.next_attempt, o.last_error, o.created_at, o.sent_at "
                "FROM outbox o LEFT JOIN submissions s ON s.id = o.submission LEFT JOIN requests r ON r.id = o.request "
                f"WHERE {where} ORDER BY o.id",
                {**parameters, "public_id": public_id},
            ).fetchall()
        return [
            DeliveryState(row[0], row[1], row[2], row[3], row[4], parse_time(row[5]), row[6], parse_time(row[7]), parse_time(row[8]) if row[8] else None)
            for row in rows
        ]

    def retry_deliveries(self, ids: Iterable[int] | None = None) -> int:
        """Failed deliveries (those in ``ids``, or all) made pending again, due now; the number."""
        where = "" if ids is None else f" AND id IN ({', '.join(str(int(id_)) for id_ in ids) or 'NULL'})"
        return self._write(
            f"UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = :now WHERE state = 'failed'{where}", {"now": format_time(utc_now())}
        )

    def outbox_version(self) -> int:
        """A number that changes when a delivery may have been added or made pending again: the
        outbox worker, in a process of its own, reads the outbox only when it moved."""
        if isinstance(self._dialect, SQLite):
            with self._dialect.lock:
                self._ensure_file()  # a database replaced under the worker: follow it, as a write would
        return self._dialect.outbox_version()

    def outbox_lock_file(self) -> Path | None:
        """The file the one outbox worker of this SQLite database keeps locked; ``None`` in memory
        (no other process can see the outbox) and on PostgreSQL (its lock is an advisory lock:
        :meth:`side_connection`)."""
        if isinstance(self._dialect, SQLite) and self._dialect.target != MEMORY:
            return Path(f"{self._dialect.target}{self._dialect.lock_file_suffix}")
        return None

    # Definitions

    def remember_definitions(self, definitions: Iterable[StoredDefinition]) -> int:
        """Record the definitions the server serves (kept forever: they are not personal data);
        those already known are left as they are. The number new."""
        definitions = list(definitions)
        self._definitions.update((d.digest, d) for d in definitions)
        return self._transaction(lambda db: self._remember_in(db, definitions))

    @staticmethod
    def _remember_in(db: Db, definitions: list[StoredDefinition]) -> int:
        now = format_time(utc_now())
        return sum(
            db.execute(
                "INSERT INTO definitions (digest, assessment, version, definition, first_served) "
                "VALUES (:digest, :assessment, :version, :definition, :now) ON CONFLICT DO NOTHING",
                {"digest": d.digest, "assessment": d.assessment, "version": d.version, "definition": d.definition, "now": now},
            ).rowcount
            for d in definitions
        )

    def definition(self, digest: str) -> StoredDefinition | None:
        """A definition served once, by its digest."""
        with self._dialect.reading() as db:
            row = db.execute("SELECT digest, assessment, version, definition FROM definitions WHERE digest = :digest", {"digest": digest}).fetchone()
        return StoredDefinition(*row) if row else None

    # Reading, erasing, purging

    def all(self) -> list[Submission]:
        """Every submission, oldest first."""
        return self._select("ORDER BY created_at, id")

    def by_email(self, email: str) -> list[Submission]:
        """The submissions stored under ``email`` (compared normalised: lowercase)."""
        return self._select("WHERE email = :email ORDER BY created_at, id", {"email": normalise_email(email)})

    def erase_email(self, email: str) -> int:
        """Delete every submission and request stored under ``email``; the number of submissions."""
        self._delete("requests", "email = :email", {"email": normalise_email(email)})
        return self._delete("submissions", "email = :email", {"email": normalise_email(email)})

    def purge_older_than(self, cutoff: datetime) -> int:
        """Delete every submission and request received before ``cutoff``; the number of submissions.
        The dashboard's audit log and failed logins go with them, and sessions no longer usable."""
        before = {"cutoff": format_time(cutoff), "oldest_session": format_time(utc_now() - SESSION_LONGEST)}
        self._delete("requests", "created_at < :cutoff", before)
        count = self._delete("submissions", "created_at < :cutoff", before)

        def work(db: Db) -> None:
            db.execute("DELETE FROM audit_log WHERE at < :cutoff", before)
            db.execute("DELETE FROM login_failures WHERE at < :cutoff", before)
            db.execute("DELETE FROM admin_sessions WHERE created_at < :oldest_session", before)
            reach.purge(db, cutoff)  # the reach counts of those days go with them (the privacy statement says so)

        self._transaction(work)
        return count

    def stats(self) -> Stats:
        """The submissions counted per assessment and band (``kennisbank stats``)."""
        with self._dialect.reading() as db:
            rows = db.execute(
                "SELECT assessment, band, count(*), sum(score), "
                "sum(CASE WHEN consent = 1 AND coalesce(name, email, organisation, message) IS NOT NULL THEN 1 ELSE 0 END), sum(coalesce(discuss, 0)) "
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
        """Copy the database, while the server writes, to the new file ``path`` (never overwritten:
        ``FileExistsError``), checked and complete or not at all; the number of submissions in it.

        SQLite's ``VACUUM INTO`` reads one snapshot (in WAL mode the server's writes go on
        meanwhile) and writes it compacted, as one file with a rollback journal: no free pages, so
        nothing erased or purged lingers in the copy. It goes to a temporary file beside ``path``,
        readable by its owner only, is checked (``PRAGMA integrity_check``) and synced, and only
        then linked to ``path``. On any failure the temporary file is removed. (PostgreSQL: pg_dump.)"""
        if self.target == MEMORY:
            raise StoreError("an in-memory database cannot be backed up. Fix: point DATABASE_URL at the server's database file")
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            if isinstance(self._dialect, SQLite):
                # created empty and private first (VACUUM INTO fills an empty file): the copy holds
                # personal data, and is readable by its owner only, whatever the umask
                os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._dialect.backup(temporary)
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

    # The dashboard

    def leads(self, chosen: LeadFilter, limit: int = 50, after: str | None = None) -> list[Lead]:
        """Submissions ``chosen`` selects, newest first, ``limit`` at most, after the cursor ``after``."""
        where, parameters = insight.where_of(chosen, self._dialect.LIKE)
        if after:
            created, _, rowid = after.partition("~")
            if rowid.isdigit():
                where.append("(created_at, id) < (:after_created, :after_id)")
                parameters.update(after_created=created, after_id=int(rowid))
        source = self._dialect.SEARCH_SOURCE if chosen.search else "submissions"
        sql = f"SELECT {COLUMNS}, status, id FROM {source} {insight.clause(where)} ORDER BY created_at DESC, id DESC LIMIT :limit"
        with self._dialect.reading() as db:
            rows = db.execute(sql, {**parameters, "limit": limit}).fetchall()
        return [Lead(submission_of(row[:15]), row[15], f"{row[1]}~{row[16]}") for row in rows]

    def count_leads(self, chosen: LeadFilter) -> int:
        """How many submissions ``chosen`` selects: whole months from ``insight_counts``, partial months and searches from the rows."""
        with self._dialect.reading() as db:
            return insight.count(db, chosen, self._dialect.LIKE)

    def lead(self, public_id: str) -> Lead | None:
        with self._dialect.reading() as db:
            row = db.execute(f"SELECT {COLUMNS}, status, id FROM submissions WHERE public_id = :public_id", {"public_id": public_id}).fetchone()
        return Lead(submission_of(row[:15]), row[15], f"{row[1]}~{row[16]}") if row else None

    def set_status(self, public_id: str, status: str) -> bool:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        return self._write("UPDATE submissions SET status = :status WHERE public_id = :public_id", {"status": status, "public_id": public_id}) == 1

    def add_note(self, public_id: str, author: str, text: str) -> bool:
        return (
            self._write(
                "INSERT INTO notes (submission, author, created_at, text) SELECT id, :author, :now, :text FROM submissions WHERE public_id = :public_id",
                {"author": author, "now": format_time(utc_now()), "text": text, "public_id": public_id},
            )
            == 1
        )

    def notes(self, public_id: str) -> list[Note]:
        with self._dialect.reading() as db:
            rows = db.execute(
                "SELECT n.author, n.created_at, n.text FROM notes n JOIN submissions s ON s.id = n.submission WHERE s.public_id = :public_id ORDER BY n.id",
                {"public_id": public_id},
            ).fetchall()
        return [Note(row[0], parse_time(row[1]), row[2]) for row in rows]

    def select(self, chosen: LeadFilter) -> list[Submission]:
        """Every submission ``chosen`` selects, oldest first (the dashboard's export)."""
        where, parameters = insight.where_of(chosen, self._dialect.LIKE)
        return self._select(f"{insight.clause(where)} ORDER BY created_at, id", parameters)

    def insight(self, chosen: LeadFilter) -> Insight:
        """The counts behind the charts.

        Whole months come from the aggregate tables (kept by triggers, so they are current after
        every write); a month the period covers only in part is counted from its rows and kept
        until that month's rows change (a new submission changes only the current month). A
        search counts every row it finds, cached while no submission changed (SQLite)."""
        caches = insight.Caches(
            self._months, self._edges, self._insights, self._cache_lock, self._dialect.identity if isinstance(self._dialect, SQLite) else None
        )
        with self._dialect.reading() as db:
            if chosen.search:
                return insight.searched(db, chosen, self._dialect, caches)
            return insight.period(db, chosen, self._dialect, caches)

    # Reach (kennisbank.server.web.reach): counts per day, nothing that identifies a reader

    def add_reach(
        self,
        views: Mapping[reach.ViewKey, int],
        sources: Mapping[reach.SourceKey, int] = MappingProxyType({}),
        steps: Mapping[reach.StepKey, int] = MappingProxyType({}),
    ) -> None:
        """Add one batch of counts, in one transaction: page views ``(day, page, lang)``, their sources
        ``(day, page, lang, referrer, source, medium, campaign)`` and the scan's steps
        ``(day, assessment, version, lang, step)``, each ``-> n``. The upserts add to what is there,
        so several processes add up."""
        if views or sources or steps:
            self._transaction(lambda db: reach.add(db, views, sources, steps))

    def reach(self, chosen: ReachFilter, *, detail: bool = False) -> ReachFigures:
        """The Reach page's sums for a period and language (see :mod:`.reach`); kept while
        nothing they count changed (:func:`.reach.stamp`: a few indexed reads)."""
        with self._dialect.reading() as db:
            stamp = (reach.stamp(db), self._dialect.identity if isinstance(self._dialect, SQLite) else None)
            key = (chosen, detail)
            with self._cache_lock:
                cached = self._reach.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            figures = reach.figures(db, chosen, detail=detail)
        with self._cache_lock:
            if len(self._reach) >= 64:
                self._reach.clear()
            self._reach[key] = (stamp, figures)
        return figures

    # Accounts, sessions, failed logins, the audit log

    def add_admin(self, email: str, password_hash: str, *, replace: bool = False) -> bool:
        """Add an account (or with ``replace`` set a new password, ending its sessions); whether it is new."""
        email = normalise_email(email)

        def work(db: Db) -> bool:
            found = db.execute("SELECT id FROM admins WHERE email = :email", {"email": email}).fetchone()
            if found and not replace:
                raise StoreError(f"the account {email} exists. Fix: remove it first (kennisbank admin remove {email}) or give --reset to set a new password")
            if found:
                db.execute("UPDATE admins SET password = :password WHERE id = :id", {"password": password_hash, "id": found[0]})
                db.execute("DELETE FROM admin_sessions WHERE admin = :id", {"id": found[0]})
                return False
            db.execute(
                "INSERT INTO admins (email, password, created_at) VALUES (:email, :password, :now)",
                {"email": email, "password": password_hash, "now": format_time(utc_now())},
            )
            return True

        return self._transaction(work)

    def remove_admin(self, email: str) -> bool:
        """Remove an account and its sessions; whether there was one."""
        return self._write("DELETE FROM admins WHERE email = :email", {"email": normalise_email(email)}) == 1

    def admins(self) -> list[Admin]:
        with self._dialect.reading() as db:
            rows = db.execute(f"SELECT {ADMIN_COLUMNS} FROM admins ORDER BY email").fetchall()
        return [admin_of(row) for row in rows]

    def admin(self, email: str) -> Admin | None:
        with self._dialect.reading() as db:
            row = db.execute(f"SELECT {ADMIN_COLUMNS} FROM admins WHERE email = :email", {"email": normalise_email(email)}).fetchone()
        return admin_of(row) if row else None

    def update_admin(self, admin_id: int, **changes: object) -> None:
        """Change ``password``, ``totp_secret`` or ``totp_last`` of an account."""
        allowed = {"password", "totp_secret", "totp_last"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"only {', '.join(sorted(allowed))} can be changed")
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        self._write(f"UPDATE admins SET {assignments} WHERE id = :admin_id", {**changes, "admin_id": admin_id})

    def use_totp_step(self, admin_id: int, step: int) -> bool:
        """Record a TOTP time step as used; ``False`` if it (or a later one) was used before (a replay)."""
        return self._write("UPDATE admins SET totp_last = :step WHERE id = :id AND coalesce(totp_last, -1) < :step", {"step": step, "id": admin_id}) == 1

    def create_session(self, token_hash: str, admin_id: int, csrf: str, lang: str) -> None:
        now = format_time(utc_now())
        self._write(
            "INSERT INTO admin_sessions (token_hash, admin, csrf, lang, created_at, last_seen) VALUES (:token_hash, :admin, :csrf, :lang, :now, :now)",
            {"token_hash": token_hash, "admin": admin_id, "csrf": csrf, "lang": lang, "now": now},
        )

    def session(self, token_hash: str) -> Session | None:
        with self._dialect.reading() as db:
            row = db.execute(
                "SELECT a.id, a.email, a.password, a.totp_secret, a.totp_last, a.created_at, s.csrf, s.lang, s.created_at, s.last_seen "
                "FROM admin_sessions s JOIN admins a ON a.id = s.admin WHERE s.token_hash = :token_hash",
                {"token_hash": token_hash},
            ).fetchone()
        return Session(admin_of(row[:6]), row[6], row[7], parse_time(row[8]), parse_time(row[9])) if row else None

    def touch_session(self, token_hash: str, lang: str | None = None) -> None:
        self._write(
            "UPDATE admin_sessions SET last_seen = :now, lang = coalesce(:lang, lang) WHERE token_hash = :token_hash",
            {"now": format_time(utc_now()), "lang": lang, "token_hash": token_hash},
        )

    def end_session(self, token_hash: str) -> None:
        self._write("DELETE FROM admin_sessions WHERE token_hash = :token_hash", {"token_hash": token_hash})

    def count_login_attempt(self, keys: list[str], now: datetime, window: timedelta, decide: Callable[[list[list[datetime]]], int | None]) -> int | None:
        """One login attempt under ``keys``, in one transaction with the attempts under the same keys
        taking turns (across processes too): every failure outside ``window`` forgotten, then
        ``decide(the failures per key, oldest first)``; when it says ``None`` (allowed) the attempt
        is recorded under every key at ``now``. What ``decide`` said."""
        at, since = format_time(now), format_time(now - window)

        def work(db: Db) -> int | None:
            self._dialect.lock_login_keys(db, keys)
            db.execute("DELETE FROM login_failures WHERE at < :since", {"since": since})
            counted = [
                [parse_time(row[0]) for row in db.execute("SELECT at FROM login_failures WHERE key = :key ORDER BY at", {"key": key}).fetchall()]
                for key in keys
            ]
            wait = decide(counted)
            if wait is None:
                db.executemany("INSERT INTO login_failures (key, at) VALUES (:key, :at)", [{"key": key, "at": at} for key in keys])
            return wait

        return self._transaction(work)

    def forget_login_attempt(self, account_key: str, other_keys: list[str], at: datetime) -> None:
        """A login attempt at ``at`` succeeded: every failure under ``account_key`` goes, and under
        each of ``other_keys`` the one record of this attempt (their earlier failures stay)."""

        def work(db: Db) -> None:
            db.execute("DELETE FROM login_failures WHERE key = :key", {"key": account_key})
            for key in other_keys:
                self._dialect.delete_one_login_failure(db, key, format_time(at))

        self._transaction(work)

    def forget_login_failures(self, before: datetime) -> int:
        """Delete every failed login before ``before``; how many."""
        return self._write("DELETE FROM login_failures WHERE at < :before", {"before": format_time(before)})

    def audit(self, actor: str, action: str, subject: str | None = None, detail: str | None = None) -> None:
        self._write(
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (:at, :actor, :action, :subject, :detail)",
            {"at": format_time(utc_now()), "actor": actor, "action": action, "subject": subject, "detail": detail},
        )

    def audit_log(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first, ``limit`` entries older than entry ``before``."""
        with self._dialect.reading() as db:
            rows = db.execute(
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE id < :before ORDER BY id DESC LIMIT :limit",
                {"before": before if before is not None else 2**62, "limit": limit},
            ).fetchall()
        return [AuditEntry(row[0], parse_time(row[1]), row[2], row[3], row[4], row[5]) for row in rows]

    # What several server processes share (PostgreSQL; kennisbank.server.db.shared_state)

    def client_key(self, period: int) -> bytes:
        """The database's key of ``period`` for hashing client addresses, the same for every process."""
        return self._shared().client_key(period)

    def side_connection(self) -> SideConnection:
        """A connection of its own, outside the pool, with short timeouts: the rate limit's, the outbox lock's."""
        return self._shared().side_connection()

    def sweep_rate_limit(self, seconds: float) -> int:
        """Delete every rate limit hit older than ``seconds`` (every client's); how many."""
        return self._shared().sweep_rate_limit(seconds)

    def rate_limited_clients(self) -> int:
        """How many clients the rate limit remembers now."""
        return self._shared().rate_limited_clients()

    def connection_limits(self) -> tuple[int, int]:
        """The database server's connection limit and how many of them are reserved for superusers."""
        return self._shared().connection_limits()

    def _shared(self) -> PostgreSQL:
        if not isinstance(self._dialect, PostgreSQL):
            raise StoreError(f"{self.target}: SQLite is one process; nothing of it is shared. Fix: use PostgreSQL for several processes")
        return self._dialect

    # kennisbank db copy (kennisbank.server.db.copy)

    def read_tables(self, tables: dict[str, list[str]]) -> dict[str, list[tuple]]:
        """Every row of each table's ``columns``, all from one snapshot (while others write)."""
        with self._dialect.snapshot() as db:
            return {table: [tuple(row) for row in db.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()] for table, names in tables.items()}

    def load_tables(
        self,
        data: dict[str, tuple[list[str], list[tuple]]],
        before: Callable[[list[str]], None],
        check: Callable[[Callable[[str, list[str]], list[tuple]]], Any],
    ) -> Any:
        """Replace every row of the tables in ``data`` (``{table: (columns, rows)}``, loaded in its
        order) in one transaction, with the aggregate triggers off: ``before(the tables holding
        rows)`` first (it may refuse by raising), then the rows deleted and loaded, then
        ``check(read)`` (``read(table, columns)``: the rows now); anything raised rolls it all back."""

        def work(db: Db) -> Any:
            before([table for table in data if db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()])
            for table in reversed(list(data)):
                db.execute(f"DELETE FROM {table}")
            for table, (names, rows) in data.items():
                placeholders = ", ".join(f":c{index}" for index in range(len(names)))
                adapted = [dict(zip((f"c{index}" for index in range(len(names))), self._dialect.adapt(table, names, row), strict=True)) for row in rows]
                db.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})", adapted)
            return check(lambda table, names: [tuple(row) for row in db.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()])

        return self._dialect.bulk_load(work)

    # Helpers

    def _ensure_file(self) -> None:
        """Reopen when the SQLite file was deleted or replaced while open (``make clean``): a new
        database is opened there (migrated, with the definitions this server serves). (A file
        deleted in the microseconds between this check and the commit is caught before the next write.)"""
        dialect = self._dialect
        if isinstance(dialect, SQLite) and dialect.replaced():
            with dialect.lock:
                dialect.reopen()
                self.migrate()
                definitions = list(self._definitions.values())
                dialect.transaction(lambda db: self._remember_in(db, definitions))

    def _transaction(self, work: Callable[[Db], Any]) -> Any:
        if isinstance(self._dialect, SQLite):
            with self._dialect.lock:
                self._ensure_file()
                return self._dialect.transaction(work)
        return self._dialect.transaction(work)

    def _write(self, sql: str, parameters: dict) -> int:
        """Run one change in its own transaction, committed (and durable) before returning."""
        return self._transaction(lambda db: db.execute(sql, parameters).rowcount)

    def _delete(self, table: str, where: str, parameters: dict) -> int:
        count = self._write(f"DELETE FROM {table} WHERE {where}", parameters)
        if count:
            self._dialect.after_delete()
        return count

    def _select(self, tail: str, parameters: dict | None = None) -> list[Submission]:
        with self._dialect.reading() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM submissions {tail}", parameters).fetchall()
        return [submission_of(row) for row in rows]


# Rows to values


def row_of(submission: Submission) -> dict:
    """A submission as the parameters of ``INSERT_SUBMISSION``."""
    return {
        "public_id": submission.public_id,
        "created_at": format_time(submission.created_at),
        "assessment": submission.assessment,
        "version": submission.version,
        "lang": submission.lang,
        "answers": json.dumps(dict(submission.answers), ensure_ascii=False, separators=(",", ":")),
        "score": submission.score,
        "band": submission.band,
        "consent": int(submission.consent),
        "name": submission.name,
        "email": normalise_email(submission.email) if submission.email else None,
        "organisation": submission.organisation,
        "message": submission.message,
        "discuss": None if submission.discuss is None else int(submission.discuss),
        "definition": submission.definition,
    }


def request_of(row: tuple) -> ContactRequest:
    return ContactRequest(public_id=row[0], created_at=parse_time(row[1]), lang=row[2], kind=row[3], name=row[4], email=row[5], message=row[6])


def submission_of(row: tuple) -> Submission:
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


def admin_of(row: tuple) -> Admin:
    return Admin(row[0], row[1], row[2], row[3], row[4], parse_time(row[5]))


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
