"""MkDocs hook: what search engines and link previews read, on every page and for the site.

Per page it puts a ``seo`` object (``kennisbank.seo.PageMeta``) in the template
context, which ``overrides/partials/seo.html`` renders in ``<head>``: description,
canonical, absolute hreflang alternates with ``x-default``, Open Graph, Twitter card
and JSON-LD (an ``Article`` on articles, a ``WebPage`` on every other page, with
the publisher from ``extra.publisher``). The 404 template gets ``seo`` (noindex) and
``not_found`` (its text and a link to every language's home).

mkdocs-static-i18n builds each language into the same folder, one after the other,
so the last language's ``404.html`` and ``sitemap.xml`` would win. This hook turns
MkDocs' sitemap off and keeps each language's rendered 404 page and sitemap entries
in the language's part (``kennisbank.buildrun``); once every language is built,
``kennisbank.finish`` writes ``sitemap.xml``, ``<lang>/sitemap.xml``, ``robots.txt``,
``404.html`` (default language) and ``<lang>/404.html``. The rules live in
``kennisbank.seo``.
"""

from __future__ import annotations

from copy import deepcopy

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import buildrun, seo
from kennisbank.publisher import Publisher, PublisherError
from kennisbank.siteconfig import from_mkdocs

# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    try:
        publisher = Publisher.from_mapping(config.extra.get("publisher")).name
    except PublisherError as exc:
        raise PluginError(str(exc)) from None
    site = from_mkdocs(config)  # refuses an empty site_url
    buildrun.of(config).begin(config.plugins["i18n"].current_language, site)
    _state(config).update(publisher=publisher)
    # written by kennisbank.finish once every language is built, with every language's pages
    config.theme.static_templates.discard("sitemap.xml")


def on_env(env, config, files):
    # the favicon inside every page: one request fewer per page view
    favicon = files.get_file_from_path(config.theme.get("favicon") or "")
    if favicon is not None and favicon.src_uri.endswith(".svg"):
        env.globals["favicon_data_uri"] = seo.svg_data_uri(favicon.content_string)
    return env


def on_page_context(context, page, config, nav):
    part = _part(config)
    try:
        context["seo"], entry = seo.page_meta(_facts(page, part.locale), part.site, _state(config)["publisher"])
    except seo.SeoError as exc:
        raise PluginError(f"docs/{page.file.src_uri}: {exc}") from None
    if entry is not None:
        part.sitemap.append(entry)
    return context


def on_template_context(context, template_name, config):
    if template_name == "404.html":
        part = _part(config)
        context["not_found"], context["seo"] = seo.not_found_page(part.site, part.locale)
        # the language switcher leads to each language's home; mkdocs-static-i18n would
        # leave the previous language build's last page there
        if "alternate" in config.extra:
            config.extra.alternate = deepcopy(config.extra["alternate"])
    return context


def on_post_template(output, template_name, config):
    if template_name == "404.html":
        _part(config).not_found = output
    return output


# Helper functions


def _part(config) -> buildrun.LanguagePart:
    """The current language's part of the build (``kennisbank.buildrun``)."""
    return buildrun.of(config).part(config.plugins["i18n"].current_language)


def _state(config) -> dict:
    """This hook's state in the build of the current language."""
    return buildrun.of(config).hook_state(__name__, config.plugins["i18n"].current_language)


def _facts(page, locale: str) -> seo.PageFacts:
    """What MkDocs and mkdocs-static-i18n know of ``page``, for ``kennisbank.seo`` to decide on.
    mkdocs-static-i18n gives a page's file its language (``locale``) and the file of
    each language's version (``alternates``); a generated file has neither."""
    return seo.PageFacts(
        src_uri=page.file.src_uri,
        url=page.url,
        locale=locale,
        written_in=getattr(page.file, "locale", None) or locale,
        versions={code: seo.Version(file.url, getattr(file, "locale", None) or code) for code, file in (getattr(page.file, "alternates", None) or {}).items()},
        meta=page.meta,
        content=page.content or "",
        title=page.title,
    )
