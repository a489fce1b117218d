"""Reach in Chromium (issue 24): a reader's visit, the scan started, completed and sent, on the Reach page.

The server is ``kennisbank serve`` in its own process with its own database; the counts
reach the database when it stops (SIGTERM: the shutdown writes them), and the Reach page
is then read from an app on the same database. Each beacon is waited for as the browser
sees its answer: no sleep.
"""

from __future__ import annotations

import re

import pytest

from kennisbank.server.app import create_app
from kennisbank.server.dashboard import auth
from kennisbank.server.settings import Settings

from support import ARTICLE, answer_all, environment, start_server

pytestmark = pytest.mark.browser

#: Chromium's own headless user agent says HeadlessChrome, which the bot list rightly leaves out
READER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
EMAIL = "consultant@example.org"
PASSWORD = "correct horse battery staple"


def beacon_of(step: str):
    return lambda response: response.url.endswith("/api/funnel") and f"step={step}" in (response.request.post_data or "")


def row_of(html: str, page: str) -> list[str]:
    """The counts of ``page``'s row on the Reach page: views, started, rate, completed, rate, sent, rate, leads, rate."""
    row = html[html.index(f"<small>{page}</small>") :].split("</tr>")[0]
    return [cell.split("</td>")[0] for cell in row.split("<td>")[2:]]


def test_a_readers_visit_start_completion_and_submission_show_in_the_funnel(browser, site, tmp_path):
    from starlette.testclient import TestClient

    database = tmp_path / "reach.sqlite3"
    server, base_url = start_server(site.site, database)
    try:
        context = browser.new_context(user_agent=READER)
        page = context.new_page()
        page.goto(f"{base_url}/{ARTICLE}/")
        with page.expect_response(beacon_of("started")) as started, page.expect_response(beacon_of("completed")) as completed:
            answer_all(page, "2")
        assert started.value.status == 204 and completed.value.status == 204
        page.click("form.kb-assessment button[type=submit]")
        page.wait_for_function("() => document.querySelector('[data-kb-sent]').textContent.startsWith('Verstuurd')")
        context.close()

        # without JavaScript: the view and the submission count, no step
        plain = browser.new_context(user_agent=READER, java_script_enabled=False)
        page = plain.new_page()
        page.goto(f"{base_url}/en/{ARTICLE}/")
        answer_all(page, "1")
        page.fill("form.kb-assessment input[name=name]", "Bea")
        page.fill("form.kb-assessment input[name=email]", "bea@example.org")
        page.check("form.kb-assessment input[name=consent]")
        with page.expect_navigation():
            page.click("form.kb-assessment button[type=submit]")
        plain.close()

        # a bot's visit and a made-up path count nothing
        bot = browser.new_context()  # HeadlessChrome
        bot.new_page().goto(f"{base_url}/{ARTICLE}/")
        bot.close()
        made_up = browser.new_context(user_agent=READER)
        assert made_up.new_page().goto(f"{base_url}/made-up/").status == 404
        made_up.close()
    finally:
        server.stop()  # the shutdown writes the counts

    with TestClient(create_app(Settings.from_env(environment(site.site, database)))) as client:
        client.app.state.store.add_admin(EMAIL, auth.hash_password(PASSWORD))
        assert client.post("/beheer/login", data={"email": EMAIL, "password": PASSWORD, "next": "/beheer/bereik"}).status_code == 200
        html = client.get("/beheer/bereik").text
        # one view, one start, one completion, one sent, no contact details
        assert row_of(html, f"/{ARTICLE}/") == ["1", "1", "100.0%", "1", "100.0%", "1", "100.0%", "0", "0.0%"]
        # without JavaScript: the view and the submission (with contact details), no step counted
        assert row_of(html, f"/en/{ARTICLE}/") == ["1", "0", "0.0%", "0", "-", "1", "-", "1", "100.0%"]
        assert re.search(r"made-up", html) is None
        assert client.app.state.store.run_sql("SELECT sum(n) FROM reach_views") == [(2,)]
