"""Each translation records the version of its source; outdated and missing
translations are reported, shown to readers with a notice, and fail the strict
build unless accepted."""

from __future__ import annotations

import subprocess

import pytest
from bs4 import BeautifulSoup
from mkdocs.theme import Theme

from kennisbank.articles import Labels
from kennisbank.translations import FrontMatterError, front_matter, page_status, report, set_source_hash, source_changes, source_hash, status_of

from support import ROOT, build


def _status(project):
    return {(s.page, s.locale): s for s in report(project / "docs", ["nl", "en"], "nl")}


def test_every_translation_of_the_real_site_is_current(site):
    statuses = report(ROOT / "docs", ["nl", "en"], "nl")
    assert len(statuses) >= 5
    assert [s for s in statuses if s.state != "current"] == []


def test_the_hash_covers_what_a_translator_translates():
    text = "---\ntitle: T\ndescription: D\ndate: 2026-01-01\n---\n\n# T\n\nTekst.\n"
    assert source_hash(text) == source_hash(text.replace("2026-01-01", "2026-02-02"))
    assert source_hash(text) != source_hash(text.replace("Tekst.", "Andere tekst."))
    assert source_hash(text) != source_hash(text.replace("title: T", "title: U"))
    assert source_hash(text) == source_hash(text.replace("\n", "\r\n"))


def test_set_source_hash_keeps_everything_else():
    text = "---\ntitle: T\nsource_hash: 000000000000\n---\n\n# T\n"
    assert set_source_hash(text, "abc") == "---\ntitle: T\nsource_hash: abc\n---\n\n# T\n"
    assert set_source_hash("---\ntitle: T\n---\n# T\n", "abc") == "---\ntitle: T\nsource_hash: abc\n---\n# T\n"
    assert set_source_hash("# T\n", "abc") == "---\nsource_hash: abc\n---\n\n# T\n"


@pytest.mark.parametrize("value", ["025512230440", "123456789012", "0123456789ab"])
def test_a_hash_of_digits_reads_back_as_written(value):
    """A hash that looks like a number (one in some 280 of 12 hex digits) was read as one,
    so its translation was reported outdated right after i18n-mark."""
    meta, _ = front_matter(set_source_hash("---\ntitle: T\n---\n# T\n", value))
    assert meta["source_hash"] == value


def test_report_is_right_for_current_outdated_and_missing(project):
    docs = project / "docs"
    assert _status(project)[("over.md", "en")].state == "current"
    source = docs / "over.nl.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nEen nieuwe alinea.\n", encoding="utf-8")
    (docs / "nieuw.nl.md").write_text("# Nieuw\n\nTekst.\n", encoding="utf-8")
    (docs / "optioneel.nl.md").write_text("---\ntranslation: optional\n---\n# Optioneel\n", encoding="utf-8")
    status = _status(project)
    assert status[("over.md", "en")].state == "outdated"
    assert not status[("over.md", "en")].accepted
    assert status[("nieuw.md", "en")].state == "missing"
    assert status[("nieuw.md", "en")].detail == "create docs/nieuw.en.md"
    assert status[("optioneel.md", "en")].state == "missing" and status[("optioneel.md", "en")].accepted
    assert status[("privacy.md", "en")].state == "current"


# The decision at its edges (kennisbank.translations.status_of)

SOURCE = "---\ntitle: Over\n---\n\n# Over\n\nTekst.\n"


def _decide(source=SOURCE, translation=None, locale="en"):
    return status_of("over.md", locale, "nl", source, translation)


def test_a_current_translation_needs_nothing_and_shows_no_notice():
    status = _decide(translation={"source_hash": source_hash(SOURCE), "translation": "outdated-ok"})
    assert (status.state, status.needs_work, status.notice, status.message) == ("current", False, None, "")


def test_the_default_language_and_pages_without_source_are_current():
    assert _decide(translation={}, locale="nl").state == "current"  # a source is no translation of itself
    assert _decide(source=None, translation={}).state == "current"  # a page that exists only in translation
    assert _decide(source=None, translation=None).state == "current"


