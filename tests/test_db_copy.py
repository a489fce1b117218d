"""`kennisbank db copy`: every table from SQLite to a real PostgreSQL and back, verified by
counts and checksums and by the dashboard's and the peer comparison's figures afterwards;
a target with data refused; a difference found after the copy rolls it back and names the table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kennisbank.cli import main
from kennisbank.server.db import copy as db_copy
from kennisbank.server.db import schema
from kennisbank.server.db.store import STATUSES, ContactRequest, LeadFilter, StoredDefinition, format_time, new_public_id, open_store, utc_now

from support import submission

DIGEST = "d" * 64


def fill(store) -> None:
    """Rows in every table: submissions with theme scores, a definition, requests, the outbox in
    every state, accounts, a session, notes, failed logins, the audit log, and thereby the aggregates."""
    store.remember_definitions([StoredDefinition(DIGEST, "contract-check", 1, '{"id": "contract-check"}')])
    now = utc_now()
    for n in range(60):
        lead = n % 3 == 0
        store.add(
            submission(
                created_at=now - timedelta(days=n * 5, seconds=n),
                score=(n * 17) % 101,
                band=("inspanning", "gemengd", "resultaatgericht")[n % 3],
                lang=("nl", "en")[n % 2],
                definition=DIGEST if n % 4 else None,
                themes={"a": (n * 7) % 101, "b": None if n % 5 == 0 else n % 101} if n % 4 else {},
                answers={"q1": n % 3, "q2": "unknown" if n % 7 == 0 else 1, "q3": "na", "ctx": "commercieel"},
                **({"email": f"p{n % 4}@example.org", "organisation": f"Org {n}", "message": "Bel me", "discuss": bool(n % 2)} if lead else {}),
            ),
            ["email", "webhook"] if lead else [],
        )
    store.add_request(ContactRequest(new_public_id(), now, "nl", "question", "Ann", "ann@example.org", "Een vraag"), ["email"])
    leads = store.leads(LeadFilter(), limit=100)
    for index, lead in enumerate(leads[:12]):
        store.set_status(lead.submission.public_id, STATUSES[index % 3])
        store.add_note(lead.submission.public_id, "consultant@example.org", f"note {index} ‘quoted’")
    due = store.due_deliveries(now, 100, all_pending=True)
    store.record_deliveries([(due[0].id, 1)], [(due[1].id, 3, "550 refused", None), (due[2].id, 1, "timeout", now + timedelta(minutes=5))])
    store.add_admin("consultant@example.org", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
    admin = store.admin("consultant@example.org")
    store.update_admin(admin.id, totp_secret="JBSWY3DPEHPK3PXP", totp_last=59_000_000)
    store.create_session("f" * 64, admin.id, "csrf-token", "en")
    for key in ("account:x@example.org", "address:abc"):
        store.run_sql("INSERT INTO login_failures (key, at) VALUES (:key, :at)", {"key": key, "at": format_time(now)})
    store.audit("consultant@example.org", "status", leads[0].submission.public_id, "contacted")
    store.erase_email("p1@example.org")  # leaves peer_counts rows at 0: copied as they are
    day = f"{now:%Y-%m-%d}"
    store.add_reach({(day, "/", "nl"): 3}, {(day, "/", "nl", "www.linkedin.com", "", "", ""): 3}, {(day, "contract-check", 1, "nl", "started"): 2})


def figures(store) -> dict:
    """What the dashboard and the peer comparison show, for a few filters."""
    chosen = [LeadFilter(), LeadFilter(kind="lead"), LeadFilter(since=f"{utc_now() - timedelta(days=100):%Y-%m-%d}", lang="nl"), LeadFilter(search="org 3")]
    return {
        "insight": [store.insight(c) for c in chosen],
        "count": [store.count_leads(c) for c in chosen],
        "leads": [[(lead.submission, lead.status) for lead in store.leads(c, limit=500)] for c in chosen],
        "peers": store.peer_counts(DIGEST),
        "stats": store.stats(),
        "deliveries": store.deliveries(("pending", "sent", "failed")),
        "requests": store.requests(),
        "admins": store.admins(),
        "session": store.session("f" * 64),
        "audit": store.audit_log(),
        "notes": [store.notes(lead.submission.public_id) for lead in store.leads(LeadFilter(), limit=500)],
    }


def test_sqlite_to_postgresql_and_back_keeps_every_table_and_figure(tmp_path, postgres, capsys):
    first = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    middle = postgres.fresh(template="template0")  # empty: the copy migrates it
    last = f"sqlite:///{tmp_path / 'last.sqlite3'}"
    store = open_store(first, tmp_path)
    fill(store)
    before, shown = db_copy.checksums(store), figures(store)
    store.close()
    assert set(db_copy.COPIED) == {table.name for table in schema.metadata.sorted_tables if "only" not in table.info}
    assert all(count > 0 for count, _ in before.values()), {table for table, (count, _) in before.items() if not count}

    assert main(["db", "copy", "--from", first, "--to", middle]) == 0
    out = capsys.readouterr().out
    assert "every table's count and checksum match the source" in out and f"{before['submissions'][1][:16]}" in out
    assert main(["db", "copy", "--from", middle, "--to", last]) == 0
    capsys.readouterr()

    for url in (middle, last):
        copy = open_store(url, tmp_path)
        assert db_copy.checksums(copy) == before, url
        assert figures(copy) == shown, url
        copy.close()


def test_the_copy_goes_on_working_ids_and_aggregates_after_it(tmp_path, postgres):
    source = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    store = open_store(source, tmp_path)
    fill(store)
    store.close()
    target = postgres.fresh(template="template0")
    db_copy.copy_database(source, target, tmp_path)
    copy = open_store(target, tmp_path)
    before = copy.peer_counts(DIGEST)
    highest = copy.run_sql("SELECT max(id) FROM submissions")[0][0]
    late = submission(score=42, definition=DIGEST, themes={"a": 42}, email="late@example.org")
    assert copy.add(late, ["email"]) == before  # the sequence was set past the copied ids: no clash
    assert copy.run_sql("SELECT id FROM submissions WHERE public_id = :id", {"id": late.public_id})[0][0] > highest
    after = copy.peer_counts(DIGEST)
    assert after[""][42] == before[""][42] + 1 and after["a"][42] == before["a"][42] + 1, "the triggers run again"
    assert copy.insight(LeadFilter()).count == copy.run_sql("SELECT count(*) FROM submissions")[0][0]
    copy.close()


def test_a_target_with_data_is_refused_unless_replace(tmp_path, postgres, capsys):
    source = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    store = open_store(source, tmp_path)
    fill(store)
    store.close()
    target = postgres.fresh()
    other = open_store(target, tmp_path)
    kept = submission()
    other.add(kept)
    other.close()
    assert main(["db", "copy", "--from", source, "--to", target]) == 1
    err = capsys.readouterr().err
    assert "the target holds data (in submissions" in err and "--replace" in err and "Fix:" in err
    other = open_store(target, tmp_path)
    assert [s.public_id for s in other.all()] == [kept.public_id], "left as it was"
    other.close()
    assert main(["db", "copy", "--from", source, "--to", target, "--replace"]) == 0
    other = open_store(target, tmp_path)
    assert kept.public_id not in {s.public_id for s in other.all()} and len(other.all()) > 0
    other.close()


@pytest.mark.parametrize("broken", ["notes", "insight_answers"])
def test_a_difference_after_the_copy_rolls_it_back_and_names_the_table(tmp_path, postgres, monkeypatch, broken):
    from kennisbank.server.db.dialects import PostgreSQL

    source = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    store = open_store(source, tmp_path)
    fill(store)
    store.close()
    target = postgres.fresh()
    adapt = PostgreSQL.adapt

    def corrupting(self, table, names, row):  # a copy that changes one value of one table on the way
        row = adapt(self, table, names, row)
        return (*row[:-1], row[-1] + 1) if table == broken and isinstance(row[-1], int) else (*row[:-1], f"{row[-1]}!") if table == broken else row

    monkeypatch.setattr(PostgreSQL, "adapt", corrupting)
    with pytest.raises(db_copy.CopyError, match=f"table {broken} differs after the copy.*rolled back"):
        db_copy.copy_database(source, target, tmp_path)
    monkeypatch.undo()
    copy = open_store(target, tmp_path)
    assert all(count == 0 for count, _ in db_copy.checksums(copy).values()), "nothing kept"
    assert copy.run_sql("SELECT count(*) FROM information_schema.triggers WHERE trigger_name = 'insight_insert_delete'")[0][0] == 2, "triggers on"
    copy.close()


def test_bad_urls_and_the_same_database_are_usage_errors(tmp_path, capsys):
    assert main(["db", "copy", "--from", f"sqlite:///{tmp_path / 'a.sqlite3'}", "--to", "postgresql://u:secret@h/x?nonsense=1"]) == 2
    err = capsys.readouterr().err
    assert "--to" in err and "Fix:" in err and "secret" not in err
    same = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    assert main(["db", "copy", "--from", same, "--to", same]) == 2
    assert "same database" in capsys.readouterr().err


def test_backup_of_postgresql_names_pg_dump(tmp_path, postgres, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", postgres.fresh())
    assert main(["backup", "--to", str(tmp_path / "copy.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "pg_dump" in err and "Fix:" in err and not (tmp_path / "copy.sqlite3").exists()


# The source: read-only, never created or migrated, and not empty (the reviewer's finding 3)


def _filled_target(postgres, tmp_path, count: int = 5) -> tuple[str, list[str]]:
    target = postgres.fresh()
    other = open_store(target, tmp_path)
    kept = [submission() for _ in range(count)]
    for item in kept:
        other.add(item)
    other.close()
    return target, [item.public_id for item in kept]


def _public_ids(url: str, tmp_path) -> list[str]:
    store = open_store(url, tmp_path)
    try:
        return [s.public_id for s in store.all()]
    finally:
        store.close()


def test_a_mistyped_sqlite_source_with_replace_leaves_the_target_and_creates_no_file(tmp_path, postgres, capsys):
    """The reviewer's repro: the real file is kb.sqlite3, --from names kb.sqlite; the target had 5
    submissions and was emptied, with "copied 0 row(s) ... match" and exit 0."""
    real = tmp_path / "kb.sqlite3"
    store = open_store(f"sqlite:///{real}", tmp_path)
    fill(store)
    store.close()
    target, kept = _filled_target(postgres, tmp_path)
    mistyped = tmp_path / "kb.sqlite"
    assert main(["db", "copy", "--from", f"sqlite:///{mistyped}", "--to", target, "--replace"]) == 1
    err = capsys.readouterr().err
    assert f"{mistyped}: no such file" in err and "nothing was read or changed" in err and "Fix:" in err
    assert not mistyped.exists(), "the source is never created"
    assert _public_ids(target, tmp_path) == kept, "the target left as it was"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_empty_source_is_refused_unless_allow_empty(tmp_path, postgres, capsys, backend):
    source = f"sqlite:///{tmp_path / 'empty.sqlite3'}" if backend == "sqlite" else postgres.fresh()
    open_store(source, tmp_path).close()  # a migrated database without rows
    target, kept = _filled_target(postgres, tmp_path)
    assert main(["db", "copy", "--from", source, "--to", target, "--replace"]) == 1
    err = capsys.readouterr().err
    assert "the source holds no rows" in err and "--allow-empty" in err and "Fix:" in err
    assert _public_ids(target, tmp_path) == kept
    assert main(["db", "copy", "--from", source, "--to", target, "--replace", "--allow-empty"]) == 0
    assert _public_ids(target, tmp_path) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_source_at_another_schema_version_is_refused_never_migrated_and_db_migrate_fixes_it(tmp_path, postgres, capsys, monkeypatch, backend):
    import psycopg

    source = f"sqlite:///{tmp_path / 'old.sqlite3'}" if backend == "sqlite" else postgres.fresh()
    store = open_store(source, tmp_path)
    fill(store)
    latest = store.schema_version
    # an older kennisbank's database: the SQL migrations' before Alembic (schema_migrations at 9, no revision)
    store.run_sql("DROP TABLE alembic_version")
    store.run_sql("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    store.run_sql("INSERT INTO schema_migrations VALUES (9, '0009_outbox_claim_token.sql', '2026-01-01T00:00:00Z')")
    store.close()
    target = postgres.fresh()
    assert main(["db", "copy", "--from", source, "--to", target]) == 1
    err = capsys.readouterr().err
    assert f"the source is at schema version 0, this kennisbank's is {latest}" in err and "kennisbank db migrate" in err
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(tmp_path / "old.sqlite3") as raw:
            assert raw.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 9, "never migrated"
    else:
        with psycopg.connect(source) as raw:
            assert raw.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 9, "never migrated"
    assert _public_ids(target, tmp_path) == []
    monkeypatch.setenv("DATABASE_URL", source)
    assert main(["db", "migrate"]) == 0
    assert f"schema version {latest}" in capsys.readouterr().out
    assert main(["db", "copy", "--from", source, "--to", target]) == 0
    assert sorted(_public_ids(target, tmp_path)) == sorted(_public_ids(source, tmp_path)) and _public_ids(target, tmp_path)


def test_a_sqlite_source_is_opened_read_only(tmp_path):
    from kennisbank.server.db.store import StoreError, open_source

    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    open_store(url, tmp_path).close()
    source = open_source(url, tmp_path)
    with pytest.raises((StoreError, __import__("sqlite3").OperationalError), match="readonly|read-only|read only"):
        source.add(submission())
    source.close()
