"""Where a reader stands among earlier submissions (kennisbank.server.intake.peers, migration
0006): the figures against a brute-force count over the stored submissions, below, at
and above BENCHMARK_MIN; the reply (JSON and the no-JS page); erasure and purge from
another process; and 1,000 concurrent submissions against a real `kennisbank serve`.
Every test that uses a database runs on SQLite and on PostgreSQL (``BACKENDS``)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from bs4 import BeautifulSoup

from kennisbank.assessment import score
from kennisbank.assessment.model import NO_VERDICT
from kennisbank.server.db.store import open_store, utc_now
from kennisbank.server.intake import peers

from support import ASSESSMENT, CONTEXT, ENDPOINT, QUESTIONS, environment, form, integrity_errors, payload, start_server, stored, submission

BACKENDS = ("sqlite", "postgresql")

STRINGS = {
    key: {"nl": key, "en": key} for key in ("peers_needed", "peers_summary", "peers_lowest", "peers_lower_few", "peers_higher_few", "peers_fewer", "peers_more")
}


def random_answers(rng: random.Random) -> dict:
    values = sorted(ASSESSMENT.values)
    return {**CONTEXT, **{q: rng.choice(values) for q in QUESTIONS}}


def band(value: int) -> tuple[int, int]:
    """The published 10-point range of a score, by hand."""
    return (90, 100) if value >= 90 else (value // 10 * 10, value // 10 * 10 + 9)


def brute(earlier: list, mine, minimum: int) -> dict:
    """The figures by hand from the earlier results, at the published granularity: the
    contracts in a range below the reader's, the range of the lower median, and no count
    (nor its complement) above 0 and below ``minimum``."""

    def few(n):
        return 0 < n < minimum

    totals = sorted(r.score for r in earlier)
    n = len(totals)
    below = sum(1 for t in totals if band(t) < band(mine.score))
    lower = None if few(below) or few(n - below) else below
    figures = {
        "count": n,
        "lower": lower,
        "higher_than": None if lower is None or not n else 100 * lower // n,
        "median": dict(zip(("low", "high"), band(totals[(n - 1) // 2]), strict=True)) if totals else None,
        "summary": "peers_lowest"
        if band(mine.score)[0] == 0
        else "peers_summary"
        if lower is not None
        else "peers_lower_few"
        if few(below)
        else "peers_higher_few",
    }
    return figures


# The computation, against brute force


@pytest.mark.parametrize("minimum", [1, 5, 20])
def test_the_figures_match_a_brute_force_count_around_the_threshold(database_url, tmp_path, minimum):
    rng = random.Random(minimum)
    store = open_store(database_url, tmp_path)
    earlier = []
    for n in range(minimum + 3 + 2 * minimum):
        answers = random_answers(rng)
        result = score(ASSESSMENT, answers)
        before = store.add(
            submission(answers=answers, score=result.score, band=result.band.id, definition=ASSESSMENT.digest, themes={t.theme: t.score for t in result.themes})
        )
        reply = peers.standing(ASSESSMENT, result, before, minimum, "nl", STRINGS)
        expected = brute(earlier, result, minimum)
        assert reply["count"] == n == expected["count"]
        if n < minimum:
            assert reply["shown"] is False and reply["needed"] == minimum - n
            assert "total" not in reply and "themes" not in reply, "below the threshold nothing is shown"
        else:
            assert reply["shown"] is True and reply["text"] == expected["summary"]
            total = reply["total"]
            assert (total["lower"], total["higher_than"], total["median"]) == (expected["lower"], expected["higher_than"], expected["median"])
            assert total["range"] == dict(zip(("low", "high"), band(result.score), strict=True)) and total["score"] == result.score
            assert "themes" not in reply, "no theme figures: together they would narrow an earlier reader's total"
        earlier.append(result)
    store.close()


def random_counts(rng: random.Random, n: int) -> tuple[dict, list]:
    """The counts of ``n`` random judged results, and the results."""
    results = [score(ASSESSMENT, random_answers(rng)) for _ in range(n)]
    results = [r for r in results if r.judged]
    measures: dict = {}
    for r in results:
        measures.setdefault(peers.TOTAL, [0] * 101)[r.score] += 1
        for t in r.themes:
            if t.score is not None:
                measures.setdefault(t.theme, [0] * 101)[t.score] += 1
    return {m: tuple(b) for m, b in measures.items()}, results


def moved_within_ranges(rng: random.Random, counts: dict) -> dict:
    """The same counts with every score moved to another score of its 10-point range."""
    moved = {}
    for measure, buckets in counts.items():
        out = [0] * 101
        for value, n in enumerate(buckets):
            low, high = band(value)
            for _ in range(n):
                out[rng.randint(low, high)] += 1
        moved[measure] = tuple(out)
    return moved


@pytest.mark.parametrize("seed", range(40))
def test_no_figure_says_more_than_the_ranges_and_no_count_is_a_small_cell(seed):
    """Issue 25: the reply and the public page are computed from the counts per 10-point
    range alone: moving every earlier score within its range changes nothing published.
    And every published count, and every count that follows from one by subtraction, is 0
    or at least the minimum (the threshold rule of statistical disclosure control)."""
    rng = random.Random(seed)
    minimum = rng.choice([3, 5, 20])
    counts, results = random_counts(rng, rng.randint(minimum, 4 * minimum))
    moved = moved_within_ranges(rng, counts)
    assert moved != counts, "the test must move some score"
    n = len(results)
    reader = score(ASSESSMENT, random_answers(rng))
    reply = peers.standing(ASSESSMENT, reader, counts, minimum, "nl", STRINGS)
    assert reply == peers.standing(ASSESSMENT, reader, moved, minimum, "nl", STRINGS)
    page = peers.field_figures(ASSESSMENT, counts, minimum)
    assert page == peers.field_figures(ASSESSMENT, moved, minimum)

    def fine(cell):
        return cell is None or cell == 0 or cell >= minimum

    if n >= minimum:
        lower = reply["total"]["lower"]
        assert fine(lower) and (lower is None or fine(n - lower))
        assert sum(c for _, _, c in page.groups) == n and all(fine(c) for _, _, c in page.groups)


def test_a_small_cell_is_fewer_than_the_minimum_or_merged():
    buckets = [0] * 101
    buckets[5], buckets[15], buckets[55], buckets[56], buckets[95] = 3, 2, 10, 10, 1  # 26 in all
    assert peers.groups(peers.ranges(buckets), 5) == ((0, 19, 5), (20, 49, 0), (50, 100, 21))
    assert peers.groups(peers.ranges(buckets), 20) == ((0, 100, 26),)
    assert peers.part_of(5, 26, 20) is None and peers.part_of(21, 26, 20) is None and peers.part_of(0, 26, 20) == 0
    assert peers.part_of(26, 26, 20) == 26 and peers.part_of(20, 40, 20) == 20
    assert peers.median_range(peers.ranges(buckets)) == 5  # the 13th of 26: 55, in 50-59
    reader = score(ASSESSMENT, {**CONTEXT, **dict.fromkeys(QUESTIONS, 2)})
    counts = {peers.TOTAL: tuple(buckets)}
    reply = peers.standing(ASSESSMENT, reader, counts, 20, "en", STRINGS)
    assert reply["total"]["lower"] is None and reply["total"]["higher_than"] is None and reply["text"] == "peers_higher_few"
    assert reply["total"]["median"] == {"low": 50, "high": 59}


def test_ties_count_as_neither_lower_nor_higher():
    buckets = [0] * 101
    buckets[40], buckets[50], buckets[60] = 1, 2, 1
    assert peers.lower_than(buckets, 50) == 1
    assert peers.higher_than_percent(buckets, 50) == 25  # 1 of 4 strictly lower; the 2 ties are not "beaten"
    assert peers.higher_than_percent(buckets, 61) == 100
    assert peers.median(buckets) == 50
    buckets[50] = 1
    assert peers.median(buckets) == 50  # 40, 50, 60
    buckets[70] = 1
    assert peers.median(buckets) == 55  # 40, 50, 60, 70: the mean of the middle two
    assert peers.number(55.5, "nl") == "55,5" and peers.number(55.0, "en") == "55"


def test_themes_that_do_not_apply_are_not_counted(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    store.add(submission(definition="d", score=40, themes={"a": 10, "b": None}))
    store.add(submission(definition="d", score=60, themes={"a": 30, "b": 80}))
    counts = store.peer_counts("d")
    assert sum(counts[peers.TOTAL]) == 2 and sum(counts["a"]) == 2 and sum(counts["b"]) == 1
    assert counts["b"][80] == 1


def test_a_stored_score_cannot_be_changed_behind_the_counts(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    store.add(submission(definition="d", score=40, themes={"a": 10}))
    with pytest.raises(integrity_errors(), match="fixed once stored"):
        store.run_sql("UPDATE submissions SET score = 41")
    with pytest.raises(integrity_errors(), match="fixed once stored"):
        store.run_sql("UPDATE submission_themes SET score = 11")
    store.run_sql("UPDATE submissions SET status = 'closed'")  # anything else may change
    assert store.run_sql("SELECT status, score FROM submissions") == [("closed", 40)]
    store.close()


def test_the_server_scores_the_themes_of_submissions_stored_without_them(database_url, tmp_path):
    """Submissions stored before theme scores were kept count in the totals at once; the server
    scores their themes at start (peers.backfill), once."""
    store = open_store(database_url, tmp_path)
    rng = random.Random(6)
    results = []
    for _ in range(7):
        answers = random_answers(rng)
        result = score(ASSESSMENT, answers)
        results.append(result)
        store.add(submission(answers=answers, score=result.score, band=result.band.id, definition=ASSESSMENT.digest))  # no themes
    counts = store.peer_counts(ASSESSMENT.digest)
    assert sorted(v for v, n in enumerate(counts[peers.TOTAL]) for _ in range(n)) == sorted(r.score for r in results)
    assert set(counts) == {peers.TOTAL}
    written = peers.backfill(store, lambda assessment_id, digest: ASSESSMENT if digest == ASSESSMENT.digest else None, batch=3)
    assert written == 7
    counts = store.peer_counts(ASSESSMENT.digest)
    for theme in ASSESSMENT.themes:
        expected = sorted(s.score for r in results for s in r.themes if s.theme == theme.id and s.score is not None)
        assert sorted(v for v, n in enumerate(counts.get(theme.id, [0] * 101)) for _ in range(n)) == expected
    assert peers.backfill(store, lambda *_: ASSESSMENT) == 0, "done once"
    store.close()


def test_a_submission_without_a_verdict_is_stored_but_counted_nowhere(database_url, tmp_path):
    """Issue 22: all "don't know" fed zeros into the public benchmark. Revision 0002's
    triggers leave a result without a verdict out, on insert and on delete, and the
    store's cache of the counts agrees with them."""
    store = open_store(database_url, tmp_path)
    store.add(submission(definition="d", score=60, band="gemengd", themes={"a": 30}))
    before = store.add(submission(definition="d", score=0, band=NO_VERDICT, themes={"a": None}))
    assert sum(before[peers.TOTAL]) == 1
    for counts in (store.peer_counts("d"), open_store(database_url, tmp_path).peer_counts("d")):  # the cache and a fresh read
        assert sum(counts[peers.TOTAL]) == 1 and counts[peers.TOTAL][0] == 0 and sum(counts["a"]) == 1
    after = store.add(submission(definition="d", score=70, band="resultaatgericht", themes={"a": 70}))
    assert sum(after[peers.TOTAL]) == 1, "the next reader is compared with the one judged contract only"
    store.run_sql("DELETE FROM submissions WHERE band = :band", {"band": NO_VERDICT})
    counts = open_store(database_url, tmp_path).peer_counts("d")
    assert sum(counts[peers.TOTAL]) == 2 and min(counts[peers.TOTAL]) == 0  # no count went below zero
    with pytest.raises(integrity_errors(), match="fixed once stored"):
        store.run_sql("UPDATE submissions SET band = :band", {"band": NO_VERDICT})
    store.close()


