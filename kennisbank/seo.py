"""What search engines and link previews read: metadata per page, sitemaps, robots.txt.

Every page names its absolute canonical URL, its language versions (``hreflang``,
plus ``x-default`` for the default language's version), a description of at most
:data:`DESCRIPTION_LENGTH` characters, Open Graph and Twitter card fields, and on
articles a schema.org ``Article`` in JSON-LD that links the language versions
(``workTranslation`` / ``translationOfWork``); every other page a schema.org
``WebPage`` (``CollectionPage`` for a list of articles, ``AboutPage`` for the about
page) in its language, part of the language's ``WebSite``, published by the
``Organization`` of ``extra.publisher``. The site as a whole gets one
sitemap listing every page of every language with its alternates, a sitemap per
other language under its root (only that language's pages, as the sitemaps
protocol allows), and a ``robots.txt`` that points at the sitemap.

The build hook (``hooks/seo.py``) hands :func:`page_meta` the facts MkDocs has of a
page (:class:`PageFacts`) and writes what comes back; the decisions (which URL is
canonical, which language versions are real, which dates an article has, what stays
out of the sitemap) are made here, and nothing here imports MkDocs. URLs come in
site-relative, as MkDocs writes them (``""``, ``"./"``, ``"en/over/"``), and go out
absolute, built from ``site_url``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urljoin, urlsplit
from xml.etree import ElementTree as ET

from .articles import CATEGORY_FOLDER, is_article
from .siteconfig import SiteConfig
from .translations import split_locale

#: Longest meta description; longer ones are cut at a word boundary (search engines show about this much).
DESCRIPTION_LENGTH = 160
X_DEFAULT = "x-default"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"


#: schema.org types a page that is not an article may name with ``schema_type`` in its front matter
PAGE_TYPES = ("WebPage", "AboutPage", "CollectionPage", "ContactPage", "FAQPage", "ItemPage", "SearchResultsPage")
#: pages (by path under docs/ without language) whose type is not plain ``WebPage``, unless their front matter says
DEFAULT_PAGE_TYPES = {"over.md": "AboutPage"}


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


@dataclass(frozen=True)
class Version:
    """One language's version of a page, as the build lists it."""

    url: str
    """Site-relative URL: ``"en/over/"``."""
    written_in: str
    """The language of the file it is built from: another language's for a fallback copy."""


@dataclass(frozen=True)
class PageFacts:
    """What the build knows of one page in one language build, as plain data."""

    src_uri: str
    """Its file under docs/: ``"artikelen/x.nl.md"``."""
    url: str
    """Its site-relative URL in this build: ``"en/artikelen/x/"``."""
    locale: str
    """The language being built."""
    written_in: str
    """The language of its file; not ``locale`` when the page is a fallback copy."""
    versions: Mapping[str, Version]
    """Every language's version of the page (mkdocs-static-i18n's alternates), fallbacks included."""
    meta: Mapping[str, Any]
    """Its front matter."""
    content: str = ""
    """Its rendered HTML (read for a description only when the front matter has none)."""
    title: str | None = None
    """Its title as the build found it (front matter or first heading)."""


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


# Pages


