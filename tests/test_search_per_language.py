"""Search finds pages in the reader's language only, with that language's stemmer."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("prefix,lang", [("", "nl"), ("en/", "en")])
def test_each_language_root_has_its_own_index(site, prefix, lang):
    index = json.loads((site.site / prefix / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert index["config"]["lang"] == [lang]
    locations = [doc["location"] for doc in index["docs"]]
    assert locations and not any(location.startswith("en/") for location in locations)
    titles = " ".join(doc["title"] for doc in index["docs"])
    assert ("Privacyverklaring" in titles) == (lang == "nl")
    assert ("Privacy statement" in titles) == (lang == "en")


@pytest.mark.parametrize("prefix", ["", "en/"])
def test_search_in_chromium_returns_only_the_readers_language(page, base_url, prefix, console_errors):
    page.goto(f"{base_url}/{prefix}")
    page.click("input.md-search__input")
    page.keyboard.type("contract")
    page.wait_for_selector(".md-search-result__item")
    hrefs = page.eval_on_selector_all(".md-search-result__link", "links => links.map(a => a.href)")
    assert hrefs
    paths = [urlparse(href).path for href in hrefs]
    if prefix:
        assert all(path.startswith("/en/") for path in paths), paths
    else:
        assert not any(path.startswith("/en/") for path in paths), paths
    assert console_errors == []


def test_the_index_is_fetched_only_when_the_reader_starts_to_search(page, base_url):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base_url}/en/")
    page.wait_for_load_state("networkidle")
    assert not any(url.endswith("/search/search_index.json") for url in requested)
    page.click("input.md-search__input")
    page.keyboard.type("privacy")
    page.wait_for_selector(".md-search-result__item")
    assert f"{base_url}/en/search/search_index.json" in requested
