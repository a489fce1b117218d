"""The public page "how other organisations' contracts score" (docs/praktijk.<lang>.md, filled
in by the server): in both languages, in the nav and the sitemap, below the threshold
how many more are needed, at it the figures of a brute-force count, not stale after a
write by this or another process, valid HTML (vnu) and clean for axe in Chromium."""

from __future__ import annotations

import json
import random
import sqlite3

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from bs4 import BeautifulSoup

from kennisbank.assessment import score

from support import ASSESSMENT, AXE_TAGS, CONTEXT, ENDPOINT, QUESTIONS, nu, payload, start_server

PAGES = {"nl": "/praktijk/", "en": "/en/praktijk/"}


def figures(html: str) -> BeautifulSoup:
    section = BeautifulSoup(html, "html.parser").select_one("section.kb-field")
    assert section is not None, html[:300]
    return section


def test_the_page_is_built_in_both_languages_in_the_nav_and_the_sitemap(site):
    for lang, url in PAGES.items():
        page = site.html(url.strip("/") + "/index.html")
        heading = page.find("h1")
        for link in heading.select("a.headerlink"):
            link.decompose()
        assert heading.get_text(strip=True) == ("Hoe contracten in de praktijk scoren" if lang == "nl" else "How other organisations' contracts score")
        assert "<!-- kb:peers -->" in str(page)  # the static page keeps its placeholder; the server fills it in
    home = site.html("index.html")
    assert home.select_one('nav a[href$="praktijk/"]') is not None
    sitemap = (site.site / "sitemap.xml").read_text(encoding="utf-8")
    assert "/praktijk/</loc>" in sitemap and "/en/praktijk/</loc>" in sitemap
    manifest = json.loads((site.site / ".kennisbank" / "manifest.json").read_text(encoding="utf-8"))
    assert {lang: shell["url"] for lang, shell in manifest["field_pages"].items()} == PAGES


def test_below_the_threshold_the_page_says_how_many_more_are_needed(make_client):
    client = make_client(BENCHMARK_MIN="3")
    client.post(ENDPOINT, json=payload(1))
    for lang, url in PAGES.items():
        response = client.get(url)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
        section = figures(response.text)
        assert section.select("table") == [] and section.select("svg") == []
        assert ("nog 2 nodig" if lang == "nl" else "2 more are needed") in section.get_text()
        # by its file name too: the built file there is only the placeholder
        assert figures(client.get(url + "index.html").text).get_text() == section.get_text()


def band(value: int) -> tuple[int, int]:
    return (90, 100) if value >= 90 else (value // 10 * 10, value // 10 * 10 + 9)


def test_at_the_threshold_the_page_shows_the_brute_force_figures_and_follows_every_write(make_client, tmp_path):
    minimum = 5
    client = make_client(BENCHMARK_MIN=str(minimum), BENCHMARK_STEP="1")
    rng = random.Random(5)
    results = []
    for _ in range(minimum * 3):
        answers = {**CONTEXT, **{q: rng.choice(sorted(ASSESSMENT.values)) for q in QUESTIONS}}
        assert client.post(ENDPOINT, json=payload(answers=answers)).status_code == 201
        results.append(score(ASSESSMENT, answers))
    n = len(results)
    section = figures(client.get(PAGES["en"]).text)
    totals = sorted(r.score for r in results)
    text = section.get_text()
    assert f"{n} contracts have been assessed" in text
    low, high = band(totals[(n - 1) // 2])
    assert f"The median total score is between {low} and {high};" in text
    assert f"the middle 50% score between {band(totals[(n - 1) // 4])[0]} and {band(totals[3 * (n - 1) // 4])[1]}." in text
    assert f"no number below {minimum}" in text
    # the totals per group of 10-point ranges: one after the other from 0 to 100, each the
    # brute-force count of its scores, each 0 or at least the minimum
    rows = [[cell.get_text() for cell in row.select("th, td")] for row in section.select("table.kb-field-totals tbody tr")]
    bounds = [tuple(int(x) for x in row[0].split("–")) for row in rows]
    assert bounds[0][0] == 0 and bounds[-1][1] == 100
    assert all(b[1] + 1 == c[0] and b[0] % 10 == 0 for b, c in zip(bounds, bounds[1:], strict=False))
    for (first, last), row in zip(bounds, rows, strict=True):
        found = sum(1 for t in totals if first <= t <= last)
        assert int(row[1]) == found and (found == 0 or found >= minimum), row
        assert row[2] == f"{round(100 * found / n)} %"
    assert len(rows) > 1, "the test data must give more than one group"
    assert section.select_one("table.kb-field-themes") is None and "data-kb-field-theme" not in str(section), "no theme figures"
    # a write by the server itself, then one by another process (a second connection): never stale
    client.post(ENDPOINT, json=payload(2))
    assert f"{n + 1} contracts have been assessed" in figures(client.get(PAGES["en"]).text).get_text()
    db = sqlite3.connect(tmp_path / "var" / "db.sqlite3")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"DELETE FROM submissions WHERE id IN (SELECT id FROM submissions ORDER BY id LIMIT {n - minimum + 2})")
    db.commit()
    db.close()
    assert "nog 1 nodig" in figures(client.get(PAGES["nl"]).text).get_text()


def test_the_figures_change_only_every_benchmark_step_submissions(make_client):
    """Issue 25: figures that move with every submission tell whoever watches what the last
    one scored. With BENCHMARK_STEP=4 the page and the reply stay as they were for 3
    submissions and move on the 4th; below the threshold the count is exact."""
    client = make_client(BENCHMARK_MIN="3", BENCHMARK_STEP="4")
    seen, pages = [], []
    for value in [0, 1, 2] * 5:
        seen.append(client.post(ENDPOINT, json=payload(value, lang="en")).json()["peers"]["count"])
        pages.append(figures(client.get(PAGES["en"]).text).get_text())
    # the reply: 0, 1, 2 (below the threshold: only how many), then 3 until 4 more have come in
    assert seen == [0, 1, 2, 3, 3, 3, 3, 7, 7, 7, 7, 11, 11, 11, 11]
    # the page (read after each insert): its own counts, renewed in the same steps
    assert len(set(pages[2:6])) == 1 and len(set(pages[6:10])) == 1 and pages[6] != pages[5] and pages[10] != pages[9]
    assert "3 contracts have been assessed" in pages[2] and "7 contracts" in pages[6]


@pytest.mark.browser
def test_the_filled_in_page_is_valid_html_and_clean_for_axe_in_both_languages(site, browser, tmp_path):
    database = tmp_path / "db.sqlite3"
    server, base_url = start_server(site.site, database, BENCHMARK_MIN="2")
    try:
        with httpx.Client(base_url=base_url) as http:
            for value in (0, 1, 2):
                assert http.post(ENDPOINT, content=json.dumps(payload(value)), headers={"content-type": "application/json"}).status_code == 201
            saved = []
            for lang, url in PAGES.items():
                html = http.get(url).text
                assert "kb-field-totals" in html
                path = tmp_path / f"field-{lang}.html"
                path.write_text(html, encoding="utf-8")
                saved.append(path)
        if nu.missing() is None:
            problems = nu.failures(nu.check(saved))
            assert problems == [], "\n".join(str(p) for p in problems[:20])
        context = browser.new_context()
        try:
            page = context.new_page()
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                for url in PAGES.values():
                    page.goto(base_url + url)
                    assert page.locator("table.kb-field-totals").is_visible()
                    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
                    assert results.violations_count == 0, results.generate_report()
        finally:
            context.close()
    finally:
        server.stop()
