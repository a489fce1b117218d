"""Security headers on every response, and compression of the server's own replies.

The Content-Security-Policy allows nothing from another host. Material puts a few
small inline scripts in every page; rather than ``'unsafe-inline'`` the policy lists
the SHA-256 of each one found in the built HTML when the server starts.

Documents (HTML, and SVG, which can hold scripts) get the full set. Other responses
(stylesheets, scripts, JSON, images) get a short policy that still allows nothing
from another host, with ``nosniff`` and the referrer policy: the page's script
hashes and the frame and permission headers mean nothing there, and repeated on
every asset they cost the article page several kilobytes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path
from typing import Iterable

import brotli
from starlette.datastructures import Headers, MutableHeaders
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


#: The dashboard (``kennisbank.server.dashboard``): the one place a cookie may be set,
#: and only its session cookie; its pages bring their own, stricter policy.
DASHBOARD_PATH = "/beheer/"
DASHBOARD_COOKIES = (b"kb-beheer=", b"__Host-kb-beheer=")


class SecurityHeaders:
    """Adds the security headers to every HTTP response and drops any ``Set-Cookie``
    (except the dashboard's session cookie on its own responses)."""

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
                added = self.headers if document else self.resource
                if scope["path"].startswith(DASHBOARD_PATH):  # its session cookie, and its own policy instead of the site's
                    own = [(n, v) for n, v in message.get("headers", []) if n.lower() == b"content-security-policy" or (n.lower() == b"set-cookie" and v.startswith(DASHBOARD_COOKIES))]
                    if any(n.lower() == b"content-security-policy" for n, _ in own):
                        added = [(n, v) for n, v in added if n != b"content-security-policy"]
                    kept += own
                message = {**message, "headers": kept + added}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Compression

COMPRESSIBLE = re.compile(r"^(text/|application/(json|javascript|xml|manifest\+json|[\w.+-]+\+(json|xml))|image/svg\+xml)")
MIN_SIZE = 512


def accepted_encoding(accept_encoding: str) -> str | None:
    """``"br"`` or ``"gzip"`` if the client accepts it (brotli preferred), else ``None``."""
    accepted = {}
    for part in accept_encoding.split(","):
        token, _, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                quality = float(match[1])
            except ValueError:
                quality = 0.0
        accepted[token.strip().lower()] = quality
    for encoding in ("br", "gzip"):
        if accepted.get(encoding, accepted.get("*", 0.0)) > 0:
            return encoding
    return None


def compress(body: bytes, encoding: str, level: str = "fast") -> bytes:
    if encoding == "br":
        return brotli.compress(body, quality=4 if level == "fast" else 11, mode=brotli.MODE_TEXT)
    return gzip.compress(body, compresslevel=6 if level == "fast" else 9, mtime=0)


class Compression:
    """Brotli or gzip for compressible responses sent in one piece that are not encoded yet.

    The static site sends its own cached, already compressed variants; this covers the
    API's replies (the result page is some 40 KB of HTML)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        encoding = accepted_encoding(Headers(scope=scope).get("accept-encoding", ""))
        if encoding is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        passthrough = False

        async def send_compressed(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                if (
                    "content-encoding" in headers
                    or message["status"] in (204, 206, 304)
                    or not COMPRESSIBLE.match(headers.get("content-type", ""))
                ):
                    passthrough = True
                    await send(message)
                else:
                    start = message
                return
            if message["type"] != "http.response.body" or passthrough or start is None:
                await send(message)
                return
            body = message.get("body", b"")
            if message.get("more_body", False) or len(body) < MIN_SIZE or scope.get("method") == "HEAD":
                # streamed or small: send as it is
                await send(start)
                start, passthrough = None, True
                await send(message)
                return
            body = compress(body, encoding)
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            headers["content-encoding"] = encoding
            headers["content-length"] = str(len(body))
            headers.add_vary_header("Accept-Encoding")
            await send({**start, "headers": headers.raw})
            start, passthrough = None, True
            await send({**message, "body": body})

        await self.app(scope, receive, send_compressed)
