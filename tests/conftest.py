"""Shared fixtures: the real site built once per test session, copies of the project
to break on purpose, and parsed pages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
#: The author's original text that the Dutch article must stay faithful to (see tests/data/README.md).
SEED = ROOT / "tests" / "data" / "seed-klantgericht-optreden.txt"
PROJECT_PARTS = ("mkdocs.yml", "docs", "overrides", "hooks", "assessments")
ARTICLE = "artikelen/klantgericht-optreden-bevorderen"


@dataclass
class Build:
    """The outcome of one `mkdocs build --strict` of a project folder."""

    project: Path
    site: Path
    returncode: int
    output: str

    def html(self, path: str) -> BeautifulSoup:
        """The parsed page at URL path ``path`` (``""``, ``"en/"``, ``"privacy/"``)."""
        file = self.site / path / "index.html" if not path.endswith(".html") else self.site / path
        return BeautifulSoup(file.read_text(encoding="utf-8"), "lxml")

    def pages(self) -> list[Path]:
        return sorted(p for p in self.site.rglob("*.html") if "assets" not in p.parts)


def copy_project(dest: Path) -> Path:
    """A copy of the site's sources in ``dest``, to change and build."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part)
        else:
            shutil.copy2(source, dest / part)
    return dest


def build(project: Path, site: Path | None = None, *extra_args: str, strict: bool = True, env: dict[str, str] | None = None) -> Build:
    """Build ``project`` in a subprocess (hooks keep module state) into ``site``."""
    site = site or project / "site"
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", *(["--strict"] if strict else []), "-f", str(project / "mkdocs.yml"), "-d", str(site), *extra_args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=project,
    )
    return Build(project, site, done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Build:
    """The real site, built once per session (per worker)."""
    out = tmp_path_factory.mktemp("site")
    result = build(ROOT, out)
    assert result.returncode == 0, result.output
    return result


@pytest.fixture
def project(tmp_path) -> Path:
    """A fresh copy of the project's sources, to break on purpose."""
    return copy_project(tmp_path / "project")


# Browser and server fixtures

# Debian's Chromium and its flags: one definition, shared with the audit.
sys.path.insert(0, str(ROOT / "audit"))
from measure import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def start_server(site_dir: Path, database: Path, **env: str):
    """`kennisbank serve` on a free loopback port, as `make serve` runs it; returns (server, base URL)."""
    from local_server import LocalServer

    server = LocalServer(site_dir, database, **env)
    return server, server.start()


@pytest.fixture(scope="session")
def live_server(site, tmp_path_factory):
    """The submission server serving the real built site, with its own database."""
    database = tmp_path_factory.mktemp("db") / "kennisbank.sqlite3"
    server, base_url = start_server(site.site, database)
    yield base_url, database
    server.stop()


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server[0]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser, console_errors):
    """A fresh page (own storage) that records console errors and failed requests."""
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    yield page
    context.close()
