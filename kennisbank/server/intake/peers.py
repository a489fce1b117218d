"""Where a reader stands: an anonymous comparison with earlier submissions.

Decisions, and why:

- **Same definition version = the same definition digest** (the ``definition``
  column, :mod:`.definitions`), not (assessment, version). Two scores are comparable
  only when the same questions, weights, gates and context rules produced them; the
  digest changes exactly when any of these does, while the version number is set by
  hand and may stay the same across such a change. The cost: a correction of wording
  alone also starts a new comparison, which is the honest side to err on.
- **From aggregates**: ``peer_counts`` holds the number of
  submissions per (digest, measure, score 0-100), measure ``""`` the total and
  otherwise a theme id, by triggers in the same transaction as every insert and
  delete (the server, ``kennisbank erase``, ``kennisbank purge``, the dashboard). 101
  buckets give exact percentiles and medians. Themes that do not apply to a reader
  (all their questions "not applicable") are not counted in that theme.
- **Earlier ones only, never the reader's own**: the store reads the counts inside the
  insert's transaction, before the insert (:meth:`~kennisbank.server.db.store.SubmissionStore.add_many`); writers take
  turns, so each of many concurrent submissions is compared with exactly those
  committed before it.
- **Ties**: "higher than X % of N" counts the earlier contracts with a strictly lower
  score, rounded down: a tie is not counted as beaten, and the reply says how many
  scored the same. So 62 % is never an overstatement.
- **No verdict, no count**: a submission without a verdict (too many "don't know",
  band ``NO_VERDICT``) is stored but counted nowhere here: revision 0002's triggers
  leave it out of the totals, its theme scores are stored as NULL, and its reply says
  it is not compared.
- **Threshold**: figures only when at least ``BENCHMARK_MIN`` earlier submissions of
  the digest exist; otherwise the reader is told how many more are needed. A theme
  with fewer than ``BENCHMARK_MIN`` submissions to which it applied gets no median
  either, for the same reason.
- **Cache**: the store keeps the counts per digest with the data stamp (its
  connection's ``total_changes`` and ``PRAGMA data_version``, which changes when
  another process commits), and adds its own insert to them after the commit; so a
  submission costs no extra read, and an erase or purge from another process is seen
  at the next read.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from kennisbank.assessment import Assessment
from kennisbank.assessment.scoring import Result, score
from kennisbank.server.db.store import PeerCounts
from kennisbank.server.intake.definitions import Changed

log = logging.getLogger("kennisbank.server")

TOTAL = ""
"""The measure of the total score in ``peer_counts``; a theme's is its id."""


# The figures, from 101 counts


def count(buckets: Sequence[int]) -> int:
    return sum(buckets)


def lower_than(buckets: Sequence[int], value: int) -> int:
    """How many scored strictly lower than ``value``."""
    return sum(buckets[:value])


def higher_than_percent(buckets: Sequence[int], value: int) -> int:
    """The whole percentage of them that scored strictly lower than ``value`` (rounded down)."""
    n = count(buckets)
    return 100 * lower_than(buckets, value) // n if n else 0


def nth(buckets: Sequence[int], rank: int) -> int:
    """The score at ``rank`` (0-based) in ascending order."""
    return _nth(list(accumulate(buckets)), rank)


def _nth(cumulative: list[int], rank: int) -> int:
    # the first score whose running count passes the rank (a reply computes this a few
    # times per submission: bisect over the running counts, not a loop in Python)
    if not 0 <= rank < cumulative[-1]:
        raise IndexError(rank)
    return bisect_right(cumulative, rank)


