"""Abuse: bots (honeypot), floods (rate limit), oversized bodies, and hostile text that
must be refused or stored and exported inert."""

from __future__ import annotations

import csv
import io
import json

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient  # after conftest silenced its httpx2 warning

from kennisbank.server.dashboard.export import neutralise, to_csv, to_json

from support import ASSESSMENT, ENDPOINT, QUESTIONS, form, payload, stored, stored_answers

# Honeypot


def test_honeypot_json_looks_like_success_and_stores_nothing(make_client):
    client = make_client()
    real = client.post(ENDPOINT, json=payload(2))
    client.app.state.store.erase_email  # noqa: B018 (the store is there)
    trapped = client.post(ENDPOINT, json=payload(2, website="http://spam.example"))
    assert trapped.status_code == real.status_code == 201
    assert set(trapped.json()) == set(real.json())
    assert len(trapped.json()["id"]) == len(real.json()["id"]) and trapped.json()["id"] != real.json()["id"]
    # peers: compared with what was stored before each, as a real second submission would be
    assert {k: v for k, v in trapped.json().items() if k not in ("id", "peers")} == {k: v for k, v in real.json().items() if k not in ("id", "peers")}
    assert (real.json()["peers"]["count"], trapped.json()["peers"]["count"]) == (0, 1)
    assert [s.public_id for s in stored(client)] == [real.json()["id"]]


def test_honeypot_form_looks_like_success_and_stores_nothing(make_client):
    client = make_client()
    response = client.post(ENDPOINT, data=form(website="buy now", name="Bot", email="bot@example.org", consent="yes"))
    assert response.status_code == 200
    assert BeautifulSoup(response.text, "lxml").select_one("section.kb-result") is not None
    assert stored(client) == []


# Rate limit


def test_rate_limit_answers_429_with_retry_after(make_client):
    client = make_client(RATE_LIMIT="3/60")
    for _ in range(3):
        assert client.post(ENDPOINT, json=payload()).status_code == 201
    response = client.post(ENDPOINT, json=payload(lang="en"))
    assert response.status_code == 429
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 60
    assert response.json()["error"] == ASSESSMENT.string("error_rate", "en", seconds=seconds)
    page = client.post(ENDPOINT, data=form(lang="nl"))
    assert page.status_code == 429 and "retry-after" in page.headers
    assert ASSESSMENT.string("error_rate", "nl", seconds=page.headers["retry-after"]) in BeautifulSoup(page.text, "lxml").get_text()
    assert len(stored(client)) == 3
    # another address is not affected
    other = TestClient(client.app, client=("192.0.2.7", 1234))
    assert other.post(ENDPOINT, json=payload()).status_code == 201


def test_rate_limit_off(make_client):
    client = make_client(RATE_LIMIT="off")
    assert all(client.post(ENDPOINT, json=payload()).status_code == 201 for _ in range(12))


# Size


@pytest.mark.parametrize("kind", ["json", "form"])
def test_body_over_the_limit_is_413_by_content_length(make_client, kind):
    client = make_client(MAX_BODY_BYTES="8192")
    big = "x" * 9000
    response = client.post(ENDPOINT, json=payload(contact={"message": big})) if kind == "json" else client.post(ENDPOINT, data=form(message=big))
    assert response.status_code == 413
    assert stored(client) == []


@pytest.mark.parametrize("media", ["application/json", "application/x-www-form-urlencoded"])
def test_body_over_the_limit_is_413_while_streaming(make_client, media):
    client = make_client(MAX_BODY_BYTES="8192")

    def chunks():  # no Content-Length: chunked transfer
        for _ in range(20):
            yield b" " * 1000

    response = client.post(ENDPOINT, content=chunks(), headers={"content-type": media, "accept": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert stored(client) == []


def test_100_kb_of_unicode_is_refused(make_client):
    client = make_client()
    text = "ü€𝄞" * 9000  # ~ 100 KB in UTF-8
    assert client.post(ENDPOINT, json=payload(contact={"message": text})).status_code == 413
    assert client.post(ENDPOINT, data=form(message=text)).status_code == 413
    roomy = make_client(MAX_BODY_BYTES="1048576")
    response = roomy.post(ENDPOINT, json=payload(contact={"message": text}, consent=True))
    assert response.status_code == 422 and "contact.message" in response.json()["errors"]
    assert stored(client) == stored(roomy) == []


# Hostile text: stored as text, never run


HOSTILE = {
    "name": "<script>alert('x')</script>",
    "organisation": "Robert'); DROP TABLE submissions;--",
    "message": '=HYPERLINK("http://evil.example","klik")\n+1+1\n-2\n@SUM(A1)\n"quoted", and; more',
    "email": "o'brien+tag@example.org",
}


def test_hostile_text_is_stored_verbatim_and_the_table_survives(make_client):
    client = make_client()
    response = client.post(ENDPOINT, json=payload(contact=HOSTILE, consent=True))
    assert response.status_code == 201, response.text
    [kept] = stored(client)
    assert (kept.name, kept.organisation, kept.message, kept.email) == (HOSTILE["name"], HOSTILE["organisation"], HOSTILE["message"], HOSTILE["email"])
    assert client.post(ENDPOINT, json=payload()).status_code == 201  # the table is still there
    assert len(stored(client)) == 2


def test_hostile_text_is_escaped_in_html_replies(make_client):
    client = make_client()
    page = client.post(ENDPOINT, data=form(**{"answer-<img src=x onerror=alert(1)>": "1"}))
    assert page.status_code == 422
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    page = client.post(ENDPOINT, data=form(name=HOSTILE["name"]))
    assert page.status_code == 200 and "<script>alert('x')</script>" not in page.text


def test_csv_export_neutralises_formulas(make_client):
    client = make_client()
    contact = {"name": "=1+2", "organisation": "+31 20 123", "message": "@cmd", "email": "a@example.org"}
    assert client.post(ENDPOINT, json=payload(contact=contact, consent=True)).status_code == 201
    client.post(ENDPOINT, json=payload(contact={"name": "-5", "organisation": "\tTab", "message": "\rCR"}, consent=True))
    rows = list(csv.DictReader(io.StringIO(to_csv(stored(client), QUESTIONS))))
    assert (rows[0]["name"], rows[0]["organisation"], rows[0]["message"]) == ("'=1+2", "'+31 20 123", "'@cmd")
    assert rows[1]["name"] == "'-5" and rows[1]["organisation"] == "Tab"  # stored stripped: no leading tab is left
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert [rows[0][f"answer.{q}"] for q in QUESTIONS] == [str(stored_answers(1)[q]) for q in QUESTIONS]


@pytest.mark.parametrize("cell", ["=A1", "+A1", "-A1", "@A1", "\tA1", "\rA1"])
def test_neutralise(cell):
    assert neutralise(cell) == "'" + cell
    assert neutralise("plain " + cell) == "plain " + cell
    assert neutralise(5) == 5


def test_hostile_text_round_trips_through_both_exports(make_client):
    client = make_client()
    client.post(ENDPOINT, json=payload(contact=HOSTILE, consent=True))
    submissions = stored(client)
    exported = json.loads(to_json(submissions))
    assert exported[0]["message"] == HOSTILE["message"] and exported[0]["name"] == HOSTILE["name"]
    rows = list(csv.DictReader(io.StringIO(to_csv(submissions, QUESTIONS))))
    assert rows[0]["message"] == "'" + HOSTILE["message"]
    assert rows[0]["organisation"] == HOSTILE["organisation"]
