"""Storage: the SQLite and the PostgreSQL backend behind SubmissionStore, their
migrations, durability across restarts, and purge and erase removing exactly what they
should. Each test that uses a database runs on both (``BACKENDS``); those about SQLite's
files and pragmas run on SQLite only and say so."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from kennisbank.server import sqlite_store
from kennisbank.server.store import (
    StoreError,
    SubmissionStore,
    months_before,
    new_public_id,
    open_store,
    utc_now,
)

from support import ENDPOINT, backend_migrations, integrity_errors, payload, stored, submission

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def store(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    yield store
    store.close()


def test_the_store_implements_the_interface(store, backend):
    assert isinstance(store, SubmissionStore)
    assert type(store).__name__ == {"sqlite": "SQLiteStore", "postgresql": "PostgresStore"}[backend]


def test_add_and_read_back_everything(store):
    one = submission(email="Ann@Example.org", organisation="Org", message="Hi\nthere", discuss=True)
    two = submission()
    store.add(one)
    store.add(two)
    got = store.all()
    assert [s.public_id for s in got] == [one.public_id, two.public_id]
    assert got[0].email == "ann@example.org"
    assert (got[0].organisation, got[0].message, got[0].discuss, got[0].consent) == ("Org", "Hi\nthere", True, True)
    assert got[1].email is None and got[1].consent is False and got[1].discuss is None
    assert got[0].created_at == one.created_at and got[0].created_at.tzinfo is not None
    assert dict(got[1].answers) == dict(two.answers)


def test_the_database_file_and_folder_are_created_relative_to_the_project(tmp_path):
    store = open_store("sqlite:///var/sub/kb.sqlite3", tmp_path)
    store.close()
    assert (tmp_path / "var" / "sub" / "kb.sqlite3").is_file()


def test_wal_and_full_sync(tmp_path):
    # SQLite's own: PostgreSQL's durability is its server's setting (synchronous_commit), not the store's
    store = open_store(f"sqlite:///{tmp_path / 'w.sqlite3'}", tmp_path)
    db = store._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_contact_without_consent_is_refused_by_the_model_and_the_schema(store):
    with pytest.raises(ValueError):
        submission(name="Jan")
    with pytest.raises(ValueError):
        submission(discuss=True)
    with pytest.raises(integrity_errors()):
        store.run_sql(
            "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band, consent, email) "
            "VALUES ('x', '2026-01-01T00:00:00Z', 'a', 1, 'nl', '{}', 1, 'b', 0, 'a@b.nl')"
        )
    assert store.all() == []


def test_duplicate_public_ids_are_refused(store):
    one = submission()
    store.add(one)
    with pytest.raises(integrity_errors()):
        store.add(submission(public_id=one.public_id))
    assert len(store.all()) == 1


# Migrations


def test_migrations_run_once_in_order(database_url, backend, tmp_path):
    store = open_store(database_url, tmp_path)
    versions = store.run_sql("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [v for v, _ in versions] == list(range(1, len(backend_migrations(backend)) + 1))
    assert store.migrate() == []
    store.close()
    again = open_store(database_url, tmp_path)
    assert again.schema_version == len(backend_migrations(backend))
    again.close()


@pytest.fixture
def empty_database_url(backend, tmp_path, request) -> str:
    """A database no migration has touched."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres").fresh(template="template0")
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


