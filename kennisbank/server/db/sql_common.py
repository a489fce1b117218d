"""What the SQL backends share: the queries of :class:`~kennisbank.server.db.store.SubmissionStore`.

:class:`SQLStore` holds every query both databases run alike (SQLite and PostgreSQL
take the same SQL here: ``?`` placeholders, times as fixed-width ISO 8601 text,
``consent`` and ``discuss`` as 0/1 integers). A backend supplies only what differs:

- ``_reading()``: a context giving a connection-like object to read with
  (``execute(sql, parameters)`` returning a cursor, ``executemany``);
- ``_transaction(work)``: ``work(db)`` in one committed transaction;
- ``_peer_stamp(db, definition, claim)`` and ``_data_stamp(db)``: the numbers that
  tell a cached figure is still current (see each backend for why they are honest);
- a few SQL fragments (``DECILE``, ``LIKE``, ``SEARCH_SOURCE``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any, TypeVar

from kennisbank.assessment.model import NO_VERDICT
from kennisbank.server.db.store import (
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
    Submission,
    format_time,
    normalise_email,
    parse_time,
    utc_now,
)

T = TypeVar("T")
COLUMNS = "public_id, created_at, assessment, version, lang, answers, score, band, consent, name, email, organisation, message, discuss, definition"
REQUEST_COLUMNS = "public_id, created_at, lang, kind, name, email, message"
INSERT_SUBMISSION = f"INSERT INTO submissions ({COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS.split(',')))}) RETURNING id"
NO_COUNTS = (0,) * 101
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

TABLES = (
    "schema_migrations",
    "definitions",
    "submissions",
    "requests",
    "outbox",
    "notes",
    "admins",
    "admin_sessions",
    "login_failures",
    "audit_log",
    "insight_counts",
    "insight_answers",
    "insight_changes",
    "submission_themes",
    "peer_counts",
)
"""Every table of the schema, each after those it refers to (``kennisbank db copy`` copies in this order)."""


def load_migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration of ``dialect``, in order; versions run 1, 2, 3 ... without gaps."""
    folder = resources.files("kennisbank.server.db").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise StoreError(f"migrations/{dialect}/{name}: expected version {expected:04d}; number the files 0001, 0002, ... without gaps")
    return found


