"""Benchmark: the submission reply with and without "where you stand" (`python bench/peers.py`).

100,000 submissions of the current definition are generated directly into a database
(scored by the real scoring, so the totals and themes are realistic), then JSON
submissions at concurrency 8 go to `kennisbank serve` on loopback:

- with the comparison: this checkout (migration 0006, its triggers, theme rows, the
  ``peers`` object in every reply);
- without it: the code of the commit before migration 0006 was added (taken out with
  ``git archive`` and put first on PYTHONPATH), on a database with the same 100,000
  submissions at the schema that code knows.

Each side runs ROUNDS times, alternating, each on a fresh copy of its database;
submissions per second and p50/p99 latency are printed side by side (the median
round of each). Issue 13's goal: "with" within 10 % of "without". Last, the
comparison's own CPU cost in this checkout alone: the store's write with and without
it, and the reply's figures, measured in-process (CPU time, not wall time). Loopback only;
about two minutes. Uses the built site in SITE_DIR or site/, else builds one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test harness that starts the server

from kennisbank.assessment import load_definitions, score  # noqa: E402
from kennisbank.server.db.store import Submission, new_public_id, open_store, utc_now  # noqa: E402
from kennisbank.server.intake.peers import standing  # noqa: E402
from kennisbank.siteconfig import load_mkdocs  # noqa: E402

from local_server import LocalServer  # noqa: E402

STORED = int(os.environ.get("BENCH_STORED", "100000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = 8
MIGRATION = "kennisbank/server/migrations/sqlite/0006_peers.sql"
ENDPOINT = "/api/assessments/contract-check/submissions"


def site_dir(work: Path) -> Path:
    configured = Path(os.environ.get("SITE_DIR") or ROOT / "site")
    if (configured / "index.html").is_file():
        return configured
    target = work / "site"
    print(f"building the site into {target} (no built site in {configured})")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(target)], cwd=ROOT, check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    )
    return target


def baseline_code(work: Path) -> tuple[Path, str]:
    """The kennisbank package of the commit before migration 0006, and that commit."""
    added = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--", MIGRATION], capture_output=True, text=True, check=True
    ).stdout.split()
    if not added:
        sys.exit(f"{MIGRATION} is in no commit yet: commit it, then run this again (the baseline is the commit before it)")
    # BENCH_BASELINE names another commit without 0006: on main the first parent of the merge
    # that brought it in, so the baseline has everything else this checkout has (the
    # dashboard's 0005 triggers, the outbox worker) and only the comparison differs
    base = os.environ.get("BENCH_BASELINE") or f"{added[-1]}^"
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", base], capture_output=True, text=True, check=True).stdout.strip()
    target = work / "baseline"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base, "kennisbank"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target, commit


def server(site: Path, database: Path, code: Path | None, **env: str) -> LocalServer:
    extra = {"PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH", "")]))} if code else {}
    return LocalServer(site, database, output=subprocess.DEVNULL, NOTIFY="off", **extra, **env)


def create_schema(site: Path, database: Path, code: Path | None) -> None:
    """Let that code's server create and migrate the database (and record the definitions)."""
    started = server(site, database, code)
    started.start()
    started.stop()


def fill(database: Path, rows: list[tuple], themes: bool) -> None:
    """Insert the generated submissions (and with ``themes`` their theme rows) in one transaction."""
    db = sqlite3.connect(database)
    db.execute("PRAGMA synchronous = OFF")
    has_themes = themes and db.execute("SELECT 1 FROM sqlite_master WHERE name = 'submission_themes'").fetchone()
    with db:
        for public_id, created, answers, total, band, digest, theme_scores in rows:
            cursor = db.execute(
                "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band, consent, definition) "
                "VALUES (?, ?, 'contract-check', 1, 'nl', ?, ?, ?, 0, ?)",
                (public_id, created, answers, total, band, digest),
            )
            if has_themes:
                db.executemany(
                    "INSERT INTO submission_themes (submission, definition, theme, score) VALUES (?, ?, ?, ?)",
                    [(cursor.lastrowid, digest, theme, value) for theme, value in theme_scores],
                )
    db.close()


