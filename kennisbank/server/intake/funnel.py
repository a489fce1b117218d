"""The scan's beacon: a page of this site says that a reader started the scan, or finished it.

``POST`` ``BEACON_PATH`` (``/api/funnel``, the build writes it into the page's data;``navigator.sendBeacon`` from ``assessment.js``, a form body)
takes exactly four fields and nothing else: ``assessment``, ``version``, ``lang`` and
``step`` (``started``: the first answer; ``completed``: every question answered). No
identifier, no time (the count is per day, the server's), no cookie. Refused:

- from anywhere but this site's own pages (403, :func:`kennisbank.server.web.origin.same_origin`);
- another content type than a form (415), a body over :data:`MAX_BYTES` (413);
- beyond the rate limit: :data:`PER_SUBMISSION` times ``RATE_LIMIT``'s count per window, per
  client address, counted apart from the submissions (429);
- another field, a field twice, or an assessment, version, language or step the build
  manifest does not know (422): nothing unknown is counted.

Answered 204 and counted in the reach :class:`~kennisbank.server.web.reach.Tally`; with
``REACH=off`` answered 204 and counted nowhere. The sent and with-contact steps are the
stored submissions themselves: a page without JavaScript counts its views and those.
"""

from __future__ import annotations

import logging

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from kennisbank.assessment.contact import BEACON_PATH
from kennisbank.server.db.shared_state import Unavailable
from kennisbank.server.intake.bodies import BodyError, read_urlencoded
from kennisbank.server.intake.receiver import FORM, media_type
from kennisbank.server.intake.replies import NO_STORE
from kennisbank.server.settings import RateLimit, Settings
from kennisbank.server.web import origin
from kennisbank.server.web.ratelimit import client_key, limiter_for
from kennisbank.server.web.reach import STEPS, Tally

log = logging.getLogger("kennisbank.server")

FIELDS = frozenset({"assessment", "version", "lang", "step"})
MAX_BYTES = 512
PER_SUBMISSION = 4
"""Beacons allowed per submission the rate limit allows: a start and a completion, twice over."""


class FunnelBeacon:
    def __init__(self, settings: Settings, store, tally: Tally | None):
        self.tally = tally
        limit = settings.rate_limit
        self.limiter = limiter_for(RateLimit(limit.count * PER_SUBMISSION, limit.seconds) if limit else None, store)

    async def take(self, request: Request) -> Response:
        if not origin.same_origin(request):
            return _reply(403)
        if media_type(request) != FORM:
            return _reply(415)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BYTES:
            return _reply(413)
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BYTES:
                    return _reply(413)
        except ClientDisconnect:
            return _reply(400)
        if self.limiter is not None:
            # a beacon's key apart from a submission's: starting the scan never uses up the reader's submissions
            key = "funnel " + client_key(request.client.host if request.client else None)
            try:
                wait = await anyio.to_thread.run_sync(self.limiter.hit, key) if self.limiter.blocking else self.limiter.hit(key)
            except Unavailable as exc:
                log.error("%s; replying 503", exc)
                return _reply(503)
            if wait is not None:
                return _reply(429, {"Retry-After": str(wait)})
        fields = _fields(body)
        if fields is None:
            return _reply(422)
        if self.tally is not None:
            version = fields["version"]
            if not (version.isascii() and version.isdigit() and len(version) < 10) or fields["step"] not in STEPS:
                return _reply(422)
            if not self.tally.step(fields["assessment"], int(version), fields["lang"], fields["step"]):
                return _reply(422)
        return _reply(204)


def _fields(body: bytes) -> dict[str, str] | None:
    """The four fields, each exactly once; ``None`` for anything else."""
    try:
        pairs = read_urlencoded(body)
    except BodyError:
        return None
    names = [name for name, _ in pairs]
    if len(names) != len(FIELDS) or set(names) != FIELDS:
        return None
    return {name: str(value) for name, value in pairs}


def _reply(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers={**NO_STORE, **(headers or {})})


__all__ = ["BEACON_PATH", "FunnelBeacon"]
