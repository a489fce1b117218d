"""The dashboard over 100,000 submissions: server time and bytes of the list and insight pages.

Generates the submissions with one bulk insert (:func:`generate`, also used by
``tests/test_dashboard.py``), builds the app in-process on that database, logs in
and requests each page REQUESTS times through Starlette's TestClient (no network:
the figures are the server's time, routing, database, templates and compression).
Prints p50/p99 in milliseconds and the bytes per page, uncompressed and as sent with
brotli. Insight is cached per filter until the data changes: "cold" is its first
request after a change. The goal is p99 <= 100 ms; the script prints the figures and exits 0 either way.

    .venv/bin/python bench/dashboard.py [COUNT] [REQUESTS]
"""

from __future__ import annotations

import json
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
from kennisbank.server.store import format_time, new_public_id, utc_now  # noqa: E402

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
        db.executemany(
            "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band, consent, name, email, "
            "organisation, message, discuss, definition, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.execute("ANALYZE")
    db.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(count: int = 100_000, requests: int = 200) -> int:
    warnings.filterwarnings("ignore")
    from fastapi.testclient import TestClient

    from kennisbank.server import Settings, create_app
    from kennisbank.server.dashboard.auth import hash_password

    site_dir = ROOT / "site"
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        env = {"SITE_DIR": str(site_dir), "DATABASE_URL": f"sqlite:///{database}", "RATE_LIMIT": "off", "NOTIFY": "off"}
        app = create_app(Settings.from_env(env))  # creates and migrates the database
        started = time.perf_counter()
        generate(database, site_dir, count)
        print(f"generated {count} submissions in {time.perf_counter() - started:.1f} s")
        with TestClient(app, headers={"Accept-Encoding": "br"}) as client:
            app.state.store.add_admin(EMAIL, hash_password(PASSWORD))
            client.post("/beheer/login", data={"email": EMAIL, "password": PASSWORD})
            pages = [
                ("list", "/beheer/inzendingen"),
                ("list, filtered", "/beheer/inzendingen?kind=lead&status=new&language=en"),
                ("list, searched", "/beheer/inzendingen?q=organisatie%2042"),
                ("list, page 100", None),
                ("insight, cold", "/beheer/inzicht"),
                ("insight, filtered, cold", "/beheer/inzicht?kind=lead&since=" + (utc_now() - timedelta(days=90)).date().isoformat()),
                ("insight", "/beheer/inzicht"),
                ("insight, filtered", "/beheer/inzicht?kind=lead&since=" + (utc_now() - timedelta(days=90)).date().isoformat()),
                ("detail", None),
            ]
            first = client.get("/beheer/inzendingen").text
            import re

            detail = re.search(r'href="(/beheer/inzendingen/\w+)"', first)[1]
            cursor = app.state.store.leads(__import__("kennisbank.server.store", fromlist=["LeadFilter"]).LeadFilter(), 50 * 99)[-1].cursor
            print(f"{'page':<24} {'p50 ms':>8} {'p99 ms':>8} {'bytes':>8} {'sent (br)':>10}")
            for label, path in pages:
                path = path or (detail if label == "detail" else f"/beheer/inzendingen?after={cursor}")
                times = []
                if "cold" not in label:
                    client.get(path)  # the cache filled, as by the page's first visit
                for _ in range(requests if "cold" not in label else max(3, requests // 10)):
                    if "cold" in label:
                        app.state.store._insights.clear()  # as after a new submission
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                raw = len(response.content)
                sent = int(response.headers.get("content-length", raw))
                print(f"{label:<24} {statistics.median(times):8.1f} {percentile(times, 0.99):8.1f} {raw:8d} {sent:10d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(arg) for arg in sys.argv[1:3])))