def page_meta(page: PageFacts, site: SiteConfig, publisher: str = "") -> tuple[PageMeta, SitemapEntry | None]:
    """What ``page``'s ``<head>`` says, and its sitemap entry (``None`` when it is not in the sitemap).

    Only real translations are versions of a page: a fallback copy (a page shown in
    another language's site because it has no translation yet) is none. Such a copy
    names its original as canonical, lists no alternates and stays out of the sitemap.
    A page whose front matter says ``robots: noindex`` (a frame for something else,
    such as the server's result page) stays out of search engines and the sitemap.
    ``publisher`` is the name of the organisation that publishes the site (``extra.publisher.name``)."""
    language = site.language(page.written_in)
    own = absolute(site.site_url, page.url)
    versions = _real_versions(page, site)
    canonical = own if page.written_in == page.locale else versions.get(page.written_in, own)
    is_copy = canonical != own
    alternates = () if is_copy else hreflang_alternates(versions, site.locales, site.default_language.locale)

    meta = page.meta
    site_name = site.language(page.locale).site_name
    description = describe(meta.get("description"), page.content, site.language(page.locale).site_description)
    title = str(meta.get("title") or page.title or site_name)
    published, modified = _article_dates(page, site)
    others = tuple(Alternate(code, url) for code, url in versions.items() if code != page.written_in)
    og = OpenGraph(
        title=title,
        description=description,
        url=canonical,
        type="article" if published else "website",
        locale=og_locale(language.region),
        locale_alternates=tuple(og_locale(site.language(alt.hreflang).region) for alt in others),
        site_name=site_name,
        published=published.isoformat() if published else None,
        modified=modified.isoformat() if modified else None,
    )
    if published:
        json_ld = _json_ld(page, site, og, others, published, modified, publisher)
    else:
        json_ld = json_script(
            web_page_json_ld(
                type=page_type(page, site),
                url=og.url,
                title=title,
                description=description,
                language=page.written_in,
                site_name=site.language(page.written_in).site_name,
                home_url=absolute(site.site_url, site.language(page.written_in).prefix),
                publisher=publisher,
            )
        )
    noindex = meta.get("robots") == "noindex"
    entry = None if is_copy or noindex else SitemapEntry(own, alternates, modified)
    return PageMeta(description=description, canonical=canonical, alternates=alternates, og=og, json_ld=json_ld, noindex=noindex), entry


def _json_ld(
    page: PageFacts, site: SiteConfig, og: OpenGraph, others: Sequence[Alternate], published: dt.date, modified: dt.date | None, publisher: str = ""
) -> str:
    """An article's schema.org ``Article``, as safe ``<script>`` content, with the facts its Open Graph states."""
    return json_script(
        article_json_ld(
            url=og.url,
            title=og.title,
            description=str(page.meta.get("description") or og.description),
            author=str(page.meta.get("author", "")),
            published=published,
            modified=modified,
            language=page.written_in,
            site_name=og.site_name,
            home_url=absolute(site.site_url, site.language(page.locale).prefix),
            sections=[site.categories.get(c, {}).get(page.written_in, c) for c in page.meta.get("categories") or []],
            **_translation_links(page.written_in, others, site.default_language.locale),
            publisher=publisher,
        )
    )


def page_type(page: PageFacts, site: SiteConfig) -> str:
    """The schema.org type of a page that is not an article: front matter ``schema_type``,
    else ``CollectionPage`` for a folder's index page and a category's page (lists of
    articles), :data:`DEFAULT_PAGE_TYPES`, or ``WebPage``."""
    chosen = page.meta.get("schema_type")
    if chosen is not None:
        if chosen not in PAGE_TYPES:
            raise SeoError(f"schema_type: {chosen!r} is not a type this site writes. Fix: use one of {', '.join(PAGE_TYPES)}, or leave it out")
        return chosen
    path = split_locale(page.src_uri, site.locales)[0]
    if path.startswith(CATEGORY_FOLDER + "/") or (path.endswith("/index.md") and "/" in path):
        return "CollectionPage"
    return DEFAULT_PAGE_TYPES.get(path, "WebPage")


def _real_versions(page: PageFacts, site: SiteConfig) -> dict[str, str]:
    """Language -> absolute URL of each real translation of ``page`` (not fallback copies), the page itself included."""
    versions = {code: absolute(site.site_url, version.url) for code, version in page.versions.items() if code in site.locales and version.written_in == code}
    if page.written_in == page.locale:
        versions[page.locale] = absolute(site.site_url, page.url)
    return versions


