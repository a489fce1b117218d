"""Build benchmark, side by side in one run: N synthetic articles in both languages,
built by this project and by two peers over the same Markdown, then a writer's
preview and a reader's first search.

Per N (``BENCH_SIZES`` or the arguments; 10, 100 and 1000 by default), each once:

- ``kennisbank``: ``make build`` (``python -m kennisbank.build``, the languages side by
  side), after one build that fills the caches (share images, brotli copies);
- ``kennisbank serial``: ``mkdocs build --strict``, the languages one after the other;
- ``material default``: Material with mkdocs-static-i18n as configured by default
  (``theme: material``, the i18n plugin with both languages, the built-in search, no
  hooks, no nav: Material lists every page in it);
- ``hugo``: Debian's ``hugo`` (installed with apt-get when missing), minimal layouts
  (baseof, single, list with 20 a page), both languages as Hugo multilingual content
  from the same Markdown files;
- the writer's preview: ``make dev``'s ``mkdocs serve`` started, one article saved,
  seconds until the served page shows the change (three saves; ``BENCH_DEV_BEFORE=1``
  also measures the preview before issue 15: both languages, a full rebuild per save);
- at the largest N, the first search (``bench/search.py``): Pagefind on this site
  against Material's lunr on the default site (``BENCH_SEARCH=0`` leaves it out).

Printed: seconds, CPU seconds (every process of the build; less sensitive to what else
runs than the seconds), the peak resident memory of the largest process (the parallel build
runs one per language at once), the ratio to Hugo measured in the same run, and the
goals: the build at most 5x Hugo's at the largest N, a save shown within 3 s, the
first search at most 160 KB. The machine's load average is printed with the figures:
other processes slow every build, so the ratios are what compare.

    make bench                          # N = 10, 100, 1000
    make bench BENCH_SIZES="10 100"
    .venv/bin/python bench/build.py 100
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kennisbank.translations import set_source_hash, source_hash  # noqa: E402

PARTS = ("mkdocs.yml", "docs", "overrides", "hooks", "assessments")
WORDS = {
    "nl": "leverancier contract resultaat afspraak klant dienst service regie vergoeding bonus malus meting rapportage".split(),
    "en": "provider contract result agreement client service steering fee bonus penalty measure report".split(),
}
GOAL_HUGO = 5.0
GOAL_SAVE = 3.0
#: the article a writer saves in the preview benchmark
SAVED = "artikelen/synthetisch-1"


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


def make_project(folder: Path, articles: int, hooks: bool = True, images: bool = True) -> Path:
    """A copy of the project with ``articles`` synthetic articles in both languages."""
    folder.mkdir(parents=True)
    for part in PARTS:
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, folder / part)
    target = folder / "docs" / "artikelen"
    for number in range(articles):
        rng = random.Random(number)  # article n is the same at every N: the caches serve every size
        source = _article("nl", number, rng)
        (target / f"synthetisch-{number}.nl.md").write_text(source, encoding="utf-8")
        (target / f"synthetisch-{number}.en.md").write_text(set_source_hash(_article("en", number, rng), source_hash(source)), encoding="utf-8")
    config = folder / "mkdocs.yml"
    if not hooks:
        config.write_text(re.sub(r"\nhooks:\n(  - .*\n)+", "\n", config.read_text(encoding="utf-8")), encoding="utf-8")
    elif not images:
        config.write_text(config.read_text(encoding="utf-8").replace("  - hooks/share.py\n", ""), encoding="utf-8")
    return folder


MATERIAL_DEFAULT = """\
site_name: Kennisbank
site_url: http://127.0.0.1:8000/
theme:
  name: material
plugins:
  - search
  - i18n:
      docs_structure: suffix
      languages:
        - locale: nl
          name: Nederlands
          default: true
        - locale: en
          name: English
"""


def make_material_default(project: Path, folder: Path) -> Path:
    """The same Markdown under Material with mkdocs-static-i18n as configured by default."""
    folder.mkdir(parents=True)
    shutil.copytree(project / "docs", folder / "docs")
    (folder / "mkdocs.yml").write_text(MATERIAL_DEFAULT, encoding="utf-8")
    return folder


HUGO_CONFIG = """\
baseURL = "http://127.0.0.1:8000/"
title = "Kennisbank"
defaultContentLanguage = "nl"
defaultContentLanguageInSubdir = false
buildFuture = true
paginate = 20
[languages.nl]
weight = 1
languageName = "Nederlands"
[languages.en]
weight = 2
languageName = "English"
[markup.goldmark.renderer]
unsafe = true
"""
HUGO_LAYOUTS = {
    "baseof.html": """<!doctype html><html lang="{{ .Site.Language.Lang }}"><head><meta charset="utf-8">
