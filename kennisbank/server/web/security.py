"""Security headers on every response.

The Content-Security-Policy allows nothing from another host. Material puts a few
small inline scripts in every page; rather than ``'unsafe-inline'`` the policy lists
the SHA-256 of each one, found when the site was built (``kennisbank.csp``) and read
from the build manifest.

Documents (HTML, and SVG, which can hold scripts) get the full set. Other responses
(stylesheets, scripts, JSON, images) get a short policy that still allows nothing
from another host, with ``nosniff`` and the referrer policy: the page's script
hashes and the frame and permission headers mean nothing there, and repeated on
every asset they cost the article page several kilobytes.

The server compresses none of its replies while a reader waits: the site's files are
compressed when it is built, and the API's replies are small or rare. Its JSON is a
few hundred bytes at most; the HTML result page of a plain form post (some 33 KB,
8 KB compressed) goes once per submission to a reader without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(script_hashes: Iterable[str]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            # 'wasm-unsafe-eval': Pagefind's search compiles its WebAssembly (kennisbank.search)
            " ".join(["script-src 'self' 'wasm-unsafe-eval'", *script_hashes]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "object-src 'none'",
        ]
    )


#: The policy of everything that is not a document: same origin only (a worker
#: script's own policy governs the worker, which loads its helpers from this site;
#: Pagefind's worker compiles its WebAssembly, hence 'wasm-unsafe-eval', which
#: allows no string to be run as script).
RESOURCE_POLICY = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'"

#: The headers of every response that is not a document.
RESOURCE_HEADERS = {
    "content-security-policy": RESOURCE_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def document_headers(csp: str) -> dict[str, str]:
    """The headers of a document (HTML or SVG)."""
    return {
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        "x-frame-options": "DENY",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "cross-origin-opener-policy": "same-origin",
    }


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


_DOCUMENT_TYPES = (b"text/html", b"image/svg+xml")


class SecurityHeaders:
    """Adds the security headers to every HTTP response of the app it wraps, and drops
    every ``Set-Cookie`` except those of the cookies named in ``cookies``.

    ``csp`` is the policy of documents, ``resource_policy`` that of everything else;
    ``defaults`` are headers a response gets unless it brings its own. The site uses it
    with its own policy and no cookie; the dashboard, mounted apart, with its own stricter
    policy, its session cookie and ``noindex``, ``no-store`` (:mod:`kennisbank.server.dashboard.views`)."""

    def __init__(
        self, app: ASGIApp, csp: str, *, resource_policy: str = RESOURCE_POLICY, cookies: Iterable[str] = (), defaults: Mapping[str, str] | None = None
    ):
        self.app = app
        self.document = _encoded(document_headers(csp))
        self.resource = _encoded({**RESOURCE_HEADERS, "content-security-policy": resource_policy})
        self.names = {name for name, _ in self.document} | {b"set-cookie"}
        self.cookies = tuple(name.encode("latin-1") + b"=" for name in cookies)
        self.defaults = _encoded({name.lower(): value for name, value in (defaults or {}).items()})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent = message.get("headers", [])
                kept = [(name, value) for name, value in sent if name.lower() not in self.names]
                kept += [(name, value) for name, value in sent if name.lower() == b"set-cookie" and self.cookies and value.startswith(self.cookies)]
                present = {name.lower() for name, _ in kept}
                kind = next((value for name, value in kept if name.lower() == b"content-type"), b"")
                document = not kind or kind.lower().startswith(_DOCUMENT_TYPES)
                added = self.document if document else self.resource
                message = {**message, "headers": kept + added + [(name, value) for name, value in self.defaults if name not in present]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def guarded(csp: str, **options: Any) -> list[Middleware]:
    """The middleware of one part of the app (a ``Mount``): :class:`SecurityHeaders` with
    ``csp`` and ``options``, and inside it Starlette's ``ExceptionMiddleware``, so that an
    HTTP error raised by the routing itself (a 405 for a method no route takes) is answered
    inside the part's headers too, not by the app's outer handler past them."""
    return [Middleware(SecurityHeaders, csp=csp, **options), Middleware(ExceptionMiddleware)]


def server_error(request: Request, exc: Exception) -> Response:
    """The reply to an unhandled exception, with the headers of any other resource.

    Starlette's ``ServerErrorMiddleware`` sits outside every middleware an app adds and
    sends this reply itself, past every :class:`SecurityHeaders`; installed as the app's
    handler for 500 it carries the headers on its own."""
    return PlainTextResponse("Internal Server Error", status_code=500, headers=RESOURCE_HEADERS)
