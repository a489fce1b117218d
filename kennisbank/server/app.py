"""The ASGI app: the built site at ``/`` and one endpoint for submissions.

Everything the app needs of the build comes from the build manifest in ``SITE_DIR``
(``kennisbank.manifest``): the languages and strings, the definitions, the CSP
hashes and the shell of its own pages. The routes here only hand requests to the
:class:`~kennisbank.server.intake.receiver.Receiver`, which decides, and whose replies are
:class:`~kennisbank.server.intake.replies.Replies`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kennisbank.manifest import Manifest, ManifestError, load_manifest
from kennisbank.server import openapi
from kennisbank.server.dashboard.auth import Lockout
from kennisbank.server.dashboard.paths import lead_url
from kennisbank.server.dashboard.views import Dashboard
from kennisbank.server.db.store import StoreError, SubmissionStore, months_before, open_store, utc_now
from kennisbank.server.intake.contact import ContactDesk
from kennisbank.server.intake.definitions import Definitions
from kennisbank.server.intake.peers import FieldPage, backfill, field_route, known_definitions
from kennisbank.server.intake.receiver import Receiver
from kennisbank.server.intake.replies import NO_STORE, Replies
from kennisbank.server.outbox.notify import NotifySettings
from kennisbank.server.outbox.worker import Outbox, WorkerProcess, can_share
from kennisbank.server.settings import Settings, SettingsError
from kennisbank.server.web.security import SecurityHeaders, content_security_policy, server_error
from kennisbank.server.web.static import StaticSite
from kennisbank.siteconfig import SiteConfig

log = logging.getLogger("kennisbank.server")

PURGE_EVERY_SECONDS = 24 * 60 * 60
HEALTH_PATH = "/healthz"


def create_app(settings: Settings | None = None, *, outbox_worker: bool = False) -> FastAPI:
    """The app for ``settings`` (default: from the environment).

    Everything that can be wrong with the settings, the site or the database shows
    here, before the first request: :class:`SettingsError`, ``StoreError``.

    With ``outbox_worker`` (``kennisbank serve``) the app runs the outbox worker as a
    child process while it runs; without it (the tests' in-process apps) deliveries
    wait in the outbox for a worker (``kennisbank outbox work``)."""
    settings = settings or Settings.from_env()
    manifest, store, definitions = _open(settings)
    site = manifest.site
    static = StaticSite(settings.site_dir, [lang.prefix for lang in site.languages])
    replies = Replies(site, lambda: definitions.manifest.shells, static.not_found_page)
    # the notification links to the submission in the dashboard
    outbox = Outbox(store, definitions, NotifySettings.of(settings), dashboard_url=lead_url(site.site_url))
    receiver = Receiver(settings, definitions, store, replies, outbox)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await _purge(store, settings.retention_months)  # before the first request
        # theme scores of submissions stored before migration 0006, for the comparison with peers
        await asyncio.to_thread(backfill, store, known_definitions(definitions))
        tasks = [asyncio.create_task(_purge_regularly(store, settings.retention_months))]
        tasks.append(asyncio.create_task(_forget_login_failures_regularly(Lockout(store, settings.login_attempts))))
        worker = _outbox_worker(settings, store) if outbox_worker else None
        if worker is not None:
            tasks.append(asyncio.create_task(worker.supervise()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            store.close()

    # redirect_slashes off: Starlette would build the Location from the Host header for a
    # path that matches nothing (a %0a before the slash); the static files redirect folders
    app = FastAPI(title="Kennisbank submissions", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan, redirect_slashes=False)
    app.state.settings = settings
    app.state.store = store
    app.state.receiver = receiver
    app.state.outbox = outbox
    app.state.static = static
    app.add_middleware(SecurityHeaders, csp=content_security_policy(manifest.script_hashes))
    app.add_exception_handler(500, server_error)  # sent past every middleware: it carries the headers itself
    _add_routes(app, receiver, ContactDesk(receiver), manifest, settings)
    # the public page "how contracts in the field score", with its figures filled in
    field_page = FieldPage(store, definitions, settings.benchmark_min)
    for lang, shell in manifest.field_pages.items():
        # the folder's address and its index.html both: the static file there is the placeholder
        for url in (shell.url, shell.url + "index.html") if shell.url.endswith("/") else (shell.url,):
            app.add_api_route(url, field_route(field_page, lang), methods=["GET", "HEAD"], include_in_schema=False)
    app.include_router(Dashboard(settings, store, definitions).router())  # before the site, which takes every other path
    app.mount("/", static)
    return app


def _open(settings: Settings) -> tuple[Manifest, SubmissionStore, Definitions]:
    """The build manifest, the database (writable, migrated) and the definitions it knows."""
    try:
        manifest = load_manifest(settings.site_dir)
    except ManifestError as exc:
        problem, _, fix = str(exc).partition(". Fix: ")
        raise SettingsError("SITE_DIR", problem, fix or "build the site again (make build)") from None
    _endpoint_path(manifest.site)  # a bad endpoint shows now
    store = open_store(settings.database_url, settings.project_dir)
    try:
        store.check_writable()  # say so now, not with a 503 on the first reader's submission
        definitions = Definitions(store, settings.site_dir, manifest)
    except Exception:
        store.close()
        raise
    return manifest, store, definitions


def _outbox_worker(settings: Settings, store: SubmissionStore) -> WorkerProcess | None:
    """The outbox worker for ``settings``, reading the same database and sending the same way;
    ``None`` when there is nothing it could send."""
    if settings.notify == "off":
        return None
    if not can_share(store):
        log.warning("notifications wait in the outbox: an in-memory database cannot be shared with the outbox worker (DATABASE_URL)")
        return None
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SITE_DIR": str(settings.site_dir),
        "NOTIFY": settings.notify,
        "SMTP_URL": settings.smtp_url,
        "NOTIFY_TO": settings.notify_to,
        "NOTIFY_FROM": settings.notify_from,
        "MAILDIR": str(settings.maildir),
        "WEBHOOK_URL": settings.webhook_url,
        "WEBHOOK_SECRET": settings.webhook_secret,
    }
    return WorkerProcess(environment, settings.project_dir)


def _add_routes(app: FastAPI, receiver: Receiver, desk: ContactDesk, manifest: Manifest, settings: Settings) -> None:
    """The API's routes: each hands the request to the receiver (or the contact desk)."""
    path, store = _endpoint_path(manifest.site), receiver.store

    async def submit(assessment_id: str, request: Request) -> Response:
        return await receiver.submit(assessment_id, request)

    async def preflight(assessment_id: str, request: Request) -> Response:
        return receiver.preflight(request)

    async def healthz() -> Response:
        checks = await anyio.to_thread.run_sync(health, store, settings.site_dir)
        healthy = all(state == "ok" for state in checks.values())
        return JSONResponse({"status": "ok" if healthy else "failing", "checks": checks}, status_code=200 if healthy else 503, headers=NO_STORE)

    def not_allowed(allow: str):
        return lambda: Response(status_code=405, headers={"Allow": allow, **NO_STORE})

    other = ["GET", "HEAD", "PUT", "PATCH", "DELETE"]
    app.add_api_route(
        path,
        submit,
        methods=["POST"],
        status_code=201,
        response_class=Response,
        summary="Send a self-assessment",
        description="The HTML form gets the result page (200); fetch with JSON gets the score (201).",
        openapi_extra=openapi.request_body(manifest.assessments, manifest.site.locales),
        responses=openapi.responses(),
    )
    app.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)
    app.add_api_route(path, not_allowed("POST, OPTIONS"), methods=other, include_in_schema=False)
    app.add_api_route(manifest.site.contact_endpoint, desk.take, methods=["POST"], include_in_schema=False)
    app.add_api_route(manifest.site.contact_endpoint, not_allowed("POST"), methods=other, include_in_schema=False)
    app.add_api_route(HEALTH_PATH, healthz, methods=["GET", "HEAD"], include_in_schema=False)


