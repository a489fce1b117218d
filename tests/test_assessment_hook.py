"""The MkDocs hook: the marker becomes the form in each language, only those pages
load the assessment's script and style, and every mistake in a page or a
definition fails the build with a message that says where. Plus the size budget of
the assessment's script and style."""

from __future__ import annotations

import gzip
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from bs4 import Comment

from kennisbank.assessment import load_definition

from support import ARTICLE, ROOT, build

REAL = ROOT / "assessments" / "contract-check.yml"
LANGUAGES = [("nl", ""), ("en", "en/")]
ENDPOINT = "/api/assessments/contract-check/submissions"
BUDGET = 8192


@pytest.fixture(scope="module")
def real():
    return load_definition(REAL, ["nl", "en"])


def page_url(prefix: str, path: str) -> str:
    return f"http://site/{prefix}{path}"


def site_file(site, url: str):
    """The built file a same-site URL points at."""
    path = PurePosixPath(urlsplit(url).path.lstrip("/"))
    file = site.site / path
    return file / "index.html" if url.endswith("/") or file.is_dir() else file


# The real site


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
def test_article_holds_the_form_in_its_language(site, real, locale, prefix):
    soup = site.html(f"{prefix}{ARTICLE}/")
    assert soup.html["lang"] == locale
    forms = soup.select("form.kb-assessment")
    assert len(forms) == 1
    form = forms[0]
    assert form["lang"] == locale
    assert form["action"] == ENDPOINT
    assert form.find("input", attrs={"name": "lang"})["value"] == locale
    legends = [" ".join(f.legend.get_text(" ").split()) for f in form.select("fieldset.kb-question[data-kb-question]")]
    assert len(legends) == 19
    other = "en" if locale == "nl" else "nl"
    text = " ".join(form.get_text(" ").split())
    for question in real.questions:
        assert any(" ".join(question.text[locale].split()) in legend for legend in legends), question.id
        assert " ".join(question.text[other].split()) not in text
    assert form.select_one("script[type='application/json'][data-kb-data]") is not None


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
def test_marker_is_replaced_where_it_stood(site, locale, prefix):
    soup = site.html(f"{prefix}{ARTICLE}/")
    comments = [c for c in soup.find_all(string=lambda s: isinstance(s, Comment)) if "md:assessment" in c]
    assert comments == []
    assert "md:assessment" not in soup.select_one("article").get_text()
    form = soup.select_one("article form.kb-assessment")
    assert form is not None
    assert form.find_previous(["h2"])["id"] == "zelftest"


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
def test_article_loads_the_assessment_script_and_style(site, locale, prefix):
    url = page_url(prefix, f"{ARTICLE}/")
    soup = site.html(f"{prefix}{ARTICLE}/")
    styles = [link for link in soup.find_all("link", rel="stylesheet") if link["href"].split("?")[0].endswith("assessment.css")]
    scripts = [s for s in soup.find_all("script", src=True) if s["src"].split("?")[0].endswith("assessment.js")]
    assert len(styles) == 1 and len(scripts) == 1
    for ref in (styles[0]["href"], scripts[0]["src"]):
        target = urljoin(url, ref)
        assert urlsplit(target).netloc == "site"
        assert site_file(site, target).is_file(), target


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
@pytest.mark.parametrize("path", ["", "privacy/", "over/"])
def test_pages_without_a_form_do_not_load_it(site, locale, prefix, path):
    soup = site.html(f"{prefix}{path}")
    assert soup.select("form.kb-assessment") == []
    assert [link["href"] for link in soup.find_all("link", href=True) if "assessment" in link["href"]] == []
    assert [s["src"] for s in soup.find_all("script", src=True) if "assessment" in s["src"]] == []


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
def test_advice_links_resolve_to_sections_of_the_article(site, real, locale, prefix):
    url = page_url(prefix, f"{ARTICLE}/")
    soup = site.html(f"{prefix}{ARTICLE}/")
    links = soup.select("form.kb-assessment [data-kb-advice] a[href]:not([data-kb-clause])")
    assert len(links) == sum(q.section is not None for q in real.questions) == 12  # good practice links to no section
    for link in links:
        target = urljoin(url, link["href"])
        assert target.split("#")[0] == url
        fragment = urlsplit(target).fragment
        assert fragment
        assert len(soup.find_all(id=fragment)) == 1, fragment
        assert soup.find(id=fragment).name in {"h2", "h3"}
    assert {urlsplit(urljoin(url, a["href"])).fragment for a in links} == set(real.sections)