def test_a_missing_translation_needs_work_and_says_how_to_fix_it():
    status = _decide()
    assert (status.state, status.accepted, status.needs_work) == ("missing", False, True)
    assert (status.notice, status.original) == ("not_translated", "nl")
    assert status.detail == "create docs/over.en.md"
    assert status.message.startswith("docs/over.nl.md has no en translation")
    assert "Fix: create docs/over.en.md, or accept it with 'translation: optional' in the front matter of docs/over.nl.md" in status.message


def test_only_optional_in_the_source_accepts_a_missing_translation():
    accepted = _decide(source=SOURCE.replace("---\n", "---\ntranslation: optional\n", 1))
    assert (accepted.state, accepted.accepted, accepted.needs_work, accepted.notice) == ("missing", True, False, "not_translated")
    assert _decide(source=SOURCE.replace("---\n", "---\ntranslation: outdated-ok\n", 1)).needs_work


def test_a_changed_source_makes_the_translation_outdated():
    status = _decide(translation={"source_hash": "000000000000"})
    assert (status.state, status.accepted, status.needs_work, status.notice) == ("outdated", False, True, "outdated")
    assert status.detail == "source changed since 000000000000"
    assert f"docs/over.en.md is outdated: its source docs/over.nl.md changed (source_hash 000000000000, now {source_hash(SOURCE)})" in status.message
    assert "kennisbank i18n-mark docs/over.en.md" in status.message


def test_a_translation_without_source_hash_is_outdated():
    status = _decide(translation={"title": "About"})
    assert (status.state, status.detail) == ("outdated", "no source_hash recorded")
    assert "(source_hash missing, now" in status.message


def test_only_outdated_ok_in_the_translation_accepts_that_it_is_behind():
    accepted = _decide(translation={"source_hash": "000000000000", "translation": "outdated-ok"})
    assert (accepted.state, accepted.accepted, accepted.needs_work, accepted.notice) == ("outdated", True, False, "outdated")
    assert _decide(translation={"source_hash": "000000000000", "translation": "optional"}).needs_work


def test_page_status_reads_the_files_and_names_the_one_with_broken_front_matter(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "over.nl.md").write_text(SOURCE, encoding="utf-8")
    assert page_status(docs, "over.md", "en", "nl").state == "missing"
    (docs / "over.en.md").write_text(set_source_hash("# About\n", source_hash(SOURCE)), encoding="utf-8")
    assert page_status(docs, "over.md", "en", "nl").state == "current"
    (docs / "over.en.md").write_text("---\ntitle: [unclosed\n---\n# About\n", encoding="utf-8")
    with pytest.raises(FrontMatterError, match=r"^docs/over\.en\.md: line \d+: front matter is not valid YAML"):
        page_status(docs, "over.md", "en", "nl")
    (docs / "over.en.md").write_text("# About\n", encoding="utf-8")
    (docs / "over.nl.md").write_text("---\n- a list\n---\n# Over\n", encoding="utf-8")
    with pytest.raises(FrontMatterError, match=r"^docs/over\.nl\.md: front matter is not a mapping"):
        page_status(docs, "over.md", "en", "nl")


