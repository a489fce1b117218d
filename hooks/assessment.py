"""MkDocs hook: embed a contract self-assessment where a page says so.

A page asks for an assessment with a one-line marker in its Markdown, in the style
of Material's own shortcodes::

    <!-- md:assessment contract-check -->

Python-Markdown keeps the comment as it is in the page's HTML, and escapes it inside
code, so the hook replaces it in the rendered content: a marker in a code block or
inline code is shown, not replaced. The definitions are loaded and checked once per
language build; the form and its data come from ``kennisbank.assessment``, which
knows nothing of MkDocs. Pages without a marker cost one substring test.
"""

from __future__ import annotations

import re

from markupsafe import escape
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority, get_plugin_logger
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from kennisbank import buildrun, languages
from kennisbank.assessment import DefinitionError, check_sections, load_definitions, render_form
from kennisbank.siteconfig import from_mkdocs
from kennisbank.translations import split_locale

log = get_plugin_logger("assessment")

MARKER = re.compile(r"<!--\s*md:assessment\s+(?P<id>\S+?)\s*-->")
#: ``<!-- md:assessment-facts contract-check questions -->`` (or ``minutes``): the number a page
#: states, from the definition, so that no page types its own
FACTS = re.compile(r"<!--\s*md:assessment-facts\s+(?P<id>\S+?)\s+(?P<key>\w+)\s*-->")

# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    site = from_mkdocs(config)
    locale = config.plugins["i18n"].current_language
    try:
        assessments = load_definitions(site.assessment_dir, site.locales)
    except DefinitionError as exc:
        raise PluginError(str(exc)) from None
    # every language's part carries the definitions: the manifest holds them whichever
    # languages are built (issue 21: with only the default language, it held none)
    buildrun.of(config).begin(locale, site).manifest.add_assessments(assessments)
    _state(config).update(assessments=assessments, site=site, locale=locale, embedded=set(), articles_seen=set())


@event_priority(-110)  # after mkdocs-static-i18n has chosen this language's files
def on_files(files, config):
    state = _state(config)
    state["pages"] = {}
    for file in files.documentation_pages():
        page_path = split_locale(file.src_uri, state["site"].locales)[0]
        # this language's own file wins over the default language's fallback
        if page_path not in state["pages"] or getattr(file, "locale", None) == state["locale"]:
            state["pages"][page_path] = file
    return files


def on_page_content(html: str, page: Page, config, files):
    state = _state(config)
    if "md:assessment-facts" in html:
        html = FACTS.sub(lambda match: _fact(state, match["id"], match["key"], page), html)
    if "md:assessment" in html:
        html = MARKER.sub(lambda match: _render(state, match["id"], page), html)
    _check_article_sections(state, page)
    return html


def on_post_build(config):
    if languages.dirty():
        return  # a preview's rebuild built only the changed pages: it cannot tell which pages embed what
    state = _state(config)
    for assessment in state["assessments"].values():
        if assessment.id not in state["embedded"]:
            log.warning(
                f"assessment '{assessment.id}' ({assessment.source.name}) is on no page: "
                f"add <!-- md:assessment {assessment.id} --> to a page or remove the file"
            )
        elif assessment.article not in state["articles_seen"]:
            raise PluginError(
                f"{assessment.source}: article: '{assessment.article}' is not a page of the site. "
                "Fix: name the page (path under docs/, without language suffix) whose sections the questions cite"
            )


# Helper functions


def _state(config) -> dict:
    """This hook's state in the build of the current language (``kennisbank.buildrun``)."""
    return buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)


def _source_path(state: dict, page: Page) -> str:
    return split_locale(page.file.src_uri, state["site"].locales)[0]


def _fact(state: dict, assessment_id: str, key: str, page: Page) -> str:
    assessment = _assessment(state, assessment_id, page, f"<!-- md:assessment-facts {assessment_id} {key} -->")
    facts = assessment.facts(state["locale"])
    if key not in facts or not facts[key]:
        raise PluginError(
            f"{page.file.src_uri}: <!-- md:assessment-facts {assessment_id} {key} -->: '{key}' is not a fact of {assessment.source.name}. "
            f"Fix: use one of {', '.join(k for k, v in facts.items() if v)} (minutes: set 'minutes:' in the definition)"
        )
    return str(escape(facts[key]))


def _assessment(state: dict, assessment_id: str, page: Page, marker: str):
    assessment = state["assessments"].get(assessment_id)
    if assessment is None:
        known = ", ".join(sorted(state["assessments"])) or "(none)"
        raise PluginError(
            f"{page.file.src_uri}: unknown assessment '{assessment_id}' in {marker}. "
            f"Fix: use one of {known}, or add {assessment_id}.yml to {state['site'].assessment_dir}"
        )
    return assessment


def _render(state: dict, assessment_id: str, page: Page) -> str:
    assessment = _assessment(state, assessment_id, page, f"<!-- md:assessment {assessment_id} -->")
    state["embedded"].add(assessment.id)
    page.meta["assessment"] = assessment.id
    return render_form(
        assessment,
        state["locale"],
        action=state["site"].endpoint.format(id=assessment.id),
        article_url=_relative(state, page, assessment.article),
        privacy_url=_relative(state, page, "privacy.md"),
        facts=state["site"].facts(state["locale"]),
    )


def _relative(state: dict, page: Page, target_src: str) -> str:
    """The URL of page ``target_src`` (a source path) relative to ``page``; ``""`` for itself."""
    if _source_path(state, page) == target_src:
        return ""
    target = state["pages"].get(target_src)
    if target is None:
        raise PluginError(
            f"{page.file.src_uri}: the assessment links to '{target_src}', which is not a page of this build. "
            f"Fix: add docs/{target_src} (with its language suffix) or correct the path"
        )
    return get_relative_url(target.url, page.url)


def _headings(items) -> set[str]:
    ids: set[str] = set()
    for item in items:
        ids.add(item.id)
        ids |= _headings(item.children)
    return ids


def _check_article_sections(state: dict, page: Page) -> None:
    source = _source_path(state, page)
    for assessment in state["assessments"].values():
        if assessment.article != source:
            continue
        state["articles_seen"].add(source)
        problems = check_sections(assessment, _headings(page.toc.items), f"{page.file.src_uri}")
        if problems:
            raise PluginError(str(DefinitionError(assessment.source, problems)))
