"""One language per MkDocs process: the languages built side by side, and a quick preview.

mkdocs-static-i18n builds the languages one after the other in one process: the
default language's build runs the others from its ``on_post_build``. Rendering is
pure Python, so on a machine with two cores half of it waits. ``python -m
kennisbank.build`` (``make build``) runs one ``mkdocs build`` per language at once,
into the same ``site/``, and then the steps that need every language once
(``kennisbank.finish.finish``: sitemap and 404 pages, the build manifest, the site's own assets
minified, Pagefind, the compressed copies).

A build is one language's when ``KENNISBANK_LANGUAGE`` names it (``hooks/language.py``
reads it before mkdocs-static-i18n's ``on_config``). With ``KENNISBANK_BUILD_PARTS``
(a folder) ``hooks/finish.py`` leaves there what ``kennisbank.finish.finish`` needs of its
language, instead of handing it on to the default language's build. Without it
(``make dev``), one language is built and nothing waits for the others: no sitemap,
no manifest and no Pagefind index (see README, "Writer's preview").
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

from jinja2.bccache import Bucket, BytecodeCache

#: the language a build is limited to (a locale of mkdocs.yml's i18n plugin)
LANGUAGE = "KENNISBANK_LANGUAGE"
#: the folder where a one-language build leaves what the after-all steps need
PARTS = "KENNISBANK_BUILD_PARTS"


class LanguageError(Exception):
    """``KENNISBANK_LANGUAGE`` names no language of the site."""


def only_language() -> str | None:
    """The language this process builds alone, or ``None`` for every language."""
    return os.environ.get(LANGUAGE) or None


def parts_dir() -> Path | None:
    folder = os.environ.get(PARTS)
    return Path(folder) if folder and only_language() else None


def save_part(locale: str, part: Any) -> None:
    """Leave ``part`` (what the build of ``locale`` collected, a
    ``kennisbank.buildrun.LanguagePart``) for ``kennisbank.finish.finish``; nothing outside a parallel build."""
    folder = parts_dir()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    # pickle: the same code on both sides (this process and its parent), and the data
    # are the package's own objects (sitemap entries, shells, definitions)
    (folder / f"{locale}.pickle").write_bytes(pickle.dumps(part))


def load_parts(folder: Path) -> dict[str, Any]:
    """What every language's build left, by locale."""
    return {path.name.removesuffix(".pickle"): pickle.loads(path.read_bytes()) for path in sorted(folder.glob("*.pickle"))}


# The writer's preview (make dev: mkdocs serve --dirty, one language)


def dirty() -> bool:
    """The build rebuilds only what changed (``mkdocs serve --dirty``). MkDocs tells the
    hooks in ``on_startup``, once per ``mkdocs serve``, but loads them anew for every
    rebuild; mkdocs-static-i18n reads the command line for the same reason."""
    return "--dirty" in sys.argv or "--dirtyreload" in sys.argv


def serving() -> bool:
    """The build is ``mkdocs serve``'s, whose live-reload server sends no compressed copies.
    MkDocs tells only ``on_startup``, which is handed no configuration to keep it in;
    read from the command line like :func:`dirty`."""
    return len(sys.argv) > 1 and sys.argv[1] == "serve"


#: what a preview's rebuild compares with the one before it (this module, unlike a
#: hook's, stays loaded from one rebuild to the next)
previous: dict[str, Any] = {}


class TemplateCache(BytecodeCache):
    """Jinja's compiled templates kept in memory from one rebuild to the next: MkDocs
    makes a new template environment for every rebuild, and compiling Material's
    templates again took about a sixth of a preview's rebuild. Jinja checks each
    entry against its template's source (``Bucket.checksum``)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


templates = TemplateCache()
