"""The ASGI app: its one route table, from the built site at ``/`` to the endpoints and the dashboard.

Everything the app needs of the build comes from the build manifest in ``SITE_DIR``
(``kennisbank.manifest``): the languages and strings, the definitions, the CSP
hashes and the shell of its own pages. The routes here only hand requests to the
:class:`~kennisbank.server.intake.receiver.Receiver` (submissions), the
:class:`~kennisbank.server.intake.contact.ContactDesk` (the contact form), the
:class:`~kennisbank.server.dashboard.views.Dashboard` (under its prefix, with its own
middleware) and :class:`~kennisbank.server.web.static.StaticSite` (everything else).
The site's part and the dashboard's each carry their own security headers
(:func:`~kennisbank.server.web.security.guarded`); neither looks at the other's paths.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from kennisbank.manifest import Manifest, ManifestError, load_manifest
from kennisbank.server.channels import NotifySettings, check_statement
from kennisbank.server.dashboard.auth import Lockout
from kennisbank.server.dashboard.views import Dashboard
from kennisbank.server.db.store import StoreError, SubmissionStore, months_before, open_store, utc_now
from kennisbank.server.intake.contact import ContactDesk
from kennisbank.server.intake.definitions import Definitions
from kennisbank.server.intake.funnel import BEACON_PATH, FunnelBeacon
from kennisbank.server.intake.peers import FieldPage, backfill, field_route, known_definitions
from kennisbank.server.intake.receiver import Receiver, endpoint_path
from kennisbank.server.intake.replies import NO_STORE, Replies
from kennisbank.server.outbox.worker import WorkerProcess, can_share
from kennisbank.server.settings import Settings, SettingsError
from kennisbank.server.web import serving
from kennisbank.server.web.reach import CountViews, Tally
from kennisbank.server.web.security import content_security_policy, guarded, server_error
from kennisbank.server.web.static import StaticSite

log = logging.getLogger("kennisbank.server")

PURGE_EVERY_SECONDS = 24 * 60 * 60
HEALTH_PATH = "/healthz"
HEALTH_FRESH = 3.0
"""Seconds a health check's result is answered again: any number of monitors polling cost one check per this."""
#: the methods a route that takes only POST answers with 405
OTHER_METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE"]


def create_app(settings: Settings | None = None, *, outbox_worker: bool = False) -> Starlette:
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
    receiver = Receiver(settings, definitions, store, replies, NotifySettings.of(settings))
    desk = ContactDesk(receiver)
    dashboard = Dashboard(settings, store, definitions)
    field_page = FieldPage(store, definitions, settings.benchmark_min, receiver.steps)
    tally = reach_tally(manifest) if settings.reach == "on" else None
    beacon = FunnelBeacon(settings, store, tally)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        await _purge(store, settings.retention_months)  # before the first request
        # theme scores of submissions stored before the comparison with peers existed (the old SQL migration 0006)
        await asyncio.to_thread(backfill, store, known_definitions(definitions))
        tasks = [asyncio.create_task(_purge_regularly(store, settings.retention_months))]
        tasks.append(asyncio.create_task(_forget_login_failures_regularly(Lockout(store, settings.login_attempts))))
        worker = outbox_worker_for(settings, store) if outbox_worker else None
        if worker is not None:
            tasks.append(asyncio.create_task(worker.supervise()))
        if tally is not None:
            tasks.append(asyncio.create_task(tally.flush_regularly(store)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if tally is not None:
                await tally.flush_now(store)  # shutdown writes what was counted since the last write
            store.close()

    health_check = HealthCheck(store, settings.site_dir)

    async def healthz(request: Request) -> Response:
        checks = await health_check.checks()
        healthy = all(state == "ok" for state in checks.values())
        return JSONResponse({"status": "ok" if healthy else "failing", "checks": checks}, status_code=200 if healthy else 503, headers=NO_STORE)

    endpoint = endpoint_path(site)
    # the preflight and the CORS headers of a reply to one of CORS_ORIGINS; whether a post
    # may come from there at all is the receiver's origin check
    cors = Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["POST"], allow_headers=["Content-Type", "Accept"], max_age=600)
    site_routes = [
        # OPTIONS too: Starlette checks a route's methods before its middleware sees the request
        Route(endpoint, _options_or(receiver.submit, "POST, OPTIONS"), methods=["POST", "OPTIONS"], middleware=[cors]),
        Route(endpoint, _not_allowed("POST, OPTIONS"), methods=OTHER_METHODS),
        Route(site.contact_endpoint, desk.take, methods=["POST"]),
        Route(site.contact_endpoint, _not_allowed("POST"), methods=OTHER_METHODS),
        Route(BEACON_PATH, beacon.take, methods=["POST"]),
        Route(BEACON_PATH, _not_allowed("POST"), methods=OTHER_METHODS),
        Route(HEALTH_PATH, healthz, methods=["GET", "HEAD"]),
        # the public page "how contracts in the field score", with its figures filled in;
        # the folder's address and its index.html both: the static file there is the placeholder
        *(
            Route(url, field_route(field_page, lang), methods=["GET", "HEAD"])
            for lang, shell in manifest.field_pages.items()
            for url in ((shell.url, shell.url + "index.html") if shell.url.endswith("/") else (shell.url,))
        ),
        Mount("/", app=static),
    ]
    counting = [Middleware(CountViews, tally=tally)] if tally is not None else []
    routes = [
        *dashboard.mount(),  # before the site, which takes every other path
        # the page views are counted inside the headers' middleware: it sees each response's status and type
        Mount("", routes=site_routes, middleware=[*guarded(content_security_policy(manifest.script_hashes)), *counting]),
    ]
    # the 500 is sent past every middleware (Starlette's ServerErrorMiddleware): it carries the headers itself
    app = Starlette(routes=routes, exception_handlers={500: server_error}, lifespan=lifespan)
    # redirect_slashes off, should a path ever match nothing here: Starlette would build the
    # Location from the Host header (a %0a before the slash); the static files redirect folders
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.store = store
    app.state.receiver = receiver
    app.state.static = static
    app.state.health = health_check
    app.state.tally = tally
    return app


def reach_tally(manifest: Manifest) -> Tally:
    """The counts of the pages and assessments of ``manifest``, and of nothing else."""
    versions: dict[str, set[int]] = {}
    for assessment in manifest.assessments.values():
        versions.setdefault(assessment.id, set()).add(assessment.version)
    own = urlsplit(manifest.site.site_url).hostname
    return Tally({url: page.lang for url, page in manifest.pages.items()}, versions, manifest.site.locales, [own] if own else [])


def worker_app() -> Starlette:
    """The app of one worker of ``kennisbank serve --workers N``: uvicorn's spawned worker
    imports this by name (:data:`WORKER_APP`) and calls it. The settings come from the
    environment the parent checked; the parent runs the outbox worker, so this app does not."""
    serving.quiet_floods()
    return create_app(Settings.from_env(), outbox_worker=False)


WORKER_APP = f"{__name__}:{worker_app.__name__}"


def serve(settings: Settings, app: Starlette) -> None:
    """Serve ``app`` (made by ``create_app(settings, outbox_worker=settings.workers == 1)``):
    in this process, or with ``settings.workers`` above 1, in that many worker processes
    that each make their own (:func:`worker_app`), with the one outbox worker beside them.
    ``app`` has then checked the site and migrated the database; its store is closed here."""
    worker = None
    if settings.workers > 1:
        try:
            worker = outbox_worker_for(settings, app.state.store)
        finally:
            app.state.store.close()
    serving.run(settings, app, factory=WORKER_APP, outbox=worker)


def _options_or(handler: Callable, allow: str) -> Callable:
    """``handler`` for its method; an ``OPTIONS`` that is no CORS preflight (``CORSMiddleware``
    answers those before) gets what the route allows."""

    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow, **NO_STORE})
        return await handler(request)

    return endpoint


