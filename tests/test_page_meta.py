"""What a page's <head> says and whether it is in the sitemap, decided by
kennisbank.seo.page_meta from plain facts, without a build."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

from lxml import etree

from kennisbank import seo
from kennisbank.siteconfig import Language, SiteConfig

BASE = "https://example.org/kb/"
SITE = SiteConfig(
    site_url=BASE,
    site_name="Kennisbank",
    languages=(
        Language("nl", "Nederlands", True, "Kennisbank", "Over outsourcing.", "nl_NL"),
        Language("en", "English", False, "Knowledge base", "On outsourcing.", "en_GB"),
    ),
    categories={"outsourcing": {"nl": "Uitbesteding", "en": "Outsourcing"}},
    strings={
        "not_found_title": {"nl": "Weg", "en": "Gone"},
        "not_found_text": {"nl": "Niet hier.", "en": "Not here."},
        "not_found_home": {"nl": "Naar huis", "en": "Go home"},
    },
)
ARTICLE = {"title": "T", "description": "D", "author": "A", "date": dt.date(2026, 11, 26), "categories": ["outsourcing"]}


def _facts(page: str, locale: str, written_in: str, translated: bool = True, meta: dict | None = None, **more) -> seo.PageFacts:
    """Page ``page`` (``over``, ``artikelen/a``) in ``locale``'s build, from a file in
    ``written_in``; ``translated`` says whether the en version is a real translation."""
    prefix = {"nl": "", "en": "en/"}
    versions = {
        "nl": seo.Version(f"{page}/", "nl"),
        "en": seo.Version(f"en/{page}/", "en" if translated else "nl"),
    }
    return seo.PageFacts(
        src_uri=f"{page}.{written_in}.md",
        url=f"{prefix[locale]}{page}/",
        locale=locale,
        written_in=written_in,
        versions=versions,
        meta=meta if meta is not None else {"title": "Over", "description": "Wie wij zijn."},
        **more,
    )


def _hreflang(meta: seo.PageMeta) -> dict[str, str]:
    return {alternate.hreflang: alternate.url for alternate in meta.alternates}


# Canonical and alternates


def test_a_translated_page_is_canonical_lists_every_language_and_is_in_the_sitemap():
    meta, entry = seo.page_meta(_facts("over", "en", "en"), SITE)
    assert meta.canonical == meta.og.url == BASE + "en/over/"
    assert _hreflang(meta) == {"nl": BASE + "over/", "en": BASE + "en/over/", "x-default": BASE + "over/"}
    assert entry == seo.SitemapEntry(BASE + "en/over/", meta.alternates, None)
    assert meta.og.locale == "en_GB" and meta.og.locale_alternates == ("nl_NL",)


def test_a_fallback_copy_points_at_its_original_with_no_alternates_and_no_sitemap_entry():
    meta, entry = seo.page_meta(_facts("nieuw", "en", "nl", translated=False), SITE)
    assert meta.canonical == meta.og.url == BASE + "nieuw/"
    assert meta.alternates == ()
    assert entry is None
    assert meta.og.locale == "nl_NL"  # the language it is written in, not the site's it is shown in
    assert meta.og.locale_alternates == ()


def test_the_original_of_an_untranslated_page_names_no_fallback_as_its_version():
    meta, entry = seo.page_meta(_facts("nieuw", "nl", "nl", translated=False), SITE)
    assert meta.canonical == BASE + "nieuw/"
    assert _hreflang(meta) == {"nl": BASE + "nieuw/", "x-default": BASE + "nieuw/"}
    assert entry is not None and entry.alternates == meta.alternates
    assert meta.og.locale_alternates == ()


def test_versions_of_languages_the_site_does_not_build_are_left_out():
    facts = _facts("over", "nl", "nl")
    meta, _ = seo.page_meta(replace(facts, versions={**facts.versions, "de": seo.Version("de/over/", "de")}), SITE)
    assert set(_hreflang(meta)) == {"nl", "en", "x-default"}


def test_noindex_pages_say_so_and_stay_out_of_the_sitemap():
    meta, entry = seo.page_meta(_facts("uitslag", "nl", "nl", meta={"title": "Uitslag", "robots": "noindex"}), SITE)
    assert meta.noindex
    assert entry is None
    indexed, entry = seo.page_meta(_facts("uitslag", "nl", "nl", meta={"title": "Uitslag", "robots": "index"}), SITE)
    assert not indexed.noindex and entry is not None


# Descriptions and titles


def test_description_and_title_fall_back_to_the_page_then_the_language_site():
    meta, _ = seo.page_meta(_facts("over", "en", "en", meta={}, content="<h1>About</h1><p>Who we are.</p>", title="About"), SITE)
    assert (meta.description, meta.og.title) == ("Who we are.", "About")
    meta, _ = seo.page_meta(_facts("over", "en", "en", meta={}), SITE)
    assert (meta.description, meta.og.title, meta.og.site_name) == ("On outsourcing.", "Knowledge base", "Knowledge base")


# Articles


def test_an_article_has_its_dates_in_open_graph_and_the_sitemap():
    meta, entry = seo.page_meta(_facts("artikelen/a", "nl", "nl", meta={**ARTICLE, "updated": dt.date(2026, 12, 10)}), SITE)
    assert meta.og.type == "article"
    assert (meta.og.published, meta.og.modified) == ("2026-11-26", "2026-12-10")
    assert entry.lastmod == dt.date(2026, 12, 10)
    meta, entry = seo.page_meta(_facts("artikelen/a", "nl", "nl", meta=ARTICLE), SITE)
    assert meta.og.modified == "2026-11-26" and entry.lastmod == dt.date(2026, 11, 26)


def test_only_articles_with_a_date_are_articles():
    for page, meta in [
        ("over", ARTICLE),  # not under artikelen/
        ("artikelen/index", ARTICLE),  # the article index
        ("artikelen/a", {**ARTICLE, "date": "26 november"}),  # not a date
    ]:
        found, entry = seo.page_meta(_facts(page, "nl", "nl", meta=meta), SITE)
        assert found.og.type == "website", page
        assert found.og.published is None and json.loads(found.json_ld)["@type"] != "Article", page
        assert entry.lastmod is None, page


def test_an_original_article_lists_its_translations_in_json_ld():
    meta, _ = seo.page_meta(_facts("artikelen/a", "nl", "nl", meta=ARTICLE), SITE)
    data = json.loads(meta.json_ld)
    assert (data["url"], data["inLanguage"], data["articleSection"]) == (BASE + "artikelen/a/", "nl", ["Uitbesteding"])
    assert [(work["url"], work["inLanguage"]) for work in data["workTranslation"]] == [(BASE + "en/artikelen/a/", "en")]
    assert "translationOfWork" not in data
    assert data["isPartOf"]["url"] == BASE


def test_a_translated_article_names_its_original_in_json_ld():
    meta, _ = seo.page_meta(_facts("artikelen/a", "en", "en", meta=ARTICLE), SITE)
    data = json.loads(meta.json_ld)
    assert (data["url"], data["inLanguage"], data["articleSection"]) == (BASE + "en/artikelen/a/", "en", ["Outsourcing"])
    assert (data["translationOfWork"]["url"], data["translationOfWork"]["inLanguage"]) == (BASE + "artikelen/a/", "nl")
    assert "workTranslation" not in data
    assert data["isPartOf"]["url"] == BASE + "en/"


def test_an_untranslated_article_lists_no_translation_and_its_copy_points_at_it():
    original, _ = seo.page_meta(_facts("artikelen/a", "nl", "nl", translated=False, meta=ARTICLE), SITE)
    assert "workTranslation" not in json.loads(original.json_ld)
    copy, entry = seo.page_meta(_facts("artikelen/a", "en", "nl", translated=False, meta=ARTICLE), SITE)
    data = json.loads(copy.json_ld)
    assert data["url"] == BASE + "artikelen/a/" and data["inLanguage"] == "nl"
    assert "workTranslation" not in data and "translationOfWork" not in data
    assert entry is None


# The 404 page


def test_the_not_found_page_is_noindex_and_leads_to_every_home():
    page, meta = seo.not_found_page(SITE, "en")
    assert meta.noindex and meta.description == "On outsourcing."
    assert meta.canonical is None and meta.alternates == ()
    assert (page.title, page.text) == ("Gone", "Not here.")
    assert [(home.locale, home.url, home.label) for home in page.homes] == [("en", "/kb/en/", "Go home"), ("nl", "/kb/", "Naar huis")]


# The files written once every language is built


def test_site_files_hold_every_languages_sitemap_robots_and_404_pages():
    entries = {"en": [seo.page_meta(_facts("over", "en", "en"), SITE)[1]], "nl": [seo.page_meta(_facts("over", "nl", "nl"), SITE)[1]]}
    files = seo.site_files(SITE, entries, {"nl": "<p>weg</p>", "en": "<p>gone</p>"})
    assert set(files) == {"sitemap.xml", "en/sitemap.xml", "robots.txt", "404.html", "en/404.html"}
    assert files["robots.txt"].decode().splitlines()[-1] == f"Sitemap: {BASE}sitemap.xml"
    assert (files["404.html"], files["en/404.html"]) == (b"<p>weg</p>", b"<p>gone</p>")

    def locs(name):
        return [loc.text for loc in etree.fromstring(files[name]).iter(f"{{{seo.SITEMAP_NS}}}loc")]

    assert locs("sitemap.xml") == [BASE + "over/", BASE + "en/over/"]  # the default language first
    assert locs("en/sitemap.xml") == [BASE + "en/over/"]


# JSON-LD of pages that are not articles


def _json_ld(meta: seo.PageMeta) -> dict:
    assert meta.json_ld is not None, "no JSON-LD"
    return json.loads(meta.json_ld)


def test_a_page_that_is_not_an_article_is_a_web_page_of_its_language_published_by_the_publisher():
    meta, _ = seo.page_meta(_facts("voorbeeldclausules", "en", "en", meta={"title": "Sample clauses"}), SITE, "Voorbeeld Advies B.V.")
    data = _json_ld(meta)
    assert data["@type"] == "WebPage"
    assert (data["name"], data["inLanguage"], data["url"]) == ("Sample clauses", "en", BASE + "en/voorbeeldclausules/")
    assert data["isPartOf"] == {"@type": "WebSite", "@id": BASE + "en/#website", "name": "Knowledge base", "url": BASE + "en/", "inLanguage": "en"}
    assert data["publisher"] == {"@type": "Organization", "name": "Voorbeeld Advies B.V."}


def test_lists_of_articles_are_collection_pages_and_the_about_page_an_about_page():
    types = {
        page: _json_ld(seo.page_meta(_facts(page, "nl", "nl"), SITE)[0])["@type"]
        for page in ("artikelen/index", "artikelen/categorie/outsourcing", "over", "privacy")
    }
    assert types == {"artikelen/index": "CollectionPage", "artikelen/categorie/outsourcing": "CollectionPage", "over": "AboutPage", "privacy": "WebPage"}


def test_front_matter_chooses_a_page_type_and_an_unknown_one_is_refused():
    chosen, _ = seo.page_meta(_facts("over", "nl", "nl", meta={"title": "Contact", "schema_type": "ContactPage"}), SITE)
    assert _json_ld(chosen)["@type"] == "ContactPage"
    try:
        seo.page_meta(_facts("over", "nl", "nl", meta={"title": "Over", "schema_type": "Blog"}), SITE)
    except seo.SeoError as exc:
        assert "schema_type: 'Blog'" in str(exc) and "Fix: use one of WebPage" in str(exc)
    else:
        raise AssertionError("schema_type: Blog was accepted")


def test_an_article_stays_an_article():
    meta, _ = seo.page_meta(_facts("artikelen/a", "nl", "nl", meta=ARTICLE), SITE, "Voorbeeld Advies B.V.")
    assert _json_ld(meta)["@type"] == "Article"
