"""Security headers on every response.

The Content-Security-Policy allows nothing from another host. Material puts a few
small inline scripts in every page; rather than ``'unsafe-inline'`` the policy lists
the SHA-256 of each one found in the built HTML when the server starts.

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

import base64
import hashlib
import re
from pathlib import Path
from typing import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SCRIPT = re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.S | re.I)
_TYPE = re.compile(r"""\btype\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_SRC = re.compile(r"\bsrc\s*=", re.I)
_JS_TYPES = {"", "module", "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript"}


def inline_scripts(html: str) -> list[str]:
    """The text of every inline script the browser would run (not ``src=``, not JSON data)."""
    scripts = []
    for match in _SCRIPT.finditer(html):
        attrs = match["attrs"]
        if _SRC.search(attrs):
            continue
        kind = _TYPE.search(attrs)
        if kind and (kind[1] or kind[2] or kind[3] or "").strip().lower() not in _JS_TYPES:
            continue
        scripts.append(match["body"])
    return scripts


def script_hash(text: str) -> str:
    # browsers hash the script's text after the parser normalised line breaks
    digest = hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def site_script_hashes(site_dir: Path, extra_html: Iterable[str] = ()) -> list[str]:
    """The hashes of every inline script in the site's HTML files (and ``extra_html``), sorted."""
    hashes = set()
    for page in site_dir.rglob("*.html"):
        hashes.update(script_hash(script) for script in inline_scripts(page.read_text(encoding="utf-8", errors="replace")))
    for html in extra_html:
        hashes.update(script_hash(script) for script in inline_scripts(html))
    return sorted(hashes)


def content_security_policy(script_hashes: Iterable[str]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *script_hashes]),
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
#: script's own policy governs the worker, which loads its helpers from this site).
RESOURCE_POLICY = "default-src 'self'; frame-ancestors 'none'"


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    """The headers of a document (HTML or SVG)."""
    return _encoded(
        {
            "content-security-policy": csp,
            "x-content-type-options": "nosniff",
            "referrer-policy": "strict-origin-when-cross-origin",
            "x-frame-options": "DENY",
            "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            "cross-origin-opener-policy": "same-origin",
        }
    )


def resource_headers() -> list[tuple[bytes, bytes]]:
    """The headers of every other response."""
    return _encoded(
        {
            "content-security-policy": RESOURCE_POLICY,
            "x-content-type-options": "nosniff",
            "referrer-policy": "strict-origin-when-cross-origin",
        }
    )


_DOCUMENT_TYPES = (b"text/html", b"image/svg+xml")


class SecurityHeaders:
    """Adds the security headers to every HTTP response and drops any ``Set-Cookie``."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]):
        self.app = app
        self.headers = headers
        self.resource = resource_headers()
        self.names = {name for name, _ in headers} | {b"set-cookie"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in self.names]
                kind = next((value for name, value in kept if name.lower() == b"content-type"), b"")
                document = not kind or kind.lower().startswith(_DOCUMENT_TYPES)
                message = {**message, "headers": kept + (self.headers if document else self.resource)}
            await send(message)

        await self.app(scope, receive, send_with_headers)
