"""Constants and functions the test modules share: ``from support import ROOT, build``.

Fixtures are in conftest.py, the server harness in local_server.py; a test module
imports neither conftest.py nor another test module (test_repository_hygiene.py
checks). pytest puts this folder on the import path, as it does for conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup

from kennisbank.assessment import load_definitions
from kennisbank.server.db.store import Submission, new_public_id, utc_now
from kennisbank.siteconfig import load_mkdocs

if TYPE_CHECKING:
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
#: The author's original text that the Dutch article must stay faithful to; copied
#: unchanged from the seed he delivered (see tests/data/README.md).
SEED = ROOT / "tests" / "data" / "seed-klantgericht-optreden.txt"
PROJECT_PARTS = ("mkdocs.yml", "docs", "overrides", "hooks", "assessments")
ARTICLE = "artikelen/klantgericht-optreden-bevorderen"


# Building the site


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
        """Every HTML page of the build; never empty, so a test's loop over them cannot pass by running no check."""
        found = sorted(p for p in self.site.rglob("*.html") if "assets" not in p.parts)
        assert {self.site / "index.html", self.site / "en" / "index.html"} <= set(found), f"the build in {self.site} lacks its home pages"
        return found


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


#: ``extra.operator`` with every fact filled in; FORWARDING is what the privacy statement says is passed on
OPERATOR = """  operator:
    reply_time: {nl: "binnen twee werkdagen", en: "within two working days"}
    connection_log_retention: {nl: "het hostingbedrijf bewaart verbindingsgegevens veertien dagen", en: "the hosting company keeps connection data for fourteen days"}
    backup_retention: {nl: "acht dagen", en: "eight days"}
    hosting:
      name: "Voorbeeld Hosting B.V."
      country: {nl: "Nederland", en: "the Netherlands"}
      storage: {nl: "Nederland", en: "the Netherlands"}
    email:
      name: "Voorbeeld Mail GmbH"
      country: {nl: "Duitsland", en: "Germany"}
      storage: {nl: "de Europese Unie", en: "the European Union"}
    forwarding: FORWARDING
"""
CRM = """    crm:
      name: "Voorbeeld CRM B.V."
      country: {nl: "Nederland", en: "the Netherlands"}
      storage: {nl: "Nederland", en: "the Netherlands"}
"""


def set_operator(project: Path, forwarding: str = "leads", crm: bool = False) -> None:
    """Fill in ``extra.operator`` of the project copy ``project``: the privacy statement then says
    ``forwarding`` (leads, all, off) and, with ``crm``, names a CRM that receives submissions."""
    path = project / "mkdocs.yml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  operator:\n")
    end = text.index("    forwarding: leads\n", start) + len("    forwarding: leads\n")
    block = OPERATOR.replace("FORWARDING", forwarding) + (CRM if crm else "")
    path.write_text(text[:start] + block + text[end:], encoding="utf-8")


def build_forwarding(dest: Path, forwarding: str = "all", crm: bool = True) -> Build:
    """A copy of the project in ``dest``, built with a privacy statement that says the server passes
    on ``forwarding`` (and, with ``crm``, names a CRM): the site a server with NOTIFY=all or a
    WEBHOOK_URL may serve (``kennisbank.server.channels.check_statement``)."""
    project = copy_project(dest)
    set_operator(project, forwarding, crm)
    return build(project)


# The browser and the server


