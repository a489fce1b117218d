"""Load and durability benchmark of the submission receiver (`make bench-receiver`).

1. Starts `kennisbank serve` in a subprocess on a free loopback port, with
   RATE_LIMIT=off and a database in a temporary folder, and sends JSON submissions
   with httpx at concurrency 1, 8 and 32 (and HTML form posts at 8): submissions per
   second, p50/p99 latency, and the server's peak RSS.
2. The floor: the same JSON at concurrency 8 against ``bench/floor.py`` (a bare
   Starlette endpoint on the same uvicorn that parses, checks, scores and inserts one
   row into SQLite, WAL, ``synchronous=FULL``) and against the receiver, in alternate
   rounds: each side's server CPU per submission and the ratio (issue 21: at most
   2.2, goal 1.5).
2b. Side effects: the same load (JSON, concurrency 8, a fresh server each run) with
   notifications off, with every submission emailed into a Maildir, and to a real
   local SMTP server (aiosmtpd): each variant twice, the second round in reverse
   order, every run printed, then the means and their change against "off" (issue
   11: within 10 %). Per run also the server's CPU per submission, the outbox
   worker's CPU per mail, how many mails went out during the load, how long the
   rest took after it, and the time from submit to delivered mail (p50/p99). Then
   the same time on an idle server, one submission at a time. Last, the load with
   1,000 slow clients holding half a request line open.
3. Durability: sends submissions at concurrency 16, kills the server with SIGKILL
   in the middle, starts it again on the same database and checks that every
   submission acknowledged with 201 is in the store: "acknowledged N / found N".
4. PostgreSQL: a throwaway server started the way the tests start theirs
   (``tests/support.py``'s ``PostgresServer``, here with fsync on), its own
   single-row commit rate, the load of 1. with 1 and with 2 workers
   (``--workers``), and a SIGKILL of one of the two workers under load:
   "acknowledged N / found N".

First, the ceiling: the disk's own durable-commit rate in the database's folder (a
loop that writes a few bytes into a file and fsyncs it, and SQLite's own single-row
commit with ``synchronous=FULL`` in WAL mode), printed beside the receiver's
figures. Every acknowledged submission is one durable commit, so the receiver cannot
beat it; the goal is at least half of the fsync loop on SQLite.

Loopback only; bounded in time (a few minutes). Exit status 1 if an acknowledged
submission is missing, a mail does not arrive, or the server fails. Arguments run
only some sections: ``bench/receiver.py notifications``. Run it on a quiet machine
(the load average is printed first): other work on the CPUs moves the figures. Uses the built site in SITE_DIR or site/
(`make bench-receiver` builds it first), else builds one into the temporary folder.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test harness that starts the server

from kennisbank.assessment import load_definitions  # noqa: E402
from kennisbank.server.db.store import open_store  # noqa: E402
from kennisbank.siteconfig import load_mkdocs  # noqa: E402

from local_server import LocalServer, children  # noqa: E402

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


CEILING_COMMITS = 400  # writes in each ceiling loop
CEILING_SECONDS = 5.0  # or fewer, if the disk is slow


def fsync_rate(folder: Path, count: int = CEILING_COMMITS) -> float:
    """Durable writes per second in ``folder``: 100 bytes written and fsynced, ``count`` times.

    The same bytes over the same place each time, as a database overwrites its log's
    pages; a new file every run, so nothing is cached from the last one."""
    path = folder / "fsync-probe"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, b"x" * 4096)
        os.fsync(descriptor)
        done, started = 0, time.perf_counter()
        while done < count and time.perf_counter() - started < CEILING_SECONDS:
            os.pwrite(descriptor, os.urandom(100), 0)
            os.fsync(descriptor)
            done += 1
        return done / (time.perf_counter() - started)
    finally:
        os.close(descriptor)
        path.unlink()


def sqlite_commit_rate(folder: Path, count: int = CEILING_COMMITS) -> float:
    """SQLite's own durable commits per second in ``folder``: one small row per transaction,
    WAL journal and ``synchronous=FULL`` as the store opens it, from one connection."""
    import sqlite3

    path = folder / "commit-probe.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, body TEXT)")
        done, started = 0, time.perf_counter()
        while done < count and time.perf_counter() - started < CEILING_SECONDS:
            db.execute("INSERT INTO probe (body) VALUES (?)", (os.urandom(100).hex(),))
            done += 1
        return done / (time.perf_counter() - started)
    finally:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def ceiling(folder: Path, runs: int = 3) -> float:
    """Print the disk's durable-commit rates in ``folder``; the fsync loop's median, the ceiling.

    Three runs a second apart, each printed: on a disk other work shares, one run can be
    far off."""
    disk, sqlite = [], []
    for run in range(runs):
        if run:
            time.sleep(1)
        disk.append(fsync_rate(folder))
        sqlite.append(sqlite_commit_rate(folder))
    median = statistics.median(disk)
    print(
        f"ceiling in {folder}: the disk's durable commits {median:.0f}/s (write 100 bytes + fsync, in a loop; "
        f"runs {', '.join(f'{rate:.0f}' for rate in disk)}); SQLite single-row commits {statistics.median(sqlite):.0f}/s "
        f"(WAL, synchronous=FULL; runs {', '.join(f'{rate:.0f}' for rate in sqlite)}); goal on SQLite: at least {median / 2:.0f} subm/s"
    )
    return median


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


#: Answers every body carries (set by main from the definition): the context question's
#: first option and "na" for the questions that do not apply under it; and its version.
FIXED: dict[str, str] = {}
VERSION = 1


def bodies(questions: list[str], kind: str, rng: random.Random):
    """Endless submissions: ``questions`` (those that apply) answered at random."""
    while True:
        answers = {**FIXED, **{q: rng.choice([0, 1, 2]) for q in questions}}
        if kind == "json":
            yield {
                "json": {
                    "assessment": "contract-check",
                    "lang": rng.choice(["nl", "en"]),
                    "version": VERSION,
                    "answers": answers,
                    "consent": False,
                    "website": "",
                }
            }
        else:
            yield {"data": {"lang": "nl", "version": str(VERSION), **{f"answer-{q}": str(v) for q, v in answers.items()}}}


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
            started, wall = time.perf_counter(), time.time()
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
                    sent_at[response.json()["id"]] = wall
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


# Notifications: the same load with and without them (issue 11)

VARIANTS = ("off", "Maildir", "SMTP")
ROUNDS = (VARIANTS, tuple(reversed(VARIANTS)))  # each variant twice, in alternating order
SETTLE_SECONDS = 120  # at most this long for the last deliveries after the load
IDLE_SUBMISSIONS, IDLE_GAP = 30, 0.3  # one submission at a time on an idle server


# A real SMTP server in a process of its own: in the benchmark's process it would take
# the GIL from the load generator, and the load it can send would drop with every mail
SMTP_SINK = """
import sys, time
from aiosmtpd.controller import Controller

