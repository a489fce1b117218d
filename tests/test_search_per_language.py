"""Search (Pagefind in Material's search box) finds pages in the reader's language
only, stemmed by that language, by keyboard, without console or CSP errors."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kennisbank.search import EXCLUDE, build_index, mark_body

from support import ARTICLE, AXE_TAGS

pytestmark = pytest.mark.browser

RESULT = ".md-search-result__link"
#: the status line once results are shown (extra.strings.search_none/one/other)
FOUND = re.compile(r"\d|Geen|No ")


def _watch_csp(page) -> list[str]:
    """CSP violations the page reports (Chromium also logs them as console errors)."""
    violations: list[str] = []
    page.expose_function("kbViolation", lambda text: violations.append(text))
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => window.kbViolation(e.violatedDirective + ' ' + e.blockedURI))")
    return violations


def _search(page, query: str) -> list[str]:
    """Type ``query`` into the header's search box; the paths of the results shown."""
    page.keyboard.press("/")
    page.keyboard.type(query)
    expect(page.locator("#kb-search-status")).to_have_text(FOUND)
    return [urlparse(href).path for href in page.eval_on_selector_all(RESULT, "links => links.map(a => a.href)")]


def test_every_language_has_its_own_index_of_its_pages(site):
    entry = json.loads((site.site / "pagefind" / "pagefind-entry.json").read_text(encoding="utf-8"))
    pages = {code: data["page_count"] for code, data in entry["languages"].items()}
    assert set(pages) == {"nl", "en"}
    assert pages["nl"] == pages["en"] > 3  # every page in both, the form's result page and 404s not at all
    # the lunr search is gone: its index, its worker's configuration, its plugin
    assert not (site.site / "search" / "search_index.json").exists()
    assert not (site.site / "pagefind" / "pagefind-ui.js").exists()  # Pagefind's own UI is not used


def test_only_the_article_content_is_indexed(site):
    article = site.html(f"{ARTICLE}/index.html")
    body = article.select("[data-pagefind-body]")
    assert len(body) == 1 and body[0].name == "article"
    assert body[0].select_one("form") is not None and "form" in EXCLUDE  # the self-assessment is in it, left out
    assert not site.html("uitslag/index.html").select("[data-pagefind-body]")
    assert not site.html("404.html").select("[data-pagefind-body]")
    # what the index holds of the pages (Pagefind's fragments: gzip of its JSON)
    indexed = "\n".join(gzip.decompress(f.read_bytes()).decode("utf-8", "replace") for f in (site.site / "pagefind" / "fragment").iterdir())
    assert "leverancier" in indexed and "Privacyverklaring" in indexed
    for left_out in ("Waarover gaat het?", "What is it about?", "Verstuur"):  # the contact form's text
        assert left_out in site.html("over/index.html").text + site.html("en/over/index.html").text
        assert left_out not in indexed, left_out
    assert "data-pagefind-body" not in mark_body('<article class="other">')
    assert mark_body('<article class="md-content__inner md-typeset">x').count("data-pagefind-body") == 1


def test_a_dutch_query_finds_the_article_by_its_stem(page, base_url, console_errors):
    violations = _watch_csp(page)
    page.goto(f"{base_url}/")
    paths = _search(page, "leveranciers")  # the article says "leverancier"
    assert f"/{ARTICLE}/" in paths
    assert not any(path.startswith("/en/") for path in paths), paths
    title = page.text_content(f"{RESULT} h1")
    assert title and page.query_selector(".md-search-result__teaser mark") is not None
    assert console_errors == [] and violations == []


@pytest.mark.parametrize("query", ["contract", "leverancier", "privacy"])
def test_an_english_query_never_returns_a_dutch_page(page, base_url, console_errors, query):
    violations = _watch_csp(page)
    page.goto(f"{base_url}/en/")
    paths = _search(page, query)
    assert all(path.startswith("/en/") for path in paths), paths
    if query != "leverancier":
        assert paths  # the English pages do say contract and privacy
    assert console_errors == [] and violations == []


def test_the_status_announces_the_count_in_the_pages_language(page, base_url):
    page.goto(f"{base_url}/en/")
    _search(page, "privacy")
    status = page.locator("#kb-search-status")
    assert status.get_attribute("role") == "status"
    count = page.locator(RESULT).count()
    assert status.text_content().strip() in {"1 page found", f"{count} pages found"}
    page.keyboard.press("Control+A")
    page.keyboard.type("zzzqqqxxy")
    expect(page.locator("#kb-search-status")).to_have_text("No pages found")
    assert page.locator(RESULT).count() == 0


def test_search_by_keyboard_only(page, base_url, console_errors):
    page.goto(f"{base_url}/")
    paths = _search(page, "contract")
    assert len(paths) >= 2
    assert page.evaluate("document.getElementById('__search').checked")
    links = page.locator(RESULT)
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.href") == links.nth(0).evaluate("a => a.href")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.href") == links.nth(1).evaluate("a => a.href")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.classList.contains('md-search__input')")
    page.keyboard.press("Tab")  # Tab moves on too, to the results (the reset button is skipped like Material's)
    assert page.evaluate("document.activeElement.classList.contains('md-search-result__link')")
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('__search').checked")
    assert page.evaluate("document.activeElement.classList.contains('md-search__input')")
    page.keyboard.press("Enter")  # Enter in the box opens the first result
    page.wait_for_url(f"**{paths[0]}")
    assert console_errors == []


@pytest.mark.parametrize("prefix,query", [("", "leverancier"), ("en/", "provider")])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_axe_violations_with_the_results_open(page, base_url, prefix, query, scheme, console_errors):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{base_url}/{prefix}")
    assert _search(page, query)
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    assert results.violations_count == 0, results.generate_report()
    assert console_errors == []


def test_a_reader_who_never_searches_loads_no_index(page, base_url):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base_url}/en/")
    page.wait_for_load_state("networkidle")
    assert not any("/pagefind/" in url for url in requested)
    _search(page, "privacy")
    assert f"{base_url}/pagefind/pagefind.js" in requested
    assert any(url.startswith(f"{base_url}/pagefind/") and ".en_" in url for url in requested)  # English index only
    assert not any(url.startswith(f"{base_url}/pagefind/") and ".nl_" in url for url in requested)


def test_the_index_entry_is_the_same_bytes_on_every_build(site, tmp_path):
    # Pagefind writes its languages in a hash map's order, different from run to run: the
    # parallel build's byte-for-byte test failed on it in CI. Four runs: all alike, sorted.
    copy = tmp_path / "site"
    shutil.copytree(site.site, copy, ignore=shutil.ignore_patterns("pagefind"))
    entries = []
    for _ in range(4):
        build_index(copy)
        entries.append((copy / "pagefind" / "pagefind-entry.json").read_bytes())
    assert len(set(entries)) == 1
    languages = list(json.loads(entries[0])["languages"])
    assert languages == sorted(languages) == ["en", "nl"]
