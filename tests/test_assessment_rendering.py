"""Rendering: the form works without JavaScript, is accessible, is in one language,
embeds the data the script scores with, and escapes whatever the data file holds;
the static result shows one band and the advice for the weak answers."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
import yaml
from bs4 import BeautifulSoup

from kennisbank.assessment import Assessment, client_data, load_definition, render_form, render_result, score
from kennisbank.assessment.contact import CONSENT_FIELD, CONTACT_FIELDS, DISCUSS_FIELD, HONEYPOT_FIELD

from support import ROOT

REAL = ROOT / "assessments" / "contract-check.yml"
LOCALES = ["nl", "en"]
ACTION = "https://api.example.org/api/assessments/contract-check/submissions"
ARTICLE_URL = "../artikel/"
PRIVACY_URL = "../privacy/"


@pytest.fixture(scope="module")
def real() -> Assessment:
    return load_definition(REAL, LOCALES)


def parse(markup) -> BeautifulSoup:
    return BeautifulSoup(str(markup), "lxml")


@pytest.fixture(scope="module")
def forms(real) -> dict[str, BeautifulSoup]:
    return {locale: parse(render_form(real, locale, action=ACTION, article_url=ARTICLE_URL, privacy_url=PRIVACY_URL)) for locale in LOCALES}


def the_form(soup: BeautifulSoup):
    forms = soup.find_all("form")
    assert len(forms) == 1
    return forms[0]


def data_of(soup: BeautifulSoup) -> dict:
    scripts = soup.select("script[type='application/json'][data-kb-data]")
    assert len(scripts) == 1
    return json.loads(scripts[0].string)


# The form


@pytest.mark.parametrize("locale", LOCALES)
def test_form_posts_to_the_action_with_assessment_and_language(forms, real, locale):
    form = the_form(forms[locale])
    assert form["method"] == "post"
    assert form["action"] == ACTION
    assert form["lang"] == locale
    assert form["data-kb-assessment"] == real.id
    hidden = {i["name"]: i["value"] for i in form.find_all("input", attrs={"type": "hidden"})}
    assert hidden["assessment"] == "contract-check"
    assert hidden["lang"] == locale
    assert hidden["version"] == str(real.version)
    submit = form.find_all("button", attrs={"type": "submit"})
    assert len(submit) == 1 and submit[0].get_text(strip=True) == real.strings["submit"][locale]


@pytest.mark.parametrize("locale", LOCALES)
def test_one_fieldset_with_legend_per_question(forms, real, locale):
    fieldsets = the_form(forms[locale]).select("fieldset.kb-question[data-kb-question]")
    assert len(fieldsets) == len(real.questions) == 19
    # and, before them, the context question (who the contract is with)
    assert the_form(forms[locale]).select("fieldset.kb-question")[0]["data-kb-context"] == "dienstverlener"
    theme_order = [theme.id for theme in real.themes]
    by_theme = sorted(real.questions, key=lambda q: theme_order.index(q.theme))
    for fieldset, question in zip(fieldsets, by_theme, strict=False):
        legends = fieldset.find_all("legend", recursive=False)
        assert len(legends) == 1
        assert fieldset["data-kb-question"] == question.id
        assert question.text[locale] in legends[0].get_text(" ", strip=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_questions_are_numbered_in_document_order_inside_their_themes(forms, real, locale):
    form = the_form(forms[locale])
    for number, question in enumerate(real.questions, start=1):
        fieldset = form.find("fieldset", attrs={"data-kb-question": question.id})
        assert fieldset.find_parent("section")["aria-labelledby"].endswith(f"-theme-{question.theme}")
        assert fieldset.legend.select_one(".kb-number").get_text(strip=True) == f"{number}."


@pytest.mark.parametrize("locale", LOCALES)
def test_required_labelled_radios_per_question(forms, real, locale):
    """The scale; "don't know" where the question has advice on finding out; "not
    applicable" where the question is for one context only (the form without script)."""
    form = the_form(forms[locale])
    for question in real.questions:
        labels = [option.label[locale] for option in real.scale]
        values = ["0", "1", "2"]
        if question.allows_unknown:
            labels.append(real.unknown.label[locale])
            values.append("unknown")
        if question.applies_to or question.may_not_apply:
            labels.append(real.strings["not_applicable"][locale])
            values.append("na")
        fieldset = form.find("fieldset", attrs={"data-kb-question": question.id})
        radios = fieldset.find_all("input", attrs={"type": "radio"})
        assert [r["value"] for r in radios] == values
        for radio, text in zip(radios, labels, strict=False):
            assert radio["name"] == f"answer-{question.id}"
            assert radio.has_attr("required")
            assert not radio.has_attr("checked")
            label = radio.find_parent("label")
            assert label is not None and label.get_text(strip=True) == text