def generate(assessment, count: int) -> list[tuple]:
    rng = random.Random(100_000)
    values = sorted(assessment.values, key=str)
    context = assessment.context
    rows = []
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for index in range(count):
        answers = {q.id: rng.choice(values) for q in assessment.questions}
        if context:
            answers[context.id] = rng.choice(context.options).id
        result = score(assessment, answers)
        stored = json.dumps(answers, separators=(",", ":"))
        rows.append((f"bench{index:011d}", now, stored, result.score, result.band.id, assessment.digest, [(t.theme, t.score) for t in result.themes]))
    return rows


async def load(url: str, bodies: list[bytes]) -> tuple[list[float], int, float, dict | None]:
    latencies: list[float] = []
    failures = 0
    queue = list(reversed(bodies))
    last: dict | None = None

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures, last
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            try:
                response = await client.post(ENDPOINT, content=body, headers={"content-type": "application/json"})
            except httpx.HTTPError:
                failures += 1
                continue
            if response.status_code == 201:
                latencies.append(time.perf_counter() - started)
                last = response.json()
            else:
                failures += 1

    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=CONCURRENCY), timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return latencies, failures, elapsed, last


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far: unlike wall time, hardly moved by other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(site: Path, template: Path, work: Path, code: Path | None, bodies: list[bytes]) -> tuple[float, float, float, int, dict | None, float]:
    database = work / f"run-{time.monotonic_ns()}.sqlite3"
    shutil.copyfile(template, database)
    started = server(site, database, code)
    started.start()
    try:
        asyncio.run(load(started.url, bodies[:50]))  # warm up
        cpu = cpu_seconds(started.process.pid)
        latencies, failures, elapsed, last = asyncio.run(load(started.url, bodies[50:]))
        cpu = cpu_seconds(started.process.pid) - cpu
    finally:
        started.stop()
        for path in work.glob(f"{database.name}*"):
            path.unlink()
    served = max(1, len(latencies))
    return len(latencies) / elapsed, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, failures, last, cpu / served * 1000