def median(buckets: Sequence[int]) -> float | None:
    """The median: the middle score, or the mean of the two middle ones; ``None`` for none."""
    cumulative = list(accumulate(buckets))
    n = cumulative[-1] if cumulative else 0
    if not n:
        return None
    return (_nth(cumulative, (n - 1) // 2) + _nth(cumulative, n // 2)) / 2


def number(value: float, lang: str) -> str:
    """62 or 62.5 (62,5 in Dutch): a median is a whole number or a half."""
    text = str(int(value)) if value == int(value) else f"{value:.1f}"
    return text.replace(".", ",") if lang == "nl" else text


# What the reader is shown


def standing(assessment: Assessment, result: Result, before: PeerCounts, minimum: int, lang: str, strings: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The ``peers`` object of the reply: the reader's place among the earlier submissions
    ``before`` of the same definition, or how many more are needed."""

    def s(key: str, **values: object) -> str:
        return strings[key][lang].format(**values)

    totals = before.get(TOTAL, (0,) * 101)
    n = count(totals)
    if not result.judged:
        # no verdict (too many "don't know"): nothing to rank, and it is not counted either
        return {"shown": False, "minimum": minimum, "count": n, "needed": max(0, minimum - n), "text": s("peers_unjudged")}
    if n < minimum:
        return {
            "shown": False,
            "minimum": minimum,
            "count": n,
            "needed": minimum - n,
            "text": s("peers_needed", minimum=minimum, count=n, needed=minimum - n),
        }
    percent, same = higher_than_percent(totals, result.score), totals[result.score]
    themes = []
    for theme_score in result.themes:
        if theme_score.score is None:
            continue  # the theme did not apply to this reader
        buckets = before.get(theme_score.theme, (0,) * 101)
        theme_n = count(buckets)
        middle = median(buckets) if theme_n >= minimum else None
        position = None if middle is None else "above" if theme_score.score > middle else "below" if theme_score.score < middle else "at"
        themes.append(
            {
                "id": theme_score.theme,
                "title": assessment.theme(theme_score.theme).title[lang],
                "score": theme_score.score,
                "count": theme_n,
                "median": middle,
                "position": position,
                "text": s(f"peers_{position}") if position else s("peers_too_few"),
            }
        )
    summary = s("peers_summary", percent=percent, count=n)
    if same:
        summary += " " + s("peers_same", same=same)
    return {
        "shown": True,
        "minimum": minimum,
        "count": n,
        "needed": 0,
        "total": {"score": result.score, "higher_than": percent, "lower": lower_than(totals, result.score), "same": same, "median": median(totals)},
        "themes": themes,
        "text": summary,
    }


# The public page


@dataclass(frozen=True)
class FieldFigures:
    """How the submissions of one definition score: the public page's figures."""

    count: int
    minimum: int
    median: float | None
    quartiles: tuple[int, int] | None
    deciles: tuple[int, ...]
    """The number of submissions per range 0-9, 10-19, ..., 90-100 (the last one 11 wide)."""
    themes: tuple[tuple[str, int, float | None], ...]
    """``(theme id, submissions it applied to, median or None below the threshold)``."""

    @property
    def shown(self) -> bool:
        return self.count >= self.minimum

    @property
    def needed(self) -> int:
        return max(0, self.minimum - self.count)


def field_figures(assessment: Assessment, counts: PeerCounts, minimum: int) -> FieldFigures:
    """The figures of the public page, with the same threshold as the reply."""
    totals = counts.get(TOTAL, (0,) * 101)
    n = count(totals)
    if n < minimum:
        return FieldFigures(n, minimum, None, None, (), ())
    deciles = tuple(sum(totals[low : low + 10]) for low in range(0, 90, 10)) + (sum(totals[90:]),)
    themes = []
    for theme in assessment.themes:
        buckets = counts.get(theme.id, (0,) * 101)
        theme_n = count(buckets)
        themes.append((theme.id, theme_n, median(buckets) if theme_n >= minimum else None))
    quartiles = (nth(totals, (n - 1) // 4), nth(totals, (3 * (n - 1)) // 4))
    return FieldFigures(n, minimum, median(totals), quartiles, deciles, tuple(themes))


# Submissions stored before theme scores were kept


def known_definitions(definitions: Any) -> Any:
    """``resolve(assessment id, digest)`` for :func:`backfill` over :class:`.definitions.Definitions`."""

    def resolve(assessment_id: str, digest: str) -> Assessment | None:
        try:
            return definitions.resolve(assessment_id, digest, None)
        except (Changed, KeyError):
            return None

    return resolve


def backfill(store: Any, resolve: Any, batch: int = 1000) -> int:
    """Write the theme scores of submissions stored before theme scores were kept (SQL cannot score
    them); ``resolve(assessment id, digest)`` gives the definition, or ``None``. The number
    written. Those whose definition is unknown are left out of the theme figures."""
    written, skipped, after = 0, 0, 0
    while rows := store.submissions_without_themes(batch, after):
        found = []
        for rowid, assessment_id, digest, answers in rows:
            assessment = resolve(assessment_id, digest)
            try:
                result = score(assessment, answers) if assessment is not None else None
            except ValueError:
                result = None
            if result is None:
                skipped += 1
                continue
            found += [(rowid, digest, t.theme, t.score if result.judged else None) for t in result.themes]
            written += 1
        if found:
            store.add_themes(found)
        after = rows[-1][0]
    if skipped:
        log.warning("%d stored submission(s) cannot be scored with a known definition; their themes are left out of the comparison", skipped)
    return written


class FieldPage:
    """The public page "how contracts in the field score", per language: the built page
    (``docs/praktijk.<lang>.md``, cut at its markers into the manifest's ``field_pages``)
    with the figures of each served definition filled in, from the same counts and with
    the same threshold as the reply. Rendered once per language until the counts change
    (the store hands out the same counts object until then)."""

    def __init__(self, store: Any, definitions: Any, minimum: int):
        self.store = store
        self.definitions = definitions
        self.minimum = minimum
        self._cache: dict[str, tuple[tuple, str]] = {}

    def render(self, lang: str) -> str | None:
        """The page in ``lang``; ``None`` when the site has none in it."""
        manifest = self.definitions.manifest
        shell = manifest.field_pages.get(lang)
        if shell is None:
            return None
        assessments = [manifest.assessments[key] for key in sorted(manifest.assessments)]
        counts = tuple(self.store.peer_counts(a.digest) for a in assessments)
        cached = self._cache.get(lang)
        if cached is not None and len(cached[0]) == len(counts) and all(old is new for old, new in zip(cached[0], counts, strict=True)):
            return cached[1]
        from kennisbank.templating import templates

        strings = manifest.site.strings
        items = [
            {
                "id": a.id,
                "title": a.title[lang],
                "themes": {theme.id: theme.title[lang] for theme in a.themes},
                "figures": field_figures(a, found, self.minimum),
            }
            for a, found in zip(assessments, counts, strict=True)
        ]
        content = templates.get_template("server/field.html").render(
            items=items, s=lambda key, **values: strings[key][lang].format(**values), number=lambda value: number(value, lang)
        )
        html = shell.render(content)
        self._cache[lang] = (counts, html)
        return html


def field_route(page: FieldPage, lang: str) -> Any:
    """The handler of the page's address in ``lang`` (``GET`` and ``HEAD``)."""
    import anyio
    from starlette.responses import HTMLResponse

    async def handler(request: Any) -> HTMLResponse:
        html = await anyio.to_thread.run_sync(page.render, lang)
        if html is None:  # the site was rebuilt without the page: the built file is gone too
            return HTMLResponse("Not Found", status_code=404, headers={"Cache-Control": "no-store"})
        # figures change with every submission: a cache must ask again
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return handler
