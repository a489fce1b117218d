"""Read what the package needs from ``mkdocs.yml`` without importing MkDocs.

The site's configuration lives in one file. The build reads it through MkDocs; the
server and the command line read the same file here: the languages from the i18n
plugin, the assessment settings and site strings from ``extra``, ``site_url``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml_env_tag


class SiteConfigError(Exception):
    """``mkdocs.yml`` lacks something the package needs; the message says what and where."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A safe loader that resolves ``!ENV`` like MkDocs and ignores other custom tags."""


_Loader.add_constructor("!ENV", yaml_env_tag.construct_env_tag)
_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


@dataclass(frozen=True)
class Language:
    locale: str
    name: str
    default: bool
    site_name: str
    site_description: str
    region: str = ""
    """The regional locale for dates and og:locale (``en_GB``), from ``extra.locales``."""

    @property
    def prefix(self) -> str:
        """The URL path prefix of this language: ``""`` for the default, ``"en/"`` else."""
        return "" if self.default else f"{self.locale}/"


@dataclass(frozen=True)
class SiteConfig:
    path: Path
    site_url: str
    site_name: str
    languages: tuple[Language, ...]
    assessment_dir: Path
    endpoint: str
    strings: dict[str, dict[str, str]] = field(default_factory=dict)
    categories: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(lang.locale for lang in self.languages)

    @property
    def default_language(self) -> Language:
        return next(lang for lang in self.languages if lang.default)

    def language(self, locale: str) -> Language:
        for lang in self.languages:
            if lang.locale == locale:
                return lang
        raise KeyError(locale)

    def string(self, key: str, locale: str, **values: Any) -> str:
        """A site UI string in ``locale``, with ``{placeholders}`` filled in."""
        return self.strings[key][locale].format(**values)


def find_config(start: Path | None = None) -> Path:
    """``$MKDOCS_CONFIG`` if set, else ``mkdocs.yml`` in ``start`` or a parent folder."""
    if env := os.environ.get("MKDOCS_CONFIG"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "mkdocs.yml"
        if candidate.is_file():
            return candidate
    raise SiteConfigError(
        f"no mkdocs.yml in {here} or any parent folder: run from the project folder "
        "or set MKDOCS_CONFIG to the file's path"
    )


_cache: dict[tuple, SiteConfig] = {}


def load_site_config(path: Path | str | None = None) -> SiteConfig:
    """The site configuration; read once per file version and environment (``!ENV``)."""
    path = Path(path).resolve() if path else find_config()
    try:
        key = (path, path.stat().st_mtime_ns, tuple(sorted(os.environ.items())))
    except OSError as exc:
        raise SiteConfigError(f"{path}: cannot read the site configuration: {exc}") from exc
    if key not in _cache:
        _cache.clear()
        _cache[key] = _read(path)
    return _cache[key]


def _read(path: Path) -> SiteConfig:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SiteConfigError(f"{path}: cannot read the site configuration: {exc}") from exc
    return _site_config(path, raw)


def _site_config(path: Path, raw: dict[str, Any]) -> SiteConfig:
    i18n = _i18n_plugin(raw)
    if i18n is None:
        raise SiteConfigError(f"{path}: plugins: the i18n plugin is not configured; add it with its languages")
    languages = []
    for index, lang in enumerate(i18n.get("languages") or []):
        if not lang.get("build", True) or lang.get("locale") == "null":
            continue
        try:
            languages.append(
                Language(
                    locale=lang["locale"],
                    name=lang["name"],
                    default=bool(lang.get("default", False)),
                    site_name=lang.get("site_name") or raw.get("site_name", ""),
                    site_description=lang.get("site_description") or raw.get("site_description", ""),
                    region=(raw.get("extra") or {}).get("locales", {}).get(lang.get("locale"), lang.get("locale")),
                )
            )
        except KeyError as exc:
            raise SiteConfigError(
                f"{path}: plugins.i18n.languages[{index}]: missing '{exc.args[0]}'; every language needs locale and name"
            ) from None
    if sum(lang.default for lang in languages) != 1:
        raise SiteConfigError(f"{path}: plugins.i18n.languages: exactly one language must have default: true")
    extra = raw.get("extra") or {}
    assessment = extra.get("assessment") or {}
    site_url = raw.get("site_url") or "http://127.0.0.1:8000/"
    locales = [lang.locale for lang in languages]
    strings = extra.get("strings") or {}
    categories = extra.get("categories") or {}
    for where, texts in (("strings", strings), ("categories", categories)):
        for key, text in texts.items():
            missing = [locale for locale in locales if not isinstance(text, dict) or not text.get(locale)]
            if missing:
                raise SiteConfigError(
                    f"{path}: extra.{where}.{key}: no text for {', '.join(missing)}; "
                    f"add {', '.join(f'{locale}: ...' for locale in missing)} (every text needs every built language)"
                )
    return SiteConfig(
        path=path,
        site_url=site_url if site_url.endswith("/") else site_url + "/",
        site_name=raw.get("site_name", ""),
        languages=tuple(sorted(languages, key=lambda lang: not lang.default)),
        assessment_dir=(path.parent / assessment.get("definitions", "assessments")).resolve(),
        endpoint=assessment.get("endpoint", "/api/assessments/{id}/submissions"),
        strings=strings,
        categories=categories,
    )


def _i18n_plugin(raw: dict[str, Any]) -> dict[str, Any] | None:
    for plugin in raw.get("plugins") or []:
        if isinstance(plugin, dict) and "i18n" in plugin:
            return plugin["i18n"] or {}
    return None
