"""``python -m kennisbank.build``: the strict build with the languages side by side.

One ``mkdocs build --strict`` per language at once (``KENNISBANK_LANGUAGE``, see
``kennisbank.languages``) into the same site folder, emptied first; then, once
every language is built, the steps the serial build runs at the end of its
default language's build, from what each language's process left behind:
``sitemap.xml``, ``robots.txt`` and the 404 pages (``kennisbank.seo``), the build
manifest, the site's own scripts and stylesheets minified, the Pagefind index and
the compressed copies. The result is the site ``mkdocs build --strict`` writes
(``tests/test_build_parallel.py`` compares them file by file).

    python -m kennisbank.build                 # mkdocs.yml into site/
    python -m kennisbank.build -f other/mkdocs.yml -d /tmp/site
    python -m kennisbank.build --serial        # plain mkdocs build --strict

A language's build that fails (a warning under ``--strict``) fails the whole build,
with that language's output; the other languages' output is printed as well.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kennisbank import languages
from kennisbank.finish import FinishError, finish


def _languages(config_file: Path) -> tuple[list[str], Path]:
    """The languages mkdocs.yml builds (the default first) and its site folder.

    Read from the YAML with MkDocs' own loader (``!ENV``, ``INHERIT``) rather than
    ``mkdocs.config.load_config``, which imports the theme, the plugins and the hooks
    (1.2 s); each language's ``mkdocs build`` validates the whole configuration."""
    from mkdocs.utils.yaml import yaml_load

    with config_file.open("rb") as stream:
        data = yaml_load(stream) or {}
    options = next((entry["i18n"] for entry in data.get("plugins") or () if isinstance(entry, dict) and "i18n" in entry), None)
    if not options or not options.get("languages"):
        return [], Path(data.get("site_dir") or "site")
    built = [language for language in options["languages"] if language.get("build", True)]
    built.sort(key=lambda language: not language.get("default", False))
    return [language["locale"] for language in built], Path(data.get("site_dir") or "site")


def _mkdocs(config_file: Path, site_dir: Path, quiet: bool) -> list[str]:
    return [sys.executable, "-m", "mkdocs", "build", "--strict", *(["-q"] if quiet else []), "-f", str(config_file), "-d", str(site_dir)]


def build(config_file: Path, site_dir: Path | None = None, *, quiet: bool = False, serial: bool = False) -> int:
    """Build the site of ``config_file`` into ``site_dir`` (its ``site_dir`` if None);
    the exit status: 0, or 1 when a language's build failed."""
    config_file = config_file.resolve()
    locales, configured = _languages(config_file)
    site_dir = (site_dir or (config_file.parent / configured)).resolve()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if serial or len(locales) < 2:
        env.pop(languages.LANGUAGE, None)
        return subprocess.run(_mkdocs(config_file, site_dir, quiet), env=env, cwd=config_file.parent).returncode
    from mkdocs.utils import clean_directory

    started = time.perf_counter()
    site_dir.mkdir(parents=True, exist_ok=True)
    clean_directory(str(site_dir))
    with tempfile.TemporaryDirectory(prefix="kennisbank-parts-") as parts:
        processes = {}
        for locale in locales:
            language_env = {**env, languages.LANGUAGE: locale, languages.PARTS: parts}
            processes[locale] = subprocess.Popen(
                # never -q: MkDocs' -q raises the log level above WARNING, and --strict
                # then counts no warning; the output is held here and shown when asked or failed
                _mkdocs(config_file, site_dir, quiet=False),
                env=language_env,
                cwd=config_file.parent,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        failed = []
        for locale, process in processes.items():  # in order, so the output reads the same every time
            output, _ = process.communicate()
            if output.strip() and (process.returncode or not quiet):
                print(f"--- {locale} ---\n{output.rstrip()}", file=sys.stderr if process.returncode else sys.stdout, flush=True)
            if process.returncode != 0:
                failed.append(locale)
        if failed:
            print(f"kennisbank.build: the build of {', '.join(failed)} failed (output above); {site_dir} is incomplete", file=sys.stderr)
            return 1
        languages_done = time.perf_counter()
        try:
            finish(site_dir, languages.load_parts(Path(parts)), report=(lambda line: None) if quiet else print)
        except FinishError as exc:
            print(f"kennisbank.build: {exc}", file=sys.stderr)
            return 1
    if not quiet:
        done = time.perf_counter()
        print(
            f"kennisbank.build: {', '.join(locales)} built side by side into {site_dir} in {done - started:.1f} s ({done - languages_done:.1f} s after the languages)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kennisbank.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--config-file", type=Path, default=Path("mkdocs.yml"), help="the MkDocs configuration (mkdocs.yml)")
    parser.add_argument("-d", "--site-dir", type=Path, default=None, help="where to build (the configuration's site_dir)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--serial", action="store_true", help="one mkdocs build --strict, the languages one after the other")
    args = parser.parse_args(argv)
    if not args.config_file.is_file():
        parser.error(f"{args.config_file}: no such file. Fix: run it in the project folder or pass -f path/to/mkdocs.yml")
    return build(args.config_file, args.site_dir, quiet=args.quiet, serial=args.serial)


if __name__ == "__main__":
    raise SystemExit(main())