@pytest.mark.parametrize("locale", LOCALES)
def test_radios_are_described_by_their_help_text(forms, real, locale):
    form = the_form(forms[locale])
    for question in real.questions:
        assert question.help is not None
        for radio in form.find_all("input", attrs={"name": f"answer-{question.id}"}):
            ids = radio["aria-describedby"].split()
            assert ids
            for help_id in ids:
                helps = form.find_all(id=help_id)
                assert len(helps) == 1, help_id
                assert helps[0].get_text(" ", strip=True) == " ".join(question.help[locale].split())


@pytest.mark.parametrize("locale,other", [("en", "nl"), ("nl", "en")])
def test_texts_are_in_the_form_language_only(forms, real, locale, other):
    text = " ".join(the_form(forms[locale]).get_text(" ").split())
    for question in real.questions:
        assert " ".join(question.text[locale].split()) in text
        assert " ".join(question.text[other].split()) not in text
        assert " ".join(question.advice[other].split()) not in text
    for theme in real.themes:
        assert theme.title[locale] in text
        assert theme.title[other] not in text
    assert real.strings["contact_legend"][locale] in text
    assert real.strings["contact_legend"][other] not in text


@pytest.mark.parametrize("locale", LOCALES)
def test_embedded_data_matches_the_definition(forms, real, locale):
    data = data_of(forms[locale])
    assert data == client_data(real, locale, ACTION)
    assert data["id"] == "contract-check"
    assert data["lang"] == locale
    assert data["endpoint"] == ACTION
    assert data["values"] == [0, 1, 2]
    assert data["labels"] == {
        **{str(o.value): o.label[locale] for o in real.scale},
        "unknown": real.unknown.label[locale],
        "na": real.strings["not_applicable"][locale],
    }
    assert [{key: q[key] for key in ("id", "theme", "weight")} for q in data["questions"]] == [
        {"id": q.id, "theme": q.theme, "weight": q.weight} for q in real.questions
    ]
    assert [q["unknown"] for q in data["questions"]] == [q.allows_unknown for q in real.questions]
    assert [q["appliesTo"] for q in data["questions"]] == [list(q.applies_to) if q.applies_to else None for q in real.questions]
    assert data["context"] == {"id": "dienstverlener", "options": ["commercieel", "ssc"]}
    assert data["unknown"] == {"value": "unknown", "countsAs": 0}
    assert [g["id"] for g in data["gates"]] == [g.id for g in real.gates]
    assert data["bands"] == [
        {"id": "inspanning", "min": 0, "max": 39},
        {"id": "gemengd", "min": 40, "max": 69},
        {"id": "resultaatgericht", "min": 70, "max": 100},
    ]
    assert data["themes"] == [t.id for t in real.themes]
    assert data["strings"]["progress"] == real.strings["progress"][locale]
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))
    assert [q["weight"] for q in data["questions"]] == [q["weight"] for q in raw["questions"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_contact_fields_are_optional_limited_and_labelled(forms, real, locale):
    form = the_form(forms[locale])
    for field, maxlength in CONTACT_FIELDS.items():
        controls = form.find_all(attrs={"name": field})
        assert len(controls) == 1, field
        control = controls[0]
        assert control["maxlength"] == str(maxlength)
        assert not control.has_attr("required")
        label = form.find("label", attrs={"for": control["id"]})
        assert label is not None and label.get_text(strip=True) == real.strings[field][locale]
    assert form.find(attrs={"name": "email"})["type"] == "email"
    assert form.find(attrs={"name": "message"}).name == "textarea"


@pytest.mark.parametrize("locale", LOCALES)
def test_consent_and_discuss_are_unticked_checkboxes(forms, real, locale):
    form = the_form(forms[locale])
    for name in (CONSENT_FIELD, DISCUSS_FIELD):
        (box,) = form.find_all("input", attrs={"name": name})
        assert box["type"] == "checkbox"
        assert not box.has_attr("checked")
        assert box.find_parent("label") is not None
    consent_label = form.find("input", attrs={"name": CONSENT_FIELD}).find_parent("label")
    assert consent_label.get_text(strip=True) == real.strings["consent"][locale]
    privacy = consent_label.find_parent("p").find("a")
    assert privacy["href"] == PRIVACY_URL


def test_honeypot_is_out_of_the_tab_order(forms):
    trap = the_form(forms["nl"]).find("input", attrs={"name": HONEYPOT_FIELD})
    assert trap["tabindex"] == "-1"
    assert trap["autocomplete"] == "off"


@pytest.mark.parametrize("locale", LOCALES)
def test_ids_are_unique_and_references_resolve(forms, locale):
    form = the_form(forms[locale])
    ids = [tag["id"] for tag in form.find_all(id=True)] + [form["id"]]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    known = set(ids)
    for label in form.find_all("label", attrs={"for": True}):
        assert label["for"] in known
    for tag in form.find_all(attrs={"aria-labelledby": True}):
        assert set(tag["aria-labelledby"].split()) <= known


def test_result_skeleton_in_the_form_is_hidden(forms, real):
    form = the_form(forms["nl"])
    result = form.select_one("[data-kb-result]")
    assert result.has_attr("hidden")
    bands = form.select("[data-kb-band]")
    assert [b["data-kb-band"] for b in bands] == [b.id for b in real.bands]
    assert all(b.has_attr("hidden") for b in bands)
    advice = form.select("[data-kb-advice]")
    assert len(advice) == 19 and all(a.has_attr("hidden") for a in advice)
    gates = form.select("[data-kb-gates]")
    assert len(gates) == 1 and gates[0].has_attr("hidden")


# Hostile text from the data file


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Assessment:
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    for locale in LOCALES:
        raw["questions"][0]["text"][locale] = "<script>alert(1)</script>"
        raw["questions"][0]["help"][locale] = '"><img src=x onerror=alert(1)>'
        raw["bands"][0]["title"][locale] = "</script><script>alert(2)</script>"
        raw["scale"][1]["label"][locale] = "</script><script>alert(3)</script>"
        raw["strings"]["sent"][locale] = "</SCRIPT><script>alert(4)</script> {id}"
        raw["themes"][0]["title"][locale] = "<!-- <script>alert(5)</script>"
    path = tmp_path_factory.mktemp("hostile") / "contract-check.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_definition(path, LOCALES)


@pytest.mark.parametrize("locale", LOCALES)
def test_hostile_text_is_escaped(hostile, locale):
    markup = str(render_form(hostile, locale, action=ACTION, article_url=ARTICLE_URL, privacy_url=PRIVACY_URL))
    soup = parse(markup)
    scripts = soup.find_all("script")
    assert len(scripts) == 1
    assert scripts[0].get("type") == "application/json" and scripts[0].has_attr("data-kb-data")
    assert "</script" not in scripts[0].string.lower()
    assert soup.find_all("img") == []
    assert [tag.name for tag in soup.find_all(attrs={"onerror": True})] == []
    # the texts are shown as text, whole
    form = the_form(soup)
    fieldset = form.find("fieldset", attrs={"data-kb-question": hostile.questions[0].id})
    assert "<script>alert(1)</script>" in fieldset.legend.get_text()
    assert form.find(id=f"contract-check-help-{hostile.questions[0].id}").get_text(strip=True) == '"><img src=x onerror=alert(1)>'
    assert form.select_one("[data-kb-band='inspanning'] h4").get_text() == "</script><script>alert(2)</script>"
    assert form.select_one("section.kb-theme h3").get_text() == "<!-- <script>alert(5)</script>"
    # and the data still holds them exactly
    data = data_of(soup)
    assert data["labels"]["1"] == "</script><script>alert(3)</script>"
    assert data["strings"]["sent"] == "</SCRIPT><script>alert(4)</script> {id}"


def test_hostile_text_is_escaped_in_the_result(hostile):
    answers = {"dienstverlener": "ssc", **{q.id: 0 for q in hostile.questions}}
    soup = parse(render_result(hostile, "en", score(hostile, answers), answers, article_url=ARTICLE_URL))
    assert soup.find_all("script") == []
    assert soup.find_all("img") == []
    assert soup.select_one("[data-kb-band='inspanning'] h4").get_text() == "</script><script>alert(2)</script>"


# The static result


@pytest.fixture(scope="module")
def mixed(real):
    # a commercial provider: weight-3 questions at the top, the rest Partly, exit-ondersteuning No
    answers = {"dienstverlener": "commercieel", **{q.id: (2 if q.weight == 3 else 1) for q in real.questions}}
    answers["exit-ondersteuning"] = 0
    return answers, score(real, answers)


@pytest.mark.parametrize("locale", LOCALES)
def test_result_shows_exactly_one_band_and_the_score(real, mixed, locale):
    answers, result = mixed
    soup = parse(render_result(real, locale, result, answers, article_url=ARTICLE_URL))
    section = soup.select_one("section.kb-result")
    assert not section.has_attr("hidden")
    visible = [b for b in soup.select("[data-kb-band]") if not b.has_attr("hidden")]
    assert len(visible) == 1
    assert visible[0]["data-kb-band"] == result.band.id
    assert visible[0].h4.get_text(strip=True) == result.band.title[locale]
    assert len(soup.select("[data-kb-band]")) == len(real.bands)
    assert soup.select_one("[data-kb-score]").get_text(strip=True) == real.strings["score_value"][locale].format(score=result.score)
    assert str(result.score) in soup.select_one("[data-kb-score]").get_text()


def test_result_score_text_for_known_answers(real):
    answers = {"dienstverlener": "ssc", **{q.id: 1 for q in real.questions}}
    soup = parse(render_result(real, "nl", score(real, answers), answers))
    assert soup.select_one("[data-kb-score]").get_text(strip=True) == "50 van 100"
    visible = [b["data-kb-band"] for b in soup.select("[data-kb-band]") if not b.has_attr("hidden")]
    assert visible == ["gemengd"]


@pytest.mark.parametrize("locale", LOCALES)
def test_result_shows_advice_for_weak_answers_only(real, mixed, locale):
    answers, result = mixed
    soup = parse(render_result(real, locale, result, answers, article_url=ARTICLE_URL))
    items = soup.select("[data-kb-advice]")
    assert len(items) == len(real.questions)
    shown = [li["data-kb-advice"] for li in items if not li.has_attr("hidden")]
    hidden = {li["data-kb-advice"] for li in items if li.has_attr("hidden")}
    assert shown == [q.id for q in result.weak]
    # the SSC question does not apply to a commercial provider: no advice, whatever was answered
    assert hidden == {q.id for q in real.questions if answers[q.id] == 2} | {"dvo-gevolgen"}
    assert hidden == {q.id for q in real.questions if q.weight == 3}
    assert shown[-3:] == ["escalatie-termijnen", "exit-data-terug", "exit-ondersteuning"]
    for li in items:
        question = real.question(li["data-kb-advice"])
        assert question.text[locale] in li.get_text(" ")
        assert " ".join(question.advice[locale].split()) in " ".join(li.get_text(" ").split())
        if not li.has_attr("hidden"):
            assert li.select_one("[data-kb-answer-label]").get_text(strip=True) == real.label(answers[question.id], locale)
        links = li.find_all("a")
        # "read more" only where a section of the article makes the point; good practice says so instead
        assert len(links) == (question.section is not None) + (question.clause is not None)
        if question.section is not None:
            assert links[0]["href"] == f"{ARTICLE_URL}#{question.section}"
            assert links[0].get_text(strip=True) == real.strings["read_more"][locale]
        assert (li.select_one("[data-kb-good-practice]") is not None) == question.good_practice
        if question.clause:
            links = links[-1:]
            # the article (artikelen/<slug>/) is ../artikel/ from here: the example clauses
            # page is two levels up from the article, in the same language tree
            page, _, fragment = question.clause.partition("#")
            assert links[0]["href"] == f"../../{page.removesuffix('.md')}/#{fragment}"
            assert links[0].get_text(strip=True) == real.strings["clause_link"][locale]


def test_result_links_to_sections_of_the_same_page_without_article_url(real, mixed):
    answers, result = mixed
    soup = parse(render_result(real, "nl", result, answers))
    hrefs = {a["href"] for a in soup.select("[data-kb-advice] a:not([data-kb-clause])")}
    assert hrefs == {f"#{q.section}" for q in real.questions if q.section is not None}
    clauses = {a["href"] for a in soup.select("[data-kb-advice] a[data-kb-clause]")}
    assert clauses and all(href.startswith("../../voorbeeldclausules/#") for href in clauses)


@pytest.mark.parametrize("locale", LOCALES)
def test_result_theme_scores_and_answers_table(real, mixed, locale):
    answers, result = mixed
    soup = parse(render_result(real, locale, result, answers, article_url=ARTICLE_URL))
    for theme_score in result.themes:
        li = soup.select_one(f"li[data-kb-theme='{theme_score.theme}']")
        title = real.theme(theme_score.theme).title[locale]
        expected = real.strings["theme_score"][locale].format(theme=title, score=theme_score.score)
        assert li.select_one("[data-kb-theme-text]").get_text(strip=True) == expected
        assert li.select_one("rect.kb-bar-fill")["width"] == str(theme_score.score)
    for question in real.questions:
        cell = soup.select_one(f"td[data-kb-answer='{question.id}']")
        expected = real.label(answers[question.id] if question.applies("commercieel") else "na", locale)
        assert cell.get_text(strip=True) == expected
    assert soup.select_one("td[data-kb-context-answer]").get_text(strip=True) == real.context.option("commercieel").label[locale]
    # the table holds every answer: its caption says so; "your answer" labels one answer in the advice
    assert soup.select_one("table.kb-answers caption").get_text(strip=True) == {"nl": "Jouw antwoorden", "en": "Your answers"}[locale]


def test_a_definition_recorded_before_the_answers_caption_still_renders_its_result(real, mixed, tmp_path):
    # the server loads a recorded definition again to score a page built from it: an older one lacks the string
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))
    del raw["strings"]["answers_caption"]
    path = tmp_path / "contract-check.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    older = load_definition(path, LOCALES)
    answers, _ = mixed
    soup = parse(render_result(older, "en", score(older, answers), answers, article_url=ARTICLE_URL))
    assert soup.select_one("table.kb-answers caption").get_text(strip=True) == "Your answer"


