"""The Content-Security-Policy hashes of a page's inline scripts, found at build time.

Material writes a few small inline scripts into every page. Rather than
``'unsafe-inline'``, the policy lists the SHA-256 of each one. The build finds them
with a small tokenizer that follows the browser's rules for what matters here:
comments and raw-text elements (``<style>``, ``<textarea>``, …) hide what looks like a
``<script>``, quoted attribute values may hold ``>``, and a script's text runs to the
first ``</script``. The manifest keeps the hashes; the server only reads the list.

Why not a parser: the standard library's ``HTMLParser`` (used until issue 15) parses
every attribute of every tag, some 3 ms a page and 10 s of a 1,000-article build;
lxml builds a whole tree (1.7 ms a page). This scan only looks at the tags and is
checked against ``HTMLParser`` on the built site (``tests/test_build_manifest.py``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from html import unescape

#: ``type`` values a browser runs as a classic or module script
JS_TYPES = {"", "module", "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript"}


_ATTRS = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""
#: one token of the page: a comment, a raw-text element, a script, or any other tag
_TOKEN = re.compile(
    rf"""<!--.*?(?:-->|\Z)
    |<(?P<raw>style|textarea|title|xmp|iframe|noembed|noframes|noscript)(?=[\s/>]){_ATTRS}>.*?(?:</(?P=raw)(?=[\s/>])|\Z)
    |<script(?=[\s/>])(?P<attrs>{_ATTRS})>(?P<text>.*?)(?:</script(?=[\s/>])|\Z)
    |</?[a-zA-Z!?]{_ATTRS}>""",
    re.S | re.I | re.X,
)
_ATTR = re.compile(r"""(?P<name>[^\s"'>/=]+)(?:\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<uq>[^\s>]+)))?""")


def _attributes(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTR.finditer(text):
        value = next((v for v in (match["dq"], match["sq"], match["uq"]) if v is not None), "")
        found.setdefault(match["name"].lower(), unescape(value))  # the first of a repeated attribute counts
    return found


def inline_scripts(html: str) -> list[str]:
    """The text of every inline script the browser would run (not ``src=``, not JSON data)."""
    scripts = []
    for token in _TOKEN.finditer(html):
        if token["text"] is None:
            continue
        attributes = _attributes(token["attrs"])
        if "src" not in attributes and attributes.get("type", "").strip().lower() in JS_TYPES:
            scripts.append(token["text"])
    return scripts


def script_hash(text: str) -> str:
    """``'sha256-…'`` of a script's text as the browser hashes it (line breaks normalised)."""
    digest = hashlib.sha256(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def script_hashes(html: str) -> set[str]:
    return {script_hash(script) for script in inline_scripts(html)}
