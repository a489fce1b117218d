"""Articles: Markdown pages under ``artikelen/`` with front matter the templates need.

Checked at build time so a missing field stops the build with the file and the fix,
instead of rendering a page without a date or author.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

ARTICLE_FOLDER = "artikelen/"

#: field -> what it must hold, for the error message
REQUIRED_FIELDS: dict[str, str] = {
    "title": "the article's title",
    "description": "a summary of one or two sentences (index pages, search engines)",
    "date": "the publication date as YYYY-MM-DD",
    "author": "the author's name",
}


def is_article(source_path: str) -> bool:
    """``source_path`` is a page path under docs/ without language suffix."""
    return source_path.startswith(ARTICLE_FOLDER) and not source_path.endswith("index.md")


def front_matter_problems(meta: Mapping[str, Any]) -> list[str]:
    """What is missing or malformed in an article's front matter, each with its fix."""
    problems = []
    for field, meaning in REQUIRED_FIELDS.items():
        if meta.get(field) in (None, ""):
            problems.append(f"front matter field '{field}' is missing: add {field}: <{meaning}>")
    date = meta.get("date")
    if date not in (None, "") and not isinstance(date, dt.date):
        problems.append(f"front matter field 'date' is {date!r}, not a date: write it as YYYY-MM-DD")
    categories = meta.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        problems.append("front matter field 'categories' must be a list of names: categories: [Outsourcing]")
    return problems