<title>{{ .Title }} | {{ .Site.Title }}</title>{{ range .AllTranslations }}<link rel="alternate" hreflang="{{ .Lang }}" href="{{ .Permalink }}">{{ end }}</head>
<body><header><a href="{{ .Site.Home.RelPermalink }}">{{ .Site.Title }}</a>{{ range .Translations }} <a href="{{ .RelPermalink }}">{{ .Language.LanguageName }}</a>{{ end }}</header>
<main>{{ block "main" . }}{{ end }}</main></body></html>
""",
    "single.html": """{{ define "main" }}<article>{{ .Content }}<p>{{ .Params.author }} · {{ .Date.Format "2006-01-02" }} · {{ .ReadingTime }} min</p></article>{{ end }}
""",
    "list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>{{ .Content }}<ul>{{ range .Paginator.Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> {{ .Date.Format "2006-01-02" }}<p>{{ .Description }}</p></li>{{ end }}</ul>
{{ template "_internal/pagination.html" . }}{{ end }}
""",
}


def make_hugo(project: Path, folder: Path) -> Path:
    """The same Markdown files as Hugo multilingual content (``x.nl.md``, ``x.en.md``);
    a folder's ``index.<lang>.md`` is its list page, ``_index.<lang>.md``."""
    content = folder / "content"
    for source in (project / "docs").rglob("*.md"):
        relative = source.relative_to(project / "docs")
        name = "_" + relative.name if relative.name.startswith("index.") else relative.name
        (content / relative.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, content / relative.parent / name)
    layouts = folder / "layouts" / "_default"
    layouts.mkdir(parents=True)
    for name, text in HUGO_LAYOUTS.items():
        (layouts / name).write_text(text, encoding="utf-8")
    (folder / "config.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    return folder


def hugo() -> str:
    """Debian's hugo, installed with apt-get when missing (the benchmark only)."""
    found = shutil.which("hugo")
    if found is None:
        print("hugo is missing: apt-get install hugo", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", "hugo"], env=env, check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("hugo")
    if found is None:
        raise SystemExit("hugo is not installed and apt-get could not install it. Fix: apt-get install hugo")
    return found


def run(command: list[str], cwd: Path, **env: str) -> tuple[float, float, float]:
    """(seconds, CPU seconds of all its processes, peak resident MB of the largest) of
    ``command``, which must succeed."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KENNISBANK_")}
    environment.update(NO_MKDOCS_2_WARNING="1", **env)
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=environment, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            output.seek(0)
            raise SystemExit(f"{' '.join(command)} in {cwd} failed:\n{output.read().decode(errors='replace')[-4000:]}")
    # wait4 of the parent counts its waited-for children too: the largest process's peak
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: make dev's preview (Makefile), and the one before issue 15: every language, a full rebuild per save
DEV_NOW = (["--dirty"], {"KENNISBANK_LANGUAGE": "nl", "KENNISBANK_DRAFTS": "1"})
DEV_BEFORE = ([], {"KENNISBANK_DRAFTS": "1"})


def preview(project: Path, cache: Path, mode: tuple[list[str], dict[str, str]], saves: int = 3) -> tuple[float, list[float]]:
    """(seconds to the first page, [seconds from a save to the page showing it]) of
    ``mkdocs serve`` with ``mode``'s options and environment."""
    options, env = mode
    port = _free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KENNISBANK_")}
    environment.update(NO_MKDOCS_2_WARNING="1", XDG_CACHE_HOME=str(cache), **env)
    command = [sys.executable, "-m", "mkdocs", "serve", *options, "--dev-addr", f"127.0.0.1:{port}", "-f", str(project / "mkdocs.yml")]
    base = f"http://127.0.0.1:{port}/"
    article = project / "docs" / f"{SAVED}.nl.md"
    original = article.read_text(encoding="utf-8")
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=environment, cwd=project, stdout=log, stderr=subprocess.STDOUT)
        try:
            while _get(base) is None:
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"mkdocs serve exited:\n{log.read().decode(errors='replace')[-4000:]}")
                time.sleep(0.1)
            first = time.perf_counter() - started
            times = []
            for save in range(saves):
                token = f"bewerkt{save}x{time.time_ns()}"
                time.sleep(1.0)  # a writer does not save twice within a second; file times differ
                saved = time.perf_counter()
                article.write_text(original.rstrip("\n") + f"\n\nEen nieuwe zin: {token}.\n", encoding="utf-8")
                while token not in (_get(base + SAVED + "/") or ""):
                    if time.perf_counter() - saved > 600:
                        raise SystemExit(f"the saved change did not appear in {base}{SAVED}/ within 600 s")
                    time.sleep(0.05)
                times.append(time.perf_counter() - saved)
            return first, times
        finally:
            process.terminate()
            process.wait()
            article.write_text(original, encoding="utf-8")


