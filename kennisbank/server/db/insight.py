"""The dashboard's figures: a filter as SQL conditions, and the counts behind the charts, from
the aggregate tables (whole months, kept by the triggers) and from the rows (partial months, a
search), each kept while its month's counter (``insight_changes``) stands.

The store's half: what it runs these on (``db``, a :class:`~.dialects.Db`) and its dialect's
fragments (``DECILE``, ``LIKE``); the caches are the store's, handed in as :class:`Caches`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from kennisbank.server.db.records import Insight, LeadFilter


@dataclass(frozen=True)
class Caches:
    months: dict
    """``(filter without period, month, identity) -> (changes, Insight)``: one whole month's figures."""
    edges: dict
    """``(filter of the days, identity) -> (changes, Insight)``: a partial month's, counted from its rows."""
    searched: dict
    """``filter -> (data stamp, Insight)``: a search's (SQLite, which can tell when no row changed)."""
    lock: threading.Lock
    identity: object
    """The database file the figures were read from (a file replaced under the store starts afresh)."""


def like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where_of(chosen: LeadFilter, like_operator: str = "LIKE") -> tuple[list[str], dict]:
    """The conditions (and their parameters) of a dashboard filter; every value a parameter."""
    where: list[str] = []
    parameters: dict[str, Any] = {}
    if chosen.since:
        where.append("created_at >= :since")
        parameters["since"] = f"{chosen.since}T00:00:00Z"
    if chosen.until:
        where.append("created_at <= :until")
        parameters["until"] = f"{chosen.until}T23:59:59Z"
    conditions, values = dimensions(chosen)
    where += conditions
    parameters.update(values)
    if chosen.search:
        # only a lead has an email or organisation (the table's CHECK): consent = 1 lets
        # the database read the smaller index submissions_search instead of every row
        where.append(f"consent = 1 AND (email {like_operator} :search ESCAPE '\\' OR organisation {like_operator} :search ESCAPE '\\')")
        parameters["search"] = like(chosen.search)
    return where, parameters


def dimensions(chosen: LeadFilter) -> tuple[list[str], dict]:
    """The conditions of a filter on the aggregate tables (the period apart)."""
    where: list[str] = []
    parameters: dict[str, Any] = {}
    for column in ("assessment", "band", "lang", "status"):
        value = getattr(chosen, column)
        if value:
            where.append(f"{column} = :{column}")
            parameters[column] = value
    if chosen.kind == "lead":
        where.append("consent = 1")
    elif chosen.kind == "anonymous":
        where.append("consent = 0")
    return where, parameters


def clause(where: list[str]) -> str:
    return ("WHERE " + " AND ".join(where)) if where else ""


def months(since: str | None, until: str | None) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """A period's whole months (first and last ``YYYY-MM``; ``None``: open) and its partial months' days.

    ``2026-03-15``..``2026-06-30`` is the whole months 2026-04..2026-06 and the days
    2026-03-15..2026-03-31. Whole months with ``first > last`` select nothing."""
    start = date.fromisoformat(since) if since else None
    end = date.fromisoformat(until) if until else None
    if start and end and start > end:
        return "9999-12", "0000-01", []
    edges: list[tuple[str, str]] = []
    first = last = None
    if start:
        first = f"{start:%Y-%m}"
        if start.day != 1:
            month_end = _month_end(start)
            edges.append((start.isoformat(), min(month_end, end).isoformat() if end else month_end.isoformat()))
            first = f"{month_end + timedelta(days=1):%Y-%m}"
    if end:
        last = f"{end:%Y-%m}"
        if end != _month_end(end):
            month_start = end.replace(day=1)
            if not (start and start.day != 1 and (start.year, start.month) == (end.year, end.month)):
                edges.append((max(month_start, start).isoformat() if start else month_start.isoformat(), end.isoformat()))
            last = f"{month_start - timedelta(days=1):%Y-%m}"
    return first, last, edges


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _period(first: str | None, last: str | None) -> tuple[list[str], dict]:
    where = ["month >= :first"] * (first is not None) + ["month <= :last"] * (last is not None)
    return where, {"first": first, "last": last}


def count(db: Any, chosen: LeadFilter, like_operator: str) -> int:
    """How many submissions ``chosen`` selects: whole months from ``insight_counts``, partial months and searches from the rows."""
    if chosen.search:
        where, parameters = where_of(chosen, like_operator)
        return db.execute(f"SELECT count(*) FROM submissions {clause(where)}", parameters).fetchone()[0]
    first, last, edges = months(chosen.since, chosen.until)
    total = 0
    if first is None or last is None or first <= last:
        where, parameters = dimensions(chosen)
        period, bounds = _period(first, last)
        total += db.execute(f"SELECT coalesce(sum(n), 0) FROM insight_counts {clause(where + period)}", {**parameters, **bounds}).fetchone()[0]
    for since, until in edges:
        where, parameters = where_of(replace(chosen, since=since, until=until), like_operator)
        total += db.execute(f"SELECT count(*) FROM submissions {clause(where)}", parameters).fetchone()[0]
    return total


