"""The built site's assets: the site's own scripts and stylesheets minified, and every
text file compressed beside itself.

The sources under ``docs/assets/`` stay readable; the built copies lose comments
and white space (rjsmin, rcssmin). Material's own files are minified already.

Once every language is built, each compressible text file gets a brotli (``.br``,
quality 11) and a gzip (``.gz``, level 9) copy beside it, so the server never
compresses while a reader waits: it sends the copy the browser accepts (see
``kennisbank.server.web.static``).

Brotli at quality 11 is slow: some 5 s of CPU for this site, most of it Material's
own files (the 1 MB source map of its bundle alone takes 1.8 s), which are the
same in every build. So the brotli copies are kept in a cache by the SHA-256 of
the file (:func:`cache_dir`), and a build compresses only what changed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import brotli
import rcssmin
import rjsmin

MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}

#: the text files of a built site worth compressing, by suffix
COMPRESSIBLE = frozenset({".html", ".css", ".js", ".json", ".xml", ".svg", ".txt", ".webmanifest", ".map"})

#: HTTP content coding -> the suffix of its copy and how it is made, best first
ENCODINGS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "br": (".br", lambda data: brotli.compress(data, quality=11)),
    "gzip": (".gz", lambda data: gzip.compress(data, compresslevel=9, mtime=0)),
}

#: a copy is kept only if it is at most this share of the original (WhiteNoise's rule):
#: a few bytes saved do not pay for the Content-Encoding and a second file
WORTH = 0.95

#: cached brotli copies unused for this long are removed
CACHE_DAYS = 30


def is_own_asset(src_uri: str) -> bool:
    """A script or stylesheet of the site's own under ``assets/``, not already minified."""
    return src_uri.startswith("assets/") and src_uri.endswith(tuple(MINIFIERS)) and ".min." not in src_uri


def minify(text: str, suffix: str) -> str:
    """``text`` of a ``.js`` or ``.css`` file without comments and needless white space."""
    return MINIFIERS[suffix](text)


def compressible_files(site_dir: Path) -> Iterator[Path]:
    """Every file of the site to compress: a compressible suffix, not in a dot folder (the
    server never serves those, e.g. the build manifest)."""
    for folder, folders, files in os.walk(site_dir):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in COMPRESSIBLE:
                yield Path(folder, name)


@dataclass(frozen=True)
class Compressed:
    """What :func:`compress_file` did to one file: its size and that of each copy kept."""

    path: Path
    size: int
    copies: dict[str, int]


def cache_dir() -> Path:
    """Where brotli copies are kept between builds: ``$XDG_CACHE_HOME/kennisbank/brotli``
    (``~/.cache/...``); one for every copy of the project on the machine, as the tests make."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "kennisbank", "brotli")


def _brotli(data: bytes, cache: Path | None) -> bytes:
    """The brotli copy of ``data``, from ``cache`` if it holds it (checked: a damaged entry is made again)."""
    if cache is None:
        return ENCODINGS["br"][1](data)
    entry = cache / hashlib.sha256(data).hexdigest()
    try:
        packed = entry.read_bytes()
        if brotli.decompress(packed) == data:
            os.utime(entry)  # in use: kept for another CACHE_DAYS
            return packed
    except (OSError, brotli.error):
        pass
    packed = ENCODINGS["br"][1](data)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache, prefix=".tmp-", delete=False) as tmp:
            tmp.write(packed)
        os.replace(tmp.name, entry)  # whole or not at all, also with two builds at once
    except OSError:
        pass  # no cache, no harm: the next build compresses again
    return packed


def _prune(cache: Path) -> None:
    cutoff = time.time() - CACHE_DAYS * 86400
    for entry in cache.glob("*"):
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            pass


def compress_file(path: Path, cache: Path | None = None) -> Compressed:
    """Write ``path.br`` and ``path.gz`` if they pay; remove a copy that does not (it would be stale)."""
    data = path.read_bytes()
    copies = {}
    for encoding, (suffix, compress) in ENCODINGS.items():
        target = path.with_name(path.name + suffix)
        packed = _brotli(data, cache) if encoding == "br" else compress(data)
        if len(packed) <= len(data) * WORTH:
            target.write_bytes(packed)
            copies[encoding] = len(packed)
        else:
            target.unlink(missing_ok=True)
    return Compressed(path, len(data), copies)


def compress_site(site_dir: Path | str, cache: Path | None = None, workers: int | None = None) -> list[Compressed]:
    """Compress every compressible file of the built site beside itself, with brotli
    copies from ``cache`` (a folder) where it has them. Brotli and zlib release the
    GIL: the files are compressed on every core."""
    files = list(compressible_files(Path(site_dir)))
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        done = list(pool.map(lambda path: compress_file(path, cache), files))
    if cache is not None and cache.is_dir():
        _prune(cache)
    return done
