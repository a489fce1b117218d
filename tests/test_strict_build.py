"""Bad input stops the strict build with a message that names the file and the fix."""

from __future__ import annotations

from support import ARTICLE, build


def test_the_real_site_builds_strictly(site):
    assert site.returncode == 0
    assert "WARNING" not in site.output


def test_a_broken_internal_link_fails_the_build(project):
    page = project / "docs" / "over.nl.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n\nZie [dit](bestaat-niet.md).\n", encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert "over.nl.md" in result.output
    assert "bestaat-niet.md" in result.output


def test_a_page_without_its_translation_fails_the_build_naming_the_file_to_create(project):
    (project / "docs" / "nieuw.nl.md").write_text("# Nieuw\n\nEen nieuwe pagina.\n", encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert "docs/nieuw.nl.md has no en translation" in result.output
    assert "create docs/nieuw.en.md" in result.output


def test_a_page_may_accept_a_missing_translation(project):
    (project / "docs" / "nieuw.nl.md").write_text("---\ntranslation: optional\n---\n# Nieuw\n\nTekst.\n", encoding="utf-8")
    result = build(project)
    assert result.returncode == 0, result.output
    assert (project / "site" / "en" / "nieuw" / "index.html").is_file()


def test_an_article_without_a_required_front_matter_field_fails_the_build(project):
    article = project / "docs" / f"{ARTICLE}.en.md"
    text = article.read_text(encoding="utf-8")
    assert "\nauthor: " in text
    article.write_text(text.replace("\nauthor: Koos Overbeeke", ""), encoding="utf-8")
    result = build(project)
    assert result.returncode != 0
    assert f"docs/{ARTICLE}.en.md" in result.output
    assert "front matter field 'author' is missing: add author:" in result.output
