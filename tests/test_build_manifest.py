"""The build manifest: one contract between the build and the server.

Build once, serve anywhere: the server starts from ``site/`` alone, and scores every
answer with the definition the reader's page was built from."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser

import httpx
import pytest
import yaml

from kennisbank.assessment import digest, from_data, score
from kennisbank.buildrun import LanguagePart
from kennisbank.csp import JS_TYPES, inline_scripts, script_hashes
from kennisbank.finish import FinishError, manifest_of
from kennisbank.manifest import MANIFEST_PATH, ManifestError, load_manifest
from kennisbank.operator import Statement
from kennisbank.shell import Shell
from kennisbank.siteconfig import Language, SiteConfig

from support import ARTICLE, ASSESSMENT, ROOT, build, start_server

ENDPOINT = "/api/assessments/contract-check/submissions"


def _post(base_url: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(base_url + ENDPOINT, json=body, headers=headers, timeout=10)


def _mixed(assessment) -> dict[str, int]:
    """Answers whose score depends on the weights: the first half Yes, the rest No."""
    half = len(assessment.questions) // 2
    context = {assessment.context.id: assessment.context.options[0].id} if assessment.context else {}
    return {**context, **{q.id: (2 if index < half else 0) for index, q in enumerate(assessment.questions)}}


def _reweigh(project, factor: int) -> None:
    """Change the weights of the project's definition (what an author might do after a build)."""
    path = project / "assessments" / "contract-check.yml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for index, question in enumerate(raw["questions"]):
        if index % 2 == 0:
            question["weight"] = question["weight"] * factor
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


# What it holds


def test_the_manifest_holds_what_the_server_needs(site):
    manifest = load_manifest(site.site)
    assert [(lang.locale, lang.prefix) for lang in manifest.site.languages] == [("nl", ""), ("en", "en/")]
    assert manifest.site.endpoint == "/api/assessments/{id}/submissions"
    assert manifest.site.string("not_found_title", "en") == "Page not found"
    assessment = manifest.assessments["contract-check"]
    source = yaml.safe_load((ROOT / "assessments" / "contract-check.yml").read_text(encoding="utf-8"))
    assert assessment.digest == digest(source)
    assert assessment.version == source["version"]
    assert {locale: shell.url for locale, shell in manifest.shells.items()} == {"nl": "/uitslag/", "en": "/en/uitslag/"}
    assert manifest.shells["en"].title in manifest.shells["en"].before


def test_every_inline_script_of_every_page_and_reply_has_its_hash(site):
    manifest = load_manifest(site.site)
    found = set()
    for page in site.site.rglob("*.html"):
        found |= script_hashes(page.read_text(encoding="utf-8"))
    for shell in manifest.shells.values():
        found |= script_hashes(shell.html)
    assert found, "the pages have inline scripts (Material's), so the test can fail"
    assert found == set(manifest.script_hashes)


