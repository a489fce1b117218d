"""Build-time benchmark: N synthetic articles in both languages, built with and
without the project's hooks. Prints seconds, milliseconds per page and peak memory.
With the hooks it builds three times: without the share images (hooks/share.py
left out), with them and an empty image cache (every image drawn), and once more
with the cache the previous build filled (nothing drawn).

    make bench                       # N = 10, 100, 1000
    .venv/bin/python bench/build.py 10 100

The goal printed against: per-page time at the largest N at most 1.2x that at the
middle N, and the hooks adding at most 10 %.
"""

from __future__ import annotations

import os
import random
import re
import shutil
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


def main(sizes: list[int]) -> int:
    print(f"{'N':>6} {'hooks':>6} {'pages':>6} {'seconds':>8} {'ms/page':>8} {'peak MB':>8}")
    per_page: dict[tuple[int, bool], float] = {}
    with tempfile.TemporaryDirectory(prefix="kennisbank-bench-") as tmp:
        for size in sizes:
            # (label, hooks, share images, a cache filled by the build before)
            for label, hooks, images, warm in (
                ("off", False, False, False),
                ("no-img", True, False, False),
                ("cold", True, True, False),
                ("on", True, True, True),
            ):
                if not warm:
                    project = make_project(Path(tmp) / f"{size}-{label}", size, hooks, images)
                    cache = Path(tmp) / f"cache-{size}-{label}"  # empty: brotli copies and images made anew
                seconds, pages, peak = measure(project, cache)
                per_page[size, label] = 1000 * seconds / pages
                if label in ("off", "on"):
                    per_page[size, label == "on"] = per_page[size, label]
                print(f"{size:>6} {label:>6} {pages:>6} {seconds:>8.2f} {per_page[size, label]:>8.2f} {peak:>8.0f}", flush=True)
                if label in ("off", "no-img", "on"):
                    shutil.rmtree(project)
                    shutil.rmtree(cache, ignore_errors=True)
    if len(sizes) >= 2:
        middle, largest = sizes[-2], sizes[-1]
        growth = per_page[largest, True] / per_page[middle, True]
        print(f"per-page time at N={largest} vs N={middle}: {growth:.2f}x (goal <= 1.20x)")
    for size in sizes:
        overhead = per_page[size, True] / per_page[size, False] - 1
        print(f"hooks' cost at N={size}: {overhead:+.0%} (goal <= +10%)")
        drawing = per_page[size, "cold"] / per_page[size, "no-img"] - 1
        print(f"share images at N={size}: {drawing:+.0%} drawing every image, {per_page[size, 'on'] / per_page[size, 'no-img'] - 1:+.0%} from the cache")
    return 0


if __name__ == "__main__":
    raise SystemExit(main([int(n) for n in sys.argv[1:]] or [10, 100, 1000]))
