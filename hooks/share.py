"""MkDocs hook: a share image (``og:image``) for every page, drawn by ``kennisbank.share``.

An article gets ``share.png`` beside its ``index.html`` in every language build
(``artikelen/<slug>/share.png``, ``en/artikelen/<slug>/share.png``): its title and
byline in the language it is written in. Every other page, the 404 page included,
points at its language's site image (``share.png``, ``en/share.png``). The template
context gets ``share`` (url, width, height, alt), which ``overrides/partials/seo.html``
renders. Images come from the cache when nothing they show has changed; the counts
go into the language's part (``kennisbank.buildrun``), and ``kennisbank.finish``
says in the build log how many were drawn.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

from kennisbank import buildrun, seo, share
from kennisbank.articles import is_article_file
from kennisbank.siteconfig import from_mkdocs


@event_priority(-110)  # after mkdocs-static-i18n has set this build's language
def on_config(config):
    buildrun.of(config).begin(config.plugins["i18n"].current_language, from_mkdocs(config))


def on_page_context(context, page, config, nav):
    part = _part(config)
    site, locale = part.site, part.locale
    if is_article_file(page.file.src_uri, site.locales) and page.meta.get("title"):
        written_in = getattr(page.file, "locale", None) or locale
        author = str(page.meta.get("author") or "")
        card = share.Card(
            title=str(page.meta["title"]),
            site_name=site.language(written_in).site_name,
            locale=written_in,
            byline=site.string("byline", written_in, author=author) if author else "",
        )
        context["share"] = _image(part, card, page.url + "share.png", config)
    else:
        context["share"] = _site_image(part, config)
    return context


def on_template_context(context, template_name, config):
    if template_name == "404.html":
        context["share"] = _site_image(_part(config), config)
    return context


# Helper functions


def _part(config) -> buildrun.LanguagePart:
    """The current language's part of the build (``kennisbank.buildrun``)."""
    return buildrun.of(config).part(config.plugins["i18n"].current_language)


def _site_image(part: buildrun.LanguagePart, config) -> dict:
    """The language's site image, drawn (or copied) once per language build."""
    state = buildrun.of(config).hook_state(__name__, part.locale)
    if "site_card" not in state:
        language = part.site.language(part.locale)
        card = share.Card(title=language.site_name, site_name=language.site_name, locale=part.locale, subtitle=language.site_description)
        state["site_card"] = _image(part, card, language.prefix + "share.png", config)
    return state["site_card"]


def _image(part: buildrun.LanguagePart, card: share.Card, url: str, config) -> dict:
    target = Path(config.site_dir) / url
    try:
        share.ensure(card, target, share.cache_dir(), part.share)
    except (share.ShareError, OSError) as exc:
        raise PluginError(f"share image {target}: {exc}") from None
    return {"url": seo.absolute(part.site.site_url, url), "width": share.WIDTH, "height": share.HEIGHT, "alt": card.alt}
