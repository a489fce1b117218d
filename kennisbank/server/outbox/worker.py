"""The outbox worker: delivers what submissions trigger, with retries, in a process of its own.

A submission and its deliveries are committed together (``SubmissionStore.add``);
nothing more happens on the request's path. ``kennisbank serve`` starts the worker
(``kennisbank outbox work``) as a child process at a lower CPU priority and stops it
with itself; building and sending mail then never competes with the receiver for
Python's one lock (the GIL) or for the store's connection, and the scheduler gives the
receiver the CPU first when both want it.

The worker asks SQLite a few times a second whether another connection committed
(``PRAGMA data_version``: no query of the outbox, no message between the processes)
and only then reads the due deliveries, oldest first, a batch at a time: one mail
session and one commit for the batch. Each channel (email, webhook) has a loop and
batches of its own, in a thread of its own: a mail server that accepts and never
answers costs each mail its timeout (30 s), and the webhooks go out meanwhile. A failure is tried again with exponential
backoff (30 s doubling, at most two hours apart, for about a day), after which the
delivery is marked failed and waits for ``kennisbank outbox retry``. At start the
worker takes every pending delivery at once: whatever a crash or a stop interrupted
goes out as soon as it is back.

One worker per database: it holds a lock on a file beside the database (``flock``,
released by the kernel whatever way the process ends), or on PostgreSQL a session
advisory lock (released by the server when the worker's connection ends), and a second
one waits for it. So two instances of the server on one PostgreSQL database, or the
parent of ``kennisbank serve --workers N``, run one worker between them; should two ever
run, PostgreSQL's ``due_deliveries`` claims rows (``FOR UPDATE SKIP LOCKED``), so no
delivery goes to both.
Started by the server it dies with the server, even on SIGKILL (``PR_SET_PDEATHSIG``
on Linux; elsewhere it notices within a poll that its parent is gone).

Delivery is at least once: a crash between a send and its mark sends again after
the restart. The email's Message-ID and the webhook's ``webhook-id`` are the
submission's public id, so a receiver can tell.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from kennisbank.server.channels import EMAIL, WEBHOOK, NotifySettings
from kennisbank.server.db.store import Delivery, SubmissionStore, utc_now
from kennisbank.server.intake.definitions import Changed, Definitions
from kennisbank.server.outbox import notify
from kennisbank.server.outbox.locks import database_lock
from kennisbank.server.outbox.notify import (
    Mailer,
    NeedsSMTPUTF8,
    PermanentFailure,
    email_message,
    prepare,
    request_message,
    send_webhook,
)

log = logging.getLogger("kennisbank.server")

FIRST_RETRY = 30.0
LONGEST_WAIT = 2 * 60 * 60.0
MAX_ATTEMPTS = 20
"""30 s, 1, 2, 4, 8, 16, 32, 64 minutes, then every two hours: about 24 hours in all."""
BATCH = 50
"""Deliveries sent in one mail session and recorded in one commit."""
POLL = 0.25
"""Seconds between two looks at ``PRAGMA data_version``: how long a new delivery waits at most before the worker sees it."""
LONGEST_DEFER = 10.0
"""Seconds new deliveries wait at most for a quiet moment. While other connections keep
committing (submissions arriving), the worker holds its batch back: on a machine with
few cores even a low-priority worker takes CPU the receiver is waiting for while its
commits sync (bench: -26 % subm/s with a Maildir, -36 % with SMTP, at nice +19). It
sends in the first poll without a commit, or after this long regardless, so a lead
waits seconds at most, and mail keeps flowing under a load that never lets up."""
IDLE_LOOK = 5.0
"""Seconds between two reads of the outbox when nothing was committed: retries come due without a commit."""
NICE = 19
"""How much lower the worker's CPU priority is than the server's (``os.nice``): the lowest.
At +10 the worker still took a tenth of a busy CPU from the receiver (bench: -26 % subm/s
with a Maildir); at +19 it sends in the gaps, and even a receiver that keeps the CPU busy
leaves it about 1.5 %, some ten mails a second."""
STOP_WAIT = 5.0
"""Seconds the server gives the worker to finish its batch when stopping, before SIGKILL."""
RESTART_WAIT = 5.0
"""Seconds before the server starts a worker again that exited on its own."""
LEASE = timedelta(minutes=5)
"""How long a claimed delivery stays with its worker where workers share the outbox (PostgreSQL):
ten times the longest send (``notify.SEND_TIMEOUT``)."""


def claim_size(lease: timedelta = LEASE) -> int:
    """How many deliveries one claim takes at most: as many as can be sent in half the lease when
    each send takes its longest (``SEND_TIMEOUT``), so a claim does not run out while its worker
    is still sending; the worker also stops sending, leaving the rest to the next claim, when
    the lease is nearly over (:meth:`Outbox._send_all`). Why not renew the claim, or record after
    each send: both cost a commit per delivery where a batch costs one; 5 deliveries (a 5-minute
    lease, 30 s a send) finish in 2.5 minutes at worst, and a worker sends several a second when all is well."""
    return max(1, int(lease.total_seconds() // (2 * notify.SEND_TIMEOUT)))


def retry_delay(attempts: int, jitter: float = 0.1) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 is the first)."""
    base = min(LONGEST_WAIT, FIRST_RETRY * 2 ** (attempts - 1))
    return base * (1 + random.uniform(-jitter, jitter))


