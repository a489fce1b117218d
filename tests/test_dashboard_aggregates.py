"""The insight aggregates the triggers keep, against a brute-force count from the rows.

Random inserts, erasures, purges and status changes (property-style, a fixed seed per
run so a failure repeats), then every filter compared: the figures the store serves
(whole months from the aggregates, partial months from the rows) must equal the
figures counted from the rows alone, and the aggregate tables must equal a GROUP BY
over the rows. A database made at schema 0004 is migrated and compared the same way.
Each runs on SQLite and on PostgreSQL (``BACKENDS``): the same figures from either's triggers.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from kennisbank.server.db.insight import months as _months
from kennisbank.server.db.store import STATUSES, Insight, LeadFilter, Submission, SubmissionStore, new_public_id, open_store

BACKENDS = ("sqlite", "postgresql")

QUESTIONS = [f"q{n}" for n in range(6)]
START = datetime(2026, 1, 20, tzinfo=UTC)


def random_submission(rng: random.Random, n: int) -> Submission:
    answers: dict = {"context": rng.choice(("buyer", "supplier"))}
    for question in QUESTIONS:
        answers[question] = rng.choice((0, 1, 2, 2, "unknown", "na"))
    lead = rng.random() < 0.4
    return Submission(
        public_id=new_public_id(),
        # about four months, so periods cut months in part and in whole; whole days at
        # month edges and midnight included
        created_at=START + timedelta(days=rng.randrange(0, 120), seconds=rng.choice((0, 1, 86399, rng.randrange(86400)))),
        assessment=rng.choice(("contract-check", "exit-check")),
        version=rng.choice((1, 2)),
        lang=rng.choice(("nl", "en")),
        answers=answers,
        score=rng.randrange(0, 101),
        band=rng.choice(("low", "mid", "high")),
        consent=lead,
        email=f"person{n % 7}@example.org" if lead else None,
        organisation=f"Org {n}" if lead else None,
    )


def brute_tables(store: SubmissionStore) -> tuple[list, list]:
    counts = store.run_sql(
        f"SELECT substr(created_at, 1, 7), assessment, version, lang, band, consent, status, {'min' if store.dialect == 'sqlite' else 'least'}(score / 10, 9), count(*) "
        "FROM submissions GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    answers: dict[tuple, int] = {}
    for row in store.run_sql("SELECT substr(created_at, 1, 7), assessment, version, lang, band, consent, status, answers FROM submissions"):
        for question, value in json.loads(row[7]).items():
            key = (*row[:7], question, value)
            answers[key] = answers.get(key, 0) + 1
    return counts, sorted(((*key, n) for key, n in answers.items()), key=repr)


def stored_tables(store: SubmissionStore) -> tuple[list, list]:
    counts = store.run_sql("SELECT * FROM insight_counts ORDER BY 1, 2, 3, 4, 5, 6, 7, 8")
    answers = store.run_sql("SELECT * FROM insight_answers")
    return counts, sorted(answers, key=repr)


def filters(rng: random.Random) -> list[LeadFilter]:
    found = [LeadFilter()]
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(160)]
    edges = [date(2026, 2, 1), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 31), date(2026, 1, 31)]
    for _ in range(40):
        since = rng.choice([None, *edges, *rng.sample(days, 3)])
        until = rng.choice([None, *edges, *rng.sample(days, 3)])
        found.append(
            LeadFilter(
                since=since.isoformat() if since else None,
                until=until.isoformat() if until else None,
                assessment=rng.choice((None, "contract-check", "exit-check")),
                band=rng.choice((None, "low", "mid", "high")),
                lang=rng.choice((None, "nl", "en")),
                kind=rng.choice((None, "lead", "anonymous")),
                status=rng.choice((None, *STATUSES)),
            )
        )
    return found


def counted_insight(selected: list[Submission]) -> Insight:
    """The figures counted here, one submission at a time: the reference."""
    scores: dict[int, int] = {}
    by_month: dict[str, dict[str, int]] = {}
    answers: dict[str, dict] = {}
    for item in selected:
        decile = min(item.score // 10, 9)
        scores[decile] = scores.get(decile, 0) + 1
        bands = by_month.setdefault(f"{item.created_at:%Y-%m}", {})
        bands[item.band] = bands.get(item.band, 0) + 1
        for question, value in item.answers.items():
            values = answers.setdefault(question, {})
            values[value] = values.get(value, 0) + 1
    return Insight(len(selected), scores, dict(sorted(by_month.items())), answers)


def assert_figures_match(store: SubmissionStore, chosen: LeadFilter) -> None:
    served = store.insight(chosen)
    counted = counted_insight(store.select(chosen))
    assert served == counted, chosen
    # the list's count: whole months from the aggregate too
    assert store.count_leads(chosen) == counted.count, chosen


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregates_equal_a_count_from_the_rows_after_random_changes(database_url, tmp_path, seed):
    rng = random.Random(seed)
    store = open_store(database_url, tmp_path)
    added: list[Submission] = []
    chosen_filters = filters(rng)
    for step in range(8):
        for n in range(60):
            submission = random_submission(rng, step * 100 + n)
            store.add(submission)
            added.append(submission)
        for submission in rng.sample(added, 10):
            store.set_status(submission.public_id, rng.choice(STATUSES))
        if step % 3 == 1:
            assert store.erase_email(f"person{rng.randrange(7)}@example.org") >= 0
        if step == 5:
            store.purge_older_than(START + timedelta(days=rng.randrange(10, 40)))
        # figures read now are cached per partial month: the next round must see its changes
        for chosen in rng.sample(chosen_filters, 8):
            assert_figures_match(store, chosen)
    assert brute_tables(store) == stored_tables(store)
    assert store.insight(LeadFilter()).count == store.run_sql("SELECT count(*) FROM submissions")[0][0] > 0
    for chosen in chosen_filters:
        assert_figures_match(store, chosen)
    store.close()


def test_a_new_submission_in_a_partial_month_is_counted_at_once(database_url, tmp_path):
    store = open_store(database_url, tmp_path)
    rng = random.Random(7)
    for n in range(50):
        store.add(random_submission(rng, n))
    chosen = LeadFilter(since="2026-02-10", until="2026-03-20")
    before = store.insight(chosen)
    late = random_submission(rng, 99)
    store.add(Submission(**{**late.__dict__, "created_at": datetime(2026, 2, 15, 12, tzinfo=UTC), "public_id": new_public_id()}))
    after = store.insight(chosen)
    assert after.count == before.count + 1
    assert_figures_match(store, chosen)
    store.close()


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (None, None, (None, None, [])),
        ("2026-03-01", "2026-05-31", ("2026-03", "2026-05", [])),
        ("2026-03-15", "2026-06-30", ("2026-04", "2026-06", [("2026-03-15", "2026-03-31")])),
        ("2026-03-15", "2026-06-10", ("2026-04", "2026-05", [("2026-03-15", "2026-03-31"), ("2026-06-01", "2026-06-10")])),
        ("2026-03-15", "2026-03-20", ("2026-04", "2026-02", [("2026-03-15", "2026-03-20")])),
        ("2026-03-01", "2026-03-20", ("2026-03", "2026-02", [("2026-03-01", "2026-03-20")])),
        ("2026-02-02", None, ("2026-03", None, [("2026-02-02", "2026-02-28")])),
        (None, "2024-02-28", (None, "2024-01", [("2024-02-01", "2024-02-28")])),
        ("2026-12-31", "2027-01-01", ("2027-01", "2026-12", [("2026-12-31", "2026-12-31"), ("2027-01-01", "2027-01-01")])),
        ("2026-05-01", "2026-04-01", ("9999-12", "0000-01", [])),
    ],
)
def test_a_period_splits_into_whole_months_and_partial_days(since, until, expected):
    assert _months(since, until) == expected


def test_a_day_that_does_not_exist_is_no_period():
    # the period is split at month edges by date arithmetic, so 2026-02-30 must not reach it
    from kennisbank.server.dashboard.views import lead_filter

    assert lead_filter({"since": "2026-02-30", "until": "2026-13-01"}) == LeadFilter()
    assert lead_filter({"since": "2026-02-28", "until": "2026-03-01"}) == LeadFilter(since="2026-02-28", until="2026-03-01")


def test_the_search_finds_a_substring_through_the_leads_index_and_stays_inert(database_url, backend, tmp_path):
    store = open_store(database_url, tmp_path)
    rng = random.Random(5)
    for n in range(200):
        store.add(random_submission(rng, n))
    expected = store.run_sql("SELECT count(*) FROM submissions WHERE email = 'person3@example.org'")[0][0]
    found = store.leads(LeadFilter(search="SON3@exam"), limit=500)
    assert expected > 0 and len(found) == expected == store.count_leads(LeadFilter(search="SON3@exam"))
    assert [lead.cursor for lead in found] == sorted((lead.cursor for lead in found), reverse=True)
    # paged through the same index: the second page continues where the first ended
    first = store.leads(LeadFilter(search="example"), limit=5)
    second = store.leads(LeadFilter(search="example"), limit=5, after=first[-1].cursor)
    assert first[-1].cursor > second[0].cursor and not {lead.cursor for lead in first} & {lead.cursor for lead in second}
    for hostile in ("%", "_", "\\", "'); DROP TABLE submissions; --", '"org" OR 1', "NEAR(a b)"):
        assert store.leads(LeadFilter(search=hostile)) == [] and store.count_leads(LeadFilter(search=hostile)) == 0
    if backend == "sqlite":  # SQLite's planner, told which index (PostgreSQL's chooses by its statistics)
        plan = store.run_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM submissions INDEXED BY submissions_search WHERE consent = 1 AND email LIKE '%x%' ORDER BY created_at DESC, id DESC"
        )
        assert "TEMP B-TREE" not in repr(plan)
    store.close()