def test_a_failing_migration_is_rolled_back(empty_database_url, backend, tmp_path, monkeypatch):
    from kennisbank.server import pg_store

    module = pg_store if backend == "postgresql" else sqlite_store
    real = module.migrations()
    broken = real + [(len(real) + 1, f"{len(real) + 1:04d}_broken.sql", "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;\n")]
    monkeypatch.setattr(module, "migrations", lambda: broken)
    with pytest.raises(StoreError, match="broken.sql"):
        open_store(empty_database_url, tmp_path)
    monkeypatch.setattr(module, "migrations", lambda: real)
    store = open_store(empty_database_url, tmp_path)  # opens now: the good migrations stayed
    tables = {row[0] for row in store.run_sql("SELECT table_name FROM information_schema.tables")} if backend == "postgresql" else None
    tables = tables or {row[0] for row in store.run_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables and "submissions" in tables
    assert store.run_sql("SELECT max(version) FROM schema_migrations")[0][0] == len(real)
    store.close()


def test_a_database_newer_than_the_code_is_refused(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    store.run_sql("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', '2030-01-01T00:00:00Z')")
    store.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(database_url, tmp_path)


def test_migration_files_are_numbered_without_gaps_and_alike_per_dialect():
    found = sqlite_store.migrations()
    assert [version for version, _, _ in found] == list(range(1, len(found) + 1))
    assert all(name.endswith(".sql") for _, name, _ in found)
    # the same numbers and names (the same meaning) on PostgreSQL
    assert [name for _, name, _ in backend_migrations("postgresql")] == [name for _, name, _ in found]


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("postgresql://user:secret@db/x?nonsense=1", "not a valid PostgreSQL URL"),
        ("mysql://x", "unknown database scheme"),
        ("sqlite://", "names no file"),
        ("sqlite:///x.db?mode=ro", "options"),
        ("kennisbank.db", "not a database URL"),
    ],
)
def test_bad_database_urls(tmp_path, url, fragment):
    from kennisbank.server.store import StoreURLError

    with pytest.raises(StoreURLError, match=fragment) as raised:
        open_store(url, tmp_path)
    assert "secret" not in str(raised.value)  # a password is never repeated in a message


# Durability


def test_every_acknowledged_submission_survives_a_restart(make_client):
    first = make_client()
    ids = [first.post(ENDPOINT, json=payload(i % 3)).json()["id"] for i in range(25)]
    ids += [first.post(ENDPOINT, json=payload(1, contact={"email": "x@example.org"}, consent=True)).json()["id"]]
    # no clean shutdown: the second app opens the file while the first still has it open
    second = make_client()
    assert [s.public_id for s in stored(second)] == ids
    assert stored(second)[-1].email == "x@example.org"


def test_a_reply_comes_only_after_the_commit(make_client, database_url, tmp_path):
    """A second connection sees the submission as soon as the 201 arrived."""
    client = make_client()
    reply = client.post(ENDPOINT, json=payload()).json()
    other = open_store(database_url, tmp_path)
    assert other.run_sql("SELECT count(*) FROM submissions WHERE public_id = ?", (reply["id"],)) == [(1,)]
    other.close()


# Purge and erase


def test_purge_removes_exactly_the_submissions_older_than_the_cutoff(store):
    now = utc_now()
    cutoff = months_before(now, 12)
    old = [submission(created_at=cutoff - timedelta(seconds=1)), submission(created_at=cutoff - timedelta(days=400), email="a@b.nl")]
    kept = [submission(created_at=cutoff), submission(created_at=cutoff + timedelta(seconds=1)), submission()]
    for item in old + kept:
        store.add(item)
    assert store.purge_older_than(cutoff) == 2
    assert {s.public_id for s in store.all()} == {s.public_id for s in kept}
    assert store.purge_older_than(cutoff) == 0


def test_erase_removes_exactly_one_persons_submissions(store):
    mine = [submission(email="ann@example.org"), submission(email="ANN@example.org")]
    others = [submission(email="bob@example.org"), submission(), submission(email="ann@example.org.evil")]
    for item in mine + others:
        store.add(item)
    assert {s.public_id for s in store.by_email("Ann@Example.org")} == {s.public_id for s in mine}
    assert store.erase_email(" Ann@Example.ORG ") == 2
    assert {s.public_id for s in store.all()} == {s.public_id for s in others}
    assert store.by_email("ann@example.org") == []
    assert store.erase_email("ann@example.org") == 0


def test_erased_data_does_not_linger_in_the_files(tmp_path):
    # SQLite's own (secure_delete, the checkpoint): PostgreSQL's files are the server's (VACUUM)
    path = tmp_path / "e.sqlite3"
    store = open_store(f"sqlite:///{path}", tmp_path)
    secret = "very-unique-erase-me@example.org"
    store.add(submission(email=secret, message="MARKER-" * 50))
    assert store.erase_email(secret) == 1
    store.close()
    for file in path.parent.glob("e.sqlite3*"):
        data = file.read_bytes()
        assert secret.encode() not in data and b"MARKER-" not in data, file.name


