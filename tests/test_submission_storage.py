"""Storage: the one store on SQLite and on PostgreSQL, the one migration history (and the
upgrade of a database the SQL files before Alembic made), durability across restarts, and purge and erase removing exactly what they
should. Each test that uses a database runs on both (``BACKENDS``); those about SQLite's
files and pragmas run on SQLite only and say so."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from kennisbank.server.db.store import (
    StoreError,
    SubmissionStore,
    months_before,
    new_public_id,
    open_store,
    utc_now,
)

from support import ENDPOINT, integrity_errors, payload, stored, submission

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def store(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    yield store
    store.close()


def test_one_store_class_for_both_databases(store, backend):
    assert type(store) is SubmissionStore and store.dialect == backend


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
    assert store.run_sql("PRAGMA journal_mode") == [("wal",)]
    assert store.run_sql("PRAGMA synchronous") == [(2,)]  # FULL
    assert store.run_sql("PRAGMA secure_delete") == [(1,)]


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


def test_migrations_run_once(database_url, tmp_path):
    from kennisbank.server.db import migrate

    store = open_store(database_url, tmp_path)
    assert store.run_sql("SELECT version_num FROM alembic_version") == [(f"{migrate.head():04d}",)]
    assert store.migrate() == []
    store.close()
    again = open_store(database_url, tmp_path)
    assert again.schema_version == migrate.head() and again.schema_current()
    again.close()


@pytest.fixture
def empty_database_url(backend, tmp_path, request) -> str:
    """A database no migration has touched."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres").fresh(template="template0")
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


def test_a_failing_migration_is_rolled_back(empty_database_url, tmp_path, monkeypatch):
    import shutil

    from kennisbank.server.db import migrate

    folder = tmp_path / "migrations"
    shutil.copytree(migrate.FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "0099_broken.py").write_text(
        f'from alembic import op\n\nrevision = "0099"\ndown_revision = "{migrate.head():04d}"\n\n\n'
        "def upgrade():\n    op.execute('CREATE TABLE half (x INTEGER)')\n    op.execute('THIS IS NOT SQL')\n"
    )
    monkeypatch.setattr(migrate, "FOLDER", folder)
    with pytest.raises(StoreError, match="upgrade to revision 0099 failed and was rolled back.*THIS.*Fix: "):
        open_store(empty_database_url, tmp_path)
    monkeypatch.undo()
    store = open_store(empty_database_url, tmp_path)  # opens now: nothing of the failed upgrade was kept
    assert store.run_sql("SELECT count(*) FROM submissions") == [(0,)]
    with pytest.raises(Exception, match="half"):
        store.run_sql("SELECT * FROM half")
    assert store.schema_current()
    store.close()


def test_a_database_newer_than_the_code_is_refused(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    store.run_sql("UPDATE alembic_version SET version_num = '0099'")
    store.close()
    with pytest.raises(StoreError, match="newer than this code knows.*Fix: "):
        open_store(database_url, tmp_path)


def test_revisions_are_numbered_once_for_both_databases():
    from alembic.script import ScriptDirectory

    from kennisbank.server.db import migrate

    revisions = list(reversed(list(ScriptDirectory.from_config(migrate.config()).walk_revisions())))
    assert [int(revision.revision) for revision in revisions] == list(range(1, len(revisions) + 1))
    assert [revision.down_revision for revision in revisions] == [None, *(revision.revision for revision in revisions[:-1])]
    assert sorted(path.name[:4] for path in (migrate.FOLDER / "versions").glob("*.py")) == [revision.revision for revision in revisions]


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
    from kennisbank.server.db.store import StoreURLError

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
    assert other.run_sql("SELECT count(*) FROM submissions WHERE public_id = :id", {"id": reply["id"]}) == [(1,)]
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
    from kennisbank.server.outbox.worker import claim_size

    workers = [open_store(database_url, tmp_path) for _ in range(4)]
    assert all(worker.outbox_lock_file() is None for worker in workers)
    assert claim_size() == 5, "LEASE / (2 x SEND_TIMEOUT)"
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda n: workers[n % 4].due_deliveries(utc_now(), claim_size()), range(20)))
    claimed = [delivery.id for batch in batches for delivery in batch]
    assert len(claimed) == len(set(claimed)) == 80, "every delivery once, none twice"
    assert max(len(batch) for batch in batches) == 5, "a claim takes what it is asked for at most"
    assert workers[0].due_deliveries(utc_now(), 100, all_pending=True) == [], "all claimed"
    # recorded under its claim: the claim ends with it; a retry is due again at its time
    batch = next(batch for batch in batches if len(batch) >= 2)
    first, second = batch[0].id, batch[1].id
    assert workers[0].record_deliveries([(first, 1)], [(second, 1, "timeout", utc_now() + timedelta(minutes=1))], "another claim") == [first, second]
    workers[0].record_deliveries([(first, 1)], [(second, 1, "timeout", utc_now() + timedelta(minutes=1))], batch[0].claim)
    assert [d.id for d in workers[1].due_deliveries(utc_now() + timedelta(minutes=2), 100)] == [second]
    for store in (writer, *workers):
        store.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has one worker per database (a lock file): no claims
