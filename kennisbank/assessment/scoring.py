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
   A question the definition lets the reader call "not applicable" (``may_not_apply``,
   e.g. data to return under a cleaning contract) is left out like one the context rules out.
3. No verdict: when more than ``verdict.unknown_limit`` percent of the questions that
   apply are answered "don't know", the result has no band (``judged`` is false, the band
   is the definition's ``verdict.insufficient``, stored as ``NO_VERDICT``): it says what to
   find out, and the submission stays out of the comparison with others.
4. Gates: when a gate's question is answered below its ``below`` (unknown counts as
   its ``counts_as``), every one of its ``questions`` that applies is, or its theme
   scores below ``below``, the band is at most the gate's ``max_band``. A gate on a
   question or theme that does not apply never trips. With ``verdict.cap_score`` the
   score is lowered to the top of that band, so that number and band agree; the result
   names the score the answers alone give (``raw_score``), its band, and every gate
   that lowered it.
5. Contradictions (``conflicts:``): answers that cannot both be true (no outcomes, yet
   "each outcome describes the end state") are pointed out. "Don't know" and "not
   applicable" never contradict anything. They do not change the score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .model import NOT_APPLICABLE, UNKNOWN, Assessment, Band, Conflict, Gate, Question

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
    raw_score: int | None = None
    """The score the answers alone give, before a gate capped it (``score`` when nothing did)."""
    judged: bool = True
    """False when too many answers were "don't know" to pronounce a verdict: ``band`` is then
    the definition's ``verdict.insufficient`` (id ``NO_VERDICT``), and the result shows no
    score, band or theme scores and is not compared with others."""
    conflicts: tuple[Conflict, ...] = ()
    """Answers that contradict each other (in definition order)."""
    applying: int = 0
    """How many questions applied (the count the "don't know" limit is a share of)."""


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
        if value == NOT_APPLICABLE and question.may_not_apply:
            clean[question.id] = NOT_APPLICABLE  # the reader says it does not apply: left out of the score
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
    return score_checked(assessment, check_answers(assessment, answers))


def score_checked(assessment: Assessment, values: Mapping[str, Answer]) -> Result:
    """The result of answers :func:`check_answers` returned: the receiver checks them once, to
    report every problem, and scores what the check gave rather than checking again."""
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
        if gate.questions:
            named = [assessment.question(qid) for qid in gate.questions if values[qid] != NOT_APPLICABLE]
            return bool(named) and all(value(q) < gate.below for q in named)
        theme_score = theme_scores[gate.theme]
        return theme_score is not None and theme_score < gate.below

    # heaviest first, in the definition's order within a weight: ``applying`` is in that
    # order and the sort is stable (a position lookup compared whole questions, per submission)
    weak = tuple(sorted((q for q in applying if values[q.id] == UNKNOWN or value(q) < top), key=lambda q: -q.weight))
    unknown = tuple(q for q in applying if values[q.id] == UNKNOWN)
    common = {
        "themes": themes,
        "weak": weak,
        "score_band": score_band,
        "unknown": unknown,
        "not_applicable": tuple(q for q in assessment.questions if values[q.id] == NOT_APPLICABLE),
        "context": context,
        "raw_score": total,
        "conflicts": tuple(c for c in assessment.conflicts if all(condition.holds(values.get(condition.question)) for condition in c.when)),
        "applying": len(applying),
    }
    verdict = assessment.verdict
    if verdict.unknown_limit is not None and verdict.insufficient is not None and 100 * len(unknown) > verdict.unknown_limit * len(applying):
        return Result(score=total, band=verdict.insufficient, gates=(), judged=False, **common)
    lowering = [gate for gate in assessment.gates if tripped(gate) and assessment.band_rank(gate.max_band) < rank]
    cap = min((assessment.band_rank(gate.max_band) for gate in lowering), default=rank)
    band = assessment.bands[cap]
    # the gates that set the band; a milder one that also tripped adds nothing to say
    binding = [gate for gate in lowering if assessment.band_rank(gate.max_band) == cap]
    shown = min(total, band.max) if verdict.cap_score and binding else total
    return Result(score=shown, band=band, gates=tuple(binding), **common)
