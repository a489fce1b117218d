"""The languages built side by side (``python -m kennisbank.build``, ``make build``)
write the same site as ``mkdocs build --strict``, and fail as it does."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kennisbank.manifest import MANIFEST_PATH

from support import ARTICLE, build


def _parallel(project: Path, site: Path, *options: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KENNISBANK_")}
    return subprocess.run(
        [sys.executable, "-m", "kennisbank.build", "-f", str(project / "mkdocs.yml"), "-d", str(site), *options],
        capture_output=True,
        text=True,
        env={**environment, **env},
        cwd=project,
    )


def _files(site: Path) -> list[str]:
    return sorted(str(path.relative_to(site)) for path in site.rglob("*") if path.is_file())


def test_the_parallel_build_writes_the_serial_builds_site_byte_for_byte(project, tmp_path):
    serial = build(project, tmp_path / "serial")
    assert serial.returncode == 0, serial.output
    done = _parallel(project, tmp_path / "parallel")
    assert done.returncode == 0, done.stdout + done.stderr
    files = _files(serial.site)
    assert files == _files(tmp_path / "parallel")
    # both languages' pages and every step after them: sitemap, 404s, manifest, search, compressed copies
    for path in (
        "index.html",
        "en/index.html",
        "sitemap.xml",
        "en/sitemap.xml",
        "404.html",
        "en/404.html",
        MANIFEST_PATH,
        "pagefind/pagefind-entry.json",
        "index.html.br",
    ):
        assert path in files, path
    same, different, errors = filecmp.cmpfiles(serial.site, tmp_path / "parallel", files, shallow=False)
    assert different == [] and errors == []
    manifest = json.loads((tmp_path / "parallel" / MANIFEST_PATH).read_text(encoding="utf-8"))
    assert set(manifest["shells"]) == {"nl", "en"}


@pytest.mark.parametrize("options", [(), ("-q",)], ids=["plain", "quiet"])
def test_a_warning_in_one_language_fails_the_parallel_build_with_its_message(project, tmp_path, options):
    """Also quiet: mkdocs build --strict -q would pass it (-q hides warnings from --strict)."""
    article = project / "docs" / f"{ARTICLE}.en.md"
    article.write_text(article.read_text(encoding="utf-8") + "\n\nSee [this](does-not-exist.md).\n", encoding="utf-8")
    done = _parallel(project, tmp_path / "site", *options)
    assert done.returncode == 1
    assert "does-not-exist.md" in done.stderr
    assert "the build of en failed" in done.stderr
    assert not (tmp_path / "site" / MANIFEST_PATH).exists()


def test_an_unknown_language_is_refused_naming_the_languages(project, tmp_path):
    result = build(project, tmp_path / "site", env={"KENNISBANK_LANGUAGE": "fr"})
    assert result.returncode != 0
    assert "KENNISBANK_LANGUAGE=fr: not a language the site builds. Fix: use one of nl, en" in result.output
