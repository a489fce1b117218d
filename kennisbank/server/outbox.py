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
from datetime import timedelta
from functools import partial

import anyio

from .definitions import Changed, Definitions
from .notify import EMAIL, WEBHOOK, Mailer, NotifySettings, PermanentFailure, email_message, request_message, send_webhook
from .store import Delivery, SubmissionStore, utc_now

log = logging.getLogger("kennisbank.server")

FIRST_RETRY = 30.0
LONGEST_WAIT = 2 * 60 * 60.0
MAX_ATTEMPTS = 20
"""30 s, 1, 2, 4, 8, 16, 32, 64 minutes, then every two hours: about 24 hours in all."""
BATCH = 20
IDLE_POLL = 30.0
COALESCE = 0.2


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
                due = await anyio.to_thread.run_sync(partial(self.store.due_deliveries, utc_now(), BATCH, all_pending=everything), limiter=self._limiter)
            except Exception:
                log.exception("the outbox could not be read; trying again in %g s", IDLE_POLL)
                due = []
            everything = False
            if due:
                await self.deliver_all(due)
            if len(due) == BATCH:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL)
            except TimeoutError:
                pass
            # under load, let a few more submissions come in: one mail session and one
            # commit for the batch, instead of one each
            await asyncio.sleep(COALESCE)

    async def deliver(self, delivery: Delivery) -> None:
        await self.deliver_all([delivery])

    async def deliver_all(self, deliveries: list[Delivery]) -> None:
        """Send ``deliveries`` (one mail session for all of them), then record every outcome in one commit."""
        outcomes = await anyio.to_thread.run_sync(self._send_all, deliveries, limiter=self._limiter)
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
        await anyio.to_thread.run_sync(self.store.record_deliveries, sent, failed, limiter=self._limiter)

    def _send_all(self, deliveries: list[Delivery]) -> list[tuple[Delivery, Exception | None]]:
        outcomes: list[tuple[Delivery, Exception | None]] = []
        with Mailer(self.settings) as mailer:
            for delivery in deliveries:
                try:
                    self._send(delivery, mailer)
                except Exception as exc:
                    outcomes.append((delivery, exc))
                else:
                    outcomes.append((delivery, None))
        return outcomes

    def _send(self, delivery: Delivery, mailer: Mailer) -> None:
        if delivery.request is not None:
            mailer.send(request_message(delivery.request, self.definitions.manifest.site, self.settings))
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
        mailer.send(email_message(submission, assessment, self.definitions.manifest.site, self.settings, url))
