"""Scoring: weighted 0-100 with halves rounded up, bands, theme scores, the weak answers
in advice order, and the answer checks the server relies on."""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import floor

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kennisbank.assessment import AnswerError, Assessment, check_answers, load_definition, percentage, score
from kennisbank.assessment.definition import OPTIONAL_STRINGS, REQUIRED_STRINGS
from kennisbank.assessment.model import NO_VERDICT

from support import ROOT

REAL = ROOT / "assessments" / "contract-check.yml"
LOCALES = ["nl", "en"]
#: The questions put to each context of the real definition.
APPLYING = {
    context: [q["id"] for q in yaml.safe_load(REAL.read_text(encoding="utf-8"))["questions"] if context in q.get("applies_to", [context])]
    for context in ("commercieel", "ssc")
}


def half_up(earned: int, possible: int) -> int:
    """round(100 * earned / possible), halves up, the way a person would round."""
    return int((Decimal(100 * earned) / Decimal(possible)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture(scope="module")
def real() -> Assessment:
    return load_definition(REAL, LOCALES)


#: The small definition: three themes, weights summing to 50, so 2 * 50 = 100 points
#: possible and the score is exactly the points earned.
SMALL_QUESTIONS = [
    # id, theme, weight
    ("a-een", "a", 20),
    ("b-een", "b", 10),
    ("a-twee", "a", 10),
    ("b-twee", "b", 5),
    ("c-een", "c", 4),
    ("c-twee", "c", 1),
]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Assessment:
    raw = yaml.safe_load(REAL.read_text(encoding="utf-8"))
    small = {key: copy.deepcopy(raw[key]) for key in ("id", "version", "article", "minutes", "title", "intro", "scale")}
    small["id"] = "klein"
    small["themes"] = [{"id": t, "title": {"nl": f"Thema {t}", "en": f"Theme {t}"}} for t in "abc"]
    small["questions"] = [
        {
            "id": qid,
            "theme": theme,
            "weight": weight,
            "section": "de-remedie",
            "text": {"nl": f"Vraag {qid}?", "en": f"Question {qid}?"},
            "advice": {"nl": f"Advies {qid}.", "en": f"Advice {qid}."},
        }
        for qid, theme, weight in SMALL_QUESTIONS
    ]
    small["bands"] = copy.deepcopy(raw["bands"])
    small["strings"] = copy.deepcopy(raw["strings"])
    path = tmp_path_factory.mktemp("small") / "klein.yml"
    path.write_text(yaml.safe_dump(small, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_definition(path, LOCALES)


def answers_for(assessment: Assessment, default: int | str = 0, context: str | None = None, **values: int | str) -> dict[str, int | str]:
    """Every question ``default`` but those named; the context question (if any) ``context``, else its first option."""
    answers = {q.id: default for q in assessment.questions}
    if assessment.context is not None:
        answers[assessment.context.id] = context or assessment.context.options[0].id
    answers.update({key.replace("_", "-"): value for key, value in values.items()})
    return answers


# Edges on the real definition


def test_all_weakest_answers_score_0_in_the_lowest_band(real):
    result = score(real, answers_for(real, 0))
    assert result.score == 0
    assert result.band.id == "inspanning"
    assert result.band == min(real.bands, key=lambda band: band.min)
    assert all(theme.score == 0 for theme in result.themes)
    assert len(result.weak) == len(APPLYING["commercieel"]) == 18


def test_all_strongest_answers_score_100_in_the_top_band_without_weak_questions(real):
    result = score(real, answers_for(real, 2))
    assert result.score == 100
    assert result.band.id == "resultaatgericht"
    assert result.band == max(real.bands, key=lambda band: band.max)
    assert [theme.score for theme in result.themes] == [100] * len(real.themes)
    assert result.weak == ()


def test_all_middle_answers_score_50(real):
    result = score(real, answers_for(real, 1))
    assert result.score == 50
    assert result.band.id == "gemengd"
    assert len(result.weak) == 18


def test_theme_scores_follow_the_definition_order(real):
    result = score(real, answers_for(real, 0))
    assert [theme.theme for theme in result.themes] == ["resultaten", "beloning", "sturing", "heronderhandeling"]


def test_weak_questions_are_heaviest_first_then_in_document_order(real):
    result = score(real, answers_for(real, 0))
    weak = [q.id for q in result.weak]
    assert weak[:4] == ["diensten-als-resultaat", "eindsituatie-gebruiker", "bonus-malus", "variabele-vergoeding"]
    assert weak[-3:] == ["escalatie-termijnen", "exit-data-terug", "exit-ondersteuning"]
    assert "dvo-gevolgen" not in weak  # an SSC question: the first context is a commercial provider
    weights = [q.weight for q in result.weak]
    assert weights == sorted(weights, reverse=True)
    for heavier, lighter in zip(result.weak, result.weak[1:], strict=False):
        if heavier.weight == lighter.weight:
            assert real.questions.index(heavier) < real.questions.index(lighter)


def test_only_answers_below_the_top_are_weak(real):
    answers = answers_for(real, 2, bonus_malus=1, exit_data_terug=0, heronderhandelen=1)
    result = score(real, answers)
    assert [q.id for q in result.weak] == ["bonus-malus", "heronderhandelen", "exit-data-terug"]


# Band boundaries and theme scores on a small definition


def test_small_definition_has_100_points_possible(small):
    assert sum(q.weight for q in small.questions) * small.max_value == 100


@pytest.mark.parametrize(
    "answers,expected,band",
    [
        ({"a-een": 1, "a-twee": 1, "b-twee": 1, "c-een": 1}, 39, "inspanning"),
        ({"a-een": 2}, 40, "gemengd"),
        ({"a-een": 2, "b-een": 2, "b-twee": 1, "c-een": 1}, 69, "gemengd"),
        ({"a-een": 2, "b-een": 2, "a-twee": 1}, 70, "resultaatgericht"),
        ({"c-twee": 1}, 1, "inspanning"),
        ({"a-een": 2, "b-een": 2, "a-twee": 2, "b-twee": 2, "c-een": 2, "c-twee": 1}, 99, "resultaatgericht"),
    ],
    ids=["39", "40", "69", "70", "1", "99"],
)
def test_band_boundaries(small, answers, expected, band):
    result = score(small, {**answers_for(small, 0), **answers})
    assert result.score == expected
    assert result.band.id == band
    assert result.band.contains(result.score)


def test_theme_scores(small):
    answers = {"a-een": 2, "a-twee": 1, "b-een": 0, "b-twee": 2, "c-een": 1, "c-twee": 1}
    result = score(small, answers)
    # a: (40 + 10) / 60 = 83.3; b: 10 / 30 = 33.3; c: (4 + 1) / 10 = 50
    assert {t.theme: t.score for t in result.themes} == {"a": 83, "b": 33, "c": 50}
    assert result.score == 40 + 10 + 0 + 10 + 4 + 1
    assert [q.id for q in result.weak] == ["b-een", "a-twee", "c-een", "c-twee"]


def test_weak_ties_keep_document_order_not_theme_order(small):
    # b-een and a-twee both weigh 10; b-een comes first in the file
    result = score(small, answers_for(small, 1))
    assert [q.id for q in result.weak] == ["a-een", "b-een", "a-twee", "b-twee", "c-een", "c-twee"]


def test_theme_scores_are_rounded_to_whole_numbers(small):
    # theme c: c-een 0 of 8, c-twee 1 of 2 -> 1/10 = 10; theme b: b-twee 1 of 10 -> 5/30 = 16.67 -> 17
    result = score(small, {**answers_for(small, 0), "c-twee": 1, "b-twee": 1})
    assert {t.theme: t.score for t in result.themes} == {"a": 0, "b": 17, "c": 10}


# percentage()


@pytest.mark.parametrize(
    "earned,possible,expected",
    [
        (1, 8, 13),
        (0, 8, 0),
        (8, 8, 100),
        (1, 200, 1),
        (79, 200, 40),
        (78, 200, 39),
        (139, 200, 70),
        (1, 3, 33),
        (2, 3, 67),
        (1, 2, 50),
        (1, 400, 0),
        (3, 400, 1),
    ],
)
def test_percentage_rounds_half_up(earned, possible, expected):
    assert percentage(earned, possible) == expected
    assert isinstance(percentage(earned, possible), int)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=1, max_value=10**6).flatmap(lambda p: st.tuples(st.integers(min_value=0, max_value=p), st.just(p))))
def test_percentage_equals_round_half_up(pair):
    earned, possible = pair
    expected = floor(Fraction(100 * earned, possible) + Fraction(1, 2))
    assert percentage(earned, possible) == expected == half_up(earned, possible)
    assert 0 <= percentage(earned, possible) <= 100


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["commercieel", "ssc"]), st.lists(st.sampled_from([0, 1, 2]), min_size=19, max_size=19))
def test_score_of_any_answers_is_the_rounded_weighted_share(real, context, values):
    answers = {"dienstverlener": context, **{q.id: v for q, v in zip(real.questions, values, strict=False)}}
    result = score(real, answers)
    applying = [q for q in real.questions if q.id in APPLYING[context]]
    earned = sum(q.weight * answers[q.id] for q in applying)
    possible = sum(q.weight * 2 for q in applying)
    assert result.raw_score == half_up(earned, possible)
    assert result.score_band.contains(result.raw_score)
    # the score shown is the same, or, where a gate set the band, that band's top (issue 22)
    assert result.score == (min(result.raw_score, result.band.max) if result.gates else result.raw_score)
    assert result.band.contains(result.score)
    assert result.band.min <= result.score_band.min  # a gate only ever lowers the band
    assert {q.id for q in result.weak} == {q.id for q in applying if answers[q.id] < 2}