# The reply


def test_all_dont_know_gives_no_band_and_is_not_counted_in_the_benchmark(make_client):
    """Issue 22: "Weet ik niet" on every question gave 3/100 and a band, and fed the public benchmark."""
    client = make_client(BENCHMARK_MIN="1")
    assert client.post(ENDPOINT, json=payload(2)).status_code == 201
    reply = client.post(ENDPOINT, json=payload("unknown", lang="en")).json()
    assert reply["band"]["id"] == NO_VERDICT and reply["band"]["title"] == ASSESSMENT.verdict.insufficient.title["en"]
    assert reply["peers"]["shown"] is False and "total" not in reply["peers"]
    assert reply["peers"]["text"].startswith("As too little is known to judge your contract")
    # stored (the consultant sees it), but the next reader is compared with the judged one only
    assert [s.band for s in stored(client)][-1] == NO_VERDICT
    assert client.post(ENDPOINT, json=payload(1)).json()["peers"]["count"] == 1
    page = BeautifulSoup(client.post(ENDPOINT, data=form("unknown", lang="nl")).text, "html.parser")
    assert page.select_one("[data-kb-insufficient]:not([hidden])") is not None
    assert page.select_one("[data-kb-score-box][hidden]") is not None
    assert all(band.has_attr("hidden") for band in page.select("[data-kb-band]"))
    assert "vergelijken we je uitslag niet" in page.select_one("section.kb-peers").get_text()


