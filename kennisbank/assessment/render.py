"""Render an assessment as HTML and as the data its script reads.

Markup lives in Jinja templates beside the package (``templates/assessment``); the
environment escapes every value. The build hook renders the form; the server
renders the result for readers without JavaScript, from the same templates.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from ..templating import templates
from .contact import ANSWER_PREFIX, BEACON_PATH, CONSENT_FIELD, CONTACT_FIELDS, DISCUSS_FIELD, HONEYPOT_FIELD
from .model import NOT_APPLICABLE, UNKNOWN, Assessment, Question
from .scoring import Result, check_answers

#: Strings the script needs; the rest of the texts are in the markup.
CLIENT_STRINGS = ("progress", "score_value", "theme_score", "restored", "cleared", "sending", "sent", "send_failed", "reload", "follow_up")
#: Strings it needs when the definition uses the feature that requires them.
CLIENT_FEATURE_STRINGS = ("unknown_count", "not_applicable", "theme_not_applicable", "gate_intro", "score_capped", "insufficient_count")


def _page_url(source: str) -> str:
    """The directory URL of a page by its source path: ``a/b.md`` -> ``a/b/``, ``a/index.md`` -> ``a/``."""
    page = source.removesuffix(".md")
    page = "" if page == "index" else page.removesuffix("/index")
    return page + "/" if page else ""


def clause_url(assessment: Assessment, question: Question, article_url: str) -> str:
    """Where a question's ``clause`` (``page.md#id``) is, seen from where ``article_url`` was made.

    ``article_url`` is the article's URL relative to the page showing the form (``""``
    on the article itself) or an absolute path (the server's result page); the clause's
    page is found relative to the article, in the same language tree."""
    target, _, fragment = (question.clause or "").partition("#")
    relative = posixpath.relpath(_page_url(target) or ".", _page_url(assessment.article) or ".")
    if article_url:
        relative = posixpath.normpath(posixpath.join(article_url, relative))
    if relative == ".":
        relative = "./"
    elif not relative.endswith("/"):
        relative += "/"
    return f"{relative}#{fragment}"


def storage_key(assessment: Assessment) -> str:
    return f"kennisbank:assessment:{assessment.id}"


def _filled(text: str, facts: Mapping[str, str]) -> str:
    """``text`` with the operator's facts (``{reply_time}``) filled in, other placeholders kept for the script."""
    for key, value in facts.items():
        text = text.replace("{" + key + "}", value)
    return text


def client_data(assessment: Assessment, locale: str, endpoint: str, facts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``assessment.js`` scores with: weights, scale, bands, and a few strings."""
    facts = facts or {}
    return {
        "id": assessment.id,
        "version": assessment.version,
        "definition": assessment.digest,
        "lang": locale,
        "endpoint": endpoint,
        "beacon": BEACON_PATH,
        "storageKey": storage_key(assessment),
        "prefix": ANSWER_PREFIX,
        "values": sorted(assessment.values),
        "labels": {
            **{str(o.value): o.label[locale] for o in assessment.scale},
            **({UNKNOWN: assessment.unknown.label[locale]} if assessment.unknown else {}),
            **({NOT_APPLICABLE: assessment.strings["not_applicable"][locale]} if "not_applicable" in assessment.strings else {}),
        },
        "unknown": {"value": UNKNOWN, "countsAs": assessment.unknown.counts_as} if assessment.unknown else None,
        "notApplicable": NOT_APPLICABLE,
        "context": {"id": assessment.context.id, "options": [o.id for o in assessment.context.options]} if assessment.context else None,
        "themes": [theme.id for theme in assessment.themes],
        "questions": [
            {
                "id": q.id,
                "theme": q.theme,
                "weight": q.weight,
                "unknown": q.allows_unknown,
                "mayNotApply": q.may_not_apply,
                "appliesTo": list(q.applies_to) if q.applies_to is not None else None,
                "texts": {option: text[locale] for option, text in q.text_by_context.items()},
            }
            for q in assessment.questions
        ],
        "bands": [{"id": b.id, "min": b.min, "max": b.max} for b in assessment.bands],
        "gates": [
            {
                "id": g.id,
                "maxBand": g.max_band,
                "below": g.below,
                **({"question": g.question} if g.question else {"questions": list(g.questions)} if g.questions else {"theme": g.theme}),
            }
            for g in assessment.gates
        ],
        "verdict": {"capScore": assessment.verdict.cap_score, "unknownLimit": assessment.verdict.unknown_limit},
        "conflicts": [{"id": c.id, "when": [{"question": w.question, "below": w.below, "atLeast": w.at_least} for w in c.when]} for c in assessment.conflicts],
        "strings": {key: _filled(assessment.strings[key][locale], facts) for key in (*CLIENT_STRINGS, *CLIENT_FEATURE_STRINGS) if key in assessment.strings},
    }


def _context(assessment: Assessment, locale: str, article_url: str, facts: Mapping[str, str] | None = None) -> dict[str, Any]:
    def t(text: Mapping[str, str] | None) -> str:
        return text[locale] if text else ""

    def s(key: str, **values: object) -> str:
        return assessment.string(key, locale, **{**(facts or {}), **values})

    advice_order = sorted(assessment.questions, key=lambda q: (-q.weight, assessment.questions.index(q)))
    return {
        "a": assessment,
        "lang": locale,
        "t": t,
        "s": s,
        "article_url": article_url,
        "advice_order": advice_order,
        "number": {q.id: n for n, q in enumerate(assessment.questions, start=1)},
        "clause_url": lambda q: clause_url(assessment, q, article_url),
        "UNKNOWN": UNKNOWN,
        "NOT_APPLICABLE": NOT_APPLICABLE,
        "contact_fields": CONTACT_FIELDS,
        "answer_prefix": ANSWER_PREFIX,
        "discuss_field": DISCUSS_FIELD,
        "consent_field": CONSENT_FIELD,
        "honeypot_field": HONEYPOT_FIELD,
    }


def render_form(
    assessment: Assessment, locale: str, *, action: str, article_url: str = "", privacy_url: str = "", facts: Mapping[str, str] | None = None
) -> Markup:
    """The complete form, usable without JavaScript, with the result skeleton and its data.

    ``facts``: the operator's texts its strings may name (``{reply_time}``, ``SiteConfig.facts``)."""
    template = templates.get_template("assessment/form.html")
    return Markup(
        template.render(
            **_context(assessment, locale, article_url, facts),
            action=action,
            privacy_url=privacy_url,
            data=client_data(assessment, locale, action, facts),
            result=None,
            answers={},
        )
    )


def render_result(
    assessment: Assessment, locale: str, result: Result, answers: Mapping[str, int | str], *, article_url: str = "", heading_level: int = 3
) -> Markup:
    """The result of scored answers as static HTML (the server's reply to a plain form post).

    ``heading_level`` is its heading's: 3 inside the article's section (as the form
    renders it), 2 right under a page's ``h1`` (the server's reply), so no level is skipped."""
    template = templates.get_template("assessment/result.html")
    # as scored: a question for another context shows as "not applicable", whatever was sent
    answers = check_answers(assessment, answers)
    return Markup(template.render(**_context(assessment, locale, article_url), result=result, answers=answers, heading_level=heading_level))
