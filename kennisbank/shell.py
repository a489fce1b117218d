"""The shell of the pages the server writes itself, cut at build time.

The server's replies to a plain form post (the result, the problems) are the built
``uitslag`` page (``docs/uitslag.<lang>.md``) with its placeholder text replaced.
That page is served at the form's endpoint URL, not at ``/uitslag/``, so the build
makes every relative URL in it absolute (links, styles, scripts, Material's
``__config`` and ``__md_scope``) and cuts it at the markers: the reply then works at
any address, links to ``#fragments`` stay on the page, and the server only glues
three strings together (:class:`Shell`).

The page is our own build's output, written by templates we control; these
patterns match what Material writes, and :func:`cut` fails loudly, naming the file
and the fix, when a marker is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from posixpath import normpath
from urllib.parse import urljoin

from markupsafe import escape

START = "<!-- kb:result -->"
END = "<!-- /kb:result -->"
RESULT_PAGE = "uitslag/index.html"
#: the public page "how contracts in the field score" (docs/praktijk.<lang>.md): the
#: server serves it at its own address with the figures between these markers
FIELD_START = "<!-- kb:peers -->"
FIELD_END = "<!-- /kb:peers -->"
FIELD_PAGE = "praktijk/index.html"

_ATTRIBUTE = re.compile(r"""(?P<name>\s(?:href|src|action|poster))=(?P<quote>["'])(?P<value>[^"']*)(?P=quote)""", re.I)
_SCOPE = re.compile(r"""__md_scope=new URL\((?P<quote>["'])(?P<value>[^"']*)(?P=quote),location\)""")
_CONFIG = re.compile(r"""(<script id="__config" type="application/json">)(?P<json>.*?)(</script>)""", re.S)
_TITLE = re.compile(r"<title>(?P<title>.*?)</title>", re.S)


@dataclass(frozen=True)
class Shell:
    """A built page cut where the server's content goes.

    ``title`` is the page's ``<title>`` text exactly as it stands in ``before``, so a
    reply can put its own words in front of it without parsing the page."""

    url: str
    before: str
    after: str
    title: str

    def render(self, content: str, *, title_prefix: str = "") -> str:
        before = self.before
        if title_prefix:
            old = f"<title>{self.title}</title>"
            before = before.replace(old, f"<title>{escape(title_prefix)} - {self.title}</title>", 1)
        return before + str(content) + self.after

    @property
    def html(self) -> str:
        return self.before + self.after


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


def cut(html: str, prefix: str, where: str, *, page: str = RESULT_PAGE, markers: tuple[str, str] = (START, END)) -> Shell:
    """The result page (or ``page`` between ``markers``) of the language with URL prefix
    ``prefix`` (``""``, ``"en/"``) as a shell.

    ``where`` names the built file in errors."""
    first, last = markers
    if html.find(first) < 0 or html.find(last) < html.find(first):
        source = "docs/" + page.removesuffix("/index.html") + ".<lang>.md"
        raise PageError(f"{where}: the markers {first} and {last} are missing. Fix: keep them around the placeholder text in {source}")
    url = "/" + prefix + page.removesuffix("index.html")
    html = absolutise(html, url)
    start, end = html.find(first), html.find(last)
    title = _TITLE.search(html)
    if title is None:
        raise PageError(f"{where}: the page has no <title>. Fix: keep Material's main.html head block in overrides/main.html")
    return Shell(url=url, before=html[: start + len(first)], after=html[end:], title=title["title"])
