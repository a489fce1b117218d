"""The submission endpoint for both clients (HTML form and fetch with JSON); the built
site as the server serves it is in test_static_files.py. Shared helpers are in
support.py and conftest.py. Each test runs on SQLite and on PostgreSQL (``BACKENDS``)."""

from __future__ import annotations

import json
import re

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient  # after conftest silenced its httpx2 warning

from kennisbank.assessment import score

from support import ARTICLE, ASSESSMENT, CONTEXT, ENDPOINT, QUESTIONS, form, payload, stored, stored_answers
from support import answers as all_answers

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


# Success


@pytest.mark.parametrize("value", [0, 1, 2])
def test_json_submission_is_scored_by_the_server_and_stored(client, value):
    response = client.post(ENDPOINT, json=payload(value, lang="en"))
    assert response.status_code == 201, response.text
    reply = response.json()
    expected = score(ASSESSMENT, all_answers(value))
    assert reply["score"] == expected.score
    assert reply["band"] == {"id": expected.band.id, "title": expected.band.title["en"]}
    assert reply["contact_stored"] is False
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", reply["id"])
    [submission] = stored(client)
    assert submission.public_id == reply["id"]
    assert (submission.score, submission.band) == (expected.score, expected.band.id)
    assert dict(submission.answers) == stored_answers(value)
    assert (submission.assessment, submission.version, submission.lang) == ("contract-check", ASSESSMENT.version, "en")


def test_stored_score_matches_the_scoring_for_mixed_answers(client):
    import random

    rng = random.Random(4)
    for _ in range(20):
        answers = {**CONTEXT, **{q: rng.choice([0, 1, 2]) for q in QUESTIONS}}
        assert client.post(ENDPOINT, json=payload(answers=answers)).status_code == 201
    for submission in stored(client):
        result = score(ASSESSMENT, submission.answers)
        assert (submission.score, submission.band) == (result.score, result.band.id)


@pytest.mark.parametrize("multipart", [False, True])
def test_form_post_gets_the_result_page_in_the_readers_language(client, multipart):
    fields = form("2", lang="en")
    response = client.post(ENDPOINT, files={k: (None, v) for k, v in fields.items()}) if multipart else client.post(ENDPOINT, data=fields)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    soup = BeautifulSoup(response.text, "lxml")
    assert soup.html["lang"] == "en"
    result = soup.select_one("section.kb-result")
    assert result is not None and not result.has_attr("hidden")
    assert result.select_one("[data-kb-score]").get_text() == "100 out of 100"
    assert not soup.select_one('[data-kb-band="resultaatgericht"]').has_attr("hidden")
    [submission] = stored(client)
    assert submission.public_id in soup.select_one(".kb-sent").get_text()
    back = soup.select_one(".kb-back a")
    assert back.get_text() == ASSESSMENT.string("back", "en")
    assert back["href"] == f"/en/{ARTICLE}/#contract-check"
    assert "kb-consent-notice" not in response.text


def test_result_page_works_at_the_endpoint_url(client):
    """Every relative URL of the page shell is made absolute: the page is served at the API path."""
    soup = BeautifulSoup(client.post(ENDPOINT, data=form()).text, "lxml")
    for tag, attr in (("link", "href"), ("script", "src"), ("a", "href")):
        for element in soup.find_all(tag, **{attr: True}):
            url = element[attr]
            assert url.startswith(("/", "#", "http://", "https://", "mailto:", "data:")), f"<{tag} {attr}={url}>"
    for link in soup.find_all("link", rel="stylesheet"):
        assert client.get(link["href"]).status_code == 200
    assert any(link["href"].endswith("assessment.css") for link in soup.find_all("link", rel="stylesheet"))
    config = json.loads(soup.select_one("#__config").string)
    assert config["base"].startswith("/")
    assert soup.find(string=re.compile(r"__md_scope=new URL\(\"/\""))


