"""MkDocs hook: a share image (``og:image``) for every page, drawn by ``kennisbank.share``.

An article gets ``share.png`` beside its ``index.html`` in every language build
(``artikelen/<slug>/share.png``, ``en/artikelen/<slug>/share.png``): its title and
byline in the language it is written in. Every other page, the 404 page included,
points at its language's site image (``share.png``, ``en/share.png``). The template
context gets ``share`` (url, width, height, alt), which ``overrides/partials/seo.html``
renders. Images come from the cache when nothing they show has changed; the build
log says how many were drawn.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import languages, seo, share
from kennisbank.articles import is_article_file
from kennisbank.siteconfig import from_mkdocs

log = logging.getLogger("mkdocs.hooks.share")
_state: dict = {"stats": share.Stats()}


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    i18n = config.plugins["i18n"]
    if not i18n.building:  # the default language's (outer) build starts the count
        _state["stats"] = share.Stats()
    _state.update(site=from_mkdocs(config), locale=i18n.current_language, site_card=None)


def on_page_context(context, page, config, nav):
    site, locale = _state["site"], _state["locale"]
    if is_article_file(page.file.src_uri, site.locales) and page.meta.get("title"):
        written_in = getattr(page.file, "locale", None) or locale
        author = str(page.meta.get("author") or "")
        card = share.Card(
            title=str(page.meta["title"]),
            site_name=site.language(written_in).site_name,
            locale=written_in,
            byline=site.string("byline", written_in, author=author) if author else "",
        )
        context["share"] = _image(card, page.url + "share.png", config)
    else:
        context["share"] = _site_image(config)
    return context


def on_template_context(context, template_name, config):
    if template_name == "404.html":
        context["share"] = _site_image(config)
    return context


@event_priority(-100)
def on_post_build(config):
    if config.plugins["i18n"].building:
        # a nested language build; the outer build reports for every language, or
        # python -m kennisbank.build for every language's process
        languages.save_part("share", _state["locale"], _state["stats"])
        return
    stats = _state["stats"]
    log.info(f"share images: {stats.drawn} drawn, {stats.cached} from the cache ({stats.seconds:.1f} s)")
    cache = share.cache_dir()
    if cache.is_dir():
        share.prune(cache)


# Helper functions


def _site_image(config) -> dict:
    """The language's site image, drawn (or copied) once per language build."""
    if _state["site_card"] is None:
        site, locale = _state["site"], _state["locale"]
        language = site.language(locale)
        card = share.Card(title=language.site_name, site_name=language.site_name, locale=locale, subtitle=language.site_description)
        _state["site_card"] = _image(card, language.prefix + "share.png", config)
    return _state["site_card"]


def _image(card: share.Card, url: str, config) -> dict:
    target = Path(config.site_dir) / url
    try:
        share.ensure(card, target, share.cache_dir(), _state["stats"])
    except (share.ShareError, OSError) as exc:
        raise PluginError(f"share image {target}: {exc}") from None
    return {"url": seo.absolute(_state["site"].site_url, url), "width": share.WIDTH, "height": share.HEIGHT, "alt": card.alt}
