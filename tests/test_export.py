"""The submissions as CSV and JSON: a row per submission, the answers as columns in
the assessment's order, formulas neutralised for spreadsheets, JSON kept as stored."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kennisbank.manifest import ManifestError
from kennisbank.server.dashboard.export import CSV_COLUMNS, FORMULA_START, neutralise, question_order, to_csv, to_json

from support import CONTEXT, QUESTIONS, submission


@pytest.mark.parametrize("start", FORMULA_START)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(start):
    assert neutralise(f"{start}SUM(A1:A9)") == f"'{start}SUM(A1:A9)"


@pytest.mark.parametrize("cell", ["Ann", "a=b", " =1", "'=1", "", 42, None, True])
def test_other_cells_are_kept(cell):
    assert neutralise(cell) == cell


def test_every_owasp_formula_start_is_covered():
    assert set(FORMULA_START) >= {"=", "+", "-", "@", "\t", "\r"}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_neutralises_every_text_column():
    evil = submission(email="ann@example.org", name="=cmd|' /C calc'!A0", organisation="+31 20", message="@SUM(1)")
    text = to_csv([evil])
    (row,) = rows(text)
    assert (row["name"], row["organisation"], row["message"]) == ("'=cmd|' /C calc'!A0", "'+31 20", "'@SUM(1)")
    assert row["email"] == "ann@example.org" and row["consent"] == "yes" and row["discuss"] == "no"


def test_csv_has_a_header_crlf_line_ends_and_answers_in_the_given_order():
    first, second = submission(answers={"b": 1, "a": 2}), submission(answers={"c": 0, "b": 2})
    text = to_csv([first, second], order=["c", "b"])
    assert text.count("\r\n") == 3 and "\n" not in text.replace("\r\n", "")
    header = next(csv.reader(io.StringIO(text)))
    assert header == [*CSV_COLUMNS, "answer.c", "answer.b", "answer.a"]  # the order first, then the rest sorted
    one, two = rows(text)
    assert (one["answer.c"], one["answer.b"], one["answer.a"]) == ("", "1", "2")
    assert (two["id"], two["consent"], two["email"], two["discuss"]) == (second.public_id, "no", "", "")


def test_json_keeps_every_value_as_stored():
    stored = submission(email="ann@example.org", name="=HYPERLINK(1)", message="line\r\nnext")
    (item,) = json.loads(to_json([stored]))
    assert item == {**json.loads(json.dumps(stored.as_dict())), "band_title": stored.band}  # no titles given: the id
    assert item["name"] == "=HYPERLINK(1)" and item["message"] == "line\r\nnext"


def test_the_question_order_is_the_built_assessments(site):
    assert question_order(site.site) == [*CONTEXT, *QUESTIONS]  # the context answer first: it decides which questions apply


def test_without_a_built_site_the_question_order_names_the_fix(tmp_path):
    with pytest.raises(ManifestError, match="Fix: build it"):
        question_order(tmp_path)


def test_the_band_title_comes_from_the_definition_and_not_enough_to_judge_has_one():
    from kennisbank.assessment.model import NO_VERDICT
    from kennisbank.server.dashboard.export import band_titles

    from support import ASSESSMENT

    title = band_titles([ASSESSMENT], "en")
    assert title(NO_VERDICT) == ASSESSMENT.verdict.insufficient.title["en"] == "Not enough information for a rating"
    assert title("gemengd") == ASSESSMENT.band("gemengd").title["en"]
    assert title("gone-band") == "gone-band"  # a band of no definition served: as stored
    (row,) = rows(to_csv([submission(band=NO_VERDICT)], title=band_titles([ASSESSMENT], "nl")))
    assert (row["band"], row["band_title"]) == (NO_VERDICT, "Te weinig bekend voor een oordeel")
    (item,) = json.loads(to_json([submission(band=NO_VERDICT)], title))
    assert list(item)[list(item).index("band") + 1] == "band_title" and item["band_title"] == "Not enough information for a rating"
