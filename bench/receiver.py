"""Load and durability benchmark of the submission receiver (`make bench-receiver`).

1. Starts `kennisbank serve` in a subprocess on a free loopback port, with
   RATE_LIMIT=off and a database in a temporary folder, and sends JSON submissions
   with httpx at concurrency 1, 8 and 32 (and HTML form posts at 8): submissions per
   second, p50/p99 latency, and the server's peak RSS.
2. Side effects: the same load (JSON, concurrency 8) with notifications off, with
   every submission emailed into a Maildir and to a real local SMTP server
   (aiosmtpd), and with 1,000 slow clients holding half a request line open;
   submissions per second and p99 beside the plain figures, and the time from
   submit to delivered mail (p50/p99).
3. Durability: sends submissions at concurrency 16, kills the server with SIGKILL
   in the middle, starts it again on the same database and checks that every
   submission acknowledged with 201 is in the store: "acknowledged N / found N".

Loopback only; bounded in time (about a minute). Exit status 1 if an acknowledged
submission is missing or the server fails. Uses the built site in SITE_DIR or site/
(`make bench-receiver` builds it first), else builds one into the temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test harness that starts the server

from kennisbank.assessment import load_definitions  # noqa: E402
from kennisbank.server.store import open_store  # noqa: E402
from kennisbank.siteconfig import load_mkdocs  # noqa: E402

from local_server import LocalServer  # noqa: E402

PHASES = [  # (label, concurrency, requests, kind)
    ("json  c=1 ", 1, 400, "json"),
    ("json  c=8 ", 8, 2000, "json"),
    ("json  c=32", 32, 3000, "json"),
    ("form  c=8 ", 8, 800, "form"),
]
PHASE_SECONDS = 20  # a phase stops after this long, whatever its count
KILL_AFTER = 1.5  # seconds of load before the SIGKILL


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def local_server(site: Path, database: Path, **env: str) -> LocalServer:
    """``kennisbank serve`` with rate limiting off and notifications off unless ``env`` says otherwise."""
    return LocalServer(site, database, output=subprocess.DEVNULL, **{"NOTIFY": "off", **env})


def site_dir(work: Path) -> Path:
    configured = Path(os.environ.get("SITE_DIR") or ROOT / "site")
    if (configured / "index.html").is_file() and (configured / "uitslag" / "index.html").is_file():
        return configured
    target = work / "site"
    print(f"building the site into {target} (no built site in {configured})")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(target)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return target


def bodies(questions: list[str], kind: str, rng: random.Random):
    while True:
        answers = {q: rng.choice([0, 1, 2]) for q in questions}
        if kind == "json":
            yield {
                "json": {"assessment": "contract-check", "lang": rng.choice(["nl", "en"]), "version": 1, "answers": answers, "consent": False, "website": ""}
            }
        else:
            yield {"data": {"lang": "nl", **{f"answer-{q}": str(v) for q, v in answers.items()}}}


async def load(
    url: str,
    endpoint: str,
    questions: list[str],
    concurrency: int,
    total: int,
    kind: str,
    seconds: float,
    ids: list[str] | None = None,
    sent_at: dict[str, float] | None = None,
):
    """Send up to ``total`` submissions from ``concurrency`` workers; latencies of the successes and the failure count."""
    rng = random.Random(concurrency)
    source = bodies(questions, kind, rng)
    latencies: list[float] = []
    failures = 0
    remaining = total
    stop_at = time.perf_counter() + seconds
    expected = 201 if kind == "json" else 200
    # httpx's connection pool slows down past a few connections per client: the
    # workers share clients of at most 8 connections each, so the client is not what is measured
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=10) for _ in range((concurrency + 7) // 8)]

    async def worker(client: httpx.AsyncClient):
        nonlocal remaining, failures
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            started = time.perf_counter()
            try:
                response = await client.post(endpoint, **next(source))
            except httpx.HTTPError:
                failures += 1
                if ids is not None:  # the durability run: the server is gone
                    return
                continue
            if response.status_code == expected:
                latencies.append(time.perf_counter() - started)
                if ids is not None:
                    ids.append(response.json()["id"])
                if sent_at is not None:
                    sent_at[response.json()["id"]] = started
            else:
                failures += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(clients[index % len(clients)]) for index in range(concurrency)))
    finally:
        elapsed = time.perf_counter() - started
        for client in clients:
            await client.aclose()
    return latencies, failures, elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def measure(site: Path, database: Path, endpoint: str, questions: list[str], sent_at=None, settled=None, **env: str) -> tuple[float, float, int]:
    """One phase of JSON submissions at concurrency 8 against a fresh server: (subm/s, p99 ms, failed)."""
    server = local_server(site, database, **env)
    server.start()
    try:
        latencies, failures, elapsed = asyncio.run(load(server.url, endpoint, questions, 8, 1500, "json", PHASE_SECONDS, sent_at=sent_at))
        deadline = time.monotonic() + 60
        while settled is not None and not settled() and time.monotonic() < deadline:
            time.sleep(0.1)  # the last deliveries
    finally:
        server.stop()
    return len(latencies) / elapsed, percentile(latencies, 0.99) * 1000, failures


def side_effects(site: Path, work: Path, endpoint: str, questions: list[str]) -> bool:
    import socket

    from aiosmtpd.controller import Controller

    print(f"\n{'json c=8, 1500 submissions':<44}{'subm/s':>9}{'p99 ms':>9}{'vs. plain':>11}")
    base, base_p99, failed = measure(site, work / "plain.sqlite3", endpoint, questions)
    print(f"{'notifications off':<44}{base:>9.0f}{base_p99:>9.1f}{'':>11}")
    ok = failed == 0

    # every submission emailed (NOTIFY=all), into a Maildir and to a real local SMTP server
    rate, p99, failed = measure(site, work / "maildir.sqlite3", endpoint, questions, NOTIFY="all", MAILDIR=str(work / "mail"))
    ok &= failed == 0
    print(f"{'NOTIFY=all into a Maildir':<44}{rate:>9.0f}{p99:>9.1f}{rate / base - 1:>+10.0%}")
    arrived: dict[str, float] = {}

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            arrived[envelope.content.split(b"Message-ID: <", 1)[1].split(b".", 1)[0].decode()] = time.perf_counter()
            return "250 OK"

    from local_server import free_port

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    sent_at: dict[str, float] = {}
    try:
        smtp = {"SMTP_URL": f"smtp://127.0.0.1:{controller.port}", "NOTIFY_TO": "a@example.nl", "NOTIFY_FROM": "b@example.nl"}
        rate, p99, failed = measure(
            site, work / "smtp.sqlite3", endpoint, questions, sent_at=sent_at, settled=lambda: len(arrived) >= len(sent_at), NOTIFY="all", **smtp
        )
    finally:
        controller.stop()
    ok &= failed == 0
    print(f"{'NOTIFY=all to a local SMTP server':<44}{rate:>9.0f}{p99:>9.1f}{rate / base - 1:>+10.0%}")
    delays = [arrived[key] - sent_at[key] for key in sent_at if key in arrived]
    print(
        f"  submit to delivered mail: {len(delays)} of {len(sent_at)} arrived, p50 {percentile(delays, 0.5) * 1000:.0f} ms, p99 {percentile(delays, 0.99) * 1000:.0f} ms"
    )

    # 1,000 slow clients hold half a request line open the whole time
    slow_server = local_server(site, work / "slow.sqlite3", MAX_CONNECTIONS="2000", REQUEST_TIMEOUT="60")
    slow_server.start()
    host, port = slow_server.url.removeprefix("http://").split(":")
    sockets = []
    try:
        for _ in range(1000):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"POST / HTT")
            sockets.append(sock)
        latencies, failed, elapsed = asyncio.run(load(slow_server.url, endpoint, questions, 8, 1500, "json", PHASE_SECONDS))
    finally:
        for sock in sockets:
            sock.close()
        slow_server.stop()
    ok &= failed == 0
    rate, p99 = len(latencies) / elapsed, percentile(latencies, 0.99) * 1000
    print(f"{'with 1,000 slow connections open':<44}{rate:>9.0f}{p99:>9.1f}{rate / base - 1:>+10.0%}")
    return ok


def main() -> int:
    config = load_mkdocs(ROOT / "mkdocs.yml")
    assessment = load_definitions(config.assessment_dir, config.locales)["contract-check"]
    questions = [q.id for q in assessment.questions]
    endpoint = config.endpoint.format(id=assessment.id)
    ok = True
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as folder:
        work = Path(folder)
        site = site_dir(work)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), database in {work} (SQLite, WAL, synchronous=FULL)\n")

        # 1. Load
        server = local_server(site, work / "load.sqlite3")
        server.start()
        print(f"{'phase':<12}{'requests':>9}{'failed':>8}{'subm/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'server CPU ms/req':>19}{'peak RSS MB':>13}")
        try:
            for label, concurrency, total, kind in PHASES:
                cpu = cpu_seconds(server.process.pid)
                latencies, failures, elapsed = asyncio.run(load(server.url, endpoint, questions, concurrency, total, kind, PHASE_SECONDS))
                cpu = (cpu_seconds(server.process.pid) - cpu) / max(1, len(latencies)) * 1000
                ok &= failures == 0
                print(
                    f"{label:<12}{len(latencies):>9}{failures:>8}{len(latencies) / elapsed:>9.0f}"
                    f"{percentile(latencies, 0.5) * 1000:>9.1f}{percentile(latencies, 0.99) * 1000:>9.1f}"
                    f"{cpu:>19.2f}{peak_rss_mb(server.process.pid):>13.1f}"
                )
        finally:
            server.stop()
        store = open_store(f"sqlite:///{work / 'load.sqlite3'}", work)
        print(f"stored after the load: {store.stats().count}")
        store.close()

        # 2. Notifications must never sit on the request's path (issue 11), and
        #    slow clients must not slow the others down (issue 10)
        ok &= side_effects(site, work, endpoint, questions)

        # 3. Durability
        print("\ndurability: SIGKILL during load at concurrency 16, then restart")
        database = work / "durability.sqlite3"
        server = local_server(site, database)
        server.start()
        acknowledged: list[str] = []

        async def load_and_kill():
            task = asyncio.create_task(load(server.url, endpoint, questions, 16, 10**9, "json", 30, ids=acknowledged))
            await asyncio.sleep(KILL_AFTER)
            server.kill()
            return await task

        _, failures, _ = asyncio.run(load_and_kill())
        print(f"killed after {KILL_AFTER} s: {len(acknowledged)} acknowledged, {failures} request(s) in flight cut off")
        server.start()
        after = httpx.post(server.url + endpoint, json={"answers": dict.fromkeys(questions, 1)}, timeout=10)
        store = open_store(f"sqlite:///{database}", work)
        found_ids = {s.public_id for s in store.all()}
        store.close()
        server.stop()
        found = sum(1 for public_id in acknowledged if public_id in found_ids)
        unacknowledged = len(found_ids) - len(set(acknowledged) & found_ids) - 1
        print(f"restarted: accepts submissions again ({after.status_code}); stored but cut off before the reply: {unacknowledged}")
        print(f"acknowledged {len(acknowledged)} / found {found}")
        ok &= found == len(acknowledged) and after.status_code == 201 and len(acknowledged) > 0
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
