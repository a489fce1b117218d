"""Who publishes the site, and interface text in the page's own language (issue 14)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from kennisbank.publisher import Publisher, PublisherError, is_public

from support import ROOT, build, set_operator

REAL = {
    "name": "Voorbeeld Advies B.V.",
    "address": "Voorbeeldstraat 1, 3511 AB Utrecht",
    "kvk": "12345678",
    "vat": "NL123456789B01",
    "email": "info@kennisbank-voorbeeld.nl",
    "privacy_email": "privacy@kennisbank-voorbeeld.nl",
}


def _set_publisher(project, publisher: dict) -> None:
    path = project / "mkdocs.yml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  publisher:\n")
    end = text.index("\n  # ", start + 1) if "\n  # " in text[start + 1 :] else len(text)
    block = "  publisher:\n" + "".join(f"    {key}: {json.dumps(value)}\n" for key, value in publisher.items())
    path.write_text(text[:start] + block + text[end + 1 :], encoding="utf-8")


# The rules


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        ({"name": "[Rechtsvorm en naam]"}, "name", "placeholder"),
        ({"address": ""}, "address", "is missing"),
        ({"kvk": "1234"}, "kvk", "not a KvK number"),
        ({"email": "info@example.nl"}, "email", "placeholder"),
        ({"privacy_email": "privacy"}, "privacy_email", "not an email address"),
        ({"address": "TODO"}, "address", "placeholder"),
    ],
)
def test_each_missing_or_placeholder_value_is_named(changes, key, problem):
    problems = Publisher(**{**REAL, **changes}).problems()
    assert len(problems) == 1
    assert problems[0].startswith(f"mkdocs.yml: extra.publisher.{key}") and problem in problems[0] and "Fix: set" in problems[0]


def test_real_values_have_no_problem_and_unknown_keys_are_refused():
    assert Publisher(**REAL).problems() == []
    with pytest.raises(PublisherError, match=r"extra.publisher.kvk_number: unknown key"):
        Publisher.from_mapping({**REAL, "kvk_number": "1"})


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("http://127.0.0.1:8000/", False),
        ("http://localhost:8000/", False),
        ("http://[::1]:8000/", False),
        ("http://192.168.1.10/", False),
        ("https://kennisbank.test/", False),
        ("https://www.kennisbank.nl/", True),
        ("https://145.100.190.243/", True),
    ],
)
def test_what_counts_as_a_public_address(url, public):
    assert is_public(url) is public


def test_email_values_become_mailto_links_and_everything_is_escaped():
    publisher = Publisher(**{**REAL, "name": "<b>Advies</b> & Co"})
    assert str(publisher.markup("email")) == '<a href="mailto:info@kennisbank-voorbeeld.nl">info@kennisbank-voorbeeld.nl</a>'
    assert str(publisher.markup("name")) == "&lt;b&gt;Advies&lt;/b&gt; &amp; Co"


# The build


def test_a_public_build_with_placeholders_fails_naming_every_key(project):
    result = build(project, env={"SITE_URL": "https://www.kennisbank-voorbeeld.nl/"})
    assert result.returncode != 0
    for key in ("name", "address", "kvk", "vat", "email", "privacy_email"):
        assert f"extra.publisher.{key}" in result.output
    assert "Traceback" not in result.output


def test_a_public_build_with_the_publisher_filled_in_shows_it_in_every_footer(project):
    _set_publisher(project, REAL)
    set_operator(project)  # the operator's facts too: a public build refuses their placeholders
    result = build(project, env={"SITE_URL": "https://www.kennisbank-voorbeeld.nl/"})
    assert result.returncode == 0, result.output
    for path in ("", "en/", "privacy/", "en/over/"):
        footer = result.html(path).select_one(".md-copyright")
        assert footer.select_one(".kb-publisher-missing") is None
        text = footer.get_text(" ", strip=True)
        assert "Voorbeeld Advies B.V." in text and "12345678" in text and "Voorbeeldstraat 1" in text
        assert footer.select_one('a[href="mailto:info@kennisbank-voorbeeld.nl"]') is not None


def test_a_local_build_says_the_publisher_is_not_configured(site):
    assert site.html("").select_one(".md-copyright .kb-publisher-missing").get_text(strip=True).startswith("Uitgever niet ingesteld")
    assert site.html("en/").select_one(".md-copyright .kb-publisher-missing").get_text(strip=True).startswith("Publisher not configured")


# Interface text in the page's language


def _material_strings(locale: str) -> dict[str, str]:
    import material

    path = Path(material.__file__).parent / "templates" / "partials" / "languages" / f"{locale}.html"
    return dict(re.findall(r'^\s*"([\w.]+)": "([^"]*)"', path.read_text(encoding="utf-8"), re.M))


def _site_strings() -> dict[str, dict[str, str]]:
    config = yaml.safe_load(re.sub(r"!ENV \[[^\]]*\]", '""', (ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("!!python/name:", "")))
    return config["extra"]["strings"]


def _foreign_strings(locale: str, other: str) -> set[str]:
    """Texts of ``other`` that differ from ``locale``'s: interface strings, with their placeholders cut out."""
    texts = set()
    pairs = [(values.get(locale, ""), values.get(other, "")) for values in _site_strings().values()]
    mine, theirs = _material_strings(locale), _material_strings(other)
    pairs += [(mine.get(key, ""), value) for key, value in theirs.items() if key != "language"]
    for own, foreign in pairs:
        if own.strip().lower() == foreign.strip().lower():
            continue
        for piece in re.split(r"\{\w+\}", foreign):
            piece = piece.strip(" .,:;()")
            if len(piece) >= 12 and piece.lower() not in own.lower():
                texts.add(piece)
    return texts