def test_contact_with_consent_is_stored_normalised(client):
    contact = {"name": "  Jan Jansen ", "email": "Jan.Jansen@Example.NL", "organisation": "Gemeente X", "message": "Graag\r\nbellen"}
    response = client.post(ENDPOINT, json=payload(contact=contact, consent=True, discuss=True))
    assert response.status_code == 201
    assert response.json()["contact_stored"] is True
    [submission] = stored(client)
    assert (submission.name, submission.email, submission.organisation) == ("Jan Jansen", "jan.jansen@example.nl", "Gemeente X")
    assert submission.message == "Graag\nbellen"
    assert submission.consent is True and submission.discuss is True


def test_form_checkboxes_and_contact(client):
    response = client.post(ENDPOINT, data=form(name="Ann", email="ann@example.org", discuss="yes", consent="yes"))
    assert response.status_code == 200
    [submission] = stored(client)
    assert (submission.name, submission.email, submission.discuss, submission.consent) == ("Ann", "ann@example.org", True, True)


# Rejections, for both clients


def _json_errors(response) -> dict:
    assert response.status_code == 422, response.text
    return response.json()["errors"]


def _html_errors(response) -> list[str]:
    assert response.status_code == 422, response.text
    soup = BeautifulSoup(response.text, "lxml")
    assert soup.select_one(".kb-errors h2").get_text() == ASSESSMENT.string("error_heading", soup.html["lang"])
    assert soup.select_one(".kb-back a")
    return [li.get_text() for li in soup.select(".kb-errors li")]


def test_unknown_assessment_is_404_for_both_clients(client):
    response = client.post("/api/assessments/nope/submissions", json=payload())
    assert response.status_code == 404 and "error" in response.json()
    response = client.post("/api/assessments/nope/submissions", data=form())
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert stored(client) == []


def test_missing_and_unknown_questions(client):
    answers = CONTEXT | dict.fromkeys(QUESTIONS[1:], 1) | {"bestaat-niet": 1}
    errors = _json_errors(client.post(ENDPOINT, json=payload(answers=answers, lang="en")))
    assert errors == {
        "answers.bestaat-niet": "Unknown field: bestaat-niet.",
        f"answers.{QUESTIONS[0]}": "Question 1 has not been answered.",
    }
    messages = _html_errors(client.post(ENDPOINT, data=form(**{f"answer-{QUESTIONS[0]}": None, "answer-bestaat-niet": "1"})))
    assert set(messages) == {"Onbekend veld: bestaat-niet.", "Vraag 1 is nog niet beantwoord."}
    assert stored(client) == []


@pytest.mark.parametrize("value", [3, -1, 1.5, True, None, "2", "x", [1], {"a": 1}, "9" * 5000])
def test_answers_off_the_scale_json(client, value):
    answers = all_answers(1) | {QUESTIONS[2]: value}
    response = client.post(ENDPOINT, json=payload(answers=answers))
    if value == "2":  # digits as text are the form's way of sending a value
        assert response.status_code == 201
        return
    errors = _json_errors(response)
    expected = "error_missing" if value is None else "error_scale"
    assert errors == {f"answers.{QUESTIONS[2]}": ASSESSMENT.string(expected, "nl", question="3")}


@pytest.mark.parametrize("value", ["3", "-1", "1.0", "ja", " 1"])
def test_answers_off_the_scale_form(client, value):
    messages = _html_errors(client.post(ENDPOINT, data=form(**{f"answer-{QUESTIONS[2]}": value})))
    assert messages == [ASSESSMENT.string("error_scale", "nl", question="3")]
    assert stored(client) == []


@pytest.mark.parametrize("email", ["nope", "a@b", "a@@example.org", "a b@example.org", "<script>@example.org"])
def test_bad_email_is_rejected(client, email):
    errors = _json_errors(client.post(ENDPOINT, json=payload(contact={"email": email}, consent=True)))
    assert errors == {"contact.email": ASSESSMENT.string("error_email", "nl")}
    messages = _html_errors(client.post(ENDPOINT, data=form(email=email, consent="yes", lang="en")))
    assert messages == [ASSESSMENT.string("error_email", "en")]
    assert stored(client) == []