def health(store: SubmissionStore, site_dir) -> dict[str, str]:
    """What a monitor (or a load balancer) asks: can this instance take a submission now?

    Each check is ``"ok"`` or ``"failing"``; why is logged, not told to the world."""
    checks = {}
    try:
        store.check_writable()
        checks["database"] = "ok"
    except (StoreError, sqlite3.Error) as exc:
        log.error("health: %s", exc)
        checks["database"] = "failing"
    try:
        current = store.schema_current()
    except (StoreError, sqlite3.Error):
        current = False
    checks["migrations"] = "ok" if current else "failing"
    try:
        load_manifest(site_dir)
        checks["manifest"] = "ok"
    except ManifestError as exc:
        log.error("health: %s", exc)
        checks["manifest"] = "failing"
    return checks


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


async def _forget_login_failures_regularly(lockout: Lockout) -> None:
    """Failed logins go once outside the lockout's window, also while nobody tries to log in:
    an address's keyed hash stays no longer than the window (the privacy statement says so)."""
    while True:
        await asyncio.sleep(lockout.limit.seconds)
        try:
            await anyio.to_thread.run_sync(lockout.forget)
        except Exception as exc:  # the database is away for a moment: next time
            log.warning("old failed logins could not be deleted (%s); trying again in %g s", type(exc).__name__, lockout.limit.seconds)


def _endpoint_path(site: SiteConfig) -> str:
    path = urlsplit(site.endpoint).path
    if "{id}" not in path or not path.startswith("/"):
        raise SettingsError(
            "SITE_DIR",
            f"the manifest's endpoint {site.endpoint!r} (extra.assessment.endpoint in mkdocs.yml) has no path with {{id}}",
            "set it to e.g. /api/assessments/{id}/submissions and build again",
        )
    return path.replace("{id}", "{assessment_id}")
