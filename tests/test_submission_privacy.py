"""What the privacy statement promises about submissions, checked against the server:
contact details only with consent, no IP address stored or logged, no cookies,
addresses forgotten after the rate-limit window, retention enforced."""

from __future__ import annotations

import re
import sqlite3
import urllib.request
from datetime import timedelta

import yaml
from bs4 import BeautifulSoup

from kennisbank.server.db.records import STATUSES
from kennisbank.server.db.store import months_before, open_store, utc_now
from kennisbank.server.settings import Settings
from kennisbank.server.web.ratelimit import RateLimiter, client_key

from support import ASSESSMENT, ENDPOINT, ROOT, form, payload, start_server, stored, submission

CONTACT = {"name": "Jan Jansen", "email": "jan@example.nl", "organisation": "Gemeente X", "message": "Bel me"}


def test_json_contact_without_consent_is_dropped_before_storage(make_client):
    client = make_client()
    response = client.post(ENDPOINT, json=payload(contact=CONTACT, discuss=True, consent=False))
    assert response.status_code == 201
    assert response.json()["contact_stored"] is False
    [kept] = stored(client)
    assert (kept.name, kept.email, kept.organisation, kept.message, kept.discuss, kept.consent) == (None,) * 5 + (False,)


def test_form_contact_without_consent_is_dropped_and_the_reader_is_told(make_client, tmp_path):
    client = make_client()
    response = client.post(ENDPOINT, data=form(**CONTACT, discuss="yes"))
    assert response.status_code == 200
    notice = BeautifulSoup(response.text, "lxml").select_one(".kb-consent-notice")
    assert notice is not None and notice.get_text(strip=True) == ASSESSMENT.string("error_consent", "nl")
    [kept] = stored(client)
    assert kept.name is None and kept.email is None and kept.discuss is None
    raw = b"".join(file.read_bytes() for file in (tmp_path / "var").glob("db.sqlite3*"))
    for value in CONTACT.values():
        assert value.encode() not in raw


def test_no_notice_without_contact_details(make_client):
    response = make_client().post(ENDPOINT, data=form())
    assert "kb-consent-notice" not in response.text


def test_consent_without_details_stores_no_contact(make_client):
    client = make_client()
    assert client.post(ENDPOINT, json=payload(consent=True)).json()["contact_stored"] is False
    [kept] = stored(client)
    assert kept.email is None and kept.name is None


def test_no_request_data_is_stored(make_client, tmp_path):
    client = make_client()
    headers = {"user-agent": "UA-MARKER-123", "x-forwarded-for": "203.0.113.99", "referer": "http://ref.example/REF-MARKER"}
    client.post(ENDPOINT, json=payload(), headers=headers)
    client.post(ENDPOINT, data=form(), headers=headers)
    db = sqlite3.connect(tmp_path / "var" / "db.sqlite3")
    columns = {row[1] for row in db.execute("PRAGMA table_info(submissions)")}
    db.close()
    assert not columns & {"ip", "ip_address", "address", "user_agent", "referer", "host"}
    raw = b"".join(file.read_bytes() for file in (tmp_path / "var").glob("db.sqlite3*"))
    for marker in (b"testclient", b"UA-MARKER", b"203.0.113", b"REF-MARKER"):
        assert marker not in raw


def test_no_cookies_are_set(make_client):
    client = make_client()
    for response in (client.get("/"), client.post(ENDPOINT, json=payload()), client.post(ENDPOINT, data=form()), client.get("/nope")):
        assert "set-cookie" not in response.headers
    assert not client.cookies


def test_the_server_keeps_no_access_log(site, tmp_path):
    server, base_url = start_server(site.site, tmp_path / "db.sqlite3")
    try:
        urllib.request.urlopen(base_url + "/").close()
        request = urllib.request.Request(base_url + ENDPOINT, data=b'{"answers": {}}', headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request)
        except urllib.error.HTTPError as exc:
            assert exc.code == 422
    finally:
        server.process.terminate()
        output = server.process.communicate(timeout=10)[0]
    assert "Uvicorn running" in output or "serving" in output
    assert "127.0.0.1:" not in re.sub(r"https?://127\.0\.0\.1:\d+", "", output)
    assert "GET /" not in output and "POST /" not in output


def test_rate_limit_forgets_addresses_after_the_window():
    now = [1000.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None
    assert len(limiter) == 2
    now[0] += 61
    limiter.sweep()
    assert len(limiter) == 0
    assert limiter.hit("a") is None


def test_ipv6_clients_count_per_64_network():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key(None) == "unknown"


def test_the_server_purges_expired_submissions_when_it_starts(make_client, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}", tmp_path)
    cutoff = months_before(utc_now(), 12)
    old = submission(created_at=cutoff - timedelta(days=1), email="old@example.org")
    recent = submission(created_at=cutoff + timedelta(days=1))
    store.add(old)
    store.add(recent)
    store.close()
    client = make_client(RETENTION_MONTHS="12")  # entering the client runs the start-up purge
    assert [s.public_id for s in stored(client)] == [recent.public_id]


def test_the_statement_and_the_default_retention_agree():
    settings = Settings.from_env({})
    assert settings.retention_months == 12
    statement = (ROOT / "docs" / "privacy.nl.md").read_text(encoding="utf-8")
    assert "12 maanden" in statement
    assert "IP-adres" in statement and "toegangslog" in statement


def test_the_statement_names_the_statuses_the_dashboard_gives():
    # what a reader is told staff record about a submission: the dashboard's own statuses, in its words
    strings = yaml.safe_load((ROOT / "kennisbank" / "templates" / "dashboard" / "strings.yml").read_text(encoding="utf-8"))
    for locale, conjunction in (("nl", "of"), ("en", "or")):
        labels = [strings[f"status_{status}"][locale].lower() for status in STATUSES]
        statement = (ROOT / "docs" / f"privacy.{locale}.md").read_text(encoding="utf-8")
        listed = f"({', '.join(labels[:-1])} {conjunction} {labels[-1]})"
        assert listed in statement, f"privacy.{locale}.md should list the statuses as {listed}"
