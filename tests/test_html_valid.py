"""Every page the site serves is valid HTML for the Nu Html Checker (vnu.jar, pinned in
audit/package.json): each built page in every language, the 404 pages, and the
replies the server renders into the result shell of the manifest (a result page and
a form error), all in one JVM call. The test skips only when java or the jar is
missing; .ci/run and `make test` install both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import ENDPOINT, form, nu


def _require_checker() -> None:
    reason = nu.missing()
    if reason:
        pytest.skip(f"Nu Html Checker not available: {reason}")


def assert_valid(files: list[Path], root: Path) -> None:
    """Fails naming every page, line and error the checker finds in ``files``."""
    problems = nu.failures(nu.check(files))
    if problems:
        shown = "\n".join(str(_relative(message, root)) for message in problems[:40])
        more = f"\n... and {len(problems) - 40} more" if len(problems) > 40 else ""
        pytest.fail(
            f"The Nu Html Checker finds {len(problems)} error(s) in {len({m.path for m in problems})} page(s):\n{shown}{more}\n"
            "Fix: the site's own markup at its source (docs/, overrides/, kennisbank/); a fault of Material's in a copy "
            "of the one template under overrides/, with a comment why.",
            pytrace=False,
        )


def _relative(message, root: Path):
    try:
        return nu.Message(message.path.resolve().relative_to(root.resolve()), message.line, message.column, message.type, message.text, message.extract)
    except ValueError:
        return message


def test_every_page_and_rendered_reply_is_valid_html(site, make_client, tmp_path):
    _require_checker()
    pages = site.pages()
    assert len(pages) >= 18, f"expected every page of both languages, found {[str(p) for p in pages]}"
    # the server's own pages: the result shell filled in, and a form error, in both languages
    client = make_client()
    replies = tmp_path / "replies"
    replies.mkdir()
    for lang in ("nl", "en"):
        result = client.post(ENDPOINT, data=form(lang=lang))
        assert result.status_code == 200 and result.headers["content-type"].startswith("text/html"), result.text[:500]
        (replies / f"result-{lang}.html").write_text(result.text, encoding="utf-8")
        invalid = client.post(ENDPOINT, data=form(lang=lang, **{"answer-bestaat-niet": "1"}))
        assert invalid.headers["content-type"].startswith("text/html"), invalid.text[:500]
        (replies / f"form-error-{lang}.html").write_text(invalid.text, encoding="utf-8")
    assert_valid([*pages, *sorted(replies.glob("*.html"))], site.site.parent)


def test_an_invalid_element_fails_naming_the_page_and_line(site, tmp_path):
    _require_checker()
    page = tmp_path / "site" / "artikelen" / "kapot" / "index.html"
    page.parent.mkdir(parents=True)
    shutil.copy(site.site / "over" / "index.html", page)
    lines = page.read_text(encoding="utf-8").splitlines()
    at = next(number for number, line in enumerate(lines) if "<article" in line) + 1
    lines.insert(at, "<p><div>a block inside a paragraph</div><blink>and an element HTML never had</blink></p>")
    page.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_valid([page], tmp_path / "site")
    report = str(failed.value)
    assert f"artikelen/kapot/index.html:{at + 1}" in report, report
    assert "blink" in report, report