@pytest.mark.parametrize("locale,prefix,words", [("nl", "", ("voorwerk", "deskundige")), ("en", "en/", ("groundwork", "expert"))])
def test_the_note_on_renegotiating_links_to_the_section_that_makes_its_point(site, real, locale, prefix, words):
    """The note that replaced kennis-en-capaciteit says what the article's conclusion says, in its words."""
    soup = site.html(f"{prefix}{ARTICLE}/")
    (note,) = real.notes
    link = soup.select_one(f'form.kb-assessment [data-kb-note="{note.id}"] a[data-kb-read-more]')
    fragment = urlsplit(urljoin(page_url(prefix, f"{ARTICLE}/"), link["href"])).fragment
    heading = soup.find(id=fragment)
    assert heading is not None and heading.name == "h2" and fragment == note.section
    section = " ".join(p.get_text(" ") for p in heading.find_next_siblings("p", limit=4))
    for word in words:
        assert word in section and word in note.text[locale], word


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
def test_clause_links_resolve_to_headings_of_the_example_clauses_in_the_same_language(site, real, locale, prefix):
    url = page_url(prefix, f"{ARTICLE}/")
    soup = site.html(f"{prefix}{ARTICLE}/")
    links = soup.select("form.kb-assessment [data-kb-advice] a[data-kb-clause]")
    assert len(links) == sum(1 for q in real.questions if q.clause) >= 10
    clauses = site.html(f"{prefix}voorbeeldclausules/")
    assert clauses.html["lang"] == locale
    for link in links:
        target = urljoin(url, link["href"])
        assert target.split("#")[0] == page_url(prefix, "voorbeeldclausules/")
        fragment = urlsplit(target).fragment
        assert len(clauses.find_all(id=fragment)) == 1, fragment
        heading = clauses.find(id=fragment)
        assert heading.name in {"h2", "h3"}
        assert link.get_text(strip=True) == real.strings["clause_link"][locale]
        # a clause, not a caveat (issue 22: heronderhandelen linked to #aanbesteding): its
        # section, up to the next heading, quotes clause text or sets out the KPI rules
        section = []
        for sibling in heading.find_next_siblings():
            if sibling.name in {"h2", "h3"}:
                break
            section.append(sibling)
        assert any(element.name in {"blockquote", "table"} for element in section), fragment


@pytest.mark.parametrize("locale,prefix", LANGUAGES)
def test_privacy_link_goes_to_the_privacy_page_in_the_same_language(site, locale, prefix):
    url = page_url(prefix, f"{ARTICLE}/")
    soup = site.html(f"{prefix}{ARTICLE}/")
    consent = soup.select_one("form.kb-assessment input[name='consent']").find_parent("p")
    target = urljoin(url, consent.find("a")["href"])
    assert target == page_url(prefix, "privacy/")
    assert site_file(site, target).is_file()


# Broken projects: each is one build


def append(path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_unknown_assessment_id_fails_the_build_naming_the_page(project):
    append(project / "docs" / "privacy.nl.md", "\n<!-- md:assessment nope -->\n")
    result = build(project)
    assert result.returncode != 0
    assert "privacy.nl.md" in result.output
    assert "unknown assessment 'nope'" in result.output
    assert "contract-check" in result.output  # the fix names the known ids


def test_marker_in_code_is_shown_not_replaced(project):
    # in the English translation, so the Dutch source (and the translation's status) stays as it is
    append(
        project / "docs" / "over.en.md",
        "\n\nPut `<!-- md:assessment contract-check -->` in a page:\n\n```markdown\n<!-- md:assessment contract-check -->\n```\n",
    )
    result = build(project)
    assert result.returncode == 0, result.output
    soup = result.html("en/over/")
    assert soup.select("form.kb-assessment") == []
    codes = [c.get_text() for c in soup.select("article code")]
    assert sum("<!-- md:assessment contract-check -->" in c for c in codes) == 2, codes
    assert [s["src"] for s in soup.find_all("script", src=True) if "assessment" in s["src"]] == []
    # the article still has its one form
    assert len(result.html(f"{ARTICLE}/").select("form.kb-assessment")) == 1


def test_broken_definition_fails_the_build_naming_the_place(project):
    path = project / "assessments" / "contract-check.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    del raw["questions"][0]["text"]["en"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert "questions[0].text.en" in result.output
    assert "contract-check.yml" in result.output
    assert "Fix:" in result.output


def test_question_citing_a_missing_section_fails_the_build(project):
    article = project / "docs" / "artikelen" / "klantgericht-optreden-bevorderen.nl.md"
    text = article.read_text(encoding="utf-8")
    assert "{ #praktijkervaring }" in text
    article.write_text(text.replace("{ #praktijkervaring }", "{ #een-ervaring }"), encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert "questions[2].section" in result.output
    assert "'praktijkervaring' is not a section of" in result.output
    assert "klantgericht-optreden-bevorderen.nl.md" in result.output


# Size budget


def test_script_and_style_fit_the_size_budget():
    files = [
        ROOT / "docs" / "assets" / "javascripts" / "assessment.js",
        ROOT / "docs" / "assets" / "stylesheets" / "assessment.css",
    ]
    sizes = {file.name: len(gzip.compress(file.read_bytes(), 9)) for file in files}
    total = sum(sizes.values())
    print(f"assessment gzip -9 sizes: {sizes}, total {total} of {BUDGET} bytes")
    assert all(size > 0 for size in sizes.values())
    assert total <= BUDGET, f"{total} bytes gzipped > {BUDGET}: {sizes}"