# check_answers()


def test_check_answers_accepts_digit_strings(real):
    answers = {"dienstverlener": "ssc", **{q.id: str(i % 3) for i, q in enumerate(real.questions)}}
    clean = check_answers(real, answers)
    assert clean == {"dienstverlener": "ssc", **{q.id: (i % 3 if q.id in APPLYING["ssc"] else "na") for i, q in enumerate(real.questions)}}
    assert all(type(v) is int for k, v in clean.items() if k in APPLYING["ssc"])


def test_check_answers_rejects_unknown_ids(real):
    answers = {**answers_for(real, 1), "bestaat-niet": 2}
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers)
    assert caught.value.problems == {"bestaat-niet": ("error_unknown", {"field": "bestaat-niet"})}


def test_check_answers_shortens_a_long_unknown_field_name(real):
    with pytest.raises(AnswerError) as caught:
        check_answers(real, {**answers_for(real, 1), "x" * 500: 1})
    key, values = caught.value.problems["x" * 500]
    assert key == "error_unknown" and values["field"] == "x" * 80


def test_check_answers_reports_missing_answers_by_question_number(real):
    answers = answers_for(real, 1)
    del answers["eindsituatie-gebruiker"]  # question 2
    del answers["exit-ondersteuning"]  # question 19
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers)
    assert caught.value.problems == {
        "eindsituatie-gebruiker": ("error_missing", {"question": "2"}),
        "exit-ondersteuning": ("error_missing", {"question": "19"}),
    }


