"""The assessment definition: the real file loads, and every way to break it is
reported with the file, the place, the problem and the fix."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kennisbank.assessment import (
    Assessment,
    DefinitionError,
    Problem,
    check,
    check_sections,
    load_definition,
    load_definitions,
    schema,
)
from kennisbank.assessment.definition import REQUIRED_STRINGS
from kennisbank.siteconfig import load_mkdocs

from support import ROOT

DEFINITIONS = ROOT / "assessments"
REAL = DEFINITIONS / "contract-check.yml"
LOCALES = ["nl", "en"]
ARTICLE_SOURCES = [ROOT / "docs" / "artikelen" / f"klantgericht-optreden-bevorderen.{locale}.md" for locale in LOCALES]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The real definition as parsed YAML; tests change deep copies of it."""
    return yaml.safe_load(REAL.read_text(encoding="utf-8"))


def changed(raw: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    broken = copy.deepcopy(raw)
    change(broken)
    return broken


def write(folder: Path, data: dict[str, Any], name: str = "contract-check.yml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path, locales=LOCALES) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        load_definition(path, locales)
    return caught.value


def text_places(node: Any, place: str = "") -> list[str]:
    """The place (as problems name it) of every text mapping (a dict with an ``nl`` key)."""
    if isinstance(node, dict):
        if "nl" in node and all(isinstance(v, str) for v in node.values()):
            return [place]
        return [p for key, value in node.items() for p in text_places(value, f"{place}.{key}" if place else key)]
    if isinstance(node, list):
        return [p for index, item in enumerate(node) for p in text_places(item, f"{place}[{index}]")]
    return []


# The real definition


def test_site_languages_are_the_ones_the_tests_assume():
    assert list(load_mkdocs(ROOT / "mkdocs.yml").locales) == LOCALES


def test_schema_is_a_valid_json_schema():
    meta = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    assert [error.message for error in meta.iter_errors(schema(LOCALES))] == []


def test_real_definition_has_no_problems(raw):
    assert check(raw, LOCALES) == []


def test_real_definition_loads_with_nineteen_questions_in_both_languages():
    assessment = load_definition(REAL, LOCALES)
    assert isinstance(assessment, Assessment)
    assert assessment.id == "contract-check"
    assert assessment.source == REAL
    assert assessment.version == 3
    assert len(assessment.questions) == 19
    assert len({q.id for q in assessment.questions}) == 19
    # the questions Q8, Q10, Q12 and Q14 of version 1 asked several things: they were split, under new ids;
    # version 3 made the reader's own capacity (not a property of the contract) a note in every result (notes:)
    retired = {"meting-vastgelegd", "gebruikerservaring-telt", "escalatie-en-opzegging", "exitafspraken", "kennis-en-capaciteit"}
    assert set(assessment.data["retired_ids"]) == retired and not retired & {q.id for q in assessment.questions}
    # the article's points that had no question: paid extra work, and guaranteed revenue
    assert {"meerwerk-prijs", "volumegarantie"} <= {q.id for q in assessment.questions}
    assert 3 <= len(assessment.themes) <= 5
    assert sorted(assessment.values) == [0, 1, 2]
    for question in assessment.questions:
        for locale in LOCALES:
            assert question.text[locale].strip()
            assert question.advice[locale].strip()
            assert question.help is None or question.help[locale].strip()
        assert question.text["nl"] != question.text["en"]
        assert isinstance(question.weight, int) and question.weight >= 1
        assert question.theme in {theme.id for theme in assessment.themes}
    for key in REQUIRED_STRINGS:
        assert set(assessment.strings[key]) >= set(LOCALES)


def test_real_bands_cover_every_score_exactly_once():
    assessment = load_definition(REAL, LOCALES)
    for score in range(101):
        assert sum(band.contains(score) for band in assessment.bands) == 1, score
    assert [b.min for b in assessment.bands] == sorted(b.min for b in assessment.bands)


def test_real_article_exists_and_has_every_cited_section():
    assessment = load_definition(REAL, LOCALES)
    assert assessment.article == "artikelen/klantgericht-optreden-bevorderen.md"
    for source in ARTICLE_SOURCES:
        text = source.read_text(encoding="utf-8")
        for section in assessment.sections:
            assert "{ #" + section + " }" in text, (source.name, section)


def test_load_definitions_finds_the_real_definition_by_id():
    assessments = load_definitions(DEFINITIONS, LOCALES)
    assert list(assessments) == ["contract-check"]
    assert len(assessments["contract-check"].questions) == 19


# Every validation failure: file, place, problem and fix


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets the value at ``a.b[2].c`` style ``path``."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = _parts(path)
        for part in parents:
            data = data[part]
        data[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = _parts(path)
        for part in parents:
            data = data[part]
        del data[last]

    return change


def _parts(path: str) -> list[Any]:
    parts: list[Any] = []
    for piece in path.split("."):
        name, *indexes = piece.replace("]", "").split("[")
        parts.append(name)
        parts += [int(i) for i in indexes]
    return parts


def _copy_id(kind: str, source: int, target: int) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[kind][target]["id"] = data[kind][source]["id"]

    return change


def _add_theme(*ids: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for theme_id in ids:
            data["themes"].append({"id": theme_id, "title": {"nl": "Leeg", "en": "Empty"}})

    return change


CASES = [
    # (name, change, place, problem fragment, fix fragment)
    ("unknown top-level key", _set("colour", "red"), "colour", "unknown key 'colour'", "remove it or correct its spelling"),
    (
        "unknown nested key",
        _set("questions[2].wieght", 2),
        "questions[2].wieght",
        "unknown key 'wieght'",
        "allowed here: advice, applies_to, clause, good_practice, help, id, may_not_apply, section, text, text_by_context, theme, unknown_advice, weight",
    ),
    ("unknown key in a text", _set("questions[1].text.english", "Hello"), "questions[1].text.english", "unknown key 'english'", "allowed here: en, nl"),
    (
        "missing English question text",
        _delete("questions[3].text.en"),
        "questions[3].text.en",
        "the text 'en' is missing",
        "add a en text (every text needs nl, en)",
    ),
    ("missing Dutch band title", _delete("bands[1].title.nl"), "bands[1].title.nl", "the text 'nl' is missing", "add a nl text"),
    ("missing required key", _delete("questions[5].advice"), "questions[5].advice", "the key 'advice' is missing", "add 'advice:' under questions[5]"),
    (
        "question neither grounded nor good practice",
        _delete("questions[5].section"),
        "questions[5]",
        "cites no section of the article and is not labelled good practice",
        "add 'section:' (the heading id of the article's section that makes the point) or 'good_practice: true'",
    ),
    ("missing string", _delete("strings.print"), "strings.print", "the key 'print' is missing", "add 'print:' under strings"),
    ("empty text", _set("questions[0].text.nl", ""), "questions[0].text.nl", "the text is empty", "write the text"),
    (
        "duplicate question id",
        _copy_id("questions", 1, 5),
        "questions[5].id",
        "duplicate id 'eindsituatie-gebruiker'",
        "give every entry of questions its own id",
    ),
    ("duplicate theme id", _copy_id("themes", 0, 2), "themes[2].id", "duplicate id 'resultaten'", "give every entry of themes its own id"),
    ("duplicate band id", _copy_id("bands", 0, 1), "bands[1].id", "duplicate id 'inspanning'", "give every entry of bands its own id"),
    ("duplicate scale value", _set("scale[1].value", 0), "scale[1].value", "duplicate value 0", "give every entry of scale its own value"),
    ("scale not rising from 0", _set("scale[0].value", 3), "scale", "do not rise from 0", "order the answers from weakest"),
    ("weight 0", _set("questions[4].weight", 0), "questions[4].weight", "weight 0 is not positive", "1 or more"),
    ("weight -1", _set("questions[4].weight", -1), "questions[4].weight", "weight -1 is not positive", "1 or more"),
    ("weight 1.5", _set("questions[4].weight", 1.5), "questions[4].weight", "1.5 is not of type integer", "write a value of type integer"),
    ("weight as a string", _set("questions[4].weight", "2"), "questions[4].weight", "'2' is not of type integer", "write a value of type integer"),
    (
        "invalid question id",
        _set("questions[0].id", "Diensten als resultaat"),
        "questions[0].id",
        "is not a valid id",
        "lowercase letters, digits and single hyphens",
    ),
    ("bands with a gap", _set("bands[1].min", 45), "bands[1].min", "scores 40 to 44 fall in no band (a gap)", "start this band at 40"),
    ("bands that overlap", _set("bands[1].min", 35), "bands[1].min", "scores 35 to 39 fall in two bands (an overlap)", "start this band at 40"),
    ("bands not reaching 100", _set("bands[2].max", 99), "bands", "scores 100 to 100 fall in no band", "let the last band end at max: 100"),
    ("band min above max", _set("bands[1].min", 80), "bands[1]", "min 80 is above max 69", "swap them"),
    ("band max above 100", _set("bands[2].max", 120), "bands[2].max", "120 is out of range (maximum 100)", "use a value from 0 to 100"),
    (
        "unknown theme reference",
        _set("questions[0].theme", "onbekend"),
        "questions[0].theme",
        "unknown theme 'onbekend'",
        "use one of: beloning, heronderhandeling, resultaten, sturing",
    ),
    ("theme without questions", _add_theme("leeg"), "themes[4]", "theme 'leeg' has no questions", "add questions to it or remove the theme"),
    (
        "missing placeholder",
        _set("strings.progress.en", "{answered} questions answered"),
        "strings.progress.en",
        "the placeholder {total} is missing",
        "put {total} where the value belongs",
    ),
    (
        "missing placeholder in Dutch",
        _set("strings.sent.nl", "Verstuurd."),
        "strings.sent.nl",
        "the placeholder {id} is missing",
        "put {id} where the value belongs",
    ),
    ("too few themes", lambda d: d.update(themes=d["themes"][:2]), "themes", "has 2 item(s)", "give between 3 and 5 items"),
    ("too many themes", _add_theme("extra-een", "extra-twee"), "themes", "has 6 item(s)", "give between 3 and 5 items"),
    ("no questions", _set("questions", []), "questions", "has 0 item(s)", "give between 1 and any number of items"),
    ("article not a Markdown path", _set("article", "/artikelen/x.html"), "article", "does not match", "correct the value"),
    # gates
    (
        "gate on an unknown question",
        _set("gates[0].question", "bestaat-niet"),
        "gates[0].question",
        "unknown question 'bestaat-niet'",
        "use the id of a question",
    ),
    (
        "gate on an unknown theme",
        lambda d: d["gates"][2].update(theme="onbekend"),
        "gates[2].theme",
        "unknown theme 'onbekend'",
        "use one of: beloning, heronderhandeling, resultaten, sturing",
    ),
    (
        "gate on a question and a theme",
        lambda d: d["gates"][0].update(theme="resultaten"),
        "gates[0]",
        "names more than one of them (question, theme)",
        "give exactly one of 'question:'",
    ),
    ("gate on nothing", lambda d: d["gates"][0].pop("question"), "gates[0]", "names neither a question nor a theme", "give exactly one of 'question:'"),
    (
        "gate capping at an unknown band",
        _set("gates[1].max_band", "middel"),
        "gates[1].max_band",
        "unknown band 'middel'",
        "use one of: inspanning, gemengd, resultaatgericht",
    ),
    (
        "gate capping at the top band",
        _set("gates[1].max_band", "resultaatgericht"),
        "gates[1].max_band",
        "is the top band, so the gate can never lower a result",
        "cap at a lower band: inspanning, gemengd",
    ),
    ("gate below a value above the scale", _set("gates[0].below", 3), "gates[0].below", "3 is above the top of the scale", "use a scale value from 1 to 2"),
    ("gate below 0", _set("gates[0].below", 0), "gates[0].below", "0 is out of range (minimum 1)", "use a value from 1 to 100"),
    (
        "gate that can never lower a result",
        lambda d: [
            d["bands"][1].update(max=98),
            d["bands"][2].update(min=99),
            d["gates"].append({"id": "te-zwak", "question": "exit-ondersteuning", "below": 1, "max_band": "gemengd", "text": {"nl": "x", "en": "x"}}),
        ],
        "gates[5]",
        "can never lower a result: when it trips, the score is at most 97, already within band 'gemengd' or below",
        "cap at a lower band than 'gemengd'",
    ),
    ("duplicate gate id", _copy_id("gates", 0, 1), "gates[1].id", "duplicate id 'geen-resultaatafspraken'", "give every entry of gates its own id"),
    (
        "gate without its text string",
        _delete("strings.gate_intro"),
        "strings.gate_intro",
        "the string 'gate_intro' is missing (the definition uses 'gates')",
        "add strings.gate_intro",
    ),
    # "don't know"
    ("unknown counting as no scale value", _set("unknown.counts_as", 5), "unknown.counts_as", "5 is not a value of the scale", "use one of [0, 1, 2]"),
    ("advice for unknown without the answer", lambda d: d.pop("unknown"), "questions[0].unknown_advice", "there is no 'unknown' answer", "add 'unknown:'"),
    (
        "unknown without its count string",
        _delete("strings.unknown_count"),
        "strings.unknown_count",
        "the string 'unknown_count' is missing",
        "add strings.unknown_count",
    ),
    # the context question
    (
        "question for an unknown context",
        _set("questions[3].applies_to", ["bank"]),
        "questions[3].applies_to",
        "unknown context option 'bank'",
        "use one of: commercieel, ssc",
    ),
    (
        "wording for an unknown context",
        _set("questions[5].text_by_context", {"gr": {"nl": "x", "en": "x"}}),
        "questions[5].text_by_context",
        "unknown context option 'gr'",
        "use one of: commercieel, ssc",
    ),
    ("context applies without a context", lambda d: d.pop("context"), "questions[3].applies_to", "there is no context question", "add 'context:'"),
    ("context id that is a question id", _set("context.id", "bonus-malus"), "context.id", "is also a question id", "give the context question its own id"),
    (
        "context option no question applies to",
        lambda d: [q.update(applies_to=["commercieel"]) for q in d["questions"]],
        "context.options",
        "no question applies to 'ssc'",
        "let at least one question apply to 'ssc'",
    ),
    (
        "duplicate context option",
        _set("context.options[1].id", "commercieel"),
        "context.options[1].id",
        "duplicate id 'commercieel'",
        "give every entry of context.options its own id",
    ),
    # links and ids
    # the verdict (version 3)
    (
        "gate on questions that do not exist",
        lambda d: d["gates"][3].update(questions=["bonus-malus", "bestaat-niet"]),
        "gates[3].questions",
        "unknown question 'bestaat-niet'",
        "use the ids of questions in this definition",
    ),
    (
        "contradiction on an unknown question",
        _set("conflicts[0].when[1].question", "bestaat-niet"),
        "conflicts[0].when[1].question",
        "unknown question 'bestaat-niet'",
        "use the id of a question",
    ),
    (
        "contradiction with both bounds",
        lambda d: d["conflicts"][0]["when"][1].update(below=1),
        "conflicts[0].when[1]",
        "needs exactly one of 'below:' and 'at_least:'",
        "say whether the answer is below a value or at least a value",
    ),
    (
        "contradiction above the scale",
        _set("conflicts[0].when[1].at_least", 3),
        "conflicts[0].when[1]",
        "3 is above the top of the scale, so the condition never holds",
        "use a value from 1 to 2",
    ),
    (
        "a limit on don't know without its text",
        lambda d: d["verdict"].pop("insufficient"),
        "verdict.insufficient",
        "is missing: the result needs a title and advice for 'not enough to judge'",
        "add insufficient: with title and advice",
    ),
    (
        "a limit on don't know without its string",
        _delete("strings.insufficient_count"),
        "strings.insufficient_count",
        "the string 'insufficient_count' is missing (the definition uses 'unknown_limit')",
        "add strings.insufficient_count",
    ),
    (
        "a limit of 100 percent",
        _set("verdict.unknown_limit", 100),
        "verdict.unknown_limit",
        "100 is out of range (maximum 99)",
        "use a value from 1 to 99",
    ),
    ("clause not a page with a heading", _set("questions[0].clause", "voorbeeldclausules#bonus"), "questions[0].clause", "does not match", "correct the value"),
    (
        "a note citing no section",
        lambda data: data["notes"][0].pop("section"),
        "notes[0].section",
        "the key 'section' is missing",
        "add 'section:' under notes[0]",
    ),
    (
        "two notes with one id",
        lambda data: data["notes"].append(copy.deepcopy(data["notes"][0])),
        "notes[1].id",
        "duplicate id 'voorwerk-of-deskundige'",
        "give every entry of notes its own id",
    ),
    (
        "a retired id used again",
        _set("questions[18].id", "exitafspraken"),
        "questions[18].id",
        "'exitafspraken' is a retired id",
        "give the question a new id (never reuse one)",
    ),
]


@pytest.mark.parametrize("change,place,problem,fix", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_check_reports_place_problem_and_fix(raw, change, place, problem, fix):
    problems = check(changed(raw, change), LOCALES)
    matching = [p for p in problems if p.place == place]
    assert matching, f"no problem at {place}: {problems}"
    assert any(problem in p.problem and fix in p.fix for p in matching), matching


@pytest.mark.parametrize("change,place,problem,fix", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_load_definition_message_names_file_place_problem_and_fix(raw, tmp_path, change, place, problem, fix):
    path = write(tmp_path, changed(raw, change))
    error = load_error(path)
    assert error.source == path
    assert any(p.place == place and problem in p.problem and fix in p.fix for p in error.problems), error.problems
    message = str(error)
    line = next(line for line in message.splitlines() if f"{path}: {place}: " in line and problem in line)
    assert "Fix: " in line and fix in line.split("Fix: ", 1)[1]


def test_every_problem_has_place_problem_and_fix(raw):
    """A definition broken in many ways at once: every problem explains itself."""
    broken = copy.deepcopy(raw)
    broken["questions"][1]["id"] = broken["questions"][0]["id"]
    broken["questions"][2]["theme"] = "onbekend"
    broken["bands"][1]["min"] = 45
    broken["strings"]["score_value"]["nl"] = "van 100"
    problems = check(broken, LOCALES)
    assert len(problems) >= 4
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.place and problem.problem and problem.fix
        assert str(problem) == f"{problem.place}: {problem.problem}. Fix: {problem.fix}"


def test_message_counts_the_problems(raw, tmp_path):
    broken = changed(raw, lambda d: [_delete("questions[3].text.en")(d), _delete("questions[7].advice.nl")(d)])
    error = load_error(write(tmp_path, broken))
    places = [p.place for p in error.problems]
    assert places == ["questions[3].text.en", "questions[7].advice.nl"]
    assert str(error).splitlines()[0].endswith("2 problem(s) in the assessment definition:")


def test_weight_that_is_a_yaml_float_is_rejected_or_loaded_as_a_whole_number(tmp_path):
    """``weight: 3.0`` is a float in YAML. Scores are whole-number arithmetic shared with the
    browser, so the definition must either refuse it or load it as the integer 2."""
    path = tmp_path / "contract-check.yml"
    path.write_text(REAL.read_text(encoding="utf-8").replace("    weight: 3\n", "    weight: 3.0\n", 1), encoding="utf-8")
    try:
        assessment = load_definition(path, LOCALES)
    except DefinitionError as error:
        assert any(p.place == "questions[0].weight" for p in error.problems), error.problems
    else:
        assert type(assessment.questions[0].weight) is int, repr(assessment.questions[0].weight)


def test_invalid_yaml_names_the_line(tmp_path):
    text = REAL.read_text(encoding="utf-8")
    good = '  nl: "Contractscan: hoe resultaatgericht is jullie contract?"'
    assert good in text
    line_number = text.splitlines().index(good) + 1
    path = tmp_path / "contract-check.yml"
    path.write_text(text.replace(good, "  nl: Contractscan: hoe resultaatgericht is jullie contract?"), encoding="utf-8")
    error = load_error(path)
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert problem.place.startswith(f"line {line_number}, column ")
    assert "not valid YAML" in problem.problem
    assert "correct the YAML syntax" in problem.fix
    assert f"{path}: line {line_number}, column " in str(error)


def test_missing_file_is_a_definition_error(tmp_path):
    error = load_error(tmp_path / "nothing.yml")
    assert error.problems[0].place == "(file)"
    assert "cannot be read" in error.problems[0].problem
    assert str(tmp_path / "nothing.yml") in str(error)


def test_file_id_must_match_file_name(tmp_path):
    shutil.copy(REAL, tmp_path / "other-name.yml")
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path, LOCALES)
    error = caught.value
    assert error.source == tmp_path / "other-name.yml"
    (problem,) = error.problems
    assert problem.place == "id"
    assert problem.problem == "is 'contract-check' but the file is named 'other-name.yml'"
    assert "rename the file to 'contract-check.yml' or set id: other-name" == problem.fix
    assert f"{tmp_path / 'other-name.yml'}: id: " in str(error)


def test_load_definitions_reports_a_missing_folder(tmp_path):
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path / "absent", LOCALES)
    assert caught.value.problems[0].place == "(folder)"
    assert "extra.assessment.definitions" in caught.value.problems[0].fix


def test_load_definitions_stops_at_a_broken_file(raw, tmp_path):
    shutil.copy(REAL, tmp_path / "contract-check.yml")
    write(tmp_path, changed(raw, lambda d: [d.update(id="zz-broken"), _delete("title.en")(d)]), "zz-broken.yml")
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path, LOCALES)
    assert caught.value.source.name == "zz-broken.yml"
    assert [p.place for p in caught.value.problems] == ["title.en"]


def test_an_added_language_makes_every_text_report_it_missing(raw):
    expected = {place + ".de" for place in text_places(raw)}
    # sanity: the walk found every kind of text
    assert {
        "title.de",
        "intro.de",
        "scale[0].label.de",
        "themes[3].title.de",
        "questions[13].help.de",
        "bands[2].advice.de",
        "strings.error_rate.de",
        "unknown.label.de",
        "context.text.de",
        "context.options[1].label.de",
        "questions[0].unknown_advice.de",
        "questions[5].text_by_context.ssc.de",
        "gates[0].text.de",
        "strings.gate_intro.de",
    } <= expected
    with_unknown = sum("unknown_advice" in q for q in raw["questions"])
    variants = sum(len(q.get("text_by_context", {})) for q in raw["questions"])
    assert (with_unknown, variants) == (19, 3)
    # title, intro; scale; themes; text, help, advice per question; bands; strings; unknown; context (text, help, 2 options); gates;
    # the verdict's title and advice for "not enough to judge"; the contradictions; the notes
    gates, conflicts, notes = len(raw["gates"]), len(raw["conflicts"]), len(raw["notes"])
    assert len(expected) == 2 + 3 + 4 + 19 * 3 + with_unknown + variants + 3 * 2 + len(raw["strings"]) + 1 + 4 + gates + 2 + conflicts + notes
    problems = check(raw, ["nl", "en", "de"])
    assert {p.place for p in problems} == expected
    for problem in problems:
        assert problem.problem == "the text 'de' is missing"
        assert problem.fix == "add a de text (every text needs nl, en, de)"


def test_a_language_with_every_text_is_accepted(raw):
    def add_german(node):
        if isinstance(node, dict):
            if "nl" in node and all(isinstance(v, str) for v in node.values()):
                node["de"] = node["en"]
            else:
                for value in node.values():
                    add_german(value)
        elif isinstance(node, list):
            for item in node:
                add_german(item)

    german = copy.deepcopy(raw)
    add_german(german)
    assert check(german, ["nl", "en", "de"]) == []


# Sections in the article


def test_check_sections_accepts_the_article_headings():
    assessment = load_definition(REAL, LOCALES)
    headings = set(assessment.sections) | {"zelftest", "inleiding"}
    assert check_sections(assessment, headings, "artikelen/klantgericht-optreden-bevorderen.nl.md") == []


def test_check_sections_names_the_missing_section():
    assessment = load_definition(REAL, LOCALES)
    headings = set(assessment.sections) - {"conclusie"}
    article = "artikelen/klantgericht-optreden-bevorderen.nl.md"
    problems = check_sections(assessment, headings, article)
    citing = [i for i, q in enumerate(assessment.questions) if q.section == "conclusie"]
    assert citing == [16]
    # the note about the groundwork before renegotiating (kennis-en-capaciteit until version 3) cites it too
    assert [p.place for p in problems] == ["questions[16].section", "notes[0].section"]
    assert problems[0].problem == f"'conclusie' is not a section of {article}"
    assert "use one of the article's heading ids: " in problems[0].fix
    assert "de-remedie" in problems[0].fix and "conclusie" not in problems[0].fix


def test_check_sections_with_no_headings_names_every_question():
    assessment = load_definition(REAL, LOCALES)
    problems = check_sections(assessment, [], "x.md")
    # the questions of the consultancy's own good practice cite no section: nothing to miss
    assert [p.place for p in problems] == [
        *(f"questions[{i}].section" for i, q in enumerate(assessment.questions) if q.section is not None),
        *(f"notes[{i}].section" for i in range(len(assessment.notes))),
    ]
    assert len(problems) == 13
    assert all("(none found)" in p.fix for p in problems)
