"""The consultant's dashboard under ``/beheer/``: leads, results and insight behind a login.

Server-rendered HTML forms (no script at all), from the autoescaped templates in
``templates/dashboard/``, with the words of ``templates/dashboard/strings.yml`` in the
language the admin chose. Mounted under its prefix with middleware of its own
(:meth:`Dashboard.mount`), every response carries its own strict policy (:data:`CSP`:
no script, nothing from elsewhere, never framed; ``noindex``, ``no-store``), and only
its session cookie is let through. Every state-changing request is a POST that must
come from this site (:func:`kennisbank.server.web.origin.allowed`, the receiver's rule)
and carry the session's CSRF token. Accounts are made with ``kennisbank admin add``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import anyio
import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from kennisbank.assessment import render_result, score
from kennisbank.server.dashboard import auth, charts, reach
from kennisbank.server.dashboard.export import band_titles, to_csv, to_json
from kennisbank.server.dashboard.paths import COOKIE, PREFIX, SECURE_COOKIE
from kennisbank.server.db.store import STATUSES, LeadFilter, ReachFilter, utc_now
from kennisbank.server.intake.definitions import Changed, Definitions
from kennisbank.server.intake.replies import article_url
from kennisbank.server.settings import Settings
from kennisbank.server.web import origin
from kennisbank.server.web.security import guarded
from kennisbank.templating import templates

PAGE_SIZE = 50
FAILED_LOGIN_DELAY = 0.5
"""Seconds every failed login waits before its answer (on top of argon2's own work)."""
TOUCH_EVERY = 300
"""Seconds between writes of a session's last use (its idle time is that precise)."""

CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
#: what every dashboard response gets unless it says otherwise (the stylesheet may be cached)
DEFAULTS = {"X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILTER_KEYS = ("since", "until", "assessment", "band", "language", "kind", "status", "q")


@lru_cache(maxsize=1)
def strings() -> dict[str, dict[str, str]]:
    """The dashboard's words per key and language (``templates/dashboard/strings.yml``)."""
    text = resources.files("kennisbank").joinpath("templates", "dashboard", "strings.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def stylesheet() -> bytes:
    return resources.files("kennisbank").joinpath("templates", "dashboard", "dashboard.css").read_bytes()


def lead_filter(values: Mapping[str, str]) -> LeadFilter:
    """The filter from a query or form: unknown or malformed values are ignored."""

    def text(key: str) -> str | None:
        value = (values.get(key) or "").strip()
        return value[:200] or None

    return LeadFilter(
        since=_day(text("since")),
        until=_day(text("until")),
        assessment=text("assessment"),
        band=text("band"),
        lang=text("language"),
        kind=text("kind") if text("kind") in ("lead", "anonymous") else None,
        status=text("status") if text("status") in STATUSES else None,
        search=text("q"),
    )


def _day(value: str | None) -> str | None:
    """A ``YYYY-MM-DD`` that names a real day (not 2026-02-30), else ``None``."""
    if not value or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def filter_query(values: Mapping[str, str], **extra: str) -> str:
    kept = {key: values[key] for key in _FILTER_KEYS if values.get(key)}
    kept.update({key: value for key, value in extra.items() if value})
    return urlencode(kept)


class Dashboard:
    def __init__(self, settings: Settings, store, definitions: Definitions):
        self.settings = settings
        self.store = store
        self.definitions = definitions
        self.site = definitions.manifest.site
        self.locales = [locale for locale in self.site.locales if locale in strings()["language_name"]] or ["nl"]
        self.lockout = auth.Lockout(store, settings.login_attempts)

    # Plumbing

    async def run(self, function, *args, **kwargs):
        return await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))

    def words(self, lang: str):
        table = strings()

        def t(key: str, **values: object) -> str:
            entry = table[key]
            text = entry.get(lang) or entry["nl"]
            return text.format(**values) if values else text

        return t

    def page(
        self, request: Request, template: str, lang: str, session=None, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        html = templates.get_template(f"dashboard/{template}").render(
            t=self.words(lang),
            lang=lang,
            locales=self.locales,
            session=session,
            path=request.url.path,
            query=request.url.query,
            # where the language switch returns to: this page, unless it answered a POST
            back=request.url.path + (f"?{request.url.query}" if request.url.query else "") if request.method == "GET" else f"{PREFIX}/inzendingen",
            prefix=PREFIX,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https"

    async def current(self, request: Request):
        """``(token hash, session)`` of the request's cookie, or ``(None, None)``."""
        token = request.cookies.get(SECURE_COOKIE) if self.secure(request) else request.cookies.get(COOKIE)
        if not token or len(token) > 100:
            return None, None
        hashed = auth.token_hash(token)
        session = await self.run(self.store.session, hashed)
        if session is None:
            return None, None
        if not auth.session_alive(session):
            await self.run(self.store.end_session, hashed)
            return None, None
        if (utc_now() - session.last_seen).total_seconds() > TOUCH_EVERY:
            await self.run(self.store.touch_session, hashed)
        return hashed, session

    def same_site(self, request: Request) -> bool:
        """Whether a POST comes from this site's own pages: the receiver's rule, with no other
        origin allowed and ``Origin: null`` refused (no dashboard page sends it)."""
        return origin.allowed(request, strict=True)

    def login_redirect(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.redirect(f"{PREFIX}/login?{urlencode({'next': target})}")

    def refused(self, request: Request, lang: str, status: int = 403) -> Response:
        return self.page(request, "message.html", lang, status=status, title_key="refused_title", text_key="refused_text")

    async def guarded_post(self, request: Request):
        """``(form, hashed, session)`` of a POST from a session's own page, or ``(response, None, None)``."""
        hashed, session = await self.current(request)
        lang = session.lang if session else self.locales[0]
        if not self.same_site(request):
            return self.refused(request, lang), None, None
        if session is None:
            return self.refused(request, lang, 403), None, None
        form = await request.form()
        if not auth.same_token(form.get("csrf"), session.csrf):
            return self.refused(request, lang), None, None
        return form, hashed, session

    # Where it lives

    def mount(self) -> list[BaseRoute]:
        """The dashboard's place in the app's route table: its prefix and everything under it,
        each with the dashboard's own middleware (its headers, its cookie; nothing of the site's)."""
        middleware = guarded(CSP, resource_policy=CSP, cookies=(COOKIE, SECURE_COOKIE), defaults=DEFAULTS)
        routes = [
            Route("/", self.home),
            Route("/dashboard.css", self.css),
            Route("/login", self.login_form),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/taal", self.language, methods=["POST"]),
            Route("/inzendingen", self.leads),
            Route("/inzendingen/{public_id}", self.detail),
            Route("/inzendingen/{public_id}/status", self.status, methods=["POST"]),
            Route("/inzendingen/{public_id}/notitie", self.note, methods=["POST"]),
            Route("/inzicht", self.insight),
            Route("/bereik", self.reach),
            Route("/bereik/csv", self.reach_csv),
            Route("/gegevens", self.data),
            Route("/gegevens/export", self.export, methods=["POST"]),
            Route("/gegevens/wissen", self.erase, methods=["POST"]),
            Route("/logboek", self.audit_log),
        ]
        # redirect_slashes off: Starlette would build the Location from the Host header
        return [
            Route(PREFIX, self.home, middleware=middleware),  # a Mount takes only what is below its prefix
            Mount(PREFIX, app=Router(routes, redirect_slashes=False, default=self.not_found), middleware=middleware),
        ]

    # Routes

    async def home(self, request: Request) -> Response:
        return self.redirect(f"{PREFIX}/inzendingen")

    async def css(self, request: Request) -> Response:
        return Response(stylesheet(), media_type="text/css", headers={"Cache-Control": "no-cache", "X-Robots-Tag": "noindex"})

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Any other address under the prefix (Starlette's ``Router`` calls it as an ASGI app)."""
        request = Request(scope)
        response = self.page(request, "message.html", self.locales[0], status=404, title_key="not_found_title", text_key="not_found_text")
        await response(scope, receive, send)

    async def login_form(self, request: Request) -> Response:
        lang = request.query_params.get("lang")
        lang = lang if lang in self.locales else self.locales[0]
        return self.page(request, "login.html", lang, next=_safe_next(request.query_params.get("next")), error=None)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        lang = form.get("lang") if form.get("lang") in self.locales else self.locales[0]
        next_url = _safe_next(form.get("next"))
        if not self.same_site(request):
            return self.refused(request, lang)
        email = str(form.get("email") or "").strip().lower()[:254]
        password = str(form.get("password") or "")[:1024]
        code = str(form.get("code") or "")[:16]
        keys = self.lockout.keys(email, request.client.host if request.client else None)
        # counted before the password is checked, atomically: parallel attempts (in any process) check at most the limit
        wait, attempted_at = await self.run(self.lockout.attempt, keys)
        if wait is not None:
            error = "login_slowed" if wait <= auth.ACCOUNT_DELAY_MAX else "login_locked"  # a short delay in seconds, a window in minutes
            return self.page(
                request,
                "login.html",
                lang,
                status=429,
                headers={"Retry-After": str(wait)},
                next=next_url,
                error=error,
                minutes=max(1, -(-wait // 60)),
                seconds=wait,
            )
        admin = await self.run(self.store.admin, email) if email else None
        good = await self.run(auth.check_password, admin, password)
        if good and admin is not None:
            good = await self.run(auth.check_totp, admin, code, self.store)
        if not good or admin is None:  # counted already
            await asyncio.sleep(FAILED_LOGIN_DELAY)
            return self.page(request, "login.html", lang, status=401, next=next_url, error="login_failed")
        await self.run(self.lockout.succeeded, keys, attempted_at)
        if auth.hasher.check_needs_rehash(admin.password):
            await self.run(self.store.update_admin, admin.id, password=auth.hasher.hash(password))
        # a new session at every login: a session id planted before the login is worth nothing
        old_hash, _ = await self.current(request)
        if old_hash:
            await self.run(self.store.end_session, old_hash)
        token = auth.new_token()
        await self.run(self.store.create_session, auth.token_hash(token), admin.id, auth.new_token(), lang)
        await self.run(self.store.audit, admin.email, "login")
        response = self.redirect(next_url)
        self.set_cookie(request, response, token)
        return response

    def set_cookie(self, request: Request, response: Response, token: str | None) -> None:
        secure = self.secure(request)
        name = auth.cookie_name(secure)
        if token is None:
            response.delete_cookie(name, path="/" if secure else PREFIX + "/", secure=secure, httponly=True, samesite="strict")
            return
        response.set_cookie(
            name,
            token,
            max_age=int(auth.LONGEST.total_seconds()),
            path="/" if secure else PREFIX + "/",  # __Host- requires path /
            secure=secure,
            httponly=True,
            samesite="strict",
        )

    async def logout(self, request: Request) -> Response:
        form, hashed, session = await self.guarded_post(request)
        if session is None:
            return form
        await self.run(self.store.end_session, hashed)
        await self.run(self.store.audit, session.admin.email, "logout")
        response = self.redirect(f"{PREFIX}/login?lang={session.lang}")
        self.set_cookie(request, response, None)
        return response

    async def language(self, request: Request) -> Response:
        form, hashed, session = await self.guarded_post(request)
        if session is None:
            return form
        lang = form.get("lang")
        if lang in self.locales:
            await self.run(self.store.touch_session, hashed, lang)
        return self.redirect(_safe_next(form.get("back")))

    async def leads(self, request: Request) -> Response:
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        values = request.query_params
        chosen = lead_filter(values)
        after = (values.get("after") or "")[:80] or None
        rows = await self.run(self.store.leads, chosen, PAGE_SIZE + 1, after)
        total = await self.run(self.store.count_leads, chosen)
        choices = self.choices()
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_url = f"?{filter_query(values, after=rows[-1].cursor)}" if more else None
        first_url = f"?{filter_query(values)}" if after else None
        return self.page(
            request,
            "leads.html",
            session.lang,
            session,
            for_insight=False,
            leads=rows,
            total=total,
            values=values,
            choices=choices,
            statuses=STATUSES,
            next_url=next_url,
            first_url=first_url,
            band_title=self.band_title(session.lang),
        )

    def choices(self) -> dict[str, list[str]]:
        """The filter's menus, from the definitions served (no scan of the submissions)."""
        current = self.definitions.current.values()
        return {
            "assessment": [a.id for a in current],
            # "not enough to judge" too: a consultant may look for the readers who could not say
            "band": list(dict.fromkeys(band.id for a in current for band in a.stored_bands)),
            "lang": list(self.site.locales),
        }

    def band_title(self, lang: str):
        """A stored band's title in ``lang``, as the definitions served say it (``Assessment.band_title``);
        a band none of them has (an old definition's) as stored."""
        return band_titles(self.definitions.current.values(), lang)

    async def detail(self, request: Request) -> Response:
        public_id = request.path_params["public_id"]
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        lead = await self.run(self.store.lead, public_id[:40])
        if lead is None:
            return self.page(request, "message.html", session.lang, session, status=404, title_key="not_found_title", text_key="not_found_text")
        submission = lead.submission
        result_html, assessment = None, None
        try:
            assessment = self.definitions.resolve(submission.assessment, submission.definition, None if submission.definition else submission.version)
        except (Changed, KeyError):
            assessment = None
        if assessment is not None:
            # the questions and the context answer: the context decides which questions applied
            known = {q.id for q in assessment.questions} | ({assessment.context.id} if assessment.context else set())
            answers = {key: value for key, value in submission.answers.items() if key in known}
            try:
                result = score(assessment, answers)
                result_html = render_result(assessment, submission.lang, result, answers, article_url=article_url(self.site, assessment, submission.lang))
            except Exception:
                result_html = None
        notes = await self.run(self.store.notes, submission.public_id)
        deliveries = await self.run(self.store.deliveries, ("pending", "failed", "sent"), submission.public_id)
        return self.page(
            request,
            "detail.html",
            session.lang,
            session,
            lead=lead,
            s=submission,
            assessment=assessment,
            result_html=result_html,
            notes=notes,
            deliveries=deliveries,
            statuses=STATUSES,
            band_title=self.band_title(session.lang),
        )

    async def status(self, request: Request) -> Response:
        public_id = request.path_params["public_id"]
        form, hashed, session = await self.guarded_post(request)
        if session is None:
            return form
        status = form.get("status")
        if status not in STATUSES:
            return self.page(request, "message.html", session.lang, session, status=422, title_key="invalid_title", text_key="invalid_status")
        if not await self.run(self.store.set_status, public_id[:40], status):
            return self.page(request, "message.html", session.lang, session, status=404, title_key="not_found_title", text_key="not_found_text")
        await self.run(self.store.audit, session.admin.email, "status", public_id[:40], status)
        return self.redirect(f"{PREFIX}/inzendingen/{public_id[:40]}")

    async def note(self, request: Request) -> Response:
        public_id = request.path_params["public_id"]
        form, hashed, session = await self.guarded_post(request)
        if session is None:
            return form
        text = str(form.get("note") or "").strip()
        if not text or len(text) > 5000:
            return self.page(request, "message.html", session.lang, session, status=422, title_key="invalid_title", text_key="invalid_note")
        if not await self.run(self.store.add_note, public_id[:40], session.admin.email, text):
            return self.page(request, "message.html", session.lang, session, status=404, title_key="not_found_title", text_key="not_found_text")
        await self.run(self.store.audit, session.admin.email, "note", public_id[:40])
        return self.redirect(f"{PREFIX}/inzendingen/{public_id[:40]}#notes")

    async def insight(self, request: Request) -> Response:
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        values = request.query_params
        chosen = lead_filter(values)
        current = self.definitions.current
        assessment = current.get(chosen.assessment or "") or next(iter(current.values()))
        chosen = LeadFilter(**{**chosen.__dict__, "assessment": assessment.id})
        numbers = await self.run(self.store.insight, chosen)
        choices = self.choices()
        lang = session.lang
        return self.page(
            request,
            "insight.html",
            lang,
            session,
            for_insight=True,
            values=values,
            choices=choices,
            statuses=STATUSES,
            numbers=numbers,
            figures=charts.figures(numbers, assessment, lang, self.words(lang)),
            assessment=assessment,
            band_title=self.band_title(lang),
        )

    def reach_filter(self, values: Mapping[str, str]) -> ReachFilter:
        chosen = lead_filter(values)
        return ReachFilter(since=chosen.since, until=chosen.until, lang=chosen.lang if chosen.lang in self.site.locales else None)

    async def reach_summary(self, values: Mapping[str, str], detail: bool = False) -> reach.Summary:
        figures = await self.run(self.store.reach, self.reach_filter(values), detail=detail)
        titles = {url: page.title for url, page in self.definitions.manifest.pages.items()}
        return reach.summary(figures, self.site, self.definitions.current.values(), titles)

    async def reach(self, request: Request) -> Response:
        """Does the article work: views, the scan's funnel, the weeks and the sources (issue 24)."""
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        values = request.query_params
        summary = await self.reach_summary(values)
        lang = session.lang
        t = self.words(lang)
        funnels = [
            reach.funnel_figure(f"funnel-{index}", t("reach_funnel_of", title=article.title, lang=article.lang), article.funnel, t)
            for index, article in enumerate(a for a in summary.articles if a.assessment)
        ]
        funnels.append(reach.week_figure(summary, t))
        return self.page(
            request,
            "reach.html",
            lang,
            session,
            values=values,
            languages=list(self.site.locales),
            summary=summary,
            funnels=funnels,
            steps=reach.STEPS,
            counting=self.settings.reach == "on",
            percent=charts._percent,
        )

    async def reach_csv(self, request: Request) -> Response:
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        summary = await self.reach_summary(request.query_params, detail=True)
        name = f"bereik-{utc_now().strftime('%Y%m%d-%H%M%S')}.csv"
        return Response(reach.to_csv(summary), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def data(self, request: Request) -> Response:
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        return self.page(request, "data.html", session.lang, session, values=request.query_params)

    async def export(self, request: Request) -> Response:
        form, hashed, session = await self.guarded_post(request)
        if session is None:
            return form
        kind = "json" if form.get("format") == "json" else "csv"
        email = str(form.get("email") or "").strip().lower()
        if form.get("scope") == "person":
            if "@" not in email:
                return self.page(request, "message.html", session.lang, session, status=422, title_key="invalid_title", text_key="invalid_email")
            submissions = await self.run(self.store.by_email, email)
            action = "export_person"
        else:
            submissions = await self.run(self.store.select, lead_filter(form))
            action = "export"
        order = [q.id for a in self.definitions.current.values() for q in a.questions]
        title = self.band_title(session.lang)
        body = to_csv(submissions, order, title) if kind == "csv" else to_json(submissions, title)
        # the log says that one person's data went out, not whose (their address is not kept here)
        await self.run(self.store.audit, session.admin.email, action, kind, f"{len(submissions)}")
        stamp = utc_now().strftime("%Y%m%d-%H%M%S")
        name = f"inzendingen-{stamp}.{kind}" if action == "export" else f"persoon-{stamp}.{kind}"
        media = "text/csv; charset=utf-8" if kind == "csv" else "application/json"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def erase(self, request: Request) -> Response:
        form, hashed, session = await self.guarded_post(request)
        if session is None:
            return form
        email = str(form.get("email") or "").strip().lower()
        if "@" not in email:
            return self.page(request, "message.html", session.lang, session, status=422, title_key="invalid_title", text_key="invalid_email")
        if form.get("confirm") != "yes":
            found = await self.run(self.store.by_email, email)
            return self.page(request, "erase.html", session.lang, session, email=email, found=found)
        count = await self.run(self.store.erase_email, email)
        await self.run(self.store.audit, session.admin.email, "erase", None, f"{count}")
        return self.page(request, "message.html", session.lang, session, title_key="erased_title", text_key="erased_text", count=count)

    async def audit_log(self, request: Request) -> Response:
        hashed, session = await self.current(request)
        if session is None:
            return self.login_redirect(request)
        before = request.query_params.get("before", "")
        # an entry's id is a signed 64-bit integer: a marker outside 1..2**63-1 is no page, the first one is shown
        marker = int(before) if before.isascii() and before.isdigit() and len(before) <= 19 else None
        entries = await self.run(self.store.audit_log, 100, marker if marker and marker < 2**63 else None)
        return self.page(request, "audit.html", session.lang, session, entries=entries)


def _safe_next(value: object) -> str:
    """A place in the dashboard to go to after a login or a switch; never another site."""
    text = str(value or "")
    if text.startswith(PREFIX + "/") and not text.startswith("//") and "\\" not in text and "\n" not in text and "\r" not in text:
        return text
    return f"{PREFIX}/inzendingen"
