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
SEED = ROOT.parent / "shared" / "seeds" / "000_27b58bcf51435b55.txt"
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


def build(project: Path, site: Path | None = None, *extra_args: str) -> Build:
    """Build ``project`` strictly in a subprocess (hooks keep module state) into ``site``."""
    site = site or project / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"), "-d", str(site), *extra_args],
        capture_output=True,
        text=True,
        env=env,
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
