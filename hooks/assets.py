"""MkDocs hook: the site's own scripts and stylesheets that each language's build copies,
kept in the language's part (``kennisbank.buildrun``) for ``kennisbank.finish`` to
minify in the built site, before it compresses every text file beside itself (see
``kennisbank.assets``)."""

from __future__ import annotations

from kennisbank import buildrun
from kennisbank.assets import is_own_asset
from kennisbank.siteconfig import from_mkdocs


def on_files(files, config):
    # at the default priority, before mkdocs-static-i18n has chosen this language's
    # files: every copied asset is in ``files``
    part = buildrun.of(config).begin(config.plugins["i18n"].current_language, from_mkdocs(config))
    part.own_assets |= {file.abs_dest_path for file in files if is_own_asset(file.src_uri)}
    return files
