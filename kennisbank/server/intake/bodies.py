"""A submission as the two clients send it, read, checked and scored.

Both the plain HTML form (``application/x-www-form-urlencoded`` or
``multipart/form-data``) and ``fetch`` (``application/json``) are read into one shape,
:class:`Input`, and checked by one function, :func:`validate`. Problems are
collected per field as ``(string key, placeholders)`` and put into words in the
reader's language by :func:`message`, with the strings of the definition.

Nothing a client sends about the outcome is used: the score and band come from
:func:`kennisbank.assessment.score` on the checked answers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from kennisbank.assessment import AnswerError, Assessment, Result, check_answers
from kennisbank.assessment.contact import ANSWER_PREFIX, CONSENT_FIELD, CONTACT_FIELDS, DISCUSS_FIELD, HONEYPOT_FIELD
from kennisbank.assessment.scoring import score_checked

#: Problems the definition has no string for. They only reach clients that are not
#: the site's own form (which cannot produce them), so a short text per language,
#: English for any other, is enough. A definition may override them with strings of
#: the same key.
FORM_FIELDS = ("assessment", "lang", "version", "definition", *CONTACT_FIELDS, DISCUSS_FIELD, CONSENT_FIELD, HONEYPOT_FIELD)
#: a definition's content digest (``kennisbank.assessment.digest``)
DIGEST_PATTERN = r"^[0-9a-f]{16}$"
MAX_FIELDS = 200
MAX_ERRORS = 50
YES = {"yes", "on", "true", "1"}
NO = {"", "no", "off", "false", "0"}

# One rule for the text of every field: no C0 or C1 control characters (but tab, and
# line feed where a field has lines), no DEL, no line or paragraph separators
# (U+2028/2029, which break lines where a reader of the export does not expect it),
# and no lone surrogates. Nor any format character (Unicode category Cf): the
# bidirectional embeddings, overrides, isolates and marks (U+202A-202E, U+2066-2069,
# U+200E/200F, U+061C) reorder what the consultant reads ("Trojan Source"), and the
# invisible ones (U+200B-200D, U+2060-2064, U+FEFF, U+00AD, the tags U+E0000-E007F,
# U+FFF9-FFFB) make names that look alike and dodge the dashboard's search; likewise
# the blank fillers (U+3164, U+115F, U+1160, U+FFA0) that render as nothing. A message
# keeps the zero-width joiner and non-joiner (U+200C/200D), which emoji sequences and
# scripts such as Persian need in running text.
_FORBIDDEN = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u3164\u115f\u1160\uffa0"
_BAD_MULTILINE = re.compile(f"[{_FORBIDDEN}]")
_BAD_LINE = re.compile(f"[{_FORBIDDEN}\\n]")
_JOINERS = {"\u200c", "\u200d"}

Problem = tuple[str, dict[str, str]]


class BodyError(ValueError):
    """The body cannot be read at all (not JSON, not a form, bad encoding)."""


class Contact(BaseModel):
    """The optional contact part, as sent: texts only (checked further by :func:`validate`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = None
    email: str | None = None
    organisation: str | None = None
    message: str | None = None


class Body(BaseModel):
    """A submission as ``fetch`` sends it (``application/json``); a plain form post is read
    into the same shape (:func:`read_form`), so both are decoded and checked alike.

    The model checks shape and types; :func:`validate` checks what needs the definition
    (the answers) and the rules of each text. The OpenAPI description of the endpoint
    is generated from this model (:mod:`kennisbank.server.openapi`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    assessment: str | None = None
    lang: str | None = None
    version: int | str | None = None
    """The definition's version number as the page showed it (digits in a form post)."""
    definition: str | None = Field(None, pattern=DIGEST_PATTERN)
    """The content digest of the definition the page was built from."""
    answers: dict[str, Any] = Field(default_factory=dict)
    contact: Contact | None = None
    discuss: bool = False
    consent: bool = False
    website: str | None = ""


@dataclass
class Input:
    """A submission as read, before the checks that need the definition; ``problems`` found while reading it."""

    body: Body = field(default_factory=Body)
    problems: dict[str, Problem] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """A checked and scored submission."""

    lang: str
    answers: dict[str, int | str]
    """Scale values by question id; ``"unknown"``, ``"na"`` (does not apply) and the context option are texts."""
    result: Result
    contact: dict[str, str | None]
    """Every contact field, ``None`` when empty; stored only with consent."""
    discuss: bool
    consent: bool
    honeypot: bool

    @property
    def contact_given(self) -> bool:
        return any(self.contact.values()) or self.discuss

    @property
    def contact_stored(self) -> bool:
        return self.consent and self.contact_given

    @property
    def follow_up(self) -> bool:
        """The reader asked to discuss the result and consented: the consultancy will call."""
        return self.consent and self.discuss


# Reading


def printable(key: object, limit: int = 80) -> str:
    """A client's field name, safe to echo: valid UTF-8, at most ``limit`` characters."""
    text = str(key)
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


def read_json(body: bytes) -> Input:
    return parse(read_json_object(body))


def read_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object: UTF-8 only (RFC 8259), decoded as strictly as a form body, no key twice."""
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError):
        raise BodyError("not valid JSON") from None
    if not isinstance(data, dict):
        raise BodyError("not a JSON object")
    return data


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; one that names a key twice is refused (which one would count?)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("duplicate key")
    return data


def parse(data: dict[str, Any], problems: dict[str, Problem] | None = None) -> Input:
    """``data`` checked against :class:`Body`: every field that fits, and a problem per field that does not."""
    problems = dict(problems or {})
    if isinstance(data.get("contact"), dict):
        # an empty text and an absent one mean the same
        data = {**data, "contact": {key: ("" if value is None else value) for key, value in data["contact"].items()}}
    elif data.get("contact") is None:
        data = {key: value for key, value in data.items() if key != "contact"}
    # a field that does not fit is left out (with its problem), so the reply can still
    # speak the reader's language; each round drops at least one field
    for _ in range(len(data) + 1):
        try:
            return Input(Body.model_validate(data), problems)
        except ValidationError as exc:
            bad = set()
            for error in exc.errors():
                problems.setdefault(*_problem(error["loc"], error["type"]))
                bad.add(error["loc"][0] if error["loc"] else None)
            data = {key: value for key, value in data.items() if key in Body.model_fields and key not in bad}
    return Input(Body(), problems)


def _problem(loc: tuple, kind: str) -> tuple[str, Problem]:
    names = [printable(part) for part in loc if not isinstance(part, int)]
    if not names:
        return "body", ("error_invalid", {})
    top = names[0]
    if top == "contact" and len(names) > 1:
        name = names[1]
        return f"contact.{name}", (("error_unknown", {"field": name}) if kind == "extra_forbidden" else ("error_invalid", {}))
    if kind == "extra_forbidden":
        return top, ("error_unknown", {"field": top})
    return top, ("error_invalid", {})


def read_urlencoded(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError:  # UnicodeDecodeError is one, and so is "too many fields"
        raise BodyError("not a valid form body") from None


class _StrictMultiPartParser(MultiPartParser):
    """Starlette's parser, but a field that is not valid UTF-8 is refused.

    Starlette decodes a part that is not valid in its charset as Latin-1 (it keeps
    file uploads working), which would store mojibake; our form's page is UTF-8 and
    browsers send it so, as they do the urlencoded form and fetch's JSON."""

    def on_part_end(self) -> None:
        if self._current_part.file is not None:
            super().on_part_end()
            return
        try:
            text = bytes(self._current_part.data).decode("utf-8")
        except UnicodeDecodeError:
            raise MultiPartException("a form field is not valid UTF-8") from None
        self.items.append((self._current_part.field_name, text))


async def read_multipart(headers: Headers, body: bytes) -> list[tuple[str, str]]:
    async def stream():
        yield body

    parser = _StrictMultiPartParser(headers, stream(), max_files=0, max_fields=MAX_FIELDS, max_part_size=len(body) + 1)
    try:
        form = await parser.parse()
    except (MultiPartException, ValueError, KeyError, IndexError, TypeError):
        raise BodyError("not a valid multipart form body") from None
    items = []
    for name, value in form.multi_items():
        if not isinstance(value, str):  # a file: refused by max_files, kept here for safety
            raise BodyError("files are not accepted")
        items.append((name, value))
    return items


def read_form(items: Sequence[tuple[str, str]]) -> Input:
    """A plain form post read into the shape of :class:`Body` and checked by it."""
    counts: dict[str, int] = {}
    for name, _ in items:
        counts[name] = counts.get(name, 0) + 1
    data: dict[str, Any] = {"answers": {}, "contact": {}}
    problems: dict[str, Problem] = {}
    for name, value in items:
        if counts[name] > 1:
            problems[printable(name)] = ("error_invalid", {})
        elif name.startswith(ANSWER_PREFIX):
            data["answers"][name[len(ANSWER_PREFIX) :]] = value
        elif name in CONTACT_FIELDS:
            data["contact"][name] = value
        elif name in (DISCUSS_FIELD, CONSENT_FIELD):
            lowered = value.strip().lower()
            if lowered in YES or lowered in NO:
                data[name] = lowered in YES
            else:
                problems[name] = ("error_invalid", {})
        elif name in FORM_FIELDS:
            data[name] = value
        else:
            problems[printable(name)] = ("error_unknown", {"field": printable(name)})
    return parse(data, problems)


def language(found: Input, locales: Sequence[str]) -> str | None:
    """The reader's language if the submission names one of the site's, else ``None``."""
    return found.body.lang if isinstance(found.body.lang, str) and found.body.lang in locales else None


# Checking


def clean_text(value: str, multiline: bool) -> str | None:
    """``value`` with line breaks as ``\\n`` and no surrounding space; ``None`` if the text rule above refuses it."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if (_BAD_MULTILINE if multiline else _BAD_LINE).search(value):
        return None
    if not value.isascii() and any(unicodedata.category(c) == "Cf" and not (multiline and c in _JOINERS) for c in value):
        return None
    return value.strip()


def valid_version(version: object) -> bool:
    """No version, or a whole number of 1 or more (digits in a form post)."""
    return version is None or (
        (isinstance(version, int) and not isinstance(version, bool) and version >= 1)
        or (isinstance(version, str) and version.isascii() and version.isdigit() and len(version) < 10)
    )


def validate(assessment: Assessment, found: Input, locales: Sequence[str]) -> tuple[Accepted | None, dict[str, Problem]]:
    """The accepted submission, or ``None`` and every problem by field."""
    problems = dict(found.problems)
    lang = language(found, locales)
    if found.body.lang is not None and lang is None:
        problems["lang"] = ("error_invalid", {})
    if found.body.assessment is not None and found.body.assessment != assessment.id:
        problems["assessment"] = ("error_invalid", {})
    if not valid_version(found.body.version):
        problems["version"] = ("error_invalid", {})
    for flag in (DISCUSS_FIELD, CONSENT_FIELD):
        if not isinstance(getattr(found.body, flag), bool):
            problems[flag] = ("error_invalid", {})
    answers: dict[str, int | str] = {}
    if "answers" not in problems:
        # a value that cannot be a scale value never reaches int(): "9" * 5000 would raise
        # there; other texts ("unknown", "na", a context option) are compared, never converted
        sent = {key: (-1 if isinstance(value, str) and len(value) > 9 and value.isdigit() else value) for key, value in found.body.answers.items()}
        try:
            answers = check_answers(assessment, sent)
        except AnswerError as exc:
            for key, (string, values) in exc.problems.items():
                problems[f"answers.{printable(key)}"] = (string, {name: printable(value) for name, value in values.items()})
    contact: dict[str, str | None] = {}
    given = found.body.contact.model_dump() if found.body.contact else {}
    for name, limit in CONTACT_FIELDS.items():
        raw = given.get(name) or ""
        if not isinstance(raw, str):
            continue  # reported while reading
        text = clean_text(raw, multiline=name == "message")
        if text is None:
            problems[f"contact.{name}"] = ("error_invalid", {})
            continue
        if len(text) > limit:
            problems[f"contact.{name}"] = ("error_too_long", {"field": name, "max": str(limit)})
            continue
        if name == "email" and text:
            try:
                text = validate_email(text, check_deliverability=False).normalized.lower()
            except (EmailNotValidError, ValueError, UnicodeError):
                problems["contact.email"] = ("error_email", {})
                continue
        contact[name] = text or None
    honeypot = found.body.website not in (None, "")
    if problems:
        return None, dict(list(problems.items())[:MAX_ERRORS])
    return (
        Accepted(
            lang=lang or locales[0],
            answers=answers,
            result=score_checked(assessment, answers),
            contact=contact,
            discuss=found.body.discuss,
            consent=found.body.consent,
            honeypot=honeypot,
        ),
        {},
    )


# Words


def message(assessment: Assessment | None, key: str, lang: str, site_strings: Mapping[str, Mapping[str, str]], **values: str) -> str:
    """The string ``key`` in ``lang``, filled in: the definition's form strings, else the
    site's (``extra.strings`` in mkdocs.yml) for what no definition answers.

    ``error_too_long``'s ``{field}`` is given as a contact field name and put into
    words with the definition's label of that field."""
    if assessment is not None and key == "error_too_long" and values.get("field") in assessment.strings:
        values = {**values, "field": assessment.string(values["field"], lang)}
    if assessment is not None and key in assessment.strings:
        return assessment.string(key, lang, **values)
    return site_strings[key][lang].format(**values)


def messages(assessment: Assessment, problems: Mapping[str, Problem], lang: str, site_strings: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {field: message(assessment, key, lang, site_strings, **values) for field, (key, values) in problems.items()}