class _Scripts(HTMLParser):
    """The standard library's tokenizer, which kennisbank.csp used before its faster scan."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        runs = tag == "script" and "src" not in found and (found.get("type") or "").strip().lower() in JS_TYPES
        self._current = [] if runs else None

    def handle_data(self, data):
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def _parsed(html: str) -> list[str]:
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


TRICKY = """<!doctype html><html><head><title>a <script>x()</script> title</title>
<script>one()</script><SCRIPT type="text/javascript">two("</scrip")</SCRIPT >
<script type="application/json">{"no": 1}</script><script src="/a.js"></script>
<script type='module' data-x="a>b">three()</script></head><body>
<!-- <script>commented()</script> --><a title="<script>attr()</script>" href="#">link</a>
<textarea><script>typed()</script></textarea><style>p::after{content:"<script>"}</style>
<script\ttype=module>four()</script\n></body></html>"""


def test_the_script_scan_finds_what_an_html_parser_finds_on_every_built_page(site):
    pages = list(site.site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert inline_scripts(html) == _parsed(html), page


def test_the_script_scan_skips_comments_attributes_raw_text_and_data():
    # a browser reads <title> and <textarea> as text; HTMLParser runs the scripts in them
    assert inline_scripts(TRICKY) == ["one()", 'two("</scrip")', "three()", "four()"]


def test_the_page_carries_its_definitions_digest_and_version(site):
    manifest = load_manifest(site.site)
    assessment = manifest.assessments["contract-check"]
    for prefix in ("", "en/"):
        form = site.html(f"{prefix}{ARTICLE}/").select_one("form.kb-assessment")
        assert form.select_one("input[name=definition]")["value"] == assessment.digest
        assert form.select_one("input[name=version]")["value"] == str(assessment.version)
        data = json.loads(form.select_one("[data-kb-data]").string)
        assert data["definition"] == assessment.digest


def test_the_manifest_is_not_served(live_server):
    base_url, _ = live_server
    assert httpx.get(f"{base_url}/{MANIFEST_PATH}", timeout=10).status_code == 404


def test_only_the_default_language_built_the_manifest_holds_every_assessment(project, tmp_path):
    """Issue 21: with ``en`` set to ``build: false`` the manifest held no assessment, and
    the server would have refused every submission. The one real build that proves it."""
    config = project / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    english = "        - locale: en\n          name: English\n          build: true\n"
    assert english in text, "the test must find the line it changes"
    config.write_text(text.replace(english, english.replace("build: true", "build: false")), encoding="utf-8")
    result = build(project, tmp_path / "site")
    assert result.returncode == 0, result.output
    manifest = load_manifest(result.site)
    assert [lang.locale for lang in manifest.site.languages] == ["nl"]
    assert set(manifest.assessments) == {"contract-check"}
    assert set(manifest.shells) == {"nl"}


def _part(locale: str, site, *, assessments=True):
    """One language's part of a build, as the hooks leave it: its result page and, if
    ``assessments``, the definitions its build read."""
    part = LanguagePart(site, locale)
    if assessments:
        part.manifest.add_assessments({ASSESSMENT.id: ASSESSMENT})
    part.manifest.shells[locale] = Shell(url=f"/{site.language(locale).prefix}uitslag/", before="<title>t</title>", after="", title="t")
    return part


def test_the_manifest_holds_the_definitions_whichever_languages_were_built():
    nl = Language("nl", "Nederlands", True, "Kennisbank", "")
    en = Language("en", "English", False, "Knowledge base", "")
    only_nl = SiteConfig(site_url="https://example.org/", site_name="Kennisbank", languages=(nl,))
    assert set(manifest_of({"nl": _part("nl", only_nl)}).assessments) == {ASSESSMENT.id}
    both = SiteConfig(site_url="https://example.org/", site_name="Kennisbank", languages=(nl, en))
    # a language whose part lacks them does not take away what another's part holds
    parts = {"en": _part("en", both, assessments=False), "nl": _part("nl", both)}
    assert set(manifest_of(parts).assessments) == {ASSESSMENT.id}
    with pytest.raises(FinishError, match=r"the build of en left no part.*Fix: keep hooks/finish.py"):
        manifest_of({"nl": _part("nl", both)})


# Build once, serve anywhere


def test_a_site_copied_to_an_empty_folder_is_served_and_scores(site, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(site.site, elsewhere / "public")
    monkeypatch.chdir(elsewhere)  # the server's working folder: no mkdocs.yml, no assessments/
    assert not (elsewhere / "mkdocs.yml").exists() and not (elsewhere / "assessments").exists()
    assessment = load_manifest(elsewhere / "public").assessments["contract-check"]
    answers = _mixed(assessment)
    server, base_url = start_server(elsewhere / "public", elsewhere / "var" / "kb.sqlite3")
    try:
        assert httpx.get(f"{base_url}/en/{ARTICLE}/", timeout=10).status_code == 200
        reply = _post(base_url, {"answers": answers, "lang": "en", "definition": assessment.digest})
    finally:
        server.stop()
    assert reply.status_code == 201, reply.text
    assert reply.json()["score"] == score(assessment, answers).score


def test_serving_a_folder_without_a_manifest_says_what_to_do(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>", encoding="utf-8")
    with pytest.raises(Exception) as caught:
        start_server(tmp_path, tmp_path / "kb.sqlite3")
    text = str(caught.value)
    assert "SITE_DIR" in text and MANIFEST_PATH in text and "make build" in text


# Scored with the definition the reader saw


def test_editing_the_definition_after_the_build_does_not_change_the_score(project, tmp_path):
    built = build(project)
    assert built.returncode == 0, built.output
    before = load_manifest(built.site).assessments["contract-check"]
    _reweigh(project, 5)  # after the build: the page the reader has was built before this
    server, base_url = start_server(built.site, tmp_path / "kb.sqlite3")
    try:
        answers = _mixed(before)
        reply = _post(base_url, {"answers": answers, "definition": before.digest})
    finally:
        server.stop()
    assert reply.status_code == 201, reply.text
    assert reply.json()["score"] == score(before, answers).score
    edited = from_data(yaml.safe_load((project / "assessments" / "contract-check.yml").read_text(encoding="utf-8")), "edited", ["nl", "en"])
    assert score(edited, answers).score != reply.json()["score"]  # the edit would have mattered


def test_a_page_built_before_a_rebuild_is_scored_with_its_own_definition(project, tmp_path):
    database = tmp_path / "kb.sqlite3"
    first = build(project)
    assert first.returncode == 0, first.output
    old = load_manifest(first.site).assessments["contract-check"]
    server, base_url = start_server(first.site, database)  # serves, and so records, the first definition
    server.stop()
    _reweigh(project, 7)
    second = build(project)
    assert second.returncode == 0, second.output
    new = load_manifest(second.site).assessments["contract-check"]
    assert new.digest != old.digest
    answers = _mixed(old)
    assert score(old, answers).score != score(new, answers).score
    server, base_url = start_server(second.site, database)
    try:
        from_old_page = _post(base_url, {"answers": answers, "definition": old.digest})
        from_new_page = _post(base_url, {"answers": answers, "definition": new.digest})
    finally:
        server.stop()
    assert from_old_page.status_code == 201, from_old_page.text
    assert from_old_page.json()["score"] == score(old, answers).score
    assert from_new_page.json()["score"] == score(new, answers).score


def test_a_rebuild_while_the_server_runs_is_picked_up(project, tmp_path):
    first = build(project)
    assert first.returncode == 0, first.output
    server, base_url = start_server(first.site, tmp_path / "kb.sqlite3")
    try:
        _reweigh(project, 3)
        second = build(project, first.site)  # into the folder being served
        assert second.returncode == 0, second.output
        new = load_manifest(first.site).assessments["contract-check"]
        answers = _mixed(new)
        reply = _post(base_url, {"answers": answers, "definition": new.digest})
    finally:
        server.stop()
    assert reply.status_code == 201, reply.text
    assert reply.json()["score"] == score(new, answers).score


# A definition the server cannot know


@pytest.mark.parametrize(
    ("body", "lang", "start"),
    [
        ({"definition": "0123456789abcdef"}, "nl", "Deze contractscan is gewijzigd"),
        ({"definition": "0123456789abcdef", "lang": "en"}, "en", "This self-assessment has changed"),
        ({"version": 99}, "nl", "Deze contractscan is gewijzigd"),
    ],
)
def test_an_unknown_definition_gets_a_clear_409_in_the_readers_language(live_server, body, lang, start):
    base_url, _ = live_server
    answers = _answers(live_server)
    reply = _post(base_url, {"answers": answers, **body})
    assert reply.status_code == 409
    assert reply.json()["error"].startswith(start)


def test_an_unknown_definition_in_a_plain_form_post_gets_a_page_that_leads_back(live_server):
    base_url, _ = live_server
    fields = {f"answer-{key}": str(value) for key, value in _answers(live_server).items()}
    reply = httpx.post(base_url + ENDPOINT, data={**fields, "lang": "en", "definition": "fedcba9876543210"}, headers={"Accept-Language": "nl"}, timeout=10)
    assert reply.status_code == 409
    assert "text/html" in reply.headers["content-type"]
    assert "This self-assessment has changed" in reply.text
    assert f'href="/en/{ARTICLE}/#contract-check"' in reply.text


def test_a_malformed_digest_is_a_field_problem_not_a_conflict(live_server):
    base_url, _ = live_server
    answers = _answers(live_server)
    reply = _post(base_url, {"answers": answers, "definition": "../../etc/passwd"})
    assert reply.status_code == 422
    assert set(reply.json()["errors"]) == {"definition"}


def _answers(live_server) -> dict:
    """Every question of the served page answered 1, and its context question (who the contract is with) its first option."""
    base_url, _ = live_server
    page = httpx.get(f"{base_url}/{ARTICLE}/", timeout=10).text
    start = page.index("data-kb-data")
    data = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    context = {data["context"]["id"]: data["context"]["options"][0]} if data.get("context") else {}
    return {**context, **{q["id"]: 1 for q in data["questions"]}}


# Errors that name the fix


def test_manifest_errors_name_the_file_and_the_fix(site, tmp_path):
    with pytest.raises(ManifestError, match=r"does not exist.*make build"):
        load_manifest(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(site.site / ".kennisbank", copy / ".kennisbank")
    path = copy / MANIFEST_PATH
    data = json.loads(path.read_text(encoding="utf-8"))
    data["assessments"]["contract-check"]["definition"]["questions"][0]["weight"] += 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"does not match its digest.*build the site again"):
        load_manifest(copy)
    data["format"] = 99
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"format 99.*same version of kennisbank"):
        load_manifest(copy)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"not valid JSON"):
        load_manifest(copy)


def test_the_manifest_says_what_the_privacy_statement_says_is_passed_on(site, forwarding_site, tmp_path):
    """The server reads the build's privacy statement from the manifest, never mkdocs.yml (issue 22)."""
    assert load_manifest(site.site).statement == Statement(forwarding="leads", crm=False)
    assert load_manifest(forwarding_site.site).statement == Statement(forwarding="all", crm=True)
    data = json.loads((forwarding_site.site / MANIFEST_PATH).read_text(encoding="utf-8"))
    assert data["privacy"] == {"forwarding": "all", "crm": True}
    copy = tmp_path / "copy"
    (copy / MANIFEST_PATH).parent.mkdir(parents=True)
    del data["privacy"]  # a manifest from before: its statement said what the default configuration says
    (copy / MANIFEST_PATH).write_text(json.dumps(data), encoding="utf-8")
    assert load_manifest(copy).statement == Statement(forwarding="leads", crm=False)
    data["privacy"] = {"forwarding": "everything", "crm": True}
    (copy / MANIFEST_PATH).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"privacy: .* is not what a build writes. Fix: build the site again"):
        load_manifest(copy)


