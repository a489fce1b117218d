"""What the audit measures in a real browser, and the budgets it measures against.

Shared by ``audit/run.py`` (``make audit``) and the tests (``make test``, which load
this file through ``tests/support.py``): Debian's Chromium and its flags, the page
weight of a first visit, the axe-core accessibility check, the layout shifts of a
load, and the budgets from ``audit/budgets.json``. Nothing here runs Lighthouse or
starts a server; every function takes a Playwright ``Browser`` and a URL.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

AUDIT_DIR = Path(__file__).resolve().parent
BUDGETS_FILE = AUDIT_DIR / "budgets.json"

# Debian's Chromium as root in a container, defined once for the audit and the tests
# (tests/support.py takes it from here): Playwright cannot download its own browser on
# these machines, and Chromium will not start as root with its sandbox.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Lighthouse 12's screen sizes: moto g power (mobile) and its desktop preset. (Playwright's
# is_mobile on top hides the header shift Lighthouse's mobile run measures.)
VIEWPORTS = {
    "mobile": {"viewport": {"width": 412, "height": 823}, "device_scale_factor": 1.75},
    "desktop": {"viewport": {"width": 1350, "height": 940}, "device_scale_factor": 1},
}
# Lighthouse's mobile network: 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up.
SLOW_4G = {"offline": False, "latency": 150, "downloadThroughput": 1638.4 * 1024 / 8, "uploadThroughput": 750 * 1024 / 8}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
COLOR_SCHEMES = ("light", "dark")


# Budgets


@dataclass(frozen=True)
class Budgets:
    """``audit/budgets.json``, read once."""

    pages: tuple[str, ...]
    lighthouse: dict[str, dict[str, int]]  # form factor -> category -> lowest score
    max_cumulative_layout_shift: float
    max_axe_violations: int
    max_third_party_requests: int
    max_bytes: dict[str, int]  # page path -> most bytes transferred

    @classmethod
    def load(cls, path: Path = BUDGETS_FILE) -> Budgets:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            pages=tuple(data["pages"]),
            lighthouse=data["lighthouse"],
            max_cumulative_layout_shift=data["max_cumulative_layout_shift"],
            max_axe_violations=data["max_axe_violations"],
            max_third_party_requests=data["max_third_party_requests"],
            max_bytes={page: limits["max_bytes"] for page, limits in data["page_weight"].items()},
        )


# Page weight


@dataclass(frozen=True)
class Transfer:
    """One network request of a page view and the bytes it cost."""

    url: str
    resource_type: str
    status: int | None  # None: the request failed (refused, blocked)
    bytes: int

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


@dataclass
class PageWeight:
    """Every request of one first visit (empty cache) until the network was idle."""

    url: str
    transfers: list[Transfer] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.transfers)

    @property
    def transferred(self) -> int:
        return sum(t.bytes for t in self.transfers)

    @property
    def bytes_by_type(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for transfer in self.transfers:
            totals[transfer.resource_type] += transfer.bytes
        return dict(totals.most_common())

    @property
    def hosts(self) -> list[str]:
        return sorted({t.host for t in self.transfers})

    @property
    def third_party_requests(self) -> list[Transfer]:
        """Requests to any host (and port) other than the one that served the page."""
        own = urlsplit(self.url).netloc
        return [t for t in self.transfers if t.host != own]

    @property
    def third_party_hosts(self) -> list[str]:
        return sorted({t.host for t in self.third_party_requests})

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "requests": self.requests,
            "transferred": self.transferred,
            "bytes_by_type": self.bytes_by_type,
            "hosts": self.hosts,
            "third_party_hosts": self.third_party_hosts,
            "transfers": [t.__dict__ for t in self.transfers],
        }


def measure_weight(browser, url: str) -> PageWeight:
    """Load ``url`` once in a fresh context with the cache off and count what crossed the network.

    Sizes are what the browser received: compressed body plus response headers
    (Playwright's ``request.sizes()``). Requests of the page's workers are included.
    """
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        finished, failed = [], []
        context.on("requestfinished", lambda request: finished.append(request))
        context.on("requestfailed", lambda request: failed.append(request))
        page.goto(url, wait_until="networkidle")
        transfers = [_transfer(request) for request in finished if _is_network(request.url)]
        transfers += [Transfer(r.url, r.resource_type, None, 0) for r in failed if _is_network(r.url)]
        return PageWeight(url, transfers)
    finally:
        context.close()


def _is_network(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https", "ws", "wss")


def _transfer(request) -> Transfer:
    sizes = request.sizes()
    response = request.response()
    body = sizes["responseBodySize"]
    if body == 0 and response is not None and response.status == 200 and request.method == "GET":
        # Chromium reports no body for a dedicated worker's own script: fetch it again
        # the same way (same Accept-Encoding) and count the bytes on the wire.
        body = _encoded_body_size(request.url, request.all_headers().get("accept-encoding", ""))
    return Transfer(request.url, request.resource_type, response.status if response else None, body + sizes["responseHeadersSize"])


def _encoded_body_size(url: str, accept_encoding: str) -> int:
    fetch = urllib.request.Request(url, headers={"Accept-Encoding": accept_encoding})
    with urllib.request.urlopen(fetch, timeout=10) as response:  # urllib does not decompress
        return len(response.read())


# Layout shifts


@dataclass(frozen=True)
class LayoutShift:
    """One layout shift seen by Chromium, and the elements that moved."""

    value: float
    time_ms: int
    sources: tuple[str, ...]  # "DIV.md-select: x 1233 -> 999, y 0 -> 0"


_RECORD_SHIFTS = """
window.__kbShifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    if (entry.hadRecentInput) continue;
    window.__kbShifts.push({
      value: entry.value,
      time: Math.round(entry.startTime),
      sources: (entry.sources || []).map(s => {
        const n = s.node, p = s.previousRect, c = s.currentRect;
        const name = n ? n.nodeName + (n.id ? "#" + n.id : "") + (n.classList && n.classList.length ? "." + [...n.classList].join(".") : "") : "?";
        return `${name}: x ${p.x} -> ${c.x}, y ${p.y} -> ${c.y}, ${p.width}x${p.height} -> ${c.width}x${c.height}`;
      }),
    });
  }
}).observe({type: "layout-shift", buffered: true});
"""


def layout_shifts(browser, url: str, form_factor: str = "desktop") -> list[LayoutShift]:
    """The layout shifts of loading ``url`` at Lighthouse's ``form_factor`` screen size
    over Lighthouse's slow 4G, with the elements that moved (what Lighthouse's own
    layout-shifts audit would show). On the loopback network without a throttle the
    first paint often waits for every script, and a shift is not seen. Launch the
    browser with scrollbars (Playwright hides them: ``ignore_default_args=
    ["--hide-scrollbars"]``), or shifts caused by a scrollbar are missed."""
    context = browser.new_context(**VIEWPORTS[form_factor])
    try:
        page = context.new_page()
        page.add_init_script(_RECORD_SHIFTS)
        context.new_cdp_session(page).send("Network.emulateNetworkConditions", SLOW_4G)
        page.goto(url, wait_until="networkidle")
        page.wait_for_timeout(300)  # a shift is reported after the frame it happened in
        return [LayoutShift(s["value"], s["time"], tuple(s["sources"])) for s in page.evaluate("window.__kbShifts")]
    finally:
        context.close()


# Accessibility (axe-core)


@dataclass(frozen=True)
class Violation:
    """One failed axe rule and the elements it failed on."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]
    snippets: tuple[str, ...]

    @classmethod
    def from_axe(cls, data: dict) -> Violation:
        nodes = data.get("nodes", [])
        return cls(
            rule=data["id"],
            impact=data.get("impact") or "",
            help=data.get("help", ""),
            help_url=data.get("helpUrl", ""),
            targets=tuple(" ".join(map(str, node.get("target", []))) for node in nodes),
            snippets=tuple(node.get("html", "")[:200] for node in nodes),
        )


