"""The assessment as the rest of the code sees it: plain, frozen data.

Texts are mappings from locale to string; ``Assessment.localised(locale)`` gives
the part a page or a reply in one language needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

Text = Mapping[str, str]


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
    section: str
    text: Text
    advice: Text
    help: Text | None = None


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
    digest: str = ""
    """A hash of the definition's content: which definition scored an answer, whatever its version says."""
    data: Mapping = field(default_factory=dict, compare=False, repr=False)
    """The checked definition as parsed, as the build manifest keeps it."""

    @property
    def max_value(self) -> int:
        return max(option.value for option in self.scale)

    @property
    def values(self) -> frozenset[int]:
        return frozenset(option.value for option in self.scale)

    @property
    def sections(self) -> frozenset[str]:
        return frozenset(question.section for question in self.questions)

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

    def label(self, value: int, locale: str) -> str:
        for option in self.scale:
            if option.value == value:
                return option.label[locale]
        raise KeyError(value)

    def string(self, key: str, locale: str, **values: object) -> str:
        """A form string in ``locale`` with its ``{placeholders}`` filled in."""
        return self.strings[key][locale].format(**values)

    def questions_of(self, theme_id: str) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.theme == theme_id)
