"""Search engines find every page in every language: absolute canonical and hreflang
links, a description, Open Graph and Twitter cards, JSON-LD on articles, sitemaps that
validate, robots.txt, all from site_url. Material's sitemap requests stay quiet."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import http.server
import json
import threading
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from lxml import etree

from kennisbank import seo
from kennisbank.siteconfig import load_mkdocs

from support import ARTICLE, ROOT, build

SITE = load_mkdocs(ROOT / "mkdocs.yml")
LOCALES = list(SITE.locales)
DEFAULT = SITE.default_language.locale
OG_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
NS = {"s": seo.SITEMAP_NS, "x": seo.XHTML_NS}
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("sitemap.xsd"))))


# Reading the built site


def _url(site, file: Path, site_url: str) -> str:
    """The public URL of a built HTML file."""
    relative = file.relative_to(site.site)
    if relative.name == "index.html":
        return site_url + "".join(f"{part}/" for part in relative.parent.parts)
    return site_url + relative.as_posix()


def _pages(site, site_url: str) -> dict[str, BeautifulSoup]:
    """URL -> parsed page, for every built HTML page meant for search engines: not the
    404 pages, not pages marked noindex (the server's result page)."""
    parsed = {_url(site, file, site_url): BeautifulSoup(file.read_text(encoding="utf-8"), "lxml") for file in site.pages() if file.name != "404.html"}
    return {url: soup for url, soup in parsed.items() if not soup.select_one("meta[name=robots][content~=noindex]")}


def test_the_result_page_is_kept_out_of_search_engines_and_sitemaps(site):
    for prefix in ("", "en/"):
        soup = site.html(prefix + "uitslag/")
        assert soup.select_one("meta[name=robots]")["content"] == "noindex"
    sitemap = (site.site / "sitemap.xml").read_text(encoding="utf-8")
    assert "/uitslag/" not in sitemap


def _hreflang(soup) -> dict[str, str]:
    links = soup.head.select("link[rel=alternate][hreflang]")
    found = {link["hreflang"]: link["href"] for link in links}
    assert len(found) == len(links), "an hreflang is listed twice"
    return found


def _meta(soup, key: str) -> list[str]:
    return [tag["content"] for tag in soup.head.find_all("meta", attrs={"property": key})] + [
        tag["content"] for tag in soup.head.find_all("meta", attrs={"name": key})
    ]


def _json_ld(soup) -> list[dict]:
    return [json.loads(script.string) for script in soup.find_all("script", type="application/ld+json")]


def _sitemap(path: Path) -> etree._ElementTree:
    tree = etree.parse(str(path))
    assert SCHEMA.validate(tree), SCHEMA.error_log
    return tree


def _sitemap_urls(tree) -> dict[str, dict[str, str]]:
    """loc -> {hreflang: href} of a parsed sitemap."""
    urls = {}
    for url in tree.getroot().findall("s:url", NS):
        links = url.findall("x:link", NS)
        assert all(link.get("rel") == "alternate" for link in links)
        urls[url.findtext("s:loc", namespaces=NS)] = {link.get("hreflang"): link.get("href") for link in links}
    return urls


@pytest.fixture(scope="module")
def pages(site):
    return _pages(site, SITE.site_url)


# The pages' <head>


def test_every_page_lists_every_language_and_x_default_absolutely(pages):
    assert len(pages) >= 12
    for url, soup in pages.items():
        alternates = _hreflang(soup)
        assert set(alternates) == {*LOCALES, "x-default"}, url
        assert alternates["x-default"] == alternates[DEFAULT], url
        assert alternates[soup.html["lang"]] == url, url
        for target in alternates.values():
            assert target.startswith(SITE.site_url), (url, target)
            assert target in pages, f"{url}: hreflang points at {target}, which is not built"
            # the version it names names this page back
            assert _hreflang(pages[target]) == alternates, (url, target)


def test_material_alternates_are_replaced_not_doubled(pages):
    for url, soup in pages.items():
        relative = [link["href"] for link in soup.head.select("link[rel=alternate][hreflang]") if not link["href"].startswith("http")]
        assert relative == [], url


def test_every_page_has_exactly_one_absolute_canonical(pages):
    for url, soup in pages.items():
        canonicals = soup.head.select('link[rel="canonical"]')
        assert [link["href"] for link in canonicals] == [url]


def test_every_page_has_one_short_description(pages):
    for url, soup in pages.items():
        descriptions = _meta(soup, "description")
        assert len(descriptions) == 1, url
        assert 0 < len(descriptions[0]) <= 200, (url, descriptions[0])


def test_every_page_has_open_graph_and_a_twitter_card(pages):
    for url, soup in pages.items():
        lang = soup.html["lang"]
        assert _meta(soup, "og:url") == [url]
        (title,) = _meta(soup, "og:title")
        assert title and soup.title.get_text().startswith(title), url
        assert _meta(soup, "og:description") == _meta(soup, "description")
        assert _meta(soup, "og:locale") == [OG_LOCALES[lang]]
        assert _meta(soup, "og:locale:alternate") == [OG_LOCALES[code] for code in LOCALES if code != lang]
        assert _meta(soup, "og:site_name") == [SITE.language(lang).site_name]
        # every page has a share image (hooks/share.py): the large card
        assert _meta(soup, "twitter:card") == ["summary_large_image"], url
        (image,) = _meta(soup, "og:image")
        assert image.startswith(SITE.site_url) and image.endswith("/share.png"), (url, image)
        assert (_meta(soup, "og:image:width"), _meta(soup, "og:image:height")) == (["1200"], ["630"]), url
        assert _meta(soup, "og:image:alt")[0].strip(), url
        is_article = f"/{ARTICLE}/" in url
        assert _meta(soup, "og:type") == ["article" if is_article else "website"], url
        if not is_article:
            assert [data["@type"] for data in _json_ld(soup)] in (["WebPage"], ["CollectionPage"], ["AboutPage"]), url


@pytest.mark.parametrize("locale,prefix", [("nl", ""), ("en", "en/")])
def test_articles_carry_json_ld_linking_their_translations(pages, site, locale, prefix):
    url = SITE.site_url + prefix + ARTICLE + "/"
    soup = pages[url]
    raw = soup.find("script", type="application/ld+json").string
    assert "<" not in raw and ">" not in raw
    (data,) = _json_ld(soup)
    assert data["@context"] == "https://schema.org" and data["@type"] == "Article"
    assert data["inLanguage"] == locale
    assert data["url"] == url and data["mainEntityOfPage"]["@id"] == url
    assert data["headline"] == _meta(soup, "og:title")[0]
    assert data["author"] == {"@type": "Person", "name": "Koos Overbeeke"}
    published = dt.date.fromisoformat(data["datePublished"])
    assert dt.date.fromisoformat(data["dateModified"]) >= published
    assert _meta(soup, "article:published_time") == [data["datePublished"]]
    other = SITE.site_url + ("en/" if locale == "nl" else "") + ARTICLE + "/"
    if locale == DEFAULT:
        assert [(work["url"], work["inLanguage"]) for work in data["workTranslation"]] == [(other, "en")]
        assert "translationOfWork" not in data
    else:
        assert (data["translationOfWork"]["url"], data["translationOfWork"]["inLanguage"]) == (other, "nl")
        assert "workTranslation" not in data
    assert other in pages


# Sitemaps and robots.txt


def test_the_sitemap_lists_every_page_with_its_alternates(site, pages):
    tree = _sitemap(site.site / "sitemap.xml")
    urls = _sitemap_urls(tree)
    assert set(urls) == set(pages)
    for loc, alternates in urls.items():
        assert alternates == _hreflang(pages[loc]), loc
    # lastmod only where a date is known: an article's last modification
    lastmods = {url.findtext("s:loc", namespaces=NS): url.findtext("s:lastmod", namespaces=NS) for url in tree.getroot()}
    for prefix in ("", "en/"):
        article = SITE.site_url + prefix + ARTICLE + "/"
        assert lastmods.pop(article) == _json_ld(pages[article])[0]["dateModified"]
    assert not any(f"/{ARTICLE}/" not in loc and lastmod for loc, lastmod in lastmods.items())


def test_each_language_root_has_a_sitemap_of_its_own_pages(site, pages):
    for lang in SITE.languages:
        if lang.default:
            continue
        urls = _sitemap_urls(_sitemap(site.site / lang.prefix / "sitemap.xml"))
        root = SITE.site_url + lang.prefix
        assert set(urls) == {url for url in pages if url.startswith(root)}
        assert all(alternates == _hreflang(pages[loc]) for loc, alternates in urls.items())


def test_no_stale_compressed_sitemap(site):
    # MkDocs' own sitemap.xml.gz is off; the only one is the build's gzip copy of ours
    assert gzip.decompress((site.site / "sitemap.xml.gz").read_bytes()) == (site.site / "sitemap.xml").read_bytes()


def test_robots_txt_allows_everything_and_names_the_sitemap(site):
    lines = (site.site / "robots.txt").read_text(encoding="utf-8").splitlines()
    assert "User-agent: *" in lines
    assert "Disallow: /" not in lines
    assert f"Sitemap: {SITE.site_url}sitemap.xml" in lines


# site_url


def test_every_absolute_url_follows_site_url(project, monkeypatch):
    base = "https://example.org/kennisbank/"
    monkeypatch.setenv("SITE_URL", base)
    result = build(project)
    assert result.returncode == 0, result.output
    pages = _pages(result, base)
    found = []
    for _url, soup in pages.items():
        found += [link["href"] for link in soup.head.select("link[rel=canonical], link[rel=alternate][hreflang]")]
        found += _meta(soup, "og:url")
        for data in _json_ld(soup):
            found += [data["url"], data["@id"], data["isPartOf"]["url"]]
            found += [data["mainEntityOfPage"]["@id"]] if "mainEntityOfPage" in data else [data["isPartOf"]["@id"]]
            found += [work["url"] for work in data.get("workTranslation", [])]
            found += [data["translationOfWork"]["url"]] if "translationOfWork" in data else []
    for sitemap in (result.site / "sitemap.xml", result.site / "en" / "sitemap.xml"):
        for loc, alternates in _sitemap_urls(_sitemap(sitemap)).items():
            found += [loc, *alternates.values()]
    robots = (result.site / "robots.txt").read_text(encoding="utf-8")
    found += [line.split(": ", 1)[1] for line in robots.splitlines() if line.startswith("Sitemap:")]
    assert len(found) > 4 * len(pages)
    assert [url for url in found if not url.startswith(base)] == []
    for prefix in ("", "en/"):
        soup = result.html(prefix + "404.html")
        homes = {a["hreflang"]: a["href"] for a in soup.select("article a[hreflang]")}
        assert homes == {"nl": "/kennisbank/", "en": "/kennisbank/en/"}


# Material's sitemap requests


def _serve(directory: Path, port: int = 0):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _visit(browser, base: str, paths: list[str]) -> dict[str, tuple[list, list]]:
    """Path -> (sitemap responses or failures, console errors)."""
    seen = {}
    for path in paths:
        page = browser.new_page()
        requests, errors = [], []
        page.on("console", lambda message, errors=errors: message.type == "error" and errors.append(message.text))
        page.on("requestfailed", lambda request, requests=requests: requests.append(("failed", request.url)))
        page.on("response", lambda response, requests=requests: "sitemap" in response.url and requests.append((response.status, response.url)))
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        seen[path] = (requests, errors)
        page.close()
    return seen


SUBPAGES = ["over/", "en/over/", f"{ARTICLE}/", f"en/{ARTICLE}/"]


@pytest.mark.browser
def test_material_asks_for_no_sitemap(browser, project, monkeypatch):
    # the server holds its port from the start (it serves the folder the build will
    # write), so the site is built for exactly the address it is visited at
    server = _serve(project / "site")
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv("SITE_URL", base)
    result = build(project)
    assert result.returncode == 0, result.output
    try:
        seen = _visit(browser, base, ["", "en/", *SUBPAGES])
    finally:
        server.shutdown()
        server.server_close()
    # the switcher links each page's counterpart itself; Material's sitemap-based
    # redirection of those clicks would cost every page view a request
    for path in ("", "en/", *SUBPAGES):
        assert seen[path] == ([], []), path


@pytest.mark.browser
def test_a_preview_on_another_address_asks_the_public_host_for_nothing(browser, site):
    server = _serve(site.site)
    try:
        seen = _visit(browser, f"http://127.0.0.1:{server.server_address[1]}/", ["", "en/", *SUBPAGES])
    finally:
        server.shutdown()
        server.server_close()
    assert all(found == ([], []) for found in seen.values()), seen


# kennisbank.seo on its own


def test_trim_cuts_at_a_word_boundary():
    assert seo.trim("  short   text ") == "short text"
    text = "Een leverancier die elke maand een vast bedrag krijgt " * 5
    trimmed = seo.trim(text, 60)
    assert len(trimmed) <= 60 and trimmed.endswith("…")
    assert (trimmed[:-1] + " ") in (" ".join(text.split()) + " ")
    assert seo.trim("x" * 80, 20) == "x" * 19 + "…"


def test_first_paragraph_skips_admonition_titles_and_empty_paragraphs():
    html = (
        '<h1 id="t">Titel<a class="headerlink" href="#t">#</a></h1><p> </p>'
        '<div class="admonition note"><p class="admonition-title">Let op</p><p>Wij &amp; <em>jullie</em>\nsamen.</p></div>'
        "<p>Tweede.</p>"
    )
    assert seo.first_paragraph(html) == "Wij & jullie samen."
    assert seo.first_paragraph("<h1>Alleen een kop</h1>") == ""


def test_describe_prefers_front_matter_then_paragraph_then_site():
    assert seo.describe("Uit de front matter.", "<p>Alinea.</p>", "Site.") == "Uit de front matter."
    assert seo.describe(None, "<p>Alinea.</p>", "Site.") == "Alinea."
    assert seo.describe("", "<h2>Kop</h2>", "Site.") == "Site."
    assert len(seo.describe(None, "<p>" + "woord " * 100 + "</p>", "")) <= seo.DESCRIPTION_LENGTH


def test_json_script_cannot_close_its_element():
    hostile = {"headline": "</script><script>alert(1)</script><!-- & -->"}
    text = seo.json_script(hostile)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == hostile


def test_urls_are_built_from_site_url():
    assert seo.absolute("https://example.org/kb/", "./") == "https://example.org/kb/"
    assert seo.absolute("https://example.org/kb", "en/over/") == "https://example.org/kb/en/over/"
    assert seo.root_path("https://example.org/kb/", "en/") == "/kb/en/"
    assert seo.root_path("http://127.0.0.1:8000/") == "/"
    with pytest.raises(seo.SeoError):
        seo.absolute("", "over/")


def test_hreflang_alternates_follow_the_language_order_then_x_default():
    versions = {"en": "https://e.org/en/a/", "nl": "https://e.org/a/"}
    assert seo.hreflang_alternates(versions, ["nl", "en"], "nl") == (
        seo.Alternate("nl", "https://e.org/a/"),
        seo.Alternate("en", "https://e.org/en/a/"),
        seo.Alternate("x-default", "https://e.org/a/"),
    )
    assert seo.hreflang_alternates({"en": "https://e.org/en/a/"}, ["nl", "en"], "nl") == (seo.Alternate("en", "https://e.org/en/a/"),)


def test_article_json_ld_links_original_and_translation():
    common = {
        "title": "T",
        "description": "D",
        "author": "A",
        "published": dt.date(2026, 1, 2),
        "modified": None,
        "site_name": "S",
        "home_url": "https://e.org/",
    }
    original = seo.article_json_ld(url="https://e.org/a/", language="nl", translations=[seo.Alternate("en", "https://e.org/en/a/")], **common)
    assert original["workTranslation"][0]["url"] == "https://e.org/en/a/" and original["dateModified"] == "2026-01-02"
    translation = seo.article_json_ld(url="https://e.org/en/a/", language="en", original=seo.Alternate("nl", "https://e.org/a/"), **common)
    assert translation["translationOfWork"]["@id"] == original["@id"]


def test_sitemap_xml_is_valid_and_escapes_urls():
    entries = [
        seo.SitemapEntry("https://e.org/a/?x=1&y=2", (seo.Alternate("nl", "https://e.org/a/?x=1&y=2"),), dt.date(2026, 1, 2)),
        seo.SitemapEntry("https://e.org/en/a/", ()),
    ]
    tree = etree.ElementTree(etree.fromstring(seo.sitemap_xml(entries)))
    assert SCHEMA.validate(tree), SCHEMA.error_log
    assert list(_sitemap_urls(tree)) == ["https://e.org/a/?x=1&y=2", "https://e.org/en/a/"]


def test_not_found_texts_come_from_site_strings():
    homes = [("nl", "/"), ("en", "/en/")]
    strings = {
        "not_found_title": {"en": "Lost?", "nl": "Kwijt?"},
        "not_found_text": {"en": "Gone.", "nl": "Weg."},
        "not_found_home": {"en": "English home", "nl": "Nederlandse start"},
    }
    page = seo.not_found("en", homes, strings)
    assert (page.title, page.text) == ("Lost?", "Gone.")
    # the page's own language first, each home link in its own language
    assert [(home.locale, home.url, home.label) for home in page.homes] == [
        ("en", "/en/", "English home"),
        ("nl", "/", "Nederlandse start"),
    ]
