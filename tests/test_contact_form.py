"""A way to reach us and to use a privacy right that needs no questionnaire (issue 14)."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from kennisbank.contact import KINDS

ENDPOINT = "/api/contact"
GOOD = {
    "lang": "nl",
    "page": "/over/",
    "kind": "erasure",
    "name": "Ada Lovelace",
    "email": "Ada@Example.org",
    "message": "Wis al mijn gegevens.\nKenmerk: onbekend.",
}


# The form on the page


@pytest.mark.parametrize(("prefix", "legend", "kind"), [("", "Waarover gaat het?", "Mijn gegevens wissen"), ("en/", "What is it about?", "Erasure of my data")])
def test_the_about_page_has_the_form_in_its_language(site, prefix, legend, kind):
    form = site.html(f"{prefix}over/").select_one("form.kb-request")
    assert form["action"] == ENDPOINT and form["method"] == "post"
    assert form.select_one("legend").get_text(strip=True) == legend
    assert [radio["value"] for radio in form.select("input[name=kind]")] == list(KINDS)
    assert kind in form.get_text(" ")
    for name in ("name", "email", "message"):
        field = form.select_one(f"[name={name}]")
        assert field.has_attr("required") and form.select_one(f'label[for="{field["id"]}"]') is not None
    assert form.select_one("input[name=page]")["value"] == f"/{prefix}over/"


# The server


def test_a_request_is_stored_and_handed_to_the_outbox(make_client):
    client = make_client()
    response = client.post(ENDPOINT, data=GOOD)
    assert response.status_code == 200
    assert "Ontvangen, dank je wel. Kenmerk:" in response.text
    assert 'href="/over/#kb-contact"' in response.text
    [stored] = client.app.state.store.requests()
    assert (stored.kind, stored.name, stored.email, stored.lang) == ("erasure", "Ada Lovelace", "ada@example.org", "nl")
    assert stored.message == "Wis al mijn gegevens.\nKenmerk: onbekend."
    assert [(d.submission, d.channel) for d in client.app.state.store.deliveries(("pending", "sent", "failed"))] == [(stored.public_id, "email")]


def test_json_gets_json(make_client):
    client = make_client()
    response = client.post(ENDPOINT, json={**GOOD, "lang": "en"})
    assert response.status_code == 201
    assert response.json()["message"].startswith("Received, thank you. Reference number:")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"kind": "complaint"}, {"kind"}),
        ({"name": "", "message": " "}, {"name", "message"}),
        ({"email": "not an address"}, {"email"}),
        ({"message": "x" * 5001}, {"message"}),
        ({"name": "Ada\u202eecalevoL"}, {"name"}),
        ({"fax": "123"}, {"fax"}),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_kept(make_client, changes, fields):
    client = make_client()
    response = client.post(ENDPOINT, data={**GOOD, **changes}, headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == fields
    assert client.app.state.store.requests() == []
    page = client.post(ENDPOINT, data={**GOOD, **changes})
    assert page.status_code == 422 and "Je verzoek is nog niet verstuurd" in page.text


def test_the_same_anti_abuse_rules_as_the_scan(make_client):
    client = make_client(RATE_LIMIT="2/60")
    assert client.post(ENDPOINT, data=GOOD, headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post(ENDPOINT, data={**GOOD, "website": "http://spam.example"}).status_code == 200  # looks like success
    assert client.app.state.store.requests() == []
    assert client.post(ENDPOINT, data=GOOD).status_code == 200
    assert client.post(ENDPOINT, data=GOOD).status_code == 429
    assert len(client.app.state.store.requests()) == 1
    assert client.get(ENDPOINT).status_code == 405


def test_a_foreign_page_path_cannot_become_the_back_link(make_client):
    client = make_client()
    response = client.post(ENDPOINT, data={**GOOD, "page": "//evil.example/"})
    assert response.status_code == 200 and "evil.example" not in response.text


def test_erasing_a_person_erases_their_requests_and_pending_deliveries(make_client):
    client = make_client()
    client.post(ENDPOINT, data=GOOD)
    client.post(ENDPOINT, data={**GOOD, "email": "bob@example.org"})
    store = client.app.state.store
    store.erase_email("ada@example.org")
    assert [request.email for request in store.requests()] == ["bob@example.org"]
    assert len(store.deliveries(("pending", "sent", "failed"))) == 1  # the worker may have sent it already


def test_on_postgresql_a_locked_limit_row_answers_503_and_the_event_loop_keeps_serving(site, postgres, tmp_path):
    """The contact form asks the shared rate limit as the receiver does: in a thread, with
    503 when the database does not answer (issue 21: it asked on the event loop, which
    stood still until the statement timeout, and answered 500)."""
    import hashlib
    import hmac
    import threading
    import time

    import psycopg
    from starlette.testclient import TestClient

    from kennisbank.server.app import create_app
    from kennisbank.server.db.shared_state import database_secret
    from kennisbank.server.settings import Settings

    from support import environment

    url = postgres.fresh()
    app = create_app(Settings.from_env(environment(site.site, tmp_path / "unused.sqlite3", DATABASE_URL=url, RATE_LIMIT="3/60")))
    with TestClient(app, raise_server_exceptions=False) as client:
        key = hmac.new(database_secret(app.state.store), b"testclient", hashlib.sha256).digest()  # TestClient's address, as the limit hashes it
        with psycopg.connect(url, autocommit=True) as holder, psycopg.connect(url, autocommit=True) as watcher:
            # the lock the limit's rate_limit_hit takes for this client, held by another session: recording the request waits
            holder.execute("BEGIN")
            holder.execute("SELECT pg_advisory_xact_lock(1801613932, ('x' || encode(substr(%s::bytea, 1, 4), 'hex'))::bit(32)::integer)", (key,))

            def waiting() -> bool:
                return watcher.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0] > 0

            replies = []
            sender = threading.Thread(target=lambda: replies.append(client.post(ENDPOINT, json=GOOD)))
            sender.start()
            deadline = time.monotonic() + 30  # only so that a broken limit cannot hang the test
            while not waiting() and sender.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert waiting(), "the contact request never waited for the limit's lock"
            robots = client.get("/robots.txt")  # while the contact request waits for the lock
            still_waiting = waiting()  # False if the loop could only serve it once the limit's query had given up
            sender.join(timeout=30)
            holder.execute("ROLLBACK")
    assert robots.status_code == 200 and len(replies) == 1
    # robots.txt answered while the contact request still waited: the event loop was not the one waiting
    assert {"served meanwhile": still_waiting, "contact status": replies[0].status_code} == {"served meanwhile": True, "contact status": 503}
    assert "error" in replies[0].json()


# In the browser, with and without JavaScript


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False])
def test_sending_the_form_in_a_browser(browser, live_server, javascript):
    base_url, _ = live_server
    context = browser.new_context(java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/en/over/")
        page.check("form.kb-request input[value=access]")
        page.fill("form.kb-request input[name=name]", "Grace Hopper")
        page.fill("form.kb-request input[name=email]", "grace@example.org")
        page.fill("form.kb-request textarea[name=message]", "Which data do you hold about me?")
        with page.expect_navigation():
            page.click("form.kb-request button[type=submit]")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator(".kb-sent").inner_text().startswith("Received, thank you.")
        page.get_by_role("link", name="Back to the form").click()
        assert page.url.endswith("/en/over/#kb-contact")
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_about_page_with_the_form_has_no_axe_violations(page, base_url, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{base_url}/over/")
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
    assert results.violations_count == 0, results.generate_report()
