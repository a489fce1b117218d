"""``make audit``: Lighthouse, axe-core and page weight on the built site, against the budgets.

Starts the project's own server (``python -m kennisbank.cli serve``) on a free
loopback port with a throw-away database, serving an already built site
(``--site``, default ``site/``), and audits every page listed in
``audit/budgets.json`` in every language of ``mkdocs.yml``:

* Lighthouse 12.2.3 (``audit/node_modules``) in its mobile and desktop settings,
  one run at a time: performance, accessibility, best practices, SEO;
* axe-core in Chromium, light and dark colour scheme, and on a page with the
  self-assessment also after answering every question;
* the page weight of a first visit: requests, bytes transferred, bytes per
  resource type, hosts contacted;
* the Nu Html Checker (vnu-jar, ``audit/nu.py``) on every built page: errors and
  warnings per page; any error breaks the budget.

Prints one table, every broken budget and the failing audits behind them; writes
the full reports to ``reports/audit/``. Exit status: 0 every budget met, 1 a
budget broken, 2 the audit could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

AUDIT_DIR = Path(__file__).resolve().parent
ROOT = AUDIT_DIR.parent
sys.path.insert(0, str(AUDIT_DIR))

from measure import (  # noqa: E402  (found through the path above)
    CHROMIUM,
    CHROMIUM_ARGS,
    COLOR_SCHEMES,
    AxeResult,
    Budgets,
    LayoutShift,
    PageWeight,
    layout_shifts,
    measure_weight,
    run_axe,
)

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test harness that starts the server
import nu  # noqa: E402  (audit/nu.py)

from local_server import LocalServer, LocalServerError  # noqa: E402

LIGHTHOUSE = AUDIT_DIR / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# The one difference between the two Lighthouse settings.
FORM_FACTORS = {"mobile": [], "desktop": ["--preset=desktop"]}
LIGHTHOUSE_CHROME_FLAGS = " ".join(["--headless=new", *(flag for flag in CHROMIUM_ARGS if flag != "--headless")])
LIGHTHOUSE_TIMEOUT = 180  # seconds per run; one takes about 11 s on 2 cores
LIGHTHOUSE_ATTEMPTS = 3
SERVER_START_TIMEOUT = 30
SCORED_MODES = ("binary", "numeric", "metricSavings")
MAX_ITEMS = {"weight": 20, "chromium": 8}  # elements or URLs printed per cause; 5 unless named here


class AuditError(Exception):
    """The audit could not run (no Lighthouse, no server, no site)."""


# What is audited


@dataclass(frozen=True)
class Target:
    """One budgeted page in one language."""

    path: str  # as in budgets.json: "" or "artikelen/.../"
    locale: str
    prefix: str  # "" for the default language, "en/" else

    @property
    def slug(self) -> str:
        return f"{self.locale}-{self.path.strip('/').split('/')[-1] or 'home'}"

    def url(self, base_url: str) -> str:
        return f"{base_url}/{self.prefix}{self.path}"


def targets(budgets: Budgets) -> list[Target]:
    """Every budgeted page in every language of mkdocs.yml, default language first."""
    from kennisbank.siteconfig import load_mkdocs

    languages = sorted(load_mkdocs(ROOT / "mkdocs.yml").languages, key=lambda lang: not lang.default)
    return [Target(path, lang.locale, lang.prefix) for path in budgets.pages for lang in languages]


# Lighthouse


@dataclass(frozen=True)
class Finding:
    """A scored Lighthouse audit below a full score, and what it points at."""

    category: str
    audit: str
    title: str
    display: str
    items: tuple[str, ...]


@dataclass
class LighthouseResult:
    """One Lighthouse run on one page in one setting."""

    form_factor: str
    scores: dict[str, int]  # category -> 0..100
    lcp_ms: float
    cls: float
    tbt_ms: float
    findings: list[Finding]
    errors: list[str]  # audits Lighthouse could not run
    report: str
    performance_runs: list[int] = field(default_factory=list)  # every run's score when there were more

    @classmethod
    def from_lhr(cls, form_factor: str, lhr: dict, report: Path) -> LighthouseResult:
        audits = lhr["audits"]
        return cls(
            form_factor=form_factor,
            scores={name: round((lhr["categories"][name]["score"] or 0) * 100) for name in CATEGORIES},
            lcp_ms=audits["largest-contentful-paint"]["numericValue"],
            cls=audits["cumulative-layout-shift"]["numericValue"],
            tbt_ms=audits["total-blocking-time"]["numericValue"],
            findings=_findings(lhr),
            errors=sorted(name for name, audit in audits.items() if audit["scoreDisplayMode"] == "error"),
            report=str(report),
        )


def _findings(lhr: dict) -> list[Finding]:
    findings = []
    for category in CATEGORIES:
        for ref in lhr["categories"][category]["auditRefs"]:
            audit = lhr["audits"][ref["id"]]
            if audit["scoreDisplayMode"] in SCORED_MODES and audit["score"] is not None and audit["score"] < 1:
                items = tuple(_describe(item) for item in (audit.get("details") or {}).get("items", [])[:5])
                findings.append(Finding(category, ref["id"], audit["title"], audit.get("displayValue", ""), items))
    return findings


def _describe(item: dict) -> str:
    """The element or URL one item of a Lighthouse audit points at."""
    node = item.get("node") or item.get("source")
    if isinstance(node, dict) and node.get("type") == "node":
        reasons = [sub.get("reason", "") for sub in (item.get("subItems") or {}).get("items", [])]
        explanation = " ".join([(node.get("explanation") or "").replace("\n", " "), *reasons]).strip()
        return f"{node.get('selector', '')} {node.get('snippet', '')} {explanation}".strip()
    location = item.get("sourceLocation") if isinstance(item.get("sourceLocation"), dict) else {}
    url = item.get("url") or location.get("url", "")
    detail = item.get("description") or item.get("reason") or ""
    return f"{url} {detail}".strip() or json.dumps(item)[:200]


def run_lighthouse(url: str, form_factor: str, output: Path, attempts: int = LIGHTHOUSE_ATTEMPTS) -> LighthouseResult:
    """One Lighthouse run; reports at ``output``.report.json and .report.html.

    A failed run is tried again: now and then Chromium's trace misses the
    navigation (NO_NAVSTART), and Lighthouse itself says to run it again."""
    command = [
        "node",
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--no-enable-error-reporting",
        "--output=json",
        "--output=html",
        f"--output-path={output}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={LIGHTHOUSE_CHROME_FLAGS}",
        *FORM_FACTORS[form_factor],
    ]
    report = output.with_name(output.name + ".report.json")
    for attempt in range(1, attempts + 1):
        problem = _run(command)
        if not problem:
            lhr = json.loads(report.read_text(encoding="utf-8"))
            problem = (lhr.get("runtimeError") or {}).get("message")
            if not problem:
                return LighthouseResult.from_lhr(form_factor, lhr, report)
        if attempt < attempts:
            print(f" (failed, again: {problem.strip().splitlines()[-1][:120]})", end="", file=sys.stderr, flush=True)
    raise AuditError(f"Lighthouse failed {attempts} times on {url} ({form_factor}):\n{problem}")


def _run(command: list[str]) -> str:
    """Run Lighthouse; what went wrong, or "" if nothing did."""
    environment = {**os.environ, "CHROME_PATH": CHROMIUM}
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=LIGHTHOUSE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"took more than {LIGHTHOUSE_TIMEOUT} s"
    return "" if done.returncode == 0 else (done.stderr.strip()[-1500:] or f"exit status {done.returncode}")


def lighthouse_median(url: str, form_factor: str, output: Path, runs: int, lowest_performance: int) -> LighthouseResult:
    """One Lighthouse run, or, when its performance score is under ``lowest_performance``,
    the run with the median score of ``runs`` (the first included).

    On two shared cores the performance score of one run can be 20 points off
    (Total Blocking Time above all); the other categories do not vary."""
    first = run_lighthouse(url, form_factor, output)
    results = [first]
    if first.scores["performance"] < lowest_performance and runs > 1:
        print(f" performance {first.scores['performance']}, {runs - 1} more run(s) ...", end="", file=sys.stderr, flush=True)
        for n in range(2, runs + 1):
            results.append(run_lighthouse(url, form_factor, output.with_name(f"{output.name}-run{n}")))
    median = sorted(results, key=lambda result: result.scores["performance"])[len(results) // 2]
    median.performance_runs = [result.scores["performance"] for result in results]
    return median


# One page's audit and its budgets


@dataclass
class PageAudit:
    target: Target
    url: str
    lighthouse: dict[str, LighthouseResult] = field(default_factory=dict)  # form factor -> result
    axe: list[AxeResult] = field(default_factory=list)
    weight: PageWeight | None = None
    shifts: dict[str, list[LayoutShift]] = field(default_factory=dict)  # form factor -> shifts in Chromium

    @property
    def axe_violations(self) -> int:
        return sum(result.count for result in self.axe)

    @property
    def worst_cls(self) -> float:
        return max(result.cls for result in self.lighthouse.values())

    def to_dict(self) -> dict:
        return {
            "page": self.target.path,
            "locale": self.target.locale,
            "url": self.url,
            "lighthouse": {form: {**result.__dict__, "findings": [f.__dict__ for f in result.findings]} for form, result in self.lighthouse.items()},
            "axe": [result.to_dict() for result in self.axe],
            "weight": self.weight.to_dict() if self.weight else None,
            "layout_shifts": {form: [shift.__dict__ for shift in shifts] for form, shifts in self.shifts.items()},
        }


def below_budget(audit: PageAudit, budgets: Budgets) -> list[tuple[str, str]]:
    """(form factor, category) of every Lighthouse score under its budget."""
    return [
        (form, category)
        for form, result in audit.lighthouse.items()
        for category, lowest in budgets.lighthouse[form].items()
        if result.scores[category] < lowest
    ]


def breaches(audit: PageAudit, budgets: Budgets) -> list[str]:
    """Every budget this page breaks, one line each."""
    where = audit.target.slug
    found = [
        f"{where}: Lighthouse {form} {category} {audit.lighthouse[form].scores[category]} < {budgets.lighthouse[form][category]}"
        for form, category in below_budget(audit, budgets)
    ]
    found += [
        f"{where}: Lighthouse {form} CLS {result.cls:.4f} > {budgets.max_cumulative_layout_shift}"
        for form, result in audit.lighthouse.items()
        if result.cls > budgets.max_cumulative_layout_shift
    ]
    if audit.axe_violations > budgets.max_axe_violations:
        rules = sorted({v.rule for result in audit.axe for v in result.violations})
        found.append(f"{where}: {audit.axe_violations} axe violations > {budgets.max_axe_violations} ({', '.join(rules)})")
    if audit.weight:
        found += _weight_breaches(where, audit.target.path, audit.weight, budgets)
    return found


def _weight_breaches(where: str, path: str, weight: PageWeight, budgets: Budgets) -> list[str]:
    found = []
    others = weight.third_party_requests
    if len(others) > budgets.max_third_party_requests:
        found.append(f"{where}: {len(others)} requests to other hosts > {budgets.max_third_party_requests}: {', '.join(t.url for t in others)}")
    most = budgets.max_bytes.get(path)
    if most is not None and weight.transferred > most:
        kinds = ", ".join(f"{kind} {size}" for kind, size in weight.bytes_by_type.items())
        found.append(f"{where}: {weight.transferred} bytes transferred > {most} ({kinds})")
    return found


@dataclass
class Cause:
    """One failing Lighthouse audit or axe rule, where it failed, and what it points at."""

    tool: str
    rule: str
    title: str
    where: list[str] = field(default_factory=list)
    items: tuple[str, ...] = ()


def causes(audits: list[PageAudit], budgets: Budgets) -> list[Cause]:
    """What lies behind the broken budgets: each failing audit once, with the pages it failed on."""
    found: dict[tuple[str, str], Cause] = {}
    for audit in audits:
        for tool, rule, title, where, items in _causes_on(audit, budgets):
            cause = found.setdefault((tool, rule), Cause(tool, rule, title))
            cause.where.append(where)
            cause.items += tuple(item for item in dict.fromkeys(items) if item not in cause.items)
    return list(found.values())


def _causes_on(audit: PageAudit, budgets: Budgets):
    """(tool, rule, title, where, items) of every cause of a broken budget on one page."""
    slug = audit.target.slug
    for form, category in below_budget(audit, budgets):
        for finding in audit.lighthouse[form].findings:
            if finding.category == category:
                title = f"{finding.title} ({finding.display})" if finding.display else finding.title
                yield "lighthouse", finding.audit, title, f"{slug} {form}", finding.items
    for form, result in audit.lighthouse.items():
        if result.cls > budgets.max_cumulative_layout_shift:
            moved = [source for shift in audit.shifts.get(form, []) for source in shift.sources]
            yield "chromium", "layout-shift", "What moved (Lighthouse's layout-shifts audit cannot run here)", f"{slug} {form}", moved
    most = budgets.max_bytes.get(audit.target.path)
    if audit.weight and most is not None and audit.weight.transferred > most:
        biggest = sorted(audit.weight.transfers, key=lambda t: t.bytes, reverse=True)
        yield "weight", "bytes", f"Largest transfers (budget {most} B)", slug, [f"{t.bytes:6} B  {t.resource_type:10} {t.url}" for t in biggest]
    for result in audit.axe:
        for violation in result.violations:
            items = [f"{target} {snippet}" for target, snippet in zip(violation.targets, violation.snippets, strict=False)]
            yield "axe", violation.rule, f"{violation.help} [{violation.impact}]", f"{slug} {result.scheme}/{result.state}", items


def format_causes(found: list[Cause]) -> str:
    lines = []
    for cause in found:
        lines.append(f"  {cause.tool} {cause.rule}: {cause.title}")
        lines.append(f"      on: {', '.join(cause.where)}")
        lines += [f"      - {item[:300]}" for item in cause.items[: MAX_ITEMS.get(cause.tool, 5)]]
    return "\n".join(lines)


# The server


@contextmanager
def kennisbank_server(site_dir: Path, log: Path):
    """``kennisbank serve`` on a free loopback port with a throw-away database; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="kennisbank-audit-") as tmp, log.open("w") as log_file:
        local = LocalServer(site_dir, Path(tmp) / "audit.sqlite3", output=log_file)
        try:
            yield local.start(timeout=SERVER_START_TIMEOUT)
        except LocalServerError as exc:
            raise AuditError(f"{exc}\n{log.read_text()[-2000:]}") from None
        finally:
            local.stop()


