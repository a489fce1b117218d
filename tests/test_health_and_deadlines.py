"""Issue 25, findings 2, 4 and the 0600 part of 9: a health check that tells the truth cheaply,
deadlines on every call to PostgreSQL, and database files that only their owner can read.
Each test failed before its fix."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
import stat
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from kennisbank.server.app import create_app
from kennisbank.server.db.store import StoreError, open_store
from kennisbank.server.outbox.locks import worker_lock
from kennisbank.server.settings import Settings

from support import ENDPOINT, payload, submission

BACKENDS = ("sqlite", "postgresql")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# 9 (the 0600 part): the database files are private whatever the umask


def test_the_database_files_are_created_0600_whatever_the_umask(tmp_path):
    """``make serve`` runs with the shell's umask (022): the database, its -wal and -shm and the
    outbox's lock file were created 0644, readable by every user of the machine."""
    database = tmp_path / "var" / "kb.sqlite3"
    previous = os.umask(0o022)
    try:
        store = open_store(f"sqlite:///{database}", tmp_path)
        store.add(submission(email="ann@example.org"))
        with worker_lock(store.outbox_lock_file(), threading.Event()) as held:
            assert held
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), store.outbox_lock_file()]
        modes = {file.name: oct(_mode(file)) for file in files}
        store.close()
    finally:
        os.umask(previous)
    assert modes == dict.fromkeys(modes, oct(0o600))


# 2. /healthz tells the truth, cheaply


@pytest.fixture
def app_for(site, tmp_path):
    """``app_for(database, **env)``: a TestClient on a fresh app over the session's site."""
    clients = []

    def make(database: str, **env: str) -> TestClient:
        client = TestClient(create_app(Settings.from_env({"SITE_DIR": str(site.site), "DATABASE_URL": database, "RATE_LIMIT": "off", **env})))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, as the attacker's (root only: mount); unmounted after the test."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("needs root to mount a tmpfs (mount -t tmpfs -o size=2m)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _fill(folder: Path) -> Path:
    """Fill ``folder``'s file system to the last byte; the file that holds it."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)
    return filler


def test_healthz_fails_when_the_disk_is_full(app_for, small_disk, caplog):
    """Every submission got 503 on a full 2 MB tmpfs while /healthz said 200 ok: it only made a
    temporary table, which SQLite keeps in memory. Now it writes a row and takes it back, in the
    database and its WAL, and the log says the disk is full, not a traceback."""
    client = app_for(f"sqlite:///{small_disk / 'kb.sqlite3'}")
    if hasattr(client.app.state, "health"):
        client.app.state.health.fresh = 0  # each call checks anew (the cache has its own test)
    assert client.get("/healthz").status_code == 200
    assert client.post(ENDPOINT, json=payload()).status_code == 201
    filler = _fill(small_disk)
    caplog.clear()
    assert client.post(ENDPOINT, json=payload()).status_code == 503  # as the attacker saw
    reply = client.get("/healthz")
    assert reply.status_code == 503 and reply.json()["checks"]["database"] == "failing"
    said = [record for record in caplog.records if record.levelname == "ERROR"]
    assert [record.getMessage().partition(":")[0] for record in said] == ["storing a submission failed", "health"], [r.getMessage() for r in said]
    assert all("kb.sqlite3" in record.getMessage() and "Fix: the disk is full" in record.getMessage() for record in said), [r.getMessage() for r in said]
    assert all(record.exc_info is None for record in said)  # worded, not a traceback
    filler.unlink()
    assert client.get("/healthz").status_code == 200
    assert client.post(ENDPOINT, json=payload()).status_code == 201


@contextlib.contextmanager
def _immutable(file: Path):
    """``file`` made unwritable even for root (tests run as root, where mode 444 stops no write):
    ``chattr +i``, which refuses the open for writing as mode 444 does for any other user."""
    if subprocess.run(["chattr", "+i", str(file)], capture_output=True).returncode:
        pytest.skip("needs chattr +i (root, and a file system with the immutable flag)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(file)], check=True)


def test_a_read_only_database_file_is_refused_at_start_and_on_writing_naming_the_file_and_the_fix(site, tmp_path):
    """A database file at mode 444 passed the start-up check (a temporary table) and the first
    write failed with a generic message (a traceback in the log): now the start-up check writes
    a row, and both name the file and say how to make it writable."""
    database = tmp_path / "kb.sqlite3"
    open_store(f"sqlite:///{database}", tmp_path).close()
    fix = rf"Fix: the database is read-only: .*chmod 600 {re.escape(str(database))}"
    with _immutable(database):
        with pytest.raises(StoreError, match=rf"^{re.escape(str(database))}: the database cannot be written .*Operation not permitted.*{fix}"):
            create_app(Settings.from_env({"SITE_DIR": str(site.site), "DATABASE_URL": f"sqlite:///{database}", "RATE_LIMIT": "off"}))
        store = open_store(f"sqlite:///{database}", tmp_path)  # opened (read-only) without the check
        try:
            with pytest.raises(StoreError, match=rf"^{re.escape(str(database))}: the database refused the write.*{fix}"):
                store.add(submission())
        finally:
            store.close()


def test_healthz_never_waits_for_the_writer_of_submissions(app_for, tmp_path):
    """16 monitors polling /healthz cut submissions from 508/s to 15/s: each check took the
    store's lock, the one the writer of submissions holds. The check has a connection of its own."""
    client = app_for(f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    events = []
    lock = client.app.state.store._dialect.lock
    with lock:  # as a batch of submissions being written holds it
        asked = threading.Thread(target=lambda: events.append(("answered", client.get("/healthz").status_code)))
        asked.start()
        asked.join(timeout=10)
        events.append(("writer done", None))
    asked.join()
    assert events[0] == ("answered", 200), events


def test_healthz_answers_again_from_a_result_seconds_old(app_for, tmp_path):
    """One check writes to the database; the calls within HEALTH_FRESH seconds after it answer
    its result: 16 monitors cost one write per few seconds, not 16."""
    database = tmp_path / "kb.sqlite3"
    client = app_for(f"sqlite:///{database}")
    watcher = sqlite3.connect(database)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]  # moves when another connection commits
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: client.get("/healthz"), range(32)))
    assert {reply.status_code for reply in replies} == {200}
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version + 1  # one write for the 32 calls
    assert client.app.state.health.fresh >= 2
    watcher.close()
