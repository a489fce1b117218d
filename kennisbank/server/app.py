"""The ASGI app: the built site at ``/`` and one endpoint for submissions.

``POST /api/assessments/{assessment_id}/submissions`` (the path is
``extra.assessment.endpoint`` in mkdocs.yml) takes a submission from the plain HTML
form or from ``fetch`` with JSON. In order, a request is refused when:

1. the assessment is unknown (404), the content type is none of the three (415),
   the ``Origin`` is neither this site nor in ``CORS_ORIGINS`` (403), or the body is
   larger than ``MAX_BODY_BYTES`` (413, counted while it streams in);
2. the client address sent too many submissions in the window (429, ``Retry-After``);
3. any field is missing, unknown, off the scale, too long, not an email address or
   holds control characters (422, every problem by field, in the reader's language).

Otherwise the server scores the answers itself, stores the submission (contact
details only with consent) and replies, after the commit, with 201 JSON or the
result page. A filled-in honeypot gets the same reply, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup
from starlette.requests import ClientDisconnect

from kennisbank.assessment import Assessment, render_result
from kennisbank.manifest import ManifestError, Shell, load_manifest
from kennisbank.assessment.contact import ANSWER_PREFIX, CONSENT_FIELD, CONTACT_FIELDS, DISCUSS_FIELD, HONEYPOT_FIELD
from kennisbank.siteconfig import SiteConfig

from .ratelimit import RateLimiter, client_key
from .security import SecurityHeaders, content_security_policy, server_error
from .settings import Settings, SettingsError, normalise_origin
from .static import StaticSite
from .store import StoreError, Submission, SubmissionStore, months_before, new_public_id, open_store, utc_now
from .submissions import Accepted, BodyError, Input, language, message, messages, read_form, read_json, read_multipart, read_urlencoded, validate

log = logging.getLogger("kennisbank.server")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
NO_STORE = {"Cache-Control": "no-store"}
PURGE_EVERY_SECONDS = 24 * 60 * 60


class TooLarge(Exception):
    pass


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings`` (default: from the environment).

    Everything that can be wrong with the settings, the site or the database shows
    here, before the first request: :class:`SettingsError`, ``DefinitionError``,
    ``StoreError``."""
    settings = settings or Settings.from_env()
    site_dir = settings.site_dir
    try:
        manifest = load_manifest(site_dir)
    except ManifestError as exc:
        raise SettingsError("SITE_DIR", str(exc).rstrip("."), "build the site (make build), or set SITE_DIR to the folder the build wrote") from None
    site, assessments, shells, hashes = manifest.site, dict(manifest.assessments), dict(manifest.shells), manifest.script_hashes
    path = _endpoint_path(site)
    store = open_store(settings.database_url, settings.project_dir)

    static = StaticSite(site_dir, [lang.prefix for lang in site.languages])
    receiver = Receiver(settings, site, assessments, store, shells, static)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await _purge(store, settings.retention_months)  # before the first request
        task = asyncio.create_task(_purge_regularly(store, settings.retention_months))
        try:
            yield
        finally:
            task.cancel()
            store.close()

    app = FastAPI(title="Kennisbank submissions", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.receiver = receiver
    app.add_middleware(SecurityHeaders, csp=content_security_policy(hashes))
    app.add_exception_handler(500, server_error)  # sent past every middleware: it carries the headers itself

    async def submit(assessment_id: str, request: Request) -> Response:
        return await receiver.submit(assessment_id, request)

    async def preflight(assessment_id: str, request: Request) -> Response:
        return receiver.preflight(request)

    async def not_allowed(assessment_id: str) -> Response:
        return Response(status_code=405, headers={"Allow": "POST, OPTIONS", **NO_STORE})

    app.add_api_route(
        path,
        submit,
        methods=["POST"],
        status_code=201,
        response_class=Response,
        summary="Send a self-assessment",
        description="The HTML form gets the result page (200); fetch with JSON gets the score (201).",
        openapi_extra=_openapi_request(assessments, site),
        responses=_openapi_responses(),
    )
    app.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)
    app.add_api_route(path, not_allowed, methods=["GET", "HEAD", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    app.mount("/", static)
    return app


async def _purge(store: SubmissionStore, months: int) -> None:
    try:
        count = await anyio.to_thread.run_sync(store.purge_older_than, months_before(utc_now(), months))
        if count:
            log.info("purged %d submission(s) older than %d months", count, months)
    except (sqlite3.Error, StoreError):
        log.exception("purging old submissions failed")


async def _purge_regularly(store: SubmissionStore, months: int) -> None:
    """Keep the retention promise while the server runs: purge once a day."""
    while True:
        await asyncio.sleep(PURGE_EVERY_SECONDS)
        await _purge(store, months)


def _endpoint_path(site: SiteConfig) -> str:
    path = urlsplit(site.endpoint).path
    if "{id}" not in path or not path.startswith("/"):
        raise SettingsError(
            "SITE_DIR",
            f"the manifest's extra.assessment.endpoint {site.endpoint!r} has no path with {{id}}",
            "set it to e.g. /api/assessments/{id}/submissions",
        )
    return path.replace("{id}", "{assessment_id}")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _accept_language(request: Request, locales: tuple[str, ...]) -> str:
    best, best_q = locales[0], 0.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-", 1)[0]
        try:
            quality = float(params.split("=", 1)[1]) if params.strip().startswith("q=") else 1.0
        except (IndexError, ValueError):
            quality = 0.0
        if base in locales and quality > best_q:
            best, best_q = base, quality
    return best


class Receiver:
    """Takes submissions: checks, rate limit, scoring, storage and the reply."""

    def __init__(
        self,
        settings: Settings,
        site: SiteConfig,
        assessments: dict[str, Assessment],
        store: SubmissionStore,
        shells: dict[str, Shell],
        static: StaticSite,
    ):
        self.settings = settings
        self.site = site
        self.assessments = assessments
        self.store = store
        self.shells = shells
        self.static = static
        self.locales = site.locales
        limit = settings.rate_limit
        self.limiter = RateLimiter(limit.count, limit.seconds) if limit else None
        self._writer: anyio.CapacityLimiter | None = None

    # The endpoint

    async def submit(self, assessment_id: str, request: Request) -> Response:
        media = _media_type(request)
        accept = request.headers.get("accept", "")
        # a form gets HTML back; fetch (JSON) gets JSON, and so does any other client that asks for it
        as_json = media == JSON or (media not in (FORM, MULTIPART) and JSON in accept and "text/html" not in accept)
        lang = _accept_language(request, self.locales)
        assessment = self.assessments.get(assessment_id)
        if assessment is None:
            return self._not_found(request, as_json, assessment_id)
        if media not in (JSON, FORM, MULTIPART):
            return self._failure(assessment, lang, as_json, 415, message(assessment, "error_media_type", lang, self.site.strings))
        cross_origin, allowed = self._origin(request, strict=media == JSON)
        if not allowed:
            return self._failure(assessment, lang, as_json, 403, message(assessment, "error_forbidden", lang, self.site.strings))
        extra = {"Access-Control-Allow-Origin": cross_origin, "Vary": "Origin"} if cross_origin else {}
        try:
            body = await self._body(request)
        except TooLarge:
            return self._failure(assessment, lang, as_json, 413, message(assessment, "error_too_large", lang, self.site.strings), extra)
        except ClientDisconnect:
            return Response(status_code=400, headers=NO_STORE)

        found, body_problem = await self._read(request, media, body)
        lang = language(found, self.locales) or lang
        if self.limiter is not None:
            wait = self.limiter.hit(client_key(request.client.host if request.client else None))
            if wait is not None:
                text = message(assessment, "error_rate", lang, self.site.strings, seconds=str(wait))
                return self._failure(assessment, lang, as_json, 429, text, {**extra, "Retry-After": str(wait)})
        if body_problem:
            problems = {"body": ("error_invalid", {})}
            return self._invalid(assessment, lang, as_json, problems, extra)
        accepted, problems = validate(assessment, found, self.locales)
        if accepted is None:
            return self._invalid(assessment, lang, as_json, problems, extra)

        public_id = new_public_id()
        if not accepted.honeypot:
            contact = accepted.contact if accepted.consent else {}
            submission = Submission(
                public_id=public_id,
                created_at=utc_now(),
                assessment=assessment.id,
                version=assessment.version,
                lang=accepted.lang,
                answers=accepted.answers,
                score=accepted.result.score,
                band=accepted.result.band.id,
                consent=accepted.consent,
                discuss=accepted.discuss if accepted.consent else None,
                **contact,
            )
            try:
                await self._write(submission)
            except (sqlite3.Error, OSError, StoreError):
                log.exception("storing a submission failed")
                return self._failure(assessment, accepted.lang, as_json, 503, assessment.string("send_failed", accepted.lang), extra)
        if as_json:
            reply = {
                "id": public_id,
                "score": accepted.result.score,
                "band": {"id": accepted.result.band.id, "title": accepted.result.band.title[accepted.lang]},
                "contact_stored": accepted.contact_stored,
            }
            return JSONResponse(reply, status_code=201, headers={**NO_STORE, **extra})
        return HTMLResponse(self._result_page(assessment, accepted, public_id), status_code=200, headers=NO_STORE)

    def preflight(self, request: Request) -> Response:
        origin = normalise_origin(request.headers.get("origin", "") or "")
        if origin is None or origin not in self.settings.cors_origins:
            return Response(status_code=403, headers={**NO_STORE, "Vary": "Origin"})
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type, Accept",
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
                **NO_STORE,
            },
        )

    # Steps

    async def _write(self, submission: Submission) -> None:
        """Store in a worker thread, one write at a time: SQLite has one writer anyway, and
        waiting here (not on the store's lock in a thread) keeps the thread pool free."""
        if self._writer is None:
            self._writer = anyio.CapacityLimiter(1)
        await anyio.to_thread.run_sync(self.store.add, submission, limiter=self._writer)

    def _origin(self, request: Request, strict: bool) -> tuple[str | None, bool]:
        """``(allowed cross origin or None, allowed)``.

        JSON needs no ``Origin`` or an allowed one. A form post with ``Origin: null``
        (privacy settings, sandboxed frames) is accepted; one from a foreign site is not."""
        header = request.headers.get("origin")
        if header is None:
            return None, True
        origin = normalise_origin(header)
        own = normalise_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
        if origin is not None and origin == own:
            return None, True
        if origin is not None and origin in self.settings.cors_origins:
            return origin, True
        return None, origin is None and not strict

    async def _body(self, request: Request) -> bytes:
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

    # Replies

    def _article_url(self, assessment: Assessment, lang: str) -> str:
        """The absolute URL of the assessment's article in ``lang`` (the server serves the site at /)."""
        page = assessment.article.removesuffix(".md")
        page = "" if page == "index" else page.removesuffix("/index") + "/"
        return "/" + self.site.language(lang).prefix + page

    def _back(self, assessment: Assessment, lang: str, fragment: str | None = None) -> Markup:
        href = self._article_url(assessment, lang) + "#" + (fragment or assessment.id)
        return Markup('<p class="kb-back"><a class="md-button" href="{}">{}</a></p>').format(href, assessment.string("back", lang))

    def _result_page(self, assessment: Assessment, accepted: Accepted, public_id: str) -> str:
        lang = accepted.lang
        parts = [Markup('<p class="kb-sent" role="status">{}</p>').format(assessment.string("sent", lang, id=public_id))]
        if accepted.contact_given and not accepted.consent:
            parts.append(Markup('<div class="admonition warning kb-consent-notice"><p>{}</p></div>').format(assessment.string("error_consent", lang)))
        parts.append(render_result(assessment, lang, accepted.result, accepted.answers, article_url=self._article_url(assessment, lang)))
        parts.append(self._back(assessment, lang))
        return self.shells[lang].render(Markup("\n").join(parts))

    def _invalid(self, assessment: Assessment, lang: str, as_json: bool, problems: dict, headers: dict[str, str]) -> Response:
        texts = messages(assessment, problems, lang, self.site.strings)
        if as_json:
            return JSONResponse({"errors": texts}, status_code=422, headers={**NO_STORE, **headers})
        article = self._article_url(assessment, lang)
        known = {question.id for question in assessment.questions}
        items = []
        for field, text in texts.items():
            question = field.removeprefix("answers.")
            if question in known:
                items.append(Markup('<li><a href="{}#{}-q-{}">{}</a></li>').format(article, assessment.id, question, text))
            else:
                items.append(Markup("<li>{}</li>").format(text))
        heading = assessment.string("error_heading", lang)
        content = Markup('<div class="kb-errors" role="alert"><h2 id="kb-errors">{}</h2><ul>{}</ul></div>{}').format(
            heading, Markup("").join(items), self._back(assessment, lang)
        )
        return HTMLResponse(self.shells[lang].render(content, title_prefix=heading), status_code=422, headers=NO_STORE)

    def _failure(self, assessment: Assessment, lang: str, as_json: bool, status: int, text: str, headers: dict[str, str] | None = None) -> Response:
        headers = {**NO_STORE, **(headers or {})}
        if as_json:
            return JSONResponse({"error": text}, status_code=status, headers=headers)
        content = Markup('<div class="admonition failure kb-failure" role="alert"><p>{}</p></div>{}').format(text, self._back(assessment, lang))
        return HTMLResponse(self.shells[lang].render(content, title_prefix=text.split(". ")[0]), status_code=status, headers=headers)

    def _not_found(self, request: Request, as_json: bool, assessment_id: str) -> Response:
        if as_json:
            return JSONResponse({"error": f"unknown assessment {assessment_id[:80]!r}"}, status_code=404, headers=NO_STORE)
        page = self.static.not_found_page(request.url.path)
        return HTMLResponse(page or "Not Found", status_code=404, headers=NO_STORE)


