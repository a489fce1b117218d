"""The assessment as the rest of the code sees it: plain, frozen data.

Texts are mappings from locale to string; ``Assessment.localised(locale)`` gives
the part a page or a reply in one language needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

Text = Mapping[str, str]

#: Strings added after definitions were first recorded (the server loads a recorded
#: definition again to score a page built from it): a definition may lack one, and then
#: the string it was split from stands in. Key -> stand-in.
STAND_INS: Mapping[str, str] = {
    # the caption of the whole answers table; "your_answer" labels the answer to one question
    "answers_caption": "your_answer",
}


@dataclass(frozen=True)
class ScaleOption:
    value: int
    label: Text


@dataclass(frozen=True)
class Theme:
    id: str
    title: Text


@dataclass(frozen=True)
class Question:
    id: str
    theme: str
    weight: int
    section: str | None
    """The heading id of the article's section that makes the question's point; ``None`` for good practice of the consultancy's own."""
    text: Text
    advice: Text
    help: Text | None = None
    unknown_advice: Text | None = None
    """How to find the answer out; a question with it offers "don't know"."""
    applies_to: tuple[str, ...] | None = None
    """The context options the question is put to; ``None``: every one."""
    text_by_context: Mapping[str, Text] = field(default_factory=dict)
    """Other wording of the question for a context option."""
    clause: str | None = None
    """An optional second link target: a source path with a heading id (``voorbeeldclausules.md#bonus``)."""
    may_not_apply: bool = False
    """Whether the reader may answer "not applicable" (e.g. no data to return under a cleaning
    contract); such an answer leaves the question out of the score, as a context does."""
    good_practice: bool = False
    """The question is the consultancy's own good practice, not a point the article makes."""

    @property
    def allows_unknown(self) -> bool:
        return self.unknown_advice is not None

    def applies(self, context: str | None) -> bool:
        """Whether the question is put to a reader in ``context`` (``None``: not chosen: every question)."""
        return self.applies_to is None or context is None or context in self.applies_to

    def wording(self, context: str | None) -> Text:
        return self.text_by_context.get(context, self.text) if context else self.text


@dataclass(frozen=True)
class ContextOption:
    id: str
    label: Text


@dataclass(frozen=True)
class Context:
    """The question about the reader's situation: it decides which questions apply."""

    id: str
    text: Text
    options: tuple[ContextOption, ...]
    help: Text | None = None

    def option_labels(self, option_ids: tuple[str, ...], locale: str) -> str:
        return "; ".join(self.option(option_id).label[locale] for option_id in option_ids)

    def option(self, option_id: str) -> ContextOption:
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(option_id)


@dataclass(frozen=True)
class Unknown:
    """The "don't know" answer: stored as :data:`UNKNOWN`, scored as the scale value ``counts_as``."""

    label: Text
    counts_as: int