CHANNELS = (EMAIL, WEBHOOK)
"""The channels the worker delivers, each in a loop of its own (:meth:`Outbox.work`)."""


class Outbox:
    """Sends deliveries and records their outcomes; :meth:`work` is the worker's loop."""

    def __init__(self, store: SubmissionStore, definitions: Definitions, settings: NotifySettings, dashboard_url: str = ""):
        self.store = store
        self.definitions = definitions
        self.settings = settings
        self.dashboard_url = dashboard_url

    # The worker's loop

    def work(self, stop: threading.Event, parent: int | None = None) -> None:
        """Deliver until ``stop`` is set (or the process ``parent`` is gone): one loop per channel
        (:data:`CHANNELS`), each in a thread of its own with its own batches, mail session and
        claims, so a channel that hangs (a mail server that accepts and never answers: 30 s a
        mail) holds up none of the others. They share the process, so its one lock per database."""
        ended = threading.Event()  # a loop ended (the parent is gone, or it failed): the others stop too

        def lane(channel: str) -> None:
            try:
                self._work(channel, stop, ended, parent)
            except BaseException:
                log.exception("the outbox's %s loop failed; the worker stops (kennisbank serve starts it again)", channel)
            finally:
                ended.set()

        threads = [threading.Thread(target=lane, args=(channel,), name=f"outbox-{channel}") for channel in CHANNELS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _work(self, channel: str, stop: threading.Event, ended: threading.Event, parent: int | None) -> None:
        """The deliveries of ``channel``, until ``stop`` or ``ended`` is set."""
        everything = True  # at start: every pending delivery, whatever its backoff
        more = True  # the last read found a full batch: read again at once
        seen, next_look = None, 0.0
        polled, busy_since = None, None  # the version at the last poll; since when commits kept coming
        while not stop.is_set() and not ended.is_set():
            if parent is not None and os.getppid() != parent:
                log.warning("the server (pid %d) is gone: the outbox worker stops", parent)
                return
            try:
                version = self.store.outbox_version()
                now = time.monotonic()
                if polled is not None and version != polled:  # another connection committed since the last poll
                    busy_since = busy_since or now
                else:
                    busy_since = None
                polled = version
                if busy_since is not None and now - busy_since < LONGEST_DEFER and not everything:
                    stop.wait(POLL)  # submissions are arriving: wait for a quiet moment
                    continue
                if more or version != seen or now >= next_look:
                    seen, next_look = version, now + IDLE_LOOK
                    # where workers share the outbox, a batch is what one claim may take
                    limit = min(BATCH, claim_size()) if self.store.shared else BATCH
                    due = self.store.due_deliveries(utc_now(), limit, all_pending=everything, lease=LEASE, channel=channel)
                    if due:
                        self.deliver_all(due)
                    # a full read, or one a claim cut short (PostgreSQL: Delivery.claim): read again at once
                    more, everything = len(due) == BATCH or (bool(due) and due[0].claim is not None), False
                    if more:
                        continue
            except Exception:
                log.exception("the outbox (%s) could not be read or marked; trying again in %g s", channel, IDLE_LOOK)
                stop.wait(IDLE_LOOK)
                continue
            stop.wait(POLL)

    # Delivering

    def deliver_all(self, deliveries: list[Delivery]) -> None:
        """Send ``deliveries`` (one mail session for all of them), then record every outcome in one commit,
        under the claim that took them (PostgreSQL; one claim per :meth:`SubmissionStore.due_deliveries`)."""
        outcomes = self._send_all(deliveries)
        sent, failed = [], []
        for delivery, error in outcomes:
            attempts = delivery.attempts + 1
            if error is None:
                sent.append((delivery.id, attempts))
                continue
            permanent = isinstance(error, PermanentFailure)
            retry_at = None if permanent or attempts >= MAX_ATTEMPTS else utc_now() + timedelta(seconds=retry_delay(attempts))
            reason = str(error) if permanent else f"{type(error).__name__}: {error}"
            if retry_at is None:
                log.error(
                    "delivery %d (%s of %s) failed for good after %d attempt(s) (kennisbank outbox retry): %s",
                    delivery.id,
                    delivery.channel,
                    delivery.public_id,
                    attempts,
                    reason,
                )
            else:
                log.warning(
                    "delivery %d (%s of %s) failed, trying again at %s: %s",
                    delivery.id,
                    delivery.channel,
                    delivery.public_id,
                    retry_at.isoformat(timespec="seconds"),
                    reason,
                )
            failed.append((delivery.id, attempts, reason, retry_at))
        for claim in dict.fromkeys(delivery.claim for delivery in deliveries):
            mine = {delivery.id for delivery in deliveries if delivery.claim == claim}
            refused = self.store.record_deliveries([s for s in sent if s[0] in mine], [f for f in failed if f[0] in mine], claim)
            if refused:
                log.warning(
                    "deliveries %s: the claim ran out while they were being sent and another worker took them over; its outcome stands, not this one",
                    ", ".join(map(str, refused)),
                )

    def _send_all(self, deliveries: list[Delivery]) -> list[tuple[Delivery, Exception | None]]:
        """The outcome of each delivery sent; those whose claim (PostgreSQL) would run out before a
        send could end are not sent and not recorded: the next claim takes them."""
        outcomes: list[tuple[Delivery, Exception | None]] = []
        with Mailer(self.settings) as mailer:
            for delivery in deliveries:
                if delivery.claim_ends is not None and time.monotonic() + 2 * notify.SEND_TIMEOUT > delivery.claim_ends:
                    log.warning("delivery %d: its claim ends before a send could; left to the next claim", delivery.id)
                    continue
                try:
                    self._send(delivery, mailer)
                except Exception as exc:
                    outcomes.append((delivery, exc))
                else:
                    outcomes.append((delivery, None))
        return outcomes

    def _send(self, delivery: Delivery, mailer: Mailer) -> None:
        if delivery.request is not None:
            site = self.definitions.manifest.site
            self._mail(delivery, mailer, lambda utf8: request_message(delivery.request, site, self.settings, utf8=utf8))
            return
        submission = delivery.submission
        if delivery.channel == WEBHOOK:
            send_webhook(submission, self.settings)
            return
        if delivery.channel != EMAIL:
            raise PermanentFailure(f"unknown channel {delivery.channel!r}")
        try:
            assessment = self.definitions.resolve(submission.assessment, submission.definition, None)
        except (Changed, KeyError):
            raise PermanentFailure(f"the definition that scored {submission.public_id} is no longer known") from None
        url = self.dashboard_url.format(id=submission.public_id) if self.dashboard_url else ""
        site = self.definitions.manifest.site
        self._mail(delivery, mailer, lambda utf8: email_message(submission, assessment, site, self.settings, url, utf8=utf8))

    def _mail(self, delivery: Delivery, mailer: Mailer, message: Callable[[bool], EmailMessage]) -> None:
        """Send ``message(utf8=True)``; where the SMTP server cannot take its non-ASCII address, the same
        mail without that address in its headers (it stays in the body), and the log says so. Never a retry:
        the server will not learn SMTPUTF8 by the next attempt, and the consultant must hear of the lead."""
        try:
            mailer.send(message(True))
        except NeedsSMTPUTF8 as exc:
            log.warning("delivery %d (%s of %s): %s; sent without Reply-To, the address is in the body", delivery.id, delivery.channel, delivery.public_id, exc)
            mailer.send(message(False))


# The worker process


def die_with_parent(parent: int) -> None:
    """Be killed when the process ``parent`` ends, however it ends (Linux: ``PR_SET_PDEATHSIG``).

    ctypes, because the standard library has no ``prctl``; elsewhere (or where a
    sandbox refuses it) :meth:`Outbox.work` notices the parent's end within a poll."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
                log.info("the outbox worker cannot ask to die with the server (errno %d); it watches for it instead", ctypes.get_errno())
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent ended before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def lower_priority(nice: int) -> None:
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except OSError as exc:  # e.g. a systemd sandbox without @resources
        log.warning("the outbox worker could not lower its CPU priority (%s); it runs at the server's", exc.strerror or exc)


def can_share(store: SubmissionStore) -> bool:
    """Whether a worker in another process sees what this store commits: a database file or a
    database server, not SQLite's in-memory database."""
    return store.outbox_lock_file() is not None or store.shared


def run_worker(store: SubmissionStore, outbox: Outbox, *, nice: int = 0, parent: int | None = None) -> None:
    """The worker process's life: lock, deliver until SIGTERM or SIGINT (or the parent's end).

    ``store`` is one other processes can share (:func:`can_share`)."""
    if parent is not None:
        die_with_parent(parent)
    prepare()  # the CPU a start takes (imports, templates) at the server's priority
    lower_priority(nice)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())  # the batch in hand is finished and recorded first
    with database_lock(store, stop) as locked:
        if locked:
            log.info("the outbox worker delivers through %s (pid %d, CPU priority %d lower)", outbox.settings.transport, os.getpid(), max(0, nice))
            outbox.work(stop, parent)


