"""Sending the self-assessment from a real browser, with JavaScript and without,
and finding the submission in the consultant's export."""

from __future__ import annotations

import pytest

from support import ARTICLE, answer_all, export_json

pytestmark = pytest.mark.browser


def test_sending_with_javascript_confirms_and_drops_contact_details_without_consent(page, live_server, console_errors):
    base_url, database = live_server
    page.goto(f"{base_url}/{ARTICLE}/")
    assert answer_all(page, "2") == 18  # the questions for a commercial provider
    page.fill("form.kb-assessment input[name=name]", "Ada Zonder-Toestemming")
    page.fill("form.kb-assessment input[name=email]", "ada@example.org")
    page.click("form.kb-assessment button[type=submit]")
    page.wait_for_function("() => document.querySelector('[data-kb-sent]').textContent.startsWith('Verstuurd')")
    sent = page.locator("[data-kb-sent]").inner_text()
    public_id = sent.split("Kenmerk:")[-1].strip().rstrip(".")
    assert page.url.endswith(f"/{ARTICLE}/")  # no page change: the reply came through fetch
    stored = {row["id"]: row for row in export_json(database)}
    assert public_id in stored
    row = stored[public_id]
    assert row["score"] == 100 and row["band"] == "resultaatgericht" and row["lang"] == "nl"
    assert not row.get("name") and not row.get("email")  # no consent: dropped before storage
    assert console_errors == []


def test_sending_without_javascript_answers_a_result_page_in_the_readers_language(browser, live_server):
    base_url, database = live_server
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/en/{ARTICLE}/")
    assert page.locator("[data-kb-progress]").is_hidden()  # the script did not run
    answer_all(page, "0")
    page.fill("form.kb-assessment input[name=name]", "Bea Met-Toestemming")
    page.fill("form.kb-assessment input[name=email]", "Bea@Example.org")
    page.check("form.kb-assessment input[name=consent]")
    with page.expect_navigation():
        page.click("form.kb-assessment button[type=submit]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("[data-kb-score]").inner_text() == "0 out of 100"
    assert page.locator('[data-kb-band="inspanning"]').is_visible()
    assert page.locator("[data-kb-advice]:visible").count() == 18  # every question for a commercial provider; the SSC question does not apply
    back = page.get_by_role("link", name="Back to the article")
    assert back.count() >= 1
    context.close()
    stored = [row for row in export_json(database) if row.get("email") == "bea@example.org"]
    assert len(stored) == 1
    assert stored[0]["name"] == "Bea Met-Toestemming" and stored[0]["lang"] == "en" and stored[0]["score"] == 0


def test_a_failed_send_keeps_the_answers_and_says_how_to_retry(page, base_url):
    page.goto(f"{base_url}/{ARTICLE}/")
    answer_all(page, "1")
    page.route("**/api/**", lambda route: route.abort())
    page.click("form.kb-assessment button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('[data-kb-sent]').textContent.length > 0 && !document.querySelector('[data-kb-sent]').textContent.startsWith('Bezig')"
    )
    assert page.locator("[data-kb-sent]").inner_text().startswith("Versturen is niet gelukt")
    assert page.locator("form.kb-assessment input[type=radio]:checked").count() == 19  # the context answer and the 18 questions that apply
    assert page.locator("form.kb-assessment button[type=submit]").is_enabled()