def own_cost(database: Path, assessment, strings, count: int = 600) -> tuple[float, float, float]:
    """CPU microseconds per submission, in this process on a copy of ``database``: the store's
    write without the comparison's part (no definition digest: no theme rows, no counts
    read or kept), with it, and the reply's figures (``standing``). Unlike the wall-time
    figures above, these hardly move with other load on the machine."""
    copy = database.with_name("cost.sqlite3")
    shutil.copyfile(database, copy)
    store = open_store(f"sqlite:///{copy}", copy.parent)
    store.run_sql("PRAGMA synchronous = OFF")  # the CPU, not the disk: the same sync either way
    rng = random.Random(11)
    made = []
    for _ in range(3 * count):
        answers = {q.id: rng.choice([0, 1, 2]) for q in assessment.questions}
        if assessment.context:
            answers[assessment.context.id] = assessment.context.options[0].id
        result = score(assessment, answers)
        made.append(
            (
                Submission(
                    public_id=new_public_id(),
                    created_at=utc_now(),
                    assessment=assessment.id,
                    version=assessment.version,
                    definition=assessment.digest,
                    lang="nl",
                    answers=answers,
                    score=result.score,
                    band=result.band.id,
                    themes={t.theme: t.score for t in result.themes},
                ),
                result,
            )
        )
    plain = [(Submission(**{**item.__dict__, "definition": None, "themes": {}}), result) for item, result in made[:count]]
    timings = {"without": [], "with": [], "standing": []}
    for round_ in range(3):
        for label, items in (("without", plain), ("with", made[count : 2 * count])):
            part = items[round_ * count // 3 : (round_ + 1) * count // 3]
            started = time.process_time()
            for item, _ in part:
                store.add(item, ["email"])
            timings[label].append((time.process_time() - started) / len(part) * 1e6)
    before = store.peer_counts(assessment.digest)
    started = time.process_time()
    for _, result in made[2 * count :]:
        standing(assessment, result, before, 20, "nl", strings)
    timings["standing"].append((time.process_time() - started) / count * 1e6)
    store.close()
    return tuple(statistics.median(values) for values in timings.values())


def main() -> int:
    config = load_mkdocs(ROOT / "mkdocs.yml")
    assessment = load_definitions(config.assessment_dir, config.locales)["contract-check"]
    with tempfile.TemporaryDirectory(prefix="kennisbank-bench-peers-") as folder:
        work = Path(folder)
        # `python -m` puts the current folder first on sys.path: out of the checkout, so the
        # baseline's PYTHONPATH (and otherwise the installed package) decides what runs
        os.chdir(work)
        site = site_dir(work)
        code, commit = baseline_code(work)
        print(f"generating {STORED:,} scored submissions ...")
        rows = generate(assessment, STORED)
        with_db, without_db = work / "with.sqlite3", work / "without.sqlite3"
        create_schema(site, with_db, None)
        create_schema(site, without_db, code)
        fill(with_db, rows, themes=True)
        fill(without_db, rows, themes=False)
        db = sqlite3.connect(without_db)
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'peer_counts'").fetchone():
            sys.exit("the baseline server migrated to 0006: it did not run the code before it (PYTHONPATH)")
        db.close()
        rng = random.Random(8)
        bodies = []
        for _ in range(REQUESTS + 50):
            answers = {q.id: rng.choice([0, 1, 2]) for q in assessment.questions}
            if assessment.context:
                answers[assessment.context.id] = assessment.context.options[0].id
            body = {"assessment": "contract-check", "lang": "nl", "version": assessment.version, "answers": answers, "consent": False, "website": ""}
            bodies.append(json.dumps(body).encode())
        figures: dict[str, list[tuple]] = {"without": [], "with": []}
        last = None
        for _ in range(ROUNDS):
            figures["without"].append(run_once(site, without_db, work, code, bodies))
            result = run_once(site, with_db, work, None, bodies)
            figures["with"].append(result)
            last = result[4]
        peers = (last or {}).get("peers", {})
        print(f"\n{STORED:,} stored submissions, JSON c={CONCURRENCY}, {REQUESTS} submissions per round, median of {ROUNDS} rounds")
        print(f"without = the code before migration 0006 (commit {commit}); with = this checkout")
        print(f"{'':<10}{'subm/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'server CPU ms/subm':>20}")
        medians = {}
        for label, rounds in figures.items():
            rate = statistics.median(r[0] for r in rounds)
            p50 = statistics.median(r[1] for r in rounds)
            p99 = statistics.median(r[2] for r in rounds)
            failed = sum(r[3] for r in rounds)
            cpu = statistics.median(r[5] for r in rounds)
            medians[label] = (rate, p99, cpu)
            print(f"{label:<10}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}{failed:>8}{cpu:>20.2f}")
        # every round, so that the spread between rounds of the same code is seen beside the difference
        for label, rounds in figures.items():
            print(f"  {label} rounds, subm/s: {', '.join(f'{r[0]:.0f}' for r in rounds)}; p99 ms: {', '.join(f'{r[2]:.0f}' for r in rounds)}")
        rate_change = medians["with"][0] / medians["without"][0] - 1
        p99_change = medians["with"][1] / medians["without"][1] - 1
        cpu_change = medians["with"][2] / medians["without"][2] - 1
        print(f"{'with vs. without':<16} subm/s {rate_change:+.1%}, p99 {p99_change:+.1%} (goal: within 10 %), server CPU per submission {cpu_change:+.1%}")
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work on the machine moves the wall-time figures)")
        without_us, with_us, standing_us = own_cost(with_db, assessment, config.strings)
        print(
            f"the comparison's own CPU per submission (this checkout, in-process, median of 3): the store's write {without_us:.0f} us without it, "
            f"{with_us:.0f} us with it (+{with_us - without_us:.0f} us); the reply's figures {standing_us:.0f} us"
        )
        print(f"the last reply's comparison: shown={peers.get('shown')}, count={peers.get('count')}, higher_than={peers.get('total', {}).get('higher_than')}")
        failed = sum(r[3] for rounds in figures.values() for r in rounds)
        return 1 if failed or not peers.get("shown") else 0


if __name__ == "__main__":
    sys.exit(main())
