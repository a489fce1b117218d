"""The submissions as the consultant gets them: CSV for a spreadsheet, JSON as data.

CSV has one row per submission and one column per question, in the order of the
assessment as built (:func:`question_order`, from the build manifest). A text cell
that a spreadsheet would run as a formula is made plain text (:func:`neutralise`);
JSON keeps every value exactly as stored. Both carry the band's title beside its id
(:func:`band_titles`), so "not enough to judge" reads as that, not as its stored id.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from kennisbank.assessment import Assessment
from kennisbank.manifest import load_manifest
from kennisbank.server.db.store import CONTACT_KEYS, Submission, answer_ids, format_time

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""CSV cells starting with one of these are formulas to a spreadsheet (OWASP, "CSV injection")."""

CSV_COLUMNS = ("id", "created_at", "assessment", "version", "lang", "score", "band", "band_title", "consent", *CONTACT_KEYS, "discuss")
"""The columns before the answers, which follow as ``answer.<question id>``."""


def neutralise(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula, made plain text with a leading ``'``."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def question_order(site_dir: Path | str) -> list[str]:
    """The question ids of every assessment of the site built into ``site_dir``, in their order.

    Raises ``kennisbank.manifest.ManifestError`` (naming the fix) when the site has no manifest."""
    return [
        key
        for assessment in load_manifest(site_dir).assessments.values()
        # the context answer (who the contract is with) first: it decides which questions apply
        for key in ([assessment.context.id] if assessment.context else []) + [question.id for question in assessment.questions]
    ]


def band_titles(assessments: Iterable[Assessment], lang: str) -> Callable[[str], str]:
    """A stored band's title in ``lang`` as the first of ``assessments`` that has the band says it
    (``Assessment.band_title``); a band none of them has (an old definition's) as stored."""
    assessments = list(assessments)

    def title(band: str) -> str:
        return next((found for a in assessments if (found := a.band_title(band, lang)) is not None), band)

    return title


def to_csv(submissions: Iterable[Submission], order: Sequence[str] = (), title: Callable[[str], str] = str) -> str:
    """CSV (RFC 4180, CRLF line ends): the answers as columns, those in ``order`` first, then the rest
    sorted; ``title`` gives the band's title (:func:`band_titles`)."""
    submissions = list(submissions)
    questions = answer_ids(submissions, order)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*CSV_COLUMNS, *(f"answer.{q}" for q in questions)])
    for s in submissions:
        row = [s.public_id, format_time(s.created_at), s.assessment, s.version, s.lang, s.score, s.band, title(s.band), _flag(s.consent)]
        row += [getattr(s, key) or "" for key in CONTACT_KEYS]
        row += [_flag(s.discuss)]
        row += [s.answers.get(q, "") for q in questions]
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def to_json(submissions: Iterable[Submission], title: Callable[[str], str] = str) -> str:
    """A JSON array of every submission as stored (contact details only with consent), each
    with its band's title (``band_title``, from ``title``: :func:`band_titles`)."""
    rows = []
    for s in submissions:
        row = {}
        for key, value in s.as_dict().items():
            row[key] = value
            if key == "band":
                row["band_title"] = title(value)  # beside the id it names
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def _flag(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")
