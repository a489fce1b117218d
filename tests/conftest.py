"""Shared fixtures: the real site built once per test session, copies of the project
to break on purpose, and parsed pages. Constants and functions the tests share are in
support.py; test modules import them from there, not from here."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from kennisbank.server.app import create_app
from kennisbank.server.settings import Settings

from support import CHROMIUM, CHROMIUM_ARGS, ROOT, Build, PostgresServer, build, build_forwarding, copy_project, environment, start_server

# Starlette's TestClient warns on import that it wants httpx2; imported here first, so
# the test modules that import it after conftest.py do not warn again.
warnings.filterwarnings("ignore", message=".*httpx2.*")
from starlette.testclient import TestClient  # noqa: E402


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Build:
    """The real site, built once per session (per worker)."""
    out = tmp_path_factory.mktemp("site")
    result = build(ROOT, out)
    assert result.returncode == 0, result.output
    return result


@pytest.fixture(scope="session")
def forwarding_site(tmp_path_factory) -> Build:
    """The real site built with a privacy statement that says every submission is passed on,
    also to a CRM: what a server with NOTIFY=all and a WEBHOOK_URL may serve."""
    result = build_forwarding(tmp_path_factory.mktemp("forwarding") / "project")
    assert result.returncode == 0, result.output
    return result


@pytest.fixture
def project(tmp_path) -> Path:
    """A fresh copy of the project's sources, to break on purpose."""
    return copy_project(tmp_path / "project")


# The database: SQLite, and PostgreSQL where a module asks for both


def pytest_generate_tests(metafunc):
    """A module with ``BACKENDS = ("sqlite", "postgresql")`` runs each test that uses a
    database (the ``backend`` fixture, through ``database_url``, ``make_client`` ...) once per backend."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    chosen = any(marker.args and marker.args[0] == "backend" for marker in metafunc.definition.iter_markers("parametrize"))
    if backends and "backend" in metafunc.fixturenames and not chosen:  # a test may name its own (SQLite only: it says why)
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for this session (this xdist worker: each starts its own, so no
    worker waits for another's start or stop, and a crashed worker leaves no server shared
    with others); stopped at the end."""
    try:
        server = PostgresServer()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def backend(request) -> str:
    """``sqlite`` unless the module's ``BACKENDS`` parametrises it."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(request, backend, tmp_path) -> str:
    """A fresh database of ``backend``: a new SQLite file, or a new PostgreSQL database (migrated)."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres").fresh()
    return f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}"


# The submission server in-process


@pytest.fixture
def make_client(site, tmp_path, database_url):
    """``make_client(**env)``: a TestClient on a fresh app; the same database per test."""
    clients = []

    def make(**env: str) -> TestClient:
        app = create_app(Settings.from_env(environment(site.site, tmp_path / "var" / "db.sqlite3", **{"DATABASE_URL": database_url, **env})))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


# Browser and server fixtures


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