def test_a_claim_that_outlives_its_lease_cannot_overwrite_the_outcome_of_the_worker_that_took_it_over(database_url, tmp_path):
    """The reviewer's repro: A claims three deliveries and is still sending when its lease ends; B
    claims them, sends and records them as sent; A's late outcomes (one "failed, try again") are refused."""
    from kennisbank.server.outbox.worker import claim_size

    writer = open_store(database_url, tmp_path)
    for _ in range(3):
        writer.add(submission(email="a@example.org"), ["email"])
    a, b = (open_store(database_url, tmp_path, pool_size=2) for _ in range(2))
    lease = timedelta(seconds=1)  # short for the test; three at once, as in the repro
    assert claim_size(lease) == 1
    first = a.due_deliveries(utc_now(), 3, lease=lease)
    assert len(first) == 3 and len({d.claim for d in first}) == 1
    assert b.due_deliveries(utc_now(), 3, lease=lease) == [], "claimed by A while its lease runs"
    time.sleep(2.2)  # A's lease (1 s, on the database's clock; stored to the second) runs out while A is "sending"
    second = b.due_deliveries(utc_now(), 3, lease=lease)
    assert [d.id for d in second] == [d.id for d in first] and second[0].claim != first[0].claim
    assert b.record_deliveries([(d.id, 1) for d in second], [], second[0].claim) == []
    late = a.record_deliveries([(first[1].id, 1), (first[2].id, 1)], [(first[0].id, 1, "timeout", utc_now())], first[0].claim)
    assert sorted(late) == sorted(d.id for d in first), "every late outcome of A refused"
    assert [(d.state, d.attempts, d.last_error) for d in writer.deliveries(("pending", "sent", "failed"))] == [("sent", 1, None)] * 3
    assert a.due_deliveries(utc_now(), 50, all_pending=True) == [], "none pending again: no third send"
    for store in (writer, a, b):
        store.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has one worker per database (a lock file): no leases
def test_a_worker_whose_claim_ran_out_takes_the_rest_again_and_a_dead_ones_claim_runs_out(database_url, tmp_path):
    writer = open_store(database_url, tmp_path)
    for _ in range(2):
        writer.add(submission(email="a@example.org"), ["email"])
    dead, alive = (open_store(database_url, tmp_path, pool_size=2) for _ in range(2))
    lease = timedelta(seconds=1)
    taken = dead.due_deliveries(utc_now(), 5, lease=lease)  # and never recorded: the worker died
    assert len(taken) == 2 and alive.due_deliveries(utc_now(), 5, lease=lease) == []
    time.sleep(2.2)
    assert [d.id for d in alive.due_deliveries(utc_now(), 5, lease=lease)] == [d.id for d in taken]
    for store in (writer, dead, alive):
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


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite's errors (sqlite3.Error) already give 503
def test_a_database_that_turned_read_only_gives_503_not_500(make_client, database_url, tmp_path):
    """After a fail-over to a standby (here: the database set read-only and its sessions ended, so
    the pool reconnects) PostgreSQL refuses the write with ReadOnlySqlTransaction, an InternalError,
    not an OperationalError: the store says StoreError and the receiver replies 503."""
    import psycopg

    from kennisbank.server.db.store import StoreError

    client = make_client()
    assert client.post(ENDPOINT, json=payload()).status_code == 201
    store = open_store(database_url, tmp_path)
    with psycopg.connect(database_url, autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchone()[0]
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    reply = client.post(ENDPOINT, json=payload())
    assert reply.status_code == 503
    with pytest.raises(StoreError, match="ReadOnlySqlTransaction.*Fix: "):
        store.add(submission())
    with pytest.raises(StoreError, match="the database cannot be written .*read-only transaction.*Fix: "):
        store.check_writable()  # the health check words it its own way
    store.close()
    with psycopg.connect(database_url, autocommit=True, options="-c default_transaction_read_only=off") as admin:
        admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    assert len(stored(client)) == 1
