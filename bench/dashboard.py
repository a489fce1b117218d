"""The dashboard over 100,000 submissions: server time and bytes of the list and insight pages.

Generates the submissions with one bulk insert (:func:`generate`, also used by
``tests/test_dashboard.py``), builds the app in-process on that database, logs in
and requests each page REQUESTS times through Starlette's TestClient (no network:
the figures are the server's time, routing, database, templates and compression).
Prints p50/p99 in milliseconds and the bytes per page, uncompressed and as sent with
brotli. Every list filter, searches, a far page, the detail page and every insight
filter; "after new" adds a submission (through the store, as the receiver does)
before each request, the case a consultant meets opening the page right after a lead
came in. The Reach page (issue 24) reads a year of counts for 50 articles in both languages
(:func:`generate_reach`): every filter, and its CSV. The goal is p99 <= 100 ms; the script prints the figures and exits 0 either way.

    .venv/bin/python bench/dashboard.py [COUNT] [REQUESTS]
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kennisbank.manifest import load_manifest  # noqa: E402
from kennisbank.server.db.store import format_time, new_public_id, utc_now  # noqa: E402

EMAIL = "bench@example.org"
PASSWORD = "correct horse battery staple"


def generate(database: Path, site_dir: Path, count: int, seed: int = 1) -> None:
    """``count`` plausible submissions over the last year, in one transaction (a few seconds).

    Answers lean to one level per submission, so the scores spread; one in four gave
    consent and contact details; statuses and languages vary."""
    assessment = next(iter(load_manifest(site_dir).assessments.values()))
    from kennisbank.assessment import score
    from kennisbank.assessment.model import NOT_APPLICABLE, UNKNOWN

    rng = random.Random(seed)
    scored: dict = {}
    now = utc_now()
    rows = []
    for n in range(count):
        level = rng.random()
        # as the server stores them: the context answer, "na" for a question of the other
        # context, and now and then "don't know" where a question allows it
        context = rng.choice(assessment.context.options).id if assessment.context else None
        answers = {assessment.context.id: context} if assessment.context else {}
        for q in assessment.questions:
            if not q.applies(context):
                answers[q.id] = NOT_APPLICABLE
            elif q.allows_unknown and rng.random() < 0.08:
                answers[q.id] = UNKNOWN
            else:
                answers[q.id] = min(2, max(0, round(level * 2 + rng.uniform(-0.8, 0.8))))
        key = tuple(answers.values())
        if key not in scored:
            scored[key] = score(assessment, answers)
        result = scored[key]
        lead = rng.random() < 0.25
        created = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        rows.append(
            (
                new_public_id(),
                format_time(created),
                assessment.id,
                assessment.version,
                rng.choice(("nl", "nl", "en")),
                json.dumps(answers, separators=(",", ":")),
                result.score,
                result.band.id,
                int(lead),
                f"Naam {n}" if lead else None,
                f"lead{n}@example.org" if lead else None,
                f"Organisatie {n % 997}" if lead else None,
                None,
                int(rng.random() < 0.5) if lead else None,
                assessment.digest,
                rng.choice(("new", "new", "contacted", "closed")),
            )
        )
    db = sqlite3.connect(str(database))
    with db:
        # the aggregates' triggers would count 100,000 rows one by one; set aside, the two
        # statements below count them at once (as the triggers would), then they return
        triggers = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'submissions' AND name LIKE 'insight_%'").fetchall()
        names = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'submissions' AND name LIKE 'insight_%'").fetchall()
        for (name,) in names:
            db.execute(f'DROP TRIGGER "{name}"')
        db.executemany(
            "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band, consent, name, email, "
            "organisation, message, discuss, definition, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("DELETE FROM insight_counts")
        db.execute("DELETE FROM insight_answers")
        db.execute(
            "INSERT INTO insight_counts (month, assessment, version, lang, band, consent, status, decile, n) "
            "SELECT substr(created_at, 1, 7), assessment, version, lang, band, consent, status, min(score / 10, 9), count(*) "
            "FROM submissions GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
        )
        db.execute(
            "INSERT INTO insight_answers (month, assessment, version, lang, band, consent, status, question, answer, n) "
            "SELECT substr(s.created_at, 1, 7), s.assessment, s.version, s.lang, s.band, s.consent, s.status, j.key, j.value, count(*) "
            "FROM submissions s, json_each(s.answers) j GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
        )
        # a store's kept partial-month figures are from before: mark every month changed
        db.execute(
            "INSERT INTO insight_changes (month, changes) SELECT DISTINCT substr(created_at, 1, 7), 1 FROM submissions WHERE true "
            "ON CONFLICT DO UPDATE SET changes = changes + 1"
        )
        for (sql,) in triggers:
            db.execute(sql)
    db.execute("ANALYZE")
    db.close()


def generate_reach(store, articles: int = 50, days: int = 365, seed: int = 1) -> None:
    """A year of daily counts for ``articles`` articles in nl and en: views, three sources each, the scan's steps."""
    rng = random.Random(seed)
    today = utc_now().date()
    views, sources, steps = {}, {}, {}
    for back in range(days):
        day = (today - timedelta(days=back)).isoformat()
        for number in range(articles):
            for lang, prefix in (("nl", "/"), ("en", "/en/")):
                page = f"{prefix}artikelen/bench-{number}/"
                n = rng.randrange(1, 60)
                views[(day, page, lang)] = n
                sources[(day, page, lang, "", "", "", "")] = n // 2
                sources[(day, page, lang, "www.linkedin.com", "", "", "")] = n // 4
                sources[(day, page, lang, "", "newsletter", "email", f"week-{back // 7}")] = n - n // 2 - n // 4
        for lang in ("nl", "en"):
            steps[(day, "contract-check", 3, lang, "started")] = rng.randrange(0, 20)
            steps[(day, "contract-check", 3, lang, "completed")] = rng.randrange(0, 10)
    store.add_reach(views, sources, steps)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(count: int = 100_000, requests: int = 200) -> int:
    warnings.filterwarnings("ignore")
    from starlette.testclient import TestClient

    from kennisbank.server.app import create_app
    from kennisbank.server.dashboard.auth import hash_password
    from kennisbank.server.db.store import LeadFilter, Submission
    from kennisbank.server.settings import Settings

    site_dir = ROOT / "site"
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        env = {"SITE_DIR": str(site_dir), "DATABASE_URL": f"sqlite:///{database}", "RATE_LIMIT": "off", "NOTIFY": "off"}
        app = create_app(Settings.from_env(env))  # creates and migrates the database
        started = time.perf_counter()
        generate(database, site_dir, count)
        print(f"generated {count} submissions in {time.perf_counter() - started:.1f} s (the aggregates counted at once)", flush=True)
        store = app.state.store
        started = time.perf_counter()
        generate_reach(store)
        print(f"generated a year of reach counts for 50 articles in {time.perf_counter() - started:.1f} s", flush=True)
        sizes = {
            table: store.run_sql(f"SELECT count(*) FROM {table}")[0][0]
            for table in ("submissions", "insight_counts", "insight_answers", "reach_views", "reach_sources")
        }
        pairs = store.run_sql("SELECT count(*) FROM submissions, json_each(answers)")[0][0]
        print("rows: " + ", ".join(f"{table} {n}" for table, n in sizes.items()) + f" (answers in the rows: {pairs})", flush=True)
        template = store.leads(LeadFilter(), 1)[0].submission
        month_start = utc_now().date().replace(day=1).isoformat()
        since_90 = (utc_now() - timedelta(days=90)).date().isoformat()

        def new_submission() -> None:
            """A submission arrives, as through the receiver: the figures change."""
            store.add(Submission(**{**template.__dict__, "public_id": new_public_id(), "created_at": utc_now()}))

        with TestClient(app, headers={"Accept-Encoding": "br"}) as client:
            store.add_admin(EMAIL, hash_password(PASSWORD))
            client.post("/beheer/login", data={"email": EMAIL, "password": PASSWORD})
            first = client.get("/beheer/inzendingen").text
            import re

            detail = re.search(r'href="(/beheer/inzendingen/\w+)"', first)[1]
            cursor = store.leads(LeadFilter(), 50 * 99)[-1].cursor
            filters = [
                ("", ""),
                (", lead", "kind=lead"),
                (", anonymous", "kind=anonymous"),
                (", status new", "status=new"),
                (", english", "language=en"),
                (", band", "band=" + template.band),
                (", assessment", "assessment=" + template.assessment),
                (", this month", "since=" + month_start),
                (", 90 days", "since=" + since_90),
                (", lead+new+en", "kind=lead&status=new&language=en"),
            ]
            pages = [(f"list{label}", f"/beheer/inzendingen?{query}") for label, query in filters]
            pages += [
                ("list, search org", "/beheer/inzendingen?q=organisatie%2042"),
                ("list, search email", "/beheer/inzendingen?q=lead4242"),
                ("list, search none", "/beheer/inzendingen?q=nobody-here"),
                ("list, page 100", f"/beheer/inzendingen?after={cursor}"),
                ("detail", detail),
            ]
            pages += [(f"insight{label}", f"/beheer/inzicht?{query}") for label, query in filters]
            pages += [(f"insight{label}, after new", f"/beheer/inzicht?{query}") for label, query in filters]
            reach = [("", ""), (", english", "language=en"), (", 90 days", "since=" + since_90), (", this month", "since=" + month_start)]
            pages += [(f"reach{label}", f"/beheer/bereik?{query}") for label, query in reach]
            pages += [("reach, after new", "/beheer/bereik"), ("reach csv", "/beheer/bereik/csv")]
            print(f"{'page':<34} {'p50 ms':>8} {'p99 ms':>8} {'bytes':>8} {'sent (br)':>10}", flush=True)
            worst = 0.0
            for label, path in pages:
                fresh = label.endswith("after new")
                times = []
                client.get(path)  # the page's first visit
                for _ in range(requests):
                    if fresh:
                        new_submission()  # a lead came in just before the consultant opens the page
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                raw = len(response.content)
                sent = int(response.headers.get("content-length", raw))
                worst = max(worst, percentile(times, 0.99))
                print(f"{label:<34} {statistics.median(times):8.1f} {percentile(times, 0.99):8.1f} {raw:8d} {sent:10d}", flush=True)
            print(f"worst p99 {worst:.1f} ms (goal <= 100 ms); load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(arg) for arg in sys.argv[1:3])))
