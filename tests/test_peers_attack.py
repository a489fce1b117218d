"""Issue 25, finding 1: the benchmark turned on one reader. An attacker who controls every
other submission of a definition (a fresh database: 20 of their own, then the victim's,
then as many probes as they like) reads the public page and the ``peers`` of each probe's
reply, and works out which victims are consistent with everything seen.

The attack runs against the real app (SQLite, rate limit off, and BENCHMARK_STEP=1: no
steps, the strongest attacker; steps protect against differencing by honest onlookers,
not against someone who sends the submissions in between). Each candidate victim is a
real result (:func:`score` of answers the form accepts, both contexts); a candidate is
consistent when the server's own functions (:func:`peers.standing` for each reply,
:func:`peers.field_figures` for the page, which renders from them alone) give exactly
what the attacker saw with that candidate in the victim's place. The true victim must
be among them (else the model is not the server). Probes are chosen adversarially: a
binary search over the consistent totals, then every total still consistent; the 20 of
the attacker's own are all 0 (as in the issue) or half 0 and half 100 (so that every
median is the victim's own score).

Passes when the consistent candidates hold every candidate whose total is in the victim's
10-point range, the published granularity: whatever the attacker does, every total of that
range remains possible. Before the fix the reply's exact ``lower``/``same`` gave the exact
total in a handful of probes. (Figures per theme, even at 10-point ranges, would fail
this: the victim's theme ranges together narrow the total, for about a third of results to
one score; so none are published.)"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from kennisbank.assessment import score
from kennisbank.server.intake import peers

from support import ASSESSMENT, ENDPOINT, QUESTIONS, payload

MINIMUM = 20
LANG = "en"


def pool(size: int = 6000) -> dict[tuple, dict]:
    """Answers per distinct result profile ``(total, theme scores)``: the candidate victims."""
    rng = random.Random(25)
    options = [option.id for option in ASSESSMENT.context.options] if ASSESSMENT.context else [None]
    found: dict[tuple, dict] = {}
    values = sorted(ASSESSMENT.values)
    for _ in range(size):
        weights = [rng.random() ** 2 for _ in values]
        context = rng.choice(options)
        answers = {q: rng.choices(values, weights)[0] for q in QUESTIONS}
        if context is not None:
            answers[ASSESSMENT.context.id] = context
        result = score(ASSESSMENT, answers)
        if result.judged:
            found.setdefault(profile(result), answers)
    for value in values:  # the extremes: every answer the same
        for context in options:
            answers = {**dict.fromkeys(QUESTIONS, value), **({ASSESSMENT.context.id: context} if context else {})}
            found.setdefault(profile(score(ASSESSMENT, answers)), answers)
    return found


def profile(result) -> tuple:
    return (result.score, tuple(t.score for t in result.themes))


def counts_of(profiles: list[tuple]) -> dict[str, tuple[int, ...]]:
    """The store's ``peer_counts`` of these (judged) results."""
    measures: dict[str, list[int]] = defaultdict(lambda: [0] * 101)
    for total, themes in profiles:
        measures[peers.TOTAL][total] += 1
        for theme, value in zip(ASSESSMENT.themes, themes, strict=True):
            if value is not None:
                measures[theme.id][value] += 1
    return {measure: tuple(buckets) for measure, buckets in measures.items()}


