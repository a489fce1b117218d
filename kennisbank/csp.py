"""The Content-Security-Policy hashes of a page's inline scripts, found at build time.

Material writes a few small inline scripts into every page. Rather than
``'unsafe-inline'``, the policy lists the SHA-256 of each one. The build finds them
with the standard library's HTML parser (the same tokenizer rules a browser uses
for ``<script>``: its text runs to the first ``</script``) and keeps them in the
manifest; the server only reads the list.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

#: ``type`` values a browser runs as a classic or module script
JS_TYPES = {"", "module", "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript"}


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag != "script":
            return
        found = dict(attrs)
        runs = "src" not in found and (found.get("type") or "").strip().lower() in JS_TYPES
        self._current = [] if runs else None

    def handle_data(self, data):
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def inline_scripts(html: str) -> list[str]:
    """The text of every inline script the browser would run (not ``src=``, not JSON data)."""
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


def script_hash(text: str) -> str:
    """``'sha256-…'`` of a script's text as the browser hashes it (line breaks normalised)."""
    digest = hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def script_hashes(html: str) -> set[str]:
    return {script_hash(script) for script in inline_scripts(html)}