def test_result_with_every_answer_at_the_top_shows_no_advice(real):
    answers = {"dienstverlener": "commercieel", **{q.id: 2 for q in real.questions}}
    soup = parse(render_result(real, "en", score(real, answers), answers, article_url=ARTICLE_URL))
    assert all(li.has_attr("hidden") for li in soup.select("[data-kb-advice]"))
    visible = [b["data-kb-band"] for b in soup.select("[data-kb-band]") if not b.has_attr("hidden")]
    assert visible == ["resultaatgericht"]
    assert soup.select_one("[data-kb-score]").get_text(strip=True) == "100 out of 100"


# The verdict without JavaScript (issue 22): the server's result page says what the script shows


def _answers(real, default, context="commercieel", **values):
    answers = {q.id: default for q in real.questions}
    answers[real.context.id] = context
    answers.update({key.replace("_", "-"): value for key, value in values.items()})
    return answers


def _visible(soup, selector):
    element = soup.select_one(selector)
    return element is not None and not element.has_attr("hidden")


@pytest.mark.parametrize("locale", LOCALES)
def test_a_result_with_too_many_dont_knows_shows_no_score_no_band_and_what_to_find_out(real, locale):
    answers = _answers(real, "unknown")
    result = score(real, answers)
    soup = parse(render_result(real, locale, result, answers, article_url=ARTICLE_URL))
    assert not _visible(soup, "[data-kb-score-box]")
    assert not _visible(soup, "[data-kb-theme-scores]")
    assert all(band.has_attr("hidden") for band in soup.select("[data-kb-band]"))
    assert _visible(soup, "[data-kb-insufficient]")
    total = len([q for q in real.questions if q.applies("commercieel")])
    count = soup.select_one("[data-kb-insufficient-count]").get_text(" ", strip=True)
    assert count == real.string("insufficient_count", locale, count=total, total=total)
    # every question says how to find its answer out
    shown = [li for li in soup.select("[data-kb-advice]") if not li.has_attr("hidden")]
    assert len(shown) == total and all(_visible(li, "[data-kb-unknown-advice]") for li in shown)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("answered", [2, 0, "unknown"])