# OpenAPI (for schemathesis and readers of the code; the server publishes no docs)


def _openapi_request(assessments: dict[str, Assessment], site: SiteConfig) -> dict:
    questions = sorted({q.id for a in assessments.values() for q in a.questions})
    values = sorted({v for a in assessments.values() for v in a.values})
    contact = {name: {"type": "string", "maxLength": limit} for name, limit in CONTACT_FIELDS.items()}
    json_schema = {
        "type": "object",
        "properties": {
            "assessment": {"type": "string", "enum": sorted(assessments)},
            "lang": {"type": "string", "enum": list(site.locales)},
            "version": {"type": "integer", "minimum": 1},
            "answers": {
                "type": "object",
                "properties": {q: {"type": "integer", "enum": values} for q in questions},
                "required": questions,
                "additionalProperties": False,
            },
            "contact": {"type": "object", "properties": contact, "additionalProperties": False},
            DISCUSS_FIELD: {"type": "boolean"},
            CONSENT_FIELD: {"type": "boolean"},
            HONEYPOT_FIELD: {"type": "string", "maxLength": 0},
        },
        "required": ["answers"],
        "additionalProperties": False,
    }
    form_schema = {
        "type": "object",
        "properties": {
            "assessment": {"type": "string"},
            "lang": {"type": "string", "enum": list(site.locales)},
            "version": {"type": "string", "pattern": "^[0-9]+$"},
            **{f"{ANSWER_PREFIX}{q}": {"type": "string", "enum": [str(v) for v in values]} for q in questions},
            **contact,
            DISCUSS_FIELD: {"type": "string", "enum": ["yes"]},
            CONSENT_FIELD: {"type": "string", "enum": ["yes"]},
            HONEYPOT_FIELD: {"type": "string", "maxLength": 0},
        },
        "required": [f"{ANSWER_PREFIX}{q}" for q in questions],
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": json_schema}, FORM: {"schema": form_schema}, MULTIPART: {"schema": form_schema}},
        }
    }


def _openapi_responses() -> dict:
    error = {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}
    return {
        200: {"description": "The result page (HTML form)", "content": {"text/html": {"schema": {"type": "string"}}}},
        201: {
            "description": "Stored and scored (JSON)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "score": {"type": "integer", "minimum": 0, "maximum": 100},
                            "band": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"}}},
                            "contact_stored": {"type": "boolean"},
                        },
                        "required": ["id", "score", "band", "contact_stored"],
                    }
                }
            },
        },
        403: {"description": "Origin not allowed", "content": error},
        404: {"description": "Unknown assessment", "content": error},
        413: {"description": "Body larger than MAX_BODY_BYTES", "content": error},
        415: {"description": "Content type not accepted", "content": error},
        422: {
            "description": "Problems by field",
            "content": {"application/json": {"schema": {"type": "object", "properties": {"errors": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
        },
        429: {"description": "Too many submissions from this address; see Retry-After", "content": error},
    }
