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
- **Ranges, not scores** (issue 25): every published figure, in the reply and on the public
  page, is computed from the counts per 10-point range (0-9, ..., 90-100, :data:`RANGES`),
  never from the 101 exact buckets: "higher than X % of N" counts the earlier contracts in
  ranges strictly below the reader's range (rounded down, so never an overstatement), a
  median is given as its range (the lower median's, a function of the range counts alone).
  The reader's own score is shown exactly: it is theirs. Someone who sent every other
  submission and probes at will learns at most the range each earlier reader's total
  falls in (tests/test_peers_attack.py); before, six probes gave an exact score.
- **No verdict, no count**: a submission without a verdict (too many "don't know",
  band ``NO_VERDICT``) is stored but counted nowhere here: revision 0002's triggers
  leave it out of the totals, its theme scores are stored as NULL, and its reply says
  it is not compared.
- **Threshold**: figures only when at least ``BENCHMARK_MIN`` earlier submissions of
  the digest exist; otherwise the reader is told how many more are needed.
- **Themes: no figure from other readers** (issue 25): a theme's median, its count or the
  reader's position against it, at any granularity, tells someone who sent every other
  submission which range each of the victim's theme scores falls in (they put half of
  theirs at 0 and half at 100, and the median is the victim's); the total is a weighted
  mean of the themes, so those ranges together narrow the total inside its own range, for
  about a third of results to the exact score. So the comparison is of the total only; the
  reader's theme scores are on their own result. ``peer_counts`` still keeps the theme
  counts (the store is unchanged); nothing published reads them.
- **No small cell**: a published count is 0 or at least ``BENCHMARK_MIN``, and so is what
  can be worked out from it by subtraction (:func:`part_of`): otherwise it says "fewer than
  N" (the reply) or the ranges are merged until each group holds N (:func:`groups`, the
  public page).
- **Steps**: the counts behind the figures are renewed once ``BENCHMARK_STEP`` submissions
  have come or gone (:class:`Steps`), so no figure moves with a single submission.
- **Cache**: the store keeps the counts per digest with the data stamp (its
  connection's ``total_changes`` and ``PRAGMA data_version``, which changes when
  another process commits), and adds its own insert to them after the commit; so a
  submission costs no extra read, and an erase or purge from another process is seen
  at the next read.