arrivals = open(sys.argv[2], "a", buffering=1)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        key = envelope.content.split(b"Message-ID: <", 1)[1].split(b".", 1)[0].decode()
        arrivals.write(f"{key} {time.time()}\\n")
        return "250 OK"


controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes it
controller.stop()
"""


class Sinks:
    """Where the mail goes, and when each message arrived (wall clock, by submission id)."""

    def __init__(self, work: Path):
        self.work = work
        self.runs = 0
        self.smtp: subprocess.Popen | None = None

    def environment(self, variant: str) -> tuple[dict[str, str], Callable[[], int], Callable[[], dict[str, float]]]:
        """The server's settings for ``variant``, and two functions: how many messages
        arrived so far (cheap, to wait on), and their arrival times."""
        from local_server import free_port

        self.runs += 1
        self.close()
        if variant == "off":
            return {}, lambda: 0, dict
        if variant == "Maildir":
            folder = self.work / f"mail{self.runs}"
            return {"NOTIFY": "all", "MAILDIR": str(folder)}, lambda: maildir_count(folder), lambda: maildir_arrivals(folder)
        port, log = free_port(), self.work / f"smtp{self.runs}.log"
        log.touch()
        self.smtp = subprocess.Popen([sys.executable, "-c", SMTP_SINK, str(port), str(log)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.smtp.stdout.readline().strip() == "ready", "the SMTP sink did not start"
        smtp = {"SMTP_URL": f"smtp://127.0.0.1:{port}", "NOTIFY_TO": "a@example.nl", "NOTIFY_FROM": "b@example.nl"}
        return {"NOTIFY": "all", **smtp}, lambda: log.read_text().count("\n"), lambda: smtp_arrivals(log)

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.stdin.close()
            self.smtp.wait(10)
            self.smtp = None


def smtp_arrivals(log: Path) -> dict[str, float]:
    found = {}
    for line in log.read_text().splitlines():
        key, _, when = line.partition(" ")
        found[key] = float(when)
    return found


def message_key(content: bytes) -> str:
    """The submission id in a message's Message-ID (``<id.submission@domain>``)."""
    return content.split(b"Message-ID: <", 1)[1].split(b".", 1)[0].decode()


