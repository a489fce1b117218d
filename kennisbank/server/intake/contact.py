"""Takes a question or a privacy request from the contact form (``POST /api/contact``).

The same rules as a submission (:mod:`kennisbank.server.intake.receiver`): the origin check,
the body limit, one rate limit for both, asked the receiver's way (:meth:`.Receiver.limit`:
in a thread when it is in the database, 503 when that does not answer), the honeypot, and
one rule for text. A
request is stored with its email delivery in one transaction and handed to the
outbox; the reader gets a reference and when to expect an answer, as a page in the
site's look (plain form) or as JSON (``Accept: application/json``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

import anyio
from email_validator import EmailNotValidError, validate_email
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from kennisbank.contact import HONEYPOT, KINDS, LIMITS
from kennisbank.server.db.shared_state import Unavailable
from kennisbank.server.db.store import ContactRequest, StoreError, new_public_id, utc_now
from kennisbank.server.intake.bodies import BodyError, clean_text, read_json_object, read_multipart, read_urlencoded
from kennisbank.server.intake.receiver import FORM, JSON, MULTIPART, Receiver, TooLarge, accept_language, media_type
from kennisbank.server.intake.replies import NO_STORE
from kennisbank.server.web import origin
from kennisbank.server.web.ratelimit import client_key
from kennisbank.templating import templates

log = logging.getLogger("kennisbank.server")

#: the page the form was on, as the form says: a path of this site, nothing else
PAGE = re.compile(r"/(?:[a-z0-9_-]+/)*")


class ContactDesk:
    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.site = receiver.replies.site

    async def take(self, request: Request) -> Response:
        receiver = self.receiver
        media = media_type(request)
        as_json = media == JSON or "application/json" in request.headers.get("accept", "")
        lang = accept_language(request.headers.get("accept-language", ""), self.site.locales)
        if media not in (FORM, MULTIPART, JSON):
            return self._failure(lang, as_json, 415, "error_media_type")
        if not origin.allowed(request, also=receiver.settings.cors_origins, strict=media == JSON):
            return self._failure(lang, as_json, 403, "error_forbidden")
        try:
            body = await receiver.read_body(request)
        except TooLarge:
            return self._failure(lang, as_json, 413, "error_too_large")
        except ClientDisconnect:
            return Response(status_code=400, headers=NO_STORE)
        try:
            fields = await self._fields(request, media, body)
        except BodyError:
            return self._problems(lang, as_json, {"body": self.site.string("error_invalid", lang)})
        if isinstance(fields.get("lang"), str) and fields["lang"] in self.site.locales:
            lang = fields["lang"]
        page = fields.get("page") if isinstance(fields.get("page"), str) and PAGE.fullmatch(fields["page"]) else None
        client = client_key(request.client.host if request.client else None)
        try:
            wait = await receiver.limit(client, record=False)
        except Unavailable as exc:
            log.error("%s; replying 503", exc)
            return self._failure(lang, as_json, 503, "error_unavailable", page=page)
        if wait is not None:
            return self._failure(lang, as_json, 429, "error_rate_contact", {"Retry-After": str(wait)}, page=page, seconds=str(wait))
        found, problems = self._check(fields, lang)
        if problems:
            return self._problems(lang, as_json, problems, page)
        try:
            wait = await receiver.limit(client, record=True)
        except Unavailable as exc:
            log.error("%s; replying 503", exc)
            return self._failure(lang, as_json, 503, "error_unavailable", page=page)
        if wait is not None:
            return self._failure(lang, as_json, 429, "error_rate_contact", {"Retry-After": str(wait)}, page=page, seconds=str(wait))
        public_id = new_public_id()
        if not found.pop("trap"):
            stored = ContactRequest(public_id=public_id, created_at=utc_now(), lang=lang, **found)
            try:
                # rare beside submissions: the store takes its writers in turn (submissions go through the group writer)
                await anyio.to_thread.run_sync(receiver.store.add_request, stored, receiver.notify.request_channels())
            except StoreError as exc:  # worded: the file and the fix, no traceback
                log.error("storing a contact request failed: %s; replying 503", exc)
                return self._failure(lang, as_json, 503, "error_unavailable", page=page)
            except (sqlite3.Error, OSError, *receiver.store.REFUSED):  # REFUSED: the database's own refusal of this row
                log.exception("storing a contact request failed")
                return self._failure(lang, as_json, 503, "error_unavailable", page=page)
        text = self.site.string("contact_sent", lang, id=public_id)
        if as_json:
            return JSONResponse({"id": public_id, "message": text}, status_code=201, headers=NO_STORE)
        return self._page(lang, 200, text, title=text.split(". ")[0], page=page)

    # Reading and checking

    async def _fields(self, request: Request, media: str, body: bytes) -> dict[str, Any]:
        if media == JSON:
            return read_json_object(body)
        items = read_urlencoded(body) if media == FORM else await read_multipart(request.headers, body)
        fields: dict[str, Any] = {}
        for name, value in items:
            if name in fields:
                raise BodyError(f"{name} given twice")
            fields[name] = value
        return fields

    def _check(self, fields: dict[str, Any], lang: str) -> tuple[dict[str, Any], dict[str, str]]:
        def s(key: str, **values: object) -> str:
            return self.site.string(key, lang, **values)

        problems: dict[str, str] = {}
        unknown = sorted(set(fields) - {"lang", "page", "kind", *LIMITS, HONEYPOT})
        for name in unknown[:10]:
            problems[str(name)[:80]] = s("error_invalid")
        kind = fields.get("kind")
        if kind not in KINDS:
            problems["kind"] = s("contact_error_required")
        found: dict[str, Any] = {"kind": kind}
        for name, limit in LIMITS.items():
            value = fields.get(name)
            text = clean_text(value, multiline=name == "message") if isinstance(value, str) else None
            if value is not None and not isinstance(value, str) or (isinstance(value, str) and text is None):
                problems[name] = s("error_invalid")
            elif not text:
                problems[name] = s("contact_error_required")
            elif len(text) > limit:
                problems[name] = s("contact_error_too_long", max=limit)
            elif name == "email":
                try:
                    text = validate_email(text, check_deliverability=False).normalized.lower()
                except (EmailNotValidError, ValueError, UnicodeError):
                    problems[name] = s("contact_error_email")
            found[name] = text
        found["trap"] = fields.get(HONEYPOT) not in (None, "")
        return found, problems

    # Replies

    def _failure(
        self, lang: str, as_json: bool, status: int, key: str, headers: dict[str, str] | None = None, page: str | None = None, **values: str
    ) -> Response:
        text = self.site.string(key, lang, **values)
        if as_json:
            return JSONResponse({"error": text}, status_code=status, headers={**NO_STORE, **(headers or {})})
        return self._page(lang, status, text, title=text.split(". ")[0], headers=headers, failure=True, page=page)

    def _problems(self, lang: str, as_json: bool, problems: dict[str, str], page: str | None = None) -> Response:
        if as_json:
            return JSONResponse({"errors": problems}, status_code=422, headers=NO_STORE)
        heading = self.site.string("contact_error_heading", lang)
        html = templates.get_template("server/contact_problems.html").render(heading=heading, problems=problems, **self._back(lang, page))
        return HTMLResponse(self.receiver.replies.shells()[lang].render(html, title_prefix=heading), status_code=422, headers=NO_STORE)

    def _page(
        self, lang: str, status: int, text: str, *, title: str, headers: dict[str, str] | None = None, failure: bool = False, page: str | None = None
    ) -> Response:
        html = templates.get_template("server/contact_reply.html").render(text=text, failure=failure, **self._back(lang, page))
        return HTMLResponse(self.receiver.replies.shells()[lang].render(html, title_prefix=title), status_code=status, headers={**NO_STORE, **(headers or {})})

    def _back(self, lang: str, page: str | None) -> dict[str, str]:
        """The way back to the form: the page it was on (a path of this site), else the language's home."""
        page = page or f"/{self.site.language(lang).prefix}"
        return {"back_url": f"{page}#kb-contact", "back_text": self.site.string("contact_back", lang)}
