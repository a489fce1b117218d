"""The pages the server writes itself, in the site's look: the built ``uitslag`` page
(``docs/uitslag.<lang>.md``) with its placeholder text replaced.

The page is served at the form's endpoint URL, not at ``/uitslag/``, so when the
server starts it makes every relative URL in the page absolute (links, styles,
scripts, Material's ``__config`` and ``__md_scope``): the reply then works at any
address, and links to ``#fragments`` stay on the page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from posixpath import normpath
from urllib.parse import urljoin

from markupsafe import Markup, escape

START = "<!-- kb:result -->"
END = "<!-- /kb:result -->"
RESULT_PAGE = "uitslag/index.html"

_ATTRIBUTE = re.compile(r"""(?P<name>\s(?:href|src|action|poster))=(?P<quote>["'])(?P<value>[^"']*)(?P=quote)""", re.I)
_SCOPE = re.compile(r"""__md_scope=new URL\((?P<quote>["'])(?P<value>[^"']*)(?P=quote),location\)""")
_CONFIG = re.compile(r"""(<script id="__config" type="application/json">)(?P<json>.*?)(</script>)""", re.S)
_TITLE = re.compile(r"<title>(?P<title>.*?)</title>", re.S)


class PageError(Exception):
    """The site lacks a page the server needs, or the page lacks its markers."""


def _absolute(value: str, base: str) -> str:
    """``value`` resolved against the page path ``base``; absolute URLs and fragments unchanged."""
    if not value or value.startswith(("#", "/", "?")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value):
        return value
    resolved = urljoin(base, value)
    # keep a trailing slash; normpath would drop it
    path, hash_, fragment = resolved.partition("#")
    clean = normpath(path) + ("/" if path.endswith("/") and path != "/" else "")
    return clean + hash_ + fragment


def absolutise(html: str, base: str) -> str:
    """Every relative URL in ``html`` of the page at path ``base`` made absolute."""
    html = _ATTRIBUTE.sub(lambda m: f"{m['name']}={m['quote']}{_absolute(m['value'], base)}{m['quote']}", html)
    html = _SCOPE.sub(lambda m: f"__md_scope=new URL({m['quote']}{_absolute(m['value'], base) or '/'}{m['quote']},location)", html)

    def config(match: re.Match) -> str:
        try:
            data = json.loads(match["json"])
        except ValueError:
            return match[0]
        for key in ("base", "search"):
            if isinstance(data.get(key), str):
                data[key] = _absolute(data[key], base) or base
        text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
        return match[1] + text + match[3]

    return _CONFIG.sub(config, html)


@dataclass(frozen=True)
class Shell:
    """A built page cut where the server's content goes."""

    url: str
    before: str
    after: str

    def render(self, content: Markup | str, *, title_prefix: str = "") -> str:
        before = self.before
        if title_prefix:
            before = _TITLE.sub(lambda m: f"<title>{escape(title_prefix)} - {m['title']}</title>", before, count=1)
        return before + str(content) + self.after

    @property
    def html(self) -> str:
        return self.before + self.after


def load_shell(site_dir: Path, prefix: str) -> Shell:
    """The result page of the language with URL prefix ``prefix`` (``""``, ``"en/"``)."""
    file = site_dir / prefix / RESULT_PAGE
    if not file.is_file():
        raise PageError(
            f"{file} does not exist: the site was built without the result page. "
            "Fix: build the site again (make build), with docs/uitslag.<lang>.md in place"
        )
    html = file.read_text(encoding="utf-8")
    start, end = html.find(START), html.find(END)
    if start < 0 or end < start:
        raise PageError(f"{file}: the markers {START} and {END} are missing. Fix: keep them around the placeholder text in docs/uitslag.<lang>.md")
    url = "/" + prefix + RESULT_PAGE.removesuffix("index.html")
    html = absolutise(html, url)
    start, end = html.find(START), html.find(END)
    return Shell(url=url, before=html[: start + len(START)], after=html[end:])
