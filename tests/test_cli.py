"""The `kennisbank` command: serve, export, purge, erase, stats, settings, i18n-*;
help texts from the settings table, exit codes, and bad input that fails with the
variable or option, the problem and the fix. The settings themselves:
test_settings.py; the CSV and JSON: test_export.py."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from kennisbank.cli import main
from kennisbank.server.db.store import months_before, open_store, utc_now
from kennisbank.server.settings import Settings, markdown_table, variables

from support import CONTEXT, QUESTIONS, ROOT, submission
from support import answers as all_answers

SETTINGS = [v.name for v in variables()]

READS = {
    "serve": SETTINGS,
    "export": ["DATABASE_URL", "SITE_DIR"],
    "purge": ["DATABASE_URL", "RETENTION_MONTHS"],
    "erase": ["DATABASE_URL"],
    "stats": ["DATABASE_URL"],
}
"""The environment variables each command reads."""


BACKENDS = ("sqlite", "postgresql")
"""The commands that use a database run on both (the conftest's ``backend``)."""


@pytest.fixture
def env(monkeypatch, tmp_path, database_url):
    """The environment of the commands: a database of four submissions, no other setting."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(ROOT)
    store = open_store(database_url, tmp_path)
    cutoff = months_before(utc_now(), 12)
    items = {
        "old": submission(created_at=cutoff - timedelta(days=3), email="old@example.org", score=10, band="inspanning"),
        "ann": submission(email="ann@example.org", name="=HYPERLINK(1)", score=50, band="gemengd"),
        "ann2": submission(email="Ann@Example.org", score=80, band="resultaatgericht", answers=all_answers(2)),
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


@pytest.mark.parametrize("command", [*READS, "settings", "i18n-status", "i18n-mark"])
def test_every_command_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"Usage: kennisbank {command}" in out and len(out) > 200


@pytest.mark.parametrize("command", READS)
def test_help_lists_the_variables_the_command_reads_from_the_settings_table(capsys, command):
    out = run(capsys, command, "--help")[1]
    environment = out.split("\nEnvironment:\n", 1)[1]
    listed = [line.split()[0] for line in environment.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert listed == READS[command]
    for variable in variables(*READS[command]):
        assert f"[default: {variable.default}]" in " ".join(environment.split()) or not variable.default


def test_help_is_generated_from_the_settings_table(capsys, monkeypatch):
    monkeypatch.setattr(Settings.model_fields["retention_months"], "description", "kept for a while, says the table")
    assert "kept for a while, says the table" in run(capsys, "purge", "--help")[1]


def test_main_help_and_usage_errors(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert all(name in out for name in (*READS, "settings", "i18n-status", "i18n-mark"))
    for args in ([], ["nope"], ["export", "--format", "xml"], ["erase"], ["stats", "--format", "csv"], ["i18n-mark"]):
        code, _, err = run(capsys, *args)
        assert code == 2, args
        assert "kennisbank" in err and "--help" in err  # the usage and where to read more


def test_the_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "kennisbank.cli", "--help"], check=False, capture_output=True, text=True)
    assert done.returncode == 0 and "Usage: kennisbank" in done.stdout
    done = subprocess.run([sys.executable, "-m", "kennisbank.cli", "export", "--format", "xml"], check=False, capture_output=True, text=True)
    assert done.returncode == 2 and "'--format'" in done.stderr


def test_settings_prints_the_readme_table(capsys):
    code, out, _ = run(capsys, "settings", "--markdown")
    assert code == 0 and out == markdown_table()
    code, out, _ = run(capsys, "settings")
    assert code == 0 and [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == SETTINGS


def test_export_csv_has_a_row_per_submission_and_answers_as_columns(capsys, env, monkeypatch, site):
    monkeypatch.setenv("SITE_DIR", str(site.site))  # the built site's manifest orders the questions
    code, out, _ = run(capsys, "export", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == [s.public_id for s in env.values()]
    assert [c for c in rows[0] if c.startswith("answer.")] == [f"answer.{q}" for q in [*CONTEXT, *QUESTIONS]]
    ann2 = next(row for row in rows if row["id"] == env["ann2"].public_id)
    assert all(ann2[f"answer.{q}"] == "2" for q in QUESTIONS)
    ann = next(row for row in rows if row["id"] == env["ann"].public_id)
    assert ann["name"] == "'=HYPERLINK(1)" and ann["email"] == "ann@example.org"
    anon = next(row for row in rows if row["id"] == env["anon"].public_id)
    assert anon["email"] == "" and anon["consent"] == "no"
    assert (anon["band"], anon["band_title"]) == ("gemengd", "Gemengd contract")  # in the site's default language, as the email


def test_export_json_for_one_person_to_a_file(capsys, env, tmp_path):
    target = tmp_path / "ann.json"
    code, _, err = run(capsys, "export", "--format", "json", "--email", "ANN@example.org", "--output", str(target))
    assert code == 0 and "2 submission(s)" in err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert {item["id"] for item in data} == {env["ann"].public_id, env["ann2"].public_id}
    assert data[0]["name"] == "=HYPERLINK(1)"  # JSON is data, not a spreadsheet: kept as it is
    assert set(data[0]) >= {"id", "created_at", "assessment", "version", "lang", "score", "band", "answers", "consent", "email"}


def test_purge_deletes_what_is_past_the_retention(capsys, env, tmp_path, database_url):
    code, out, _ = run(capsys, "purge")
    assert code == 0 and out.startswith("purged 1 submission(s)") and "RETENTION_MONTHS=12" in out
    store = open_store(database_url, tmp_path)
    assert {s.public_id for s in store.all()} == {env[k].public_id for k in ("ann", "ann2", "anon")}
    store.close()
    assert run(capsys, "purge")[1].startswith("purged 0 ")


def test_purge_honours_retention_months(capsys, env, monkeypatch):
    monkeypatch.setenv("RETENTION_MONTHS", "1")
    assert run(capsys, "purge")[1].startswith("purged 1 ")


def test_erase_deletes_one_persons_data(capsys, env, tmp_path, database_url):
    code, out, _ = run(capsys, "erase", "--email", " Ann@EXAMPLE.org")
    assert code == 0 and out.startswith("erased 2 submission(s)")
    store = open_store(database_url, tmp_path)
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


def test_export_without_a_built_site_sorts_the_answer_columns_and_says_why(capsys, env, monkeypatch, tmp_path):
    monkeypatch.setenv("SITE_DIR", str(tmp_path / "nothing"))
    code, out, err = run(capsys, "export")
    assert code == 0
    columns = [c for c in next(csv.reader(io.StringIO(out))) if c.startswith("answer.")]
    assert columns == sorted(f"answer.{q}" for q in [*CONTEXT, *QUESTIONS]) != [f"answer.{q}" for q in [*CONTEXT, *QUESTIONS]]
    assert "sorted by question id" in err and "make build" in err
    assert "the band titles are the bands' ids" in err  # without the definitions, the ids are all there is
    assert {row["band_title"] for row in csv.DictReader(io.StringIO(out))} == {"inspanning", "gemengd", "resultaatgericht"}


def test_export_to_a_file_it_cannot_write_is_a_usage_error(capsys, env, tmp_path):
    code, _, err = run(capsys, "export", "--output", str(tmp_path / "no-such-folder" / "out.csv"))
    assert code == 2 and "--output" in err and "Fix:" in err


def test_bad_settings_are_usage_errors_naming_the_variable(capsys, env, monkeypatch):
    monkeypatch.setenv("RETENTION_MONTHS", "a year")
    code, _, err = run(capsys, "purge")
    assert code == 2 and "RETENTION_MONTHS" in err and "Fix:" in err


def test_a_command_reads_only_the_variables_its_help_lists(capsys, env, monkeypatch):
    for name in SETTINGS:
        if name != "DATABASE_URL":
            monkeypatch.setenv(name, "not usable")
    assert run(capsys, "erase", "--email", "ann@example.org")[0] == 0
    assert run(capsys, "stats")[0] == 0
    code, _, err = run(capsys, "purge")
    assert code == 2 and "RETENTION_MONTHS" in err


def test_a_bad_database_url_is_a_usage_error(capsys, env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://db/kb")
    code, _, err = run(capsys, "stats")
    assert code == 2 and "DATABASE_URL" in err and "Fix:" in err


def test_serve_refuses_a_missing_site(capsys, env, monkeypatch, tmp_path):
    monkeypatch.setenv("SITE_DIR", str(tmp_path / "nothing"))
    code, _, err = run(capsys, "serve")
    assert code == 2 and "SITE_DIR" in err and "make build" in err


def test_the_i18n_commands_read_the_mkdocs_yml_they_are_given(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no mkdocs.yml here
    code, _, err = run(capsys, "i18n-status")
    assert code == 2 and "mkdocs.yml: no such file" in err and "Fix:" in err
    code, out, _ = run(capsys, "i18n-status", "-f", str(ROOT / "mkdocs.yml"))
    assert code == 0 and "privacy.md" in out
    monkeypatch.setenv("MKDOCS_CONFIG", str(ROOT / "mkdocs.yml"))
    code, out, _ = run(capsys, "i18n-status")
    assert code == 0 and "translation(s) current or accepted" in out
    code, _, err = run(capsys, "i18n-mark", "--config", str(tmp_path / "other.yml"), str(ROOT / "docs" / "privacy.en.md"))
    assert code == 2 and "other.yml: no such file" in err
