"""Where the reader stands, in Chromium: after sending with JavaScript the result shows
the comparison (text and a per-theme table), without JavaScript the reply page does,
below the threshold both say how many more are needed, and axe finds nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe

from support import ARTICLE, AXE_TAGS, ENDPOINT, answer_all, axe_without_javascript, payload, start_server

pytestmark = pytest.mark.browser

# the same rules as tests/test_assessment_browser.py (test modules do not import each other)
MINIMUM = 3


@pytest.fixture(scope="module")
def peers_server(site, tmp_path_factory):
    """A server of its own with BENCHMARK_MIN=3 and no submissions yet."""
    database = tmp_path_factory.mktemp("peers-db") / "db.sqlite3"
    server, base_url = start_server(site.site, database, BENCHMARK_MIN=str(MINIMUM), BENCHMARK_STEP="1")
    yield base_url
    server.stop()


def seed(base_url: str, count: int) -> None:
    with httpx.Client(base_url=base_url) as http:
        for value in range(count):
            body = json.dumps(payload(value % 3))
            assert http.post(ENDPOINT, content=body, headers={"content-type": "application/json"}).status_code == 201


def test_the_reader_sees_where_they_stand_with_and_without_javascript(browser, page, peers_server, console_errors):
    # below the threshold: how many more, and no figures
    page.goto(f"{peers_server}/{ARTICLE}/")
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    answer_all(page, "1")
    page.click("form.kb-assessment button[type=submit]")
    box = page.locator("[data-kb-peers]")
    box.wait_for(state="visible")
    assert "nog 3 nodig" in box.inner_text() and box.locator("table").count() == 0

    seed(peers_server, MINIMUM)  # 1 + 3 earlier now
    page.click("form.kb-assessment button[type=submit]")
    page.wait_for_selector("[data-kb-peers][data-kb-peers-shown=true]")
    text = box.inner_text()
    assert "Je totaalscore ligt tussen 50 en 59" in text and "Van de 4 contracten" in text and "hun mediaan ligt tussen" in text
    assert box.get_by_role("heading", name="Waar je staat").count() == 1
    assert box.locator("table").count() == 0, "no theme table: theme figures would narrow an earlier reader's total"
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    assert results.violations_count == 0, results.generate_report()
    page.check('input[name="answer-diensten-als-resultaat"][value="0"]')  # another answer: the comparison was of the one sent
    assert box.is_hidden()
    assert console_errors == []

    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    try:
        plain.goto(f"{peers_server}/en/{ARTICLE}/")
        answer_all(plain, "2")
        with plain.expect_navigation():
            plain.click("form.kb-assessment button[type=submit]")
        section = plain.locator("section.kb-peers")
        assert section.get_by_role("heading", name="Where you stand").is_visible()
        assert "Your total score is between 90 and 100" in section.inner_text() and "Of the 5 contracts" in section.inner_text()
        assert section.locator("table").count() == 0
        results = axe_without_javascript(browser, plain)
        assert results.violations_count == 0, results.generate_report()
    finally:
        context.close()
