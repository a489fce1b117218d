"""The built site as the server serves it: addresses, 404 pages, content types,
caching, the compressed copies the build writes, and the security headers on every
response (error pages included)."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path

import brotli
import pytest
from bs4 import BeautifulSoup
from starlette.routing import Route
from starlette.testclient import TestClient  # after conftest silenced its httpx2 warning

from kennisbank import assets
from kennisbank.assets import COMPRESSIBLE, WORTH, compress_file, compress_site
from kennisbank.csp import inline_scripts, script_hash
from kennisbank.manifest import load_manifest
from kennisbank.search import PRECOMPRESSED
from kennisbank.server.app import create_app
from kennisbank.server.settings import Settings
from kennisbank.server.web.static import accepted_encodings

from support import ARTICLE, DOCUMENT_HEADERS, ENDPOINT, SECURITY_HEADERS, environment, form, payload

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture
def site_copy(site, tmp_path) -> Path:
    """A copy of the built site, to change."""
    return Path(shutil.copytree(site.site, tmp_path / "site"))


def client_for(site_dir: Path, tmp_path: Path, **options) -> TestClient:
    return TestClient(create_app(Settings.from_env(environment(site_dir, tmp_path / "db.sqlite3"))), **options)


def bundle(site) -> str:
    return "/assets/javascripts/" + next((site.site / "assets" / "javascripts").glob("bundle.*.min.js")).name


def raw_get(client: TestClient, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body as sent (httpx would decode it)."""
    with client.stream("GET", path, headers=headers) as response:
        return response.status_code, dict(response.headers), b"".join(response.iter_raw())


# Addresses


def test_site_pages_and_directory_urls(client):
    assert client.get("/").status_code == 200
    response = client.get(f"/{ARTICLE}/")
    assert response.status_code == 200 and "kb-assessment" in response.text
    response = client.get(f"/{ARTICLE}?x=1", follow_redirects=False)
    assert response.status_code == 301 and response.headers["location"] == f"/{ARTICLE}/?x=1"
    assert response.headers["cache-control"] == "no-cache"
    assert client.get("/en", follow_redirects=False).headers["location"] == "/en/"
    assert client.get("/index.html").status_code == 200