@pytest.mark.parametrize(
    "value,key",
    [
        (3, "error_scale"),
        (-1, "error_scale"),
        ("2.0", "error_scale"),
        ("3", "error_scale"),
        ("-1", "error_scale"),
        (" 2", "error_scale"),
        ("٢", "error_scale"),  # an Arabic-Indic two: a digit, but not ASCII
        ("twee", "error_scale"),
        (2.0, "error_scale"),
        (True, "error_scale"),
        (False, "error_scale"),
        ([2], "error_scale"),
        (None, "error_missing"),
        ("", "error_missing"),
    ],
    ids=repr,
)
def test_check_answers_rejects_off_scale_values(real, value, key):
    answers = {**answers_for(real, 1), "bonus-malus": value}  # question 4
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers)
    assert caught.value.problems == {"bonus-malus": (key, {"question": "4"})}


def test_check_answers_lists_every_problem_at_once(real):
    answers = answers_for(real, 1)
    answers["diensten-als-resultaat"] = 7
    del answers["bonus-malus"]
    answers["extra"] = 1
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers)
    problems = caught.value.problems
    assert {field: key for field, (key, _) in problems.items()} == {
        "diensten-als-resultaat": "error_scale",
        "bonus-malus": "error_missing",
        "extra": "error_unknown",
    }
    assert "bonus-malus: error_missing" in str(caught.value)


def test_problem_keys_are_strings_of_the_definition_with_their_placeholders(real):
    answers = {**answers_for(real, 1), "bonus-malus": 9, "extra": 1}
    del answers["exit-ondersteuning"]
    answers["dvo-gevolgen"] = "na"  # not applicable is right for an SSC question, but this is an SSC
    answers["dienstverlener"] = "ssc"
    answers["eindsituatie-gebruiker"] = "na"
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers)
    assert {key for key, _ in caught.value.problems.values()} == {"error_scale", "error_unknown", "error_missing", "error_not_applicable"}
    for key, values in caught.value.problems.values():
        assert set(values) == set({**REQUIRED_STRINGS, **OPTIONAL_STRINGS}[key])
        for locale in LOCALES:
            text = real.string(key, locale, **values)
            assert all(value in text for value in values.values())


