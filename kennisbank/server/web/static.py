"""Serve the built site: Starlette's ``StaticFiles`` with the site's own rules.

``StaticFiles(html=True)`` serves ``/x/`` from ``x/index.html`` and answers ETag,
``If-None-Match``, ``If-Modified-Since``, HEAD and Range. On top of it:

- Fingerprinted assets (``bundle.a5f9d56c.min.js``) are cached for a year as
  immutable; HTML and everything else must be revalidated (``no-cache``).
- The build wrote a brotli and a gzip copy beside each text file
  (``kennisbank.assets``); the copy the browser accepts is sent as it is, never
  compressed per request.
- A missing page answers 404 with its language's ``404.html``.
- ``/x`` redirects to ``/x/`` when ``x`` is a folder: 301 and a relative
  ``Location`` (StaticFiles sends 307 to an absolute URL built from ``Host``).
- Nothing in a dot folder or dot file is served (``.kennisbank/manifest.json``).
- Pagefind's binary files (``.pf_fragment``, ``.pagefind``, …) are gzip inside,
  unpacked by ``pagefind.js``: sent as ``application/octet-stream`` without a
  ``Content-Encoding``; its content-addressed chunks are immutable like the above.
- Content types come from one table with ``charset=utf-8`` for text, not from the
  machine's ``/etc/mime.types`` (which ``mimetypes`` reads and which differs by host).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from kennisbank.assets import COMPRESSIBLE, ENCODINGS
from kennisbank.search import PRECOMPRESSED

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: a hex content hash as a part of the file name: bundle.a5f9d56c.min.js, main.57a0d79d.min.css,
#: and Pagefind's content-addressed chunks: en_4e758de.pf_fragment, pagefind.nl_8db6d16e84.pf_meta
FINGERPRINT = re.compile(r"(?:^|[.-])[0-9a-f]{8,}(?=[.-])|_[0-9a-f]{7,}\.pf_[a-z]+$")

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
    # Pagefind's index, fragments and WebAssembly: gzip inside, which pagefind.js
    # unpacks itself; sent as they are, never compressed again (kennisbank.search)
    **dict.fromkeys(PRECOMPRESSED, "application/octet-stream"),
    # the compressed copies themselves, asked for by name (mimetypes says text/html for x.html.br)
    ".gz": "application/gzip",
    ".br": "application/octet-stream",
}


def content_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower(), "application/octet-stream")


def cache_control(path: Path) -> str:
    return IMMUTABLE if FINGERPRINT.search(path.name) else REVALIDATE


def accepted_encodings(accept_encoding: str) -> list[str]:
    """The codings of :data:`ENCODINGS` that ``Accept-Encoding`` allows, best first:
    highest q, brotli before gzip at the same q; ``q=0`` (also by ``*;q=0``) refuses one."""
    qualities = {}
    for part in accept_encoding.split(","):
        token, _, params = part.partition(";")
        quality = 1.0
        name, _, value = params.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if token.strip():
            qualities[token.strip().lower()] = quality
    ranked = [(qualities.get(coding, qualities.get("*", 0.0)), -rank, coding) for rank, coding in enumerate(ENCODINGS)]
    return [coding for quality, _, coding in sorted(ranked, reverse=True) if quality > 0]


class StaticSite(StaticFiles):
    """The built MkDocs site in ``root`` for GET and HEAD."""

    def __init__(self, root: Path, language_prefixes: Sequence[str] = ()):
        super().__init__(directory=root, html=True)
        self.root = Path(root).resolve()
        #: non-default languages' URL prefixes without the slash: ("en",)
        self.prefixes = tuple(prefix.strip("/") for prefix in language_prefixes if prefix.strip("/"))

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") for part in Path(path).parts if part != "."):
            return "", None  # a dot folder or file: the build manifest, an editor's or VCS's files
        return super().lookup_path(path)

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:  # 405 for other methods, 401 for an unreadable file
                raise
            return self.not_found(scope)
        if isinstance(response, RedirectResponse):  # a folder without its slash
            location = quote("/" + path.replace(os.sep, "/") + "/")  # from the normalised path: never //host
            if scope.get("query_string"):
                location += "?" + scope["query_string"].decode("latin-1")
            return Response(status_code=301, headers={"Location": location, "Cache-Control": REVALIDATE})
        if response.status_code == 404:  # StaticFiles' own 404.html is the default language's
            return self.not_found(scope)
        return response

    def file_response(self, full_path, stat_result: os.stat_result, scope: Scope, status_code: int = 200) -> Response:
        path = Path(full_path)
        url = scope["path"]
        if url.endswith("/") and (path.name != "index.html" or url.endswith("/index.html/")):
            return self.not_found(scope)  # /privacy/index.html/ is no address of the site: a slash asks for a folder
        request = Headers(scope=scope)
        compressible = path.suffix.lower() in COMPRESSIBLE
        encoding, served = None, (path, stat_result)
        if compressible and "range" not in request:  # a range is of the file itself
            for coding in accepted_encodings(request.get("accept-encoding", "")):
                copy = path.with_name(path.name + ENCODINGS[coding][0])
                try:
                    copy_stat = copy.stat()
                except OSError:
                    continue
                if stat.S_ISREG(copy_stat.st_mode):
                    encoding, served = coding, (copy, copy_stat)
                    break
        headers = {"Cache-Control": cache_control(path) if status_code == 200 else REVALIDATE}
        if compressible:
            headers["Vary"] = "Accept-Encoding"
        response = FileResponse(served[0], status_code=status_code, stat_result=served[1], media_type=content_type(path), headers=headers)
        if encoding:
            response.headers["Content-Encoding"] = encoding
            response.headers["ETag"] = response.headers["etag"][:-1] + f'-{encoding}"'
        if status_code == 200 and self.is_not_modified(response.headers, request):
            return NotModifiedResponse(response.headers)
        return response

    # 404

    def _not_found_file(self, url_path: str) -> Path | None:
        first = url_path.lstrip("/").split("/", 1)[0]
        folders = [self.root / first] if first in self.prefixes else []
        return next((folder / "404.html" for folder in [*folders, self.root] if (folder / "404.html").is_file()), None)

    def not_found(self, scope: Scope) -> Response:
        page = self._not_found_file(scope["path"])
        if page is None:
            return PlainTextResponse("Not Found", status_code=404, headers={"Cache-Control": REVALIDATE})
        return self.file_response(page, page.stat(), {**scope, "path": "/404.html"}, status_code=404)

    def not_found_page(self, url_path: str) -> str | None:
        """The 404 page of ``url_path``'s language, or ``None`` if the site has none."""
        page = self._not_found_file(url_path)
        return page.read_text(encoding="utf-8") if page else None
