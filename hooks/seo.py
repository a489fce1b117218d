"""MkDocs hook: what search engines and link previews read, on every page and for the site.

Per page it puts a ``seo`` object (``kennisbank.seo.PageMeta``) in the template
context, which ``overrides/partials/seo.html`` renders in ``<head>``: description,
canonical, absolute hreflang alternates with ``x-default``, Open Graph, Twitter card
and, on articles, JSON-LD. The 404 template gets ``seo`` (noindex) and
``not_found`` (its text and a link to every language's home).

mkdocs-static-i18n builds each language into the same folder, one after the other,
so the last language's ``404.html`` and ``sitemap.xml`` would win. This hook turns
MkDocs' sitemap off, keeps each language's rendered 404 page and sitemap entries
(module state survives between the language builds), and once every language is
built writes ``sitemap.xml``, ``<lang>/sitemap.xml``, ``robots.txt``, ``404.html``
(default language) and ``<lang>/404.html``. The rules live in ``kennisbank.seo``.
"""

from __future__ import annotations

import datetime as dt
from copy import deepcopy
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import seo
from kennisbank.articles import is_article
from kennisbank.siteconfig import from_mkdocs
from kennisbank.translations import split_locale


_state: dict = {"entries": {}, "not_found": {}, "written": False}


# Hooks


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    i18n = config.plugins["i18n"]
    locale = i18n.current_language
    if locale == i18n.default_language:  # mkdocs-static-i18n builds the default language first
        _state.update(entries={}, not_found={}, written=False)
    if not config.site_url:
        raise PluginError("mkdocs.yml: site_url is empty; canonical, hreflang and sitemap URLs need it. Fix: set SITE_URL")
    site = from_mkdocs(config)
    _state.update(site=site, locale=locale, site_url=config.site_url)
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
        context["seo"] = _page_meta(page, config)
    except seo.SeoError as exc:
        raise PluginError(f"docs/{page.file.src_uri}: {exc}") from None
    return context


def on_template_context(context, template_name, config):
    if template_name == "404.html":
        site, site_url = _state["site"], _state["site_url"]
        homes = [(lang.locale, seo.root_path(site_url, lang.prefix)) for lang in site.languages]
        context["not_found"] = seo.not_found(_state["locale"], homes, site.strings)
        context["seo"] = seo.PageMeta(description=seo.trim(config.site_description or ""), noindex=True)
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
    if _state["written"] or not set(site.locales) <= set(_state["entries"]):
        return
    files = seo.site_files(
        _state["site_url"],
        {lang.locale: lang.prefix for lang in site.languages},
        site.default_language.locale,
        _state["entries"],
        _state["not_found"],
    )
    for path, content in files.items():
        target = Path(config.site_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    _state["written"] = True


# Helper functions


def _page_meta(page, config) -> seo.PageMeta:
    site, locale, site_url = _state["site"], _state["locale"], _state["site_url"]
    default = site.default_language.locale
    written_in = getattr(page.file, "locale", None) or locale
    own = seo.absolute(site_url, page.url)

    # the page's versions: only real translations (a fallback copy is not one)
    versions: dict[str, str] = {}
    for code, file in (getattr(page.file, "alternates", None) or {}).items():
        if code in site.locales and (getattr(file, "locale", None) or code) == code:
            versions[code] = seo.absolute(site_url, file.url)
    if written_in == locale:
        versions[locale] = own
    # a page shown in another language's site (no translation yet) points at its original
    canonical = own if written_in == locale else versions.get(written_in, own)
    alternates = seo.hreflang_alternates(versions, site.locales, default) if canonical == own else ()

    meta = page.meta
    description = seo.describe(meta.get("description"), page.content or "", config.site_description or "")
    title = str(meta.get("title") or page.title or config.site_name)
    path = split_locale(page.file.src_uri, site.locales)[0]
    published = meta.get("date") if is_article(path) and isinstance(meta.get("date"), dt.date) else None
    modified = (meta.get("updated") or published) if published else None

    og = seo.OpenGraph(
        title=title,
        description=description,
        url=canonical,
        type="article" if published else "website",
        locale=seo.og_locale(site.language(written_in).region),
        locale_alternates=tuple(seo.og_locale(site.language(code).region) for code in versions if code != written_in),
        site_name=config.site_name,
        published=published.isoformat() if published else None,
        modified=modified.isoformat() if modified else None,
    )
    json_ld = None
    if published:
        others = [seo.Alternate(code, url) for code, url in versions.items() if code != written_in]
        json_ld = seo.json_script(
            seo.article_json_ld(
                url=canonical,
                title=title,
                description=str(meta.get("description") or description),
                author=str(meta.get("author", "")),
                published=published,
                modified=modified,
                language=written_in,
                site_name=config.site_name,
                home_url=seo.absolute(site_url, site.language(locale).prefix),
                sections=[site.categories.get(c, {}).get(written_in, c) for c in meta.get("categories") or []],
                translations=others if written_in == default else (),
                original=next((alt for alt in others if alt.hreflang == default), None) if written_in != default else None,
            )
        )
    # a page that is only a frame for something else (the server's result page) says
    # `robots: noindex` in its front matter: no search engine, no sitemap
    noindex = meta.get("robots") == "noindex"
    if canonical == own and not noindex:
        _state["entries"][locale].append(seo.SitemapEntry(own, alternates, modified))
    return seo.PageMeta(description=description, canonical=canonical, alternates=alternates, og=og, json_ld=json_ld, noindex=noindex)