@pytest.mark.parametrize(("prefix", "locale", "other"), [("en/", "en", "nl"), ("", "nl", "en")])
def test_no_interface_string_of_the_other_language_on_a_page(site, prefix, locale, other):
    foreign = _foreign_strings(locale, other)
    assert len(foreign) > 20, "the check has strings to look for"
    pages = [page for page in site.pages() if (page.relative_to(site.site).parts[0] == "en") == (locale == "en")]
    assert pages
    for page in pages:
        html = page.read_text(encoding="utf-8")
        if 'hreflang="' in html:  # the language switcher names the other language by design
            html = re.sub(r'<a[^>]+hreflang="[^"]+"[^>]*>.*?</a>', "", html, flags=re.S)
        found = sorted(text for text in foreign if text in html)
        assert not found, f"{page.relative_to(site.site)} shows {other} interface text: {found}"


# The operator's facts (issue 22): every one configuration, a placeholder refused for a public build


PLACEHOLDER_KEYS = [
    *(f"{key}.{lang}" for key in ("reply_time", "connection_log_retention", "backup_retention") for lang in ("nl", "en")),
    *(f"{role}.name" for role in ("hosting", "email")),
    *(f"{role}.{key}.{lang}" for role in ("hosting", "email") for key in ("country", "storage") for lang in ("nl", "en")),
]


def test_a_public_build_with_the_publisher_filled_in_refuses_each_operator_placeholder_by_key(project):
    """Issue 22: with the publisher filled in and a public SITE_URL, the build went out with 15
    bracketed placeholders in the English privacy statement alone."""
    _set_publisher(project, REAL)
    result = build(project, env={"SITE_URL": "https://www.kennisbank-voorbeeld.nl/"})
    assert result.returncode != 0
    for key in PLACEHOLDER_KEYS:
        assert f"mkdocs.yml: extra.operator.{key} is still a placeholder" in result.output, key
    assert "Fix: set" in result.output and "Traceback" not in result.output


BRACKETED = re.compile(r"\[[^\[\]\n]{1,120}\]")


def test_a_public_build_with_everything_filled_in_has_no_placeholder_and_no_drafting_note_on_any_page(project):
    _set_publisher(project, REAL)
    set_operator(project)
    result = build(project, env={"SITE_URL": "https://www.kennisbank-voorbeeld.nl/"})
    assert result.returncode == 0, result.output
    for page in result.pages():
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "lxml")
        for hidden in soup.select("script, style"):
            hidden.decompose()
        text = soup.get_text(" ")
        found = BRACKETED.findall(text)
        assert not found, f"{page.relative_to(result.site)}: {found}"
        for note in ("anders vervalt deze regel", "otherwise this line does not apply", "Koppelen we een CRM", "If we connect a CRM"):
            assert note not in text, f"{page.relative_to(result.site)}: drafting note {note!r}"
    privacy = result.html("privacy/").get_text(" ")
    assert "Voorbeeld Hosting B.V." in privacy and "Inzendingen zonder contactgegevens sturen we niet door" in privacy
    assert "binnen twee werkdagen" in result.html("").get_text(" ") and "acht dagen" in privacy


def test_the_privacy_statement_follows_forwarding_all_and_a_crm(project):
    set_operator(project, forwarding="all", crm=True)
    result = build(project)
    assert result.returncode == 0, result.output
    for path, all_sent, crm, not_sent in (
        ("privacy/", "Ook een inzending zonder contactgegevens sturen we zo door", "ook naar ons CRM-systeem", "sturen we niet door"),
        ("en/privacy/", "A submission without contact details is passed on", "also sends the same submissions to our CRM", "are not passed on"),
    ):
        text = " ".join(result.html(path).get_text(" ").split())
        assert all_sent in text and crm in text and "Voorbeeld CRM B.V." in text
        assert not_sent not in text


@pytest.mark.parametrize(
    ("operator", "message"),
    [
        ({"hosting": {"name": "X"}}, "extra.operator.reply_time: needs a text in every language (nl, en). Fix: set how soon"),
        ({"colour": "red"}, "extra.operator.colour: unknown key. Fix: use"),
    ],
)
def test_a_broken_operator_block_names_the_key_and_the_fix(operator, message):
    from kennisbank.operator import Operator, OperatorError

    with pytest.raises(OperatorError, match=re.escape(message)):
        Operator.from_mapping(operator, ("nl", "en"))
