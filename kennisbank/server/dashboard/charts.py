"""The insight charts, drawn on the server as SVG (no script, nothing from elsewhere).

Each figure is an SVG with a title for screen readers and, beside it, a table with
the same numbers (:func:`figures`). Colours come from the stylesheet's classes
(``kb-c0`` ...), so dark mode changes them; nothing here is styled inline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup, escape

from kennisbank.assessment import Assessment
from kennisbank.assessment.model import NOT_APPLICABLE, UNKNOWN
from kennisbank.server.db.store import Insight

WIDTH = 640
BAR = 22
GAP = 8
LABEL = 180


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    svg: Markup
    headers: list[str]
    rows: list[list[object]]


def _svg(figure_id: str, title: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="kb-chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-labelledby="{figure_id}-svg-title" focusable="false"><title id="{figure_id}-svg-title">{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "kb-chart-label") -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def _hbars(figure_id: str, title: str, items: list[tuple[str, list[tuple[int, float]]]], scale: float, suffix: str = "") -> Markup:
    """Horizontal bars: per item a label and one or more stacked parts ``(colour index, value)``."""
    height = len(items) * (BAR + GAP) + GAP
    body = []
    span = WIDTH - LABEL - 60
    for row, (label, parts) in enumerate(items):
        y = GAP + row * (BAR + GAP)
        short = label if len(label) <= 28 else label[:27] + "…"
        body.append(_text(LABEL - 6, y + BAR * 0.7, short, "end"))
        body.append(f'<rect class="kb-chart-track" x="{LABEL}" y="{y}" width="{span}" height="{BAR}"></rect>')
        x = float(LABEL)
        for colour, value in parts:
            width = span * value / scale if scale else 0
            if width > 0:
                body.append(f'<rect class="kb-c{colour}" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR}"></rect>')
            x += width
        if len(parts) == 1:
            body.append(_text(x + 4, y + BAR * 0.7, f"{parts[0][1]:.0f}{suffix}"))
    return _svg(figure_id, title, height, body)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def figures(numbers: Insight, assessment: Assessment, lang: str, t: Callable[..., str]) -> list[Figure]:
    def text(value) -> str:
        return value.get(lang) or next(iter(value.values()))

    found = []
    total = numbers.count

    # 1. Score distribution, per ten points
    deciles = [(f"{10 * d}–{10 * d + 9 if d < 9 else 100}", numbers.scores.get(d, 0)) for d in range(10)]
    top = max((n for _, n in deciles), default=0) or 1
    found.append(
        Figure(
            "scores",
            t("chart_scores"),
            _hbars("scores", t("chart_scores"), [(label, [(0, n)]) for label, n in deciles], top),
            [t("score_range"), t("count"), t("share")],
            [[label, n, _percent(n, total)] for label, n in deciles],
        )
    )

    # 2. Band share per month (stacked to 100 %), "not enough to judge" as a band of its own
    bands = list(assessment.stored_bands)
    title = lambda band: assessment.band_title(band.id, lang)
    months = sorted(numbers.bands_by_month)
    items = []
    rows = []
    for month in months:
        counts = numbers.bands_by_month[month]
        whole = sum(counts.values())
        items.append((month, [(index % 5, 100 * counts.get(band.id, 0) / whole) for index, band in enumerate(bands)]))
        rows.append([month, whole, *(f"{counts.get(band.id, 0)} ({_percent(counts.get(band.id, 0), whole)})" for band in bands)])
    legend = [
        f'<li><svg class="kb-swatch" viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><rect class="kb-c{i % 5}" width="10" height="10"></rect></svg> {escape(title(b))}</li>'
        for i, b in enumerate(bands)
    ]
    svg = _hbars("bands", t("chart_bands"), items, 100) if items else Markup("")
    found.append(
        Figure(
            "bands",
            t("chart_bands"),
            Markup('<ul class="kb-legend">' + "".join(legend) + "</ul>") + svg,
            [t("month"), t("count"), *(title(b) for b in bands)],
            rows,
        )
    )

    # 3. Mean per theme (0-100): the weighted mean of the answers, as the score counts them
    top_value = max(assessment.values)
    theme_rows = []
    for theme in assessment.themes:
        earned = possible = 0.0
        for question in assessment.questions_of(theme.id):
            # as the score counts them: "don't know" as the definition's value, "not applicable" left out
            counts: dict[int, int] = {}
            for value, n in numbers.answers.get(question.id, {}).items():
                scored = _scored(assessment, value) if value != NOT_APPLICABLE else None
                if scored is not None:  # "don't know" adds to the count of the value it scores as
                    counts[scored] = counts.get(scored, 0) + n
            answered = sum(counts.values())
            if answered:
                mean = sum(value * n for value, n in counts.items()) / answered
                earned += question.weight * mean
                possible += question.weight * top_value
        theme_rows.append((text(theme.title), round(100 * earned / possible, 1) if possible else 0.0))
    found.append(
        Figure(
            "themes",
            t("chart_themes"),
            _hbars("themes", t("chart_themes"), [(label, [(0, value)]) for label, value in theme_rows], 100),
            [t("theme"), t("mean")],
            [[label, f"{value:.1f}"] for label, value in theme_rows],
        )
    )

    # 4. Each question's answers (stacked to 100 %)
    # the scale, then "don't know" and "not applicable" where the definition has them
    options = [(o.value, text(o.label)) for o in assessment.scale]
    if assessment.unknown is not None:
        options.append((UNKNOWN, text(assessment.unknown.label)))
    if assessment.context is not None:
        options.append((NOT_APPLICABLE, text(assessment.strings["not_applicable"])))
    items, rows = [], []
    for number, question in enumerate(assessment.questions, start=1):
        counts = {_option_key(value): n for value, n in numbers.answers.get(question.id, {}).items()}
        whole = sum(counts.values())
        parts = [(index % 5, 100 * counts.get(value, 0) / whole if whole else 0) for index, (value, _) in enumerate(options)]
        items.append((f"{number}. {text(question.text)}", parts))
        rows.append([f"{number}. {text(question.text)}", whole, *(f"{counts.get(value, 0)} ({_percent(counts.get(value, 0), whole)})" for value, _ in options)])
    legend = [
        f'<li><svg class="kb-swatch" viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><rect class="kb-c{i % 5}" width="10" height="10"></rect></svg> {escape(label)}</li>'
        for i, (_, label) in enumerate(options)
    ]
    found.append(
        Figure(
            "answers",
            t("chart_answers"),
            Markup('<ul class="kb-legend">' + "".join(legend) + "</ul>") + _hbars("answers", t("chart_answers"), items, 100),
            [t("question"), t("count"), *(label for _, label in options)],
            rows,
        )
    )
    return found


def _option_key(value: int | str) -> int | str:
    """A stored answer as the chart's key: scale values as numbers, "unknown" and "na" as they are."""
    return value if value in (UNKNOWN, NOT_APPLICABLE) else int(value)


def _scored(assessment, value: int | str) -> int | None:
    """The value a stored answer counts as in the score (None: not a scale answer)."""
    if value == UNKNOWN:
        return assessment.unknown.counts_as if assessment.unknown is not None else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
