"""Load an assessment definition (YAML) and check it, reporting file, place, problem, fix.

Two passes: a JSON Schema (built for the site's languages) checks shape, types and
keys; then the checks a schema cannot express: duplicate ids, references between
parts, bands that must cover 0 to 100 without gap or overlap. Sections in the
article are checked by the build, which knows the article's headings
(:func:`check_sections`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .model import (
    NO_VERDICT,
    STAND_INS,
    Assessment,
    Band,
    Condition,
    Conflict,
    Context,
    ContextOption,
    Gate,
    Note,
    Question,
    ScaleOption,
    Theme,
    Unknown,
    Verdict,
)
from .scoring import percentage

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
LOCALE_PATTERN = r"^[a-z]{2}(-[A-Za-z]{2,4})?$"

#: The strings every definition must hold, in every language, with their placeholders.
REQUIRED_STRINGS: dict[str, tuple[str, ...]] = {
    "progress": ("answered", "total"),
    "score_label": (),
    "score_value": ("score",),
    "theme_scores": (),
    "theme_score": ("theme", "score"),
    "result_heading": (),
    "incomplete": (),
    "advice_heading": (),
    "question_advice_heading": (),
    "read_more": (),
    "your_answer": (),
    "not_answered": (),
    "clear": (),
    "cleared": (),
    "restored": ("answered",),
    "print": (),
    "submit": (),
    "submit_hint": (),
    "sending": (),
    "sent": ("id",),
    "follow_up": (),
    "send_failed": (),
    "contact_legend": (),
    "contact_intro": (),
    "name": (),
    "email": (),
    "organisation": (),
    "message": (),
    "discuss": (),
    "consent": (),
    "privacy_link": (),
    "honeypot": (),
    "back": (),
    "result_page_title": (),
    "error_heading": (),
    "error_missing": ("question",),
    "error_unknown": ("field",),
    "error_scale": ("question",),
    "error_email": (),
    "error_too_long": ("field", "max"),
    "error_consent": (),
    "error_rate": ("seconds",),
    "error_changed": (),
    "reload": (),
}

#: Strings a definition needs only when it uses a feature (so that a definition
#: recorded before the feature existed still loads): feature -> strings.
FEATURE_STRINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "unknown": {"unknown_count": ("count",), "unknown_advice_label": ()},
    "context": {
        "not_applicable": (),
        "theme_not_applicable": ("theme",),
        "error_context": (),
        "error_not_applicable": ("question",),
        "variant_note": ("context", "text"),
        "applies_only": ("context",),
        "context_answer": (),
    },
    "gates": {"gate_intro": ("band", "score")},
    "clause": {"clause_link": ()},
    "cap_score": {"score_capped": ("score", "band")},
    "unknown_limit": {"insufficient_count": ("count", "total")},
    "conflicts": {"conflicts_intro": ()},
    "may_not_apply": {"not_applicable": ()},
    "good_practice": {"good_practice": ()},
    "minutes": {"count_range": ("low", "high")},
}
#: Features a question uses (the others are top-level keys, or keys of ``verdict:``).
QUESTION_FEATURES = ("clause", "may_not_apply", "good_practice")
VERDICT_FEATURES = ("cap_score", "unknown_limit")
#: Strings added after definitions were recorded: optional, with a stand-in (model.STAND_INS).
LATER_STRINGS: dict[str, tuple[str, ...]] = dict.fromkeys(STAND_INS, ())
OPTIONAL_STRINGS: dict[str, tuple[str, ...]] = {
    **{key: names for strings in FEATURE_STRINGS.values() for key, names in strings.items()},
    **LATER_STRINGS,
}

#: ``clause:`` targets: a page of the site by its source path, with a heading id.
CLAUSE_PATTERN = r"^[a-z0-9][a-z0-9/_-]*\.md#[A-Za-z][\w-]*$"


@dataclass(frozen=True)
class Problem:
    place: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.place}: {self.problem}. Fix: {self.fix}"


class DefinitionError(Exception):
    """A definition file that cannot be used. ``str()`` names the file, the place, the problem and the fix."""

    def __init__(self, source: Path | str, problems: Sequence[Problem]):
        self.source = Path(source)
        self.problems = tuple(problems)
        lines = [f"{self.source}: {len(self.problems)} problem(s) in the assessment definition:"]
        lines += [f"  {self.source}: {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


# Schema

#: JSON Schema counts 3.0 as an integer; the scoring needs whole numbers, so YAML's
#: ``weight: 3.0`` (a float) is refused rather than carried into the arithmetic.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def schema(locales: Sequence[str]) -> dict[str, Any]:
    """The JSON Schema of a definition whose texts must exist in every one of ``locales``."""
    text = {
        "type": "object",
        "properties": {locale: {"type": "string", "minLength": 1} for locale in locales},
        "patternProperties": {LOCALE_PATTERN: {"type": "string", "minLength": 1}},
        "required": list(locales),
        "additionalProperties": False,
    }
    ident = {"type": "string", "pattern": ID_PATTERN}

    def obj(required: list[str], **properties: Any) -> dict[str, Any]:
        return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"text": text},
        **obj(
            ["id", "version", "article", "title", "intro", "scale", "themes", "questions", "bands", "strings"],
            id=ident,
            version={"type": "integer", "minimum": 1},
            minutes={"type": "integer", "minimum": 1, "maximum": 120},
            article={"type": "string", "pattern": r"^[^/].*\.md$"},
            title={"$ref": "#/$defs/text"},
            intro={"$ref": "#/$defs/text"},
            scale={
                "type": "array",
                "minItems": 2,
                "items": obj(["value", "label"], value={"type": "integer", "minimum": 0}, label={"$ref": "#/$defs/text"}),
            },
            themes={
                "type": "array",
                "minItems": 3,
                "maxItems": 5,
                "items": obj(["id", "title"], id=ident, title={"$ref": "#/$defs/text"}),
            },
            questions={
                "type": "array",
                "minItems": 1,
                "items": obj(
                    ["id", "theme", "weight", "text", "advice"],
                    id=ident,
                    theme=ident,
                    weight={"type": "integer", "minimum": 1},
                    section={"type": "string", "pattern": r"^[A-Za-z][\w-]*$"},
                    good_practice={"type": "boolean"},
                    may_not_apply={"type": "boolean"},
                    clause={"type": "string", "pattern": CLAUSE_PATTERN},
                    text={"$ref": "#/$defs/text"},
                    help={"$ref": "#/$defs/text"},
                    advice={"$ref": "#/$defs/text"},
                    unknown_advice={"$ref": "#/$defs/text"},
                    applies_to={"type": "array", "minItems": 1, "items": ident},
                    text_by_context={"type": "object", "propertyNames": {"pattern": ID_PATTERN}, "additionalProperties": {"$ref": "#/$defs/text"}},
                ),
            },
            retired_ids={"type": "array", "items": ident},
            unknown=obj(
                ["label", "counts_as"],
                label={"$ref": "#/$defs/text"},
                counts_as={"type": "integer", "minimum": 0},
            ),
            context=obj(
                ["id", "text", "options"],
                id=ident,
                text={"$ref": "#/$defs/text"},
                help={"$ref": "#/$defs/text"},
                options={
                    "type": "array",
                    "minItems": 2,
                    "items": obj(["id", "label"], id=ident, label={"$ref": "#/$defs/text"}),
                },
            ),
            gates={
                "type": "array",
                "items": obj(
                    ["id", "below", "max_band", "text"],
                    id=ident,
                    question=ident,
                    questions={"type": "array", "minItems": 2, "items": ident},
                    theme=ident,
                    below={"type": "integer", "minimum": 1, "maximum": 100},
                    max_band=ident,
                    text={"$ref": "#/$defs/text"},
                ),
            },
            conflicts={
                "type": "array",
                "items": obj(
                    ["id", "when", "text"],
                    id=ident,
                    when={
                        "type": "array",
                        "minItems": 2,
                        "items": obj(["question"], question=ident, below={"type": "integer", "minimum": 1}, at_least={"type": "integer", "minimum": 1}),
                    },
                    text={"$ref": "#/$defs/text"},
                ),
            },
            notes={
                "type": "array",
                "items": obj(["id", "text", "section"], id=ident, text={"$ref": "#/$defs/text"}, section={"type": "string", "pattern": r"^[A-Za-z][\w-]*$"}),
            },
            verdict=obj(
                [],
                cap_score={"type": "boolean"},
                unknown_limit={"type": "integer", "minimum": 1, "maximum": 99},
                insufficient=obj(["title", "advice"], title={"$ref": "#/$defs/text"}, advice={"$ref": "#/$defs/text"}),
            ),
            bands={
                "type": "array",
                "minItems": 1,
                "items": obj(
                    ["id", "min", "max", "title", "advice"],
                    id=ident,
                    min={"type": "integer", "minimum": 0, "maximum": 100},
                    max={"type": "integer", "minimum": 0, "maximum": 100},
                    title={"$ref": "#/$defs/text"},
                    advice={"$ref": "#/$defs/text"},
                ),
            },
            strings=obj(
                list(REQUIRED_STRINGS),
                **{key: {"$ref": "#/$defs/text"} for key in (*REQUIRED_STRINGS, *OPTIONAL_STRINGS)},
            ),
        ),
    }


# Loading


def load_definition(path: Path | str, locales: Sequence[str]) -> Assessment:
    """Read, check and build the assessment in ``path``; raise :class:`DefinitionError` on any problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(
            path, [Problem("(file)", f"cannot be read ({exc.strerror})", "check the path in mkdocs.yml extra.assessment.definitions")]
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            path,
            [Problem(place, f"not valid YAML: {reason}", "correct the YAML syntax there (quote texts that contain ': ' or start with a special character)")],
        ) from exc
    return from_data(raw, path, locales)


