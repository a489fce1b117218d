"""The Nu Html Checker (vnu.jar, the W3C's HTML validator) over HTML files, in one JVM.

``vnu-jar`` is pinned in ``audit/package.json`` and installed with ``npm ci
--ignore-scripts`` (``make test`` and ``make audit`` do it); it runs on the
machine's Java (``.ci/run`` installs Debian's ``default-jre-headless`` when ``java``
is missing). ``tests/test_html_valid.py`` runs it over every built page and
``audit/run.py`` reports the count per page; both use :func:`check`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

AUDIT_DIR = Path(__file__).resolve().parent
JAR = AUDIT_DIR / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
#: a JVM call over a whole site: startup plus about half a second per page
TIMEOUT = 900


class NuError(Exception):
    """The checker could not run; the message says why and the fix."""


@dataclass(frozen=True)
class Message:
    """One finding: ``type`` is "error", "warning", "info" or "non-document-error"."""

    path: Path
    line: int | None
    column: int | None
    type: str
    text: str
    extract: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" + (f":{self.column}" if self.column else "") if self.line else str(self.path)
        extract = " ".join(self.extract.split())
        return f"{where}: {self.type}: {self.text}" + (f"\n    {extract[:160]}" if extract else "")


def missing() -> str | None:
    """Why the checker cannot run here, with the fix; ``None`` when it can."""
    if shutil.which("java") is None:
        return "java is not installed: apt-get install -y default-jre-headless (.ci/run does it)"
    if not JAR.is_file():
        return f"{JAR} is missing: run `cd audit && npm ci --ignore-scripts` (make test does it)"
    return None


def check(paths: Iterable[Path]) -> list[Message]:
    """Every message of the checker on ``paths`` (HTML files), errors and warnings, in one JVM call."""
    files = [Path(path).resolve() for path in paths]
    if not files:
        return []
    reason = missing()
    if reason:
        raise NuError(reason)
    done = subprocess.run(
        ["java", "-Xss8m", "-jar", str(JAR), "--format", "json", "--skip-non-html", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    try:
        report = json.loads(done.stderr or done.stdout)  # vnu writes its report to stderr
    except json.JSONDecodeError:
        raise NuError(f"vnu.jar gave no JSON report (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}") from None
    return [_message(item) for item in report.get("messages", [])]


def _message(item: dict) -> Message:
    kind = item.get("type", "error")
    if kind == "info" and item.get("subType") == "warning":
        kind = "warning"
    url = item.get("url", "")
    path = Path(unquote(urlsplit(url).path)) if url.startswith("file:") else Path(url)
    return Message(path, item.get("lastLine") or item.get("firstLine"), item.get("firstColumn"), kind, item.get("message", ""), item.get("extract", ""))


def failures(messages: Iterable[Message]) -> list[Message]:
    """The messages that make a page invalid: errors, and files the checker could not read."""
    return [message for message in messages if message.type in ("error", "non-document-error")]


def per_page(messages: Iterable[Message], paths: Iterable[Path], root: Path) -> dict[str, dict[str, int]]:
    """``{"en/over/index.html": {"error": 0, "warning": 1}}`` for every page in ``paths``, relative to ``root``."""
    root = root.resolve()
    counts = {str(Path(path).resolve().relative_to(root)): {"error": 0, "warning": 0} for path in paths}
    for message in messages:
        try:
            key = str(message.path.resolve().relative_to(root))
        except ValueError:
            continue
        kind = "error" if message.type in ("error", "non-document-error") else message.type
        if key in counts and kind in counts[key]:
            counts[key][kind] += 1
    return counts