"""

from __future__ import annotations

import logging
import threading
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


# What is published: 10-point ranges, no small cell, in steps


RANGES = tuple((low, low + 9) for low in range(0, 90, 10)) + ((90, 100),)
"""The published granularity of every score: 0-9, 10-19, ..., 90-100 (the last one 11 wide)."""


def range_of(value: int) -> int:
    """The index in :data:`RANGES` of a score 0-100."""
    return min(value // 10, len(RANGES) - 1)


def ranges(buckets: Sequence[int]) -> tuple[int, ...]:
    """The 101 counts per score as counts per range: all that any published figure is computed from."""
    counts = [0] * len(RANGES)
    for value, n in enumerate(buckets):
        counts[range_of(value)] += n
    return tuple(counts)


def span(index: int) -> dict[str, int]:
    low, high = RANGES[index]
    return {"low": low, "high": high}


def range_at(per_range: Sequence[int], rank: int) -> int:
    """The index of the range that holds the score at ``rank`` (0-based, ascending)."""
    return _nth(list(accumulate(per_range)), rank)


def median_range(per_range: Sequence[int]) -> int | None:
    """The range of the (lower) median: the score at rank (n - 1) // 2. A function of the
    counts per range alone, so that it says nothing finer than a range about anyone."""
    n = sum(per_range)
    return range_at(per_range, (n - 1) // 2) if n else None


def small(cell: int, minimum: int) -> bool:
    """A cell that may not be published: some, but fewer than ``minimum``. An empty cell
    says nothing about anyone and is published."""
    return 0 < cell < minimum


def part_of(part: int, whole: int, minimum: int) -> int | None:
    """``part`` of a published ``whole``, or ``None`` when it or its complement ``whole - part``
    (which the reader could work out) is a small cell."""
    return None if small(part, minimum) or small(whole - part, minimum) else part


def groups(per_range: Sequence[int], minimum: int) -> tuple[tuple[int, int, int], ...]:
    """``(low, high, count)``: the ranges from low to high, a range with fewer than ``minimum``
    merged with the next ones until the group holds at least ``minimum`` (the last group with
    the one before it). A run of empty ranges is a group of its own with 0. Every published
    count is 0 or at least ``minimum``, and they add up to the published total, so no small
    cell can be worked out by subtraction either."""
    found: list[list[int]] = []  # [first range, last range, count]
    for index, n in enumerate(per_range):
        last = found[-1] if found else None
        if last is not None and (small(last[2], minimum) or (last[2] == 0 and n == 0)):
            last[1], last[2] = index, last[2] + n
        else:
            found.append([index, index, n])
    while len(found) > 1 and small(found[-1][2], minimum):  # past an empty group too
        tail = found.pop()
        found[-1][1], found[-1][2] = tail[1], found[-1][2] + tail[2]
    return tuple((RANGES[first][0], RANGES[last][1], n) for first, last, n in found)


class Steps:
    """The counts the figures are computed from, per definition, renewed only when the number
    of submissions has moved by at least ``step`` since the last renewal (or while below the
    threshold, where only that number is shown). So the reply's comparison and the public
    page change at most once per ``step`` submissions: a reader who compares before and
    after someone else's submission sees either no change or the change of ``step`` at once.

    Held in this process (the receiver and the page share one): each server process renews
    on its own, and a restart starts again from the current counts. Rarely, a page view
    renews the counts just after a reader's own insert and before that reader's reply, who is
    then compared with a set that includes their own contract."""

    def __init__(self, step: int, minimum: int):
        self.step = step
        self.minimum = minimum
        self._held: dict[str, tuple[int, PeerCounts]] = {}
        self._lock = threading.Lock()

    def __call__(self, definition: str, counts: PeerCounts) -> PeerCounts:
        n = count(counts.get(TOTAL, ()))
        with self._lock:
            held = self._held.get(definition)
            if held is None or held[0] < self.minimum or abs(n - held[0]) >= self.step:
                self._held[definition] = (n, counts)
                while len(self._held) > 32:
                    self._held.pop(next(iter(self._held)))
                return counts
            return held[1]


# What the reader is shown


def standing(assessment: Assessment, result: Result, before: PeerCounts, minimum: int, lang: str, strings: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The ``peers`` object of the reply: the reader's place among the earlier submissions
    ``before`` of the same definition, or how many more are needed.

    Every figure is computed from the reader's own total and the earlier totals per 10-point
    range (:func:`ranges`): "lower" counts the earlier contracts in ranges below the reader's
    range, the median is given as its range. No theme figure: see the module's "Themes".
    Someone who sent every other submission learns from any number of replies at most the
    range of each earlier reader's total, never a score within it."""

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
    per_range = ranges(totals)
    mine = range_of(result.score)
    below = sum(per_range[:mine])
    lower = part_of(below, n, minimum)
    middle = median_range(per_range)
    assert middle is not None
    low, high = RANGES[mine]
    median_values = {"median_low": RANGES[middle][0], "median_high": RANGES[middle][1]}
    if mine == 0:
        summary = s("peers_lowest", low=low, high=high, count=n, **median_values)
    elif lower is not None:
        summary = s("peers_summary", low=low, high=high, count=n, percent=100 * lower // n, **median_values)
    elif small(below, minimum):
        summary = s("peers_lower_few", low=low, high=high, count=n, minimum=minimum, **median_values)
    else:
        summary = s("peers_higher_few", low=low, high=high, count=n, minimum=minimum, **median_values)
    return {
        "shown": True,
        "minimum": minimum,
        "count": n,
        "needed": 0,
        "total": {
            "score": result.score,
            "range": span(mine),
            "higher_than": None if lower is None else 100 * lower // n,
            "lower": lower,
            "median": span(middle),
        },
        "text": summary,
    }


# The public page


@dataclass(frozen=True)
class FieldFigures:
    """How the submissions of one definition score: the public page's figures, all from the
    counts per 10-point range, every published count 0 or at least ``minimum``."""

    count: int
    minimum: int
    median: tuple[int, int] | None
    """The range of the median total."""
    quartiles: tuple[int, int] | None
    """From the bottom of the first quartile's range to the top of the third's: where the middle half lies."""
    groups: tuple[tuple[int, int, int], ...]
    """``(low, high, count)`` per group of ranges (:func:`groups`)."""

    @property
    def shown(self) -> bool:
        return self.count >= self.minimum

    @property
    def needed(self) -> int:
        return max(0, self.minimum - self.count)


def field_figures(assessment: Assessment, counts: PeerCounts, minimum: int) -> FieldFigures:
    """The figures of the public page, with the same threshold and granularity as the reply."""
    totals = counts.get(TOTAL, (0,) * 101)
    n = count(totals)
    if n < minimum:
        return FieldFigures(n, minimum, None, None, ())
    per_range = ranges(totals)
    middle = median_range(per_range)
    assert middle is not None
    quartiles = (RANGES[range_at(per_range, (n - 1) // 4)][0], RANGES[range_at(per_range, (3 * (n - 1)) // 4)][1])
    return FieldFigures(n, minimum, RANGES[middle], quartiles, groups(per_range, minimum))


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
    the same threshold, granularity and steps as the reply. Rendered once per language until
    the counts change (:class:`Steps` hands out the same counts object until then)."""

    def __init__(self, store: Any, definitions: Any, minimum: int, steps: Steps | None = None):
        self.store = store
        self.definitions = definitions
        self.minimum = minimum
        self.steps = steps if steps is not None else Steps(1, minimum)
        self._cache: dict[str, tuple[tuple, str]] = {}

    def render(self, lang: str) -> str | None:
        """The page in ``lang``; ``None`` when the site has none in it."""
        manifest = self.definitions.manifest
        shell = manifest.field_pages.get(lang)
        if shell is None:
            return None
        assessments = [manifest.assessments[key] for key in sorted(manifest.assessments)]
        counts = tuple(self.steps(a.digest, self.store.peer_counts(a.digest)) for a in assessments)
        cached = self._cache.get(lang)
        if cached is not None and len(cached[0]) == len(counts) and all(old is new for old, new in zip(cached[0], counts, strict=True)):
            return cached[1]
        from kennisbank.templating import templates

        strings = manifest.site.strings
        items = [
            {
                "id": a.id,
                "title": a.title[lang],
                "figures": field_figures(a, found, self.minimum),
            }
            for a, found in zip(assessments, counts, strict=True)
        ]
        content = templates.get_template("server/field.html").render(
            items=items, step=self.steps.step, s=lambda key, **values: strings[key][lang].format(**values), number=lambda value: number(value, lang)
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
        # figures change in steps of BENCHMARK_STEP submissions: a cache must ask again
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return handler
