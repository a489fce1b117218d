"""MkDocs hook: minify the site's own scripts and stylesheets in the built site
(see ``kennisbank.assets``). Each language build copies the assets, so each build
minifies its copies after writing them."""

from __future__ import annotations

from pathlib import Path

from kennisbank.assets import is_own_asset, minify

_own: list[str] = []


def on_files(files, config):
    _own[:] = [file.abs_dest_path for file in files if is_own_asset(file.src_uri)]
    return files


def on_post_build(config):
    for name in _own:
        path = Path(name)
        path.write_text(minify(path.read_text(encoding="utf-8"), path.suffix), encoding="utf-8")