def _audit_module(name: str) -> ModuleType:
    """``audit/<name>.py``, loaded from its file under the name ``make audit`` gives it.

    audit/ is a folder of scripts, not a package: loading the one file the tests share
    with it leaves the import path alone (importlib's "importing a source file
    directly" recipe)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "audit" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


#: The audit's measurements (page weight, axe-core, layout shifts, budgets), the same
#: code `make audit` runs.
measure = _audit_module("measure")
#: Debian's Chromium and its flags: defined once, in audit/measure.py, for the audit
#: and the tests alike.
CHROMIUM, CHROMIUM_ARGS = measure.CHROMIUM, measure.CHROMIUM_ARGS
#: The Nu Html Checker (vnu.jar) over HTML files: tests/test_html_valid.py and `make audit`.
nu = _audit_module("nu")


def start_server(site_dir: Path, database: Path, **env: str):
    """`kennisbank serve` on a free loopback port, as `make serve` runs it; returns (server, base URL)."""
    from local_server import LocalServer

    server = LocalServer(site_dir, database, **env)
    return server, server.start()


# Submissions

ENDPOINT = "/api/assessments/contract-check/submissions"


def _load_assessment():
    config = load_mkdocs(ROOT / "mkdocs.yml")
    return load_definitions(config.assessment_dir, config.locales)["contract-check"]


ASSESSMENT = _load_assessment()
QUESTIONS = [q.id for q in ASSESSMENT.questions]
#: The answer to the context question (who the contract is with): the first option,
#: under which questions for another context do not apply, whatever they are answered.
CONTEXT = {ASSESSMENT.context.id: ASSESSMENT.context.options[0].id} if ASSESSMENT.context else {}


def answers(value=1) -> dict:
    """A complete set of answers (the context question's included), every question ``value``."""
    return {**CONTEXT, **dict.fromkeys(QUESTIONS, value)}


def stored_answers(value=1) -> dict:
    """``answers(value)`` as the server stores them: a question for another context as ``"na"``."""
    context = CONTEXT.get(ASSESSMENT.context.id) if ASSESSMENT.context else None
    return {**CONTEXT, **{q.id: (value if q.applies(context) else "na") for q in ASSESSMENT.questions}}


def environment(site_dir: Path, database: Path, **env: str) -> dict[str, str]:
    """The server's settings for ``site_dir`` and ``database``, rate limiting off."""
    return {
        "SITE_DIR": str(site_dir),
        "DATABASE_URL": f"sqlite:///{database}",
        "RATE_LIMIT": "off",
        **env,
    }


def payload(value: int = 1, **changes) -> dict:
    """A complete JSON submission answering every question with ``value``."""
    body = {
        "assessment": "contract-check",
        "lang": "nl",
        "version": ASSESSMENT.version,
        "answers": {**CONTEXT, **dict.fromkeys(QUESTIONS, value)},
        "contact": {"name": "", "email": "", "organisation": "", "message": ""},
        "discuss": False,
        "consent": False,
        "website": "",
    }
    body.update(changes)
    return body


def form(value: str = "1", **changes) -> dict:
    """A complete form post answering every question with ``value``."""
    fields = {"assessment": "contract-check", "lang": "nl", "version": str(ASSESSMENT.version)}
    fields.update({f"answer-{q}": value for q in QUESTIONS})
    fields.update({f"answer-{key}": option for key, option in CONTEXT.items()})
    fields.update({"name": "", "email": "", "organisation": "", "message": "", "website": ""})
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


def stored(client: TestClient) -> list[Submission]:
    """Every submission in the store of ``client``'s app."""
    return client.app.state.store.all()


def submission(days_ago: float = 0, email: str | None = None, **changes) -> Submission:
    """A submission to put in a store directly, ``days_ago`` old, with contact details if ``email``."""
    fields = {
        "public_id": new_public_id(),
        "created_at": utc_now() - timedelta(days=days_ago),
        "assessment": "contract-check",
        "version": 1,
        "lang": "nl",
        "answers": {**CONTEXT, **dict.fromkeys(QUESTIONS, 1)},
        "score": 50,
        "band": "gemengd",
    }
    if email:
        fields.update(consent=True, email=email, name="N", discuss=False)
    fields.update(changes)
    return Submission(**fields)


# Headers

#: on every response
SECURITY_HEADERS = {"content-security-policy", "x-content-type-options", "referrer-policy"}
#: on documents (HTML) too
DOCUMENT_HEADERS = {"x-frame-options", "permissions-policy"}


# In a browser and on the command line


def answer_all(page, value: str) -> int:
    """The context question's first option (a commercial provider), then ``value`` on every
    question shown (all of them without JavaScript: the server ignores the ones that do not
    apply); how many were ticked."""
    context = page.locator("form.kb-assessment [data-kb-context] input[type=radio]")
    if context.count():
        context.first.check()
    radios = page.locator(f'form.kb-assessment fieldset[data-kb-question]:not([hidden]) input[type=radio][value="{value}"]')
    for index in range(radios.count()):
        radios.nth(index).check()
    return radios.count()


def export_json(database) -> list[dict]:
    """``kennisbank export --format json`` of the SQLite file ``database``."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run([sys.executable, "-m", "kennisbank.cli", "export", "--format", "json"], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


#: The WCAG levels axe checks on public pages (audit/measure.py adds best practices).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_without_javascript(browser, page):
    """axe-core over ``page`` as a reader without JavaScript has it. axe is itself a script
    and Playwright's evaluate never returns in a context without JavaScript, so the same
    document is loaded at the same address in a context with it, where a CSP of
    ``script-src 'none'`` keeps the page's own scripts from changing it (Playwright's
    evaluate, which injects axe, is not subject to the page's CSP)."""
    from axe_playwright_python.sync_playwright import Axe

    html, url = page.content(), page.url
    context = browser.new_context()
    try:
        checker = context.new_page()
        checker.route(
            url,
            lambda route: route.fulfill(
                status=200, content_type="text/html; charset=utf-8", body=html, headers={"Content-Security-Policy": "script-src 'none'"}
            ),
        )
        checker.goto(url)
        return Axe().run(checker, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    finally:
        context.close()


# PostgreSQL: a real server per test session (per xdist worker), in a temporary folder


class PostgresServer:
    """Debian's PostgreSQL, started with ``initdb`` and ``pg_ctl`` in a temporary folder on a
    free port (its unix socket in that folder too), stopped with :meth:`stop`.

    initdb refuses to run as root, so as root (here and in CI) the server runs as the
    ``postgres`` system user Debian's package creates, in a folder given to it; anyone
    else runs it as themselves. Tests get a fresh database each, copied from a migrated
    template (``CREATE DATABASE ... TEMPLATE``: a file copy, a few tens of milliseconds)."""

    TEMPLATE = "kennisbank_template"

    def __init__(self, durable: bool = False) -> None:
        """``durable``: commits reach the disk (fsync on), as in production: for benchmarks."""
        import glob
        import socket
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
        initdb = found[-1] if found else shutil.which("initdb")
        if not initdb:
            raise RuntimeError("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH). Fix: run .ci/run, or apt-get install postgresql")
        self.bin = Path(initdb).parent
        self.folder = Path(tempfile.mkdtemp(prefix="kennisbank-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-o", options, "-w", "start")
        self._count = 0
        self.admin_url = self.url("postgres")
        from kennisbank.server.db.store import open_store

        self.sql(f"CREATE DATABASE {self.TEMPLATE}")
        open_store(self.url(self.TEMPLATE), self.folder, pool_size=1).close()  # migrated once; each test's database is a copy

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True, cwd=self.folder)
        if result.returncode:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr or result.stdout}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(statement)

    def fresh(self, template: str | None = None) -> str:
        """The URL of a new database: migrated (a copy of the template), or empty with ``template="template0"``."""
        self._count += 1
        name = f"test_{os.getpid()}_{self._count}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {template or self.TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def integrity_errors() -> tuple[type[Exception], ...]:
    """What a constraint or a trigger refusing a row raises, on either backend."""
    import sqlite3

    import psycopg

    return sqlite3.IntegrityError, psycopg.IntegrityError
