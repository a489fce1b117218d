"""Reach's statements: counts added in batches, and the figures of the dashboard's Reach page.

A batch (:func:`add`) is one transaction of upserts that add (``n = n + excluded.n``), the
same statement on SQLite and PostgreSQL, its rows in key order: several server processes
flushing at once add up, and take the rows' locks in one order (no deadlock). The figures
(:func:`figures`) sum the days of a period; the funnel's sent and with-contact steps are
counted from the submissions themselves, so they agree with every other count of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

VIEWS = (
    "INSERT INTO reach_views (day, page, lang, n) VALUES (:day, :page, :lang, :n) ON CONFLICT (day, page, lang) DO UPDATE SET n = reach_views.n + excluded.n"
)
SOURCES = (
    "INSERT INTO reach_sources (day, page, lang, referrer, source, medium, campaign, n) "
    "VALUES (:day, :page, :lang, :referrer, :source, :medium, :campaign, :n) "
    "ON CONFLICT (day, page, lang, referrer, source, medium, campaign) DO UPDATE SET n = reach_sources.n + excluded.n"
)
STEPS = (
    "INSERT INTO funnel_steps (day, assessment, version, lang, step, n) VALUES (:day, :assessment, :version, :lang, :step, :n) "
    "ON CONFLICT (day, assessment, version, lang, step) DO UPDATE SET n = funnel_steps.n + excluded.n"
)
TABLES = ("reach_views", "reach_sources", "funnel_steps")

ViewKey = tuple[str, str, str]
"""``(day, page, lang)``"""
SourceKey = tuple[str, str, str, str, str, str, str]
"""``(day, page, lang, referrer, source, medium, campaign)``"""
StepKey = tuple[str, str, int, str, str]
"""``(day, assessment, version, lang, step)``"""


@dataclass(frozen=True)
class ReachFilter:
    """A period (``YYYY-MM-DD``, inclusive, UTC; ``None``: open) and a language (``None``: any)."""

    since: str | None = None
    until: str | None = None
    lang: str | None = None


@dataclass(frozen=True)
class ReachFigures:
    """The sums of a period per day, as the Reach page adds them up (per week, article, language)."""

    views: list[tuple[str, str, int]] = field(default_factory=list)
    """``(page, lang, views)``"""
    views_by_day: list[tuple[str, int]] = field(default_factory=list)
    """``(day, views)``, every page together"""
    views_detail: list[tuple[str, str, str, int]] = field(default_factory=list)
    """``(day, page, lang, views)``: only when asked for (the CSV)"""
    steps: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    """``(day, assessment, lang, step, count)``, step ``started`` or ``completed``"""
    sent: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    """``(day, assessment, lang, submissions, with contact details)``, counted from the submissions"""
    referrers: list[tuple[str, int]] = field(default_factory=list)
    """``(host, views)``, most first: '' for none (typed, a bookmark, this site, a browser that says nothing)."""
    campaigns: list[tuple[str, str, str, int]] = field(default_factory=list)
    """``(source, medium, campaign, views)`` of the views that carried a campaign tag, most first."""


def add(db: Any, views: Mapping[ViewKey, int], sources: Mapping[SourceKey, int], steps: Mapping[StepKey, int]) -> None:
    """Add one batch of counts (in the caller's transaction)."""
    db.executemany(VIEWS, [{"day": k[0], "page": k[1], "lang": k[2], "n": n} for k, n in sorted(views.items()) if n > 0])
    db.executemany(
        SOURCES,
        [
            {"day": k[0], "page": k[1], "lang": k[2], "referrer": k[3], "source": k[4], "medium": k[5], "campaign": k[6], "n": n}
            for k, n in sorted(sources.items())
            if n > 0
        ],
    )
    db.executemany(STEPS, [{"day": k[0], "assessment": k[1], "version": k[2], "lang": k[3], "step": k[4], "n": n} for k, n in sorted(steps.items()) if n > 0])


def _where(chosen: ReachFilter, column: str = "day") -> tuple[str, dict]:
    where, parameters = [], {}
    if chosen.since:
        where.append(f"{column} >= :since")
        parameters["since"] = chosen.since
    if chosen.until:
        where.append(f"{column} <= :until")
        parameters["until"] = chosen.until
    if chosen.lang:
        where.append("lang = :lang")
        parameters["lang"] = chosen.lang
    return ("WHERE " + " AND ".join(where)) if where else "", parameters


def stamp(db: Any) -> tuple:
    """What moves whenever a figure could: a submission stored or deleted (``insight_changes``, kept by
    the triggers), a batch of counts written (they add to today's or yesterday's rows), a purge (the oldest day)."""
    recent = {"day": (datetime.now(UTC).date() - timedelta(days=1)).isoformat()}
    return (
        db.execute("SELECT coalesce(sum(changes), 0) FROM insight_changes").fetchone()[0],
        db.execute("SELECT coalesce(sum(n), 0), min(day) FROM reach_views WHERE day >= :day", recent).fetchone(),
        db.execute("SELECT coalesce(sum(n), 0) FROM funnel_steps WHERE day >= :day", recent).fetchone()[0],
        db.execute("SELECT min(day) FROM reach_views").fetchone()[0],
        db.execute("SELECT min(day) FROM funnel_steps").fetchone()[0],
    )


def figures(db: Any, chosen: ReachFilter, top: int = 50, detail: bool = False) -> ReachFigures:
    """Every sum of the Reach page for ``chosen``, in one read transaction (the caller's); with
    ``detail`` the views per day and page too (the CSV's weeks per page)."""
    where, parameters = _where(chosen)
    views = db.execute(f"SELECT page, lang, sum(n) FROM reach_views {where} GROUP BY page, lang", parameters).fetchall()
    by_day = db.execute(f"SELECT day, sum(n) FROM reach_views {where} GROUP BY day", parameters).fetchall()
    views_detail = db.execute(f"SELECT day, page, lang, sum(n) FROM reach_views {where} GROUP BY day, page, lang", parameters).fetchall() if detail else []
    steps = db.execute(f"SELECT day, assessment, lang, step, sum(n) FROM funnel_steps {where} GROUP BY day, assessment, lang, step", parameters).fetchall()
    referrers = db.execute(
        f"SELECT referrer, sum(n) AS views FROM reach_sources {where} GROUP BY referrer ORDER BY views DESC, referrer LIMIT :top", {**parameters, "top": top}
    ).fetchall()
    tagged = where + (" AND " if where else "WHERE ") + "(source <> '' OR medium <> '' OR campaign <> '')"
    campaigns = db.execute(
        f"SELECT source, medium, campaign, sum(n) AS views FROM reach_sources {tagged} GROUP BY source, medium, campaign "
        "ORDER BY views DESC, source, medium, campaign LIMIT :top",
        {**parameters, "top": top},
    ).fetchall()
    # the submissions as stored: the same rows every other count of them reads
    conditions, bounds = [], {}
    if chosen.since:
        conditions.append("created_at >= :since")
        bounds["since"] = f"{chosen.since}T00:00:00Z"
    if chosen.until:
        conditions.append("created_at <= :until")
        bounds["until"] = f"{chosen.until}T23:59:59Z"
    if chosen.lang:
        conditions.append("lang = :lang")
        bounds["lang"] = chosen.lang
    clause = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    sent = db.execute(
        f"SELECT substr(created_at, 1, 10), assessment, lang, count(*), sum(consent) FROM submissions {clause} GROUP BY substr(created_at, 1, 10), assessment, lang",
        bounds,
    ).fetchall()
    return ReachFigures(
        views=[tuple(row) for row in views],
        views_by_day=[tuple(row) for row in by_day],
        views_detail=[tuple(row) for row in views_detail],
        steps=[tuple(row) for row in steps],
        sent=[(day, assessment, lang, count, int(leads)) for day, assessment, lang, count, leads in sent],
        referrers=[tuple(row) for row in referrers],
        campaigns=[tuple(row) for row in campaigns],
    )


def purge(db: Any, cutoff: datetime) -> None:
    """Delete the counts of every day before ``cutoff``'s (the retention of the submissions)."""
    day = cutoff.strftime("%Y-%m-%d")
    for table in TABLES:
        db.execute(f"DELETE FROM {table} WHERE day < :day", {"day": day})