@contextmanager
def server(base_url: str | None, site_dir: Path, reports: Path):
    """The server at ``base_url`` if one is given, else the project's own serving ``site_dir``."""
    if base_url:
        yield base_url.rstrip("/")
        return
    if not (site_dir / "index.html").is_file():
        raise AuditError(f"no built site in {site_dir}: run `make build` first")
    with kennisbank_server(site_dir.resolve(), reports / "server.log") as url:
        yield url


# The run


class Progress:
    """Numbered, timed progress lines on stderr."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    @contextmanager
    def step(self, what: str):
        self.done += 1
        began = time.monotonic()
        print(f"[{self.done:2}/{self.total}] {what} ...", end="", flush=True, file=sys.stderr)
        yield
        print(f" {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright hides scrollbars; Lighthouse and readers do not, and a scrollbar
        # that comes and goes shifts the layout (CLS).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_default_args=["--hide-scrollbars"])
        try:
            yield browser
        finally:
            browser.close()


def audit_site(base_url: str, budgets: Budgets, reports: Path, runs: int) -> list[PageAudit]:
    """Lighthouse on every page first, with no other browser running; then the browser checks."""
    pages = [PageAudit(target, target.url(base_url)) for target in targets(budgets)]
    progress = Progress(len(pages) * (len(FORM_FACTORS) + 1))
    shutil.rmtree(reports / "lighthouse", ignore_errors=True)  # no report of an earlier run left to mislead
    (reports / "lighthouse").mkdir(parents=True)
    for page in pages:
        for form in FORM_FACTORS:
            with progress.step(f"Lighthouse {form:7} {page.url}"):
                output = reports / "lighthouse" / f"{page.target.slug}-{form}"
                page.lighthouse[form] = lighthouse_median(page.url, form, output, runs, budgets.lighthouse[form]["performance"])
    with chromium() as browser:
        for page in pages:
            with progress.step(f"axe, page weight, layout shifts {page.url}"):
                page.axe = [r for scheme in COLOR_SCHEMES for r in run_axe(browser, page.url, scheme, answer=True)]
                page.weight = measure_weight(browser, page.url)
                page.shifts = {form: layout_shifts(browser, page.url, form) for form in FORM_FACTORS}
    return pages


COLUMNS = (  # title, value; LCP and TBT are Lighthouse mobile's, CLS the worse of the two
    ("page", lambda a: a.target.slug),
    *(
        (f"{form[0].upper()} {label}", lambda a, f=form, c=category: a.lighthouse[f].scores[c])
        for form in FORM_FACTORS
        for category, label in zip(CATEGORIES, ("perf", "a11y", "best", "SEO"), strict=False)
    ),
    ("LCP s", lambda a: f"{a.lighthouse['mobile'].lcp_ms / 1000:.1f}"),
    ("CLS", lambda a: f"{a.worst_cls:.2g}"),
    ("TBT ms", lambda a: round(a.lighthouse["mobile"].tbt_ms)),
    ("KB", lambda a: f"{a.weight.transferred / 1024:.1f}"),
    ("req", lambda a: a.weight.requests),
    ("3rd", lambda a: len(a.weight.third_party_hosts)),
    ("axe", lambda a: a.axe_violations),
)


def table(audits: list[PageAudit]) -> str:
    """One line per page and language."""
    cells = [[title for title, _ in COLUMNS]] + [[str(value(audit)) for _, value in COLUMNS] for audit in audits]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False))) for row in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def reruns(audits: list[PageAudit]) -> list[str]:
    """Which scores are medians of several runs, and of which."""
    return [
        f"Performance, median of {len(result.performance_runs)} runs: {audit.target.slug} {form} {result.performance_runs}"
        for audit in audits
        for form, result in audit.lighthouse.items()
        if len(result.performance_runs) > 1
    ]


def tool_errors(audits: list[PageAudit]) -> list[str]:
    """Lighthouse audits that could not run (they carry no weight in the scores)."""
    return sorted({name for audit in audits for result in audit.lighthouse.values() for name in result.errors})


def html_validity(site_dir: Path) -> dict[str, dict[str, int]]:
    """Errors and warnings of the Nu Html Checker per built page (one JVM for all)."""
    pages = sorted(path for path in site_dir.rglob("*.html") if "assets" not in path.relative_to(site_dir).parts)
    try:
        return nu.per_page(nu.check(pages), pages, site_dir)
    except (nu.NuError, OSError, subprocess.TimeoutExpired) as error:
        raise AuditError(f"the Nu Html Checker could not run: {error}") from None


def html_table(counts: dict[str, dict[str, int]]) -> str:
    width = max((len(page) for page in counts), default=4)
    lines = [f"{'page'.ljust(width)}  errors  warnings", "-" * (width + 18)]
    lines += [f"{page.ljust(width)}  {c['error']:>6}  {c['warning']:>8}" for page, c in counts.items()]
    return "\n".join(lines)


def write_summary(reports: Path, audits: list[PageAudit], broken: list[str], found: list[Cause], seconds: float, html: dict | None = None) -> Path:
    summary = reports / "summary.json"
    data = {
        "html_validity": html or {},
        "seconds": round(seconds, 1),
        "budgets_met": not broken,
        "breaches": broken,
        "causes": [cause.__dict__ for cause in found],
        "performance_reruns": reruns(audits),
        "lighthouse_audits_that_could_not_run": tool_errors(audits),
        "table": table(audits).splitlines(),
        "pages": [audit.to_dict() for audit in audits],
    }
    summary.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="the built site to serve (default: site)")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports" / "audit", help="where the reports go")
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs when the first misses the performance budget; the median counts (default 3)")
    parser.add_argument("--base-url", help="audit this running server instead of starting `kennisbank serve`")
    args = parser.parse_args(argv)

    started = time.monotonic()
    budgets = Budgets.load()
    args.reports.mkdir(parents=True, exist_ok=True)
    try:
        if not LIGHTHOUSE.exists():
            raise AuditError(f"no Lighthouse in {LIGHTHOUSE.parent}: run `npm ci --ignore-scripts` in audit/")
        html = html_validity(args.site)
        with server(args.base_url, args.site, args.reports) as base_url:
            audits = audit_site(base_url, budgets, args.reports, max(1, args.runs))
    except AuditError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2

    broken = [line for audit in audits for line in breaches(audit, budgets)]
    broken += [f"html {page}: {c['error']} error(s) from the Nu Html Checker (see tests/test_html_valid.py)" for page, c in html.items() if c["error"]]
    found = causes(audits, budgets)
    seconds = time.monotonic() - started
    summary = write_summary(args.reports, audits, broken, found, seconds, html)
    print(html_table(html) + "\n")
    print(table(audits))
    print(f"\nReports in {args.reports} (summary: {summary.name}); {seconds:.0f} s.")
    for line in reruns(audits):
        print(line)
    if errors := tool_errors(audits):
        print(f"Lighthouse could not run (no weight in the scores): {', '.join(errors)}")
    if not broken:
        print("All budgets in audit/budgets.json met.")
        return 0
    print("\nBudgets broken (audit/budgets.json):")
    print("\n".join(f"  {line}" for line in broken))
    print("\nWhy: the failing audits, each once")
    print(format_causes(found))
    return 1


if __name__ == "__main__":
    sys.exit(main())