def cells(candidate: tuple) -> int:
    """The published cell a result falls in: the 10-point range of its total."""
    return min(candidate[0] // 10, 9)


class Attacker:
    def __init__(self, client, strings, candidates: dict[tuple, dict]):
        self.client = client
        self.strings = strings
        self.candidates = candidates
        self.sent: list[tuple] = []  # the attacker's own results, in order
        self.consistent = set(candidates)
        self.replay = {}

    def send(self, answers: dict) -> dict:
        reply = self.client.post(ENDPOINT, json=payload(answers=answers, lang=LANG))
        assert reply.status_code == 201, reply.text
        return reply.json()["peers"]

    def own(self, answers: dict) -> None:
        self.send(answers)
        self.sent.append(profile(score(ASSESSMENT, answers)))

    def keep(self, seen, model) -> None:
        """Keep the candidates for which ``model(counts with the candidate)`` equals ``seen``."""
        self.consistent = {c for c in self.consistent if model(counts_of([*self.sent, c])) == seen}

    def read_page(self) -> None:
        assert self.client.get("/en/praktijk/").status_code == 200
        seen = peers.field_figures(ASSESSMENT, self.client.app.state.store.peer_counts(ASSESSMENT.digest), MINIMUM)
        self.keep(seen, lambda counts: peers.field_figures(ASSESSMENT, counts, MINIMUM))

    def probe(self, answers: dict) -> None:
        result = score(ASSESSMENT, answers)
        seen = {key: value for key, value in self.send(answers).items() if key != "labels"}
        self.keep(seen, lambda counts: peers.standing(ASSESSMENT, result, counts, MINIMUM, LANG, self.strings))
        self.sent.append(profile(result))

    def totals(self) -> list[int]:
        return sorted({total for total, _ in self.consistent})

    def answers_for(self, total: int) -> dict:
        # the probe's theme scores vary too: any candidate with that total, picked at random
        options = sorted(c for c in self.candidates if c[0] == total)
        return self.candidates[random.Random(total).choice(options)]


VICTIMS = [58, 39, 74]
"""The issue's victim scored 58; 39 is the top of the lowest band (a gate caps many there); 74 one more."""


@pytest.mark.parametrize("others", ["twenty zeros", "ten 0s and ten 100s"])
@pytest.mark.parametrize("victim_total", VICTIMS)
def test_an_attacker_who_sent_every_other_submission_learns_only_the_victims_ranges(make_client, others, victim_total):
    candidates = pool()
    victims = sorted(c for c in candidates if c[0] == victim_total)
    assert victims, f"no answers give a total of {victim_total}"
    victim = victims[len(victims) // 2]
    published = {c for c in candidates if cells(c) == cells(victim)}
    assert len({total for total, _ in published}) >= 7, "the victim's range must hold several totals, or the test could hardly fail"

    client = make_client(BENCHMARK_MIN=str(MINIMUM), BENCHMARK_STEP="1")
    attacker = Attacker(client, client.app.state.receiver.replies.site.strings, candidates)
    low, high = dict.fromkeys(QUESTIONS, 0), dict.fromkeys(QUESTIONS, max(ASSESSMENT.values))
    context = {ASSESSMENT.context.id: ASSESSMENT.context.options[0].id} if ASSESSMENT.context else {}
    for n in range(MINIMUM):
        attacker.own({**context, **(low if others == "twenty zeros" or n % 2 else high)})
    # the victim: the one submission the attacker did not send (stored, not added to `sent`)
    assert client.post(ENDPOINT, json=payload(answers=candidates[victim])).status_code == 201
    attacker.read_page()

    # a binary search over the totals still consistent, then every one of them
    tried: set[int] = set()
    for _ in range(12):
        totals = attacker.totals()
        if len(totals) <= 1:
            break
        target = totals[len(totals) // 2]
        tried.add(target)
        attacker.probe(attacker.answers_for(target))
    for target in [t for t in attacker.totals() if t not in tried][:12]:
        attacker.probe(attacker.answers_for(target))
    attacker.read_page()

    assert victim in attacker.consistent, "the model disagrees with what the server sent: the test proves nothing"
    narrowed = {total for total, _ in published} - set(attacker.totals())
    assert not narrowed, (
        f"the attacker narrowed the victim's total to {attacker.totals()} (the victim scored {victim_total}; "
        f"its range allows {sorted({t for t, _ in published})})"
    )
    assert published <= attacker.consistent, "no candidate of the victim's range, whatever its themes, can be ruled out"
