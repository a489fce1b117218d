"""Which pages exist in which language, and what a missing translation means.

A page is a Markdown file per language with the language as suffix
(``privacy.nl.md``, ``privacy.en.md``). The default language is the source; every
other language should have its own file. A page may accept a missing translation
with ``translation: optional`` in the source's front matter.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Iterable, Sequence


def split_locale(src_uri: str, locales: Sequence[str]) -> tuple[str, str | None]:
    """``"a/b.en.md"`` -> ``("a/b.md", "en")``; a file without a known suffix -> ``(src_uri, None)``."""
    path = PurePosixPath(src_uri)
    stem = PurePosixPath(path.stem)
    if stem.suffix[1:] in locales:
        return str(path.with_name(stem.stem + path.suffix)), stem.suffix[1:]
    return src_uri, None


def translation_file(page_path: str, locale: str) -> str:
    """The file a translator creates: ``("a/b.md", "en")`` -> ``"a/b.en.md"``."""
    path = PurePosixPath(page_path)
    return str(path.with_name(f"{path.stem}.{locale}{path.suffix}"))


def missing_translations(src_uris: Iterable[str], locales: Sequence[str], default: str) -> dict[str, list[str]]:
    """Page path -> the languages it has no file for, for pages that exist in ``default``."""
    present: dict[str, set[str]] = {}
    for src in src_uris:
        page, locale = split_locale(src, locales)
        if src.endswith(".md"):
            present.setdefault(page, set()).add(locale or default)
    return {
        page: [locale for locale in locales if locale not in have]
        for page, have in sorted(present.items())
        if default in have and any(locale not in have for locale in locales)
    }
