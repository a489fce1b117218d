"""A database the SQL migrations before Alembic made (``schema_migrations`` at version 9,
tests/data/legacy_migrations/ holds those files as they were) upgrades in place, with its rows,
on both databases; and a migrated database is the schema ``kennisbank/server/db/schema.py``
declares, whichever way it came."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from kennisbank.server.db.store import StoredDefinition, StoreError, format_time, new_public_id, open_store, utc_now

from support import submission

BACKENDS = ("sqlite", "postgresql")
LEGACY = Path(__file__).parent / "data" / "legacy_migrations"
DIGEST = "d" * 64


def legacy_database(backend: str, tmp_path: Path, request, upto: int = 9) -> tuple[str, object]:
    """A new database made by the old SQL files 0001..``upto``, and a function running SQL in it (``?`` parameters)."""
    if backend == "postgresql":
        import psycopg

        url = request.getfixturevalue("postgres").fresh(template="template0")
        db = psycopg.connect(url, autocommit=True)
        run = lambda sql, rows=None: db.cursor().executemany(sql.replace("?", "%s"), rows) if rows else db.execute(sql)
    else:
        import sqlite3

        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
        db = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
        run = lambda sql, rows=None: db.executemany(sql, rows) if rows else db.executescript(sql)
    run("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for file in sorted((LEGACY / backend).glob("*.sql"))[:upto]:
        run(file.read_text(encoding="utf-8"))
        run("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')", [(int(file.name[:4]), file.name)])
    return url, (db, run)


def cascades(store) -> set[tuple[str, str, str]]:
    """``(table, column, ON DELETE)`` of every foreign key, as the database holds it."""
    if store.dialect == "sqlite":
        tables = [row[0] for row in store.run_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {(table, row[3], row[6]) for table in tables for row in store.run_sql(f"PRAGMA foreign_key_list({table})")}
    rows = store.run_sql(
        "SELECT c.conrelid::regclass::text, a.attname, c.confdeltype FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.contype = 'f'"
    )
    return {(table, column, "CASCADE" if kind == "c" else kind) for table, column, kind in rows}


EXPECTED_CASCADES = {
    ("outbox", "submission", "CASCADE"),
    ("outbox", "request", "CASCADE"),
    ("notes", "submission", "CASCADE"),
    ("admin_sessions", "admin", "CASCADE"),
    ("submission_themes", "submission", "CASCADE"),
}


def test_a_new_database_is_the_schema_schema_py_declares(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    assert store.schema_differences() == []
    assert cascades(store) == EXPECTED_CASCADES
    store.close()


def test_a_database_of_the_old_sql_migrations_upgrades_in_place_with_its_rows(backend, tmp_path, request):
    url, (db, run) = legacy_database(backend, tmp_path, request)
    now = utc_now()
    run("INSERT INTO definitions VALUES (?, ?, ?, ?, ?)", [(DIGEST, "contract-check", 1, '{"id": "contract-check"}', format_time(now))])
    old = []
    for n in range(20):
        lead = n % 2 == 0
        answers = {"q1": n % 3, "q2": "unknown"}
        old.append(new_public_id())
        run(
            "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band, consent, email, discuss, definition, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    old[-1],
                    format_time(now - timedelta(days=n)),
                    "contract-check",
                    1,
                    "nl",
                    json.dumps(answers),
                    n * 5,
                    "gemengd",
                    int(lead),
                    f"p{n}@example.org" if lead else None,
                    1 if lead else None,
                    DIGEST,
                    "new",
                )
            ],  # fmt: skip
        )
    run("INSERT INTO outbox (submission, channel, next_attempt, created_at) SELECT id, 'email', created_at, created_at FROM submissions WHERE consent = 1")
    run("INSERT INTO admins (email, password, created_at) VALUES ('a@example.org', 'hash', '2026-01-01T00:00:00Z')")
    db.close()

    store = open_store(url, tmp_path)  # adopts it: stamped at 0001, schema_migrations dropped
    assert store.schema_current()
    assert sorted(s.public_id for s in store.all()) == sorted(old), "every row kept"
    assert store.run_sql("SELECT count(*) FROM outbox") == [(10,)] and [a.email for a in store.admins()] == ["a@example.org"]
    assert sum(store.peer_counts(DIGEST)[""]) == 20, "the aggregates of the old triggers, read as they are"
    assert store.schema_differences() == [] and cascades(store) == EXPECTED_CASCADES, "the old files' schema is revision 0001's"
    with pytest.raises(Exception, match="schema_migrations"):
        store.run_sql("SELECT * FROM schema_migrations")
    # new writes work, through the old triggers' aggregates
    before = store.add(submission(definition=DIGEST, score=50, themes={"a": 10}, email="new@example.org"), ["email"])
    assert sum(before[""]) == 20 and sum(store.peer_counts(DIGEST)[""]) == 21
    assert store.remember_definitions([StoredDefinition("e" * 64, "contract-check", 2, "{}")]) == 1
    assert len(store.due_deliveries(utc_now(), 50, all_pending=True)) == 11
    assert store.erase_email("p0@example.org") == 1 and sum(store.peer_counts(DIGEST)[""]) == 20
    store.close()
    again = open_store(url, tmp_path)  # and opens as any other since
    assert len(again.all()) == 20 and again.migrate() == []
    again.close()


def test_a_database_of_an_older_sql_migration_is_refused_with_the_way_forward(backend, tmp_path, request):
    url, (db, _) = legacy_database(backend, tmp_path, request, upto=8)
    db.close()
    with pytest.raises(StoreError, match="old schema version 8.*Fix: "):
        open_store(url, tmp_path)