def test_score_refuses_incomplete_answers(real):
    answers = answers_for(real, 2)
    del answers["heronderhandelen"]
    with pytest.raises(AnswerError):
        score(real, answers)


def test_score_accepts_the_strings_a_form_posts(real):
    assert score(real, {"dienstverlener": "commercieel", **{q.id: "2" for q in real.questions}}).score == 100


# Gates: "without this, nothing else counts"


@pytest.mark.parametrize("context", ["commercieel", "ssc"])
def test_fault_1_no_result_agreements_is_never_called_result_driven(real, context):
    """Issue 13, fault 1: questions 1-3 No and the rest Yes scored 72, 'Resultaatgericht
    contract', with the theme Resultaatafspraken at 0. The score stays; the band may not."""
    answers = answers_for(real, 2, context=context, diensten_als_resultaat=0, eindsituatie_gebruiker=0, herstel_zonder_wachten=0)
    result = score(real, answers)
    assert result.raw_score >= 70 and result.score_band.id == "resultaatgericht"  # the mean alone would say so
    assert result.score == 39  # and the number shown agrees with the band (issue 22)
    assert {t.theme: t.score for t in result.themes}["resultaten"] == 0
    assert result.band.id == "inspanning"
    assert [gate.id for gate in result.gates] == ["geen-resultaatafspraken"]


def test_gate_on_a_question_trips_below_its_value_only(real):
    partly = score(real, answers_for(real, 2, diensten_als_resultaat=1))
    assert (partly.score_band.id, partly.band.id) == ("resultaatgericht", "gemengd")
    assert [gate.id for gate in partly.gates] == ["niet-alle-diensten-resultaat"]
    yes = score(real, answers_for(real, 2))
    assert yes.band.id == "resultaatgericht" and yes.gates == ()


def test_gate_on_a_theme_trips_below_its_threshold_only(real):
    # outcomes defined (Yes), but neither as the user sees them nor fixable without waiting
    below = score(real, answers_for(real, 2, eindsituatie_gebruiker=0, herstel_zonder_wachten=0))
    assert {t.theme: t.score for t in below.themes}["resultaten"] == 38
    assert below.band.id == "gemengd" and [g.id for g in below.gates] == ["resultaatafspraken-zwak"]
    at = score(real, answers_for(real, 2, eindsituatie_gebruiker=1, herstel_zonder_wachten=1))
    assert {t.theme: t.score for t in at.themes}["resultaten"] == 69
    assert at.gates == () and at.band.id == "resultaatgericht"
    edge = score(real, answers_for(real, 2, eindsituatie_gebruiker=0, herstel_zonder_wachten=1))
    assert {t.theme: t.score for t in edge.themes}["resultaten"] == 50  # not below 50: the gate holds its fire
    assert edge.gates == ()


def test_a_gate_never_raises_a_band_and_is_silent_when_the_score_is_already_low(real):
    result = score(real, answers_for(real, 0))
    assert result.band.id == result.score_band.id == "inspanning"
    assert result.gates == ()  # tripped, but it changes nothing: nothing to explain
    middle = score(real, answers_for(real, 1))
    assert middle.band.id == "gemengd" and middle.gates == ()


def test_the_strictest_gate_sets_the_band_and_only_it_is_explained(real):
    result = score(real, answers_for(real, 2, diensten_als_resultaat=0))
    # two gates trip (the theme, at 63, is not below 50); the strictest cap wins and is the one explained
    assert result.band.id == "inspanning"
    assert [gate.id for gate in result.gates] == ["geen-resultaatafspraken"]


# "Don't know"


def test_unknown_counts_as_no_and_is_counted(real):
    unknown = score(real, answers_for(real, 2, bonus_malus="unknown", meerwerk_prijs="unknown"))
    no = score(real, answers_for(real, 2, bonus_malus=0, meerwerk_prijs=0))
    assert unknown.score == no.score < 100
    assert [q.id for q in unknown.unknown] == ["bonus-malus", "meerwerk-prijs"]
    assert {q.id for q in unknown.weak} == {"bonus-malus", "meerwerk-prijs"}
    assert no.unknown == ()