@dataclass
class AxeResult:
    """axe-core on one page, in one colour scheme, in one state of the page."""

    url: str
    scheme: str
    state: str  # "loaded", or "answered" when every assessment question has an answer
    violations: list[Violation]

    @property
    def count(self) -> int:
        return len(self.violations)

    def report(self) -> str:
        lines = [f"{self.url} ({self.scheme}, {self.state}): {self.count} axe violation(s)"]
        for violation in self.violations:
            lines.append(f"  {violation.rule} [{violation.impact}] {violation.help} ({violation.help_url})")
            lines += [f"    {target}: {snippet}" for target, snippet in zip(violation.targets, violation.snippets, strict=False)]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**self.__dict__, "violations": [v.__dict__ for v in self.violations]}


def run_axe(browser, url: str, scheme: str = "light", answer: bool = False) -> list[AxeResult]:
    """axe-core (``AXE_TAGS``) on ``url`` as loaded, in colour scheme ``scheme``. With
    ``answer``, and if the page has a self-assessment, also after answering every
    question, so the result is audited too."""
    context = browser.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(url, wait_until="networkidle")
        results = [AxeResult(url, scheme, "loaded", _axe(page))]
        if answer and page.locator("[data-kb-assessment]").count():
            answer_every_question(page)
            results.append(AxeResult(url, scheme, "answered", _axe(page)))
        return results
    finally:
        context.close()


def _axe(page) -> list[Violation]:
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    response = Axe().run(page, options=options).response
    return [Violation.from_axe(v) for v in response["violations"]]


def answer_every_question(page) -> None:
    """Choose the middle option of every question, so the score and advice both show."""
    page.wait_for_selector("[data-kb-progress]:not([hidden])")
    questions = page.locator("[data-kb-assessment] [data-kb-question]")
    for index in range(questions.count()):
        options = questions.nth(index).locator("input[type=radio]")
        options.nth(options.count() // 2).check()
    page.locator("[data-kb-result]").first.wait_for(state="visible")
