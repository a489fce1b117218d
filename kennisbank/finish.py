"""The steps after every language is built, for ``python -m kennisbank.build``.

In the serial build the hooks run these at the end of the default language's build
(``hooks/seo.py``, ``manifest.py``, ``share.py``, ``pagefind.py``, ``assets.py``, in
that order); in the parallel build each language's process leaves its part
(``kennisbank.languages.save_part``) and :func:`finish` runs them once, in the
same order and with the same functions.
"""

from __future__ import annotations

from pathlib import Path

from kennisbank import assets, search, seo, share
from kennisbank.languages import load_parts
from kennisbank.manifest import ManifestBuilder, ManifestError


class FinishError(Exception):
    """A language's part is missing, or a step after the languages failed."""


def _parts(folder: Path, kind: str, locales: list[str]) -> dict:
    found = load_parts(folder, kind)
    missing = [locale for locale in locales if locale not in found]
    if missing:
        raise FinishError(f"the build of {', '.join(missing)} left no {kind} part in {folder}. Fix: keep hooks/{kind}.py in mkdocs.yml's hooks")
    return found


def finish(site_dir: Path, folder: Path, locales: list[str], *, quiet: bool = False) -> None:
    """Write what needs every language into ``site_dir`` from the parts in ``folder``."""
    seo_parts = _parts(folder, "seo", locales)
    site = seo_parts[locales[0]]["site"]
    entries = {locale: part["entries"] for locale, part in seo_parts.items()}
    not_found = {locale: part["not_found"] for locale, part in seo_parts.items() if part["not_found"] is not None}
    for path, content in seo.site_files(site, entries, not_found).items():
        target = site_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    merged = ManifestBuilder()
    for part in _parts(folder, "manifest", locales).values():
        merged.merge(part)
    try:
        merged.write(site_dir)
    except ManifestError as exc:
        raise FinishError(f"the build manifest: {exc}") from None

    stats = list(load_parts(folder, "share").values())  # none without hooks/share.py
    if stats:
        drawn, cached = sum(s.drawn for s in stats), sum(s.cached for s in stats)
        if not quiet:
            print(f"share images: {drawn} drawn, {cached} from the cache ({sum(s.seconds for s in stats):.1f} s of the languages' builds)")
        if share.cache_dir().is_dir():
            share.prune(share.cache_dir())

    try:
        search.build_index(site_dir)
    except search.SearchIndexError as exc:
        raise FinishError(f"the search index: {exc}") from None

    own = sorted({name for part in _parts(folder, "assets", locales).values() for name in part})
    for name in own:
        path = Path(name)
        path.write_text(assets.minify(path.read_text(encoding="utf-8"), path.suffix), encoding="utf-8")
    assets.compress_site(site_dir, assets.cache_dir())
