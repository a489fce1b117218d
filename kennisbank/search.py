"""Site search with Pagefind: an index per language, built once every language is built.

Pagefind (the ``pagefind`` package's ``pagefind[bin]`` extra ships its indexer
binary, which :func:`build_index` runs) reads the built HTML, splits it by ``<html lang>`` into
one index per language and stems each with its language's Snowball stemmer (Dutch,
English). In the browser, ``pagefind.js`` loads only the index of the page's own
language, so a reader finds pages in that language only; it fetches the index in
small chunks and a result's text only when it is shown.

What is indexed is the article content only: :func:`mark_body` puts
``data-pagefind-body`` on the ``<article>`` of every page that may be found, and
Pagefind then leaves every page without it out (404 pages, the form's result page,
pages with ``search: exclude`` in their front matter) and everything outside it
(header, navigation, footer). Inside it, :data:`EXCLUDE` leaves out what is no text
to find: forms (the self-assessment, the contact form), article lists, heading
anchors.

The bundle's interface files (Pagefind's own UI, the playground) are not used: the
site renders results in Material's markup with its own script
(``docs/assets/javascripts/search.js``), so they are removed (:data:`UNUSED`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: where the bundle is written, under the site's root: /pagefind/pagefind.js
BUNDLE = "pagefind"

#: elements inside the article content that are not searched
EXCLUDE = (
    "form",  # the self-assessment and the contact form: labels and options, not text to find
    ".kb-assessment",
    ".kb-articles",  # article lists (index, categories, home): each article is found on its own page
    ".headerlink",  # the "#" permalink after every heading
    ".kb-notice",  # "not yet translated" and "outdated" notices, the same on many pages
    "[data-pagefind-ignore]",
)

#: files of Pagefind's bundle the site does not load (its own UI, the playground)
UNUSED = re.compile(r"^pagefind-(?:ui|modular-ui|component-ui|highlight)\b|^playground$")

#: Pagefind's own binary files, compressed by Pagefind already (gzip inside): never compressed again
PRECOMPRESSED = frozenset({".pagefind", ".pf_meta", ".pf_index", ".pf_fragment", ".pf_filter"})

_ARTICLE = re.compile(r'<article class="md-content__inner md-typeset"')


class SearchIndexError(Exception):
    """Pagefind could not index the site."""


def mark_body(html: str) -> str:
    """``html`` with ``data-pagefind-body`` on its article content (Material's
    ``<article class="md-content__inner md-typeset">``), so Pagefind indexes the page."""
    return _ARTICLE.sub(lambda m: m.group(0) + " data-pagefind-body", html, count=1)


@dataclass(frozen=True)
class Indexed:
    """What :func:`build_index` wrote: pages per language code."""

    pages: dict[str, int]
    bundle: Path


def _run_pagefind(site_dir: Path, bundle: Path) -> None:
    """Pagefind's binary (from ``pagefind[bin]``) over the site, configured by a
    ``pagefind.json`` in a folder of its own as its working directory.

    Not the package's Python API (``pagefind.index``): it talks to the same binary over
    its stdout with stderr merged in, so any warning the binary prints (it does, on
    larger sites) breaks the exchange with a bare JSON error."""
    from pagefind_bin import get_executable

    config = {"site": str(site_dir), "output_path": str(bundle), "exclude_selectors": list(EXCLUDE), "quiet": True}
    with tempfile.TemporaryDirectory(prefix="kb-pagefind-") as folder:
        Path(folder, "pagefind.json").write_text(json.dumps(config), encoding="utf-8")
        done = subprocess.run([str(get_executable())], cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SearchIndexError(f"Pagefind stopped with exit code {done.returncode}: {(done.stdout + done.stderr).strip()}")


def build_index(site_dir: Path | str) -> Indexed:
    """Index the built site in ``site_dir`` into ``site_dir/pagefind/``, replacing what
    an earlier build left there, and remove the bundle's unused files."""
    site_dir = Path(site_dir).resolve()
    bundle = site_dir / BUNDLE
    shutil.rmtree(bundle, ignore_errors=True)
    try:
        _run_pagefind(site_dir, bundle)
        entry_path = bundle / "pagefind-entry.json"
        entry = json.loads(entry_path.read_text(encoding="utf-8"))
        languages = entry["languages"]
        # Pagefind writes the languages in a hash map's order, which changes from run to run:
        # sorted, the same site gives the same bytes (and the same compressed copies and ETags)
        entry["languages"] = dict(sorted(languages.items()))
        entry_path.write_text(json.dumps(entry, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    except (OSError, ValueError, KeyError) as exc:
        raise SearchIndexError(f"Pagefind wrote no readable {bundle}/pagefind-entry.json: {exc}") from exc
    pages = {code: data["page_count"] for code, data in languages.items()}
    for path in bundle.iterdir():
        if UNUSED.search(path.name):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not pages:
        raise SearchIndexError(f"Pagefind found no page with data-pagefind-body in {site_dir}")
    return Indexed(pages, bundle)