@pytest.mark.parametrize("path", ["//artikelen", "//evil.example/%2e%2e/artikelen"])
def test_a_folder_redirect_stays_on_this_site(client, path):
    """The Location is the normalised path: a raw ``//host/..`` would send the reader to another host."""
    response = client.get(f"http://testserver{path}", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/artikelen/"


def test_a_slash_asks_for_a_folder(client):
    for path in ("/index.html/", "/robots.txt/", f"/{ARTICLE}/index.html/"):
        assert client.get(path, follow_redirects=False).status_code == 404, path


def test_missing_pages_are_404_with_the_languages_page(client):
    response = client.get("/bestaat/niet/")
    assert response.status_code == 404 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert BeautifulSoup(response.text, "lxml").html["lang"] == "nl"
    for path in ("/en/nonexistent/", "/en/does/not/exist", "/en/.kennisbank/manifest.json"):
        response = client.get(path)
        assert response.status_code == 404
        soup = BeautifulSoup(response.text, "lxml")
        assert soup.html["lang"] == "en"
        assert soup.h1.get_text(strip=True) == "Page not found"


def test_the_receivers_404_page_is_the_languages(client, site):
    static = client.app.state.static
    assert static.not_found_page("/en/x/") == (site.site / "en" / "404.html").read_text(encoding="utf-8")
    assert static.not_found_page("/english/") == (site.site / "404.html").read_text(encoding="utf-8")


def test_a_site_without_404_page_answers_plain_404(site_copy, tmp_path):
    (site_copy / "404.html").unlink()
    (site_copy / "en" / "404.html").unlink()
    client = client_for(site_copy, tmp_path)
    response = client.get("/en/nope/")
    assert response.status_code == 404 and response.text == "Not Found"
    assert client.app.state.static.not_found_page("/en/nope/") is None


@pytest.mark.parametrize(
    "path",
    [
        "/../mkdocs.yml",
        "/%2e%2e/mkdocs.yml",
        "/assets/..%2f..%2fmkdocs.yml",
        "//etc/passwd",
        "/.hidden",
        "/a\\b",
        "/%00",
        "/.kennisbank/manifest.json",
        "/.kennisbank/",
        "/assets/%2e%2e/.kennisbank/manifest.json",
    ],
)
def test_paths_outside_the_site_and_dot_folders_are_not_served(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 404
    assert "site_name" not in response.text and '"script_hashes"' not in response.text


def test_the_build_manifest_is_there_but_not_served(client, site):
    assert (site.site / ".kennisbank" / "manifest.json").is_file()
    assert client.get("/.kennisbank/manifest.json").status_code == 404


def test_sitemaps_are_served_where_they_are_and_nowhere_else(client):
    assert client.get("/sitemap.xml").status_code == 200
    assert client.get("/en/sitemap.xml").status_code == 200
    assert client.get(f"/{ARTICLE}/sitemap.xml").status_code == 404


def test_other_methods_are_405(client):
    response = client.post("/assets/stylesheets/site.css")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


# Content types


def test_content_types_with_charset_for_text(client, site):
    expected = {
        "/": "text/html; charset=utf-8",
        "/assets/stylesheets/site.css": "text/css; charset=utf-8",
        bundle(site): "text/javascript; charset=utf-8",
        "/sitemap.xml": "application/xml; charset=utf-8",
        "/feed.xml": "application/xml; charset=utf-8",
        "/robots.txt": "text/plain; charset=utf-8",
        "/pagefind/pagefind-entry.json": "application/json",
        "/pagefind/pagefind.js": "text/javascript; charset=utf-8",
        "/pagefind/wasm.nl.pagefind": "application/octet-stream",
        bundle(site) + ".map": "application/json",
        "/assets/favicon.svg": "image/svg+xml",
        # a compressed copy asked for by name is not the page
        "/index.html.br": "application/octet-stream",
        "/sitemap.xml.gz": "application/gzip",
    }
    for path, kind in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == kind, path


# Caching


def test_cache_headers(client, site):
    response = client.get(bundle(site))
    assert response.headers["cache-control"] == IMMUTABLE
    for path in ("/", f"/{ARTICLE}/", "/assets/javascripts/assessment.js", "/assets/stylesheets/site.css", "/sitemap.xml"):
        assert client.get(path).headers["cache-control"] == "no-cache", path
    css = next((site.site / "assets" / "stylesheets").glob("main.*.min.css"))
    assert client.get(f"/assets/stylesheets/{css.name}").headers["cache-control"] == IMMUTABLE
    assert client.get("/nope/").headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("encoding", ["br", "gzip", "identity"])
def test_revalidation_per_encoding(client, encoding):
    first = client.get("/", headers={"accept-encoding": encoding})
    etag = first.headers["etag"]
    again = client.get("/", headers={"accept-encoding": encoding, "if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["vary"] == "Accept-Encoding" and again.headers["cache-control"] == "no-cache"
    # another encoding is another representation: its own ETag, so no 304 for this one
    for other in {"br", "gzip", "identity"} - {encoding}:
        response = client.get("/", headers={"accept-encoding": other, "if-none-match": etag})
        assert response.status_code == 200 and response.headers["etag"] != etag


def test_a_404_is_never_304(client):
    etag = client.get("/nope/").headers["etag"]
    assert client.get("/nope/", headers={"if-none-match": etag}).status_code == 404


# Compression at build time


def test_the_build_compresses_every_text_file_beside_itself(site):
    """Every copy holds exactly the file as built: written after the last hook wrote it
    (the search index comes last)."""
    originals = [p for p in site.site.rglob("*") if p.is_file() and p.suffix in COMPRESSIBLE]
    assert any(p.name == "pagefind-entry.json" for p in originals)  # Pagefind's bundle is written before
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
    assert not list(site.site.rglob("*.br.*")) + list(site.site.rglob("*.gz.*"))


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


# Compression as served


@pytest.mark.parametrize(
    "header,expected",
    [
        ("gzip, deflate, br, zstd", ["br", "gzip"]),
        ("gzip", ["gzip"]),
        ("br;q=0, gzip", ["gzip"]),
        ("gzip;q=1.0, br;q=0.5", ["gzip", "br"]),
        ("*", ["br", "gzip"]),
        ("*;q=0, gzip", ["gzip"]),
        ("gzip;q=0, br;q=0", []),
        ("identity", []),
        ("", []),
        ("br;q=x", []),
    ],
)
def test_accept_encoding(header, expected):
    assert accepted_encodings(header) == expected


@pytest.mark.parametrize("encoding,suffix", [("br", ".br"), ("gzip", ".gz"), ("gzip;q=1, br;q=0", ".gz"), ("identity", "")])
def test_the_precompressed_copy_is_sent_as_it_is(client, site, encoding, suffix):
    for path, file in ((bundle(site), site.site / bundle(site).lstrip("/")), (f"/{ARTICLE}/", site.site / ARTICLE / "index.html")):
        status, headers, body = raw_get(client, path, **{"accept-encoding": encoding})
        sent = file.with_name(file.name + suffix)
        assert status == 200
        assert body == sent.read_bytes(), (path, encoding)
        assert headers["content-length"] == str(sent.stat().st_size)
        assert headers.get("content-encoding") == (encoding.split(";")[0] if suffix else None)
        assert headers["vary"] == "Accept-Encoding"


def test_vary_on_every_compressible_response(client):
    for path in ("/robots.txt", "/", "/nope/", "/assets/favicon.svg"):  # robots.txt is too small to have copies
        for encoding in ("br", "identity"):
            assert client.get(path, headers={"accept-encoding": encoding}).headers["vary"] == "Accept-Encoding", path
    image = client.get("/assets/images/favicon.png")  # not compressible: one representation
    assert image.status_code == 200 and "vary" not in image.headers and image.headers["content-type"] == "image/png"


def test_head_and_range(client, site):
    path = bundle(site)
    file = site.site / path.lstrip("/")
    head = client.head(path, headers={"accept-encoding": "br"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-encoding"] == "br"
    assert head.headers["content-length"] == str(file.with_name(file.name + ".br").stat().st_size)
    # a range is of the file itself, whatever the browser accepts
    status, headers, body = raw_get(client, path, range="bytes=100-199", **{"accept-encoding": "br, gzip"})
    assert status == 206 and body == file.read_bytes()[100:200]
    assert "content-encoding" not in headers
    assert headers["content-range"] == f"bytes 100-199/{file.stat().st_size}"
    assert headers["vary"] == "Accept-Encoding"


def test_pagefinds_files_are_sent_as_they_are_with_their_type_and_cache(client, site):
    """Pagefind's chunks are gzip inside (pagefind.js unpacks them): no copies, no
    Content-Encoding, no Vary; the content-addressed ones are cached for a year."""
    bundle_dir = site.site / "pagefind"
    chunks = [p for p in bundle_dir.rglob("*") if p.is_file() and p.suffix in PRECOMPRESSED]
    assert {p.suffix for p in chunks} >= {".pagefind", ".pf_meta", ".pf_index", ".pf_fragment"}
    for chunk in chunks:
        assert chunk.read_bytes()[:2] == b"\x1f\x8b", chunk  # gzip already
        assert not chunk.with_name(chunk.name + ".br").exists() and not chunk.with_name(chunk.name + ".gz").exists()
        path = "/" + chunk.relative_to(site.site).as_posix()
        status, headers, body = raw_get(client, path, **{"accept-encoding": "br, gzip"})
        assert status == 200 and body == chunk.read_bytes(), path
        assert headers["content-type"] == "application/octet-stream" and "content-encoding" not in headers and "vary" not in headers
        hashed = chunk.suffix != ".pagefind"  # wasm.nl.pagefind keeps its name from build to build
        assert headers["cache-control"] == (IMMUTABLE if hashed else "no-cache"), path
    for name in ("pagefind.js", "pagefind-worker.js", "pagefind-entry.json"):  # the same name in every build
        response = client.get(f"/pagefind/{name}", headers={"accept-encoding": "br"})
        assert response.headers["content-encoding"] == "br" and response.headers["cache-control"] == "no-cache", name


def test_a_large_text_file_is_compressed_at_build_time_and_sent_compressed(site_copy, tmp_path):
    """No size limit: a 6 MB index is compressed beside itself like any other text file,
    and sent compressed with its own ETag per encoding."""
    big = site_copy / "big.json"
    big.write_bytes(b"[" + b",".join(b'{"title": "Outsourcing %d", "text": "leverancier en klant"}' % n for n in range(100_000)) + b"]")
    assert big.stat().st_size > 6_000_000
    [result] = [r for r in compress_site(site_copy, workers=2) if r.path.name == "big.json"]
    assert set(result.copies) == {"br", "gzip"}
    client = client_for(site_copy, tmp_path)
    etags = set()
    for encoding, suffix in (("br", ".br"), ("gzip", ".gz"), ("identity", "")):
        status, headers, body = raw_get(client, "/big.json", **{"accept-encoding": encoding})
        assert status == 200 and body == big.with_name(big.name + suffix).read_bytes()
        assert headers.get("content-encoding") == (encoding if suffix else None)
        assert headers["vary"] == "Accept-Encoding"
        etags.add(headers["etag"])
    assert len(etags) == 3


def test_the_server_compresses_nothing_per_request(site_copy, tmp_path):
    for name in ("index.html.br", "index.html.gz"):
        (site_copy / name).unlink()
    client = client_for(site_copy, tmp_path)
    status, headers, body = raw_get(client, "/", **{"accept-encoding": "br, gzip"})
    assert status == 200 and "content-encoding" not in headers
    assert body == (site_copy / "index.html").read_bytes()
    api = client.post(ENDPOINT, data=form(), headers={"accept-encoding": "br, gzip"})
    assert api.status_code == 200 and "content-encoding" not in api.headers
    assert "kb-result" in api.text


# Security headers


def test_security_headers_on_static_and_api_responses(make_client, site):
    client = make_client(RATE_LIMIT="1/60")
    etag = client.get("/").headers["etag"]
    responses = [
        client.get("/"),
        client.get("/", headers={"if-none-match": etag}),  # 304
        client.head("/"),
        client.get(bundle(site), headers={"range": "bytes=0-9"}),  # 206
        client.get("/assets/javascripts/assessment.js"),
        client.get("/nope/"),
        client.get("/.kennisbank/manifest.json"),
        client.get("/en", follow_redirects=False),
        client.post("/assets/stylesheets/site.css"),  # 405
        client.post(ENDPOINT, json=payload()),
        client.post(ENDPOINT, json=payload()),  # 429
        client.post(ENDPOINT, json={"answers": {}}),
        client.post("/api/assessments/x/submissions", json={}),
        client.post(ENDPOINT, content=b"x", headers={"content-type": "text/plain"}),
        client.get(ENDPOINT),
        client.post(ENDPOINT, json=payload(), headers={"origin": "https://evil.example"}),  # 403
        client.options(ENDPOINT, headers={"origin": "https://evil.example", "access-control-request-method": "POST"}),  # 400
        client.options(ENDPOINT),  # 204
        client.options("/api/contact"),  # 405 from the routing itself
    ]
    statuses = {r.status_code for r in responses}
    assert {200, 201, 204, 206, 301, 304, 400, 404, 405, 415, 429, 403} <= statuses
    for response in responses:
        missing = SECURITY_HEADERS - set(response.headers)
        assert not missing, (response.status_code, response.request.url, missing)
        assert "set-cookie" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        policy = response.headers["content-security-policy"]
        # nothing from another host, on every response
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "http" not in policy
        if response.headers.get("content-type", "").startswith("text/html"):
            assert not DOCUMENT_HEADERS - set(response.headers), response.request.url
            assert response.headers["x-frame-options"] == "DENY"
            assert "script-src 'self' 'wasm-unsafe-eval' 'sha256-" in policy


def test_a_500_reply_carries_the_security_headers(site, tmp_path):
    """Starlette's ServerErrorMiddleware sends the 500 outside every middleware the app adds."""
    client = client_for(site.site, tmp_path, raise_server_exceptions=False)

    def broken(request):
        raise RuntimeError("a bug")

    client.app.router.routes.insert(0, Route("/broken", broken))
    response = client.get("/broken")
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert not SECURITY_HEADERS - set(response.headers), dict(response.headers)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_csp_allows_exactly_the_sites_inline_scripts(client, site):
    csp = client.get("/").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert "http" not in csp
    # the hashes are the build manifest's, found when the site was built
    # and WebAssembly, for Pagefind's search (no string is run as script: no 'unsafe-eval')
    assert directives["script-src"].split() == ["'self'", "'wasm-unsafe-eval'", *load_manifest(site.site).script_hashes]
    for page in site.pages():
        for script in inline_scripts(page.read_text(encoding="utf-8")):
            assert script_hash(script) in directives["script-src"], page
    result = client.post(ENDPOINT, data=form()).text
    for script in inline_scripts(result):
        assert script_hash(script) in directives["script-src"]
    # JSON data blocks are not scripts
    assert not any(s.lstrip().startswith("{") for s in inline_scripts(client.get(f"/{ARTICLE}/").text))
