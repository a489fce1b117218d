"""A missing address gets a 404 page in the reader's language: ``404.html`` (Dutch,
served for anything outside /en/) and ``en/404.html``, each in the site's look,
each with a way to every language's home, and neither indexed."""

from __future__ import annotations

import pytest

from kennisbank.seo import root_path
from kennisbank.siteconfig import load_mkdocs

from support import ROOT

SITE = load_mkdocs(ROOT / "mkdocs.yml")
HOMES = {lang.locale: root_path(SITE.site_url, lang.prefix) for lang in SITE.languages}
PAGES = [("nl", "404.html"), ("en", "en/404.html")]


@pytest.mark.parametrize("locale,path", PAGES)
def test_each_language_has_its_own_404_page(site, locale, path):
    soup = site.html(path)
    assert soup.html["lang"] == locale
    assert soup.select_one(".md-header") is not None, "the site's header is missing"
    assert soup.select_one(".md-header__topic").get_text(strip=True) == SITE.language(locale).site_name
    assert len(soup.select("article h1")) == 1


@pytest.mark.parametrize("locale,path", PAGES)
def test_a_404_page_works_at_any_depth(site, locale, path):
    """Served for /a/b/c/, so its stylesheets, scripts and links may not be relative."""
    soup = site.html(path)
    assets = [link["href"] for link in soup.select("link[rel=stylesheet]")] + [s["src"] for s in soup.select("script[src]")]
    assert any(href.endswith("site.css") for href in assets)
    assert [href for href in assets if not href.startswith("/")] == []
    switcher = {a["hreflang"]: a["href"] for a in soup.select(".md-select__link")}
    assert switcher == HOMES


@pytest.mark.parametrize("locale,path", PAGES)
def test_a_404_page_offers_every_languages_home_in_that_language(site, locale, path):
    soup = site.html(path)
    links = soup.select("article a[hreflang]")
    assert {a["hreflang"]: a["href"] for a in links} == HOMES
    assert links[0]["hreflang"] == locale, "the page's own language comes first"
    for link in links:
        assert link.find_parent(attrs={"lang": True})["lang"] == link["hreflang"]
        assert link.get_text(strip=True)


def test_the_404_pages_speak_different_languages(site):
    titles = {path: site.html(path).select_one("article h1").get_text(strip=True) for _, path in PAGES}
    assert len(set(titles.values())) == len(PAGES), titles


@pytest.mark.parametrize("locale,path", PAGES)
def test_a_404_page_is_not_indexed(site, locale, path):
    head = site.html(path).head
    assert head.find("meta", attrs={"name": "robots"})["content"] == "noindex"
    assert head.select('link[rel="canonical"]') == []
    assert head.select("link[rel=alternate][hreflang]") == []
    assert head.find("script", type="application/ld+json") is None


@pytest.mark.parametrize("locale,path", PAGES)
def test_a_404_page_offers_nothing_to_share(site, locale, path):
    """A 404 page is served for any missing address: no link preview should show it as
    a page of the site, so it has no Open Graph, no Twitter card and no share image."""
    head = site.html(path).head
    assert head.select('meta[property^="og:"], meta[property^="article:"]') == []
    assert head.select('meta[name^="twitter:"]') == []
    assert head.select('link[rel="canonical"]') == []
