"""The endpoint's OpenAPI document, generated from the request and reply models.

The JSON body is :class:`kennisbank.server.intake.bodies.Body` with its ``answers``
narrowed to the questions and scale of the served definitions; the form body is the
same submission as the plain HTML form names its fields. Both are pydantic models
built here from the definitions, so the description follows the code and the
definitions (schemathesis fuzzes the endpoint from it: ``tests/test_submission_fuzz.py``).
The server publishes no docs: :func:`document` is for tests and for readers of the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from kennisbank.assessment import Assessment
from kennisbank.assessment.contact import ANSWER_PREFIX, CONSENT_FIELD, CONTACT_FIELDS, DISCUSS_FIELD, HONEYPOT_FIELD
from kennisbank.assessment.model import NOT_APPLICABLE, UNKNOWN
from kennisbank.manifest import Manifest
from kennisbank.server.intake.bodies import DIGEST_PATTERN, Body, Contact
from kennisbank.server.intake.receiver import endpoint_path

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _answers(assessments: Iterable[Assessment], *, as_text: bool) -> dict[str, Any]:
    """Question id -> (type, required), for every question of every definition."""
    assessments = list(assessments)
    questions = sorted({q.id for a in assessments for q in a.questions})
    values = sorted({v for a in assessments for v in a.values})
    # "don't know" and "does not apply" are texts, so they can never be a scale value
    texts = sorted({UNKNOWN for a in assessments if a.unknown} | {NOT_APPLICABLE for a in assessments if a.context})
    scale = Literal[(*(str(v) for v in values), *texts)] if as_text else Literal[(*values, *texts)]  # type: ignore[valid-type]
    fields: dict[str, Any] = dict.fromkeys(questions, scale)
    for a in assessments:
        if a.context is not None:
            fields[a.context.id] = Literal[tuple(o.id for o in a.context.options)]  # type: ignore[valid-type]
    return dict(sorted(fields.items()))


def request_models(assessments: Mapping[str, Assessment], locales: Iterable[str]) -> tuple[type[BaseModel], type[BaseModel]]:
    """The JSON body and the form body as the served definitions make them."""
    ids = Literal[tuple(sorted(assessments))]  # type: ignore[valid-type]
    langs = Literal[tuple(locales)]  # type: ignore[valid-type]
    strict = ConfigDict(extra="forbid", strict=True)
    answers = create_model(
        "Answers",
        __config__=strict,
        **{f"q{index}": (scale, Field(alias=question)) for index, (question, scale) in enumerate(_answers(assessments.values(), as_text=False).items())},
    )
    contact = create_model(
        "ContactDetails",
        __base__=Contact,
        **{name: (str | None, Field(None, max_length=limit)) for name, limit in CONTACT_FIELDS.items()},
    )
    submission = create_model(
        "Submission",
        __base__=Body,
        assessment=(ids | None, None),
        lang=(langs | None, None),
        version=(int | None, Field(None, ge=1)),
        answers=(answers, ...),
        contact=(contact | None, None),
        website=(str, Field("", max_length=0)),
    )
    form_fields: dict[str, Any] = {
        "assessment": (str | None, None),
        "lang": (langs | None, None),
        "version": (str | None, Field(None, pattern=r"^[0-9]+$")),
        "definition": (str | None, Field(None, pattern=DIGEST_PATTERN)),
        **{name: (str | None, Field(None, max_length=limit)) for name, limit in CONTACT_FIELDS.items()},
        DISCUSS_FIELD: (Literal["yes"] | None, None),
        CONSENT_FIELD: (Literal["yes"] | None, None),
        HONEYPOT_FIELD: (str | None, Field(None, max_length=0)),
    }
    for index, (question, scale) in enumerate(_answers(assessments.values(), as_text=True).items()):
        form_fields[f"answer{index}"] = (scale, Field(alias=f"{ANSWER_PREFIX}{question}"))
    form = create_model("FormSubmission", __config__=ConfigDict(extra="forbid"), **form_fields)
    return submission, form


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` put in place of each ``$ref`` (the models hold no cycles)."""
    definitions = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(definitions[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


def document(manifest: Manifest) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the submission endpoint as ``manifest``'s site serves it."""
    submission, form = request_models(manifest.assessments, manifest.site.locales)
    json_schema = _inline(submission.model_json_schema())
    form_schema = _inline(form.model_json_schema())
    operation = {
        "summary": "Send a self-assessment",
        "description": "The HTML form gets the result page (200); fetch with JSON gets the score (201).",
        # an unknown id is a plain 404: the document names the served ones
        "parameters": [{"name": "assessment_id", "in": "path", "required": True, "schema": {"type": "string", "enum": sorted(manifest.assessments)}}],
        "requestBody": {"required": True, "content": {JSON: {"schema": json_schema}, FORM: {"schema": form_schema}, MULTIPART: {"schema": form_schema}}},
        "responses": responses(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kennisbank submissions", "version": "1"},
        "paths": {endpoint_path(manifest.site): {"post": operation}},
    }


class _Error(BaseModel):
    error: str


class _Problems(BaseModel):
    errors: dict[str, str]


class _Band(BaseModel):
    id: str
    title: str


class _Range(BaseModel):
    """A 10-point range of scores (0-9, 10-19, ..., 90-100): the published granularity."""

    low: int = Field(ge=0, le=90)
    high: int = Field(ge=9, le=100)


class _PeerTotal(BaseModel):
    score: int = Field(ge=0, le=100, description="the reader's own total")
    range: _Range = Field(description="the range the reader's total falls in")
    higher_than: int | None = Field(ge=0, le=100, description="the whole percentage of earlier submissions in a lower range (rounded down); null when lower is")
    lower: int | None = Field(
        ge=0,
        description="earlier submissions in ranges below the reader's; null when it, or the rest, is more than 0 and fewer than "
        "BENCHMARK_MIN (the text says which)",
    )
    median: _Range = Field(description="the range of the median of the earlier totals (the lower median when their number is even)")


class _PeerLabels(BaseModel):
    heading: str


class _Peers(BaseModel):
    """Where the reader stands among earlier submissions of the same definition digest
    (kennisbank.server.intake.peers); ``total`` only when ``shown``. Every figure is
    computed at 10-point ranges, no count below BENCHMARK_MIN is given, the counts behind
    them are renewed every BENCHMARK_STEP submissions, and no theme figure is given (it
    would narrow an earlier reader's total)."""

    shown: bool = Field(description="whether at least BENCHMARK_MIN earlier submissions exist")
    minimum: int = Field(ge=1, description="BENCHMARK_MIN")
    count: int = Field(ge=0, description="earlier submissions of the same definition, the reader's own not among them (as of the last step when shown)")
    needed: int = Field(ge=0, description="how many more are needed before figures are shown")
    text: str = Field(description="the summary, or how many more are needed, in the reader's language")
    total: _PeerTotal | None = None
    labels: _PeerLabels


class _Stored(BaseModel):
    id: str
    score: int = Field(ge=0, le=100)
    band: _Band
    contact_stored: bool
    follow_up: bool
    peers: _Peers


def responses() -> dict[str, Any]:
    def json(model: type[BaseModel], description: str) -> dict[str, Any]:
        return {"description": description, "content": {JSON: {"schema": _inline(model.model_json_schema())}}}

    return {
        "200": {"description": "The result page (HTML form)", "content": {"text/html": {"schema": {"type": "string"}}}},
        "201": json(_Stored, "Stored and scored (JSON)"),
        "403": json(_Error, "Origin not allowed"),
        "404": json(_Error, "Unknown assessment"),
        "409": json(_Error, "The page was built from a definition this server does not know: reload it"),
        "413": json(_Error, "Body larger than MAX_BODY_BYTES"),
        "415": json(_Error, "Content type not accepted"),
        "422": json(_Problems, "Problems by field"),
        "429": json(_Error, "Too many submissions from this address; see Retry-After"),
        "503": json(_Error, "The database did not answer: try again in a moment"),
    }
