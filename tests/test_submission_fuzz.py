"""Fuzzing the endpoint: whatever arrives, the reply is never a 5xx, and what is
accepted is scored exactly as kennisbank.assessment.score() scores it."""

from __future__ import annotations

import json
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient  # after conftest silenced its httpx2 warning

from kennisbank.assessment import score
from kennisbank.assessment.contact import CONTACT_FIELDS
from kennisbank.server.app import create_app
from kennisbank.server.settings import Settings

from support import ASSESSMENT, CONTEXT, ENDPOINT, QUESTIONS, environment, form, payload

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ACCEPTED = {200, 201, 409, 413, 415, 422}  # 409: a version or digest the server never served


@pytest.fixture(scope="module")
def client(site, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings.from_env(environment(site.site, folder / "db.sqlite3", MAX_BODY_BYTES="16384")))
    with TestClient(app) as client:
        yield client


text = st.text(alphabet=st.characters(codec=None), max_size=40) | st.sampled_from(
    ["", "0", "1", "2", "<script>", "' OR 1=1 --", "=1+1", "\x00", "\ud800", "a@b.nl", "yes"]
)
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=True) | text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
keys = st.sampled_from(["assessment", "lang", "version", "answers", "contact", "discuss", "consent", "website", "score"]) | text


def _check(response) -> None:
    assert response.status_code < 500, response.text[:500]
    assert response.status_code in ACCEPTED, response.status_code
    if response.status_code == 201:
        reply = response.json()
        assert 0 <= reply["score"] <= 100 and reply["band"]["id"] in {b.id for b in ASSESSMENT.bands}
    if response.status_code == 422 and response.headers["content-type"].startswith("application/json"):
        errors = response.json()["errors"]
        assert errors and all(isinstance(m, str) and m for m in errors.values())


@FUZZ
@given(changes=st.dictionaries(keys, json_values, max_size=4), answers=st.dictionaries(st.sampled_from(QUESTIONS) | text, json_values, max_size=16))
def test_json_bodies_never_cause_a_5xx(client, changes, answers):
    body = payload(**changes)
    if answers:
        body["answers"] = {**body["answers"], **answers} if isinstance(body.get("answers"), dict) else answers
    data = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    _check(client.post(ENDPOINT, content=data, headers={"content-type": "application/json"}))


VALUES = st.sampled_from([0, 1, 2]) | st.sampled_from(["0", "1", "2", 3, -1, "3", "", " 1", "٢", "1\x00", 1.0, True])


@FUZZ
@given(answers=st.dictionaries(st.sampled_from(QUESTIONS), VALUES, min_size=len(QUESTIONS) - 2, max_size=len(QUESTIONS)))
def test_answers_are_scored_as_the_scoring_does(client, answers):
    """The context answered as a reader must; the questions for another context do not apply,
    whatever they are answered (or left out): only those that apply must be on the scale."""
    answers = {**CONTEXT, **answers}
    response = client.post(ENDPOINT, json=payload(answers=answers))
    _check(response)
    context = next(iter(CONTEXT.values()), None)
    applying = [q.id for q in ASSESSMENT.questions if q.applies(context)]
    valid = all(q in answers and answers[q] in (0, 1, 2, "0", "1", "2") and not isinstance(answers[q], bool | float) for q in applying)
    assert response.status_code == (201 if valid else 422), (response.status_code, response.text[:300])
    if valid:
        assert response.json()["score"] == score(ASSESSMENT, answers).score


@FUZZ
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from([*form().keys(), "discuss", "consent", "score", "answer-", "answer-x"]) | text,
            text,
        ),
        max_size=30,
    ),
    as_multipart=st.booleans(),
)
def test_form_bodies_never_cause_a_5xx(client, fields, as_multipart):
    if as_multipart:
        parts = []
        for name, value in fields:
            name = name.replace('"', "").replace("\r", "").replace("\n", "")
            parts.append(f'--b0undary\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
        body = ("".join(parts) + "--b0undary--\r\n").encode("utf-8", "surrogatepass")
        media = "multipart/form-data; boundary=b0undary"
    else:
        body = "&".join(quote(name.encode("utf-8", "surrogatepass")) + "=" + quote(value.encode("utf-8", "surrogatepass")) for name, value in fields).encode(
            "ascii"
        )
        media = "application/x-www-form-urlencoded"
    _check(client.post(ENDPOINT, content=body, headers={"content-type": media}))


@FUZZ
@given(
    body=st.binary(max_size=2048) | st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    media=st.sampled_from(
        [
            "application/json",
            "application/json; charset=latin-1",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
            "multipart/form-data; boundary=",
            "text/plain",
            "",
            "application/json;;;",
        ]
    )
    | st.text(alphabet=string.printable, max_size=30),
    headers=st.dictionaries(
        st.sampled_from(["origin", "accept", "accept-language", "content-length"]), st.text(alphabet=string.printable, max_size=30), max_size=3
    ),
)
def test_raw_bytes_never_cause_a_5xx(client, body, media, headers):
    headers = {k: v.replace("\r", "").replace("\n", "") for k, v in headers.items()}
    headers.pop("content-length", None)  # a wrong one is the HTTP server's business, not the app's
    response = client.post(ENDPOINT, content=body, headers={"content-type": media.replace("\r", "").replace("\n", ""), **headers})
    assert response.status_code < 500, response.text[:300]
    assert response.status_code in ACCEPTED | {403, 429}


@FUZZ
@given(contact=st.fixed_dictionaries({}, optional={name: st.text(max_size=limit + 20) for name, limit in CONTACT_FIELDS.items()}), consent=st.booleans())
def test_contact_fields_are_stored_only_as_allowed(client, contact, consent):
    response = client.post(ENDPOINT, json=payload(contact=contact, consent=consent))
    _check(response)
    if response.status_code == 201:
        kept = next(s for s in client.app.state.store.all() if s.public_id == response.json()["id"])
        if not consent:
            assert (kept.name, kept.email, kept.organisation, kept.message) == (None,) * 4
        for name, limit in CONTACT_FIELDS.items():
            value = getattr(kept, name)
            assert value is None or (0 < len(value) <= limit and "\x00" not in value)


def test_schemathesis_against_the_openapi_schema(site, tmp_path):
    """The endpoint as kennisbank.server.openapi describes it, fuzzed by schemathesis: no 5xx."""
    import schemathesis
    from hypothesis import given as _given

    from kennisbank.manifest import load_manifest
    from kennisbank.server import openapi

    app = create_app(Settings.from_env(environment(site.site, tmp_path / "st.sqlite3")))
    schema = schemathesis.openapi.from_dict(openapi.document(load_manifest(site.site)))
    schema.app = app
    operation = schema["/api/assessments/{assessment_id}/submissions"]["POST"]
    failures, calls = [], []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @_given(case=operation.as_strategy())
    def run(case):
        response = case.call()
        calls.append(response.status_code)
        if response.status_code >= 500:
            failures.append((case.body, response.status_code, response.text[:200]))

    with TestClient(app):
        run()
    assert failures == []
    assert len(calls) >= 30 and {200, 201, 422} & set(calls), set(calls)