def test_below_the_threshold_the_reply_says_how_many_more_are_needed(make_client):
    client = make_client(BENCHMARK_MIN="3")
    for expected in (0, 1):
        reply = client.post(ENDPOINT, json=payload(1, lang="en")).json()["peers"]
        assert reply["shown"] is False and reply["count"] == expected and reply["needed"] == 3 - expected
        assert "total" not in reply and "themes" not in reply
        assert f"So far there are {expected}: the comparison starts after {3 - expected} more." in reply["text"]
    page = BeautifulSoup(client.post(ENDPOINT, data=form("1", lang="en")).text, "html.parser")
    section = page.select_one("section.kb-peers")
    assert section is not None and section.select_one("table") is None
    assert "starts after 1 more" in section.get_text() and "higher than" not in section.get_text()


def test_at_the_threshold_the_reply_matches_brute_force_in_json_and_on_the_page(make_client):
    minimum = 4
    client = make_client(BENCHMARK_MIN=str(minimum), BENCHMARK_STEP="1")
    rng = random.Random(4)
    earlier = []
    for _ in range(minimum):
        answers = random_answers(rng)
        assert client.post(ENDPOINT, json=payload(answers=answers)).status_code == 201
        earlier.append(score(ASSESSMENT, answers))
    answers = random_answers(rng)
    mine = score(ASSESSMENT, answers)
    expected = brute(earlier, mine, minimum)
    reply = client.post(ENDPOINT, json=payload(answers=answers, lang="en")).json()["peers"]
    assert reply["shown"] is True and reply["count"] == minimum
    low, high = band(mine.score)
    assert reply["total"] == {
        "score": mine.score,
        "range": {"low": low, "high": high},
        "higher_than": expected["higher_than"],
        "lower": expected["lower"],
        "median": expected["median"],
    }
    assert reply["text"].startswith(f"Your total score is between {low} and {high}")
    assert f"their median is between {expected['median']['low']} and {expected['median']['high']}" in reply["text"] or low == 0
    # the same figures without JavaScript: one more earlier submission now (the JSON one above)
    earlier.append(mine)
    mine_form = score(ASSESSMENT, {**CONTEXT, **dict.fromkeys(QUESTIONS, 1)})
    expected = brute(earlier, mine_form, minimum)
    page = BeautifulSoup(client.post(ENDPOINT, data=form("1", lang="nl")).text, "html.parser")
    section = page.select_one("section.kb-peers")
    low, high = band(mine_form.score)
    text = section.get_text()
    assert f"Je totaalscore ligt tussen {low} en {high}. Van de {minimum + 1} contracten" in text
    if expected["lower"] is not None:
        assert f"scoorde {expected['higher_than']} % lager dan {low}" in text
    assert section.select_one("table") is None, "no theme table: theme figures would narrow an earlier total"


