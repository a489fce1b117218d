"""LinkChecker (the real one, pinned in requirements.lock) over the site as ``kennisbank
serve`` serves it: every internal link and every anchor of both languages leads somewhere.

A page with a broken link or anchor fails the test with the page and the link named.
"""

from __future__ import annotations

import csv
import http.client
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from kennisbank.siteconfig import load_mkdocs

from support import ROOT, build, start_server

SITE = load_mkdocs(ROOT / "mkdocs.yml")
LINKCHECKER = Path(sys.executable).parent / "linkchecker"
CONFIG = ROOT / "tests" / "linkcheckerrc"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"}


class _OptInProxy(ThreadingHTTPServer):
    """Passes every request to the server unchanged and adds ``LinkChecker: 1`` to its answers.

    LinkChecker sends at most 10 requests a second to a host (about 3 on average)
    unless the host answers with a ``LinkChecker`` header, its documented opt-in for a
    site's owner. The site has some 170 URLs: 45 s throttled, a few seconds opted in.
    The header is the test's, not the site's, so it is added here and not by the server."""

    daemon_threads = True

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        connection = http.client.HTTPConnection(self.server.upstream.hostname, self.server.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("LinkChecker", "1")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = _forward

    def log_message(self, *args):
        pass


def broken_links(base_url: str) -> list[str]:
    """LinkChecker from every language's home, internal links and anchors; one line per
    fault: ``page: link: what is wrong``."""
    proxy = _OptInProxy(base_url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        starts = [f"{proxy.url}/{lang.prefix}" for lang in SITE.languages]
        done = subprocess.run(
            [str(LINKCHECKER), "--config", str(CONFIG), "--no-status", "--output", "csv", *starts], capture_output=True, text=True, timeout=300
        )
    finally:
        proxy.shutdown()
        proxy.server_close()
    # 0: all good, 1: broken links or warnings (an anchor that is missing is a warning), else LinkChecker itself failed
    assert done.returncode in (0, 1), f"linkchecker exited with {done.returncode}:\n{done.stderr}"
    rows = csv.DictReader((line for line in done.stdout.splitlines() if line and not line.startswith("#")), delimiter=";")
    faults = []
    for row in rows:
        page = (row["parentname"] or row["url"]).removeprefix(proxy.url)
        problem = " ".join(f"{row['result']} {row['warningstring']}".split())
        faults.append(f"{page} (line {row['line']}): {row['urlname']}: {problem}")
    assert faults or done.returncode == 0, f"linkchecker reported a fault it did not list:\n{done.stdout}\n{done.stderr}"
    return faults


def test_every_internal_link_and_anchor_leads_somewhere(base_url):
    faults = broken_links(base_url)
    assert faults == [], "broken links or anchors; fix them in docs/ (or the template that writes them):\n" + "\n".join(faults)


def test_a_broken_link_or_anchor_is_named_with_its_page(project, tmp_path):
    about = project / "docs" / "over.nl.md"
    about.write_text(
        about.read_text(encoding="utf-8")
        + '\n\n<a href="../bestaat-niet/">een pagina die er niet is</a> en <a href="../privacy/#geen-anker">een anker dat er niet is</a>\n',
        encoding="utf-8",
    )
    built = build(project, strict=False)  # strict would stop at the English translation being out of date
    assert built.returncode == 0, built.output
    server, base_url = start_server(built.site, tmp_path / "db.sqlite3")
    try:
        faults = broken_links(base_url)
    finally:
        server.stop()
    assert len(faults) == 2, faults
    missing_page = next(fault for fault in faults if "bestaat-niet" in fault)
    assert missing_page.startswith("/over/ (line ") and "404" in missing_page, missing_page
    missing_anchor = next(fault for fault in faults if "geen-anker" in fault)
    assert missing_anchor.startswith("/over/ (line ") and "Anchor `geen-anker'" in missing_anchor, missing_anchor