class WorkerProcess:
    """``kennisbank outbox work`` as a child of the server: started at the server's start,
    started again when it exits on its own, stopped with the server."""

    def __init__(self, environment: dict[str, str], cwd: Path, nice: int = NICE):
        self.environment = environment
        self.cwd = cwd
        self.nice = nice
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "kennisbank.cli", "outbox", "work", "--nice", str(self.nice), "--parent", str(os.getpid())]
        # a process group of its own: Ctrl+C in a terminal reaches the server, which stops the
        # worker when the batch in hand is done, instead of interrupting it mid-send. Not a
        # session of its own: Linux's autogroup scheduling would give a new session as much
        # CPU as the server's, whatever the worker's nice value
        self.process = subprocess.Popen(command, env=self.environment, cwd=self.cwd, process_group=0)

    def supervise_until(self, stop: threading.Event) -> None:
        """Run the worker, and again when it exits on its own, until ``stop`` is set; then stop it.

        A thread's loop, not the event loop's: the parent of ``--workers N`` has none (uvicorn's
        supervisor runs there), and one process's server runs it through :meth:`supervise`."""
        try:
            while not stop.is_set():
                self.start()
                while self.process.poll() is None:
                    if stop.wait(0.5):
                        return
                log.error("the outbox worker exited (status %s); starting it again in %g s", self.process.returncode, RESTART_WAIT)
                stop.wait(RESTART_WAIT)
        finally:
            self.stop()

    async def supervise(self) -> None:
        """:meth:`supervise_until` for as long as this task runs: cancelling the task stops the worker."""
        stop = threading.Event()
        thread = threading.Thread(target=self.supervise_until, args=(stop,), name="outbox", daemon=True)
        thread.start()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            log.warning("the outbox worker did not stop within %g s; killed (what it was sending goes again at the next start)", STOP_WAIT)
            process.kill()
            process.wait()