def test_every_result_says_do_the_groundwork_or_bring_in_an_expert_before_renegotiating(real, locale, answered):
    """Issue 22: kennis-en-capaciteit was retired as a question, and its point (the article's
    conclusion) left the result with it. It is a note now: in every result, scored nowhere."""
    answers = _answers(real, answered)
    result = score(real, answers)
    soup = parse(render_result(real, locale, result, answers, article_url=ARTICLE_URL))
    (note,) = real.notes
    shown = soup.select_one(f'[data-kb-note="{note.id}"]')
    assert shown is not None and not shown.has_attr("hidden") and shown.find_parent("section", class_="kb-result")
    assert note.text[locale] in shown.get_text(" ", strip=True)
    assert shown.select_one("a[data-kb-read-more]")["href"] == f"{ARTICLE_URL}#conclusie"
    assert note.id not in {q.id for q in real.questions} and "kennis-en-capaciteit" not in answers


@pytest.mark.parametrize("locale", LOCALES)
def test_a_capped_result_shows_the_capped_score_and_why_not_the_bands_general_advice(real, locale):
    answers = _answers(real, 2, diensten_als_resultaat=0)
    result = score(real, answers)
    soup = parse(render_result(real, locale, result, answers, article_url=ARTICLE_URL))
    assert soup.select_one("[data-kb-score]").get_text(strip=True) == real.string("score_value", locale, score=39)
    band = soup.select_one('[data-kb-band="inspanning"]')
    assert not band.has_attr("hidden") and band.select_one("[data-kb-band-advice]").has_attr("hidden")
    intro = soup.select_one("[data-kb-gate-intro]").get_text(strip=True)
    assert intro == real.string("gate_intro", locale, score=result.raw_score, band=real.band("resultaatgericht").title[locale])
    assert soup.select_one("[data-kb-capped]").get_text(strip=True) == real.string("score_capped", locale, score=39, band=real.band("inspanning").title[locale])
    conflicts = [li["data-kb-conflict"] for li in soup.select("[data-kb-conflict]") if not li.has_attr("hidden")]
    assert conflicts == [c.id for c in result.conflicts] and "eindsituatie-zonder-resultaten" in conflicts


def test_a_question_that_may_not_apply_offers_not_applicable_to_everyone(forms, real):
    form = the_form(forms["nl"])
    for qid in ("exit-data-terug", "meetgegevens-inzien"):
        option = form.select_one(f'[data-kb-question="{qid}"] input[value="na"]')
        assert option is not None and not option.find_parent("label").has_attr("data-kb-na")  # the script keeps it
