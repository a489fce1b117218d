"""The Reach page's numbers: does the article work? Views, the scan's funnel, the weeks, the sources.

The store gives the sums per day (:class:`~kennisbank.server.db.store.ReachFigures`);
here they are added up per article and language (the article of an assessment is the page
:func:`~kennisbank.server.intake.replies.article_url` names) and per ISO week, each step
with its rate, and drawn as the insight page draws (:mod:`.charts`): an SVG and beside it a
table of the same numbers. The sent and with-contact steps are the stored submissions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from kennisbank.assessment import Assessment
from kennisbank.server.dashboard.charts import Figure, _hbars, _percent
from kennisbank.server.db.store import ReachFigures
from kennisbank.server.intake.replies import article_url
from kennisbank.siteconfig import SiteConfig

STEPS = ("views", "started", "completed", "sent", "leads")


@dataclass
class Funnel:
    """One article in one language (or a week): the count of each step."""

    views: int = 0
    started: int = 0
    completed: int = 0
    sent: int = 0
    leads: int = 0

    def counts(self) -> list[int]:
        return [getattr(self, step) for step in STEPS]

    def rates(self) -> list[str]:
        """Each step's share of the step before it ('-' for the first, and where the one before is 0)."""
        counts = self.counts()
        return ["-", *(_percent(after, before) for before, after in zip(counts, counts[1:], strict=False))]


@dataclass
class Article:
    page: str
    lang: str
    title: str
    assessment: str | None
    funnel: Funnel = field(default_factory=Funnel)


@dataclass
class Summary:
    articles: list[Article]
    """Every page with a view or a step in the period; the articles of the scan first."""
    weeks: dict[str, Funnel]
    """ISO week (``2026-W05``) -> the funnel of that week, every article together."""
    by_week: dict[tuple[str, str, str], Funnel]
    """``(week, page, lang)`` -> that article's funnel in that week (the CSV: its views only with the figures' ``views_detail``)."""
    referrers: list[tuple[str, int]]
    campaigns: list[tuple[str, str, str, int]]
    total: Funnel


@lru_cache(maxsize=4096)
def week(day: str) -> str:
    year, number, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{number:02d}"


def summary(figures: ReachFigures, site: SiteConfig, assessments: Iterable[Assessment], titles: Mapping[str, str]) -> Summary:
    """The figures per article, language and week. ``titles``: the manifest's page titles by address."""
    article_of: dict[tuple[str, str], str] = {}  # (assessment, lang) -> its article's page
    for assessment in assessments:
        for lang in site.locales:
            article_of[(assessment.id, lang)] = article_url(site, assessment, lang)
    assessment_of = {(page, lang): assessment for (assessment, lang), page in article_of.items()}
    rows: dict[tuple[str, str], Article] = {}
    weeks: dict[str, Funnel] = {}
    by_week: dict[tuple[str, str, str], Funnel] = {}

    def row(page: str, lang: str) -> Article:
        found = rows.get((page, lang))
        if found is None:
            found = rows[(page, lang)] = Article(page, lang, titles.get(page, page), assessment_of.get((page, lang)))
        return found

    def add(day: str, page: str, lang: str, step: str, n: int) -> None:
        label = week(day)
        for funnel in (row(page, lang).funnel, weeks.setdefault(label, Funnel()), by_week.setdefault((label, page, lang), Funnel())):
            setattr(funnel, step, getattr(funnel, step) + n)

    for (_, lang), page in article_of.items():
        row(page, lang)  # the scan's articles are shown, counted or not
    for page, lang, n in figures.views:
        row(page, lang).funnel.views += n
    for day, n in figures.views_by_day:
        weeks.setdefault(week(day), Funnel()).views += n
    for day, page, lang, n in figures.views_detail:
        funnel = by_week.setdefault((week(day), page, lang), Funnel())
        funnel.views += n
    for day, assessment, lang, step, n in figures.steps:
        page = article_of.get((assessment, lang))
        if page is not None:
            add(day, page, lang, step, n)
    for day, assessment, lang, count, leads in figures.sent:
        page = article_of.get((assessment, lang))
        if page is not None:
            add(day, page, lang, "sent", count)
            add(day, page, lang, "leads", leads)
    total = Funnel(*(sum(getattr(r.funnel, step) for r in rows.values()) for step in STEPS))
    ordered = sorted(rows.values(), key=lambda r: (r.assessment is None, -r.funnel.views, r.page, r.lang))
    return Summary(ordered, dict(sorted(weeks.items())), dict(sorted(by_week.items())), figures.referrers, figures.campaigns, total)


def funnel_figure(figure_id: str, title: str, funnel: Funnel, t: Callable[..., str]) -> Figure:
    """A funnel as bars, views the longest, with each step's count and rate beside it."""
    counts = funnel.counts()
    labels = [t(f"reach_{step}") for step in STEPS]
    svg = _hbars(figure_id, title, [(label, [(index, n)]) for index, (label, n) in enumerate(zip(labels, counts, strict=True))], max(counts) or 1)
    return Figure(
        figure_id,
        title,
        svg,
        [t("reach_step"), t("count"), t("reach_rate")],
        [[label, n, rate] for label, n, rate in zip(labels, counts, funnel.rates(), strict=True)],
    )


def week_figure(summary: Summary, t: Callable[..., str]) -> Figure:
    """Views per week as bars; the table has every step."""
    title = t("reach_weeks")
    items = [(label, [(0, funnel.views)]) for label, funnel in summary.weeks.items()]
    svg = _hbars("weeks", title, items, max((funnel.views for funnel in summary.weeks.values()), default=0) or 1)
    headers = [t("reach_week"), *(t(f"reach_{step}") for step in STEPS)]
    return Figure("weeks", title, svg, headers, [[label, *funnel.counts()] for label, funnel in summary.weeks.items()])


def to_csv(summary: Summary) -> str:
    """One row per week, page and language: each step's count (RFC 4180, CRLF)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["week", "page", "lang", *STEPS])
    for (label, page, lang), funnel in summary.by_week.items():
        writer.writerow([label, page, lang, *funnel.counts()])
    return out.getvalue()