@pytest.mark.parametrize("field", ["name", "email", "organisation", "message"])
def test_over_long_fields_are_rejected(client, field):
    from kennisbank.assessment.contact import CONTACT_FIELDS

    limit = CONTACT_FIELDS[field]
    text = ("a" * (limit - 11) + "@example.org") if field == "email" else "é" * (limit + 1)
    errors = _json_errors(client.post(ENDPOINT, json=payload(contact={field: text})))
    label = ASSESSMENT.string(field, "nl")
    assert errors == {f"contact.{field}": ASSESSMENT.string("error_too_long", "nl", field=label, max=limit)}
    assert _html_errors(client.post(ENDPOINT, data=form(**{field: text}))) == [ASSESSMENT.string("error_too_long", "nl", field=label, max=limit)]
    assert stored(client) == []


def test_fields_at_their_limit_are_accepted(client):
    from kennisbank.assessment.contact import CONTACT_FIELDS

    contact = {name: "x" * limit for name, limit in CONTACT_FIELDS.items() if name != "email"}
    contact["message"] = "a\r\n" * 2500  # the browser counts a line break as 1, sends CRLF
    assert client.post(ENDPOINT, json=payload(contact=contact, consent=True)).status_code == 201


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "x\x1by", "line\nbreak"])
def test_control_characters_in_one_line_fields_are_rejected(client, text):
    assert "contact.name" in _json_errors(client.post(ENDPOINT, json=payload(contact={"name": text})))
    assert len(_html_errors(client.post(ENDPOINT, data=form(name=text)))) == 1
    assert stored(client) == []


def test_nul_in_message_and_answers_is_rejected(client):
    assert "contact.message" in _json_errors(client.post(ENDPOINT, json=payload(contact={"message": "hi\x00"})))
    assert _json_errors(client.post(ENDPOINT, json=payload(answers=all_answers(1) | {QUESTIONS[0]: "1\x00"})))
    assert _html_errors(client.post(ENDPOINT, content=b"answer-x=%00&lang=nl", headers={"content-type": "application/x-www-form-urlencoded"}))
    assert stored(client) == []


def test_a_client_score_is_never_trusted(client):
    errors = _json_errors(client.post(ENDPOINT, json=payload(0, score=100, band="resultaatgericht")))
    assert set(errors) == {"score", "band"}
    assert len(_html_errors(client.post(ENDPOINT, data=form("0", score="100")))) == 1
    assert stored(client) == []


def test_wrong_types_and_values_of_the_other_fields(client):
    bad = {"lang": "de", "version": "één", "discuss": "yes", "consent": 1, "assessment": "other", "contact": {"name": 5, "fax": "1"}}
    errors = _json_errors(client.post(ENDPOINT, json=payload(**bad)))
    assert set(errors) == {"lang", "version", "discuss", "consent", "assessment", "contact.name", "contact.fax"}
    for body in ([], "x", 3, None):
        response = client.post(ENDPOINT, content=json.dumps(body), headers={"content-type": "application/json"})
        assert set(_json_errors(response)) == {"body"}
    assert set(_json_errors(client.post(ENDPOINT, json=payload(answers=[1, 2])))) == {"answers"}
    assert set(_json_errors(client.post(ENDPOINT, json=payload(contact="me")))) == {"contact"}
    assert _html_errors(client.post(ENDPOINT, data=form(consent="maybe")))
    assert stored(client) == []