def test_months_before():
    utc = UTC
    assert months_before(datetime(2026, 3, 31, 12, tzinfo=utc), 1) == datetime(2026, 2, 28, 12, tzinfo=utc)
    assert months_before(datetime(2026, 1, 15, tzinfo=utc), 12) == datetime(2025, 1, 15, tzinfo=utc)
    assert months_before(datetime(2024, 2, 29, tzinfo=utc), 12) == datetime(2023, 2, 28, tzinfo=utc)
    assert months_before(datetime(2026, 5, 1, tzinfo=utc), 17) == datetime(2024, 12, 1, tzinfo=utc)


def test_stats(store):
    for score, band in ((10, "inspanning"), (50, "gemengd"), (60, "gemengd")):
        store.add(submission(score=score, band=band))
    store.add(submission(score=100, band="resultaatgericht", email="a@b.nl", discuss=True))
    stats = store.stats()
    assert stats.count == 4
    check = stats.assessments["contract-check"]
    assert check.count == 4 and check.mean_score == 55
    assert check.bands == {"inspanning": 1, "gemengd": 2, "resultaatgericht": 1}
    assert (check.with_contact, check.discuss) == (1, 1)


def test_public_ids_are_letters_and_digits_so_exports_show_them_unchanged():
    ids = {new_public_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 16 and i.isascii() and i.isalnum() for i in ids)


# The outbox on PostgreSQL: workers share it


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has one worker per database (a lock file): nothing to share
def test_two_workers_never_get_the_same_delivery_and_a_dead_ones_claim_runs_out(database_url, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    writer = open_store(database_url, tmp_path)
    for _ in range(40):
        writer.add(submission(email="a@example.org"), ["email", "webhook"])
    workers = [open_store(database_url, tmp_path) for _ in range(4)]
    assert all(worker.outbox_lock_file() is None for worker in workers)
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda n: workers[n % 4].due_deliveries(utc_now(), 7), range(16)))
    claimed = [delivery.id for batch in batches for delivery in batch]
    assert len(claimed) == len(set(claimed)) == 80, "every delivery once, none twice"
    assert workers[0].due_deliveries(utc_now(), 100, all_pending=True) == [], "all claimed"
    # recorded: the claim ends with it; a retry is due again at its time
    first, second, *rest = claimed
    workers[0].record_deliveries([(first, 1)], [(second, 1, "timeout", utc_now() + timedelta(minutes=1))])
    assert [d.id for d in workers[1].due_deliveries(utc_now() + timedelta(minutes=2), 100)] == [second]
    # a worker that died holding a claim: the others take its deliveries once the lease ran out
    writer.run_sql("UPDATE outbox SET claimed_until = '2000-01-01T00:00:00Z' WHERE id = ?", (rest[0],))
    assert [d.id for d in workers[2].due_deliveries(utc_now(), 100)] == [rest[0]]
    for store in (writer, *workers):
        store.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite's writers take turns for the whole file: no deadlock
def test_a_submission_that_deadlocks_with_another_writer_is_tried_again_and_stored_once(database_url, tmp_path):
    """An erasure's triggers lock a month's counter and then a definition's; a submission locks
    them the other way round. PostgreSQL ends one of the two; the store tries it again."""
    import threading

    import psycopg

    store = open_store(database_url, tmp_path)
    first = submission(definition="d", score=10)
    store.add(first)
    month = first.created_at.strftime("%Y-%m")
    other = psycopg.connect(database_url)
    other.execute("UPDATE insight_changes SET changes = changes WHERE month = %s", (month,))  # holds the month's counter
    late = submission(definition="d", score=20)
    outcome: list = []
    adding = threading.Thread(target=lambda: outcome.append(store.add(late)))
    adding.start()  # claims the definition's counter, then waits for the month's
    time.sleep(0.3)
    other.execute("UPDATE peer_changes SET changes = changes WHERE definition = 'd'")  # waits for the definition's: a cycle
    other.commit()
    other.close()
    adding.join(30)
    assert outcome and sum(outcome[0][""]) == 1, "stored after a retry, compared with the one before it"
    assert sorted(s.score for s in store.all()) == [10, 20]
    assert sum(store.peer_counts("d")[""]) == 2
    store.close()
