"""The outbox worker's locks: one worker delivers from a database at a time.

On an SQLite file the lock is ``fcntl.flock`` on a file beside it (:func:`worker_lock`);
on PostgreSQL a session advisory lock on a connection of the store's own
(:func:`outbox_lock`), watched while the worker runs. Both wait the same way
(:func:`wait_for_lock`); :func:`database_lock` picks the one the store needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from kennisbank.server.db.dialects import OUTBOX_LOCK
from kennisbank.server.db.store import SubmissionStore

log = logging.getLogger("kennisbank.server")

#: seconds between two checks that the advisory lock is still held
LOCK_CHECK = 1.0


def database_lock(store: SubmissionStore, stop: threading.Event) -> contextlib.AbstractContextManager[bool]:
    """The lock that makes this the one outbox worker of ``store``'s database."""
    return outbox_lock(store, stop) if store.shared else worker_lock(store.outbox_lock_file(), stop)


@contextlib.contextmanager
def worker_lock(file: Path, stop: threading.Event) -> Iterator[bool]:
    """Hold the lock on ``file`` (one worker per database); ``False`` if ``stop`` was set while waiting.

    ``fcntl.flock`` rather than a row in the database: the kernel releases it however
    the holder ends (a SIGKILL too), so a worker after a crash never waits for a lease
    to run out before it sends what the crash interrupted."""
    descriptor = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)

    def take() -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        yield wait_for_lock(take, str(file), stop)
    finally:
        os.close(descriptor)  # releases the lock


def wait_for_lock(take: Callable[[], bool], held: str, stop: threading.Event) -> bool:
    """Try ``take`` every second until it gets the worker's lock (``True``) or ``stop`` is set
    (``False``); says once that another worker holds ``held``. Both locks (a file's, PostgreSQL's
    advisory lock, :func:`outbox_lock`) wait this way."""
    told = False
    while not take():
        if not told:
            log.warning("another outbox worker delivers from this database (it holds %s): waiting until it stops", held)
            told = True
        if stop.wait(1.0):
            return False
    return True


class LockLost(RuntimeError):
    """The outbox worker's lock went with its connection (a database restart, an idle-session killer)."""


@contextlib.contextmanager
def outbox_lock(store: SubmissionStore, stop: threading.Event) -> Iterator[bool]:
    """Hold the database's outbox lock (one worker per database); ``False`` if ``stop`` was set while waiting.

    A connection of its own, not the pool's: the session lock lives as long as that
    connection, and PostgreSQL ends it when the worker's process ends. The lock also ends
    when the connection does while the worker runs (a database restart, an idle-session
    killer, ``pg_terminate_backend``): another worker may take it and deliver the same
    outbox. So a thread checks every :data:`LOCK_CHECK` seconds that the lock is still
    held; when it is not, it sets ``stop`` (the worker stops before its next batch) and
    leaving the block raises :class:`LockLost` (the worker exits, and its parent starts it
    again: it waits for the lock then)."""
    connection = store.side_connection()
    lost = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(LOCK_CHECK):
            if not connection.holds_outbox_lock():
                log.error("the outbox worker lost its lock (advisory lock %d; its database connection ended): it stops after the batch in hand", OUTBOX_LOCK)
                lost.set()
                stop.set()
                return

    try:
        if not wait_for_lock(connection.try_outbox_lock, f"advisory lock {OUTBOX_LOCK}", stop):
            yield False
            return
        watcher = threading.Thread(target=watch, name="outbox-lock-watch", daemon=True)
        watcher.start()
        try:
            yield True
        finally:
            done.set()
            watcher.join()
        if lost.is_set():
            raise LockLost(
                f"the outbox worker lost its lock (advisory lock {OUTBOX_LOCK}) and stopped. It is started again by kennisbank serve; by hand, start it again"
            )
    finally:
        connection.close()  # releases the lock