def maildir_count(folder: Path) -> int:
    try:
        return len(os.listdir(folder / "new"))
    except OSError:
        return 0


def maildir_arrivals(folder: Path) -> dict[str, float]:
    """Submission id and the time its message was written, of every message in the Maildir's new/."""
    found = {}
    for path in (folder / "new").glob("*") if (folder / "new").is_dir() else ():
        with path.open("rb") as file:
            found[message_key(file.read(4096))] = path.stat().st_mtime
    return found


def worker_pids(pid: int) -> list[int]:
    return children(pid) if Path(f"/proc/{pid}").exists() else []


def notification_run(site: Path, database: Path, endpoint: str, questions: list[str], env: dict[str, str], count, arrivals) -> dict:
    """JSON submissions at concurrency 8 against a fresh server, then the wait for the last deliveries."""
    server = local_server(site, database, **env)
    server.start()
    sent_at: dict[str, float] = {}
    try:
        time.sleep(1.0)  # the worker process is up
        workers = worker_pids(server.process.pid)
        cpu = cpu_seconds(server.process.pid), sum(cpu_seconds(pid) for pid in workers)
        latencies, failures, elapsed = asyncio.run(load(server.url, endpoint, questions, 8, 1500, "json", PHASE_SECONDS, sent_at=sent_at))
        cpu = cpu_seconds(server.process.pid) - cpu[0], sum(cpu_seconds(pid) for pid in workers) - cpu[1]
        during = count()
        load_ended, deadline = time.time(), time.monotonic() + SETTLE_SECONDS
        while env and count() < len(sent_at) and time.monotonic() < deadline:
            time.sleep(0.1)
        arrived = arrivals()
        settled = max(arrived.values(), default=load_ended) - load_ended
    finally:
        server.stop()
    delays = [arrived[key] - sent_at[key] for key in sent_at if key in arrived]
    return {
        "rate": len(latencies) / elapsed,
        "p99": percentile(latencies, 0.99) * 1000,
        "failed": failures,
        "sent": len(sent_at),
        "during": during,
        "arrived": len(delays),
        "settled": settled,
        "delays": delays,
        "server_cpu": cpu[0] / max(1, len(latencies)) * 1000,
        "worker_cpu": cpu[1] / max(1, len(delays)) * 1000,
    }


