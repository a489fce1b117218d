"""The built site read by the web's own parsers rather than by our own assumptions:
JSON-LD expanded by pyld (a JSON-LD 1.1 processor), the Atom feeds by feedparser,
robots.txt by the standard library's robots.txt parser."""

from __future__ import annotations

import json
import urllib.robotparser

import feedparser
import pytest
from pyld import jsonld

from kennisbank.siteconfig import load_mkdocs

from support import ARTICLE, ROOT

SITE = load_mkdocs(ROOT / "mkdocs.yml")
SCHEMA = ("http://schema.org/", "https://schema.org/")


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


def test_json_ld_expands_and_names_its_type_and_language(site):
    blocks = _json_ld_blocks(site)
    for lang in SITE.languages:
        assert f"{lang.prefix}{ARTICLE}/index.html" in blocks, f"no JSON-LD on the {lang.locale} article"
    for page, documents in blocks.items():
        for document in documents:
            expanded = jsonld.expand(document, {"documentLoader": _schema_org_loader})
            assert len(expanded) == 1, (page, expanded)
            node = expanded[0]
            types = {t.rsplit("/", 1)[-1] for t in node.get("@type", []) if t.startswith(SCHEMA)}
            assert types & {"Article", "WebPage"}, f"{page}: JSON-LD names no schema.org Article or WebPage: {node.get('@type')}"
            languages = [value["@value"] for key in (s + "inLanguage" for s in SCHEMA) for value in node.get(key, [])]
            assert languages, f"{page}: JSON-LD has no inLanguage"
            lang = site.html(page).html["lang"]
            assert languages == [lang], (page, languages, lang)


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
