"""Which pages exist in which language, and whether each translation is current.

A page is a Markdown file per language with the language as suffix
(``privacy.nl.md``, ``privacy.en.md``); the default language's file is the source.
A translation records the version of the source it translates as ``source_hash``
in its front matter: a hash of the source's title, description and text. When the
source changes the hash no longer matches and the translation is *outdated*.
After review, ``kennisbank i18n-mark <file>`` records the current hash.

Front matter can accept a gap: ``translation: optional`` in the source accepts a
missing translation, ``translation: outdated-ok`` in a translation accepts that it
is behind.

:func:`status_of` makes that decision, once, for the build (``hooks/translations.py``
shows its notice and warning) and for ``kennisbank i18n-status`` alike.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

HASH_KEY = "source_hash"
ACCEPT_KEY = "translation"
ACCEPT_MISSING = "optional"
ACCEPT_OUTDATED = "outdated-ok"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: ~10x faster
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?\n)?---[ \t]*\n", re.S)


# Paths


def split_locale(src_uri: str, locales: Sequence[str]) -> tuple[str, str | None]:
    """``"a/b.en.md"`` -> ``("a/b.md", "en")``; a file without a known suffix -> ``(src_uri, None)``."""
    stem, dot, extension = src_uri.rpartition(".")
    base, _, suffix = stem.rpartition(".")
    if dot and base and "/" not in suffix and suffix in locales:
        return f"{base}.{extension}", suffix
    return src_uri, None


def translation_file(page_path: str, locale: str) -> str:
    """The file a translator creates: ``("a/b.md", "en")`` -> ``"a/b.en.md"``."""
    path = PurePosixPath(page_path)
    return str(path.with_name(f"{path.stem}.{locale}{path.suffix}"))


# Front matter and hashes


class FrontMatterError(ValueError):
    """Front matter that is not a YAML mapping; the message says where and how to fix it."""


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(meta, body)`` of a Markdown file; ``({}, text)`` without front matter."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.load(match["yaml"] or "", Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}" if mark else "the front matter"
        raise FrontMatterError(
            f"{where}: front matter is not valid YAML ({getattr(exc, 'problem', exc)}); quote values that contain ': ' or start with a special character"
        ) from None
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter is not a mapping of keys to values; write it as 'key: value' lines")
    return meta, text[match.end() :]


def source_hash(text: str) -> str:
    """The version of a source text that a translation translates (12 hex digits).

    Covers what a translator translates (title, description, body), not dates or
    categories, so fixing a date does not make every translation outdated."""
    meta, body = front_matter(text.replace("\r\n", "\n"))
    material = json.dumps([meta.get("title"), meta.get("description"), body.strip()], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


def set_source_hash(translation_text: str, value: str) -> str:
    """The translation's text with ``source_hash: value`` in its front matter, all else kept."""
    match = _FRONT_MATTER.match(translation_text)
    # a hash of digits only reads back as a number (``025512230440`` as octal 2905157920,
    # and the translation as outdated): quote the ones YAML would not read as written
    written = value if yaml.load(value, Loader=_YAML_LOADER) == value else f"'{value}'"
    line = f"{HASH_KEY}: {written}\n"
    if not match:
        return f"---\n{line}---\n\n{translation_text}"
    block = match["yaml"] or ""
    if re.search(rf"^{HASH_KEY}:.*$", block, flags=re.M):
        block = re.sub(rf"^{HASH_KEY}:.*\n?", line, block, count=1, flags=re.M)
    else:
        block += line
    return f"---\n{block}---\n" + translation_text[match.end() :]


# Status


#: The notice readers see above a page in each state that is not current (a key of extra.strings).
NOTICES = {"missing": "not_translated", "outdated": "outdated"}


@dataclass(frozen=True)
class Status:
    page: str
    """Source path without language suffix: ``artikelen/x.md``."""
    locale: str
    state: str
    """``current``, ``outdated`` or ``missing``."""
    accepted: bool = False
    detail: str = ""
    original: str = ""
    """The language of the source, which the notice names and links."""
    message: str = ""
    """What is wrong and how to fix it, for the build's warning; empty when current."""

    @property
    def needs_work(self) -> bool:
        return self.state != "current" and not self.accepted

    @property
    def notice(self) -> str | None:
        """The notice above the page (``not_translated``, ``outdated``), also when the gap is accepted; ``None`` when current."""
        return NOTICES.get(self.state)


