"""What search engines and link previews read: metadata per page, sitemaps, robots.txt.

Every page names its absolute canonical URL, its language versions (``hreflang``,
plus ``x-default`` for the default language's version), a description of at most
:data:`DESCRIPTION_LENGTH` characters, Open Graph and Twitter card fields, and on
articles a schema.org ``Article`` in JSON-LD that links the language versions
(``workTranslation`` / ``translationOfWork``). The site as a whole gets one
sitemap listing every page of every language with its alternates, a sitemap per
other language under its root (only that language's pages, as the sitemaps
protocol allows), and a ``robots.txt`` that points at the sitemap.

The build hook (``hooks/seo.py``) collects what it needs per language build and
calls these functions; nothing here imports MkDocs. URLs come in site-relative, as
MkDocs writes them (``""``, ``"./"``, ``"en/over/"``), and go out absolute, built
from ``site_url``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote, urljoin, urlsplit
from xml.etree import ElementTree as ET

#: Longest meta description; longer ones are cut at a word boundary (search engines show about this much).
DESCRIPTION_LENGTH = 160
X_DEFAULT = "x-default"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"

class SeoError(Exception):
    """Input the metadata cannot be built from; the message says what and the fix."""


# Data


@dataclass(frozen=True)
class Alternate:
    hreflang: str
    url: str


@dataclass(frozen=True)
class OpenGraph:
    title: str
    description: str
    url: str
    type: str
    locale: str
    locale_alternates: tuple[str, ...]
    site_name: str
    published: str | None = None
    modified: str | None = None


@dataclass(frozen=True)
class PageMeta:
    """What a page's ``<head>`` says to crawlers (``overrides/partials/seo.html``)."""

    description: str
    canonical: str | None = None
    alternates: tuple[Alternate, ...] = ()
    og: OpenGraph | None = None
    json_ld: str | None = None
    noindex: bool = False


@dataclass(frozen=True)
class Home:
    locale: str
    url: str
    label: str


@dataclass(frozen=True)
class NotFound:
    """The 404 page's content in one language, with a way home in every language."""

    locale: str
    title: str
    text: str
    homes: tuple[Home, ...]


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    alternates: tuple[Alternate, ...]
    lastmod: dt.date | None = None


# URLs


def absolute(site_url: str, url: str) -> str:
    """``("https://x.org/kb/", "en/over/")`` -> ``"https://x.org/kb/en/over/"``; ``""``/``"./"`` is the root."""
    if not site_url:
        raise SeoError("site_url is empty: set site_url in mkdocs.yml (or SITE_URL) to the public address")
    base = site_url if site_url.endswith("/") else site_url + "/"
    url = url.lstrip("/")
    return base if url in ("", ".", "./") else urljoin(base, url)


def root_path(site_url: str, prefix: str = "") -> str:
    """The server path of a language's home: ``("https://x.org/kb/", "en/")`` -> ``"/kb/en/"``."""
    path = urlsplit(site_url).path or "/"
    return (path if path.endswith("/") else path + "/") + prefix


def hreflang_alternates(versions: Mapping[str, str], languages: Sequence[str], default: str) -> tuple[Alternate, ...]:
    """``<link rel=alternate hreflang>`` targets: each language that has the page, in
    ``languages`` order, then ``x-default`` pointing at the default language's version."""
    alternates = [Alternate(locale, versions[locale]) for locale in languages if locale in versions]
    if default in versions:
        alternates.append(Alternate(X_DEFAULT, versions[default]))
    return tuple(alternates)


# Descriptions


def trim(text: str, limit: int = DESCRIPTION_LENGTH) -> str:
    """``text`` with its whitespace collapsed, cut at a word boundary to at most ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]  # leaves room for the ellipsis
    if text[limit - 1] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]  # drop the word that was cut
    return head.rstrip(" ,;:–—-") + "…"


class _Found(Exception):
    pass


class _FirstParagraph(HTMLParser):
    """Collects the text of ``<p>`` elements and stops at the first that has some."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.skip = False
        self.parts: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            if self.depth == 0:
                self.skip = "admonition-title" in (dict(attrs).get("class") or "").split()
                self.parts = []
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "p" and self.depth:
            self.depth -= 1
            if self.depth == 0 and not self.skip:
                self.text = " ".join("".join(self.parts).split())
                if self.text:
                    raise _Found

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.parts.append(data)


def first_paragraph(html: str) -> str:
    """The text of the first non-empty ``<p>`` in ``html`` (admonition titles skipped); ``""`` if none."""
    at = html.find("<p")
    if at < 0:
        return ""
    parser = _FirstParagraph()
    try:
        parser.feed(html[at:])  # stops at the first paragraph with text
        parser.close()
    except _Found:
        pass
    return parser.text


