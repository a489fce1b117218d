"""The article index and the category pages in pages of 20, per language: on a copy of
the site with 45 synthetic articles (and the real one: 46 in all)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urljoin

import feedparser
import pytest
from lxml import etree

from kennisbank.articles import ArticleError, Pagination, page_count, paginated_list
from kennisbank.translations import front_matter, set_source_hash, source_hash

from support import ARTICLE, ROOT, build, copy_project, start_server

SYNTHETIC = 45
ARTICLES = SYNTHETIC + 1  # and the site's own article
SITE_URL = "http://127.0.0.1:8000/"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _article(locale: str, number: int) -> str:
    title = f"{'Artikel' if locale == 'nl' else 'Article'} {number:02d}"
    category = "outsourcing" if number % 2 else "contractmanagement"
    date = dt.date(2025, 1, 1) + dt.timedelta(days=number)  # number 44 is the newest synthetic one
    return f"---\ntitle: {title}\ndescription: {title}.\ndate: {date}\nauthor: Koos Overbeeke\ncategories: [{category}]\n---\n\n# {title}\n\nTekst {number}.\n"


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("many") / "project")
    folder = project / "docs" / "artikelen"
    for number in range(SYNTHETIC):
        source = _article("nl", number)
        (folder / f"synthetisch-{number}.nl.md").write_text(source, encoding="utf-8")
        (folder / f"synthetisch-{number}.en.md").write_text(set_source_hash(_article("en", number), source_hash(source)), encoding="utf-8")
    result = build(project, env={"SITE_URL": SITE_URL})
    assert result.returncode == 0, result.output
    return result


def _listed(soup) -> list[str]:
    return [a.get_text(strip=True) for a in soup.select(".kb-article__title a")]


@pytest.mark.parametrize("prefix,word", [("", "Artikel"), ("en/", "Article")])
def test_the_index_is_split_into_pages_of_20(many, prefix, word):
    pages = [many.html(f"{prefix}artikelen/"), many.html(f"{prefix}artikelen/page/2/"), many.html(f"{prefix}artikelen/page/3/")]
    assert not (many.site / prefix / "artikelen" / "page" / "4").exists()
    assert not (many.site / prefix / "artikelen" / "page" / "1").exists()  # page 1 is the index itself
    listed = [_listed(page) for page in pages]
    assert [len(titles) for titles in listed] == [20, 20, ARTICLES - 40]
    every = [title for titles in listed for title in titles]
    assert len(set(every)) == ARTICLES  # each article once, newest first across the pages
    synthetic = [title for title in every if title.startswith(word + " ")]
    assert synthetic == sorted(synthetic, reverse=True) and len(synthetic) == SYNTHETIC
    for page in pages:
        assert page.html["lang"] == (prefix.rstrip("/") or "nl")
    # search finds the index once: the further pages repeat its text and list nothing it indexes
    assert [bool(page.select("[data-pagefind-body]")) for page in pages] == [True, False, False]


@pytest.mark.parametrize("prefix", ["", "en/"])
def test_each_page_has_rel_prev_next_and_a_navigation(many, prefix):
    base = f"{SITE_URL}{prefix}artikelen/"
    urls = [base, f"{base}page/2/", f"{base}page/3/"]
    for number, url in enumerate(urls, start=1):
        soup = many.html(url.removeprefix(SITE_URL))
        links = {
            rel: urljoin(url, soup.select_one(f'head link[rel="{rel}"]')["href"]) for rel in ("prev", "next") if soup.select_one(f'head link[rel="{rel}"]')
        }
        assert links.get("prev") == (urls[number - 2] if number > 1 else None), url
        assert links.get("next") == (urls[number] if number < 3 else None), url
        nav = soup.select("nav.kb-pagination")
        assert len(nav) == 1 and nav[0]["aria-label"]
        current = nav[0].select('[aria-current="page"]')
        assert len(current) == 1 and current[0].get_text(strip=True) == str(number)
        assert urljoin(url, current[0]["href"]) == url
        assert [urljoin(url, a["href"]) for a in nav[0].select("a:not([rel])")] == urls
        # the generated pages have titles of their own
        title = soup.title.get_text()
        of = f"pagina {number} van 3" if not prefix else f"page {number} of 3"
        assert (of in title) == (number > 1), title


def test_generated_pages_have_hreflang_alternates_and_are_in_the_sitemap(many):
    soup = many.html("artikelen/page/2/")
    alternates = {link["hreflang"]: link["href"] for link in soup.select('head link[rel="alternate"][hreflang]')}
    assert alternates["nl"] == f"{SITE_URL}artikelen/page/2/"
    assert alternates["en"] == f"{SITE_URL}en/artikelen/page/2/"
    assert soup.select_one('link[rel="canonical"]')["href"] == f"{SITE_URL}artikelen/page/2/"
    switcher = many.html("en/artikelen/page/3/").select_one('.md-select a[hreflang="nl"]')
    assert urljoin(f"{SITE_URL}en/artikelen/page/3/", switcher["href"]) == f"{SITE_URL}artikelen/page/3/"
    located = set()
    for sitemap in many.site.rglob("sitemap.xml"):
        located |= {loc.text for loc in etree.parse(str(sitemap)).iter(f"{SITEMAP}loc")}
    for url in ("artikelen/page/2/", "artikelen/page/3/", "en/artikelen/page/3/", "artikelen/categorie/outsourcing/page/2/"):
        assert SITE_URL + url in located, url


@pytest.mark.parametrize("prefix", ["", "en/"])
def test_category_pages_are_paginated_the_same(many, prefix):
    real = front_matter((ROOT / "docs" / f"{ARTICLE}.nl.md").read_text(encoding="utf-8"))[0]["categories"]
    # odd-numbered synthetic articles are in outsourcing (22), even ones in contractmanagement (23)
    for category, synthetic in (("outsourcing", 22), ("contractmanagement", 23)):
        total = synthetic + (category in real)
        first = many.html(f"{prefix}artikelen/categorie/{category}/")
        second = many.html(f"{prefix}artikelen/categorie/{category}/page/2/")
        assert len(_listed(first)) == 20 and len(_listed(second)) == total - 20
        assert second.select_one('head link[rel="prev"]') is not None and second.select_one('head link[rel="next"]') is None
        assert not (many.site / prefix / "artikelen" / "categorie" / category / "page" / "3").exists()


def test_the_home_page_and_the_feeds_are_unchanged(many):
    assert len(_listed(many.html(""))) == 5  # limit=5: no pages
    assert many.html("").select_one("nav.kb-pagination") is None
    for prefix in ("", "en/"):
        feed = feedparser.parse((many.site / prefix / "feed.xml").read_bytes())
        assert not feed.bozo and len(feed.entries) == ARTICLES


def test_a_short_list_has_no_page_links(site):
    soup = site.html("artikelen/")
    assert soup.select_one("nav.kb-pagination") is None
    assert not (site.site / "artikelen" / "page").exists()


def test_pagination_rules():
    assert [page_count(n, 20) for n in (0, 1, 20, 21, 40, 41)] == [1, 1, 1, 2, 2, 3]
    second = Pagination("en/artikelen/", 2, 3)
    assert (second.previous, second.next, second.url_of(1), second.url_of(3)) == (1, 3, "en/artikelen/", "en/artikelen/page/3/")
    assert list(second.window(list(range(50)), 20)) == list(range(20, 40))
    assert paginated_list("<!-- md:articles per_page=5 -->", "docs/x.md", ["outsourcing"]).per_page == 5
    assert paginated_list("<!-- md:articles limit=5 -->", "docs/x.md", ["outsourcing"]) is None
    with pytest.raises(ArticleError, match=r"docs/x\.md: 2 article lists without limit=.*Fix: "):
        paginated_list("<!-- md:articles -->\n<!-- md:articles category=outsourcing -->", "docs/x.md", ["outsourcing"])
    with pytest.raises(ArticleError, match=r"per_page=0 is not a number above 0"):
        paginated_list("<!-- md:articles per_page=0 -->", "docs/x.md", ["outsourcing"])
    with pytest.raises(ArticleError, match="exclude each other"):
        paginated_list("<!-- md:articles limit=3 per_page=2 -->", "docs/x.md", ["outsourcing"])


@pytest.mark.browser
@pytest.mark.parametrize("prefix", ["", "en/"])
def test_the_page_links_in_chromium_are_accessible(many, browser, tmp_path, prefix):
    from axe_playwright_python.sync_playwright import Axe

    server, base_url = start_server(many.site, tmp_path / "db.sqlite3")
    try:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(f"{base_url}/{prefix}artikelen/page/2/")
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
        assert results.violations_count == 0, results.generate_report()
        page.click(".kb-pagination__next")
        page.wait_for_url(f"**/{prefix}artikelen/page/3/")
        assert page.locator('.kb-pagination [aria-current="page"]').text_content().strip() == "3"
        assert errors == []
        context.close()
    finally:
        server.stop()