class SQLStore:
    """The queries of a SQL backend; see the module's docstring for what a subclass supplies."""

    DECILE = "min(score / 10, 9)"
    """A score's decile (0: 0-9 ... 9: 90-100) in this dialect."""
    LIKE = "LIKE"
    """A case-insensitive LIKE."""
    SEARCH_SOURCE = "submissions"
    """Where a search by email or organisation reads from."""
    REFUSED: tuple[type[Exception], ...] = ()
    """The errors of a row the schema refuses (a constraint): one submission of a batch fails, not the batch."""

    def __init__(self) -> None:
        self._definitions: dict[str, StoredDefinition] = {}
        self._insights: dict[LeadFilter, tuple[Any, Insight]] = {}
        self._edges: dict[tuple, tuple[int, Insight]] = {}
        self._months: dict[tuple, tuple[int, Insight]] = {}
        self._peers: dict[str, tuple[Any, PeerCounts]] = {}
        self._cache_lock = threading.Lock()
        self._identity: object = None

    # What a backend supplies

    def _reading(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _transaction(self, work: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def _peer_stamp(self, db: Any, definition: str, claim: bool = False) -> Any:
        """A value that differs whenever the peer counts of ``definition`` may have changed;
        with ``claim`` (inside a write) also make concurrent writers of it take turns."""
        raise NotImplementedError

    def _data_stamp(self, db: Any) -> Any:
        """A value that differs whenever any submission may have changed; ``None``: do not cache."""
        raise NotImplementedError

    def _after_delete(self) -> None:
        """After rows were deleted (SQLite moves the overwritten pages out of its log)."""

    # Raw SQL, for tools and tests

    def run_sql(self, sql: str, parameters: tuple | list = ()) -> list[tuple]:
        """Run one statement in its own transaction; the rows it returns (``[]`` if none)."""

        def work(db: Any) -> list[tuple]:
            cursor = db.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

        return self._transaction(work)

    # Submissions

    def add(self, submission: Submission, channels: Iterable[str] = ()) -> PeerCounts:
        (outcome,) = self.add_many([(submission, channels)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def add_many(self, items: Iterable[tuple[Submission, Iterable[str]]]) -> list[PeerCounts | Exception]:
        """Store several submissions in ONE transaction (group commit, :mod:`.groupcommit`: one
        durable commit for all), each in a savepoint of its own, so that one the schema refuses
        is rolled back alone and reported in its place while the others are stored. Each gets
        the peer counts as they were just before it, the batch's earlier ones included: read in
        the transaction with the writers of its definition taking turns (``_peer_stamp``), so
        concurrent batches each see all that came first.

        Returns, in order, the counts before each submission or the exception that refused
        it; an error of the transaction itself is raised, and then nothing of the batch is stored."""
        items = [(submission, list(channels)) for submission, channels in items]
        outcomes: list[PeerCounts | Exception] = []
        # per definition, the counts as this transaction sees them: read once, then kept up to
        # date in memory with every insert of the batch; cached only after the commit
        counts: dict[str, dict[str, tuple[int, ...]]] = {}
        stamps: dict[str, Any] = {}

        def work(db: Any) -> dict[str, Any]:
            outcomes.clear()  # a transaction tried again (a deadlock) starts afresh
            counts.clear()
            stamps.clear()
            now = format_time(utc_now())
            for submission, channels in items:
                definition = submission.definition
                if definition and definition not in counts:
                    stamps[definition] = self._peer_stamp(db, definition, claim=True)
                    counts[definition] = dict(self._peer_counts_in(db, definition, stamps[definition]))
                scores = list(submission.themes.items()) if definition else []
                db.execute("SAVEPOINT submission")
                try:
                    rowid = db.execute(INSERT_SUBMISSION, row_of(submission)).fetchall()[0][0]
                    if scores:
                        db.executemany(
                            "INSERT INTO submission_themes (submission, definition, theme, score) VALUES (?, ?, ?, ?)",
                            [(rowid, definition, theme, value) for theme, value in scores],
                        )
                    db.executemany(
                        "INSERT INTO outbox (submission, channel, next_attempt, created_at) VALUES (?, ?, ?, ?)",
                        [(rowid, channel, now, now) for channel in channels],
                    )
                except self.REFUSED as exc:
                    # refused by the schema (a repeated public id, a CHECK): this one only
                    db.execute("ROLLBACK TO SAVEPOINT submission")
                    db.execute("RELEASE SAVEPOINT submission")
                    outcomes.append(exc)
                    continue
                db.execute("RELEASE SAVEPOINT submission")
                if not definition:
                    outcomes.append({})
                    continue
                before = counts[definition]
                outcomes.append(before)
                after = dict(before)
                # as the triggers count (migration 0010): a result without a verdict counts nowhere
                total = [] if submission.band == NO_VERDICT else [("", submission.score)]
                for measure, value in [*total, *((theme, value) for theme, value in scores if value is not None)]:
                    values = list(after.get(measure, NO_COUNTS))
                    values[value] += 1
                    after[measure] = tuple(values)
                counts[definition] = after
            return {definition: self._peer_stamp(db, definition) for definition in counts}

        stamps_after = self._transaction(work)
        # the batch's own changes, added to the counts read before it: no read for the next
        # submission (only if nothing else refreshed them meanwhile: the stamp they were read at is still theirs)
        with self._cache_lock:
            for definition, found in counts.items():
                cached = self._peers.get(definition)
                if cached is not None and cached[0] == stamps[definition]:
                    self._peers[definition] = (stamps_after[definition], found)
        return outcomes

    # Where a reader stands (migration 0006; the figures: kennisbank.server.intake.peers)

    def peer_counts(self, definition: str) -> PeerCounts:
        with self._reading() as db:
            return self._peer_counts_in(db, definition, self._peer_stamp(db, definition))

    def _peer_counts_in(self, db: Any, definition: str, stamp: Any) -> PeerCounts:
        """The counts of ``definition``, cached until its stamp changes."""
        cached = self._peers.get(definition)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        counts: dict[str, list[int]] = {}
        for measure, value, count in db.execute("SELECT measure, value, count FROM peer_counts WHERE definition = ? AND count > 0", (definition,)):
            counts.setdefault(measure, [0] * 101)[value] = count
        found = {measure: tuple(values) for measure, values in counts.items()}
        with self._cache_lock:
            self._peers[definition] = (stamp, found)
            while len(self._peers) > 32:
                self._peers.pop(next(iter(self._peers)))
        return found

    def submissions_without_themes(self, limit: int = 1000, after: int = 0) -> list[tuple[int, str, str, dict]]:
        """``(row id, assessment, definition digest, answers)`` of stored submissions whose theme
        scores were never written (stored before migration 0006), at most ``limit``, row ids above ``after``."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT s.id, s.assessment, s.definition, s.answers FROM submissions s WHERE s.definition IS NOT NULL "
                "AND s.id > ? AND NOT EXISTS (SELECT 1 FROM submission_themes t WHERE t.submission = s.id) ORDER BY s.id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    def add_themes(self, rows: Iterable[tuple[int, str, str, int | None]]) -> None:
        """Write ``(row id, definition, theme, score)`` theme scores of stored submissions (the backfill)."""
        rows = list(rows)
        self._transaction(
            lambda db: db.executemany(
                "INSERT INTO submission_themes (submission, definition, theme, score) "
                "SELECT id, definition, ?, CAST(? AS INTEGER) FROM submissions WHERE id = ? AND definition = ? ON CONFLICT DO NOTHING",
                [(theme, value, rowid, definition) for rowid, definition, theme, value in rows],
            )
        )

    # The outbox

    def add_request(self, request: ContactRequest, channels: Iterable[str] = ()) -> None:
        row = (request.public_id, format_time(request.created_at), request.lang, request.kind, request.name, normalise_email(request.email), request.message)
        self._insert_with_deliveries(f"INSERT INTO requests ({REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row, "request", channels)

    def _insert_with_deliveries(self, insert: str, row: tuple, owner: str, channels: Iterable[str]) -> None:
        """Insert one row and a pending outbox delivery per channel, in one transaction: both or neither.
        ``owner`` is the outbox column that points at the row (``submission`` or ``request``)."""
        now = format_time(utc_now())

        def work(db: Any) -> None:
            rowid = db.execute(insert + " RETURNING id", row).fetchall()[0][0]
            db.executemany(
                f"INSERT INTO outbox ({owner}, channel, next_attempt, created_at) VALUES (?, ?, ?, ?)",
                [(rowid, channel, now, now) for channel in channels],
            )

        self._transaction(work)

    def requests(self, email: str | None = None) -> list[ContactRequest]:
        where, parameters = ("WHERE email = ?", (normalise_email(email),)) if email else ("", ())
        with self._reading() as db:
            rows = db.execute(f"SELECT {REQUEST_COLUMNS} FROM requests {where} ORDER BY created_at, id", parameters).fetchall()
        return [request_of(row) for row in rows]

    def due_deliveries(self, now: datetime, limit: int = 20, *, all_pending: bool = False) -> list[Delivery]:
        """Pending deliveries whose time has come (every pending one with ``all_pending``), oldest first."""
        with self._reading() as db:
            return self._deliveries_in(
                db, "o.state = 'pending'" + ("" if all_pending else " AND o.next_attempt <= ?"), () if all_pending else (format_time(now),), limit
            )

    def _deliveries_in(self, db: Any, where: str, parameters: tuple, limit: int) -> list[Delivery]:
        """The deliveries ``where`` selects with what they carry, oldest due first, ``limit`` at most."""
        submission_columns = ", ".join(f"s.{name.strip()}" for name in COLUMNS.split(","))
        request_columns = ", ".join(f"r.{name.strip()}" for name in REQUEST_COLUMNS.split(","))
        for_submissions = db.execute(
            f"SELECT o.id, o.channel, o.attempts, o.next_attempt, {submission_columns} FROM outbox o JOIN submissions s ON s.id = o.submission "
            f"WHERE {where} ORDER BY o.next_attempt, o.id LIMIT ?",
            (*parameters, limit),
        ).fetchall()
        for_requests = db.execute(
            f"SELECT o.id, o.channel, o.attempts, o.next_attempt, {request_columns} FROM outbox o JOIN requests r ON r.id = o.request "
            f"WHERE {where} ORDER BY o.next_attempt, o.id LIMIT ?",
            (*parameters, limit),
        ).fetchall()
        found = [(row[3], row[0], Delivery(id=row[0], channel=row[1], attempts=row[2], submission=submission_of(row[4:]))) for row in for_submissions]
        found += [(row[3], row[0], Delivery(id=row[0], channel=row[1], attempts=row[2], request=request_of(row[4:]))) for row in for_requests]
        return [delivery for _, _, delivery in sorted(found, key=lambda item: item[:2])[:limit]]

    SENT = "UPDATE outbox SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL WHERE id = ?"
    FAILED = "UPDATE outbox SET state = ?, attempts = ?, last_error = ?, next_attempt = coalesce(?, next_attempt) WHERE id = ?"
    CLAIMED = ""
    """What an outcome's ``WHERE id = ?`` adds to be recorded only under the claim that took the row
    (a ``?`` for the claim's token); SQLite has no claims (one worker per database)."""

    def record_deliveries(self, sent: list[tuple[int, int]], failed: list[tuple[int, int, str, datetime | None]], claim: str | None = None) -> list[int]:
        """The outcome of a batch of attempts, in one commit: ``(id, attempts)`` sent, and
        ``(id, attempts, error, retry_at)`` failed (``retry_at`` ``None``: failed for good).

        Under ``claim`` (the token of the claim that took them, PostgreSQL): a row another
        claim has taken since (this one's lease ran out) is left as that claim records it;
        the ids so refused are returned."""
        now = format_time(utc_now())
        mine = (claim,) if self.CLAIMED else ()

        def work(db: Any) -> list[int]:
            refused = []
            for id_, attempts in sent:
                if db.execute(self.SENT + self.CLAIMED, (attempts, now, id_, *mine)).rowcount == 0:
                    refused.append(id_)
            for id_, attempts, error, retry_at in failed:
                state = "pending" if retry_at else "failed"
                row = (state, attempts, error[:500], format_time(retry_at) if retry_at else None, id_, *mine)
                if db.execute(self.FAILED + self.CLAIMED, row).rowcount == 0:
                    refused.append(id_)
            return refused

        return self._transaction(work) if sent or failed else []

    def deliveries(self, states: Iterable[str] = ("pending", "failed"), public_id: str | None = None) -> list[DeliveryState]:
        states = tuple(states)
        where = f"o.state IN ({', '.join('?' * len(states))})" + (" AND coalesce(s.public_id, r.public_id) = ?" if public_id else "")
        with self._reading() as db:
            rows = db.execute(
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
        return self._write(
            f"UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = ? WHERE state = 'failed'{where}", (format_time(utc_now()), *(ids or ()))
        )

    # Definitions

    def remember_definitions(self, definitions: Iterable[StoredDefinition]) -> int:
        """Record definitions served; those already known are left as they are. The number new."""
        definitions = list(definitions)
        self._definitions.update((d.digest, d) for d in definitions)
        return self._transaction(lambda db: self._remember_in(db, definitions))

    @staticmethod
    def _remember_in(db: Any, definitions: list[StoredDefinition]) -> int:
        added = 0
        for d in definitions:
            added += db.execute(
                "INSERT INTO definitions (digest, assessment, version, definition, first_served) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (d.digest, d.assessment, d.version, d.definition, format_time(utc_now())),
            ).rowcount
        return added

    def definition(self, digest: str) -> StoredDefinition | None:
        with self._reading() as db:
            row = db.execute("SELECT digest, assessment, version, definition FROM definitions WHERE digest = ?", (digest,)).fetchone()
        return StoredDefinition(*row) if row else None

    # Reading, erasing, purging

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
        self._transaction(
            lambda db: (
                db.execute("DELETE FROM audit_log WHERE at < ?", (format_time(cutoff),)),
                db.execute("DELETE FROM login_failures WHERE at < ?", (format_time(cutoff),)),
                db.execute("DELETE FROM admin_sessions WHERE created_at < ?", (oldest_session,)),
            )
        )
        return count

    def stats(self) -> Stats:
        with self._reading() as db:
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

    # The dashboard (/beheer/)

    def leads(self, chosen: LeadFilter, limit: int = 50, after: str | None = None) -> list[Lead]:
        """Submissions ``chosen`` selects, newest first, ``limit`` at most, after the cursor ``after``."""
        where, parameters = self._where(chosen)
        if after:
            created, _, rowid = after.partition("~")
            if rowid.isdigit():
                where.append("(created_at, id) < (?, ?)")
                parameters += [created, int(rowid)]
        source = self.SEARCH_SOURCE if chosen.search else "submissions"
        sql = f"SELECT {COLUMNS}, status, id FROM {source} {clause(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._reading() as db:
            rows = db.execute(sql, (*parameters, limit)).fetchall()
        return [Lead(submission_of(row[:15]), row[15], f"{row[1]}~{row[16]}") for row in rows]

    def count_leads(self, chosen: LeadFilter) -> int:
        """How many submissions ``chosen`` selects: whole months from ``insight_counts``, partial months and searches from the rows."""
        with self._reading() as db:
            if chosen.search:
                where, parameters = self._where(chosen)
                return db.execute(f"SELECT count(*) FROM submissions {clause(where)}", parameters).fetchone()[0]
            first, last, edges = months(chosen.since, chosen.until)
            count = 0
            if first is None or last is None or first <= last:
                dimensions_, parameters = dimensions(chosen)
                dimensions_ += ["month >= ?"] * (first is not None) + ["month <= ?"] * (last is not None)
                parameters += [month for month in (first, last) if month is not None]
                count += db.execute(f"SELECT coalesce(sum(n), 0) FROM insight_counts {clause(dimensions_)}", parameters).fetchone()[0]
            for since, until in edges:
                where, parameters = self._where(replace(chosen, since=since, until=until))
                count += db.execute(f"SELECT count(*) FROM submissions {clause(where)}", parameters).fetchone()[0]
            return count

    def lead(self, public_id: str) -> Lead | None:
        with self._reading() as db:
            row = db.execute(f"SELECT {COLUMNS}, status, id FROM submissions WHERE public_id = ?", (public_id,)).fetchone()
        return Lead(submission_of(row[:15]), row[15], f"{row[1]}~{row[16]}") if row else None

    def set_status(self, public_id: str, status: str) -> bool:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        return self._write("UPDATE submissions SET status = ? WHERE public_id = ?", (status, public_id)) == 1

    def add_note(self, public_id: str, author: str, text: str) -> bool:
        return (
            self._write(
                "INSERT INTO notes (submission, author, created_at, text) SELECT id, ?, ?, ? FROM submissions WHERE public_id = ?",
                (author, format_time(utc_now()), text, public_id),
            )
            == 1
        )

    def notes(self, public_id: str) -> list[Note]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT n.author, n.created_at, n.text FROM notes n JOIN submissions s ON s.id = n.submission WHERE s.public_id = ? ORDER BY n.id",
                (public_id,),
            ).fetchall()
        return [Note(row[0], parse_time(row[1]), row[2]) for row in rows]

    def select(self, chosen: LeadFilter) -> list[Submission]:
        """Every submission ``chosen`` selects, oldest first (the dashboard's export)."""
        where, parameters = self._where(chosen)
        return self._select(f"{clause(where)} ORDER BY created_at, id", tuple(parameters))

    def insight(self, chosen: LeadFilter) -> Insight:
        """The counts behind the charts.

        Whole months come from the aggregate tables of migration 0005 (kept by triggers,
        so they are current after every write); a month the period covers only in part is
        counted from its rows and kept until that month's rows change (a new submission
        changes only the current month). A search counts every row it finds."""
        with self._reading() as db:
            if chosen.search:
                return self._searched_insight(db, chosen)
            return self._period_insight(db, chosen)

    def _period_insight(self, db: Any, chosen: LeadFilter) -> Insight:
        first, last, edges = months(chosen.since, chosen.until)
        period = ["month >= ?"] * (first is not None) + ["month <= ?"] * (last is not None)
        bounds = [month for month in (first, last) if month is not None]
        parts = []
        # month by month, each kept until its rows change (insight_changes, bumped by the
        # triggers): a new submission re-sums only the current month's aggregate rows
        for month, changes in db.execute(f"SELECT month, changes FROM insight_changes {clause(period)}", bounds).fetchall():
            key = (replace(chosen, since=None, until=None, search=None), month, self._identity)
            cached = self._months.get(key)
            if cached is None or cached[0] != changes:
                cached = (changes, self._month_insight(db, chosen, month))
                self._months[key] = cached
            parts.append(cached[1])
        with self._cache_lock:
            while len(self._months) > 1024:
                self._months.pop(next(iter(self._months)))
        parts += [self._edge_insight(db, chosen, since, until) for since, until in edges]
        count, scores, by_month, answers = 0, {}, {}, {}
        for part in parts:
            count += part.count
            for decile, n in part.scores.items():
                scores[decile] = scores.get(decile, 0) + n
            for month, bands in part.bands_by_month.items():
                per_band = by_month.setdefault(month, {})
                for band, n in bands.items():
                    per_band[band] = per_band.get(band, 0) + n
            for question, values in part.answers.items():
                per_question = answers.setdefault(question, {})
                for value, n in values.items():
                    per_question[value] = per_question.get(value, 0) + n
        return Insight(count, scores, dict(sorted(by_month.items())), answers)

    def _month_insight(self, db: Any, chosen: LeadFilter, month: str) -> Insight:
        """One whole month's figures from the aggregate tables."""
        dimensions_, parameters = dimensions(chosen)
        where = clause(["month = ?", *dimensions_])
        parameters = [month, *parameters]
        scores: dict[int, int] = {}
        by_month: dict[str, dict[str, int]] = {}
        count = add_scores(db.execute(f"SELECT month, band, decile, sum(n) FROM insight_counts {where} GROUP BY 1, 2, 3", parameters), scores, by_month)
        answers: dict = {}
        for question, value, n in db.execute(f"SELECT question, answer, sum(n) FROM insight_answers {where} GROUP BY 1, 2", parameters):
            answers.setdefault(question, {})[value] = n
        return Insight(count, scores, by_month, answers)

    def _edge_insight(self, db: Any, chosen: LeadFilter, since: str, until: str) -> Insight:
        """The figures of the days ``since``..``until`` (one month, in part) from the rows, kept while that month is unchanged."""
        row = db.execute("SELECT changes FROM insight_changes WHERE month = ?", (since[:7],)).fetchone()
        changes = row[0] if row else 0
        key = (replace(chosen, since=since, until=until, search=None), self._identity)
        cached = self._edges.get(key)
        if cached is not None and cached[0] == changes:
            return cached[1]
        found = self._rows_insight(db, replace(chosen, since=since, until=until, search=None))
        with self._cache_lock:
            self._edges[key] = (changes, found)
            while len(self._edges) > 64:
                self._edges.pop(next(iter(self._edges)))
        return found

    def _searched_insight(self, db: Any, chosen: LeadFilter) -> Insight:
        version = self._data_stamp(db)
        cached = self._insights.get(chosen)
        if version is not None and cached is not None and cached[0] == version:
            return cached[1]
        found = self._rows_insight(db, chosen)
        if version is not None:
            with self._cache_lock:
                self._insights[chosen] = (version, found)
                while len(self._insights) > 32:
                    self._insights.pop(next(iter(self._insights)))
        return found

    def _rows_insight(self, db: Any, chosen: LeadFilter) -> Insight:
        """The figures counted from the rows (a partial month, a search; the tests' reference)."""
        where, parameters = self._where(chosen)
        condition = clause(where)
        scores: dict[int, int] = {}
        by_month: dict[str, dict[str, int]] = {}
        grouped = f"SELECT substr(created_at, 1, 7), band, {self.DECILE}, count(*) FROM submissions {condition} GROUP BY 1, 2, 3"
        count = add_scores(db.execute(grouped, parameters), scores, by_month)
        # identical answer sets are counted once by the database, then split per question here
        answers: dict[str, dict[int, int]] = {}
        for text, n in db.execute(f"SELECT answers, count(*) FROM submissions {condition} GROUP BY answers", parameters):
            for question, value in json.loads(text).items():
                counts = answers.setdefault(question, {})
                counts[value] = counts.get(value, 0) + n
        return Insight(count, scores, dict(sorted(by_month.items())), answers)

    def _where(self, chosen: LeadFilter) -> tuple[list[str], list]:
        return where_of(chosen, self.LIKE)

    # Accounts, sessions, failed logins, the audit log

    def add_admin(self, email: str, password_hash: str, *, replace: bool = False) -> bool:
        """Add an account (or with ``replace`` set a new password, ending its sessions); whether it is new."""
        email = normalise_email(email)

        def work(db: Any) -> bool:
            found = db.execute("SELECT id FROM admins WHERE email = ?", (email,)).fetchone()
            if found and not replace:
                raise StoreError(f"the account {email} exists. Fix: remove it first (kennisbank admin remove {email}) or give --reset to set a new password")
            if found:
                db.execute("UPDATE admins SET password = ? WHERE id = ?", (password_hash, found[0]))
                db.execute("DELETE FROM admin_sessions WHERE admin = ?", (found[0],))
                return False
            db.execute("INSERT INTO admins (email, password, created_at) VALUES (?, ?, ?)", (email, password_hash, format_time(utc_now())))
            return True

        return self._transaction(work)

    def remove_admin(self, email: str) -> bool:
        """Remove an account and its sessions; whether there was one."""
        return self._write("DELETE FROM admins WHERE email = ?", (normalise_email(email),)) == 1

    def admins(self) -> list[Admin]:
        with self._reading() as db:
            rows = db.execute("SELECT id, email, password, totp_secret, totp_last, created_at FROM admins ORDER BY email").fetchall()
        return [admin_of(row) for row in rows]

    def admin(self, email: str) -> Admin | None:
        with self._reading() as db:
            row = db.execute("SELECT id, email, password, totp_secret, totp_last, created_at FROM admins WHERE email = ?", (normalise_email(email),)).fetchone()
        return admin_of(row) if row else None

    def update_admin(self, admin_id: int, **changes: object) -> None:
        """Change ``password``, ``totp_secret`` or ``totp_last`` of an account."""
        allowed = {"password", "totp_secret", "totp_last"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"only {', '.join(sorted(allowed))} can be changed")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._write(f"UPDATE admins SET {assignments} WHERE id = ?", (*changes.values(), admin_id))

    def use_totp_step(self, admin_id: int, step: int) -> bool:
        """Record a TOTP time step as used; ``False`` if it (or a later one) was used before (a replay)."""
        return self._write("UPDATE admins SET totp_last = ? WHERE id = ? AND coalesce(totp_last, -1) < ?", (step, admin_id, step)) == 1

    def create_session(self, token_hash: str, admin_id: int, csrf: str, lang: str) -> None:
        now = format_time(utc_now())
        self._write(
            "INSERT INTO admin_sessions (token_hash, admin, csrf, lang, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash, admin_id, csrf, lang, now, now),
        )

    def session(self, token_hash: str) -> Session | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT a.id, a.email, a.password, a.totp_secret, a.totp_last, a.created_at, s.csrf, s.lang, s.created_at, s.last_seen "
                "FROM admin_sessions s JOIN admins a ON a.id = s.admin WHERE s.token_hash = ?",
                (token_hash,),
            ).fetchone()
        return Session(admin_of(row[:6]), row[6], row[7], parse_time(row[8]), parse_time(row[9])) if row else None

    def touch_session(self, token_hash: str, lang: str | None = None) -> None:
        self._write("UPDATE admin_sessions SET last_seen = ?, lang = coalesce(?, lang) WHERE token_hash = ?", (format_time(utc_now()), lang, token_hash))

    def end_session(self, token_hash: str) -> None:
        self._write("DELETE FROM admin_sessions WHERE token_hash = ?", (token_hash,))

    def end_sessions_before(self, created_before: datetime, seen_before: datetime) -> int:
        """Delete sessions started before the one or idle since before the other; the number."""
        return self._write("DELETE FROM admin_sessions WHERE created_at < ? OR last_seen < ?", (format_time(created_before), format_time(seen_before)))

    def login_failures(self, key: str, since: datetime) -> list[datetime]:
        """The times of the failed logins under ``key`` since ``since``, oldest first."""
        with self._reading() as db:
            rows = db.execute("SELECT at FROM login_failures WHERE key = ? AND at >= ? ORDER BY at", (key, format_time(since))).fetchall()
        return [parse_time(row[0]) for row in rows]

    def audit(self, actor: str, action: str, subject: str | None = None, detail: str | None = None) -> None:
        self._write(
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)", (format_time(utc_now()), actor, action, subject, detail)
        )

    def audit_log(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first, ``limit`` entries older than entry ``before``."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before if before is not None else 2**62, limit),
            ).fetchall()
        return [AuditEntry(row[0], parse_time(row[1]), row[2], row[3], row[4], row[5]) for row in rows]

    # Helpers

    def _write(self, sql: str, parameters: tuple) -> int:
        """Run one change in its own transaction, committed (and durable) before returning."""
        return self._transaction(lambda db: db.execute(sql, parameters).rowcount)

    def _delete(self, where: str, parameters: tuple, table: str = "submissions") -> int:
        count = self._write(f"DELETE FROM {table} {where}", parameters)
        if count:
            self._after_delete()
        return count

    def _select(self, tail: str, parameters: tuple = ()) -> list[Submission]:
        with self._reading() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM submissions {tail}", parameters).fetchall()
        return [submission_of(row) for row in rows]


# Rows to values, filters to conditions


def row_of(submission: Submission) -> tuple:
    """A submission as the values of ``INSERT_SUBMISSION``."""
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


def like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where_of(chosen: LeadFilter, like_operator: str = "LIKE") -> tuple[list[str], list]:
    """The conditions (and their parameters) of a dashboard filter; every value a parameter."""
    where: list[str] = []
    parameters: list = []
    if chosen.since:
        where.append("created_at >= ?")
        parameters.append(f"{chosen.since}T00:00:00Z")
    if chosen.until:
        where.append("created_at <= ?")
        parameters.append(f"{chosen.until}T23:59:59Z")
    conditions, values = dimensions(chosen)
    where += conditions
    parameters += values
    if chosen.search:
        # only a lead has an email or organisation (the table's CHECK): consent = 1 lets
        # the database read the smaller index submissions_search (migration 0005) instead of every row
        where.append(f"consent = 1 AND (email {like_operator} ? ESCAPE '\\' OR organisation {like_operator} ? ESCAPE '\\')")
        parameters += [like(chosen.search)] * 2
    return where, parameters


def dimensions(chosen: LeadFilter) -> tuple[list[str], list]:
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


def months(since: str | None, until: str | None) -> tuple[str | None, str | None, list[tuple[str, str]]]:
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


def add_scores(rows: Iterable[tuple], scores: dict[int, int], by_month: dict[str, dict[str, int]]) -> int:
    """Add ``(month, band, decile, count)`` rows to the score and band counts; their total."""
    count = 0
    for month, band, decile, n in rows:
        count += n
        scores[decile] = scores.get(decile, 0) + n
        per_band = by_month.setdefault(month, {})
        per_band[band] = per_band.get(band, 0) + n
    return count


def clause(where: list[str]) -> str:
    return ("WHERE " + " AND ".join(where)) if where else ""
