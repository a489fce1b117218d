"""The built site as the server serves it: addresses, 404 pages, content types,
caching, the compressed copies the build writes, and the security headers on every
response (error pages included)."""

from __future__ import annotations

import gzip
import os
import time

import brotli

from kennisbank import assets
from kennisbank.assets import COMPRESSIBLE, WORTH, compress_file, compress_site


# Compression at build time


def test_the_build_compresses_every_text_file_beside_itself(site):
    """Every copy holds exactly the file as built: written after the last hook wrote it
    (the search indexes come last)."""
    originals = [p for p in site.site.rglob("*") if p.is_file() and p.suffix in COMPRESSIBLE]
    assert any(p.name == "search_index.json" for p in originals)
    compressed = 0
    for path in originals:
        raw = path.read_bytes()
        in_dot_folder = any(part.startswith(".") for part in path.relative_to(site.site).parts)
        for suffix, decompress in ((".br", brotli.decompress), (".gz", gzip.decompress)):
            copy = path.with_name(path.name + suffix)
            if in_dot_folder:
                assert not copy.exists(), copy  # never served: nothing to compress
            elif copy.exists():
                assert decompress(copy.read_bytes()) == raw, copy
                assert copy.stat().st_size <= len(raw) * WORTH, copy
                compressed += 1
            else:
                assert len(raw) < 200, f"{path} ({len(raw)} bytes) has no {suffix} copy"
    assert compressed > 100
    assert not [p for p in site.site.rglob("*.br.*")] + [p for p in site.site.rglob("*.gz.*")]


def test_copies_are_kept_only_where_they_pay(tmp_path):
    text = tmp_path / "page.html"
    text.write_text("<p>Outsourcing</p>\n" * 500, encoding="utf-8")
    tiny = tmp_path / "robots.txt"
    tiny.write_text("User-agent: *\n", encoding="utf-8")
    noise = tmp_path / "noise.json"
    noise.write_bytes(os.urandom(4096))
    # a copy left from an earlier build that no longer pays goes: it would be served stale
    (tmp_path / "noise.json.br").write_bytes(b"stale")
    results = {result.path.name: result for result in compress_site(tmp_path, workers=2)}
    assert set(results["page.html"].copies) == {"br", "gzip"}
    assert brotli.decompress((tmp_path / "page.html.br").read_bytes()) == text.read_bytes()
    assert results["robots.txt"].copies == {} and results["noise.json"].copies == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.json", "page.html", "page.html.br", "page.html.gz", "robots.txt"]
    assert compress_file(text).copies == results["page.html"].copies  # the same bytes again


def test_brotli_copies_come_from_the_cache_when_the_file_is_the_same(tmp_path, monkeypatch):
    site, cache = tmp_path / "site", tmp_path / "cache"
    site.mkdir()
    page = site / "index.html"
    page.write_text("<p>Shared service centre</p>\n" * 300, encoding="utf-8")
    compress_site(site, cache)
    made = (site / "index.html.br").read_bytes()
    assert [entry.read_bytes() for entry in cache.iterdir()] == [made]

    def no_brotli(data):
        raise AssertionError("compressed again")

    monkeypatch.setitem(assets.ENCODINGS, "br", (".br", no_brotli))
    (site / "index.html.br").unlink()
    compress_site(site, cache)
    assert (site / "index.html.br").read_bytes() == made
    # a damaged entry is not sent: the file is compressed again
    monkeypatch.undo()
    [entry] = cache.iterdir()
    entry.write_bytes(made[:-5])
    compress_site(site, cache)
    assert brotli.decompress((site / "index.html.br").read_bytes()) == page.read_bytes()
    assert entry.read_bytes() == made
    # entries unused for CACHE_DAYS go
    old = time.time() - (assets.CACHE_DAYS + 1) * 86400
    (cache / "unused").write_bytes(b"x")
    os.utime(cache / "unused", (old, old))
    compress_site(site, cache)
    assert sorted(p.name for p in cache.iterdir()) == [entry.name]
