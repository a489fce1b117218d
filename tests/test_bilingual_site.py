"""Both languages are built, each page says its language, and the switcher links
each page to its counterpart."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from support import ARTICLE

PAGES = ["", f"{ARTICLE}/", "over/", "privacy/"]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("locale,prefix", [("nl", ""), ("en", "en/")])
def test_every_page_is_built_in_its_language(site, path, locale, prefix):
    soup = site.html(prefix + path)
    assert soup.html["lang"] == locale
    assert soup.title.get_text(strip=True)
    description = soup.find("meta", attrs={"name": "description"})
    assert description and len(description["content"]) > 50


@pytest.mark.parametrize("path", PAGES)
def test_switcher_links_each_page_to_its_counterpart(site, path):
    for here, there, locale in (("", "en/", "en"), ("en/", "", "nl")):
        soup = site.html(here + path)
        link = soup.select_one(f'.md-select a[hreflang="{locale}"]')
        assert link is not None
        target = urljoin(f"http://site/{here}{path}", link["href"])
        assert target == f"http://site/{there}{path}"


def test_interface_strings_are_in_each_language(site):
    nl = site.html("")
    en = site.html("en/")
    assert nl.select_one(".md-search__input")["placeholder"] == "Zoeken"
    assert en.select_one(".md-search__input")["placeholder"] == "Search"
    assert nl.select_one(".md-header__topic").get_text(strip=True) == "Kennisbank outsourcing & SSC"
    assert en.select_one(".md-header__topic").get_text(strip=True) == "Outsourcing & SSC Knowledge Base"


def test_every_page_has_exactly_one_h1(site):
    checked = 0
    for page in site.pages():
        if page.name == "404.html":
            continue
        soup = site.html(str(page.relative_to(site.site)))
        assert len(soup.select("article h1")) == 1, page
        checked += 1
    assert checked >= 20  # both languages' pages, not a few
