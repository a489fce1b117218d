"""Static serving with reach counting on and off, side by side (issue 24: within 5 %).

Starts `kennisbank serve` in a subprocess on a free loopback port, with a database in a
temporary folder, RATE_LIMIT=off and NOTIFY=off, once with REACH=on and once with
REACH=off, in alternate rounds (on, off, off, on, ...: a drift of the machine falls on
both sides), a fresh server each round. Each round GETs the site's HTML pages as a
browser does (a browser's User-Agent, brotli, now and then a referrer and campaign tags:
every request is counted) with httpx at concurrency 8 for ROUND_SECONDS, after a short
warm-up. Prints every round's pages per second, p50/p99 latency and the server's CPU per
request, then the medians side by side and the change of "on" against "off". With
counting on, the server's counts are checked after its shutdown: every counted view
is in the database (the shutdown flush).

    .venv/bin/python bench/reach.py [ROUNDS] [ROUND_SECONDS]

Loopback only, a minute or so. Run it on a quiet machine (the load average is printed
first). Uses the built site in SITE_DIR or site/ (`make build`), else builds one.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from receiver import cpu_seconds, local_server, site_dir  # noqa: E402

from kennisbank.manifest import load_manifest  # noqa: E402
from kennisbank.server.db.store import open_store  # noqa: E402

CONCURRENCY = 8
WARM_UP = 1.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
VARIANTS = [  # (query, headers): what readers bring along
    ("", {}),
    ("", {"Referer": "https://www.linkedin.com/"}),
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=june", {}),
    ("", {"Referer": "https://www.google.com/"}),
]


async def load(url: str, pages: list[str], seconds: float) -> tuple[int, list[float], int]:
    """GET ``pages`` in turn from CONCURRENCY workers for ``seconds``; (pages served, latencies, failures)."""
    order = itertools.cycle([(page, query, headers) for page in pages for query, headers in VARIANTS])
    latencies: list[float] = []
    failures = 0
    headers = {"User-Agent": BROWSER, "Accept": "text/html", "Accept-Encoding": "br, gzip"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10, headers=headers) as client:
        stop_at = time.perf_counter() + seconds

        async def worker():
            nonlocal failures
            while time.perf_counter() < stop_at:
                page, query, extra = next(order)
                started = time.perf_counter()
                try:
                    response = await client.get(page + query, headers=extra)
                    await response.aread()
                except httpx.HTTPError:
                    failures += 1
                    continue
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(latencies), latencies, failures


def round_(site: Path, work: Path, reach: str, number: int, pages: list[str], seconds: float) -> dict:
    database = work / f"reach-{number}-{reach}.sqlite3"
    server = local_server(site, database, REACH=reach)
    url = server.start()
    try:
        pid = server.process.pid
        asyncio.run(load(url, pages, WARM_UP))
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        served, latencies, failures = asyncio.run(load(url, pages, seconds))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu
    finally:
        server.stop()
    store = open_store(f"sqlite:///{database}", work)
    try:
        counted = store.run_sql("SELECT coalesce(sum(n), 0) FROM reach_views")[0][0]
    finally:
        store.close()
    latencies.sort()
    return {
        "reach": reach,
        "rate": served / elapsed,
        "p50": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "cpu_us": 1e6 * cpu / served if served else float("nan"),
        "failures": failures,
        "served": served,
        "counted": counted,
    }


def main(argv: list[str]) -> int:
    rounds = int(argv[0]) if argv else 6
    seconds = float(argv[1]) if len(argv) > 1 else 8.0
    with tempfile.TemporaryDirectory(prefix="kb-bench-reach-") as folder:
        work = Path(folder)
        site = site_dir(work)
        pages = sorted(load_manifest(site).pages)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s); {len(pages)} HTML pages, concurrency {CONCURRENCY}, {seconds:g} s a round")
        load_average = os.getloadavg()[0]
        quiet = "" if load_average < 1.5 else ": the machine is busy, the figures vary more than usual"
        print(f"load average {load_average:.2f} at the start{quiet}\n")
        order = [("on", "off") if n % 2 == 0 else ("off", "on") for n in range(rounds // 2 or 1)]
        results = []
        print(f"{'round':>5}  {'REACH':5}  {'pages/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'CPU us/page':>11}  {'counted':>8}")
        for number, pair in enumerate(order):
            for reach in pair:
                result = round_(site, work, reach, number, pages, seconds)
                results.append(result)
                counted = f"{result['counted']}" if reach == "on" else "-"
                print(
                    f"{number + 1:>5}  {reach:5}  {result['rate']:8.0f}  {result['p50']:7.2f}  {result['p99']:7.2f}  {result['cpu_us']:11.0f}  {counted:>8}"
                    + (f"  ({result['failures']} failed)" if result["failures"] else "")
                )
        ok = True
        for result in results:
            # the warm-up's views are counted too: at least every view of the round is there
            if result["reach"] == "on" and result["counted"] < result["served"]:
                print(f"counted {result['counted']} of {result['served']} views served: the shutdown lost counts")
                ok = False
        on = [r for r in results if r["reach"] == "on"]
        off = [r for r in results if r["reach"] == "off"]
        rate_on, rate_off = statistics.median(r["rate"] for r in on), statistics.median(r["rate"] for r in off)
        cpu_on, cpu_off = statistics.median(r["cpu_us"] for r in on), statistics.median(r["cpu_us"] for r in off)
        print()
        print(f"{'':14}{'REACH=off':>12}{'REACH=on':>12}{'change':>10}")
        print(f"{'pages/s':14}{rate_off:12.0f}{rate_on:12.0f}{100 * (rate_on / rate_off - 1):+9.1f} %")
        print(f"{'CPU us/page':14}{cpu_off:12.0f}{cpu_on:12.0f}{100 * (cpu_on / cpu_off - 1):+9.1f} %")
        print(f"goal: throughput with counting on within 5 % of off ({'met' if rate_on >= 0.95 * rate_off else 'NOT met'})")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