@pytest.mark.browser
def test_the_page_offers_a_reload_that_keeps_the_answers(site, tmp_path, browser):
    """A page built from a definition the server never saw (its digest changed in the
    built HTML): the reader is told, offered a reload, and finds the answers back."""
    served = tmp_path / "site"
    shutil.copytree(site.site, served)
    page_file = served / ARTICLE / "index.html"
    known = load_manifest(served).assessments["contract-check"].digest
    html = page_file.read_text(encoding="utf-8")
    assert html.count(known) == 2  # the hidden field and the script's data
    page_file.write_text(html.replace(known, "0000000000000000"), encoding="utf-8")
    for compressed in (page_file.with_name("index.html.br"), page_file.with_name("index.html.gz")):
        compressed.unlink(missing_ok=True)  # else the server sends the untouched page, compressed at build time
    server, base_url = start_server(served, tmp_path / "kb.sqlite3")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base_url}/{ARTICLE}/")
        page.locator("[data-kb-context] input[type=radio]").first.check()  # who the contract is with
        radios = page.locator('form.kb-assessment fieldset[data-kb-question]:not([hidden]) input[type=radio][value="1"]')
        applying = radios.count()
        for index in range(applying):
            radios.nth(index).check()
        page.click("form.kb-assessment button[type=submit]")
        reload = page.locator("[data-kb-sent] button.kb-reload")
        reload.wait_for()
        assert page.locator("[data-kb-sent]").inner_text().startswith("Deze contractscan is gewijzigd")
        assert reload.inner_text() == "Pagina opnieuw laden"
        assert reload.evaluate("button => document.activeElement === button")
        with page.expect_navigation():
            reload.click()
        page.locator("[data-kb-progress]").wait_for()
        assert page.locator('form.kb-assessment input[type=radio][value="1"]:checked').count() == applying == 18
    finally:
        context.close()
        server.stop()
