"""The steps after every language is built: one function for both builds.

``mkdocs build`` runs :func:`finish` at the end of the default language's build, once
mkdocs-static-i18n has built the other languages from it (``hooks/finish.py``);
``python -m kennisbank.build`` runs it once every language's process has ended,
from the part each left behind (``kennisbank.languages.save_part``). Either way it
gets each built language's :class:`~kennisbank.buildrun.LanguagePart` and writes,
in this order: ``sitemap.xml``, ``robots.txt`` and the 404 pages
(``kennisbank.seo``), the build manifest, the share images' report (and the cache
pruned), the Pagefind index, the site's own scripts and stylesheets minified, and
the compressed copies. It knows nothing of MkDocs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from kennisbank import assets, search, seo, share
from kennisbank.buildrun import LanguagePart
from kennisbank.manifest import Manifest, ManifestBuilder, ManifestError, write_manifest
from kennisbank.siteconfig import SiteConfig


class FinishError(Exception):
    """A built language left no part, or a step after the languages failed; the message names the fix."""


def manifest_of(parts: Mapping[str, LanguagePart]) -> Manifest:
    """The build manifest of the languages built, from their parts (:func:`finish` writes it)."""
    site = _site_of(parts)
    try:
        return ManifestBuilder.merged(site, (parts[locale].manifest for locale in site.locales))
    except ManifestError as exc:
        raise FinishError(f"the build manifest: {exc}") from None


def finish(site_dir: Path | str, parts: Mapping[str, LanguagePart], *, compress: bool = True, report: Callable[[str], None] = print) -> None:
    """Write what needs every language into ``site_dir`` from ``parts`` (by locale, one
    for every language the site builds). ``compress``: write the compressed copies (a
    live-reload preview, which never sends them, skips the wait); ``report`` gets the
    lines worth telling the person who builds."""
    site_dir = Path(site_dir)
    site = _site_of(parts)
    ordered = [parts[locale] for locale in site.locales]  # the default language first

    entries = {part.locale: part.sitemap for part in ordered}
    not_found = {part.locale: part.not_found for part in ordered if part.not_found is not None}
    for path, content in seo.site_files(site, entries, not_found).items():
        _write(site_dir / path, content)

    write_manifest(site_dir, manifest_of(parts))

    drawn, cached = sum(part.share.drawn for part in ordered), sum(part.share.cached for part in ordered)
    report(f"share images: {drawn} drawn, {cached} from the cache ({sum(part.share.seconds for part in ordered):.1f} s of the languages' builds)")
    if share.cache_dir().is_dir():
        share.prune(share.cache_dir())

    try:
        search.build_index(site_dir)
    except search.SearchIndexError as exc:
        raise FinishError(f"the search index: {exc}") from None

    for name in sorted(set().union(*(part.own_assets for part in ordered))):
        path = Path(name)
        path.write_text(assets.minify(path.read_text(encoding="utf-8"), path.suffix), encoding="utf-8")
    if compress:
        assets.compress_site(site_dir, assets.cache_dir())


def _site_of(parts: Mapping[str, LanguagePart]) -> SiteConfig:
    """The site's configuration, once every language it builds has left its part."""
    if not parts:
        raise FinishError("no language's build left a part. Fix: keep hooks/finish.py in mkdocs.yml's hooks")
    site = next(iter(parts.values())).site
    missing = [locale for locale in site.locales if locale not in parts]
    if missing:
        raise FinishError(
            f"the build of {', '.join(missing)} left no part for the steps after every language. "
            "Fix: keep hooks/finish.py in mkdocs.yml's hooks, and build every language of plugins.i18n.languages"
        )
    return site


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
