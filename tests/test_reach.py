"""Reach (issue 24): page views counted by the server, their sources, the scan's funnel, the Reach page.

Counting rules, the beacon endpoint, batching and the flush at shutdown, several writers
adding up, and the dashboard page, on SQLite and PostgreSQL. The counts are written when
a test flushes them (``app.state.tally.flush``) or the app shuts down: no test sleeps.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections import Counter

import pytest

from kennisbank.server.app import create_app
from kennisbank.server.dashboard import auth
from kennisbank.server.db import schema
from kennisbank.server.db.store import LeadFilter, ReachFilter, open_store, utc_now
from kennisbank.server.settings import Settings
from kennisbank.server.web import reach
from kennisbank.server.web.reach import Bots, Tally, campaign, referrer_host

from support import ARTICLE, ASSESSMENT, environment, submission

BACKENDS = ("sqlite", "postgresql")

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
READER = {"User-Agent": BROWSER}
PAGE = f"/{ARTICLE}/"
EN_PAGE = f"/en/{ARTICLE}/"
SAME_ORIGIN = {"Origin": "http://testserver", "User-Agent": BROWSER}
EMAIL = "consultant@example.org"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(make_client):
    return make_client()


def flush(client) -> int:
    return client.app.state.tally.flush(client.app.state.store)


def views(client) -> dict[tuple[str, str], int]:
    return {(page, lang): n for page, lang, n in client.app.state.store.run_sql("SELECT page, lang, sum(n) FROM reach_views GROUP BY page, lang")}


def sources(client) -> Counter:
    rows = client.app.state.store.run_sql("SELECT referrer, source, medium, campaign, n FROM reach_sources")
    found: Counter = Counter()
    for referrer, source, medium, tag, n in rows:
        found[(referrer, source, medium, tag)] += n
    return found


def steps(client) -> dict[tuple, int]:
    return {tuple(row[:-1]): row[-1] for row in client.app.state.store.run_sql("SELECT assessment, version, lang, step, n FROM funnel_steps")}


def beacon(client, step="started", headers=SAME_ORIGIN, **fields):
    data = {"assessment": ASSESSMENT.id, "version": str(ASSESSMENT.version), "lang": "nl", "step": step, **fields}
    return client.post("/api/funnel", data={k: v for k, v in data.items() if v is not None}, headers=headers)


# The rules, without a server


def test_the_referrer_counts_its_host_only_and_this_site_not_at_all():
    assert referrer_host("https://www.linkedin.com/feed/update/urn:li:activity:1?trk=x#y", {"example.nl"}) == "www.linkedin.com"
    assert referrer_host("https://Example.NL:8443/artikelen/?q=secret", {"example.nl"}) == ""
    assert referrer_host("", {"example.nl"}) == ""
    assert referrer_host("android-app://com.slack/", set()) == "com.slack"
    assert referrer_host("https://exa mple.com/", set()) == "other"
    assert referrer_host("https://" + "a" * 300 + ".com/", set()) == "other"
    assert referrer_host("http://[::1/", set()) == "other"


def test_campaign_tags_are_bounded_and_anything_else_is_other():
    assert campaign(b"") == ("", "", "")
    assert campaign(b"utm_source=LinkedIn&utm_medium=social&utm_campaign=spring+2026") == ("linkedin", "social", "spring 2026")
    assert campaign(b"utm_source=" + b"x" * 65) == ("other", "", "")
    assert campaign(b"utm_source=%3Cscript%3E&utm_medium=e%C3%A9n") == ("other", "other", "")
    assert campaign(b"utm_source=a&utm_source=b&utm_term=secret&utm_content=id123") == ("a", "", "")


def test_bots_and_requests_without_a_user_agent_are_left_out():
    bots = Bots()
    assert bots("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    assert bots("curl/8.5.0")
    assert bots("")
    assert bots("Mozilla/5.0 " + "x" * 600)
    assert not bots(BROWSER)
    assert not bots(BROWSER)  # the remembered verdict is the same


def test_a_process_counts_a_bounded_number_of_sources_a_day(monkeypatch):
    monkeypatch.setattr(reach, "MAX_SOURCES_PER_DAY", 3)
    tally = Tally({"/": "nl"}, {}, ["nl"], ["example.nl"], day=lambda: "2026-01-05")
    for number in range(50):
        assert tally.view("/", BROWSER, f"https://made-up-{number}.example/", "example.nl", f"utm_source=s{number}".encode())
    views, sources, _ = tally.take()
    assert views == {("2026-01-05", "/", "nl"): 50}
    assert {key[3] for key in sources} == {"made-up-0.example", "made-up-1.example", "made-up-2.example", "other"}
    assert {key[4] for key in sources} == {"s0", "s1", "s2", "other"}


# Page views, through the app


def test_a_page_view_counts_per_day_page_and_language(client):
    assert client.get(PAGE, headers=READER).status_code == 200
    assert client.get(PAGE + "index.html", headers=READER).status_code == 200  # the same page
    assert client.get(EN_PAGE, headers=READER).status_code == 200
    assert views(client) == {}  # in memory until written
    assert flush(client) == 3
    assert views(client) == {(PAGE, "nl"): 2, (EN_PAGE, "en"): 1}
    day = client.app.state.store.run_sql("SELECT DISTINCT day FROM reach_views")
    assert day == [(utc_now().strftime("%Y-%m-%d"),)]


def test_bots_revalidations_heads_assets_the_dashboard_and_made_up_paths_count_nothing(client):
    first = client.get(PAGE, headers=READER)
    flush(client)
    before = views(client)
    assert before == {(PAGE, "nl"): 1}
    assert client.get(PAGE, headers={**READER, "If-None-Match": first.headers["etag"]}).status_code == 304
    assert client.get(PAGE, headers={"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"}).status_code == 200
    assert client.get(PAGE, headers={"User-Agent": ""}).status_code == 200
    assert client.head(PAGE, headers=READER).status_code == 200
    assert client.get(PAGE, headers={**READER, "Sec-Purpose": "prefetch"}).status_code == 200
    assert client.get("/assets/favicon.svg", headers=READER).status_code == 200
    assert client.get("/beheer/login", headers=READER).status_code == 200
    assert client.get("/404.html", headers=READER).status_code == 200
    for number in range(200):
        assert client.get(f"/made-up-{number}/", headers=READER).status_code == 404
    assert client.get(PAGE + "?utm_source=x", headers=READER).status_code == 200  # the one that counts
    flush(client)
    assert views(client) == {(PAGE, "nl"): 2}
    assert client.app.state.store.run_sql("SELECT count(*) FROM reach_views") == [(1,)]


def test_where_readers_came_from_is_the_host_and_the_bounded_tags(client):
    client.get(PAGE, headers={**READER, "Referer": "https://www.linkedin.com/feed/?trk=private-token"})
    client.get(PAGE, headers={**READER, "Referer": "http://testserver/artikelen/"})  # this site
    client.get(PAGE + "?utm_source=Newsletter&utm_medium=email&utm_campaign=" + "x" * 80, headers=READER)
    flush(client)
    assert sources(client) == {("www.linkedin.com", "", "", ""): 1, ("", "", "", ""): 1, ("", "newsletter", "email", "other"): 1}
    stored = repr(client.app.state.store.run_sql("SELECT * FROM reach_sources"))
    assert "private-token" not in stored and "feed" not in stored


def test_without_javascript_the_view_and_the_submission_count(client):
    from support import form

    assert client.get(PAGE, headers=READER).status_code == 200
    assert client.post("/api/assessments/contract-check/submissions", data=form("2"), headers={"Origin": "http://testserver"}).status_code == 200
    flush(client)
    figures = client.app.state.store.reach(ReachFilter())
    assert figures.views == [(PAGE, "nl", 1)]
    assert [row[1:] for row in figures.sent] == [("contract-check", "nl", 1, 0)]


# The beacon


def test_the_beacon_counts_a_start_and_a_completion_from_this_site(client):
    assert beacon(client, "started").status_code == 204
    assert beacon(client, "completed").status_code == 204
    assert beacon(client, "completed", lang="en").status_code == 204
    assert steps(client) == {}
    flush(client)
    version = ASSESSMENT.version
    assert steps(client) == {
        ("contract-check", version, "nl", "started"): 1,
        ("contract-check", version, "nl", "completed"): 1,
        ("contract-check", version, "en", "completed"): 1,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {},  # says nothing: no page of this site sent it
    ],
)
def test_a_beacon_from_anywhere_else_is_refused(client, headers):
    assert beacon(client, headers={**headers, "User-Agent": BROWSER}).status_code == 403
    flush(client)
    assert steps(client) == {}


def test_the_beacon_takes_only_its_four_known_fields(client):
    assert beacon(client, id="reader-123").status_code == 422  # no identifier
    assert beacon(client, at="2026-01-05T10:11:12Z").status_code == 422  # no time finer than the day
    assert beacon(client, step="sent").status_code == 422
    assert beacon(client, step=None).status_code == 422
    assert beacon(client, assessment="made-up").status_code == 422
    assert beacon(client, version="999").status_code == 422
    assert beacon(client, lang="de").status_code == 422
    assert client.post("/api/funnel", content=b'{"step":"started"}', headers={**SAME_ORIGIN, "Content-Type": "application/json"}).status_code == 415
    too_long = client.post("/api/funnel", content=b"step=started&x=" + b"x" * 600, headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert too_long.status_code == 413
    assert client.get("/api/funnel").status_code == 405
    assert "set-cookie" not in beacon(client).headers
    flush(client)
    assert sum(steps(client).values()) == 1  # the last one only


def test_the_beacon_has_its_own_share_of_the_rate_limit(make_client):
    from support import payload

    client = make_client(RATE_LIMIT="1/60")
    answers = [beacon(client).status_code for _ in range(5)]
    assert answers == [204, 204, 204, 204, 429]
    # the beacons did not use up the reader's submission
    assert client.post("/api/assessments/contract-check/submissions", json=payload(), headers={"Origin": "http://testserver"}).status_code == 201


def test_counting_off_counts_nothing_and_the_beacon_still_answers(make_client):
    client = make_client(REACH="off")
    assert client.app.state.tally is None
    client.get(PAGE, headers=READER)
    assert beacon(client).status_code == 204
    assert client.app.state.store.run_sql("SELECT count(*) FROM reach_views") == [(0,)]
    assert client.app.state.store.run_sql("SELECT count(*) FROM funnel_steps") == [(0,)]


# Batches, shutdown, several writers


def test_shutdown_writes_what_was_counted(site, tmp_path, database_url):
    from starlette.testclient import TestClient

    settings = Settings.from_env(environment(site.site, tmp_path / "unused.sqlite3", DATABASE_URL=database_url))
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            client.get(PAGE, headers=READER)
        beacon(client, "started")
        assert client.app.state.store.run_sql("SELECT count(*) FROM reach_views") == [(0,)]
    store = open_store(database_url, tmp_path)
    try:
        assert store.run_sql("SELECT page, n FROM reach_views") == [(PAGE, 3)]
        assert store.run_sql("SELECT step, n FROM funnel_steps") == [("started", 1)]
    finally:
        store.close()


def test_a_failed_write_keeps_the_counts_for_the_next(client, monkeypatch):
    client.get(PAGE, headers=READER)
    store = client.app.state.store

    def away(*args, **kwargs):
        raise OSError("the database is away")

    with monkeypatch.context() as patch:
        patch.setattr(store, "add_reach", away)
        with pytest.raises(OSError):
            flush(client)
    client.get(PAGE, headers=READER)
    assert flush(client) == 2
    assert views(client) == {(PAGE, "nl"): 2}


def test_several_processes_writing_the_same_counts_add_up(database_url, tmp_path):
    """Each worker has its own tally and its own store; their batches meet in the same rows."""
    stores = [open_store(database_url, tmp_path) for _ in range(4)]
    key = ("2026-01-05", PAGE, "nl")
    source = (*key, "www.linkedin.com", "", "", "")
    step = ("2026-01-05", ASSESSMENT.id, ASSESSMENT.version, "nl", "started")
    start = threading.Barrier(len(stores))
    errors = []

    def work(store):
        start.wait()
        try:
            for _ in range(25):
                store.add_reach({key: 2, ("2026-01-05", EN_PAGE, "en"): 1}, {source: 2}, {step: 1})
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert sorted(stores[0].run_sql("SELECT page, n FROM reach_views")) == [(PAGE, 200), (EN_PAGE, 100)]
        assert stores[0].run_sql("SELECT n FROM reach_sources") == [(200,)]
        assert stores[0].run_sql("SELECT n FROM funnel_steps") == [(100,)]
    finally:
        for store in stores:
            store.close()


def test_the_counts_go_with_the_submissions_retention(client):
    from datetime import timedelta

    store = client.app.state.store
    old, new = (utc_now() - timedelta(days=500)).strftime("%Y-%m-%d"), utc_now().strftime("%Y-%m-%d")
    store.add_reach({(old, PAGE, "nl"): 5, (new, PAGE, "nl"): 1}, {(old, PAGE, "nl", "", "", "", ""): 5}, {(old, ASSESSMENT.id, 1, "nl", "started"): 1})
    store.purge_older_than(utc_now() - timedelta(days=365))
    assert store.run_sql("SELECT day, n FROM reach_views") == [(new, 1)]
    assert store.run_sql("SELECT count(*) FROM reach_sources") == [(0,)]
    assert store.run_sql("SELECT count(*) FROM funnel_steps") == [(0,)]


def test_nothing_that_identifies_a_reader_is_stored_logged_or_sent(client, caplog, backend):
    agent = BROWSER + " ReachMarker/7.7"
    caplog.set_level(logging.DEBUG)
    replies = [
        client.get(PAGE + "?utm_source=newsletter", headers={"User-Agent": agent, "Referer": "https://www.linkedin.com/in/some-reader/", "Cookie": "track=me"}),
        beacon(client, headers={**SAME_ORIGIN, "User-Agent": agent}),
    ]
    flush(client)
    store = client.app.state.store
    dump = repr([store.run_sql(f"SELECT * FROM {table.name}") for table in schema.metadata.sorted_tables if schema.on(backend, table)])
    assert "(" in dump  # something was read
    for secret in ("ReachMarker", "testclient", "some-reader", "track=me", "Mozilla"):
        assert secret not in dump
        assert secret not in caplog.text
        for reply in replies:
            assert secret not in reply.text and secret not in repr(reply.headers)
    for reply in replies:
        assert "set-cookie" not in reply.headers
    assert views(client) == {(PAGE, "nl"): 1}


# The Reach page


@pytest.fixture
def logged_in(client):
    client.app.state.store.add_admin(EMAIL, auth.hash_password(PASSWORD))
    answer = client.post("/beheer/login", data={"email": EMAIL, "password": PASSWORD, "next": "/beheer/bereik"}, follow_redirects=False)
    assert answer.status_code == 303
    return client


def test_the_reach_page_shows_the_funnel_per_article_and_agrees_with_the_submissions(logged_in):
    client = logged_in
    store = client.app.state.store
    for _ in range(4):
        client.get(PAGE, headers={**READER, "Referer": "https://www.linkedin.com/feed/"})
    client.get(EN_PAGE + "?utm_source=newsletter&utm_medium=email&utm_campaign=june", headers=READER)
    for step in ("started", "started", "started", "completed", "completed"):
        beacon(client, step)
    store.add(submission(days_ago=0))
    store.add(submission(days_ago=0, email="lead@example.org"))
    flush(client)
    page = client.get("/beheer/bereik")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Bereik</h1>" in html and "www.linkedin.com" in html and "newsletter" in html and "june" in html
    assert 'aria-current="page"' in html and "/beheer/bereik" in html
    # the article's row: 4 views, 3 started (75.0%), 2 completed, 2 sent, 1 with contact details
    row = html[html.index(f"<small>{PAGE}</small>") :].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in row.split("<td>")[2:]]
    assert cells == ["4", "3", "75.0%", "2", "66.7%", "2", "100.0%", "1", "50.0%"]
    assert store.count_leads(LeadFilter(assessment=ASSESSMENT.id, lang="nl")) == 2
    assert store.count_leads(LeadFilter(assessment=ASSESSMENT.id, lang="nl", kind="lead")) == 1
    # in English, and filtered to a language
    client.post("/beheer/taal", data={"lang": "en", "csrf": _csrf(html), "back": "/beheer/bereik"}, headers={"Origin": "http://testserver"})
    english = client.get("/beheer/bereik?language=en").text
    assert "<h1>Reach</h1>" in english and "Funnel:" in english
    assert f"<small>{PAGE}</small>" in english  # the scan's articles are listed, with nothing counted in English
    assert "www.linkedin.com" not in english


def test_the_reach_csv_has_a_row_per_week_page_and_language(logged_in):
    client = logged_in
    client.get(PAGE, headers=READER)
    beacon(client, "started")
    flush(client)
    answer = client.get("/beheer/bereik/csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    article = [row for row in rows if row["page"] == PAGE]
    assert len(article) == 1 and article[0]["views"] == "1" and article[0]["started"] == "1" and article[0]["lang"] == "nl"


def test_the_reach_page_needs_a_login(client):
    assert client.get("/beheer/bereik", follow_redirects=False).status_code == 303
    assert client.get("/beheer/bereik/csv", follow_redirects=False).status_code == 303


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def test_the_reach_figures_are_kept_until_a_count_or_a_submission_changes(client):
    store = client.app.state.store
    client.get(PAGE, headers=READER)
    flush(client)
    first = store.reach(ReachFilter())
    assert store.reach(ReachFilter()) is first  # nothing changed: the same figures
    client.get(PAGE, headers=READER)
    flush(client)
    second = store.reach(ReachFilter())
    assert second.views == [(PAGE, "nl", 2)]
    store.add(submission())
    assert store.reach(ReachFilter()).sent == [(utc_now().strftime("%Y-%m-%d"), "contract-check", "nl", 1, 0)]
