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

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kennisbank.server.dashboard.paths import COOKIE, SECURE_COOKIE


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


#: The dashboard (``kennisbank.server.dashboard``): the one place a cookie may be set,
#: and only its session cookie; its pages bring their own, stricter policy.
DASHBOARD_PATH = "/beheer/"
DASHBOARD_COOKIES = (COOKIE.encode() + b"=", SECURE_COOKIE.encode() + b"=")


class SecurityHeaders:
    """Adds the security headers to every HTTP response and drops any ``Set-Cookie``
    (except the dashboard's session cookie on its own responses)."""

    def __init__(self, app: ASGIApp, csp: str):
        self.app = app
        self.document = _encoded(document_headers(csp))
        self.resource = _encoded(RESOURCE_HEADERS)
        self.names = {name for name, _ in self.document} | {b"set-cookie"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in self.names]
                kind = next((value for name, value in kept if name.lower() == b"content-type"), b"")
                document = not kind or kind.lower().startswith(_DOCUMENT_TYPES)
                added = self.document if document else self.resource
                if scope["path"].startswith(DASHBOARD_PATH):  # its session cookie, and its own policy instead of the site's
                    own = [
                        (n, v)
                        for n, v in message.get("headers", [])
                        if n.lower() == b"content-security-policy" or (n.lower() == b"set-cookie" and v.startswith(DASHBOARD_COOKIES))
                    ]
                    if any(n.lower() == b"content-security-policy" for n, _ in own):
                        added = [(n, v) for n, v in added if n != b"content-security-policy"]
                    kept += own
                message = {**message, "headers": kept + added}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def server_error(request: Request, exc: Exception) -> Response:
    """The reply to an unhandled exception, with the headers of any other resource.

    Starlette's ``ServerErrorMiddleware`` sits outside every middleware an app adds and
    sends this reply itself, past :class:`SecurityHeaders`; installed as the app's
    handler for 500 it carries the headers on its own."""
    return PlainTextResponse("Internal Server Error", status_code=500, headers=RESOURCE_HEADERS)