def from_data(raw: Any, source: Path | str, locales: Sequence[str]) -> Assessment:
    """Check and build a parsed definition; ``source`` names it in problems (the file, or the manifest)."""
    problems = check(raw, locales)
    if problems:
        raise DefinitionError(source, problems)
    return _build(raw, Path(source))


def digest(raw: Any) -> str:
    """The content hash of a parsed definition: the same data gives the same hash on any machine."""
    canonical = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def load_definitions(folder: Path | str, locales: Sequence[str]) -> dict[str, Assessment]:
    """Every ``*.yml`` definition in ``folder``, by id; a file whose name is not its id is a problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DefinitionError(folder, [Problem("(folder)", "does not exist", "create it or correct extra.assessment.definitions in mkdocs.yml")])
    assessments: dict[str, Assessment] = {}
    for path in sorted(folder.glob("*.yml")):
        assessment = load_definition(path, locales)
        if assessment.id != path.stem:
            raise DefinitionError(
                path,
                [
                    Problem(
                        "id", f"is '{assessment.id}' but the file is named '{path.name}'", f"rename the file to '{assessment.id}.yml' or set id: {path.stem}"
                    )
                ],
            )
        assessments[assessment.id] = assessment
    return assessments


def check(raw: Any, locales: Sequence[str]) -> list[Problem]:
    """Every problem in a parsed definition, in document order; empty when it is usable."""
    validator = _Validator(schema(locales))
    errors = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [problem for error in errors for problem in _explain(error, locales)]
    if problems:
        return problems
    return list(_semantic_problems(raw, locales))


def check_sections(assessment: Assessment, headings: Iterable[str], article: str) -> list[Problem]:
    """Questions and notes whose ``section`` is not a heading id of the article (``headings``)."""
    known = set(headings)
    cited = [(f"questions[{index}]", question.section) for index, question in enumerate(assessment.questions)]
    cited += [(f"notes[{index}]", note.section) for index, note in enumerate(assessment.notes)]
    return [
        Problem(
            f"{place}.section",
            f"'{section}' is not a section of {article}",
            f"use one of the article's heading ids: {', '.join(sorted(known)) or '(none found)'}",
        )
        for place, section in cited
        if section is not None and section not in known
    ]


# Helper functions


def _place(path: Iterable[Any]) -> str:
    place = ""
    for part in path:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else str(part))
    return place or "(top level)"


def _join(place: str, key: str) -> str:
    return f"{place}.{key}" if place != "(top level)" else key


def _explain(error: jsonschema.ValidationError, locales: Sequence[str]) -> list[Problem]:
    place = _place(error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return [
            Problem(
                _join(place, key),
                f"the {'text' if key in locales else 'key'} '{key}' is missing",
                f"add a {key} text (every text needs {', '.join(locales)})" if key in locales else f"add '{key}:' under {place}",
            )
            for key in missing
        ]
    if kind == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys())
        extra = [key for key in error.instance if key not in allowed]
        return [
            Problem(
                _join(place, str(key)),
                f"unknown key '{key}'",
                f"remove it or correct its spelling; allowed here: {', '.join(allowed)}",
            )
            for key in extra
        ]
    if kind == "minimum" and place.endswith(".weight"):
        return [Problem(place, f"weight {error.instance!r} is not positive", "give a whole number of 1 or more (3 for the most important questions)")]
    if kind == "type" and error.validator_value == "integer" and isinstance(error.instance, float) and error.instance.is_integer():
        return [Problem(place, f"{error.instance!r} is not a whole number", f"write {int(error.instance)}")]
    if kind == "type":
        return [Problem(place, f"{error.instance!r} is not of type {error.validator_value}", f"write a value of type {error.validator_value}")]
    if kind == "pattern" and place.endswith(("id", ".theme")):
        return [Problem(place, f"{error.instance!r} is not a valid id", "use lowercase letters, digits and single hyphens, e.g. 'result-agreements'")]
    if kind == "minLength":
        return [Problem(place, "the text is empty", "write the text, or remove the key if it is optional")]
    if kind in ("minItems", "maxItems"):
        return [
            Problem(
                place,
                f"has {len(error.instance)} item(s): {error.message.split(' is ', 1)[-1]}",
                f"give between {error.schema.get('minItems', 1)} and {error.schema.get('maxItems', 'any number of')} items",
            )
        ]
    if kind in ("minimum", "maximum"):
        return [
            Problem(
                place,
                f"{error.instance!r} is out of range ({kind} {error.validator_value})",
                f"use a value from {error.schema.get('minimum', 0)} to {error.schema.get('maximum', 'any')}",
            )
        ]
    return [Problem(place, error.message, "correct the value as the message says")]


def _duplicates(items: list[dict[str, Any]], key: str, where: str) -> Iterable[Problem]:
    counts = Counter(item[key] for item in items)
    seen: set[Any] = set()
    for index, item in enumerate(items):
        value = item[key]
        if counts[value] > 1 and value in seen:
            yield Problem(f"{where}[{index}].{key}", f"duplicate {key} {value!r}", f"give every entry of {where} its own {key}")
        seen.add(value)


def _semantic_problems(raw: dict[str, Any], locales: Sequence[str]) -> Iterable[Problem]:
    yield from _duplicates(raw["scale"], "value", "scale")
    yield from _duplicates(raw["themes"], "id", "themes")
    yield from _duplicates(raw["questions"], "id", "questions")
    yield from _duplicates(raw["bands"], "id", "bands")
    yield from _duplicates(raw.get("notes", []), "id", "notes")
    values = [option["value"] for option in raw["scale"]]
    if values != sorted(values) or values[0] != 0:
        yield Problem("scale", f"values {values} do not rise from 0", "order the answers from weakest (value 0) to strongest")
    themes = {theme["id"] for theme in raw["themes"]}
    used = set()
    for index, question in enumerate(raw["questions"]):
        used.add(question["theme"])
        if question["theme"] not in themes:
            yield Problem(f"questions[{index}].theme", f"unknown theme '{question['theme']}'", f"use one of: {', '.join(sorted(themes))}")
    for index, theme in enumerate(raw["themes"]):
        if theme["id"] not in used:
            yield Problem(f"themes[{index}]", f"theme '{theme['id']}' has no questions", "add questions to it or remove the theme")
    yield from _band_problems(raw["bands"])
    yield from _feature_problems(raw)
    needed = dict(REQUIRED_STRINGS)
    for feature, strings in FEATURE_STRINGS.items():
        if feature in QUESTION_FEATURES:
            used = any(q.get(feature) for q in raw["questions"])
        elif feature in VERDICT_FEATURES:
            used = (raw.get("verdict") or {}).get(feature)
        else:
            used = raw.get(feature)
        if not used:
            continue
        for key, placeholders in strings.items():
            if key not in raw["strings"]:
                yield Problem(
                    f"strings.{key}",
                    f"the string '{key}' is missing (the definition uses '{feature}')",
                    f"add strings.{key} with a text in every language ({', '.join(locales)})",
                )
            else:
                needed[key] = placeholders
    needed.update({key: placeholders for key, placeholders in LATER_STRINGS.items() if key in raw["strings"]})
    for key, placeholders in needed.items():
        for locale in locales:
            text = raw["strings"][key][locale]
            for name in placeholders:
                if "{" + name + "}" not in text:
                    yield Problem(f"strings.{key}.{locale}", f"the placeholder {{{name}}} is missing", f"put {{{name}}} where the value belongs")


def _feature_problems(raw: dict[str, Any]) -> Iterable[Problem]:
    """Retired ids, "don't know", the context question and the gates."""
    questions = raw["questions"]
    ids = {q["id"] for q in questions}
    for index, question in enumerate(questions):
        if question["id"] in set(raw.get("retired_ids", [])):
            yield Problem(
                f"questions[{index}].id",
                f"'{question['id']}' is a retired id: readers' saved answers to the old question are kept under it",
                "give the question a new id (never reuse one)",
            )
    unknown = raw.get("unknown")
    scale_values = [option["value"] for option in raw["scale"]]
    if unknown is not None and unknown["counts_as"] not in scale_values:
        yield Problem(
            "unknown.counts_as",
            f"{unknown['counts_as']} is not a value of the scale",
            f"use one of {scale_values} (the weakest, {scale_values[0]}, makes not knowing count as no)",
        )
    for index, question in enumerate(questions):
        if "unknown_advice" in question and unknown is None:
            yield Problem(
                f"questions[{index}].unknown_advice",
                "there is no 'unknown' answer to give this advice for",
                "add 'unknown:' (label and counts_as) at the top level, or remove unknown_advice",
            )
    context = raw.get("context")
    options = [option["id"] for option in context["options"]] if context else []
    if context:
        yield from _duplicates(context["options"], "id", "context.options")
        if context["id"] in ids:
            yield Problem("context.id", f"'{context['id']}' is also a question id; both are keys of the stored answers", "give the context question its own id")
    for index, question in enumerate(questions):
        for key in ("applies_to", "text_by_context"):
            for option in question.get(key, []):
                if not context:
                    yield Problem(
                        f"questions[{index}].{key}", f"names '{option}' but there is no context question", f"add 'context:' with the options, or remove {key}"
                    )
                elif option not in options:
                    yield Problem(f"questions[{index}].{key}", f"unknown context option '{option}'", f"use one of: {', '.join(options)}")
    for option in options:
        if not any(option in q.get("applies_to", [option]) for q in questions):
            yield Problem(
                "context.options",
                f"no question applies to '{option}'",
                f"let at least one question apply to '{option}' (leave out applies_to, or add '{option}' to it)",
            )
    yield from _gate_problems(raw, options)
    yield from _verdict_problems(raw)


def _verdict_problems(raw: dict[str, Any]) -> Iterable[Problem]:
    """Sections or good practice, "not applicable", the verdict and the contradictions."""
    questions = {q["id"]: q for q in raw["questions"]}
    values = sorted(option["value"] for option in raw["scale"])
    for index, question in enumerate(raw["questions"]):
        if "section" not in question and not question.get("good_practice"):
            yield Problem(
                f"questions[{index}]",
                "cites no section of the article and is not labelled good practice",
                "add 'section:' (the heading id of the article's section that makes the point) or 'good_practice: true'",
            )
    for locale, text in raw["intro"].items():
        for name in re.findall(r"\{(\w*)\}", text):
            if name not in ("questions", "minutes"):
                yield Problem(f"intro.{locale}", f"unknown placeholder {{{name}}}", "use {questions} or {minutes}, or write the braces out of the text")
            elif name == "minutes" and "minutes" not in raw:
                yield Problem(f"intro.{locale}", "says {minutes} but the definition has no 'minutes:'", "add minutes: (a whole number) at the top level")
    verdict = raw.get("verdict") or {}
    if "unknown_limit" in verdict:
        if raw.get("unknown") is None:
            yield Problem("verdict.unknown_limit", "there is no 'unknown' answer to count", "add 'unknown:' at the top level, or remove unknown_limit")
        if "insufficient" not in verdict:
            yield Problem(
                "verdict.insufficient", "is missing: the result needs a title and advice for 'not enough to judge'", "add insufficient: with title and advice"
            )
    elif "insufficient" in verdict:
        yield Problem("verdict.insufficient", "is never shown without unknown_limit", "add verdict.unknown_limit (a percentage), or remove insufficient")
    conflicts = raw.get("conflicts", [])
    yield from _duplicates(conflicts, "id", "conflicts")
    for index, conflict in enumerate(conflicts):
        for position, condition in enumerate(conflict["when"]):
            place = f"conflicts[{index}].when[{position}]"
            if condition["question"] not in questions:
                yield Problem(f"{place}.question", f"unknown question '{condition['question']}'", "use the id of a question in this definition")
            if ("below" in condition) == ("at_least" in condition):
                yield Problem(place, "needs exactly one of 'below:' and 'at_least:'", "say whether the answer is below a value or at least a value")
                continue
            bound = condition.get("below", condition.get("at_least"))
            if bound > values[-1]:
                yield Problem(place, f"{bound} is above the top of the scale, so the condition never holds", f"use a value from {values[1]} to {values[-1]}")


def _gate_problems(raw: dict[str, Any], options: list[str]) -> Iterable[Problem]:
    gates = raw.get("gates", [])
    yield from _duplicates(gates, "id", "gates")
    bands = sorted(raw["bands"], key=lambda band: band["min"])
    band_ids = [band["id"] for band in bands]
    themes = {theme["id"] for theme in raw["themes"]}
    questions = {q["id"]: q for q in raw["questions"]}
    values = sorted(option["value"] for option in raw["scale"])
    for index, gate in enumerate(gates):
        place = f"gates[{index}]"
        named = [key for key in ("question", "questions", "theme") if key in gate]
        if len(named) != 1:
            yield Problem(
                place,
                f"names more than one of them ({', '.join(named)})" if named else "names neither a question nor a theme",
                "give exactly one of 'question:' (a question id), 'questions:' (question ids) or 'theme:' (a theme id)",
            )
            continue
        if gate["max_band"] not in band_ids:
            yield Problem(f"{place}.max_band", f"unknown band '{gate['max_band']}'", f"use one of: {', '.join(band_ids)}")
            continue
        if gate["max_band"] == band_ids[-1]:
            yield Problem(
                f"{place}.max_band",
                f"'{gate['max_band']}' is the top band, so the gate can never lower a result",
                f"cap at a lower band: {', '.join(band_ids[:-1])}",
            )
            continue
        if "questions" in gate:
            unknown_ids = [qid for qid in gate["questions"] if qid not in questions]
            if unknown_ids:
                yield Problem(f"{place}.questions", f"unknown question '{unknown_ids[0]}'", "use the ids of questions in this definition")
                continue
        if "question" in gate or "questions" in gate:
            if "question" in gate and gate["question"] not in questions:
                yield Problem(f"{place}.question", f"unknown question '{gate['question']}'", "use the id of a question in this definition")
                continue
            if gate["below"] > values[-1]:
                yield Problem(
                    f"{place}.below",
                    f"{gate['below']} is above the top of the scale, so every answer trips the gate",
                    f"use a scale value from {values[1]} to {values[-1]} (below {values[-1]}: anything but the strongest answer)",
                )
                continue
        else:
            if gate["theme"] not in themes:
                yield Problem(f"{place}.theme", f"unknown theme '{gate['theme']}'", f"use one of: {', '.join(sorted(themes))}")
                continue
        if len(set(values)) != len(values) or values[0] != 0:
            continue  # the scale is reported broken; reachability would be measured on nonsense
        best = _best_score_when_tripped(raw, gate, options)
        cap = bands[band_ids.index(gate["max_band"])]
        if best is None:
            yield Problem(place, "no set of answers trips this gate", "raise 'below:' or gate on another question or theme")
        elif best <= cap["max"]:
            yield Problem(
                place,
                f"can never lower a result: when it trips, the score is at most {best}, already within band '{cap['id']}' or below",
                f"remove the gate, raise 'below:', or cap at a lower band than '{cap['id']}'",
            )


def _best_score_when_tripped(raw: dict[str, Any], gate: dict[str, Any], options: list[str]) -> int | None:
    """The highest total score any answers that trip ``gate`` can reach (``None``: none trips it)."""
    values = sorted(option["value"] for option in raw["scale"])
    top = values[-1]
    best: int | None = None
    for context in options or [None]:
        applying = [q for q in raw["questions"] if context is None or context in q.get("applies_to", [context])]
        if "question" in gate or "questions" in gate:
            named = gate["questions"] if "questions" in gate else [gate["question"]]
            target = [q for q in applying if q["id"] in named]
            if not target:
                continue
            lower = [value for value in values if value < gate["below"]]
            if not lower:
                continue
            lowered = {q["id"]: max(lower) for q in target}
        else:
            target = [q for q in applying if q["theme"] == gate["theme"]]
            if not target:
                continue
            possible = sum(q["weight"] * top for q in target)
            # the highest theme score below the threshold, answer by answer (a theme has few questions)
            lowered = None
            for combination in _combinations([values] * len(target)):
                earned = sum(q["weight"] * value for q, value in zip(target, combination, strict=True))
                if percentage(earned, possible) < gate["below"] and (lowered is None or earned > sum(q["weight"] * lowered[q["id"]] for q in target)):
                    lowered = {q["id"]: value for q, value in zip(target, combination, strict=True)}
            if lowered is None:
                continue
        earned = sum(q["weight"] * lowered.get(q["id"], top) for q in applying)
        total = percentage(earned, sum(q["weight"] * top for q in applying))
        best = total if best is None else max(best, total)
    return best


def _combinations(choices: list[list[int]]) -> Iterable[tuple[int, ...]]:
    if not choices:
        yield ()
        return
    for value in choices[0]:
        for rest in _combinations(choices[1:]):
            yield (value, *rest)


def _band_problems(bands: list[dict[str, Any]]) -> Iterable[Problem]:
    expected = 0
    for position, band in sorted(enumerate(bands), key=lambda pair: pair[1]["min"]):
        place = f"bands[{position}]"
        if band["min"] > band["max"]:
            yield Problem(place, f"min {band['min']} is above max {band['max']}", "swap them")
            return
        if band["min"] > expected:
            yield Problem(
                f"{place}.min", f"scores {expected} to {band['min'] - 1} fall in no band (a gap)", f"start this band at {expected} or add a band for the gap"
            )
        elif band["min"] < expected:
            yield Problem(f"{place}.min", f"scores {band['min']} to {expected - 1} fall in two bands (an overlap)", f"start this band at {expected}")
        expected = band["max"] + 1
    if expected != 101:
        yield Problem("bands", f"scores {expected} to 100 fall in no band", "let the last band end at max: 100")


def _verdict(raw: dict[str, Any]) -> Verdict:
    insufficient = raw.get("insufficient")
    return Verdict(
        cap_score=bool(raw.get("cap_score")),
        unknown_limit=raw.get("unknown_limit"),
        insufficient=Band(NO_VERDICT, 0, 100, _text(insufficient["title"]), _text(insufficient["advice"])) if insufficient else None,
    )


def _text(raw: dict[str, str] | None) -> dict[str, str] | None:
    return dict(raw) if raw is not None else None


def _build(raw: dict[str, Any], path: Path) -> Assessment:
    return Assessment(
        id=raw["id"],
        version=raw["version"],
        source=path,
        article=raw["article"],
        title=_text(raw["title"]),
        intro=_text(raw["intro"]),
        scale=tuple(ScaleOption(o["value"], _text(o["label"])) for o in raw["scale"]),
        themes=tuple(Theme(t["id"], _text(t["title"])) for t in raw["themes"]),
        questions=tuple(
            Question(
                id=q["id"],
                theme=q["theme"],
                weight=q["weight"],
                section=q.get("section"),
                text=_text(q["text"]),
                advice=_text(q["advice"]),
                help=_text(q.get("help")),
                unknown_advice=_text(q.get("unknown_advice")),
                applies_to=tuple(q["applies_to"]) if "applies_to" in q else None,
                text_by_context={key: _text(value) for key, value in q.get("text_by_context", {}).items()},
                clause=q.get("clause"),
                may_not_apply=bool(q.get("may_not_apply")),
                good_practice=bool(q.get("good_practice")),
            )
            for q in raw["questions"]
        ),
        bands=tuple(Band(b["id"], b["min"], b["max"], _text(b["title"]), _text(b["advice"])) for b in sorted(raw["bands"], key=lambda b: b["min"])),
        strings={key: _text(value) for key, value in raw["strings"].items()},
        unknown=Unknown(_text(raw["unknown"]["label"]), raw["unknown"]["counts_as"]) if "unknown" in raw else None,
        context=(
            Context(
                raw["context"]["id"],
                _text(raw["context"]["text"]),
                tuple(ContextOption(o["id"], _text(o["label"])) for o in raw["context"]["options"]),
                _text(raw["context"].get("help")),
            )
            if "context" in raw
            else None
        ),
        gates=tuple(
            Gate(g["id"], g["max_band"], g["below"], _text(g["text"]), g.get("question"), g.get("theme"), tuple(g.get("questions", ())))
            for g in raw.get("gates", [])
        ),
        verdict=_verdict(raw.get("verdict") or {}),
        conflicts=tuple(
            Conflict(c["id"], tuple(Condition(w["question"], w.get("below"), w.get("at_least")) for w in c["when"]), _text(c["text"]))
            for c in raw.get("conflicts", [])
        ),
        notes=tuple(Note(n["id"], _text(n["text"]), n["section"]) for n in raw.get("notes", [])),
        minutes=raw.get("minutes"),
        digest=digest(raw),
        data=raw,
    )