def _not_allowed(allow: str) -> Callable:
    async def endpoint(request: Request) -> Response:
        return Response(status_code=405, headers={"Allow": allow, **NO_STORE})

    return endpoint


def _open(settings: Settings) -> tuple[Manifest, SubmissionStore, Definitions]:
    """The build manifest, the database (writable, migrated) and the definitions it knows."""
    try:
        manifest = load_manifest(settings.site_dir)
    except ManifestError as exc:
        problem, _, fix = str(exc).partition(". Fix: ")
        raise SettingsError("SITE_DIR", problem, fix or "build the site again (make build)") from None
    endpoint_path(manifest.site)  # a bad endpoint shows now
    # before the database is opened: a server that would pass on more than the privacy statement says does not start
    check_statement(NotifySettings.of(settings), manifest.statement)
    store = open_store(settings.database_url, settings.project_dir)
    try:
        store.check_writable()  # say so now, not with a 503 on the first reader's submission
        definitions = Definitions(store, settings.site_dir, manifest)
    except Exception:
        store.close()
        raise
    return manifest, store, definitions


def outbox_worker_for(settings: Settings, store: SubmissionStore) -> WorkerProcess | None:
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


class HealthCheck:
    """:func:`health`, answered from its last result while that is at most :data:`HEALTH_FRESH`
    seconds old; one check at a time (callers meanwhile wait for its result), in a thread."""

    def __init__(self, store: SubmissionStore, site_dir, fresh: float = HEALTH_FRESH):
        self.store = store
        self.site_dir = site_dir
        self.fresh = fresh
        self._lock = asyncio.Lock()
        self._checked = -math.inf
        self._checks: dict[str, str] = {}

    async def checks(self) -> dict[str, str]:
        async with self._lock:
            if time.monotonic() - self._checked >= self.fresh:
                self._checks = await anyio.to_thread.run_sync(health, self.store, self.site_dir)
                self._checked = time.monotonic()
            return self._checks


def health(store: SubmissionStore, site_dir) -> dict[str, str]:
    """What a monitor (or a load balancer) asks: can this instance take a submission now?
    A row is written to the database and taken back (:meth:`SubmissionStore.probe`: a full disk,
    a read-only file or database fail it), never through the writer of submissions.

    Each check is ``"ok"`` or ``"failing"``; why is logged, not told to the world."""
    checks = {}
    try:
        current = store.probe()
        checks["database"] = "ok"
    except (StoreError, sqlite3.Error) as exc:
        log.error("health: %s", exc)
        checks["database"] = "failing"
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
