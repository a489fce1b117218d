"""Group commit: submissions that arrive together are stored in one transaction, each
all or nothing, each compared with exactly the submissions stored before it.
Every test runs on SQLite and on PostgreSQL (``BACKENDS``)."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from kennisbank.assessment import score
from kennisbank.server.db.store import open_store
from kennisbank.server.intake.groupcommit import GroupWriter

from support import ASSESSMENT, ENDPOINT, QUESTIONS, payload, submission

BACKENDS = ("sqlite", "postgresql")


def scored(rng: random.Random, **changes):
    answers = {**{q: rng.choice([0, 1, 2]) for q in QUESTIONS}, **changes.pop("answers", {})}
    answers.update({ASSESSMENT.context.id: ASSESSMENT.context.options[0].id})
    result = score(ASSESSMENT, answers)
    return submission(
        answers=answers, score=result.score, band=result.band.id, definition=ASSESSMENT.digest, themes={t.theme: t.score for t in result.themes}, **changes
    )


def in_own_loop(coroutine):
    """Run ``coroutine`` in an event loop of its own thread: a browser test before this one in
    the same worker (Playwright's sync API) leaves a loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def stored_ids(store) -> set[str]:
    return {row[0] for row in store.run_sql("SELECT public_id FROM submissions")}


def outbox_owners(store) -> list[str]:
    return sorted(row[0] for row in store.run_sql("SELECT s.public_id FROM outbox o JOIN submissions s ON s.id = o.submission"))


def test_a_batch_compares_each_submission_with_the_earlier_ones_of_the_batch(database_url, tmp_path):
    rng = random.Random(3)
    store = open_store(database_url, tmp_path)
    before_batch = store.peer_counts(ASSESSMENT.digest)
    store.add(scored(rng))
    base = store.peer_counts(ASSESSMENT.digest)
    assert base != before_batch
    batch = [scored(rng) for _ in range(5)]
    outcomes = store.add_many([(item, ["email"]) for item in batch])
    for index, before in enumerate(outcomes):
        # the totals per score: the one stored before the batch and the batch's earlier ones
        expected = list(base[""])
        for earlier in batch[:index]:
            expected[earlier.score] += 1
        assert list(before[""]) == expected
        for theme, value in batch[index].themes.items():
            if value is not None:
                assert sum(before[theme]) == 1 + index, f"theme {theme}: the earlier ones, not this one"
    # the counts cached after the commit equal those read back from the database
    cached = store.peer_counts(ASSESSMENT.digest)
    store.close()
    reopened = open_store(database_url, tmp_path)
    assert reopened.peer_counts(ASSESSMENT.digest) == cached
    assert sum(cached[""]) == 6
    reopened.close()


def test_a_submission_the_schema_refuses_fails_alone_and_leaves_nothing_behind(database_url, tmp_path):
    rng = random.Random(4)
    store = open_store(database_url, tmp_path)
    first = scored(rng)
    store.add(first)
    repeated = scored(rng, public_id=first.public_id)  # the UNIQUE public id refuses it
    good = [scored(rng), scored(rng)]
    outcomes = store.add_many([(good[0], ["email"]), (repeated, ["email"]), (good[1], ["email"])])
    assert isinstance(outcomes[1], store.REFUSED)
    assert sum(outcomes[0][""]) == 1 and sum(outcomes[2][""]) == 2, "the refused one is not counted for the next"
    assert stored_ids(store) == {first.public_id, good[0].public_id, good[1].public_id}
    assert outbox_owners(store) == sorted([good[0].public_id, good[1].public_id]), "no delivery for the refused submission"
    assert sum(store.peer_counts(ASSESSMENT.digest)[""]) == 3
    store.close()


def test_an_error_of_the_transaction_stores_none_of_the_batch_and_keeps_the_counts(database_url, tmp_path):
    rng = random.Random(5)
    store = open_store(database_url, tmp_path)
    store.add(scored(rng))
    counts = store.peer_counts(ASSESSMENT.digest)
    unwritable = replace(scored(rng), answers={"x": object()})  # cannot be written as JSON: the whole batch fails
    with pytest.raises(TypeError):
        store.add_many([(scored(rng), ["email"]), (unwritable, [])])
    assert len(stored_ids(store)) == 1 and outbox_owners(store) == []
    assert store.peer_counts(ASSESSMENT.digest) == counts, "nothing of the rolled-back batch is left in the cached counts"
    after = store.add(scored(rng))
    assert sum(after[""]) == 1
    store.close()


def test_concurrent_submissions_share_commits_and_each_sees_exactly_the_earlier_ones(database_url, tmp_path):
    rng = random.Random(6)
    store = open_store(database_url, tmp_path)
    writer = GroupWriter(store)
    items = [scored(rng) for _ in range(60)]

    async def submit_all():
        return await asyncio.gather(*(writer.add(item, ["email"]) for item in items))

    outcomes = in_own_loop(submit_all())
    assert sorted(sum(before.get("", ())) for before in outcomes) == list(range(60)), "no two saw the same number of earlier submissions"
    assert writer.mean_batch > 1, "submissions that arrived together were committed together"
    assert stored_ids(store) == {item.public_id for item in items}
    assert len(outbox_owners(store)) == 60
    store.close()


def test_a_refused_submission_fails_its_own_request_only(database_url, tmp_path):
    rng = random.Random(7)
    store = open_store(database_url, tmp_path)
    writer = GroupWriter(store)
    first = scored(rng)
    store.add(first)
    items = [scored(rng), scored(rng, public_id=first.public_id), scored(rng)]

    async def submit_all():
        return await asyncio.gather(*(writer.add(item) for item in items), return_exceptions=True)

    outcomes = in_own_loop(submit_all())
    assert isinstance(outcomes[1], store.REFUSED)
    assert [sum(outcomes[0][""]), sum(outcomes[2][""])] == [1, 2]
    store.close()


def test_a_submission_the_database_refuses_gets_503_not_a_server_error(make_client, monkeypatch):
    # the reference is random (95 bits): repeated here so that the database's UNIQUE refuses the second
    monkeypatch.setattr("kennisbank.server.intake.receiver.new_public_id", lambda: "repeatedreference")
    client = make_client(RATE_LIMIT="off")
    assert client.post(ENDPOINT, json=payload()).status_code == 201
    refused = client.post(ENDPOINT, json=payload())
    assert refused.status_code == 503, refused.text
    assert client.post(ENDPOINT, json=payload(), headers={"accept": "text/html"}).status_code == 503