def test_malformed_bodies_are_422(client):
    cases = [
        (b"{", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"answers": {"a": 1' + b"0" * 5000 + b"}}", "application/json"),
        (b"lang=%ff%fe", "application/x-www-form-urlencoded"),
        (b"\xc3\x28=1", "application/x-www-form-urlencoded"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"whatever", "multipart/form-data"),
    ]
    for body, media in cases:
        response = client.post(ENDPOINT, content=body, headers={"content-type": media})
        assert response.status_code == 422, (body[:20], response.status_code)
    assert stored(client) == []


def test_a_file_upload_is_rejected(client):
    response = client.post(ENDPOINT, data=form(), files={"message": ("a.txt", b"hello", "text/plain")})
    assert response.status_code == 422
    assert stored(client) == []


def test_repeated_form_fields_are_rejected(client):
    body = "&".join(f"{k}={v}" for k, v in form().items()) + f"&answer-{QUESTIONS[0]}=2"
    response = client.post(ENDPOINT, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert stored(client) == []


@pytest.mark.parametrize("media", ["text/plain", "application/xml", "application/octet-stream", ""])
def test_other_content_types_are_415(client, media):
    headers = {"content-type": media} if media else {}
    response = client.post(ENDPOINT, content=json.dumps(payload()), headers=headers)
    assert response.status_code == 415
    response = client.post(ENDPOINT, content=json.dumps(payload()), headers={**headers, "accept": "application/json"})
    assert response.status_code == 415 and "error" in response.json()
    assert stored(client) == []


def test_other_methods_are_405(client):
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, ENDPOINT)
        assert response.status_code == 405 and "POST" in response.headers["allow"]


# CORS


def test_origin_check_for_json(make_client):
    client = make_client(CORS_ORIGINS="https://static.example.nl")
    assert client.post(ENDPOINT, json=payload(), headers={"origin": "https://evil.example"}).status_code == 403
    assert client.post(ENDPOINT, json=payload(), headers={"origin": "null"}).status_code == 403
    assert client.post(ENDPOINT, json=payload(), headers={"origin": "http://testserver"}).status_code == 201
    response = client.post(ENDPOINT, json=payload(), headers={"origin": "https://static.example.nl"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "https://static.example.nl"
    assert "Origin" in response.headers["vary"]
    # a form from a foreign site is refused too; Origin: null (privacy settings) is not
    assert client.post(ENDPOINT, data=form(), headers={"origin": "https://evil.example"}).status_code == 403
    assert client.post(ENDPOINT, data=form(), headers={"origin": "null"}).status_code == 200
    assert len(stored(client)) == 3


def test_cors_preflight_only_for_allowed_origins(make_client):
    """Starlette's CORSMiddleware answers the preflight: 200 for an allowed origin, 400 (and
    no Access-Control-Allow-Origin) for any other; an OPTIONS that is no preflight gets Allow."""
    client = make_client(CORS_ORIGINS="https://static.example.nl, http://localhost:3000")
    headers = {"origin": "https://static.example.nl", "access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    response = client.options(ENDPOINT, headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://static.example.nl"
    assert response.headers["access-control-allow-methods"] == "POST"
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert response.headers["access-control-max-age"] == "600"
    response = client.options(ENDPOINT, headers={**headers, "origin": "https://evil.example"})
    assert response.status_code == 400 and "access-control-allow-origin" not in response.headers
    assert client.options(ENDPOINT, headers={**headers, "access-control-request-method": "PUT"}).status_code == 400
    assert client.options(ENDPOINT, headers={**headers, "origin": "http://localhost:3000"}).status_code == 200
    plain = client.options(ENDPOINT)
    assert plain.status_code == 204 and plain.headers["allow"] == "POST, OPTIONS"


def test_openapi_describes_the_endpoint_and_the_server_does_not_publish_it(client, site):
    from kennisbank.manifest import load_manifest
    from kennisbank.server import openapi

    operation = openapi.document(load_manifest(site.site))["paths"]["/api/assessments/{assessment_id}/submissions"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    assert operation["parameters"][0]["schema"]["enum"] == ["contract-check"]
    assert {"201", "422", "429"} <= set(operation["responses"])
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_the_result_page_itself_shows_where_to_take_the_assessment(client):
    for prefix, lang in (("", "nl"), ("en/", "en")):
        soup = BeautifulSoup(client.get(f"/{prefix}uitslag/").text, "lxml")
        assert soup.html["lang"] == lang
        link = soup.select_one("article a[href*='klantgericht-optreden-bevorderen']")
        assert link is not None and link["href"].endswith("#zelftest")
        assert soup.select_one("section.kb-result") is None