def status_of(page: str, locale: str, default: str, source: str | None, translation: Mapping[str, Any] | None, folder: str = "docs") -> Status:
    """The one decision on ``page``'s translation into ``locale``, made for the build and for ``kennisbank i18n-status``.

    ``source`` is the text of the default language's file, ``None`` when there is none
    (a page that exists only in translation has nothing to be behind); ``translation``
    is the translation's front matter, ``None`` when it does not exist yet. ``folder``
    names the docs folder in the messages."""
    if locale == default or source is None:
        return Status(page, locale, "current", original=default)
    source_file, target_file = (f"{folder}/{translation_file(page, code)}" for code in (default, locale))
    if translation is None:
        return Status(
            page,
            locale,
            "missing",
            accepted=front_matter(source)[0].get(ACCEPT_KEY) == ACCEPT_MISSING,
            detail=f"create {target_file}",
            original=default,
            message=(
                f"{source_file} has no {locale} translation: the {locale} site shows the {default} page. "
                f"Fix: create {target_file}, or accept it with '{ACCEPT_KEY}: {ACCEPT_MISSING}' in the front matter of {source_file}"
            ),
        )
    current, recorded = source_hash(source), translation.get(HASH_KEY)
    if recorded is not None and str(recorded) == current:
        return Status(page, locale, "current", original=default)
    return Status(
        page,
        locale,
        "outdated",
        accepted=translation.get(ACCEPT_KEY) == ACCEPT_OUTDATED,
        detail="no source_hash recorded" if recorded is None else f"source changed since {recorded}",
        original=default,
        message=(
            f"{target_file} is outdated: its source {source_file} changed ({HASH_KEY} {recorded or 'missing'}, now {current}). "
            f"Fix: update the translation (`kennisbank i18n-status` shows what changed), then run `kennisbank i18n-mark {target_file}`; "
            f"or accept it with '{ACCEPT_KEY}: {ACCEPT_OUTDATED}' in its front matter"
        ),
    )


def page_status(docs: Path, page: str, locale: str, default: str) -> Status:
    """The state of one page's translation into ``locale``, from its files under ``docs``
    (:func:`status_of` decides). A front matter error names its file."""
    if locale == default:
        return status_of(page, locale, default, None, None, docs.name)
    source_file, target_file = translation_file(page, default), translation_file(page, locale)
    source, target = _text(docs / source_file), _text(docs / target_file)
    try:
        translation = None if target is None else front_matter(target)[0]
    except FrontMatterError as exc:
        raise FrontMatterError(f"{docs.name}/{target_file}: {exc}") from None
    try:
        return status_of(page, locale, default, source, translation, docs.name)
    except FrontMatterError as exc:
        raise FrontMatterError(f"{docs.name}/{source_file}: {exc}") from None


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def report(docs: Path, locales: Sequence[str], default: str) -> list[Status]:
    """Every page of the default language, in every other language."""
    pages = sorted(split_locale(str(path.relative_to(docs).as_posix()), locales)[0] for path in docs.rglob(f"*.{default}.md"))
    return [page_status(docs, page, locale, default) for page in pages for locale in locales if locale != default]


def source_changes(docs: Path, page: str, default: str, recorded: str) -> str | None:
    """A unified diff of the source since the version whose hash is ``recorded``, from git.

    ``None`` when git is not available or no committed version has that hash."""
    source = docs / translation_file(page, default)
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=docs, capture_output=True, text=True, check=True).stdout.strip()
        relative = source.resolve().relative_to(Path(top).resolve()).as_posix()
        commits = subprocess.run(["git", "log", "--format=%H", "--", relative], cwd=top, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
    current = source.read_text(encoding="utf-8")
    for commit in commits:
        shown = subprocess.run(["git", "show", f"{commit}:{relative}"], cwd=top, capture_output=True, text=True)
        if shown.returncode == 0 and source_hash(shown.stdout) == recorded:
            diff = difflib.unified_diff(
                shown.stdout.splitlines(), current.splitlines(), f"{relative} (translated, {commit[:8]})", f"{relative} (now)", lineterm=""
            )
            return "\n".join(diff)
    return None