def _article_dates(page: PageFacts, site: SiteConfig) -> tuple[dt.date | None, dt.date | None]:
    """``(published, modified)`` of an article with a date; ``(None, None)`` for every other page."""
    published = page.meta.get("date")
    if not is_article(split_locale(page.src_uri, site.locales)[0]) or not isinstance(published, dt.date):
        return None, None
    return published, page.meta.get("updated") or published


def _translation_links(written_in: str, others: Sequence[Alternate], default: str) -> dict[str, Any]:
    """The original (default-language) version lists its translations; a translation names its original."""
    if written_in == default:
        return {"translations": others}
    return {"original": next((alt for alt in others if alt.hreflang == default), None)}


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
    publisher: str = "",
) -> dict[str, Any]:
    """A schema.org ``Article``. The original (default-language) version lists its
    ``translations`` as ``workTranslation``; a translation names its ``original`` as
    ``translationOfWork``; the ``Organization`` that publishes it when ``publisher`` names one."""
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
    if publisher:
        data["publisher"] = {"@type": "Organization", "name": publisher}
    return data


def web_page_json_ld(*, type: str, url: str, title: str, description: str, language: str, site_name: str, home_url: str, publisher: str = "") -> dict[str, Any]:
    """A schema.org ``WebPage`` (or the subtype ``type``) in ``language``, part of the
    language's ``WebSite``; the ``Organization`` that publishes it when ``publisher`` names one."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": type,
        "@id": f"{url}#webpage",
        "name": title,
        "description": " ".join(description.split()),
        "inLanguage": language,
        "url": url,
        "isPartOf": {"@type": "WebSite", "@id": f"{home_url}#website", "name": site_name, "url": home_url, "inLanguage": language},
    }
    if publisher:
        data["publisher"] = {"@type": "Organization", "name": publisher}
    return data


def _work(version: Alternate) -> dict[str, str]:
    return {"@type": "Article", "@id": f"{version.url}#article", "url": version.url, "inLanguage": version.hreflang}


def json_script(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script>``: ``<``, ``>`` and ``&`` are
    written as ``\\u003c`` etc., so no value can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def svg_data_uri(svg: str) -> str:
    """An SVG as a ``data:`` URI, percent-encoded only where it must be (smaller than base64).

    A space is not allowed in a URL, in ``data:`` URLs too (the Nu Html Checker reports
    "Illegal character ... Space is not allowed"): it is written ``%20``."""
    return "data:image/svg+xml," + quote(" ".join(svg.split()), safe="/:=,;'()-._")


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


def not_found_page(site: SiteConfig, locale: str) -> tuple[NotFound, PageMeta]:
    """The 404 page of ``locale``'s build: its content, with a way to every language's
    home, and what its ``<head>`` says (no index, the language's site description)."""
    homes = [(lang.locale, root_path(site.site_url, lang.prefix)) for lang in site.languages]
    meta = PageMeta(description=trim(site.language(locale).site_description), noindex=True)
    return not_found(locale, homes, site.strings), meta


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


def site_files(site: SiteConfig, entries: Mapping[str, Sequence[SitemapEntry]], not_found_pages: Mapping[str, str]) -> dict[str, bytes]:
    """The files written once every language is built, by path under the site folder:
    ``sitemap.xml`` (every language), ``<prefix>sitemap.xml`` per other language (its own
    pages), ``robots.txt``, and ``<prefix>404.html`` per language. ``entries`` and
    ``not_found_pages`` are by language."""
    every = [entry for lang in site.languages for entry in entries.get(lang.locale, ())]
    files = {"sitemap.xml": sitemap_xml(every), "robots.txt": robots_txt(absolute(site.site_url, "sitemap.xml")).encode()}
    for lang in site.languages:
        if not lang.default:
            files[f"{lang.prefix}sitemap.xml"] = sitemap_xml(entries.get(lang.locale, ()))
        if lang.locale in not_found_pages:
            files[f"{lang.prefix}404.html"] = not_found_pages[lang.locale].encode("utf-8")
    return files
