"""Score a set of answers: weighted, 0 to 100, with a band and the weak answers.

The same arithmetic runs in the browser (``assessment.js``) on the weights and bands
the page embeds; both use whole numbers only, rounding half up, so they agree
exactly. ``score = floor((200 * earned + possible) / (2 * possible))`` is
``round(100 * earned / possible)`` with halves rounded up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .model import Assessment, Band, Question


class AnswerError(ValueError):
    """Answers that do not fit the assessment; ``problems`` maps a field to what is wrong."""

    def __init__(self, problems: Mapping[str, tuple[str, dict[str, str]]]):
        #: field -> (string key in the definition, placeholder values)
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {key}" for field, (key, _) in self.problems.items()))


@dataclass(frozen=True)
class ThemeScore:
    theme: str
    score: int


@dataclass(frozen=True)
class Result:
    score: int
    band: Band
    themes: tuple[ThemeScore, ...]
    weak: tuple[Question, ...]
    """Questions answered below the top of the scale, heaviest first: where advice applies."""


def percentage(earned: int, possible: int) -> int:
    """``round(100 * earned / possible)`` with halves rounded up, in whole numbers."""
    return (200 * earned + possible) // (2 * possible)


def check_answers(assessment: Assessment, answers: Mapping[str, object]) -> dict[str, int]:
    """Answers by question id as whole numbers; :class:`AnswerError` lists every problem."""
    problems: dict[str, tuple[str, dict[str, str]]] = {}
    clean: dict[str, int] = {}
    known = {question.id for question in assessment.questions}
    for key in answers:
        if key not in known:
            problems[key] = ("error_unknown", {"field": str(key)[:80]})
    for number, question in enumerate(assessment.questions, start=1):
        value = answers.get(question.id)
        if value is None or value == "":
            problems[question.id] = ("error_missing", {"question": str(number)})
            continue
        if isinstance(value, bool):
            value = None
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or value not in assessment.values:
            problems[question.id] = ("error_scale", {"question": str(number)})
            continue
        clean[question.id] = value
    if problems:
        raise AnswerError(problems)
    return clean


def score(assessment: Assessment, answers: Mapping[str, object]) -> Result:
    """The result of a complete, valid set of answers (see :func:`check_answers`)."""
    values = check_answers(assessment, answers)
    top = assessment.max_value
    earned = sum(q.weight * values[q.id] for q in assessment.questions)
    possible = sum(q.weight * top for q in assessment.questions)
    total = percentage(earned, possible)
    themes = tuple(
        ThemeScore(
            theme.id,
            percentage(
                sum(q.weight * values[q.id] for q in assessment.questions_of(theme.id)),
                sum(q.weight * top for q in assessment.questions_of(theme.id)),
            ),
        )
        for theme in assessment.themes
    )
    band = next(band for band in assessment.bands if band.contains(total))
    weak = tuple(
        sorted(
            (q for q in assessment.questions if values[q.id] < top),
            key=lambda q: (-q.weight, assessment.questions.index(q)),
        )
    )
    return Result(score=total, band=band, themes=themes, weak=weak)