def describe(description: Any, html: str, fallback: str, limit: int = DESCRIPTION_LENGTH) -> str:
    """The meta description: front matter ``description``, else the first paragraph,
    else ``fallback`` (the site's description), trimmed to ``limit`` characters."""
    # the page's HTML is parsed only when the front matter has no description
    for text in (lambda: str(description or ""), lambda: first_paragraph(html), lambda: fallback or ""):
        found = text()
        if found.strip():
            return trim(found, limit)
    return ""


# Open Graph and JSON-LD


def og_locale(region: str) -> str:
    """Open Graph wants ``ll_TT``: ``"en_GB"`` stays, ``"en-GB"`` becomes ``"en_GB"``."""
    return region.replace("-", "_")


def article_json_ld(
    *,
    url: str,
    title: str,
    description: str,
    author: str,
    published: dt.date,
    modified: dt.date | None,
    language: str,
    site_name: str,
    home_url: str,
    sections: Sequence[str] = (),
    translations: Sequence[Alternate] = (),
    original: Alternate | None = None,
) -> dict[str, Any]:
    """A schema.org ``Article``. The original (default-language) version lists its
    ``translations`` as ``workTranslation``; a translation names its ``original`` as
    ``translationOfWork``."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Article",
        "@id": f"{url}#article",
        "headline": title,
        "description": " ".join(description.split()),
        "author": {"@type": "Person", "name": author},
        "datePublished": published.isoformat(),
        "dateModified": (modified or published).isoformat(),
        "inLanguage": language,
        "url": url,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "isPartOf": {"@type": "WebSite", "name": site_name, "url": home_url},
    }
    if sections:
        data["articleSection"] = list(sections)
    if translations:
        data["workTranslation"] = [_work(version) for version in translations]
    if original is not None:
        data["translationOfWork"] = _work(original)
    return data


def _work(version: Alternate) -> dict[str, str]:
    return {"@type": "Article", "@id": f"{version.url}#article", "url": version.url, "inLanguage": version.hreflang}


def json_script(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script>``: ``<``, ``>`` and ``&`` are
    written as ``\\u003c`` etc., so no value can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def svg_data_uri(svg: str) -> str:
    """An SVG as a ``data:`` URI, percent-encoded only where it must be (smaller than base64)."""
    return "data:image/svg+xml," + quote(" ".join(svg.split()), safe=" /:=,;'()-._")


# Not-found page


def not_found(locale: str, homes: Sequence[tuple[str, str]], strings: Mapping[str, Mapping[str, str]]) -> NotFound:
    """The 404 page in ``locale``; ``homes`` is ``(locale, url)`` per language, listed
    with the page's own first, each home link labelled in its own language.
    (``kennisbank.siteconfig`` has checked that every string exists in every language.)"""
    own = [home for home in homes if home[0] == locale]
    ordered = own + [home for home in homes if home[0] != locale]
    return NotFound(
        locale=locale,
        title=strings["not_found_title"][locale],
        text=strings["not_found_text"][locale],
        homes=tuple(Home(code, url, strings["not_found_home"][code]) for code, url in ordered),
    )


# Sitemaps and robots.txt


def sitemap_xml(entries: Iterable[SitemapEntry]) -> bytes:
    """A sitemaps.org 0.9 ``urlset`` with ``xhtml:link`` alternates per URL."""
    ET.register_namespace("", SITEMAP_NS)
    ET.register_namespace("xhtml", XHTML_NS)
    urlset = ET.Element(f"{{{SITEMAP_NS}}}urlset")
    for entry in entries:
        url = ET.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
        ET.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = entry.loc
        if entry.lastmod is not None:
            ET.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = entry.lastmod.isoformat()
        for alternate in entry.alternates:
            ET.SubElement(url, f"{{{XHTML_NS}}}link", rel="alternate", hreflang=alternate.hreflang, href=alternate.url)
    ET.indent(urlset)
    return ET.tostring(urlset, encoding="utf-8", xml_declaration=True) + b"\n"


def robots_txt(sitemap_url: str) -> str:
    """Every crawler may read everything; the sitemap is named absolutely."""
    return f"User-agent: *\nAllow: /\n\nSitemap: {sitemap_url}\n"


def site_files(
    site_url: str,
    prefixes: Mapping[str, str],
    default: str,
    entries: Mapping[str, Sequence[SitemapEntry]],
    not_found_pages: Mapping[str, str],
) -> dict[str, bytes]:
    """The files written once every language is built, by path under the site folder:
    ``sitemap.xml`` (every language), ``<prefix>sitemap.xml`` per other language (its own
    pages), ``robots.txt``, and ``<prefix>404.html`` per language."""
    every = [entry for locale in prefixes if locale in entries for entry in entries[locale]]
    files = {"sitemap.xml": sitemap_xml(every), "robots.txt": robots_txt(absolute(site_url, "sitemap.xml")).encode()}
    for locale, prefix in prefixes.items():
        if locale != default:
            files[f"{prefix}sitemap.xml"] = sitemap_xml(entries.get(locale, ()))
        if locale in not_found_pages:
            files[f"{prefix}404.html"] = not_found_pages[locale].encode("utf-8")
    return files
