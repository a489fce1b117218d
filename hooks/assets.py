"""MkDocs hook: minify the site's own scripts and stylesheets in the built site, and
compress every text file beside itself once every language is built (see
``kennisbank.assets``)."""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority

from kennisbank import languages
from kennisbank.assets import cache_dir, compress_site, is_own_asset, minify

_state: dict = {"command": None, "own": set()}


def on_startup(command, dirty):
    _state["command"] = command


def on_files(files, config):
    # each language build copies the assets; the default language's (outer) build starts the list
    if not config.plugins["i18n"].building:
        _state["own"] = set()
    _state["own"] |= {file.abs_dest_path for file in files if is_own_asset(file.src_uri)}
    return files


@event_priority(-300)  # after every other on_post_build: the Pagefind hook (-200) writes its bundle last
def on_post_build(config):
    if config.plugins["i18n"].building:
        # a nested language build; the outer (default language) build ends after all of
        # them, or python -m kennisbank.build after every language's process
        languages.save_part("assets", config.plugins["i18n"].current_language, sorted(_state["own"]))
        return
    for name in sorted(_state["own"]):
        path = Path(name)
        path.write_text(minify(path.read_text(encoding="utf-8"), path.suffix), encoding="utf-8")
    if _state["command"] != "serve":  # MkDocs' live-reload server sends no .br or .gz: no need to wait for them
        compress_site(config.site_dir, cache_dir())
