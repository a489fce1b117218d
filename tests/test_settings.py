"""The server's settings: declared once, validated with the variable, the problem and
the fix, blank meaning the default, and the table in README.md the same as the
declaration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from kennisbank.server.settings import RateLimit, Settings, SettingsError, markdown_table, names, normalise_origin, variables

from support import ROOT

README = ROOT / "README.md"
START, END = "<!-- settings:start -->\n", "<!-- settings:end -->"


def readme_table(text: str) -> str:
    """The settings table between the README's markers."""
    assert text.count(START) == 1 and text.count(END) == 1, f"README.md needs one {START.strip()} and one {END}"
    return text.split(START, 1)[1].split(END, 1)[0]


def documented(table: str) -> list[str]:
    """The variables a README table documents, in its order."""
    return re.findall(r"^\| `([A-Z_]+)` \|", table, re.MULTILINE)


def test_the_readme_documents_every_setting_and_no_other():
    table = readme_table(README.read_text(encoding="utf-8"))
    assert documented(table) == names(), "README.md: paste the output of `kennisbank settings --markdown` between its settings markers"
    assert table == markdown_table(), "README.md: the settings table differs from the declaration: paste `kennisbank settings --markdown` between its markers"


def test_the_readme_check_sees_a_missing_and_a_stale_setting():
    table = markdown_table()
    without_port = "".join(line for line in table.splitlines(keepends=True) if "`PORT`" not in line)
    stale = table + "| `MKDOCS_CONFIG` | `mkdocs.yml` | the site's configuration |\n"
    assert documented(table) == names()
    assert "PORT" not in documented(without_port)
    assert documented(stale) == [*names(), "MKDOCS_CONFIG"]


def test_the_table_declares_each_variable_once_with_a_default_and_a_help():
    table = variables()
    assert [v.name for v in table] == [
        "HOST",
        "PORT",
        "WORKERS",
        "DATABASE_URL",
        "SITE_DIR",
        "RETENTION_MONTHS",
        "RATE_LIMIT",
        "CORS_ORIGINS",
        "MAX_BODY_BYTES",
        "TRUSTED_PROXIES",
        "REQUEST_TIMEOUT",
        "MAX_CONNECTIONS",
        "MAX_CLIENT_CONNECTIONS",
        "NOTIFY",
        "SMTP_URL",
        "NOTIFY_TO",
        "NOTIFY_FROM",
        "MAILDIR",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "LOGIN_ATTEMPTS",
        "BENCHMARK_MIN",
        "BENCHMARK_STEP",
        "REACH",
    ]
    assert all(v.help and isinstance(v.default, str) for v in table)
    assert variables("SITE_DIR", "PORT") == [table[1], table[4]]  # in the table's order
    with pytest.raises(KeyError, match="MKDOCS_CONFIG is not a setting"):
        variables("MKDOCS_CONFIG")  # the i18n commands' option, not the server's


BAD_SETTINGS = [
    ("PORT", "eighty", "not a whole number"),
    ("PORT", "70000", "out of range"),
    ("PORT", "+80", "not a whole number"),
    ("PORT", "8_000", "not a whole number"),
    ("HOST", "a b", "not a host"),
    ("HOST", "example.org/x", "not a host"),
    ("RATE_LIMIT", "5 per minute", "<submissions>/<seconds>"),
    ("RATE_LIMIT", "0/60", "<submissions>/<seconds>"),
    ("LOGIN_ATTEMPTS", "five", "<failures>/<seconds>"),
    ("CORS_ORIGINS", "*", "every website"),
    ("CORS_ORIGINS", "https://ok.example, example.org", "not an origin"),
    ("CORS_ORIGINS", "https://x.example/path", "not an origin"),
    ("MAX_BODY_BYTES", "-1", "not a whole number"),
    ("MAX_BODY_BYTES", "10", "out of range"),
    ("TRUSTED_PROXIES", "*", "every client"),
    ("TRUSTED_PROXIES", "proxy.example", "not an IP address or network"),
    ("REQUEST_TIMEOUT", "0", "out of range"),
    ("MAX_CONNECTIONS", "many", "not a whole number"),
    ("RETENTION_MONTHS", "0", "out of range"),
    ("BENCHMARK_MIN", "0", "out of range"),
    ("BENCHMARK_MIN", "twenty", "not a whole number"),
    ("RETENTION_MONTHS", "a year", "not a whole number"),
    ("DATABASE_URL", "postgresql://db/kb?nonsense=1", "not a valid PostgreSQL URL"),
    ("DATABASE_URL", "sqlite:/kb", "not a database URL"),
    ("WORKERS", "0", "out of range"),
    ("WORKERS", "two", "not a whole number"),
    ("WORKERS", "2", "SQLite mode is single-process"),
]


@pytest.mark.parametrize("name, value, problem", BAD_SETTINGS)
def test_settings_errors_name_the_variable_the_problem_and_the_fix(name, value, problem):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    message = str(error.value)
    assert message.startswith(f"{name}: ") and problem in message and "Fix: " in message
    assert error.value.variable == name
    assert message == f"{name}: {error.value.problem}. Fix: {error.value.fix}"


