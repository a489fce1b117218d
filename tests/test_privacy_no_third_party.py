"""No page asks another host for anything: readers' addresses stay with the site."""

from __future__ import annotations

import re
from urllib.parse import urlparse

EXTERNAL_ATTRS = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "video": "src", "audio": "src"}


def _external(url: str) -> bool:
    parsed = urlparse(url.strip())
    return bool(parsed.netloc) or url.strip().startswith("//")


def test_no_page_loads_anything_from_another_host(site):
    offenders = []
    pages = site.pages()
    assert len(pages) >= 8
    for page in pages:
        soup = site.html(str(page.relative_to(site.site)))
        for tag, attr in EXTERNAL_ATTRS.items():
            for element in soup.find_all(tag):
                url = element.get(attr)
                if not url:
                    continue
                # <link rel=canonical/alternate> name this site's own absolute URLs
                if tag == "link" and set(element.get("rel", [])) & {"canonical", "alternate"}:
                    continue
                if _external(url):
                    offenders.append(f"{page}: <{tag} {attr}={url}>")
    assert offenders == []


def test_no_stylesheet_imports_from_another_host(site):
    offenders = []
    sheets = list(site.site.rglob("*.css"))
    assert sheets
    for sheet in sheets:
        text = sheet.read_text(encoding="utf-8", errors="replace")
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(r"@import\s+['\"]([^'\"]+)", text):
            if _external(url) and not url.startswith("data:"):
                offenders.append(f"{sheet.name}: {url}")
    assert offenders == []


def test_no_google_fonts_and_no_cookies(site):
    for page in site.pages():
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html, page
        assert "document.cookie" not in html, page
