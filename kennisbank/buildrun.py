"""What one build collects, per language, for the steps after every language.

mkdocs-static-i18n builds every language with the same MkDocs configuration object,
one language after the other (the default language's build runs the others). So a
hook keeps what it collects on that object, in the :class:`BuildRun` that
:func:`of` finds there, not in its module: a new build (a new ``mkdocs build``, a
preview's rebuild) starts with nothing of the one before, a language starts with
nothing of the language before, and no hook reaches into another hook's module.

Two kinds of things are kept, each by language:

- :class:`LanguagePart`: what :func:`kennisbank.finish.finish` needs of a language
  (its sitemap entries and 404 page, its share of the manifest, its share-image
  counts, the site's own assets it copied). The serial build hands the parts to it
  from the configuration; the parallel build (``python -m kennisbank.build``) from
  the files each language's process leaves (``kennisbank.languages.save_part``).
- :meth:`BuildRun.hook_state`: a hook's own working state for the language (its
  templates, its index of the pages), seen by no other hook.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from kennisbank.manifest import ManifestBuilder
from kennisbank.seo import SitemapEntry
from kennisbank.share import Stats
from kennisbank.siteconfig import SiteConfig

#: the key of the :class:`BuildRun` in the build's MkDocs configuration (a mapping)
KEY = "kennisbank_build_run"


@dataclass
class LanguagePart:
    """What one language's build leaves for the steps after every language."""

    site: SiteConfig
    locale: str
    sitemap: list[SitemapEntry] = field(default_factory=list)
    not_found: str | None = None
    """The language's rendered 404 page: one ``404.html`` per language, written at the end
    (each language's build would overwrite the one before)."""
    manifest: ManifestBuilder = field(init=False)
    share: Stats = field(default_factory=Stats)
    own_assets: set[str] = field(default_factory=set)
    """The built copies of the site's own scripts and stylesheets, minified at the end."""

    def __post_init__(self) -> None:
        self.manifest = ManifestBuilder(self.site)


class BuildRun:
    """One build's parts and hook states, by language."""

    def __init__(self) -> None:
        self.parts: dict[str, LanguagePart] = {}
        self._hook_states: dict[tuple[str, str], dict[str, Any]] = {}

    def begin(self, locale: str, site: SiteConfig) -> LanguagePart:
        """The part of ``locale``, begun by the first hook whose ``on_config`` asks for it in
        that language's build (every hook that adds to it asks: their order does not matter)."""
        if locale not in self.parts:
            self.parts[locale] = LanguagePart(site, locale)
        return self.parts[locale]

    def part(self, locale: str) -> LanguagePart:
        """The part :meth:`begin` began for ``locale``."""
        return self.parts[locale]

    def hook_state(self, hook: str, locale: str) -> dict[str, Any]:
        """The working state of ``hook`` (its name) in the build of ``locale``; empty at first."""
        return self._hook_states.setdefault((hook, locale), {})


def of(config: MutableMapping[str, Any]) -> BuildRun:
    """The run kept in ``config`` (the MkDocs configuration a hook is handed), made on first use."""
    run = config.get(KEY)
    if run is None:
        run = config[KEY] = BuildRun()
    return run