def idle_delivery(site: Path, database: Path, endpoint: str, questions: list[str], env: dict[str, str], count, arrivals) -> list[float]:
    """Seconds from submit to delivered mail, one submission at a time on an otherwise idle server."""
    server = local_server(site, database, **env)
    server.start()
    sent_at: dict[str, float] = {}
    try:
        time.sleep(1.0)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for body in itertools.islice(bodies(questions, "json", random.Random(1)), IDLE_SUBMISSIONS):
                started = time.time()
                sent_at[client.post(endpoint, **body).json()["id"]] = started
                time.sleep(IDLE_GAP)
        deadline = time.monotonic() + 30
        while count() < len(sent_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        arrived = arrivals()
    finally:
        server.stop()
    return [arrived[key] - sent_at[key] for key in sent_at if key in arrived]


def side_effects(site: Path, work: Path, endpoint: str, questions: list[str]) -> bool:
    import socket

    from support import build_forwarding

    # NOTIFY=all only beside a site whose privacy statement says every submission is passed on
    # (kennisbank serve refuses it otherwise): the project built once more with forwarding: all
    print("building the site with extra.operator.forwarding: all for NOTIFY=all")
    built = build_forwarding(work / "forwarding", crm=False)
    if built.returncode != 0:
        print(built.output)
        return False
    site = built.site
    ok = True
    sinks = Sinks(work)
    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    print("\nnotifications (NOTIFY=all: every submission emailed), json c=8, 1500 submissions; each variant twice, in alternating order")
    print(
        f"{'run':<5}{'notifications':<15}{'subm/s':>8}{'p99 ms':>8}{'server CPU ms/subm':>20}{'worker CPU ms/mail':>20}"
        f"{'mailed during load':>20}{'all mailed after':>18}{'submit to mail p50/p99 s':>26}"
    )
    try:
        for number, order in enumerate(ROUNDS, start=1):
            for variant in order:
                env, count, arrivals = sinks.environment(variant)
                run = notification_run(site, work / f"notify-{variant}-{number}.sqlite3", endpoint, questions, env, count, arrivals)
                runs[variant].append(run)
                ok &= run["failed"] == 0 and run["arrived"] == (run["sent"] if env else 0)
                mailed = f"{run['during']} / {run['sent']}" if env else "-"
                after = f"{run['settled']:.1f} s" if env else "-"
                delays = f"{percentile(run['delays'], 0.5):.2f} / {percentile(run['delays'], 0.99):.2f}" if env else "-"
                worker = f"{run['worker_cpu']:.2f}" if env else "-"
                print(
                    f"{number:<5}{variant:<15}{run['rate']:>8.0f}{run['p99']:>8.1f}{run['server_cpu']:>20.2f}{worker:>20}{mailed:>20}{after:>18}{delays:>26}",
                    flush=True,
                )
        base = statistics.mean(run["rate"] for run in runs["off"])
        base_p99 = statistics.mean(run["p99"] for run in runs["off"])
        print(f"\n{'mean of both runs':<20}{'subm/s':>8}{'vs. off':>9}{'p99 ms':>8}{'vs. off':>9}   (goal: within 10 %)")
        for variant in VARIANTS:
            rate = statistics.mean(run["rate"] for run in runs[variant])
            p99 = statistics.mean(run["p99"] for run in runs[variant])
            print(f"{variant:<20}{rate:>8.0f}{rate / base - 1:>+9.0%}{p99:>8.1f}{p99 / base_p99 - 1:>+9.0%}")

        print(f"\nsubmit to delivered mail on an idle server: {IDLE_SUBMISSIONS} submissions, one every {IDLE_GAP} s")
        for variant in VARIANTS[1:]:
            env, count, arrivals = sinks.environment(variant)
            delays = idle_delivery(site, work / f"idle-{variant}.sqlite3", endpoint, questions, env, count, arrivals)
            ok &= len(delays) == IDLE_SUBMISSIONS
            print(
                f"{variant:<15}{len(delays)} of {IDLE_SUBMISSIONS} arrived, p50 {percentile(delays, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(delays, 0.99) * 1000:.0f} ms, max {max(delays, default=float('nan')) * 1000:.0f} ms"
            )
    finally:
        sinks.close()

    # 1,000 slow clients hold half a request line open the whole time (issue 10)
    print(f"\n{'json c=8, 1500 submissions':<44}{'subm/s':>9}{'p99 ms':>9}{'vs. off':>11}")
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


def family_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children (the workers of ``--workers N``)."""
    return cpu_seconds(pid) + sum(family_cpu(child) for child in worker_pids(pid))


def family_rss_mb(pid: int) -> float:
    """The peak RSS of ``pid`` plus its children's."""
    return peak_rss_mb(pid) + sum(family_rss_mb(child) for child in worker_pids(pid))


def settle(pid: int, workers: int, longest: float = 30.0) -> None:
    """Wait until the server's ``workers`` are all up and idle: the first answers before the
    others have finished starting, and their start takes CPU the load would get."""
    deadline = time.monotonic() + longest
    while workers > 1 and len(uvicorn_workers(pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    before = family_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = family_cpu(pid)
        if now - before < 0.05:
            return
        before = now


def busiest(pids: list[int], seconds: float) -> int:
    """The one of ``pids`` that used the most CPU in the next ``seconds``."""
    before = {pid: cpu_seconds(pid) for pid in pids}
    time.sleep(seconds)
    return max(pids, key=lambda pid: cpu_seconds(pid) - before[pid])


def load_phases(site: Path, work: Path, endpoint: str, questions: list[str], disk: float, label: str = "SQLite", **env: str) -> bool:
    """1. Load: every phase against one server (``env``: its DATABASE_URL and WORKERS, if not the default)."""
    ok = True
    database = work / "load.sqlite3"
    url = env.get("DATABASE_URL", f"sqlite:///{database}")
    server = local_server(site, database, **env)
    server.start()
    settle(server.process.pid, int(env.get("WORKERS", "1")))
    print(f"\n{label}")
    print(f"{'phase':<12}{'requests':>9}{'failed':>8}{'subm/s':>9}{'of ceiling':>12}{'p50 ms':>9}{'p99 ms':>9}{'server CPU ms/req':>19}{'peak RSS MB':>13}")
    best = 0.0
    try:
        for phase, concurrency, total, kind in PHASES:
            cpu = family_cpu(server.process.pid)
            latencies, failures, elapsed = asyncio.run(load(server.url, endpoint, questions, concurrency, total, kind, PHASE_SECONDS))
            cpu = (family_cpu(server.process.pid) - cpu) / max(1, len(latencies)) * 1000
            ok &= failures == 0
            rate = len(latencies) / elapsed
            best = max(best, rate)
            print(
                f"{phase:<12}{len(latencies):>9}{failures:>8}{rate:>9.0f}{rate / disk:>12.0%}"
                f"{percentile(latencies, 0.5) * 1000:>9.1f}{percentile(latencies, 0.99) * 1000:>9.1f}"
                f"{cpu:>19.2f}{family_rss_mb(server.process.pid):>13.1f}",
                flush=True,
            )
    finally:
        server.stop()
    store = open_store(url, work)
    print(f"stored after the load: {store.stats().count}; load average now {os.getloadavg()[0]:.2f}")
    store.close()
    if label == "SQLite":
        verdict = "met" if best >= disk / 2 else "missed"
        print(f"goal (at least half the ceiling, {disk / 2:.0f} subm/s) {verdict}: best {best:.0f} subm/s, {best / disk:.0%} of {disk:.0f}")
    return ok


def durability(site: Path, work: Path, endpoint: str, questions: list[str]) -> bool:
    """3. Durability: SIGKILL under load, restart, every acknowledged submission found."""
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
    after = httpx.post(server.url + endpoint, json={"version": VERSION, "answers": {**FIXED, **dict.fromkeys(questions, 1)}}, timeout=10)
    store = open_store(f"sqlite:///{database}", work)
    found_ids = {s.public_id for s in store.all()}
    store.close()
    server.stop()
    found = sum(1 for public_id in acknowledged if public_id in found_ids)
    unacknowledged = len(found_ids) - len(set(acknowledged) & found_ids) - 1
    print(f"restarted: accepts submissions again ({after.status_code}); stored but cut off before the reply: {unacknowledged}")
    print(f"acknowledged {len(acknowledged)} / found {found}")
    return found == len(acknowledged) and after.status_code == 201 and len(acknowledged) > 0


def pg_commit_rate(url: str, count: int = CEILING_COMMITS) -> float:
    """PostgreSQL's own durable commits per second: one small row per transaction, one connection."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE commit_probe (id bigserial PRIMARY KEY, body text)")
        done, started = 0, time.perf_counter()
        while done < count and time.perf_counter() - started < CEILING_SECONDS:
            connection.execute("INSERT INTO commit_probe (body) VALUES (%s)", (os.urandom(100).hex(),))
            done += 1
        rate = done / (time.perf_counter() - started)
        connection.execute("DROP TABLE commit_probe")
    return rate


def uvicorn_workers(pid: int) -> list[int]:
    """The worker processes of ``kennisbank serve --workers N`` (uvicorn spawns them)."""
    found = []
    for child in worker_pids(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def worker_kill(site: Path, work: Path, endpoint: str, questions: list[str], url: str) -> bool:
    """SIGKILL of one of two workers during load at concurrency 16; every acknowledged submission found."""
    import signal

    print("\ndurability, PostgreSQL with 2 workers: SIGKILL of one worker during load at concurrency 16")
    server = local_server(site, work / "unused.sqlite3", DATABASE_URL=url, WORKERS="2")
    server.start()
    acknowledged: list[str] = []
    try:
        settle(server.process.pid, 2)
        victim = 0

        async def load_and_kill():
            nonlocal victim
            task = asyncio.create_task(load(server.url, endpoint, questions, 16, 10**9, "json", 2 * KILL_AFTER, ids=acknowledged))
            # the worker that serves most of the load (the kernel need not share it out evenly)
            victim = await asyncio.to_thread(busiest, uvicorn_workers(server.process.pid), KILL_AFTER)
            os.kill(victim, signal.SIGKILL)
            return await task

        _, failures, _ = asyncio.run(load_and_kill())
        after = httpx.post(server.url + endpoint, json={"version": VERSION, "answers": {**FIXED, **dict.fromkeys(questions, 1)}}, timeout=10)
    finally:
        server.stop()
    store = open_store(url, work)
    found_ids = {s.public_id for s in store.all()}
    store.close()
    found = sum(1 for public_id in acknowledged if public_id in found_ids)
    print(f"killed worker {victim} after {KILL_AFTER} s: {failures} request(s) cut off; the server answers after it ({after.status_code})")
    print(f"acknowledged {len(acknowledged)} / found {found}")
    return found == len(acknowledged) and after.status_code == 201 and len(acknowledged) > 0


def postgresql(site: Path, work: Path, endpoint: str, questions: list[str], disk: float) -> bool:
    """4. The same load on PostgreSQL (a throwaway server with fsync on, in a temporary folder), 1 and 2 workers."""
    from support import PostgresServer

    ok = True
    server = PostgresServer(durable=True)
    try:
        print(
            f"\nPostgreSQL in {server.folder} (fsync on, synchronous_commit on): single-row commits {pg_commit_rate(server.fresh()):.0f}/s "
            f"(the disk's fsync loop: {disk:.0f}/s)"
        )
        for workers in (1, 2):
            label = f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"
            ok &= load_phases(site, work, endpoint, questions, disk, label, DATABASE_URL=server.fresh(), WORKERS=str(workers))
        ok &= worker_kill(site, work, endpoint, questions, server.fresh())
    finally:
        server.stop()
    return ok


# The floor (issue 21): the receiver's server CPU per submission beside a bare endpoint's

FLOOR_ROUNDS = 3  # each side this often, alternating, so both see the same machine
FLOOR_REQUESTS = 1500
FLOOR_GOAL = 1.5  # the receiver at most this many times the floor's CPU per submission
FLOOR_LIMIT = 2.2  # and never worse than where it stood before the restructure


class FloorServer:
    """``bench/floor.py`` in a process of its own, on a free loopback port."""

    def __init__(self, site: Path, database: Path):
        self.site, self.database = site, database
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 30) -> None:
        from local_server import free_port

        port = free_port()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "floor.py"), str(port), str(self.site), str(self.database)])
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bench/floor.py exited with {self.process.returncode}")
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"bench/floor.py did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def cpu_per_submission(server, endpoint: str, questions: list[str]) -> tuple[float, float, int]:
    """JSON at concurrency 8 against a started ``server``: server CPU ms per submission, submissions/s, failures."""
    settle(server.process.pid, 1)
    cpu = family_cpu(server.process.pid)
    latencies, failures, elapsed = asyncio.run(load(server.url, endpoint, questions, 8, FLOOR_REQUESTS, "json", PHASE_SECONDS))
    used = (family_cpu(server.process.pid) - cpu) / max(1, len(latencies)) * 1000
    return used, len(latencies) / elapsed, failures


def floor(site: Path, work: Path, endpoint: str, questions: list[str]) -> bool:
    """The receiver against the floor: server CPU per submission, each side in alternate rounds, and the ratio."""
    print(f"\nfloor: server CPU per submission, JSON c=8, {FLOOR_REQUESTS} submissions a round, {FLOOR_ROUNDS} rounds a side, alternating")
    print(f"{'round':<7}{'side':<10}{'subm/s':>9}{'server CPU ms/subm':>20}")
    figures: dict[str, list[float]] = {"floor": [], "receiver": []}
    ok = True
    for round_number in range(1, FLOOR_ROUNDS + 1):
        order = ("floor", "receiver") if round_number % 2 else ("receiver", "floor")
        for side in order:
            database = work / f"{side}-{round_number}.sqlite3"
            server = FloorServer(site, database) if side == "floor" else local_server(site, database)
            server.start()
            try:
                used, rate, failures = cpu_per_submission(server, endpoint, questions)
            finally:
                server.stop()
            ok &= failures == 0
            figures[side].append(used)
            print(f"{round_number:<7}{side:<10}{rate:>9.0f}{used:>20.3f}{'' if not failures else f'  ({failures} failed)':>}", flush=True)
    low, ours = statistics.median(figures["floor"]), statistics.median(figures["receiver"])
    ratio = ours / low
    verdict = "goal met" if ratio <= FLOOR_GOAL else ("within the limit, goal missed" if ratio <= FLOOR_LIMIT else "WORSE than the limit")
    print(f"median: floor {low:.3f} ms, receiver {ours:.3f} ms per submission: {ratio:.2f}x the floor ({verdict}: goal {FLOOR_GOAL}x, limit {FLOOR_LIMIT}x)")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    return ok and ratio <= FLOOR_LIMIT


SECTIONS = ("load", "floor", "notifications", "durability", "postgresql")


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    if set(chosen) - set(SECTIONS):
        print(f"usage: bench/receiver.py [{' '.join(SECTIONS)}] (default: all)", file=sys.stderr)
        return 2
    config = load_mkdocs(ROOT / "mkdocs.yml")
    assessment = load_definitions(config.assessment_dir, config.locales)["contract-check"]
    global FIXED, VERSION
    context = assessment.context.options[0].id if assessment.context else None
    FIXED = {assessment.context.id: context} if assessment.context else {}
    FIXED.update({q.id: "na" for q in assessment.questions if not q.applies(context)})
    VERSION = assessment.version
    questions = [q.id for q in assessment.questions if q.applies(context)]
    endpoint = config.endpoint.format(id=assessment.id)
    ok = True
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as folder:
        work = Path(folder)
        site = site_dir(work)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), database in {work} (SQLite, WAL, synchronous=FULL)")
        load_average = os.getloadavg()[0]
        quiet = "" if load_average < 1.5 else ": the machine is busy, the figures vary more than usual"
        print(f"load average {load_average:.2f} at the start{quiet}\n")

        disk = ceiling(work)
        if "load" in chosen:
            ok &= load_phases(site, work, endpoint, questions, disk)
        if "floor" in chosen:
            ok &= floor(site, work, endpoint, questions)
        if "notifications" in chosen:
            # notifications must never sit on the request's path (issue 11), and
            # slow clients must not slow the others down (issue 10)
            ok &= side_effects(site, work, endpoint, questions)
        if "durability" in chosen:
            ok &= durability(site, work, endpoint, questions)
        if "postgresql" in chosen:
            ok &= postgresql(site, work, endpoint, questions, disk)
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
