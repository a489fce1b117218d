"""Search benchmark: what a reader's first search costs, at N synthetic articles in both
languages (bench/build.py's articles), in Debian's Chromium against `kennisbank serve`.

For each language it opens the home page, waits until it has loaded, then presses "/",
types a query and waits for the first results. It prints the bytes transferred for
that search (as sent: compressed bodies and headers, from Playwright's request sizes),
the number of requests, and the time from the first key to the first results shown,
on loopback and on Lighthouse's slow 4G (150 ms round trip, 1.6 Mbit/s).

    .venv/bin/python bench/search.py          # N = 1000
    .venv/bin/python bench/search.py 100

The goal printed against: at most 160 KB transferred for the first search.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test harness that starts the server
sys.path.insert(0, str(ROOT / "audit"))  # Debian's Chromium and its flags, and the slow 4G profile

from local_server import LocalServer  # noqa: E402
from measure import CHROMIUM, CHROMIUM_ARGS, SLOW_4G  # noqa: E402

GOAL_KB = 160
VERBOSE = os.environ.get("VERBOSE") == "1"  # VERBOSE=1: every request of the search
QUERIES = {"": "leveranciers", "en/": "providers"}


def _bench_build():
    """bench/build.py, for its synthetic articles (one recipe for both benchmarks)."""
    spec = importlib.util.spec_from_file_location("bench_build", ROOT / "bench" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_site(work: Path, articles: int) -> Path:
    project = _bench_build().make_project(work / "project", articles, hooks=True, images=False)
    site = project / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"), "-d", str(site)]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"build of {project} failed:\n{done.stderr}")
    return site


def transferred(request) -> int:
    """Bytes a finished request took on the wire: headers and the (compressed) body."""
    size = request.sizes()
    response = request.response()
    # a worker's script reports no body size: its Content-Length says it (sent compressed)
    body = max(size["responseBodySize"], int((response.headers if response else {}).get("content-length", 0)))
    return body + size["responseHeadersSize"]


def first_search(browser, url: str, query: str, network: dict | None) -> tuple[int, int, float, int]:
    """(bytes, requests, ms to the first results, results shown) of the first search on ``url``."""
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if network:
        cdp.send("Network.emulateNetworkConditions", network)
    sizes: dict[str, int] = {}
    recording = {"on": False}

    def finished(request):  # the page's requests and its workers' (Pagefind fetches in a worker)
        if recording["on"]:
            sizes[request.url] = sizes.get(request.url, 0) + transferred(request)

    page.on("requestfinished", finished)
    page.goto(url, wait_until="networkidle")
    recording["on"] = True
    start = time.perf_counter()
    page.keyboard.press("/")
    page.keyboard.type(query)
    page.wait_for_selector(".md-search-result__item", timeout=120_000)
    elapsed = (time.perf_counter() - start) * 1000
    shown = page.locator(".md-search-result__item").count()
    page.wait_for_timeout(300)  # a request still finishing belongs to this search too
    recording["on"] = False
    context.close()
    if VERBOSE:
        for name, size in sizes.items():
            print(f"    {size:8} {name}")
    return sum(sizes.values()), len(sizes), elapsed, shown


def main(articles: int) -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="kb-bench-search-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        site = build_site(work, articles)
        entry = json.loads((site / "pagefind" / "pagefind-entry.json").read_text(encoding="utf-8"))
        pages = {code: data["page_count"] for code, data in entry["languages"].items()}
        print(f"{articles} articles per language: built in {time.perf_counter() - started:.1f} s; Pagefind indexed {pages}")
        server = LocalServer(site, work / "db.sqlite3", output=subprocess.DEVNULL, NOTIFY="off")
        base = server.start()
        worst = 0
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                print(f"{'page':6} {'query':14} {'network':9} {'KB sent':>8} {'requests':>8} {'ms to results':>14} {'results':>8}")
                for prefix, query in QUERIES.items():
                    for name, network in (("loopback", None), ("slow 4G", SLOW_4G)):
                        sent, requests, ms, shown = first_search(browser, f"{base}/{prefix}", query, network)
                        worst = max(worst, sent)
                        print(f"{'/' + prefix:6} {query:14} {name:9} {sent / 1000:8.1f} {requests:8} {ms:14.0f} {shown:8}")
                browser.close()
        finally:
            server.stop()
    verdict = "met" if worst <= GOAL_KB * 1000 else "NOT met"
    print(f"goal: at most {GOAL_KB} KB for the first search; largest {worst / 1000:.1f} KB: {verdict}")
    return 0 if worst <= GOAL_KB * 1000 else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))


# Side by side with Material's lunr search (make bench: bench/build.py calls compare)


def serve_static(site: Path):
    """A static server for ``site`` that sends a file's ``.br`` copy to a browser that
    accepts brotli, as a host of a static site would; (base URL, server)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        def send_head(self):
            path = Path(self.translate_path(self.path))
            if path.is_dir():
                path = path / "index.html"
            packed = path.with_name(path.name + ".br")
            if "br" in self.headers.get("Accept-Encoding", "") and packed.is_file():
                data = packed.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", self.guess_type(str(path)))
                self.send_header("Content-Encoding", "br")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return __import__("io").BytesIO(data)
            return super().send_head()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def lunr_first_search(browser, url: str, query: str) -> tuple[int, int, float, int]:
    """(bytes, requests, ms from the first key to results, results shown) of Material's
    lunr search on ``url``. Material's worker fetches the whole index when the page
    loads, before any key is pressed, so the bytes count every search request of the
    page from its load: the worker, the lunr language files and search_index.json."""
    context = browser.new_context()
    page = context.new_page()
    sizes: dict[str, int] = {}

    def finished(request):
        if "search" in request.url or "lunr" in request.url:
            sizes[request.url] = sizes.get(request.url, 0) + transferred(request)

    page.on("requestfinished", finished)
    page.goto(url, wait_until="networkidle")
    start = time.perf_counter()
    page.keyboard.press("/")
    page.keyboard.type(query)
    page.wait_for_selector(".md-search-result__item", timeout=120_000)
    elapsed = (time.perf_counter() - start) * 1000
    shown = page.locator(".md-search-result__item").count()
    context.close()
    if VERBOSE:
        for name, size in sizes.items():
            print(f"    {size:8} {name}")
    return sum(sizes.values()), len(sizes), elapsed, shown


