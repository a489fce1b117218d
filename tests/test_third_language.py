"""Adding a language is configuration plus files: German added to a copy of the site,
with one page translated."""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin

import feedparser
import pytest
import yaml

from kennisbank.translations import report, set_source_hash, source_hash

from support import build

GERMAN = """        - locale: de
          name: Deutsch
          build: true
          site_name: Wissensdatenbank Outsourcing & SSC
          site_description: Artikel über Outsourcing und Shared Service Center.
"""


def _add_german_texts(node):
    """Give every nl/en text a de text (the English one: the test is about mechanics)."""
    if isinstance(node, dict):
        if "nl" in node and "en" in node and isinstance(node["en"], str):
            node["de"] = node["en"]
        for value in node.values():
            _add_german_texts(value)
    elif isinstance(node, list):
        for value in node:
            _add_german_texts(value)


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    from support import copy_project

    project = copy_project(tmp_path_factory.mktemp("german") / "project")
    config = project / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("        - locale: en\n", GERMAN + "        - locale: en\n", 1)
    text = text.replace("    en: en_GB\n", "    en: en_GB\n    de: de_DE\n", 1)
    # every site string and category name: a de text next to the en one
    text = re.sub(r"(, en: (\"(?:[^\"\\]|\\.)*\"|[^}\n]*))\}\n", r"\1, de: \2}\n", text)
    config.write_text(text, encoding="utf-8")
    definition = project / "assessments" / "contract-check.yml"
    data = yaml.safe_load(definition.read_text(encoding="utf-8"))
    _add_german_texts(data)
    definition.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    source = (project / "docs" / "privacy.nl.md").read_text(encoding="utf-8")
    german_page = '---\ntitle: Datenschutzerklärung\ndescription: "Keine Cookies, kein Tracking, keine Dienste Dritter: was wir speichern und warum."\n---\n\n# Datenschutzerklärung\n\nKeine Cookies, kein Tracking.\n'
    (project / "docs" / "privacy.de.md").write_text(set_source_hash(german_page, source_hash(source)), encoding="utf-8")
    result = build(project, strict=False)
    assert result.returncode == 0, result.output
    return result


def test_the_german_site_is_built_with_its_language(german):
    for path in ("de/", "de/privacy/", "de/over/"):
        assert german.html(path).html["lang"] == "de"
    assert german.html("de/privacy/").h1.find(string=True, recursive=False).strip() == "Datenschutzerklärung"


def test_untranslated_pages_fall_back_with_a_notice_and_a_warning(german):
    over = german.html("de/over/")
    assert over.select_one("[data-kb-translation=not_translated]") is not None
    assert german.html("de/privacy/").select_one("[data-kb-translation]") is None
    assert "docs/over.nl.md has no de translation" in german.output
    assert "docs/privacy.nl.md has no de translation" not in german.output


def test_the_switcher_offers_german_and_links_counterparts(german):
    for here, there in (("privacy/", "de/privacy/"), ("de/privacy/", "en/privacy/")):
        soup = german.html(here)
        locale = there.split("/")[0] if there.startswith(("de/", "en/")) else "nl"
        link = soup.select_one(f'.md-select a[hreflang="{locale}"]')
        assert link is not None
        assert urljoin(f"http://site/{here}", link["href"]) == f"http://site/{there}"


def test_german_has_its_own_feed_and_search_index(german):
    feed = feedparser.parse((german.site / "de" / "feed.xml").read_bytes())
    assert not feed.bozo
    assert feed.feed.language == "de"
    assert feed.entries == []  # no article is translated into German yet
    entry = json.loads((german.site / "pagefind" / "pagefind-entry.json").read_text(encoding="utf-8"))
    assert entry["languages"]["de"]["page_count"] > 0  # Pagefind's own German index, with its stemmer


def test_the_status_report_knows_german(german):
    statuses = {(s.page, s.locale): s.state for s in report(german.project / "docs", ["nl", "en", "de"], "nl")}
    assert statuses[("privacy.md", "de")] == "current"
    assert statuses[("over.md", "de")] == "missing"
    assert statuses[("over.md", "en")] == "current"


def test_the_sitemaps_carry_german(german):
    from lxml import etree

    namespaces = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    root = etree.parse(str(german.site / "sitemap.xml"))
    locations = root.xpath("//s:url/s:loc/text()", namespaces=namespaces)
    assert "http://127.0.0.1:8000/de/privacy/" in locations
    languages = set(root.xpath("//x:link/@hreflang", namespaces=namespaces))
    assert {"nl", "en", "de", "x-default"} <= languages
    german_sitemap = etree.parse(str(german.site / "de" / "sitemap.xml"))
    german_locations = german_sitemap.xpath("//s:url/s:loc/text()", namespaces=namespaces)
    assert german_locations and all(loc.startswith("http://127.0.0.1:8000/de/") for loc in german_locations)