def test_what_changed_in_the_source_comes_from_git(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    source = docs / "a.nl.md"
    source.write_text("---\ntitle: A\n---\n\nEerste versie.\n", encoding="utf-8")
    translated = source_hash(source.read_text(encoding="utf-8"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "add", "."], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-qm", "v1"], check=True)
    source.write_text("---\ntitle: A\n---\n\nTweede versie.\n", encoding="utf-8")
    diff = source_changes(docs, "a.md", "nl", translated)
    assert diff is not None
    assert "-Eerste versie." in diff and "+Tweede versie." in diff
    assert source_changes(docs, "a.md", "nl", "ffffffffffff") is None


def test_an_outdated_translation_shows_a_notice_and_fails_the_strict_build(project):
    source = project / "docs" / "over.nl.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nEen nieuwe alinea.\n", encoding="utf-8")
    strict = build(project)
    assert strict.returncode != 0
    assert "docs/over.en.md is outdated" in strict.output
    assert "kennisbank i18n-mark docs/over.en.md" in strict.output
    lenient = build(project, project / "lenient", strict=False)
    notice = lenient.html("en/over/").select_one("[data-kb-translation=outdated]")
    assert notice is not None
    assert "may be out of date" in notice.get_text()
    assert notice.a["hreflang"] == "nl"
    assert lenient.html("over/").select_one("[data-kb-translation]") is None


def test_accepted_gaps_build_strictly_with_notices(project):
    docs = project / "docs"
    source = docs / "over.nl.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nEen nieuwe alinea.\n", encoding="utf-8")
    translation = docs / "over.en.md"
    translation.write_text(translation.read_text(encoding="utf-8").replace("---\n", "---\ntranslation: outdated-ok\n", 1), encoding="utf-8")
    (docs / "nieuw.nl.md").write_text(
        "---\ntitle: Nieuw\ndescription: Een nieuwe pagina zonder vertaling.\ntranslation: optional\n---\n# Nieuw\n\nTekst.\n", encoding="utf-8"
    )
    result = build(project)
    assert result.returncode == 0, result.output
    assert result.html("en/over/").select_one("[data-kb-translation=outdated]") is not None
    missing = result.html("en/nieuw/")
    notice = missing.select_one("[data-kb-translation=not_translated]")
    assert "not been translated into English yet" in notice.get_text()
    assert "in Dutch" in notice.get_text()


def _cli(project, *args):
    import os
    import sys

    env = {**os.environ, "MKDOCS_CONFIG": str(project / "mkdocs.yml")}
    return subprocess.run([sys.executable, "-m", "kennisbank.cli", *args], capture_output=True, text=True, env=env, cwd=project)


def test_the_status_command_shows_what_changed_and_mark_records_the_review(project):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-C", str(project)]
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "site"], check=True)
    source = project / "docs" / "over.nl.md"
    source.write_text(source.read_text(encoding="utf-8") + "\nEen nieuwe alinea.\n", encoding="utf-8")

    status = _cli(project, "i18n-status", "--diff", "--check")
    assert status.returncode == 1, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.startswith("over.md "))
    assert line.split()[1:3] == ["en", "outdated:"]
    assert "+Een nieuwe alinea." in status.stdout
    assert "privacy.md" in status.stdout

    marked = _cli(project, "i18n-mark", "docs/over.en.md")
    assert marked.returncode == 0, marked.stderr
    assert _cli(project, "i18n-status", "--check").returncode == 0
    assert build(project).returncode == 0

    wrong = _cli(project, "i18n-mark", "docs/over.nl.md")
    assert wrong.returncode == 2
    assert "is not a translation file" in wrong.stderr


def test_the_notice_escapes_every_value():
    hostile = '<script>x()</script> & "quoted"'
    strings = {"not_translated": "Not translated {language} " + hostile, "outdated": "Outdated " + hostile, "read_original": "Read the {language} original"}
    labels = Labels("en", "en_GB", {key: {"en": text} for key, text in strings.items()}, {})
    template = Theme(name="material", custom_dir=str(ROOT / "overrides")).get_env().get_template("partials/kb-notice.html")
    missing = BeautifulSoup(template.render(status=_decide(), l=labels, original_url="../x/"), "lxml").aside
    assert missing["data-kb-translation"] == "not_translated" and "info" in missing["class"]
    assert missing.get_text(strip=True) == "Not translated Dutch " + hostile and missing.a is None
    outdated = _decide(translation={"source_hash": "0"})
    notice = BeautifulSoup(template.render(status=outdated, l=labels, original_url='"><script>y()</script>'), "lxml").aside
    assert notice["data-kb-translation"] == "outdated" and "warning" in notice["class"]
    assert notice.find("script") is None
    assert notice.p.find(string=True) == "Outdated " + hostile + " "
    assert (notice.a["href"], notice.a["hreflang"], notice.a.get_text()) == ('"><script>y()</script>', "nl", "Read the Dutch original")