def test_unknown_trips_a_gate_like_no(real):
    result = score(real, answers_for(real, 2, diensten_als_resultaat="unknown"))
    assert result.band.id == "inspanning" and [g.id for g in result.gates] == ["geen-resultaatafspraken"]


def test_unknown_is_refused_where_the_question_does_not_offer_it(small):
    assert not small.question("a-een").allows_unknown
    with pytest.raises(AnswerError) as caught:
        check_answers(small, answers_for(small, 1, a_een="unknown"))
    assert caught.value.problems == {"a-een": ("error_scale", {"question": "1"})}


def test_unknown_and_not_applicable_can_never_be_scale_values(real):
    assert all(isinstance(value, int) for value in real.values)
    assert all(q.allows_unknown for q in real.questions)
    clean = check_answers(real, answers_for(real, "unknown"))
    assert clean["bonus-malus"] == "unknown" and clean["dvo-gevolgen"] == "na"


# Questions that apply


def test_questions_for_another_context_leave_the_denominator(real):
    ssc = score(real, answers_for(real, 2, context="ssc", bonus_malus=0, volumegarantie=0))
    assert ssc.score == 100  # the commercial questions do not count, whatever was answered
    assert {q.id for q in ssc.not_applicable} == {"bonus-malus", "volumegarantie"}
    commercial = score(real, answers_for(real, 2, context="commercieel", dvo_gevolgen=0))
    assert commercial.score == 100 and [q.id for q in commercial.not_applicable] == ["dvo-gevolgen"]
    # and the same answers do count where the questions apply
    assert score(real, answers_for(real, 2, context="commercieel", bonus_malus=0)).score < 100


def test_a_missing_answer_to_a_question_that_does_not_apply_is_fine(real):
    answers = answers_for(real, 1, context="ssc")
    del answers["bonus-malus"], answers["volumegarantie"]
    assert check_answers(real, answers)["bonus-malus"] == "na"


def test_not_applicable_is_refused_on_a_question_that_applies(real):
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers_for(real, 1, context="commercieel", bonus_malus="na"))
    assert caught.value.problems == {"bonus-malus": ("error_not_applicable", {"question": "4"})}
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers_for(real, 1, diensten_als_resultaat="na"))  # a question for everyone
    assert caught.value.problems == {"diensten-als-resultaat": ("error_scale", {"question": "1"})}


@pytest.mark.parametrize("context", [None, "", "bank", 1, ["ssc"]])
def test_the_context_answer_is_required_and_must_be_an_option(real, context):
    answers = answers_for(real, 1)
    answers["dienstverlener"] = context
    with pytest.raises(AnswerError) as caught:
        check_answers(real, answers)
    assert caught.value.problems == {"dienstverlener": ("error_context", {})}


def test_a_gate_on_a_question_that_does_not_apply_never_trips(small, tmp_path):
    raw = copy.deepcopy(dict(small.data))
    raw["context"] = {
        "id": "wie",
        "text": {"nl": "Wie?", "en": "Who?"},
        "options": [{"id": "x", "label": {"nl": "X", "en": "X"}}, {"id": "y", "label": {"nl": "Y", "en": "Y"}}],
    }
    raw["questions"][0]["applies_to"] = ["x"]  # a-een, weight 20
    raw["gates"] = [{"id": "poort", "question": "a-een", "below": 2, "max_band": "inspanning", "text": {"nl": "Nee.", "en": "No."}}]
    raw["strings"] = {**raw["strings"], **yaml.safe_load(REAL.read_text(encoding="utf-8"))["strings"]}
    path = tmp_path / "klein.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    gated = load_definition(path, LOCALES)
    top = {q.id: 2 for q in gated.questions}
    assert score(gated, {**top, "wie": "y", "a-een": "na"}).band.id == "resultaatgericht"  # does not apply: no gate
    tripped = score(gated, {**top, "wie": "x", "a-een": 1})
    assert (tripped.score, tripped.band.id, [g.id for g in tripped.gates]) == (80, "inspanning", ["poort"])


# The verdict (issue 22): a result the article would sign


