"""The budgets of audit/budgets.json that hold without Lighthouse, checked on every
`make test`: no axe violation on the audited pages in either colour scheme, the
article within its page weight, and no request to any host but the site's own.

The measurements are audit/measure.py's, the same code `make audit` runs; the
assessment's answered state is audited by test_assessment_browser.py."""

from __future__ import annotations

import pytest

from kennisbank.siteconfig import load_mkdocs

from support import ROOT, measure  # measure: audit/measure.py

pytestmark = pytest.mark.browser


BUDGETS = measure.Budgets.load()
LANGUAGES = load_mkdocs(ROOT / "mkdocs.yml").languages
AUDITED = [pytest.param(lang.prefix, path, id=f"{lang.locale}-{path.strip('/').split('/')[-1] or 'home'}") for path in BUDGETS.pages for lang in LANGUAGES]


def test_the_article_is_audited_and_has_a_weight_budget():
    assert any("artikelen/" in path and budget for path, budget in BUDGETS.max_bytes.items())
    assert set(BUDGETS.max_bytes) <= set(BUDGETS.pages)


@pytest.mark.parametrize("scheme", measure.COLOR_SCHEMES)
@pytest.mark.parametrize("prefix,path", AUDITED)
def test_no_axe_violations(browser, base_url, prefix, path, scheme):
    [result] = measure.run_axe(browser, f"{base_url}/{prefix}{path}", scheme)
    found, allowed = result.count, BUDGETS.max_axe_violations
    assert found <= allowed, result.report()


@pytest.mark.parametrize("prefix,path", AUDITED)
def test_page_weight_and_no_other_hosts(browser, base_url, prefix, path):
    weight = measure.measure_weight(browser, f"{base_url}/{prefix}{path}")
    others = [transfer.url for transfer in weight.third_party_requests]
    assert len(others) <= BUDGETS.max_third_party_requests, others
    transferred, most = weight.transferred, BUDGETS.max_bytes.get(path)
    if most is not None:
        biggest = sorted(weight.transfers, key=lambda t: t.bytes, reverse=True)
        assert transferred <= most, f"{weight.url}: {transferred} bytes in {weight.requests} requests > {most}: " + ", ".join(
            f"{t.url.removeprefix(base_url)} {t.bytes}" for t in biggest
        )