def test_erase_and_purge_in_another_process_update_the_figures(make_client, database_url, tmp_path):
    client = make_client(BENCHMARK_MIN="1", BENCHMARK_STEP="1")
    assert (
        client.post(ENDPOINT, json=payload(1, consent=True, contact={"name": "A", "email": "a@example.nl", "organisation": "", "message": ""})).status_code
        == 201
    )
    client.post(ENDPOINT, json=payload(1))
    assert client.post(ENDPOINT, json=payload(1)).json()["peers"]["count"] == 2
    env = environment(tmp_path, tmp_path, DATABASE_URL=database_url)
    erase = subprocess.run(
        [sys.executable, "-m", "kennisbank.cli", "erase", "--email", "a@example.nl"], env={**env, "PATH": ""}, capture_output=True, text=True
    )
    assert erase.returncode == 0, erase.stdout + erase.stderr
    assert client.post(ENDPOINT, json=payload(1)).json()["peers"]["count"] == 2, "3 stored, 1 erased by another process"
    # every submission made old, then purged by another process
    other = open_store(database_url, tmp_path)
    other.run_sql("UPDATE submissions SET created_at = :at", {"at": (utc_now() - timedelta(days=800)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    other.close()
    purge = subprocess.run([sys.executable, "-m", "kennisbank.cli", "purge"], env={**env, "PATH": ""}, capture_output=True, text=True)
    assert purge.returncode == 0 and purge.stdout.startswith("purged 3 "), purge.stdout + purge.stderr
    reply = client.post(ENDPOINT, json=payload(1)).json()["peers"]
    assert reply["count"] == 0 and reply["shown"] is False


# Concurrency, against the real server


def recount(database_url, base) -> dict:
    """peer_counts as it should be: counted again from the submissions and their themes."""
    db = open_store(database_url, base)
    expected = {(d, "", v): n for d, v, n in db.run_sql("SELECT definition, score, count(*) FROM submissions GROUP BY 1, 2")}
    expected |= {
        (d, t, v): n for d, t, v, n in db.run_sql("SELECT definition, theme, score, count(*) FROM submission_themes WHERE score IS NOT NULL GROUP BY 1, 2, 3")
    }
    found = {(d, m, v): n for d, m, v, n in db.run_sql("SELECT definition, measure, value, count FROM peer_counts WHERE count > 0")}
    db.close()
    return {"expected": expected, "found": found}


def test_1000_concurrent_submissions_leave_the_counts_equal_to_a_recount(database_url, tmp_path, site):
    """Two server processes on one database (as with several workers), so that only the
    database orders the writers: each reply must still count exactly those before it."""
    servers = [start_server(site.site, tmp_path / "unused", BENCHMARK_MIN="1000000", DATABASE_URL=database_url) for _ in range(2)]
    rng = random.Random(1000)
    bodies = [json.dumps(payload(answers=random_answers(rng))) for _ in range(1000)]
    try:
        clients = [httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=16)) for _, url in servers]

        def send(numbered: tuple[int, str]) -> dict:
            index, body = numbered
            response = clients[index % 2].post(ENDPOINT, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 201, response.text
            return response.json()["peers"]

        with ThreadPoolExecutor(32) as pool:
            replies = list(pool.map(send, enumerate(bodies)))
        for client in clients:
            client.close()
    finally:
        for server, _ in servers:
            server.stop()
    # each saw exactly the submissions committed before it: 0, 1, ..., 999, none twice
    assert sorted(reply["count"] for reply in replies) == list(range(1000))
    counted = recount(database_url, tmp_path)
    assert counted["found"] == counted["expected"]
    assert sum(n for (_, measure, _), n in counted["found"].items() if measure == "") == 1000
