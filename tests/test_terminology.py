"""One name per concept in each language, across the pages, the interface strings and the scan (issue 22).

Dutch calls the scan what the site calls it most: "contractscan" ("de scan" for short),
never "vragenlijst", "zelftest" or "check"; and a shared service center is spelt the Dutch
way. English says "self-assessment" and "shared service centre" (en_GB). The author's
article prose is checked against his text elsewhere (test_article_content.py); it holds
none of these."""

from __future__ import annotations

import re

import pytest
import yaml
from bs4 import BeautifulSoup

from kennisbank.siteconfig import load_mkdocs

from support import ROOT

#: names the site does not use, per language: (pattern, what the site says instead)
OTHER_NAMES = {
    "nl": [
        (r"vragenlijst", "contractscan"),
        (r"zelftest", "contractscan"),
        (r"zelfevaluatie", "contractscan"),
        (r"contract-?check|\bde check\b", "contractscan"),
        (r"self-assessment", "contractscan"),
        (r"shared services? centre|shared services center", "shared service center"),
    ],
    "en": [
        (r"questionnaire", "self-assessment"),
        (r"contract check|contractscan", "self-assessment"),
        (r"shared services? center\b", "shared service centre"),
        # American, and in English law 'best endeavours' is the most onerous duty: the opposite of an inspanningsverplichting
        (r"best[- ]efforts?", "endeavours obligation, or effort-based contract"),
    ],
}


def _offences(text: str, locale: str) -> list[str]:
    return [f"{match.group(0)!r} (say {instead})" for pattern, instead in OTHER_NAMES[locale] for match in re.finditer(pattern, text, re.I)]


def _texts(data, locale: str):
    """Every text of ``locale`` in a parsed YAML tree of {nl: ..., en: ...} mappings."""
    if isinstance(data, dict):
        if isinstance(data.get(locale), str):
            yield data[locale]
        for value in data.values():
            yield from _texts(value, locale)
    elif isinstance(data, list):
        for item in data:
            yield from _texts(item, locale)


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_every_page_names_the_scan_and_the_ssc_one_way(site, locale):
    checked = 0
    for page in site.pages():
        in_english = page.relative_to(site.site).parts[0] == "en"
        if in_english != (locale == "en"):
            continue
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "lxml")
        for hidden in soup.select("script, style"):
            hidden.decompose()  # the scan's strings in its JSON data: the test below reads them at their source
        found = _offences(soup.get_text(" "), locale)
        assert not found, f"{page.relative_to(site.site)}: {found}"
        checked += 1
    assert checked > 5


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_the_scans_definition_and_the_interface_strings_name_it_one_way(locale):
    definition = yaml.safe_load((ROOT / "assessments" / "contract-check.yml").read_text(encoding="utf-8"))
    dashboard = yaml.safe_load((ROOT / "kennisbank" / "templates" / "dashboard" / "strings.yml").read_text(encoding="utf-8"))
    site = load_mkdocs(ROOT / "mkdocs.yml")
    texts = [*_texts(definition, locale), *_texts(dashboard, locale), *_texts(dict(site.strings), locale)]
    assert len(texts) > 100
    found = [offence for text in texts for offence in _offences(text, locale)]
    assert not found, found