def _search_bench():
    spec = importlib.util.spec_from_file_location("bench_search", ROOT / "bench" / "search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(sizes: list[int]) -> int:
    hugo_binary = hugo()
    hugo_version = subprocess.run([hugo_binary, "version"], capture_output=True, text=True).stdout.split()[1]
    print(f"{os.cpu_count()} cores; hugo {hugo_version}; load average at the start {_load()}")
    print(f"{'N':>6} {'variant':>19} {'pages':>6} {'seconds':>8} {'CPU s':>7} {'peak MB':>8} {'x hugo':>7} {'load':>16}")
    results: dict[tuple[int, str], float] = {}
    previews: dict[tuple[int, str], tuple[float, list[float]]] = {}
    # one cache for every size: article n is the same at every N, so a bigger N draws only its new images
    with tempfile.TemporaryDirectory(prefix="kennisbank-bench-") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        for size in sizes:
            project = make_project(work / f"{size}" / "project", size)
            material = make_material_default(project, work / f"{size}" / "material")
            hugo_site = make_hugo(project, work / f"{size}" / "hugo")
            site = project / "site"
            builder = [sys.executable, "-m", "kennisbank.build", "-q", "-f", str(project / "mkdocs.yml"), "-d", str(site)]
            # never mkdocs' -q with --strict: -q hides the warnings from --strict
            serial = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"), "-d", str(project / "site-serial")]
            variants = {
                "kennisbank (fill)": (builder, project, site),
                "hugo": ([hugo_binary, "--quiet", "-s", str(hugo_site), "-d", str(hugo_site / "public")], hugo_site, hugo_site / "public"),
                "kennisbank": (builder, project, site),
                "kennisbank serial": (serial, project, project / "site-serial"),
                "material default": (
                    [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(material / "mkdocs.yml"), "-d", str(material / "site")],
                    material,
                    material / "site",
                ),
            }
            for label, (command, cwd, out) in variants.items():
                seconds, cpu, peak = run(command, cwd, XDG_CACHE_HOME=str(cache))
                results[size, label] = seconds
                pages = sum(1 for _ in out.rglob("index.html"))
                ratio = f"{seconds / results[size, 'hugo']:.1f}" if (size, "hugo") in results else ""
                print(f"{size:>6} {label:>19} {pages:>6} {seconds:>8.2f} {cpu:>7.1f} {peak:>8.0f} {ratio:>7} {_load():>16}", flush=True)
            modes = {"make dev": DEV_NOW, **({"before": DEV_BEFORE} if os.environ.get("BENCH_DEV_BEFORE") == "1" else {})}
            for label, mode in modes.items():
                first, saves = preview(project, cache, mode, saves=3 if label == "make dev" else 1)
                previews[size, label] = first, saves
                print(
                    f"{size:>6} {'preview: ' + label:>19} first page after {first:.1f} s; save to page: {', '.join(f'{s:.2f}' for s in saves)} s  {_load()}",
                    flush=True,
                )
            if size == sizes[-1] and os.environ.get("BENCH_SEARCH", "1") == "1":
                search = _search_bench()
                search.compare(site, material / "site", work / "search")
            if size != sizes[-1]:
                shutil.rmtree(work / f"{size}")

    largest = sizes[-1]
    print(f"\ngoals at {largest} articles (one run each; load average now {_load()}):")
    ratio = results[largest, "kennisbank"] / results[largest, "hugo"]
    print(
        f"  build: {results[largest, 'kennisbank']:.1f} s = {ratio:.1f}x Hugo's {results[largest, 'hugo']:.1f} s (goal <= {GOAL_HUGO:.0f}x): {'met' if ratio <= GOAL_HUGO else 'NOT met'}"
    )
    serial = results[largest, "kennisbank serial"] / results[largest, "kennisbank"]
    print(f"  side by side vs one after the other: {serial:.2f}x faster")
    worst = max(previews[largest, "make dev"][1])
    print(f"  make dev, save to page: at most {worst:.2f} s (goal <= {GOAL_SAVE:.0f} s): {'met' if worst <= GOAL_SAVE else 'NOT met'}")
    return 0


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    arguments = sys.argv[1:] or os.environ.get("BENCH_SIZES", "").split()
    raise SystemExit(main([int(n) for n in arguments] or [10, 100, 1000]))
