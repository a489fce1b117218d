"""The outbox worker: delivers what submissions trigger, with retries, in the server process.

A submission and its deliveries are committed together (``SubmissionStore.add``);
the receiver then wakes this worker, so sending never sits on the request's path.
The worker takes due deliveries oldest first and sends each one; a failure is
tried again with exponential backoff (30 s doubling, at most two hours apart, for
about a day), after which the delivery is marked failed and waits for
``kennisbank outbox retry``. At start the worker takes every pending delivery at
once: whatever a crash or a stop interrupted goes out as soon as the server is back.

Delivery is at least once: a crash between a send and its mark sends again after
the restart. The email's Message-ID and the webhook's ``webhook-id`` are the
submission's public id, so a receiver can tell.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

import anyio

from .definitions import Changed, Definitions
from .notify import EMAIL, WEBHOOK, NotifySettings, PermanentFailure, email_message, request_message, send_email, send_webhook
from .store import Delivery, SubmissionStore, utc_now

log = logging.getLogger("kennisbank.server")

FIRST_RETRY = 30.0
LONGEST_WAIT = 2 * 60 * 60.0
MAX_ATTEMPTS = 20
"""30 s, 1, 2, 4, 8, 16, 32, 64 minutes, then every two hours: about 24 hours in all."""
BATCH = 20
IDLE_POLL = 30.0


def retry_delay(attempts: int, jitter: float = 0.1) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 is the first)."""
    base = min(LONGEST_WAIT, FIRST_RETRY * 2 ** (attempts - 1))
    return base * (1 + random.uniform(-jitter, jitter))


class Outbox:
    def __init__(self, store: SubmissionStore, definitions: Definitions, settings: NotifySettings, dashboard_url: str = ""):
        self.store = store
        self.definitions = definitions
        self.settings = settings
        self.dashboard_url = dashboard_url
        self._wake = asyncio.Event()
        self._limiter = anyio.CapacityLimiter(1)

    def wake(self) -> None:
        """A submission was stored: look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        everything = True  # at start: every pending delivery, whatever its backoff
        while True:
            try:
                due = await anyio.to_thread.run_sync(lambda: self.store.due_deliveries(utc_now(), BATCH, all_pending=everything), limiter=self._limiter)
            except Exception:  # noqa: BLE001 - the database may be away for a moment; the worker must go on
                log.exception("the outbox could not be read; trying again in %g s", IDLE_POLL)
                due = []
            everything = False
            for delivery in due:
                await self.deliver(delivery)
            if len(due) == BATCH:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL)
            except asyncio.TimeoutError:
                pass

    async def deliver(self, delivery: Delivery) -> None:
        attempts = delivery.attempts + 1
        try:
            await anyio.to_thread.run_sync(self._send, delivery, limiter=self._limiter)
        except PermanentFailure as exc:
            log.error("delivery %d (%s of %s) failed for good: %s", delivery.id, delivery.channel, delivery.public_id, exc)
            await self._record(delivery.id, attempts, str(exc), None)
            return
        except Exception as exc:  # noqa: BLE001 - any failure of a mail server or receiver is retried
            retry_at = utc_now() + timedelta(seconds=retry_delay(attempts)) if attempts < MAX_ATTEMPTS else None
            reason = f"{type(exc).__name__}: {exc}"
            if retry_at is None:
                log.error("delivery %d (%s of %s) failed %d times; giving up (kennisbank outbox retry): %s", delivery.id, delivery.channel, delivery.public_id, attempts, reason)
            else:
                log.warning("delivery %d (%s of %s) failed, trying again at %s: %s", delivery.id, delivery.channel, delivery.public_id, retry_at.isoformat(timespec="seconds"), reason)
            await self._record(delivery.id, attempts, reason, retry_at)
            return
        await anyio.to_thread.run_sync(self.store.delivered, delivery.id, attempts, limiter=self._limiter)

    async def _record(self, delivery_id: int, attempts: int, error: str, retry_at: datetime | None) -> None:
        await anyio.to_thread.run_sync(lambda: self.store.delivery_failed(delivery_id, attempts, error, retry_at), limiter=self._limiter)

    def _send(self, delivery: Delivery) -> None:
        if delivery.request is not None:
            send_email(request_message(delivery.request, self.definitions.manifest.site, self.settings), self.settings)
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
        send_email(email_message(submission, assessment, self.definitions.manifest.site, self.settings, url), self.settings)
