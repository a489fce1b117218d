"""Score a set of answers: weighted, 0 to 100, with a band, gates and the weak answers.

The same arithmetic runs in the browser (``assessment.js``) on the weights, bands and
gates the page embeds; both use whole numbers only, rounding half up, so they agree
exactly. ``score = floor((200 * earned + possible) / (2 * possible))`` is
``round(100 * earned / possible)`` with halves rounded up.

The rules, in the order they apply:

1. The context answer (``context:`` in the definition, e.g. commercial provider or
   shared service centre) decides which questions apply. A question that does not
   apply is stored as ``"na"`` whatever was sent and is left out of the score: out of
   ``earned`` and out of ``possible``, for the total and for its theme. "Not
   applicable" is refused on a question that does apply, so it cannot become the
   new catch-all.
2. "Don't know" (stored as ``"unknown"``) counts as the scale value the definition
   names (``unknown.counts_as``; the contract check uses 0, as "no"): what you cannot
   find in your contract does not steer the provider. The result counts the unknown
   answers and gives each its own advice (how to find out).
3. Gates: when a gate's question is answered below its ``below`` (unknown counts as
   its ``counts_as``), or its theme scores below ``below``, the band is at most the
   gate's ``max_band``. A gate on a question or theme that does not apply never
   trips. The score stays as it is; the result names the band the score alone would
   give and every gate that lowered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .model import NOT_APPLICABLE, UNKNOWN, Assessment, Band, Gate, Question

Answer = int | str


class AnswerError(ValueError):
    """Answers that do not fit the assessment; ``problems`` maps a field to what is wrong."""

    def __init__(self, problems: Mapping[str, tuple[str, dict[str, str]]]):
        #: field -> (string key in the definition, placeholder values)
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {key}" for field, (key, _) in self.problems.items()))


@dataclass(frozen=True)
class ThemeScore:
    theme: str
    score: int | None
    """``None`` when no question of the theme applies."""


@dataclass(frozen=True)
class Result:
    score: int
    band: Band
    themes: tuple[ThemeScore, ...]
    weak: tuple[Question, ...]
    """Questions answered below the top of the scale or "don't know", heaviest first: where advice applies."""
    score_band: Band | None = None
    """The band the score alone gives (``band`` when no gate lowered it)."""
    gates: tuple[Gate, ...] = ()
    """The gates that set the band below ``score_band`` (in definition order)."""
    unknown: tuple[Question, ...] = ()
    not_applicable: tuple[Question, ...] = ()
    context: str | None = None


def percentage(earned: int, possible: int) -> int:
    """``round(100 * earned / possible)`` with halves rounded up, in whole numbers."""
    return (200 * earned + possible) // (2 * possible)


def context_of(assessment: Assessment, answers: Mapping[str, object]) -> str | None:
    if assessment.context is None:
        return None
    value = answers.get(assessment.context.id)
    return value if isinstance(value, str) and value in {o.id for o in assessment.context.options} else None


def check_answers(assessment: Assessment, answers: Mapping[str, object]) -> dict[str, Answer]:
    """Answers by question id (and the context answer by the context's id): whole
    numbers, ``"unknown"`` or ``"na"``; :class:`AnswerError` lists every problem."""
    problems: dict[str, tuple[str, dict[str, str]]] = {}
    clean: dict[str, Answer] = {}
    known = {question.id for question in assessment.questions}
    if assessment.context is not None:
        known.add(assessment.context.id)
    for key in answers:
        if key not in known:
            problems[key] = ("error_unknown", {"field": str(key)[:80]})
    context = None
    if assessment.context is not None:
        context = context_of(assessment, answers)
        if context is None:
            problems[assessment.context.id] = ("error_context", {})
        else:
            clean[assessment.context.id] = context
    for number, question in enumerate(assessment.questions, start=1):
        value = answers.get(question.id)
        if context is not None and not question.applies(context):
            clean[question.id] = NOT_APPLICABLE  # whatever was sent: it does not count
            continue
        if value is None or value == "":
            problems[question.id] = ("error_missing", {"question": str(number)})
            continue
        if value == NOT_APPLICABLE and question.applies_to is not None:
            if context is not None:
                problems[question.id] = ("error_not_applicable", {"question": str(number)})
            continue  # the context is missing, and reported
        if value == UNKNOWN and question.allows_unknown:
            clean[question.id] = UNKNOWN
            continue
        if isinstance(value, bool):
            value = None
        elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
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
    context = context_of(assessment, values)
    top = assessment.max_value
    counts_as = assessment.unknown.counts_as if assessment.unknown else 0
    applying = [q for q in assessment.questions if values[q.id] != NOT_APPLICABLE]

    def value(q: Question) -> int:
        answer = values[q.id]
        return counts_as if answer == UNKNOWN else int(answer)

    def part(questions: list[Question]) -> int | None:
        possible = sum(q.weight * top for q in questions)
        return percentage(sum(q.weight * value(q) for q in questions), possible) if possible else None

    total = part(applying)
    assert total is not None, "the definition check makes at least one question apply in every context"
    themes = tuple(ThemeScore(theme.id, part([q for q in applying if q.theme == theme.id])) for theme in assessment.themes)
    theme_scores = {t.theme: t.score for t in themes}
    score_band = next(band for band in assessment.bands if band.contains(total))
    rank = assessment.band_rank(score_band.id)

    def tripped(gate: Gate) -> bool:
        if gate.question is not None:
            return values[gate.question] != NOT_APPLICABLE and value(assessment.question(gate.question)) < gate.below
        theme_score = theme_scores[gate.theme]
        return theme_score is not None and theme_score < gate.below

    lowering = [gate for gate in assessment.gates if tripped(gate) and assessment.band_rank(gate.max_band) < rank]
    cap = min((assessment.band_rank(gate.max_band) for gate in lowering), default=rank)
    band = assessment.bands[cap]
    # the gates that set the band; a milder one that also tripped adds nothing to say
    binding = [gate for gate in lowering if assessment.band_rank(gate.max_band) == cap]
    # heaviest first, in the definition's order within a weight: ``applying`` is in that
    # order and the sort is stable (a position lookup compared whole questions, per submission)
    weak = tuple(sorted((q for q in applying if values[q.id] == UNKNOWN or value(q) < top), key=lambda q: -q.weight))
    return Result(
        score=total,
        band=band,
        themes=themes,
        weak=weak,
        score_band=score_band,
        gates=tuple(binding),
        unknown=tuple(q for q in applying if values[q.id] == UNKNOWN),
        not_applicable=tuple(q for q in assessment.questions if values[q.id] == NOT_APPLICABLE),
        context=context,
    )
