"""Build-time benchmark: N synthetic articles in both languages, built with and
without the project's hooks. Prints seconds, milliseconds per page and peak memory.
Three variants: no hooks, every hook but the share images (hooks/share.py left out),
and every hook. A variant with hooks is built once to fill its cache (brotli copies,
share images: the "cold" run), then every variant is built BENCH_REPEATS times (3)
in alternating order; every run is printed and the medians are compared.

    make bench                       # N = 10, 100, 1000
    .venv/bin/python bench/build.py 10 100

The goals printed against: per-page time at the largest N at most 1.2x that at the
middle N, the hooks adding at most 10 % and the share images at most 10 % (warm cache).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kennisbank.translations import set_source_hash, source_hash  # noqa: E402

PARTS = ("mkdocs.yml", "docs", "overrides", "hooks", "assessments")
WORDS = {
    "nl": "leverancier contract resultaat afspraak klant dienst service regie vergoeding bonus malus meting rapportage".split(),
    "en": "provider contract result agreement client service steering fee bonus penalty measure report".split(),
}


def _article(locale: str, number: int, rng: random.Random) -> str:
    words = WORDS[locale]
    paragraphs = "\n\n".join(" ".join(rng.choice(words) for _ in range(80)).capitalize() + "." for _ in range(6))
    title = f"{'Artikel' if locale == 'nl' else 'Article'} {number}"
    return (
        f"---\ntitle: {title}\ndescription: {title}, {' '.join(rng.choice(words) for _ in range(12))}.\n"
        f"date: 2026-{1 + number % 12:02d}-{1 + number % 28:02d}\nauthor: Koos Overbeeke\n"
        f"categories: [{rng.choice(['outsourcing', 'contractmanagement'])}]\n---\n\n"
        f"# {title}\n\n{paragraphs}\n\n## {'Conclusie' if locale == 'nl' else 'Conclusion'} {{ #conclusie }}\n\n{paragraphs[:400]}\n"
    )


def make_project(folder: Path, articles: int, hooks: bool, images: bool = True) -> Path:
    folder.mkdir(parents=True)
    for part in PARTS:
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, folder / part)
    rng = random.Random(articles)
    target = folder / "docs" / "artikelen"
    for number in range(articles):
        source = _article("nl", number, rng)
        (target / f"synthetisch-{number}.nl.md").write_text(source, encoding="utf-8")
        (target / f"synthetisch-{number}.en.md").write_text(set_source_hash(_article("en", number, rng), source_hash(source)), encoding="utf-8")
    if not hooks:
        config = folder / "mkdocs.yml"
        config.write_text(re.sub(r"\nhooks:\n(  - .*\n)+", "\n", config.read_text(encoding="utf-8")), encoding="utf-8")
    elif not images:
        config = folder / "mkdocs.yml"
        config.write_text(config.read_text(encoding="utf-8").replace("  - hooks/share.py\n", ""), encoding="utf-8")
    return folder


def measure(project: Path, cache: Path) -> tuple[float, int, float]:
    """(seconds, pages, peak resident MB) of one strict build in a child process, caching in ``cache``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "XDG_CACHE_HOME": str(cache)}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(project / "mkdocs.yml"), "-d", str(project / "site")]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build of {project} failed:\n{process.stderr.read().decode()}")
    pages = sum(1 for page in (project / "site").rglob("index.html"))
    return seconds, pages, usage.ru_maxrss / 1024


#: Builds per variant and size after the warm-up; the figures compared are medians.
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
#: (label, hooks, share images): no hooks at all, every hook but hooks/share.py, every hook
VARIANTS = (("off", False, False), ("no-img", True, False), ("img", True, True))


def _change(after: float, before: float) -> str:
    return f"{100 * (after / before - 1):+.1f} %"


def main(sizes: list[int]) -> int:
    """Per size: one project per variant, each with its own cache. A first build fills
    the cache (printed as ``cold``: for the images, every one drawn); then ``REPEATS``
    rounds build every variant once more, in an order that turns around each round, so
    each variant meets the same machine state (other processes, disk cache). Every run
    is printed; the comparison takes the medians of the warm runs."""
    print(f"{'N':>6} {'variant':>7} {'run':>5} {'pages':>6} {'seconds':>8} {'ms/page':>8} {'peak MB':>8}")
    warm: dict[tuple[int, str], list[float]] = {}
    cold: dict[tuple[int, str], float] = {}
    pages_of: dict[int, int] = {}

    def run(size: int, label: str, project: Path, cache: Path, name: str) -> float:
        seconds, pages, peak = measure(project, cache)
        pages_of[size] = pages
        print(f"{size:>6} {label:>7} {name:>5} {pages:>6} {seconds:>8.2f} {1000 * seconds / pages:>8.2f} {peak:>8.0f}", flush=True)
        return seconds

    with tempfile.TemporaryDirectory(prefix="kennisbank-bench-") as tmp:
        for size in sizes:
            projects = {}
            for label, hooks, images in VARIANTS:
                projects[label] = (make_project(Path(tmp) / f"{size}-{label}", size, hooks, images), Path(tmp) / f"cache-{size}-{label}")
                if hooks:  # the hooks keep brotli copies and images in the cache: fill it first
                    cold[size, label] = run(size, label, *projects[label], "cold")
            order = [label for label, _, _ in VARIANTS]
            for round_ in range(REPEATS):
                for label in order if round_ % 2 == 0 else reversed(order):
                    warm.setdefault((size, label), []).append(run(size, label, *projects[label], f"warm{round_ + 1}"))
            for project, cache in projects.values():
                shutil.rmtree(project)
                shutil.rmtree(cache, ignore_errors=True)

    median = {key: statistics.median(values) for key, values in warm.items()}
    print(f"medians of {REPEATS} warm runs each")
    if len(sizes) >= 2:
        middle, largest = sizes[-2], sizes[-1]
        growth = (median[largest, "img"] / pages_of[largest]) / (median[middle, "img"] / pages_of[middle])
        print(f"per-page time at N={largest} vs N={middle}: {growth:.2f}x (goal <= 1.20x)")
    for size in sizes:
        print(f"hooks' cost, warm cache: {_change(median[size, 'img'], median[size, 'off'])} at {size} articles (goal <= 10 %)")
        print(f"share images, empty cache (every image drawn): {_change(cold[size, 'img'], cold[size, 'no-img'])} at {size} articles")
        print(f"share images, warm cache: {_change(median[size, 'img'], median[size, 'no-img'])} at {size} articles (goal <= 10 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main([int(n) for n in sys.argv[1:]] or [10, 100, 1000]))
