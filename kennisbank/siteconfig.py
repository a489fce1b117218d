"""The site's configuration as the package sees it: languages, strings, the endpoint.

MkDocs is the only reader of ``mkdocs.yml``. The hooks hand the configuration it
parsed to :func:`from_mkdocs`; the build writes the result into its manifest
(``kennisbank.manifest``), and the server and the CLI read it from there
(:meth:`SiteConfig.from_dict`). Authors' tools that run without a build
(``kennisbank i18n-status``) load ``mkdocs.yml`` through MkDocs' own loader
(:func:`load_mkdocs`), so there is no second YAML parser that could disagree.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

DEFAULT_ENDPOINT = "/api/assessments/{id}/submissions"
DEFAULT_CONTACT_ENDPOINT = "/api/contact"


class SiteConfigError(PluginError):
    """The configuration lacks something the package needs; the message says what and where.

    A ``PluginError``, so that MkDocs reports it as a build error, not a traceback."""


class _Facts(Mapping):
    """The operator's texts in one language, read on demand (:meth:`SiteConfig.string`)."""

    def __init__(self, operator: Mapping[str, Any], locale: str):
        self.operator, self.locale = operator, locale

    def __getitem__(self, key: str) -> str:
        text = self.operator.get(key)
        if isinstance(text, Mapping) and isinstance(text.get(self.locale), str):
            return text[self.locale]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (key for key in self.operator if key in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


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
    site_url: str
    site_name: str
    languages: tuple[Language, ...]
    endpoint: str = DEFAULT_ENDPOINT
    contact_endpoint: str = DEFAULT_CONTACT_ENDPOINT
    strings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    categories: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    path: Path | None = None
    """``mkdocs.yml`` at build time; ``None`` where the configuration came from a manifest."""
    assessment_dir: Path | None = None
    """The folder of the assessment definitions at build time; ``None`` in the server."""
    operator: Mapping[str, object] = field(default_factory=dict)
    """``extra.operator`` as configured (kennisbank.operator); the manifest keeps it."""

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

    def facts(self, locale: str) -> dict[str, str]:
        """The operator's texts a string may name (``{reply_time}``), in ``locale``."""
        return {key: text[locale] for key, text in self.operator.items() if isinstance(text, Mapping) and isinstance(text.get(locale), str)}

    def string(self, key: str, locale: str, **values: Any) -> str:
        """A site UI string in ``locale``, with ``{placeholders}`` (and the operator's facts) filled in.

        The facts are looked up as a placeholder names one (a mapping over the operator's texts),
        not gathered into a dict for every string: the receiver asks for several a submission."""
        return self.strings[key][locale].format_map(ChainMap(values, _Facts(self.operator, locale)))

    # The manifest's form

    def to_dict(self) -> dict[str, Any]:
        """What the manifest keeps: everything but the build-time paths."""
        data = asdict(self)
        data.pop("path")
        data.pop("assessment_dir")
        data["languages"] = [asdict(lang) for lang in self.languages]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SiteConfig:
        return cls(
            site_url=data["site_url"],
            site_name=data["site_name"],
            languages=tuple(Language(**lang) for lang in data["languages"]),
            endpoint=data["endpoint"],
            contact_endpoint=data.get("contact_endpoint", DEFAULT_CONTACT_ENDPOINT),
            strings=data["strings"],
            categories=data["categories"],
            operator=data.get("operator", {}),
        )


def from_mkdocs(config: Any) -> SiteConfig:
    """The site configuration from the ``MkDocsConfig`` that MkDocs hands a hook.

    The languages come from mkdocs-static-i18n's own (validated) configuration; the
    site name and description from the values it keeps before a language build
    overrides them."""
    path = Path(config.config_file_path) if config.config_file_path else None
    where = path or "mkdocs.yml"
    i18n = config.plugins.get("i18n")
    if i18n is None:
        raise SiteConfigError(f"{where}: plugins: the i18n plugin is not configured; add it with its languages")
    original = getattr(i18n, "original_configs", {}) or {}
    base_name = original.get("site_name", config.site_name) or ""
    base_description = original.get("site_description", config.site_description) or ""
    extra = config.extra or {}
    regions = extra.get("locales") or {}
    languages = [
        Language(
            locale=lang.locale,
            name=lang.name,
            default=bool(lang.default),
            site_name=lang.site_name or base_name,
            site_description=lang.site_description or base_description,
            region=regions.get(lang.locale, lang.locale),
        )
        for lang in i18n.config.languages
        if lang.build and lang.locale != "null"
    ]
    if sum(lang.default for lang in languages) != 1:
        raise SiteConfigError(f"{where}: plugins.i18n.languages: exactly one language must have default: true")
    locales = [lang.locale for lang in languages]
    strings = dict(extra.get("strings") or {})
    categories = dict(extra.get("categories") or {})
    for name, texts in (("strings", strings), ("categories", categories)):
        for key, text in texts.items():
            missing = [locale for locale in locales if not isinstance(text, dict) or not text.get(locale)]
            if missing:
                raise SiteConfigError(
                    f"{where}: extra.{name}.{key}: no text for {', '.join(missing)}; "
                    f"add {', '.join(f'{locale}: ...' for locale in missing)} (every text needs every built language)"
                )
    assessment = extra.get("assessment") or {}
    site_url = config.site_url or ""
    if not site_url:
        raise SiteConfigError(f"{where}: site_url is empty; canonical, hreflang and sitemap URLs need it. Fix: set SITE_URL")
    return SiteConfig(
        site_url=site_url if site_url.endswith("/") else site_url + "/",
        site_name=base_name,
        languages=tuple(sorted(languages, key=lambda lang: not lang.default)),
        endpoint=assessment.get("endpoint", DEFAULT_ENDPOINT),
        contact_endpoint=(extra.get("contact") or {}).get("endpoint", DEFAULT_CONTACT_ENDPOINT),
        strings=strings,
        categories=categories,
        operator=dict(extra.get("operator") or {}),
        path=path,
        assessment_dir=((path.parent if path else Path.cwd()) / assessment.get("definitions", "assessments")).resolve(),
    )


def load_mkdocs(path: Path | str = "mkdocs.yml") -> SiteConfig:
    """The site configuration of ``mkdocs.yml``, parsed by MkDocs itself (for tools that run without a build)."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError

    path = Path(path)
    if not path.is_file():
        raise SiteConfigError(f"{path}: no such file. Fix: run from the project folder, or name the site's mkdocs.yml")
    try:
        config = load_config(str(path))
    except ConfigurationError as exc:
        raise SiteConfigError(f"{path}: {exc}") from None
    return from_mkdocs(config)
