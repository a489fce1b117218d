"""Numbers from one source (issue 22): the question count and the minutes every built
page states are the definition's, and the reply time is one setting used everywhere.

Before, the home page said "14 vragen, ongeveer vijf minuten", the article "veertien
vragen", the scan's intro "zeven minuten", while the reader got 18 or 19 questions; and
three reply times (Tuesday, two working days, five working days) stood side by side."""

from __future__ import annotations

import re

import pytest

from kennisbank.assessment import load_definition
from kennisbank.siteconfig import load_mkdocs

from support import ROOT

_WORDS = {
    "nl": "één twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien vijftien zestien zeventien achttien negentien twintig",
    "en": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty",
}
#: a number written out, in either language -> its value
WORDS = {word: n for text in _WORDS.values() for n, word in enumerate(text.split(), start=1)}
NUMBER = r"(\d+|" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")"
COUNT = re.compile(NUMBER + r"(?:\s+(?:of|or|tot|to)\s+" + NUMBER + r")?\s+(?:vragen|questions)\b", re.I)
MINUTES = re.compile(NUMBER + r"(?:-minute|\s+minuten|\s+minutes)\b", re.I)
#: a sentence about the scan (the privacy statement's rate-limit window is in minutes too)
ABOUT_THE_SCAN = re.compile(r"contract|scan\b|self-assessment|vragen|questions", re.I)


def value(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else WORDS[word]


@pytest.fixture(scope="module")
def definition():
    config = load_mkdocs()
    return load_definition(ROOT / "assessments" / "contract-check.yml", config.locales)


def page_text(path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")
    for hidden in soup.select("script, style, template"):
        hidden.decompose()
    meta = " ".join(tag.get("content", "") for tag in soup.select('meta[name="description"], meta[property="og:description"]'))
    return " ".join((soup.get_text(" ") + " " + meta).split())


def test_the_question_count_and_the_minutes_on_every_page_are_the_definitions(site, definition):
    low, high = definition.question_counts()
    assert (low, high) == (17, 18) and definition.minutes == 7
    stated = {"questions": 0, "minutes": 0}
    for path in site.pages():
        text = page_text(path)
        where = path.relative_to(site.site)
        for match in COUNT.finditer(text):
            numbers = sorted(value(group) for group in match.groups() if group)
            if numbers[0] == 0:
                # "0 van 18 vragen beantwoord": the progress line before any answer; its total is the most asked
                assert numbers[1:] == [high], f"{where}: '{match[0]}' but the definition asks at most {high}"
                continue
            assert numbers in ([low, high], [high]), f"{where}: '{match[0]}' but the definition asks {low} or {high}"
            stated["questions"] += 1
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if not ABOUT_THE_SCAN.search(sentence):
                continue
            for match in MINUTES.finditer(sentence):
                assert value(match[1]) == definition.minutes, f"{where}: '{match[0]}' in “{sentence}”, but the definition says {definition.minutes}"
                stated["minutes"] += 1
    # the home page, the article and the scan's intro, in both languages, say both
    assert stated["questions"] >= 4 and stated["minutes"] >= 6, stated


def test_every_page_that_states_the_facts_reads_them_from_the_definition():
    """No page types a number of questions or minutes of its own: the marker says it."""
    for path in sorted((ROOT / "docs").rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in COUNT.finditer(text):
            pytest.fail(f"{path.relative_to(ROOT)}: '{match[0]}' is typed into the page; use <!-- md:assessment-facts contract-check questions -->")
        for match in MINUTES.finditer(text):
            line = text[text.rfind("\n", 0, match.start()) + 1 : text.find("\n", match.end())]
            if ABOUT_THE_SCAN.search(line) and "md:assessment-facts" not in line:
                pytest.fail(f"{path.relative_to(ROOT)}: '{match[0]}' is typed into the page; use <!-- md:assessment-facts contract-check minutes -->")


def test_a_fact_the_definition_does_not_have_names_the_page_and_the_fix(project):
    from support import build

    index = project / "docs" / "index.nl.md"
    index.write_text(index.read_text(encoding="utf-8").replace("contract-check minutes", "contract-check seconds"), encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert "index.nl.md: <!-- md:assessment-facts contract-check seconds -->: 'seconds' is not a fact of contract-check.yml" in result.output
    assert "Fix: use one of questions, minutes" in result.output
