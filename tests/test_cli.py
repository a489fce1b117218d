"""The `kennisbank` command: serve, export, purge, erase, stats; help texts, exit codes,
and settings that fail with the variable, the problem and the fix."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from support import QUESTIONS, ROOT, submission
from kennisbank.cli import main
from kennisbank.server.settings import Settings, SettingsError
from kennisbank.server.store import months_before, open_store, utc_now


@pytest.fixture
def env(monkeypatch, tmp_path, site):
    """The environment of the commands: a database of four submissions in tmp_path, and
    the site built for this run (its manifest orders the export's answer columns; a
    fresh clone has no site/)."""
    for name in ("HOST", "PORT", "SITE_DIR", "RETENTION_MONTHS", "RATE_LIMIT", "CORS_ORIGINS", "MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    monkeypatch.setenv("SITE_DIR", str(site.site))
    monkeypatch.chdir(ROOT)
    store = open_store(f"sqlite:///{tmp_path / 'kb.sqlite3'}", tmp_path)
    cutoff = months_before(utc_now(), 12)
    items = {
        "old": submission(created_at=cutoff - timedelta(days=3), email="old@example.org", score=10, band="inspanning"),
        "ann": submission(email="ann@example.org", name="=HYPERLINK(1)", score=50, band="gemengd"),
        "ann2": submission(email="Ann@Example.org", score=80, band="resultaatgericht", answers={q: 2 for q in QUESTIONS}),
        "anon": submission(score=60, band="gemengd"),
    }
    for item in items.values():
        store.add(item)
    store.close()
    return items


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["serve", "export", "purge", "erase", "stats"])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: kennisbank {command}" in out and len(out) > 200
    assert "DATABASE_URL" in out


def test_main_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("serve", "export", "purge", "erase", "stats"))
    for args in ([], ["nope"], ["export", "--format", "xml"], ["erase"]):
        with pytest.raises(SystemExit) as exit:
            main(args)
        assert exit.value.code == 2


def test_the_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "kennisbank.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "kennisbank" in done.stdout


def test_export_csv_has_a_row_per_submission_and_answers_as_columns(capsys, env):
    code, out, _ = run(capsys, "export", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == [s.public_id for s in env.values()]
    assert [c for c in rows[0] if c.startswith("answer.")] == [f"answer.{q}" for q in QUESTIONS]
    ann2 = next(row for row in rows if row["id"] == env["ann2"].public_id)
    assert all(ann2[f"answer.{q}"] == "2" for q in QUESTIONS)
    ann = next(row for row in rows if row["id"] == env["ann"].public_id)
    assert ann["name"] == "'=HYPERLINK(1)" and ann["email"] == "ann@example.org"
    anon = next(row for row in rows if row["id"] == env["anon"].public_id)
    assert anon["email"] == "" and anon["consent"] == "no"


def test_export_json_for_one_person_to_a_file(capsys, env, tmp_path):
    target = tmp_path / "ann.json"
    code, _, err = run(capsys, "export", "--format", "json", "--email", "ANN@example.org", "--output", str(target))
    assert code == 0 and "2 submission(s)" in err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert {item["id"] for item in data} == {env["ann"].public_id, env["ann2"].public_id}
    assert data[0]["name"] == "=HYPERLINK(1)"  # JSON is data, not a spreadsheet: kept as it is
    assert set(data[0]) >= {"id", "created_at", "assessment", "version", "lang", "score", "band", "answers", "consent", "email"}


def test_purge_deletes_what_is_past_the_retention(capsys, env, tmp_path):
    code, out, _ = run(capsys, "purge")
    assert code == 0 and out.startswith("purged 1 submission(s)") and "RETENTION_MONTHS=12" in out
    store = open_store(f"sqlite:///{tmp_path / 'kb.sqlite3'}", tmp_path)
    assert {s.public_id for s in store.all()} == {env[k].public_id for k in ("ann", "ann2", "anon")}
    store.close()
    assert run(capsys, "purge")[1].startswith("purged 0 ")


def test_purge_honours_retention_months(capsys, env, monkeypatch):
    monkeypatch.setenv("RETENTION_MONTHS", "1")
    assert run(capsys, "purge")[1].startswith("purged 1 ")


def test_erase_deletes_one_persons_data(capsys, env, tmp_path):
    code, out, _ = run(capsys, "erase", "--email", " Ann@EXAMPLE.org")
    assert code == 0 and out.startswith("erased 2 submission(s)")
    store = open_store(f"sqlite:///{tmp_path / 'kb.sqlite3'}", tmp_path)
    assert {s.public_id for s in store.all()} == {env["old"].public_id, env["anon"].public_id}
    store.close()


def test_erase_with_a_bad_address_is_a_usage_error(capsys, env):
    code, _, err = run(capsys, "erase", "--email", "not-an-address")
    assert code == 2
    assert "--email" in err and "Fix:" in err


def test_stats(capsys, env):
    code, out, _ = run(capsys, "stats")
    assert code == 0
    assert "submissions: 4" in out and "mean score 50.0" in out and "gemengd" in out
    code, out, _ = run(capsys, "stats", "--format", "json")
    data = json.loads(out)
    assert data["count"] == 4
    assert data["assessments"]["contract-check"]["bands"] == {"gemengd": 2, "inspanning": 1, "resultaatgericht": 1}


def test_bad_settings_are_usage_errors_naming_the_variable(capsys, env, monkeypatch):
    monkeypatch.setenv("RETENTION_MONTHS", "a year")
    code, _, err = run(capsys, "purge")
    assert code == 2 and "RETENTION_MONTHS" in err and "Fix:" in err


def test_serve_refuses_a_missing_site(capsys, env, monkeypatch, tmp_path):
    monkeypatch.setenv("SITE_DIR", str(tmp_path / "nothing"))
    code, _, err = run(capsys, "serve")
    assert code == 2 and "SITE_DIR" in err and "make build" in err


BAD_SETTINGS = [
    ("PORT", "eighty", "not a whole number"),
    ("PORT", "70000", "out of range"),
    ("HOST", "a b", "not a host"),
    ("RATE_LIMIT", "5 per minute", "<submissions>/<seconds>"),
    ("RATE_LIMIT", "0/60", "<submissions>/<seconds>"),
    ("CORS_ORIGINS", "*", "every website"),
    ("CORS_ORIGINS", "https://ok.example, example.org", "not an origin"),
    ("CORS_ORIGINS", "https://x.example/path", "not an origin"),
    ("MAX_BODY_BYTES", "-1", "not a whole number"),
    ("MAX_BODY_BYTES", "10", "out of range"),
    ("RETENTION_MONTHS", "0", "out of range"),
    ("DATABASE_URL", "postgresql://db/kb", "PostgreSQL"),
    ("DATABASE_URL", "sqlite:/kb", "not a database URL"),
]


@pytest.mark.parametrize("name, value, problem", BAD_SETTINGS)
def test_settings_errors_name_the_variable_the_problem_and_the_fix(name, value, problem):
    environ = {name: value}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ)
    message = str(error.value)
    assert message.startswith(f"{name}: ") and problem in message and "Fix: " in message


def test_default_settings(tmp_path):
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.retention_months, settings.max_body_bytes) == ("127.0.0.1", 8000, 12, 65536)
    assert settings.database_url == "sqlite:///var/kennisbank.sqlite3"
    assert settings.site_dir == ROOT / "site"
    assert (settings.rate_limit.count, settings.rate_limit.seconds) == (5, 60)
    assert settings.cors_origins == ()
    custom = Settings.from_env({"RATE_LIMIT": "off", "CORS_ORIGINS": "HTTPS://Static.Example:443/, http://localhost:3000"})
    assert custom.rate_limit is None
    assert custom.cors_origins == ("https://static.example", "http://localhost:3000")
