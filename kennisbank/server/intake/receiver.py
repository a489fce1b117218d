"""Takes a submission: the checks in order, the rate limit, scoring and storage.

``POST /api/assessments/{assessment_id}/submissions`` (the path is the manifest's
``endpoint``: :func:`endpoint_path`) takes a submission from the plain HTML form or from ``fetch`` with
JSON. In order, a request is refused when:

1. the assessment is unknown (404), the content type is none of the three (415),
   the ``Origin`` is neither this site nor in ``CORS_ORIGINS`` (403,
   :func:`kennisbank.server.web.origin.allowed`), or the body is
   larger than ``MAX_BODY_BYTES`` (413, counted while it streams in);
2. the client address sent too many submissions in the window (429, ``Retry-After``);
3. the page was built from a definition the server does not know (409: the site was
   rebuilt since; the reader reloads and keeps the answers);
4. any field is missing, unknown, off the scale, too long, not an email address or
   holds control characters (422, every problem by field, in the reader's language).

Otherwise the server scores the answers itself, with the definition the page was
built from, stores the submission (contact details only with consent) and replies,
after the commit, with 201 JSON or the result page. A filled-in honeypot gets the
same reply, and nothing is stored. The replies themselves are
:class:`kennisbank.server.intake.replies.Replies`. The CORS headers of a reply to one
of ``CORS_ORIGINS``, and the preflight, are Starlette's ``CORSMiddleware`` around the
endpoint (``kennisbank.server.app``).
"""

from __future__ import annotations

import logging
import sqlite3
from urllib.parse import urlsplit

import anyio
from babel import negotiate_locale
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from kennisbank.server.channels import NotifySettings
from kennisbank.server.db.shared_state import Unavailable
from kennisbank.server.db.store import StoreError, Submission, SubmissionStore, new_public_id, utc_now
from kennisbank.server.intake.bodies import BodyError, Input, language, read_form, read_json, read_multipart, read_urlencoded, valid_version, validate
from kennisbank.server.intake.definitions import Changed, Definitions
from kennisbank.server.intake.groupcommit import GroupWriter
from kennisbank.server.intake.peers import Steps, standing
from kennisbank.server.intake.replies import Replies
from kennisbank.server.settings import Settings, SettingsError
from kennisbank.server.web import origin
from kennisbank.server.web.ratelimit import client_key, limiter_for
from kennisbank.siteconfig import SiteConfig

log = logging.getLogger("kennisbank.server")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class TooLarge(Exception):
    pass