@pytest.mark.parametrize("context", ["commercieel", "ssc"])
def test_neither_bonus_malus_nor_a_variable_fee_is_never_result_driven(real, context):
    """Issue 22: "No" to bonus-malus and to a variable fee, "Yes" to the rest, gave 83 and
    'Resultaatgericht contract: Jullie contract beloont resultaten' (82 for an SSC). The
    article: "Bij klantgericht optreden bevorderen hoort ook dat je daar een beloning op zet"."""
    result = score(real, answers_for(real, 2, context=context, bonus_malus=0, variabele_vergoeding=0))
    assert result.score_band.id == "resultaatgericht"  # what the answers alone would say
    assert result.band.id != "resultaatgericht"
    assert (result.band.id, [g.id for g in result.gates]) == ("gemengd", ["geen-beloning"])
    assert result.score == 69 and result.band.contains(result.score)
    # "don't know" is no reward either; one reward is enough to lift the gate
    assert score(real, answers_for(real, 2, context=context, bonus_malus="unknown", variabele_vergoeding="unknown")).band.id == "gemengd"
    assert score(real, answers_for(real, 2, context=context, bonus_malus=0, variabele_vergoeding=1)).band.id == "resultaatgericht"


def test_no_outcome_agreements_is_an_effort_contract_with_a_number_that_agrees(real):
    """Issue 22: diensten-als-resultaat "No", the rest "Yes", showed 92 beside the capped band
    'Inspanningscontract'; the comparison with peers then ranked that 92."""
    for context in ("commercieel", "ssc"):
        result = score(real, answers_for(real, 2, context=context, diensten_als_resultaat=0))
        assert result.band.id == "inspanning"
        assert result.raw_score > 90 and result.score == 39 and result.band.contains(result.score)
        assert [g.id for g in result.gates] == ["geen-resultaatafspraken"]
        # the same contradiction the issue names is pointed out
        assert "eindsituatie-zonder-resultaten" in [c.id for c in result.conflicts]


def test_the_whole_measurement_theme_at_no_is_not_result_driven(real):
    """Issue 22: "Meten en sturen" all "No" still gave 75, 'Resultaatgericht'."""
    no_measuring = {q.id.replace("-", "_"): 0 for q in real.questions if q.theme == "sturing"}
    result = score(real, answers_for(real, 2, **no_measuring))
    assert result.raw_score >= 70
    assert (result.band.id, [g.id for g in result.gates]) == ("gemengd", ["sturing-zwak"])


def test_all_dont_know_gives_no_band(real):
    """Issue 22: "Weet ik niet" on every question gave 3/100, 'Jullie contract vraagt vooral
    inspanning': a verdict on a contract the reader has not read."""
    for context in ("commercieel", "ssc"):
        result = score(real, answers_for(real, "unknown", context=context))
        assert not result.judged
        assert result.band.id == NO_VERDICT and result.band not in real.bands
        assert result.gates == ()
        assert len(result.unknown) == result.applying == len(APPLYING[context])


def test_the_dont_know_limit_is_a_share_of_the_questions_that_apply(real):
    limit = real.verdict.unknown_limit
    applying = [q for q in real.questions if q.applies("commercieel")]
    allowed = limit * len(applying) // 100  # at most this many: not more than the limit
    within = answers_for(real, 2, **{q.id.replace("-", "_"): "unknown" for q in applying[-allowed:]})
    assert score(real, within).judged
    past = answers_for(real, 2, **{q.id.replace("-", "_"): "unknown" for q in applying[-allowed - 1 :]})
    result = score(real, past)
    assert not result.judged and 100 * len(result.unknown) > limit * len(applying)


def test_contradictory_answers_are_pointed_out_and_dont_know_contradicts_nothing(real):
    contradicting = score(
        real, answers_for(real, 2, diensten_als_resultaat=0, eindsituatie_gebruiker=1, meetdefinitie=0, rapportage_per_resultaat=0, bonus_malus=0)
    )
    assert [c.id for c in contradicting.conflicts] == ["eindsituatie-zonder-resultaten"]
    assert score(real, answers_for(real, 2, diensten_als_resultaat="unknown")).conflicts == ()
    assert score(real, answers_for(real, 2)).conflicts == ()


def test_not_applicable_is_honest_for_exit_data_and_measurement_data(real):
    """Issue 22: a facilities contract (the article's revolving door and carpet) could not
    mark exit-data-terug or meetgegevens-inzien as not applicable."""
    result = score(real, answers_for(real, 2, exit_data_terug="na", meetgegevens_inzien="na"))
    assert result.score == 100 and {"exit-data-terug", "meetgegevens-inzien"} <= {q.id for q in result.not_applicable}
    assert score(real, answers_for(real, 2, exit_data_terug=0)).raw_score < 100
    # still refused where it would be a catch-all
    with pytest.raises(AnswerError):
        check_answers(real, answers_for(real, 2, diensten_als_resultaat="na"))
