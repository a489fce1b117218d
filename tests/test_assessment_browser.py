"""The self-assessment in real Chromium: scoring, progress, saving, language switch,
keyboard use, accessibility, and the same score as the Python scoring."""

from __future__ import annotations

import json
import random

import pytest
from axe_playwright_python.sync_playwright import Axe

from kennisbank.assessment import load_definitions, score
from kennisbank.siteconfig import load_mkdocs

from support import ARTICLE

pytestmark = pytest.mark.browser

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="module")
def assessment():
    config = load_mkdocs()
    return load_definitions(config.assessment_dir, config.locales)["contract-check"]


def _open(page, base_url, prefix=""):
    page.goto(f"{base_url}/{prefix}{ARTICLE}/")
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    return page


def _answer_all(page, assessment, value):
    for question in assessment.questions:
        page.check(f'input[name="answer-{question.id}"][value="{value}"]')


def test_all_weakest_answers_give_the_lowest_band(page, base_url, assessment):
    _open(page, base_url)
    _answer_all(page, assessment, 0)
    result = page.locator("[data-kb-result]")
    assert result.is_visible()
    assert page.locator("[data-kb-score]").inner_text() == "0 van 100"
    assert page.locator('[data-kb-band="inspanning"]').is_visible()
    assert not page.locator('[data-kb-band="resultaatgericht"]').is_visible()
    assert page.locator("[data-kb-advice]:visible").count() == len(assessment.questions)
    assert "0 van 100" in page.locator("[data-kb-status]").inner_text()


def test_all_strongest_answers_give_the_top_band_without_advice(page, base_url, assessment):
    _open(page, base_url, "en/")
    _answer_all(page, assessment, 2)
    assert page.locator("[data-kb-score]").inner_text() == "100 out of 100"
    assert page.locator('[data-kb-band="resultaatgericht"]').is_visible()
    assert page.locator("[data-kb-advice]:visible").count() == 0
    widths = page.eval_on_selector_all(".kb-bar-fill", "rects => rects.map(r => r.getAttribute('width'))")
    assert widths == ["100"] * len(assessment.themes)


def test_partial_answers_show_progress_and_no_verdict(page, base_url, assessment):
    _open(page, base_url)
    for question in assessment.questions[:3]:
        page.check(f'input[name="answer-{question.id}"][value="1"]')
    assert page.locator("[data-kb-progress-text]").inner_text() == f"3 van {len(assessment.questions)} vragen beantwoord"
    assert not page.locator("[data-kb-result]").is_visible()
    assert not page.locator("[data-kb-print]").is_visible()


def test_reload_and_language_switch_keep_the_answers(page, base_url, assessment):
    _open(page, base_url)
    chosen = {q.id: random.Random(q.id).choice([0, 1, 2]) for q in assessment.questions[:5]}
    for qid, value in chosen.items():
        page.check(f'input[name="answer-{qid}"][value="{value}"]')
    page.reload()
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    for qid, value in chosen.items():
        assert page.is_checked(f'input[name="answer-{qid}"][value="{value}"]')
    assert "5" in page.locator("[data-kb-status]").inner_text()
    page.focus(".md-header__option .md-select > button")  # opens the language menu, as a keyboard user would
    page.click(".md-select__link[hreflang=en]")
    page.wait_for_url(f"**/en/{ARTICLE}/")
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    assert page.locator("html").get_attribute("lang") == "en"
    for qid, value in chosen.items():
        assert page.is_checked(f'input[name="answer-{qid}"][value="{value}"]')
    assert page.locator("[data-kb-progress-text]").inner_text().startswith("5 of ")


def test_clear_answers_forgets_them(page, base_url, assessment):
    _open(page, base_url)
    page.check(f'input[name="answer-{assessment.questions[0].id}"][value="2"]')
    page.click(".kb-assessment button[type=reset]")
    page.wait_for_function("() => document.querySelector('[data-kb-status]').textContent.length > 0")
    assert page.evaluate("key => localStorage.getItem(key)", f"kennisbank:assessment:{assessment.id}") is None
    page.reload()
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    assert page.locator("input[type=radio]:checked").count() == 0


def test_stored_answers_that_no_longer_fit_are_ignored(page, base_url, assessment):
    _open(page, base_url)
    first, second = assessment.questions[0].id, assessment.questions[1].id
    stored = {first: 2, second: 7, "removed-question": 1}
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [f"kennisbank:assessment:{assessment.id}", json.dumps(stored)])
    page.reload()
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    assert page.is_checked(f'input[name="answer-{first}"][value="2"]')
    assert page.locator("input[type=radio]:checked").count() == 1
    assert page.locator("[data-kb-progress-text]").inner_text().startswith("1 van ")


def test_the_form_can_be_completed_by_keyboard_alone(page, base_url, assessment):
    _open(page, base_url)
    page.focus(f'input[name="answer-{assessment.questions[0].id}"][value="0"]')
    for index, _question in enumerate(assessment.questions):
        page.keyboard.press("Space")  # check the focused first option
        page.keyboard.press("ArrowRight")  # move to and check "Partly"
        if index < len(assessment.questions) - 1:
            page.keyboard.press("Tab")  # into the next question's group
    assert page.locator("input[type=radio]:checked").count() == len(assessment.questions)
    assert page.locator("[data-kb-result]").is_visible()
    assert page.locator("[data-kb-score]").inner_text() == "50 van 100"
    focused = page.evaluate("() => getComputedStyle(document.activeElement.closest('label')).outlineStyle")
    assert focused != "none"


def test_browser_and_python_agree_on_the_score(page, base_url, assessment):
    _open(page, base_url)
    data = json.loads(page.locator("script[data-kb-data]").text_content())
    rng = random.Random(20261126)
    sets = [{q.id: rng.choice([0, 1, 2]) for q in assessment.questions} for _ in range(500)]
    sets += [{q.id: v for q in assessment.questions} for v in (0, 1, 2)]
    browser_results = page.evaluate("([data, sets]) => sets.map(a => window.kennisbankAssessment.score(data, a))", [data, sets])
    for answers, from_browser in zip(sets, browser_results, strict=False):
        expected = score(assessment, answers)
        assert from_browser["score"] == expected.score
        assert from_browser["band"] == expected.band.id
        assert from_browser["themes"] == {t.theme: t.score for t in expected.themes}
        assert from_browser["weak"] == [q.id for q in assessment.questions if answers[q.id] < 2]


@pytest.mark.parametrize("prefix", ["", "en/"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_article_has_no_axe_violations(page, base_url, assessment, prefix, scheme):
    page.emulate_media(color_scheme=scheme)
    _open(page, base_url, prefix)
    _answer_all(page, assessment, 1)  # the result is part of the page too
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    assert results.violations_count == 0, results.generate_report()


def test_on_a_360px_phone_nothing_overflows_and_targets_are_large(browser, base_url, assessment):
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    _open(page, base_url)
    _answer_all(page, assessment, 1)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    sizes = page.eval_on_selector_all(
        ".kb-option, .kb-actions button:not([hidden]), .kb-check label",
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
    )
    assert sizes and all(w >= 24 and h >= 24 for w, h in sizes)
    context.close()


def test_no_console_errors_on_the_article(page, base_url, console_errors):
    for prefix in ("", "en/"):
        _open(page, base_url, prefix)
        page.wait_for_load_state("networkidle")
    assert console_errors == []