class Receiver:
    def __init__(self, settings: Settings, definitions: Definitions, store: SubmissionStore, replies: Replies, notify: NotifySettings):
        self.settings = settings
        self.notify = notify
        self.definitions = definitions
        self.store = store
        self.replies = replies
        self.locales = replies.site.locales
        self.limiter = limiter_for(settings.rate_limit, store)  # in the database when processes share it
        self.writer = GroupWriter(store)
        self.steps = Steps(settings.benchmark_step, settings.benchmark_min)
        """The counts the comparison is computed from, renewed in steps; shared with the public page."""

    async def limit(self, client: str, *, record: bool) -> int | None:
        """The seconds ``client`` must wait, ``None`` if it may go on (or no limit is set); with
        ``record`` this request counts. The in-memory limit answers on the event loop
        (microseconds), the database's in a thread (a round trip, up to its timeout when the
        database is away: never the loop's), raising :class:`Unavailable` when it gives up.
        The contact form (:mod:`.contact`) asks here too: one limit, one way to ask it."""
        if self.limiter is None:
            return None
        ask = self.limiter.hit if record else self.limiter.wait
        if self.limiter.blocking:
            return await anyio.to_thread.run_sync(ask, client)
        return ask(client)

    # The endpoint

    async def submit(self, request: Request) -> Response:
        assessment_id = request.path_params["assessment_id"]
        media = media_type(request)
        accept = request.headers.get("accept", "")
        # a form gets HTML back; fetch (JSON) gets JSON, and so does any other client that asks for it
        as_json = media == JSON or (media not in (FORM, MULTIPART) and JSON in accept and "text/html" not in accept)
        lang = accept_language(request.headers.get("accept-language", ""), self.locales)
        assessment = self.definitions.current.get(assessment_id)
        replies = self.replies
        if assessment is None:
            return replies.unknown_assessment(request.url.path, as_json, assessment_id)
        if media not in (JSON, FORM, MULTIPART):
            return replies.failure(assessment, lang, as_json, 415, "error_media_type")
        if not origin.allowed(request, also=self.settings.cors_origins, strict=media == JSON):
            return replies.failure(assessment, lang, as_json, 403, "error_forbidden")
        try:
            body = await self.read_body(request)
        except TooLarge:
            return replies.failure(assessment, lang, as_json, 413, "error_too_large")
        except ClientDisconnect:
            return replies.disconnected()

        found, body_problem = await self._read(request, media, body)
        lang = language(found, self.locales) or lang
        client = client_key(request.client.host if request.client else None)
        # only stored submissions count (below): a reader who corrects mistakes is not locked out
        try:
            wait = await self.limit(client, record=False)
        except Unavailable as exc:
            log.error("%s; replying 503", exc)
            return replies.failure(assessment, lang, as_json, 503, "send_failed")
        if wait is not None:
            return replies.failure(assessment, lang, as_json, 429, "error_rate", {"Retry-After": str(wait)}, seconds=str(wait))
        if body_problem:
            return replies.problems(assessment, lang, as_json, {"body": ("error_invalid", {})})
        if "definition" not in found.problems and valid_version(found.body.version):
            try:
                assessment = self.definitions.resolve(assessment.id, found.body.definition, found.body.version)
            except Changed:
                return replies.failure(assessment, lang, as_json, 409, "error_changed")
        accepted, problems = validate(assessment, found, self.locales)
        if accepted is None:
            return replies.problems(assessment, lang, as_json, problems)

        try:
            wait = await self.limit(client, record=True)
        except Unavailable as exc:
            log.error("%s; replying 503", exc)
            return replies.failure(assessment, lang, as_json, 503, "send_failed")
        if wait is not None:
            # another request from this client was stored while this one was read
            return replies.failure(assessment, lang, as_json, 429, "error_rate", {"Retry-After": str(wait)}, seconds=str(wait))
        public_id = new_public_id()
        if not accepted.honeypot:
            contact = accepted.contact if accepted.consent else {}
            submission = Submission(
                public_id=public_id,
                created_at=utc_now(),
                assessment=assessment.id,
                version=assessment.version,
                definition=assessment.digest,
                lang=accepted.lang,
                answers=accepted.answers,
                score=accepted.result.score,
                band=accepted.result.band.id,
                consent=accepted.consent,
                discuss=accepted.discuss if accepted.consent else None,
                # without a verdict (too many "don't know") the scores stay out of the comparison (peers.py)
                themes={theme.theme: theme.score if accepted.result.judged else None for theme in accepted.result.themes},
                **contact,
            )
            try:
                before = await self.writer.add(submission, self.notify.channels(submission))
            except StoreError as exc:  # worded: the file and the fix (a full disk, a read-only file), no traceback
                log.error("storing a submission failed: %s; replying 503", exc)
                return replies.failure(assessment, accepted.lang, as_json, 503, "send_failed")
            except (sqlite3.Error, OSError, *self.store.REFUSED):  # REFUSED: the database's own refusal of this row
                log.exception("storing a submission failed")
                return replies.failure(assessment, accepted.lang, as_json, 503, "send_failed")
        else:
            # the honeypot's reply looks the same: compared with what is stored, without storing
            before = await anyio.to_thread.run_sync(self.store.peer_counts, assessment.digest)
        peers = standing(
            assessment, accepted.result, self.steps(assessment.digest, before), self.settings.benchmark_min, accepted.lang, self.replies.site.strings
        )
        return replies.stored(assessment, accepted, public_id, as_json, peers)

    # Steps

    async def read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise TooLarge
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read(self, request: Request, media: str, body: bytes) -> tuple[Input, bool]:
        try:
            if media == JSON:
                return read_json(body), False
            if media == FORM:
                return read_form(read_urlencoded(body)), False
            return read_form(await read_multipart(request.headers, body)), False
        except BodyError:
            return Input(), True


# Helper functions


def endpoint_path(site: SiteConfig) -> str:
    """The route of the endpoint: the path of the manifest's ``endpoint``, ``{id}`` as ``{assessment_id}``."""
    path = urlsplit(site.endpoint).path
    if "{id}" not in path or not path.startswith("/"):
        raise SettingsError(
            "SITE_DIR",
            f"the manifest's endpoint {site.endpoint!r} (extra.assessment.endpoint in mkdocs.yml) has no path with {{id}}",
            "set it to e.g. /api/assessments/{id}/submissions and build again",
        )
    return path.replace("{id}", "{assessment_id}")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def accept_language(header: str, locales: tuple[str, ...]) -> str:
    """The site language the ``Accept-Language`` header prefers most, negotiated by Babel;
    the default (first) language when it names none of them."""
    preferred = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if quality > 0:
            preferred.append((-quality, position, tag.replace("_", "-").lower()))
    ordered = [tag for _, _, tag in sorted(preferred)]
    # Babel takes them in order and matches "en-GB" to "en" (and its locale aliases)
    best = negotiate_locale(ordered, list(locales), sep="-")
    return best if best in locales else locales[0]
