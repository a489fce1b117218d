"""The dashboard in real Chromium: from the notification's link to login, status, note,
export, erasure and logout; axe-core on every page, light and dark."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from kennisbank.server.dashboard import auth
from kennisbank.server.db.store import open_store

from support import ENDPOINT, measure, payload, start_server

pytestmark = pytest.mark.browser

EMAIL = "consultant@example.org"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def dashboard_server(site, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    database = folder / "db.sqlite3"
    store = open_store(f"sqlite:///{database}", folder)
    store.add_admin(EMAIL, auth.hash_password(PASSWORD))
    store.close()
    server, base_url = start_server(site.site, database, MAILDIR=str(folder / "mail"), NOTIFY="leads")
    yield base_url, folder / "mail"
    server.stop()


def submit(base_url: str, email: str, organisation: str = "Gemeente Voorbeeld") -> str:
    body = payload(1, consent=True, discuss=True, contact={"name": "Eva <b>de</b> Vries", "email": email, "organisation": organisation, "message": "=1+1"})
    request = urllib.request.Request(base_url + ENDPOINT, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["id"]


def notification_link(mail: Path, public_id: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in (mail / "new").glob("*") if (mail / "new").is_dir() else []:
            text = message.read_text(encoding="utf-8", errors="replace")
            found = re.search(r"https?://\S*?/beheer/inzendingen/" + public_id, text)
            if found:
                return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no notification with a dashboard link for {public_id} in {mail}")


def no_violations(page) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": measure.AXE_TAGS}})
    assert results.violations_count == 0, f"{page.url}\n" + results.generate_report()


def log_in(page) -> None:
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]:has-text('Inloggen')")


def test_from_the_notification_to_erasure_and_logout(browser, dashboard_server, tmp_path):
    base_url, mail = dashboard_server
    public_id = submit(base_url, "eva@example.org")
    link = notification_link(mail, public_id)
    path = "/" + link.split("/", 3)[3]  # the built site's SITE_URL host, this server's port
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(base_url + path)
        assert "/beheer/login" in page.url
        log_in(page)
        assert page.url.endswith(path)
        assert page.locator("h1").inner_text() == f"Inzending {public_id}"
        assert "Eva <b>de</b> Vries" in page.locator(".kb-facts").inner_text()  # shown as text, not markup
        cookies = context.cookies()
        assert [c["name"] for c in cookies] == ["kb-beheer"] and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"

        page.select_option("#status-choice", "contacted")
        page.click("text=Status opslaan")
        assert page.locator("#status").inner_text() == "Status: Benaderd"
        page.fill("#note", "Gebeld; offerte volgt.")
        page.click("text=Notitie opslaan")
        assert "Gebeld; offerte volgt." in page.locator(".kb-notes").inner_text()

        page.click("nav >> text=Gegevens")
        with page.expect_download() as download:
            page.click("text=CSV downloaden >> nth=0")
        exported = Path(download.value.path()).read_text(encoding="utf-8")
        assert public_id in exported and "'=1+1" in exported

        page.fill("#erase-email", "eva@example.org")
        page.click("text=Verder")
        assert public_id in page.content()
        page.click("text=Definitief wissen")
        assert "1 inzendingen gewist" in page.content()
        page.goto(base_url + path)
        assert page.locator("h1").inner_text() == "Niet gevonden"

        page.click("text=Uitloggen")
        assert "/beheer/login" in page.url
        page.goto(base_url + "/beheer/inzendingen")
        assert "/beheer/login" in page.url
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_dashboard_page_passes_axe(browser, dashboard_server, scheme):
    base_url, mail = dashboard_server
    public_id = submit(base_url, f"axe-{scheme}@example.org")
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(base_url + "/beheer/login")
        no_violations(page)
        log_in(page)
        for path in ("/beheer/inzendingen", f"/beheer/inzendingen/{public_id}", "/beheer/inzicht", "/beheer/gegevens", "/beheer/logboek"):
            page.goto(base_url + path)
            assert page.locator("h1").count() == 1
            no_violations(page)
        page.goto(base_url + "/beheer/gegevens")
        page.fill("#erase-email", f"axe-{scheme}@example.org")
        page.click("text=Verder")
        no_violations(page)
        page.click("button:has-text('English')")
        assert page.locator("html").get_attribute("lang") == "en"
        no_violations(page)
    finally:
        context.close()


def test_another_origin_cannot_frame_the_dashboard(browser, dashboard_server, tmp_path):
    base_url, _ = dashboard_server
    context = browser.new_context()
    page = context.new_page()
    try:
        # a page of another origin (a data: URL is opaque) that frames the login
        page.set_content(f'<iframe id="f" src="{base_url}/beheer/login"></iframe>')
        page.wait_for_timeout(1000)
        frame = page.frame_locator("#f")
        assert frame.locator("#password").count() == 0
    finally:
        context.close()
