"""Serve the built site: directory URLs, redirects, 404 pages, caching, compression.

- ``/x/`` serves ``x/index.html``; ``/x`` redirects to ``/x/`` when ``x`` is a folder.
- Fingerprinted assets (``bundle.a5f9d56c.min.js``) are cached for a year as
  immutable; HTML and everything else must be revalidated (``no-cache``, ETag).
- Compressible files are sent as brotli or gzip, compressed once and kept in memory.
- A missing page answers 404 with the language's ``404.html``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import anyio
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from .security import COMPRESSIBLE, MIN_SIZE, accepted_encoding, compress

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: a hex content hash as a part of the file name: bundle.a5f9d56c.min.js, main.57a0d79d.min.css
FINGERPRINT = re.compile(r"(?:^|[.-])[0-9a-f]{8,}(?=[.-])")
#: files larger than this are streamed from disk, uncompressed and uncached
CACHE_FILE_LIMIT = 4 * 1024 * 1024
CACHE_TOTAL_LIMIT = 64 * 1024 * 1024

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".xml": "application/xml; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".gz": "application/gzip",
}


def content_type(path: Path) -> str:
    known = _TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and guessed.startswith("text/"):
        return guessed + "; charset=utf-8"
    return guessed or "application/octet-stream"


def cache_control(path: Path) -> str:
    return IMMUTABLE if FINGERPRINT.search(path.name) else REVALIDATE


@dataclass
class _Entry:
    body: bytes
    etag: str
    type: str
    variants: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(body) for body, _ in self.variants.values())


class _Cache:
    """File contents and their compressed variants, keyed by path, mtime and size (LRU)."""

    def __init__(self, limit: int = CACHE_TOTAL_LIMIT):
        self.limit = limit
        self.total = 0
        self.entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, path: Path, encoding: str | None) -> tuple[_Entry, bytes, str, str | None]:
        """``(entry, body, etag, encoding)`` of ``path`` in ``encoding`` if that is worth it."""
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
        cached = entry is not None
        if entry is None:
            body = path.read_bytes()
            entry = _Entry(body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"', content_type(path))
        before = entry.size if cached else 0
        compressible = len(entry.body) >= MIN_SIZE and COMPRESSIBLE.match(entry.type)
        used = encoding if (encoding and compressible) else None
        if used and used not in entry.variants:
            entry.variants[used] = (compress(entry.body, used, level="best"), entry.etag[:-1] + f'-{used}"')
        if not cached or entry.size != before:
            with self.lock:
                previous = self.entries.get(key)
                self.total -= before if previous is entry else (previous.size if previous else 0)
                self.entries[key] = entry
                self.total += entry.size
                while self.total > self.limit and len(self.entries) > 1:
                    _, dropped = self.entries.popitem(last=False)
                    self.total -= dropped.size
        if used:
            body, etag = entry.variants[used]
            return entry, body, etag, used
        return entry, entry.body, entry.etag, None


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in tags


class StaticSite:
    """An ASGI app serving ``root`` (a built MkDocs site) for GET and HEAD."""

    def __init__(self, root: Path, language_prefixes: Sequence[str] = ()):
        self.root = root.resolve()
        #: non-default languages' URL prefixes without the slash: ("en",)
        self.prefixes = tuple(prefix.strip("/") for prefix in language_prefixes if prefix.strip("/"))
        self.cache = _Cache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope["method"] not in ("GET", "HEAD"):
            response = Response("Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}, media_type="text/plain")
            await response(scope, receive, send)
            return
        response = await anyio.to_thread.run_sync(self.respond, scope["path"], scope.get("raw_path"), scope.get("query_string", b""), Headers(scope=scope))
        await response(scope, receive, send)

    # Resolving a URL path

    def resolve(self, url_path: str) -> tuple[str, Path | None]:
        """``("file", path)``, ``("redirect", None)`` or ``("missing", None)`` for ``url_path``."""
        if "\x00" in url_path or "\\" in url_path or not url_path.startswith("/"):
            return "missing", None
        parts = url_path[1:].split("/")
        directory = parts[-1] == ""
        if directory:
            parts = parts[:-1]
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return "missing", None
        candidate = self.root.joinpath(*parts)
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):
            return "missing", None
        if real != self.root and not real.is_relative_to(self.root):
            return "missing", None
        if directory:
            index = real / "index.html"
            return ("file", index) if index.is_file() else ("missing", None)
        if real.is_dir():
            return ("redirect", None) if (real / "index.html").is_file() else ("missing", None)
        if real.is_file():
            return "file", real
        return "missing", None

    def language_root(self, url_path: str) -> Path:
        first = url_path.lstrip("/").split("/", 1)[0]
        return self.root / first if first in self.prefixes else self.root

    def _fallback(self, url_path: str, name: str) -> Path | None:
        for folder in (self.language_root(url_path), self.root):
            if (folder / name).is_file():
                return folder / name
        return None

    def not_found_page(self, url_path: str) -> bytes | None:
        """The 404 page of ``url_path``'s language, or ``None`` if the site has none."""
        page = self._fallback(url_path, "404.html")
        return page.read_bytes() if page else None

    # Responses

    def respond(self, url_path: str, raw_path: bytes | None, query: bytes, headers: Headers) -> Response:
        kind, path = self.resolve(url_path)
        if kind == "redirect":
            location = (raw_path.decode("latin-1") if raw_path else url_path) + "/"
            if query:
                location += "?" + query.decode("latin-1")
            return Response(status_code=301, headers={"Location": location, "Cache-Control": REVALIDATE})
        if kind == "file":
            return self.file(path, headers)
        page = self._fallback(url_path, "404.html")
        if page is None:
            return Response("Not Found", status_code=404, media_type="text/plain", headers={"Cache-Control": REVALIDATE})
        return self.file(page, headers, status=404)

    def file(self, path: Path, headers: Headers, status: int = 200) -> Response:
        control = cache_control(path) if status == 200 else REVALIDATE
        try:
            size = path.stat().st_size
        except OSError:
            return Response("Not Found", status_code=404, media_type="text/plain")
        if size > CACHE_FILE_LIMIT:
            return FileResponse(path, status_code=status, media_type=content_type(path), headers={"Cache-Control": control})
        entry, body, etag, encoding = self.cache.get(path, accepted_encoding(headers.get("accept-encoding", "")))
        reply = {"Cache-Control": control, "ETag": etag}
        if COMPRESSIBLE.match(entry.type) and len(entry.body) >= MIN_SIZE:
            reply["Vary"] = "Accept-Encoding"
        if status == 200 and _matches(headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=reply)
        if encoding:
            reply["Content-Encoding"] = encoding
        return Response(body, status_code=status, headers=reply, media_type=entry.type)