def compare(site: Path, material_site: Path, work: Path) -> int:
    """The first search on loopback: Pagefind on ``site`` (this project's, served by
    ``kennisbank serve``) against lunr on ``material_site`` (Material's default, its
    files brotli-compressed beside themselves and served so). Prints both and the goal."""
    from playwright.sync_api import sync_playwright

    from kennisbank.assets import cache_dir, compress_site

    # only what the search fetches: every page of this site lists every page in its nav
    # (some 300 KB a page at 1,000 articles), and brotli 11 over all of it takes many minutes
    for folder in ("search", "assets/javascripts"):
        compress_site(material_site / folder, cache_dir())
    work.mkdir(parents=True, exist_ok=True)
    server = LocalServer(site, work / "db.sqlite3", output=subprocess.DEVNULL, NOTIFY="off")
    base = server.start()
    static, static_server = serve_static(material_site)
    worst = 0
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"{'search':>9} {'page':6} {'query':14} {'KB sent':>8} {'requests':>8} {'ms to results':>14} {'results':>8}")
            for prefix, query in QUERIES.items():
                sent, requests, ms, shown = first_search(browser, f"{base}/{prefix}", query, None)
                worst = max(worst, sent)
                print(f"{'pagefind':>9} {'/' + prefix:6} {query:14} {sent / 1000:8.1f} {requests:8} {ms:14.0f} {shown:8}", flush=True)
                sent, requests, ms, shown = lunr_first_search(browser, f"{static}/{prefix}", query)
                print(f"{'lunr':>9} {'/' + prefix:6} {query:14} {sent / 1000:8.1f} {requests:8} {ms:14.0f} {shown:8}", flush=True)
            browser.close()
    finally:
        server.stop()
        static_server.shutdown()
    print(f"first search, Pagefind: at most {worst / 1000:.1f} KB (goal <= {GOAL_KB} KB): {'met' if worst <= GOAL_KB * 1000 else 'NOT met'}")
    return worst
