"""The article in Dutch is the author's text, whole; the English has the same shape."""

from __future__ import annotations

import re

import pytest

from support import ARTICLE, ROOT, SEED

#: The typing errors corrected in the Dutch article: (as in the seed, as published).
CORRECTIONS = [
    (
        "Hoe Klantgericht optreden bevorderen bij jullie Outsourcing leverancier of SSC",
        "Hoe klantgericht optreden bevorderen bij jullie outsourcing leverancier of SSC",
    ),
    ("heeft dus dus niet nodig", "heeft hij dus niet nodig"),
    ("VVE , de Vereniging", "VVE, de Vereniging"),
    ("Ik heb gen idee", "Ik heb geen idee"),
    ("je hier bij helpen?", "je hierbij helpen?"),
]


def _normal(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def _article_text(soup) -> str:
    article = soup.select_one("article")
    for noise in article.select("a.headerlink, form.kb-assessment"):
        noise.decompose()
    blocks = article.find_all(["h1", "h2", "h3", "p", "li"])
    return _normal(" ".join(block.get_text() for block in blocks))


def _seed_sentences() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    for wrong, right in CORRECTIONS:
        assert wrong in text, f"correction {wrong!r} no longer matches the seed"
        text = text.replace(wrong, right)
    sentences = []
    for line in text.splitlines():
        line = _normal(line)
        if not re.search(r"[A-Za-z]", line):
            continue
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", line) if s]
    return sentences


def test_every_sentence_of_the_seed_is_in_the_dutch_article(site):
    text = _article_text(site.html(f"{ARTICLE}/"))
    sentences = _seed_sentences()
    assert len(sentences) > 100
    missing = [s for s in sentences if s not in text]
    assert missing == []


def test_the_dutch_article_is_set_as_an_article(site):
    soup = site.html(f"{ARTICLE}/")
    article = soup.select_one("article")
    assert article.h1.get_text(strip=True).startswith("Hoe klantgericht optreden bevorderen")
    assert "De sleutel tot succes is niet wat je denkt!" in article.select_one("p.lead").get_text()
    headings = [h.get_text(" ", strip=True).rstrip("#").strip() for h in article.find_all("h2")]
    for seed_heading in ("Een praktijkervaring", "Werkt het in de praktijk?", "Conclusie"):
        assert seed_heading in headings
    assert article.select_one("p.byline").get_text(strip=True) == "Koos Overbeeke"
    assert "Q&A Tuesday" in article.get_text()


def _shape(soup):
    article = soup.select_one("article")
    for form in article.select("form"):
        form.decompose()
    sections = [h["id"] for h in article.find_all("h2")]
    paragraphs = len(article.find_all("p"))
    return sections, paragraphs


def test_the_english_article_has_the_same_sections_and_paragraphs(site):
    nl_sections, nl_paragraphs = _shape(site.html(f"{ARTICLE}/"))
    en_sections, en_paragraphs = _shape(site.html(f"en/{ARTICLE}/"))
    assert len(nl_sections) >= 8
    assert en_sections == nl_sections
    assert en_paragraphs == nl_paragraphs


@pytest.mark.parametrize(
    "idiom",
    ["penny dropped", "owners' association", "Randy Gage", "four hours", "24 hours", "Q&A Tuesday"],
)
def test_the_english_article_carries_idioms_names_and_figures(site, idiom):
    assert idiom in _normal(site.html(f"en/{ARTICLE}/").select_one("article").get_text(" "))


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_example_clauses_shares_add_up_as_clause_2_and_the_worked_example_say(lang):
    """The table of service levels gives each KPI its share of the Amount at Risk; clause 2 says
    they add up to 150 %, and the worked example prices them in euros at a €10,000 Amount at
    Risk. A native reader found the table at 40/30/10/20 % (100 %) beside an example of
    €6,000/€4,500/€1,500/€3,000 (150 %), in both languages."""
    text = (ROOT / "docs" / f"voorbeeldclausules.{lang}.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([WFG]\d) [^|]+\|[^|]+\|[^|]+\| (\d+)% \|$", text, re.MULTILINE)
    shares = {kpi: int(share) for kpi, share in rows}
    assert set(shares) == {"W1", "F1", "F2", "G1"}
    assert sum(shares.values()) == 150 and re.search(r"150% (of the Amount at Risk|van het Risicobedrag)", text)
    for kpi, share in shares.items():
        euros = f"{kpi} €{share * 100:,}" if lang == "en" else f"{kpi} € {share * 100:,}".replace(",", ".")
        assert euros in text, f"{lang}: the example prices {kpi} as {share}% of €10,000: {euros!r}"