# The reviewer's examples: a DATABASE_URL's password never appears in a message
LEAKY_URLS = [
    ("postgresql://bob:s3cr%zzet@db/kb", "s3cr", "invalid percent-encoded token"),  # libpq quotes the token it could not read
    ("postgresql://bob@db/kb?password=s3cr%zzet", "s3cr", "invalid percent-encoded token"),
    ("postgresql:/bob:s3cret@db/kb", "s3cret", "not a database URL"),  # one / short: the whole value was echoed
    ("postgresql://bob:s3/cret@db/kb", "s3", "password holds a /"),  # libpq took bob as the host and s3 as the port
    ("bob:s3cret@db://kb", "s3cret", "unknown database scheme"),
]


@pytest.mark.parametrize("value, password, problem", LEAKY_URLS)
def test_a_bad_database_url_is_refused_without_showing_its_password(value, password, problem):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"DATABASE_URL": value})
    message = str(error.value)
    assert message.startswith("DATABASE_URL: ") and problem in message and "Fix: " in message
    assert password not in message


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://bob:s3c#ret@db/kb", "postgresql://bob@db/kb"),  # urlsplit ended the netloc at the #: "bob:s3c" was kept
        ("postgresql://bob:s3/cret@db/kb", "postgresql://bob@db/kb"),
        ("postgresql://bob:s3c?ret@db:5433/kb?sslmode=require", "postgresql://bob@db:5433/kb?sslmode=require"),
        ("postgresql://bob:pw@db/kb?sslmode=require&password=s3cret", "postgresql://bob@db/kb?sslmode=require&password=***"),
        ("postgresql://db/kb", "postgresql://db/kb"),
    ],
)
def test_redact_removes_a_password_with_a_hash_slash_or_question_mark(url, shown):
    from kennisbank.server.redaction import url as redact

    assert redact(url) == shown


def test_a_valid_database_url_with_a_hash_in_its_password_is_accepted_as_libpq_reads_it():
    assert Settings.from_env({"DATABASE_URL": "postgresql://bob:s3c#ret@db/kb"}).database_url == "postgresql://bob:s3c#ret@db/kb"


def test_a_number_out_of_range_names_the_range_and_an_example():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"MAX_BODY_BYTES": "10"})
    assert (
        str(error.value) == "MAX_BODY_BYTES: 10 is out of range (4096 to 16777216). Fix: set a size in bytes from 4096 to 16777216, e.g. MAX_BODY_BYTES=65536"
    )


def test_default_settings(monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.retention_months, settings.max_body_bytes) == ("127.0.0.1", 8000, 12, 65536)
    assert settings.database_url == "sqlite:///var/kennisbank.sqlite3"
    assert settings.site_dir == ROOT / "site" and settings.project_dir == ROOT
    assert settings.rate_limit == RateLimit(5, 60) and (settings.rate_limit.count, settings.rate_limit.seconds) == (5, 60)
    assert settings.cors_origins == ()
    custom = Settings.from_env({"RATE_LIMIT": "off", "CORS_ORIGINS": "HTTPS://Static.Example:443/, http://localhost:3000"})
    assert custom.rate_limit is None
    assert custom.cors_origins == ("https://static.example", "http://localhost:3000")


def test_every_declared_default_is_what_from_env_uses():
    settings = Settings.from_env({})
    for variable in variables():
        given = Settings.from_env({variable.name: variable.default})
        assert given == settings, variable.name


def test_empty_and_blank_values_mean_the_default_and_values_are_stripped():
    blank = Settings.from_env(dict(zip(names(), ["", " ", "\t", "  \n", "", " ", "", " "], strict=False)))
    assert blank == Settings.from_env({})
    assert Settings.from_env({"PORT": " 8080 ", "RATE_LIMIT": " 10 / 30 "}).port == 8080
    assert Settings.from_env({"RATE_LIMIT": " 10 / 30 "}).rate_limit == RateLimit(10, 30)


def test_the_process_environment_is_read_when_no_mapping_is_given(monkeypatch):
    for name in names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("RATE_LIMIT", "  ")
    monkeypatch.setenv("port", "1")  # a variable's name is its exact spelling
    settings = Settings.from_env()
    assert settings.port == 9000 and settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.rate_limit == RateLimit(5, 60)
    monkeypatch.setenv("MAX_BODY_BYTES", "big")
    with pytest.raises(SettingsError, match="^MAX_BODY_BYTES: 'big' is not a whole number"):
        Settings.from_env()


def test_a_mapping_given_is_read_instead_of_the_process_environment(monkeypatch):
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("HOST", "a b")
    assert Settings.from_env({}).port == 8000
    assert Settings.from_env({"PORT": "8001"}).host == "127.0.0.1"


def test_relative_paths_are_relative_to_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"SITE_DIR": "out/site"})
    assert settings.project_dir == tmp_path and settings.site_dir == tmp_path / "out" / "site"
    assert Settings.from_env({"SITE_DIR": str(ROOT / "site")}).site_dir == ROOT / "site"
    assert Settings.from_env({"SITE_DIR": "~/site"}).site_dir == Path.home() / "site"


def test_settings_cannot_be_changed():
    settings = Settings.from_env({})
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 1


@pytest.mark.parametrize(
    "value, origin",
    [
        ("https://Example.ORG", "https://example.org"),
        ("https://example.org:443/", "https://example.org"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:80", "http://[::1]"),
        ("ftp://example.org", None),
        ("https://example.org/path", None),
        ("https://user@example.org", None),
        ("https://example.org:99999", None),
        ("example.org", None),
    ],
)
def test_normalise_origin(value, origin):
    assert normalise_origin(value) == origin
