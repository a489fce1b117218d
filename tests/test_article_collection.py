"""Articles as a collection: index per language, category pages, bylines, drafts,
and front matter that the templates need."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urljoin

import pytest

from support import ARTICLE, build
from kennisbank.articles import article_from, count_words, front_matter_problems, long_date


def _articles(soup):
    return soup.select("ol.kb-articles > li.kb-article")


@pytest.mark.parametrize("prefix,date", [("", "26 november 2026"), ("en/", "26 November 2026")])
def test_the_article_index_lists_articles_with_their_facts(site, prefix, date):
    soup = site.html(f"{prefix}artikelen/")
    items = _articles(soup)
    assert len(items) == 1
    item = items[0]
    link = item.select_one(".kb-article__title a")
    assert urljoin(f"http://site/{prefix}artikelen/", link["href"]) == f"http://site/{prefix}{ARTICLE}/"
    meta = item.select_one(".kb-article__meta").get_text(" ", strip=True)
    assert date in meta
    assert "Koos Overbeeke" in meta
    assert "min" in meta
    assert item.select_one(".kb-article__summary").get_text(strip=True)
    assert item.select_one("time")["datetime"] == "2026-11-26"


def test_category_names_and_pages_are_per_language(site):
    nl = site.html("artikelen/categorie/contractmanagement/")
    en = site.html("en/artikelen/categorie/contractmanagement/")
    assert nl.html["lang"] == "nl" and en.html["lang"] == "en"
    assert nl.h1.find(string=True, recursive=False).strip() == "Artikelen over Contractmanagement"
    assert en.h1.find(string=True, recursive=False).strip() == "Articles on Contract management"
    assert len(_articles(nl)) == 1 and len(_articles(en)) == 1
    # the switcher links the category page to its counterpart
    link = en.select_one('.md-select a[hreflang="nl"]')
    assert urljoin("http://site/en/artikelen/categorie/contractmanagement/", link["href"]) == "http://site/artikelen/categorie/contractmanagement/"


def test_every_article_has_an_author_line_in_its_language(site):
    nl = site.html(f"{ARTICLE}/").select_one("article .kb-byline").get_text(" ", strip=True)
    en = site.html(f"en/{ARTICLE}/").select_one("article .kb-byline").get_text(" ", strip=True)
    assert nl.startswith("Door Koos Overbeeke") and "Gepubliceerd op 26 november 2026" in nl
    assert en.startswith("By Koos Overbeeke") and "Published on 26 November 2026" in en
    assert "Contract management" in en


def test_articles_stay_out_of_the_navigation(site):
    nav = site.html("").select_one("nav.md-nav--primary")
    hrefs = [a.get("href", "") for a in nav.select("a")]
    assert not any("klantgericht" in href for href in hrefs)
    assert any(href.rstrip("/").endswith("artikelen") for href in hrefs)


def test_the_home_page_lists_the_newest_articles(site):
    for prefix in ("", "en/"):
        assert len(_articles(site.html(prefix))) == 1


DRAFT = """---
title: {title}
description: Een artikel dat nog niet af is.
date: 2026-12-01
author: Koos Overbeeke
categories: [outsourcing]
draft: true
---

# {title}

Nog niet af.
"""


def test_drafts_are_never_built_but_shown_in_the_preview(project):
    for locale in ("nl", "en"):
        (project / "docs" / "artikelen" / f"concept.{locale}.md").write_text(DRAFT.format(title=f"Concept {locale}"), encoding="utf-8")
    published = build(project)
    assert published.returncode == 0, published.output
    assert not (published.site / "artikelen" / "concept").exists()
    assert not (published.site / "en" / "artikelen" / "concept").exists()
    assert "Concept nl" not in (published.site / "feed.xml").read_text(encoding="utf-8")
    assert len(_articles(published.html("artikelen/"))) == 1

    preview = build(project, project / "preview", strict=False, env={"KENNISBANK_DRAFTS": "1"})
    assert preview.returncode == 0, preview.output
    assert (preview.site / "artikelen" / "concept" / "index.html").is_file()
    items = _articles(preview.html("artikelen/"))
    assert len(items) == 2
    assert items[0].select_one(".kb-draft").get_text(strip=True) == "Concept"  # newest first


def test_an_unknown_category_fails_the_build_naming_file_and_fix(project):
    article = project / "docs" / f"{ARTICLE}.nl.md"
    article.write_text(article.read_text(encoding="utf-8").replace("  - outsourcing\n", "  - inkoop\n", 1), encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert f"docs/{ARTICLE}.nl.md" in result.output
    assert "unknown category 'inkoop'" in result.output
    assert "extra.categories in mkdocs.yml" in result.output


def test_front_matter_rules():
    good = {"title": "T", "description": "D", "date": dt.date(2026, 1, 2), "author": "A", "categories": ["outsourcing"]}
    assert front_matter_problems(good, ["outsourcing"]) == []
    assert front_matter_problems({**good, "date": "2 januari"}, ["outsourcing"]) == [
        "front matter field 'date' is '2 januari', not a date: write it as YYYY-MM-DD"
    ]
    assert any("'draft' must be true or false" in p for p in front_matter_problems({**good, "draft": "ja"}, ["outsourcing"]))
    assert any("must be a list" in p for p in front_matter_problems({**good, "categories": "outsourcing"}, ["outsourcing"]))


def test_reading_time_and_dates():
    markdown = "<!-- md:assessment x -->\n" + " ".join(["woord"] * 401) + " {#id}"
    assert count_words(markdown) == 401
    article = article_from("artikelen/a.md", "nl", "artikelen/a/", {"title": "T", "description": "D", "date": dt.date(2026, 3, 1), "author": "A"}, markdown)
    assert article.reading_minutes == 3
    assert long_date(dt.date(2026, 3, 1), "nl_NL") == "1 maart 2026"
    assert long_date(dt.date(2026, 3, 1), "en_GB") == "1 March 2026"
