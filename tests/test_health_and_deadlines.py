"""Issue 25, findings 2, 4 and the 0600 part of 9: a health check that tells the truth cheaply,
deadlines on every call to PostgreSQL, and database files that only their owner can read.
Each test failed before its fix."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from kennisbank.server.db.store import open_store
from kennisbank.server.outbox.locks import worker_lock

from support import submission

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
