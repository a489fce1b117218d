"""The contract self-assessment: definition, checks, scoring and rendering."""

from .definition import DefinitionError, Problem, check, check_sections, digest, from_data, load_definition, load_definitions, schema
from .model import Assessment, Band, Question, ScaleOption, Theme
from .render import client_data, render_form, render_result
from .scoring import AnswerError, Result, ThemeScore, check_answers, percentage, score

__all__ = [
    "AnswerError",
    "Assessment",
    "Band",
    "DefinitionError",
    "Problem",
    "Question",
    "Result",
    "ScaleOption",
    "Theme",
    "ThemeScore",
    "check",
    "check_answers",
    "check_sections",
    "client_data",
    "digest",
    "from_data",
    "load_definition",
    "load_definitions",
    "percentage",
    "render_form",
    "render_result",
    "schema",
    "score",
]
