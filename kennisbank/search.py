"""A search index per language, so readers find pages in their own language only,
stemmed by their language's rules.

Material's search plugin writes one index for the whole site; mkdocs-static-i18n
fills it with every language under one stemmer. The build splits the entries by
the language root their location lies under and writes each language its own
index (``/search/search_index.json``, ``/en/search/search_index.json``), with
locations relative to that root.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def split_by_language(entries: Iterable[Mapping[str, Any]], prefixes: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Entries per language prefix (``""``, ``"en/"``), located relative to it."""
    specific = sorted((p for p in prefixes if p), key=len, reverse=True)
    split: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        location = str(entry["location"])
        prefix = next((p for p in specific if location.startswith(p)), "")
        split.setdefault(prefix, []).append({**entry, "location": location[len(prefix) :]})
    return split


def index_json(docs: Sequence[Mapping[str, Any]], *, lang: str, separator: str, pipeline: Sequence[str], fields: Mapping[str, Any]) -> str:
    """The JSON Material's search worker reads."""
    config = {"lang": [lang], "separator": separator, "pipeline": list(pipeline), "fields": fields}
    return json.dumps({"config": config, "docs": list(docs)}, separators=(",", ":"), default=str)
