"""The built site read by the web's own parsers rather than by our own assumptions:
JSON-LD expanded by pyld (a JSON-LD 1.1 processor), the Atom feeds by feedparser,
robots.txt by the standard library's robots.txt parser."""

from __future__ import annotations

import json
import urllib.robotparser

import feedparser
import pytest
import yaml
from pyld import jsonld

from kennisbank.articles import ARTICLE_FOLDER, CATEGORY_FOLDER
from kennisbank.siteconfig import load_mkdocs

from support import ARTICLE, ROOT

SITE = load_mkdocs(ROOT / "mkdocs.yml")
SCHEMA = ("http://schema.org/", "https://schema.org/")


class _Tolerant(yaml.SafeLoader):
    """mkdocs.yml with its tags (!ENV, !!python/name) read as plain values."""


_Tolerant.add_multi_constructor("", lambda loader, suffix, node: None)
#: who publishes the site (extra.publisher.name), whom every page's JSON-LD names
PUBLISHER = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Tolerant)["extra"]["publisher"]["name"]


def _schema_org_loader(url, options=None):
    """schema.org's context, offline: its terms are its vocabulary (``@vocab``), which is
    all an expansion of our JSON-LD needs. Any other remote context fails the test: a
    page must not make a JSON-LD processor fetch from elsewhere."""
    if url.rstrip("/") in ("https://schema.org", "http://schema.org"):
        return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url, "document": {"@context": {"@vocab": "http://schema.org/"}}}
    raise AssertionError(f"JSON-LD names a remote context {url}: use https://schema.org only")


def _json_ld_blocks(site) -> dict[str, list[dict]]:
    blocks = {}
    for path in site.pages():
        soup = site.html(str(path.relative_to(site.site)))
        found = [json.loads(script.string) for script in soup.select('script[type="application/ld+json"]')]
        if found:
            blocks[str(path.relative_to(site.site))] = found
    return blocks


#: The 404 pages carry no JSON-LD: they describe no address of their own (they are served
#: for any missing one), so they have no url to name, as they have no canonical link.
NOT_FOUND = {f"{lang.prefix}404.html" for lang in SITE.languages}


def _expected_type(page: str) -> str:
    """The schema.org type a built page (``en/over/index.html``) should name."""
    path = page.removesuffix("index.html")
    for lang in SITE.languages:
        if lang.prefix and path.startswith(lang.prefix):
            path = path.removeprefix(lang.prefix)
    if path.startswith(ARTICLE_FOLDER) and not path.startswith(CATEGORY_FOLDER) and path != ARTICLE_FOLDER:
        return "Article"
    if path == ARTICLE_FOLDER or path.startswith(CATEGORY_FOLDER):
        return "CollectionPage"
    return "AboutPage" if path == "over/" else "WebPage"


def _schema(node: dict, term: str) -> list:
    return [value for key in (s + term for s in SCHEMA) for value in node.get(key, [])]


def test_every_page_has_one_json_ld_block_that_expands_and_names_its_type_and_language(site):
    blocks = _json_ld_blocks(site)
    pages = {str(path.relative_to(site.site)) for path in site.pages()}
    assert pages - NOT_FOUND - set(blocks) == set(), "pages without JSON-LD"
    assert set(blocks) & NOT_FOUND == set(), "a 404 page has JSON-LD"
    for lang in SITE.languages:
        assert f"{lang.prefix}{ARTICLE}/index.html" in blocks, f"no JSON-LD on the {lang.locale} article"
    for page, documents in blocks.items():
        assert len(documents) == 1, f"{page}: {len(documents)} JSON-LD blocks"
        expanded = jsonld.expand(documents[0], {"documentLoader": _schema_org_loader})
        assert len(expanded) == 1, (page, expanded)
        node = expanded[0]
        types = {t.rsplit("/", 1)[-1] for t in node.get("@type", []) if t.startswith(SCHEMA)}
        assert types == {_expected_type(page)}, f"{page}: JSON-LD names {node.get('@type')}, not {_expected_type(page)}"
        languages = [value["@value"] for value in _schema(node, "inLanguage")]
        lang = site.html(page).html["lang"]
        assert languages == [lang], f"{page}: JSON-LD inLanguage {languages}, the page is {lang}"
        (publisher,) = _schema(node, "publisher")  # articles too: search engines ask an Article for its publisher
        assert {t.rsplit("/", 1)[-1] for t in publisher["@type"]} == {"Organization"}, page
        assert [name["@value"] for name in _schema(publisher, "name")] == [PUBLISHER], page
        if types == {"Article"}:
            continue
        home = SITE.site_url + SITE.language(lang).prefix
        assert [url.get("@id", url.get("@value")) for url in _schema(node, "url")] == [site.html(page).find("link", rel="canonical")["href"]], page
        assert [name["@value"] for name in _schema(node, "name")], f"{page}: JSON-LD has no name"
        (website,) = _schema(node, "isPartOf")
        assert {t.rsplit("/", 1)[-1] for t in website["@type"]} == {"WebSite"} and [u.get("@id", u.get("@value")) for u in _schema(website, "url")] == [home], (
            page
        )


@pytest.mark.parametrize("lang", [lang.locale for lang in SITE.languages])
def test_every_feed_parses_without_complaint(site, lang):
    prefix = SITE.language(lang).prefix
    feed = feedparser.parse((site.site / prefix / "feed.xml").read_bytes())
    assert not feed.bozo, f"{prefix}feed.xml: {feed.get('bozo_exception')}"
    assert feed.version == "atom10", feed.version
    assert feed.entries, f"{prefix}feed.xml has no entries"
    for entry in feed.entries:
        assert entry.link.startswith(SITE.site_url + prefix), entry.link
        assert entry.title and (entry.get("published") or entry.get("updated")), entry


def test_robots_txt_parses_and_allows_every_public_page(site):
    parser = urllib.robotparser.RobotFileParser()
    parser.parse((site.site / "robots.txt").read_text(encoding="utf-8").splitlines())
    assert parser.site_maps() == [SITE.site_url + "sitemap.xml"]
    for path in site.pages():
        url = SITE.site_url + str(path.relative_to(site.site)).removesuffix("index.html")
        for agent in ("*", "Googlebot", "facebookexternalhit", "Twitterbot"):
            assert parser.can_fetch(agent, url), (agent, url)
    # and the share images, which link previews fetch
    for image in site.site.rglob("share.png"):
        assert parser.can_fetch("facebookexternalhit", SITE.site_url + str(image.relative_to(site.site)))
