"""Group commit: submissions that arrive while a commit is under way are stored together in the next one.

A durable commit costs a sync of the disk, and SQLite has one writer at a time: written
one by one, submissions queue behind each other's syncs, and every one of them costs a
hop to a worker thread. Here the first submission is written at once; those that arrive
while it is being written wait for that commit and then go together, in one transaction
(:meth:`SubmissionStore.add_many`), with one sync and one thread hop. No submission waits
for a timer: under light load every batch holds one.

Each reply still comes only after its own submission is durable, and each submission still
gets the peer counts of exactly the submissions stored before it (the store counts the
earlier ones of the batch in). A submission the schema refuses fails alone; an error of the
transaction itself fails its whole batch, none of which is then stored.

Why not a library: the databases' own group commit (PostgreSQL's ``commit_delay``) works
across connections, and SQLite has none; aiosqlite and the like run one statement per
thread hop. What is needed is a queue in front of the store's single writer, a few lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import anyio

from kennisbank.server.db.store import PeerCounts, Submission, SubmissionStore

BATCH = 64
"""The most submissions one transaction takes; the rest wait for the next."""


class GroupWriter:
    def __init__(self, store: SubmissionStore, batch: int = BATCH):
        self.store = store
        self.batch = batch
        self._waiting: list[tuple[Submission, list[str], asyncio.Future]] = []
        self._writing = False
        self._task: asyncio.Task | None = None
        self._batches = 0
        self._written = 0

    @property
    def mean_batch(self) -> float:
        """Submissions per transaction so far (for benchmarks)."""
        return self._written / self._batches if self._batches else 0.0

    async def add(self, submission: Submission, channels: Iterable[str] = ()) -> PeerCounts:
        """Store ``submission`` durably, with a pending delivery per channel; the peer counts
        of its definition just before it. Raises what refused it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((submission, list(channels), future))
        if not self._writing:
            self._writing = True
            # kept: the loop holds only a weak reference to a task
            self._task = asyncio.get_running_loop().create_task(self._drain())
        # shielded: a reader who disconnects does not take back a submission that is being
        # written; the batch goes on, only the reply is lost
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
                try:
                    outcomes = await anyio.to_thread.run_sync(self.store.add_many, [(submission, channels) for submission, channels, _ in batch])
                except Exception as exc:
                    for _, _, future in batch:
                        _settle(future, exc)
                    continue
                except BaseException:
                    for _, _, future in batch:
                        future.cancel()
                    raise
                self._batches += 1
                self._written += len(batch)
                for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                    _settle(future, outcome)
        finally:
            self._writing = False


def _settle(future: asyncio.Future, outcome: PeerCounts | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
        # retrieved here too: a request that went away must not leave "never retrieved" behind
        future.add_done_callback(lambda done: done.exception())
    else:
        future.set_result(outcome)