def period(db: Any, chosen: LeadFilter, dialect: Any, caches: Caches) -> Insight:
    """The figures of a filter without a search: month by month, each kept until its rows change
    (a new submission re-sums only the current month's aggregate rows), and the partial months."""
    first, last, edges = months(chosen.since, chosen.until)
    where, bounds = _period(first, last)
    parts = []
    for month, changes in db.execute(f"SELECT month, changes FROM insight_changes {clause(where)}", bounds).fetchall():
        key = (replace(chosen, since=None, until=None, search=None), month, caches.identity)
        cached = caches.months.get(key)
        if cached is None or cached[0] != changes:
            cached = (changes, _month(db, chosen, month))
            caches.months[key] = cached
        parts.append(cached[1])
    with caches.lock:
        while len(caches.months) > 1024:
            caches.months.pop(next(iter(caches.months)))
    parts += [_edge(db, chosen, since, until, dialect, caches) for since, until in edges]
    return _sum(parts)


def _sum(parts: list[Insight]) -> Insight:
    total, scores, by_month, answers = 0, {}, {}, {}
    for part in parts:
        total += part.count
        for decile, n in part.scores.items():
            scores[decile] = scores.get(decile, 0) + n
        for month, bands in part.bands_by_month.items():
            per_band = by_month.setdefault(month, {})
            for band, n in bands.items():
                per_band[band] = per_band.get(band, 0) + n
        for question, values in part.answers.items():
            per_question = answers.setdefault(question, {})
            for value, n in values.items():
                per_question[value] = per_question.get(value, 0) + n
    return Insight(total, scores, dict(sorted(by_month.items())), answers)


def _month(db: Any, chosen: LeadFilter, month: str) -> Insight:
    """One whole month's figures from the aggregate tables."""
    where, parameters = dimensions(chosen)
    condition = clause(["month = :month", *where])
    parameters = {**parameters, "month": month}
    scores: dict[int, int] = {}
    by_month: dict[str, dict[str, int]] = {}
    total = add_scores(db.execute(f"SELECT month, band, decile, sum(n) FROM insight_counts {condition} GROUP BY 1, 2, 3", parameters), scores, by_month)
    answers: dict = {}
    for question, value, n in db.execute(f"SELECT question, answer, sum(n) FROM insight_answers {condition} GROUP BY 1, 2", parameters):
        answers.setdefault(question, {})[value] = n
    return Insight(total, scores, by_month, answers)


def _edge(db: Any, chosen: LeadFilter, since: str, until: str, dialect: Any, caches: Caches) -> Insight:
    """The figures of the days ``since``..``until`` (one month, in part) from the rows, kept while that month is unchanged."""
    row = db.execute("SELECT changes FROM insight_changes WHERE month = :month", {"month": since[:7]}).fetchone()
    changes = row[0] if row else 0
    days = replace(chosen, since=since, until=until, search=None)
    key = (days, caches.identity)
    cached = caches.edges.get(key)
    if cached is not None and cached[0] == changes:
        return cached[1]
    found = rows(db, days, dialect)
    with caches.lock:
        caches.edges[key] = (changes, found)
        while len(caches.edges) > 64:
            caches.edges.pop(next(iter(caches.edges)))
    return found


def searched(db: Any, chosen: LeadFilter, dialect: Any, caches: Caches) -> Insight:
    version = dialect.data_stamp(db)
    cached = caches.searched.get(chosen)
    if version is not None and cached is not None and cached[0] == version:
        return cached[1]
    found = rows(db, chosen, dialect)
    if version is not None:
        with caches.lock:
            caches.searched[chosen] = (version, found)
            while len(caches.searched) > 32:
                caches.searched.pop(next(iter(caches.searched)))
    return found


def rows(db: Any, chosen: LeadFilter, dialect: Any) -> Insight:
    """The figures counted from the rows (a partial month, a search)."""
    where, parameters = where_of(chosen, dialect.LIKE)
    condition = clause(where)
    scores: dict[int, int] = {}
    by_month: dict[str, dict[str, int]] = {}
    grouped = f"SELECT substr(created_at, 1, 7), band, {dialect.DECILE}, count(*) FROM submissions {condition} GROUP BY 1, 2, 3"
    total = add_scores(db.execute(grouped, parameters), scores, by_month)
    # identical answer sets are counted once by the database, then split per question here
    answers: dict[str, dict[int, int]] = {}
    for text, n in db.execute(f"SELECT answers, count(*) FROM submissions {condition} GROUP BY answers", parameters):
        for question, value in json.loads(text).items():
            counts = answers.setdefault(question, {})
            counts[value] = counts.get(value, 0) + n
    return Insight(total, scores, dict(sorted(by_month.items())), answers)


def add_scores(found: Any, scores: dict[int, int], by_month: dict[str, dict[str, int]]) -> int:
    """Add ``(month, band, decile, count)`` rows to the score and band counts; their total."""
    total = 0
    for month, band, decile, n in found:
        total += n
        scores[decile] = scores.get(decile, 0) + n
        per_band = by_month.setdefault(month, {})
        per_band[band] = per_band.get(band, 0) + n
    return total