@dataclass(frozen=True)
class Gate:
    """ "Without this, nothing else counts": when the condition holds, the band is at most ``max_band``.

    The condition is a question answered below ``below`` (a scale value; "don't know"
    counts as its ``counts_as``), every one of ``questions`` that applies answered below
    ``below`` (e.g. neither a bonus-malus nor a variable fee), or a theme scoring below
    ``below`` (0 to 100). A question or theme that does not apply never trips a gate."""

    id: str
    max_band: str
    below: int
    text: Text
    question: str | None = None
    theme: str | None = None
    questions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """One half of a contradiction: ``question`` answered below ``below`` or at least ``at_least``
    (a scale value; "don't know" and "not applicable" never hold)."""

    question: str
    below: int | None = None
    at_least: int | None = None

    def holds(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        return value < self.below if self.below is not None else value >= (self.at_least or 0)


@dataclass(frozen=True)
class Conflict:
    """Answers that contradict each other: pointed out in the result when every condition holds."""

    id: str
    when: tuple[Condition, ...]
    text: Text


@dataclass(frozen=True)
class Note:
    """A point of the article the result makes to every reader, scored nowhere (``notes:`` in
    the definition): what no answer about the contract can show, such as what to do before
    renegotiating it. ``section`` is the heading id of the article's section that makes it."""

    id: str
    text: Text
    section: str


@dataclass(frozen=True)
class Verdict:
    """How the result is pronounced (``verdict:`` in the definition).

    ``cap_score``: a gate that lowers the band lowers the score to the top of that band,
    so the number and the band never disagree. ``unknown_limit``: when more than this
    percentage of the questions that apply is answered "don't know", there is no verdict:
    no band, no score shown, and the submission stays out of the comparison; the result
    says so with ``insufficient`` (title and advice) and lists what to find out."""

    cap_score: bool = False
    unknown_limit: int | None = None
    insufficient: Band | None = None


#: The stored answer for "don't know" and for "does not apply": strings, so they can never be a scale value.
UNKNOWN = "unknown"
NOT_APPLICABLE = "na"
#: The stored band of a result without a verdict (too many "don't know"): not a band id a
#: definition can use (ids have no underscore), and the value the database's comparison
#: counts leave out (the store's revision 0002).
NO_VERDICT = "_insufficient"


@dataclass(frozen=True)
class Band:
    id: str
    min: int
    max: int
    title: Text
    advice: Text

    def contains(self, score: int) -> bool:
        return self.min <= score <= self.max


@dataclass(frozen=True)
class Assessment:
    id: str
    version: int
    source: Path
    article: str
    title: Text
    intro: Text
    scale: tuple[ScaleOption, ...]
    themes: tuple[Theme, ...]
    questions: tuple[Question, ...]
    bands: tuple[Band, ...]
    strings: Mapping[str, Text]
    unknown: Unknown | None = None
    context: Context | None = None
    gates: tuple[Gate, ...] = ()
    verdict: Verdict = field(default_factory=Verdict)
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[Note, ...] = ()
    minutes: int | None = None
    """About how long the assessment takes, in minutes: every page that says so reads it from here."""
    digest: str = ""
    """A hash of the definition's content: which definition scored an answer, whatever its version says."""
    data: Mapping = field(default_factory=dict, compare=False, repr=False)
    """The checked definition as parsed, as the build manifest keeps it."""

    # cached: read for every answer of every submission (the fields are frozen, so they cannot go stale)
    @cached_property
    def max_value(self) -> int:
        return max(option.value for option in self.scale)

    @cached_property
    def values(self) -> frozenset[int]:
        return frozenset(option.value for option in self.scale)

    @property
    def sections(self) -> frozenset[str]:
        return frozenset(question.section for question in self.questions if question.section is not None)

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def theme(self, theme_id: str) -> Theme:
        for theme in self.themes:
            if theme.id == theme_id:
                return theme
        raise KeyError(theme_id)

    def band(self, band_id: str) -> Band:
        for band in self.bands:
            if band.id == band_id:
                return band
        raise KeyError(band_id)

    @property
    def stored_bands(self) -> tuple[Band, ...]:
        """Every band a stored result can carry: the definition's bands, lowest first, then
        "not enough to judge" (``verdict.insufficient``, stored as :data:`NO_VERDICT`) if it has one."""
        return self.bands + ((self.verdict.insufficient,) if self.verdict.insufficient else ())

    def band_title(self, band_id: str, locale: str) -> str | None:
        """The title a stored band is shown with in ``locale``, wherever one is shown (the
        dashboard, its charts and exports, the consultant's email): the one place that
        decides it. ``None`` for a band this definition does not have."""
        for band in self.stored_bands:
            if band.id == band_id:
                return band.title.get(locale) or next(iter(band.title.values()))
        return None

    def band_rank(self, band_id: str) -> int:
        """The band's place from the lowest (0) up."""
        return [band.id for band in self.bands].index(band_id)

    def label(self, value: int | str, locale: str) -> str:
        if value == UNKNOWN and self.unknown is not None:
            return self.unknown.label[locale]
        if value == NOT_APPLICABLE:
            return self.strings["not_applicable"][locale]
        for option in self.scale:
            if option.value == value:
                return option.label[locale]
        raise KeyError(value)

    def string(self, key: str, locale: str, **values: object) -> str:
        """A form string in ``locale`` with its ``{placeholders}`` filled in (a later string's stand-in where the definition lacks it)."""
        if key not in self.strings and key in STAND_INS:
            key = STAND_INS[key]
        return self.strings[key][locale].format(**values)

    def questions_of(self, theme_id: str) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.theme == theme_id)

    def question_counts(self) -> tuple[int, int]:
        """The fewest and the most questions a reader is asked (the context question not counted)."""
        options = [option.id for option in self.context.options] if self.context else [None]
        counts = [sum(1 for q in self.questions if q.applies(option)) for option in options]
        return min(counts), max(counts)

    def facts(self, locale: str) -> dict[str, str]:
        """``{questions}`` and ``{minutes}`` as a page says them: "17 of 18", "7"."""
        low, high = self.question_counts()
        questions = str(high) if low == high else self.string("count_range", locale, low=low, high=high)
        return {"questions": questions, "minutes": str(self.minutes) if self.minutes is not None else ""}

    def intro_text(self, locale: str) -> str:
        """The intro with its ``{questions}`` and ``{minutes}`` filled in."""
        text = self.intro[locale]
        return text.format(**self.facts(locale)) if "{" in text else text
