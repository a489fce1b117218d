"""MkDocs hook: what search engines and link previews read, on every page and for the site.

Per page it puts a ``seo`` object (``kennisbank.seo.PageMeta``) in the template
context, which ``overrides/partials/seo.html`` renders in ``<head>``: description,
canonical, absolute hreflang alternates with ``x-default``, Open Graph, Twitter card
and JSON-LD (an ``Article`` on articles, a ``WebPage`` on every other page, with
the publisher from ``extra.publisher``). The 404 template gets ``seo`` (noindex) and
``not_found`` (its text and a link to every language's home).

mkdocs-static-i18n builds each language into the same folder, one after the other,
so the last language's ``404.html`` and ``sitemap.xml`` would win. This hook turns
MkDocs' sitemap off, keeps each language's rendered 404 page and sitemap entries
(module state survives between the language builds), and once every language is
built writes ``sitemap.xml``, ``<lang>/sitemap.xml``, ``robots.txt``, ``404.html``
(default language) and ``<lang>/404.html``. The rules live in ``kennisbank.seo``.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import languages, seo
from kennisbank.publisher import Publisher, PublisherError
from kennisbank.siteconfig import from_mkdocs

_state: dict = {"entries": {}, "not_found": {}, "written": False}


# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    i18n = config.plugins["i18n"]
    locale = i18n.current_language
    if locale == i18n.default_language:  # mkdocs-static-i18n builds the default language first
        _state.update(entries={}, not_found={}, written=False)
    try:
        publisher = Publisher.from_mapping(config.extra.get("publisher")).name
    except PublisherError as exc:
        raise PluginError(str(exc)) from None
    _state.update(site=from_mkdocs(config), locale=locale, publisher=publisher)  # from_mkdocs refuses an empty site_url
    _state["entries"][locale] = []
    # written by on_post_build once every language is built, with every language's pages
    config.theme.static_templates.discard("sitemap.xml")


def on_env(env, config, files):
    # the favicon inside every page: one request fewer per page view
    favicon = files.get_file_from_path(config.theme.get("favicon") or "")
    if favicon is not None and favicon.src_uri.endswith(".svg"):
        env.globals["favicon_data_uri"] = seo.svg_data_uri(favicon.content_string)
    return env


def on_page_context(context, page, config, nav):
    try:
        context["seo"], entry = seo.page_meta(_facts(page), _state["site"], _state["publisher"])
    except seo.SeoError as exc:
        raise PluginError(f"docs/{page.file.src_uri}: {exc}") from None
    if entry is not None:
        _state["entries"][_state["locale"]].append(entry)
    return context


def on_template_context(context, template_name, config):
    if template_name == "404.html":
        context["not_found"], context["seo"] = seo.not_found_page(_state["site"], _state["locale"])
        # the language switcher leads to each language's home; mkdocs-static-i18n would
        # leave the previous language build's last page there
        if "alternate" in config.extra:
            config.extra.alternate = deepcopy(config.extra["alternate"])
    return context


def on_post_template(output, template_name, config):
    if template_name == "404.html":
        _state["not_found"][_state["locale"]] = output
    return output


@event_priority(-110)  # after mkdocs-static-i18n has run the other languages' builds
def on_post_build(config):
    site = _state["site"]
    if languages.only_language():  # one language per process: python -m kennisbank.build writes them
        locale = _state["locale"]
        languages.save_part("seo", locale, {"site": site, "entries": _state["entries"][locale], "not_found": _state["not_found"].get(locale)})
        return
    if _state["written"] or not set(site.locales) <= set(_state["entries"]):
        return
    for path, content in seo.site_files(site, _state["entries"], _state["not_found"]).items():
        target = Path(config.site_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    _state["written"] = True


# Helper functions


def _facts(page) -> seo.PageFacts:
    """What MkDocs and mkdocs-static-i18n know of ``page``, for ``kennisbank.seo`` to decide on.
    mkdocs-static-i18n gives a page's file its language (``locale``) and the file of
    each language's version (``alternates``); a generated file has neither."""
    locale = _state["locale"]
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
