"""Articles as a collection: index per language, category pages, bylines, drafts,
and front matter that the templates need."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urljoin

import pytest
import yaml
from bs4 import BeautifulSoup
from mkdocs.theme import Theme

from kennisbank.articles import (
    ArticleError,
    Labels,
    ListOptions,
    article_from,
    category_page,
    count_words,
    front_matter_problems,
    is_article_file,
    list_options,
    long_date,
    read_article,
)
from kennisbank.siteconfig import Language, SiteConfig

from support import ARTICLE, ROOT, build


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


def test_a_bad_list_marker_fails_the_build_naming_page_option_and_fix(project):
    home = project / "docs" / "index.nl.md"
    home.write_text(
        home.read_text(encoding="utf-8").replace("<!-- md:articles limit=5 level=3 -->", "<!-- md:articles limit=vijf level=3 -->"), encoding="utf-8"
    )
    result = build(project)
    assert result.returncode != 0
    assert "docs/index.nl.md: <!-- md:articles limit=vijf level=3 -->: limit=vijf is not a number above 0. Fix: limit=<number>" in result.output


# Category names written into the generated pages

QUOTED = {"nl": """Beheer van 'contracten' & "SLA's" <b>*""", "en": """Managing 'contracts' & "SLA's" <b>*"""}


def test_a_category_name_with_both_quotes_and_markup_builds_strictly_and_shows_as_written(project):
    config = project / "mkdocs.yml"
    line = "    contractmanagement: {nl: Contractmanagement, en: Contract management}\n"
    quoted = "    contractmanagement: " + yaml.safe_dump(QUOTED, allow_unicode=True, default_flow_style=True, width=1000)
    assert line in config.read_text(encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8").replace(line, quoted), encoding="utf-8")
    result = build(project)
    assert result.returncode == 0, result.output
    for prefix, locale, title in (("", "nl", "Artikelen over "), ("en/", "en", "Articles on ")):
        page = result.html(f"{prefix}artikelen/categorie/contractmanagement/")
        heading = title + QUOTED[locale]
        assert page.title.get_text().startswith(heading + " - ")
        assert page.select_one('meta[property="og:title"]')["content"] == heading
        assert page.h1.find(string=True, recursive=False) == heading and page.h1.find("b") is None
        listed = page.select("ol.kb-articles .kb-category")
        assert QUOTED[locale] in [link.get_text() for link in listed]
        byline = result.html(f"{prefix}{ARTICLE}/").select_one("article .kb-byline")
        assert QUOTED[locale] in [link.get_text() for link in byline.select(".kb-category")]
        assert page.select_one("ol.kb-articles b") is None and byline.find("b") is None


def test_category_page_front_matter_is_yaml_whatever_the_name():
    labels = Labels(
        "nl",
        "nl_NL",
        {"category_title": {"nl": "Over {category}"}, "category_description": {"nl": "Alles over {category}: {category}."}},
        {"x": {"nl": QUOTED["nl"]}},
    )
    page = category_page("x", labels)
    _, front, body = page.split("---\n", 2)
    assert yaml.safe_load(front) == {"title": f"Over {QUOTED['nl']}", "description": f"Alles over {QUOTED['nl']}: {QUOTED['nl']}."}
    assert body.strip().endswith("<!-- md:articles category=x -->")


# List markers


CATEGORIES = ["outsourcing", "contractmanagement"]


def test_list_options_are_read_from_the_marker():
    assert list_options("", "docs/a.nl.md", CATEGORIES) == ListOptions()
    assert list_options(" category=outsourcing  limit=5\n level=3 ", "docs/a.nl.md", CATEGORIES) == ListOptions("outsourcing", 5, 3)


@pytest.mark.parametrize(
    "options,problem,fix",
    [
        (" limit=0", "limit=0 is not a number above 0", "Fix: limit=<number>"),
        (" limit=vijf", "limit=vijf is not a number above 0", "Fix: limit=<number>"),
        (" level=5", "level=5 is not 2, 3 or 4", "Fix: level=<2|3|4>"),
        (" level=h3", "level=h3 is not 2, 3 or 4", "Fix: level=<2|3|4>"),
        (
            " category=inkoop",
            "unknown category 'inkoop'",
            "Fix: use one of contractmanagement, outsourcing, or add it with its names to extra.categories in mkdocs.yml",
        ),
        (" sort=date", "'sort=date' is not an option", "Fix: use category=<id>, limit=<number>, per_page=<number> and level=<2|3|4>"),
        (" limit", "'limit' is not an option", "Fix: use category=<id>"),
        (" limit=", "'limit' is not an option", "Fix: use category=<id>"),
        (" limit=3 limit=4", "limit is given twice", "Fix: give each option once"),
    ],
)
def test_a_bad_list_option_names_the_page_the_option_and_the_fix(options, problem, fix):
    with pytest.raises(ArticleError) as error:
        list_options(options, "docs/index.nl.md", CATEGORIES)
    message = str(error.value)
    assert message.startswith(f"docs/index.nl.md: <!-- md:articles{options} -->: {problem}. ")
    assert fix in message


def test_list_options_choose_by_category_then_limit():
    common = {"description": "D", "author": "A"}
    articles = [
        article_from(f"artikelen/{n}.md", "nl", f"artikelen/{n}/", {**common, "title": n, "date": dt.date(2026, 1, day), "categories": categories}, "")
        for n, day, categories in (("c", 3, ["outsourcing"]), ("b", 2, ["contractmanagement"]), ("a", 1, ["outsourcing"]))
    ]
    assert [a.title for a in ListOptions().select(articles)] == ["c", "b", "a"]
    assert [a.title for a in ListOptions(category="outsourcing").select(articles)] == ["c", "a"]
    assert [a.title for a in ListOptions(category="outsourcing", limit=1).select(articles)] == ["c"]
    assert [a.title for a in ListOptions(limit=2).select(articles)] == ["c", "b"]


def test_read_article_lists_every_problem_of_its_front_matter():
    site = SiteConfig(
        "https://e.org/",
        "S",
        (Language("nl", "Nederlands", True, "S", "D"), Language("en", "English", False, "S", "D")),
        categories=dict.fromkeys(CATEGORIES, {}),
    )
    with pytest.raises(ArticleError) as error:
        read_article("artikelen/a.nl.md", "artikelen/a/", "---\ntitle: T\ncategories: [inkoop]\n---\n# T\n", site)
    assert "'description' is missing" in str(error.value) and "unknown category 'inkoop'" in str(error.value)
    with pytest.raises(ArticleError, match="front matter is not valid YAML"):
        read_article("artikelen/a.nl.md", "artikelen/a/", "---\ntitle: [T\n---\n# T\n", site)
    text = "---\ntitle: T\ndescription: D\ndate: 2026-01-02\nauthor: A\n---\n# T\n\nEen twee drie.\n"
    article = read_article("artikelen/a.en.md", "en/artikelen/a/", text, site)
    assert (article.path, article.locale, article.url, article.words) == ("artikelen/a.md", "en", "en/artikelen/a/", 4)
    assert read_article("artikelen/a.md", "artikelen/a/", text, site).locale == "nl"  # no suffix: the default language's
    assert is_article_file("artikelen/a.en.md", site.locales)
    assert not any(is_article_file(f, site.locales) for f in ("over.nl.md", "artikelen/index.en.md", "artikelen/categorie/outsourcing.md"))


# The partials, rendered as the build renders them: MkDocs' Jinja environment does not autoescape

HOSTILE = '<script>x()</script> & "quoted"'


@pytest.fixture(scope="module")
def theme():
    return Theme(name="material", custom_dir=str(ROOT / "overrides")).get_env()


def _hostile_article(locale="nl", **more):
    meta = {
        "title": HOSTILE,
        "description": HOSTILE,
        "author": HOSTILE,
        "date": dt.date(2026, 1, 2),
        "updated": dt.date(2026, 2, 3),
        "categories": ["x"],
        **more,
    }
    return article_from("artikelen/a.md", locale, "artikelen/a/", meta, "")


def _labels(locale="en"):
    strings = {
        "byline": "By {author}",
        "published": "Published on {date}",
        "updated": "updated on {date}",
        "reading_time": "{minutes} min",
        "draft": "Draft",
        "in_language": "(in {language})",
        "no_articles": "None.",
    }
    return Labels(locale, "en_GB", {key: {locale: text} for key, text in strings.items()}, {"x": {locale: HOSTILE}})


def test_the_article_list_escapes_every_value(theme):
    html = theme.get_template("partials/kb-article-list.html").render(
        articles=[_hostile_article(draft=True)], l=_labels(), level=3, link=lambda a: '"><script>y()</script>', category_link=lambda c: '"><script>z()</script>'
    )
    soup = BeautifulSoup(html, "lxml")
    assert soup.find("script") is None
    (item,) = soup.select("ol.kb-articles > li.kb-article")
    assert item["lang"] == "nl"
    title = item.select_one("h3.kb-article__title a")
    assert (title.get_text(), title["href"]) == (HOSTILE, '"><script>y()</script>')
    assert item.select_one(".kb-draft").get_text() == "Draft"
    meta = item.select_one(".kb-article__meta").get_text(" ", strip=True)
    assert f"By {HOSTILE}" in meta and "(in Dutch)" in meta
    assert item.select_one(".kb-category").get_text() == HOSTILE
    assert item.select_one(".kb-article__summary").get_text() == HOSTILE
    empty = BeautifulSoup(theme.get_template("partials/kb-article-list.html").render(articles=[], l=_labels(), level=2), "lxml")
    assert empty.select("ol") == [] and empty.p.get_text() == "None."


def test_the_byline_escapes_every_value_and_keeps_its_dates(theme):
    html = theme.get_template("partials/kb-byline.html").render(article=_hostile_article(), l=_labels(), category_link=lambda c: '"><script>z()</script>')
    byline = BeautifulSoup(html, "lxml").select_one("p.kb-byline")
    assert byline.find("script") is None
    assert byline.span.get_text() == f"By {HOSTILE}"
    assert [time["datetime"] for time in byline.select("time")] == ["2026-01-02", "2026-02-03"]
    link = byline.select_one("a.kb-category")
    assert (link.get_text(), link["href"]) == (HOSTILE, '"><script>z()</script>')
