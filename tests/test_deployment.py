"""The production set-up (issue 10): Debian's Caddy in front of `kennisbank serve`, the
systemd units, and backups taken while the server writes, with a restore drill.

Everything runs for real: Caddy with deploy/Caddyfile (only the site address, the
app's port and test-only global options changed), Chromium, server processes, the
`kennisbank backup` command and the backup unit's own commands. systemd is not PID 1
here, so the units are checked with systemd-analyze, not started.

Client addresses: loopback is all of 127/8, so each httpx client sends from an address
of its own (127.0.0.2 and up, one set per test) and the server behind the proxy, which
allows 2 submissions a minute per address, counts them apart. Chromium sends from
127.0.0.1 only: the two browser tests spend that address's allowance, and no other test
posts from it through the shared deployment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import ssl
import stat
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from kennisbank.cli import main
from kennisbank.server.db.store import open_store
from kennisbank.server.settings import Settings

from local_server import free_port
from support import ARTICLE, ENDPOINT, ROOT, answer_all, export_json, payload, start_server, submission

DEPLOY = ROOT / "deploy"
README = ROOT / "README.md"
CADDY = shutil.which("caddy")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
HSTS = "max-age=31536000"
#: the app's headers, which must arrive through the proxy unchanged
APP_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "permissions-policy",
    "cross-origin-opener-policy",
    "cache-control",
    "etag",
    "vary",
    "content-type",
    "content-encoding",
)


def _needs_caddy() -> None:
    if CADDY is None:
        pytest.skip("caddy is not installed: apt-get install caddy (.ci/run installs it)")


# Caddy with deploy/Caddyfile


def caddyfile_for_test(text: str, *, app_port: int, http_port: int, https_port: int, storage: Path) -> str:
    """deploy/Caddyfile as the tests run it: on 127.0.0.1 with Caddy's own CA, free ports,
    certificates in ``storage``, and the app on ``app_port``. Each change must match once,
    so an edit of the file that the tests would silently miss fails here instead."""

    def once(text: str, old: str, new: str) -> str:
        assert text.count(old) == 1, f"deploy/Caddyfile: expected {old!r} exactly once; update caddyfile_for_test with the file"
        return text.replace(old, new)

    test_options = f"\n{{\n\tlocal_certs\n\tskip_install_trust\n\tstorage file_system {storage}\n\thttp_port {http_port}\n\thttps_port {https_port}\n"
    text = once(text, "\n{\n", test_options)
    text = once(text, "\nwww.example.nl {\n", "\n127.0.0.1 {\n")
    return once(text, "reverse_proxy 127.0.0.1:8000 {", f"reverse_proxy 127.0.0.1:{app_port} {{")


def caddy_environment(folder: Path) -> dict[str, str]:
    """Caddy keeps its autosaved configuration and data under HOME/XDG: here, in ``folder``."""
    return {**os.environ, "HOME": str(folder), "XDG_CONFIG_HOME": str(folder / "config"), "XDG_DATA_HOME": str(folder / "data")}


@dataclass
class Proxy:
    process: subprocess.Popen
    https: str
    http: str
    log: Path
    tls: ssl.SSLContext
    """Trusts Caddy's own root certificate: the chain is checked, not ignored."""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_caddy(folder: Path, app_url: str, timeout: float = 20) -> Proxy:
    """`caddy run` with deploy/Caddyfile in front of the app at ``app_url``; returns once it proxies."""
    folder.mkdir(parents=True, exist_ok=True)
    http_port, https_port = free_port(), free_port()
    while https_port == http_port:
        https_port = free_port()
    storage = folder / "storage"
    config = folder / "Caddyfile"
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    config.write_text(caddyfile_for_test(text, app_port=urlsplit(app_url).port, http_port=http_port, https_port=https_port, storage=storage), encoding="utf-8")
    log = folder / "caddy.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=caddy_environment(folder),
            cwd=folder,
        )
    https = f"https://127.0.0.1:{https_port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"caddy exited with {process.returncode}:\n{log.read_text()}")
        root = storage / "pki" / "authorities" / "local" / "root.crt"
        if root.is_file():
            try:
                tls = ssl.create_default_context(cafile=str(root))
                if httpx.get(https + "/", verify=tls, timeout=2).status_code == 200:
                    return Proxy(process, https, f"http://127.0.0.1:{http_port}", log, tls)
            except (httpx.HTTPError, ssl.SSLError, OSError):
                pass
        time.sleep(0.2)
    process.terminate()
    process.wait()
    raise RuntimeError(f"caddy did not proxy to {app_url} within {timeout:.0f} s:\n{log.read_text()}")


def client(proxy: Proxy, address: str) -> httpx.Client:
    """An HTTPS client of the proxy that connects from the loopback ``address``."""
    return httpx.Client(base_url=proxy.https, transport=httpx.HTTPTransport(local_address=address, verify=proxy.tls), timeout=10)


def post(session: httpx.Client, **headers: str) -> int:
    return session.post(ENDPOINT, json=payload(), headers=headers).status_code


def stored_count(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM submissions").fetchone()[0]


@dataclass
class Deployment:
    app: str
    """The app's own address, http://127.0.0.1:<port>: what only this machine reaches."""
    proxy: Proxy
    database: Path


def _deploy(site, folder: Path, **env: str):
    """The app with ``env`` in ``folder`` and Caddy with deploy/Caddyfile in front, for a
    fixture to yield; both stopped afterwards (the app also when Caddy fails to start)."""
    _needs_caddy()
    database = folder / "kennisbank.sqlite3"
    server, app = start_server(site.site, database, **env)
    try:
        proxy = start_caddy(folder / "caddy", app)
    except BaseException:
        server.stop()
        raise
    yield Deployment(app, proxy, database)
    proxy.stop()
    server.stop()


@pytest.fixture(scope="module")
def deployment(site, tmp_path_factory):
    """The production set-up on loopback: the app as the unit runs it (TRUSTED_PROXIES,
    the rate limit) and Caddy with deploy/Caddyfile in front."""
    yield from _deploy(site, tmp_path_factory.mktemp("deployment"), TRUSTED_PROXIES="127.0.0.1", RATE_LIMIT="2/60")


# The deployment, through the proxy


@pytest.mark.browser
def test_the_form_is_sent_with_javascript_through_the_proxy(deployment, browser):
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{deployment.proxy.https}/{ARTICLE}/")
        assert answer_all(page, "2") == 18  # the questions for a commercial provider
        page.click("form.kb-assessment button[type=submit]")
        page.wait_for_function("() => document.querySelector('[data-kb-sent]').textContent.startsWith('Verstuurd')")
        public_id = page.locator("[data-kb-sent]").inner_text().split("Kenmerk:")[-1].strip().rstrip(".")
    finally:
        context.close()
    assert errors == []  # the app's CSP arrived intact: no script was blocked
    assert public_id in {row["id"] for row in export_json(deployment.database)}


@pytest.mark.browser
def test_the_form_is_sent_without_javascript_through_the_proxy(deployment, browser):
    context = browser.new_context(java_script_enabled=False, ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(f"{deployment.proxy.https}/en/{ARTICLE}/")
        answer_all(page, "1")
        page.fill("form.kb-assessment input[name=email]", "proxy-no-js@example.org")
        page.check("form.kb-assessment input[name=consent]")
        with page.expect_navigation() as navigation:
            page.click("form.kb-assessment button[type=submit]")
        assert navigation.value.status == 200  # Chromium's Origin is https://...: the app's own origin
        assert page.locator("[data-kb-score]").inner_text() == "50 out of 100"
    finally:
        context.close()
    assert [row["lang"] for row in export_json(deployment.database) if row.get("email") == "proxy-no-js@example.org"] == ["en"]


def test_each_client_address_has_its_own_allowance_through_the_proxy(deployment):
    with client(deployment.proxy, "127.0.0.2") as first, client(deployment.proxy, "127.0.0.3") as second:
        assert [post(first), post(first)] == [201, 201]
        refused = first.post(ENDPOINT, json=payload())
        assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
        assert [post(second), post(second), post(second)] == [201, 201, 429]  # its own two, while the first waits


def test_a_forged_x_forwarded_for_changes_nothing(deployment):
    with client(deployment.proxy, "127.0.0.4") as forger, client(deployment.proxy, "127.0.0.5") as other:
        # each request names another address; Caddy replaces it with the client's own
        assert [post(forger, **{"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)] == [201, 201, 429]
        # naming another client (in every forwarding header there is) spends nothing of its allowance
        assert post(forger, **{"X-Forwarded-For": "127.0.0.5", "X-Real-IP": "127.0.0.5", "Forwarded": "for=127.0.0.5"}) == 429
        assert [post(other), post(other)] == [201, 201]


def test_the_apps_origin_check_sees_https_through_the_proxy(deployment):
    origin = deployment.proxy.https
    with client(deployment.proxy, "127.0.0.6") as session:
        # the page's own origin is https://: the app believes the proxy's X-Forwarded-Proto,
        # and the client's own (http) is replaced on the way
        assert post(session, Origin=origin, **{"Sec-Fetch-Site": "same-origin", "X-Forwarded-Proto": "http"}) == 201
        # so the same host over http:// is another origin
        assert post(session, Origin=origin.replace("https://", "http://"), **{"Sec-Fetch-Site": "same-origin"}) == 403


def test_the_headers_arrive_as_intended(deployment, site):
    asset = next(path for path in sorted((site.site / "assets").rglob("*.min.js")) if re.search(r"\.[0-9a-f]{8,}\.", path.name))
    paths = ["/", f"/{ARTICLE}/", "/" + asset.relative_to(site.site).as_posix(), "/no-such-page/"]
    with client(deployment.proxy, "127.0.0.7") as proxied, httpx.Client(base_url=deployment.app, timeout=10) as direct:
        for path in paths:
            for encoding in ("br", "gzip", "identity"):
                with proxied.stream("GET", path, headers={"Accept-Encoding": encoding}) as via:
                    via_body = b"".join(via.iter_raw())
                with direct.stream("GET", path, headers={"Accept-Encoding": encoding}) as app:
                    app_body = b"".join(app.iter_raw())
                where = f"{path} ({encoding})"
                assert via.status_code == app.status_code, where
                assert via.headers.get("strict-transport-security") == HSTS, where
                for name in APP_HEADERS:
                    assert via.headers.get(name) == app.headers.get(name), f"{where}: {name}"
                # the precompressed file as the app sent it: the proxy neither compresses nor recompresses
                assert via_body == app_body, where
                added = set(via.headers) - set(app.headers)
                assert added == {"strict-transport-security"}, f"{where}: the proxy added {added}"
                assert not {"server", "via", "alt-svc", "x-powered-by"} & set(via.headers), where
        assert via.headers.get("content-encoding") is None  # identity was asked for last
        etag = proxied.get(f"/{ARTICLE}/", headers={"Accept-Encoding": "br"}).headers["etag"]
        assert proxied.get(f"/{ARTICLE}/", headers={"Accept-Encoding": "br", "If-None-Match": etag}).status_code == 304
        # an answer of the proxy itself: HSTS, and no Server either
        own = proxied.get("/healthz")
        assert own.headers.get("strict-transport-security") == HSTS and "server" not in own.headers


def test_http_is_redirected_to_https(deployment):
    response = httpx.get(f"{deployment.proxy.http}/{ARTICLE}/?x=1", timeout=10)
    assert response.status_code == 308
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.hostname, location.path, location.query) == ("https", "127.0.0.1", f"/{ARTICLE}/", "x=1")


@pytest.mark.parametrize("path", ["/healthz", "/healthz/", "/HEALTHZ", "/%68ealthz", "/healthz?full=1", "/healthz%2F"])
def test_healthz_is_not_public(deployment, path):
    with client(deployment.proxy, "127.0.0.8") as session:
        assert session.get(path).status_code == 404
    direct = httpx.get(deployment.app + "/healthz", timeout=10)
    assert direct.status_code == 200 and direct.json()["status"] == "ok"  # on this machine it answers


def test_the_app_would_answer_an_encoded_healthz_so_the_proxy_must_block_it(deployment):
    """The proxy's rule matches the decoded path, as the app does: without it, /%68ealthz
    would reach the health check."""
    assert httpx.get(deployment.app + "/%68ealthz", timeout=10).status_code == 200


def test_request_bodies_are_limited_at_the_app_and_at_the_proxy(deployment):
    before = stored_count(deployment.database)
    json_type = {"Content-Type": "application/json"}
    with client(deployment.proxy, "127.0.0.9") as session:
        # over the app's MAX_BODY_BYTES (64 KiB), under the proxy's 128 KB: the app's answer, in the reader's language
        over_app = session.post(ENDPOINT, json=payload(website="x" * 100_000))
        assert over_app.status_code == 413 and over_app.json() == {"error": "De inzending is te groot."}
        # a declared length over 128 KB: the proxy answers, and the app never sees it
        declared = session.post(ENDPOINT, content=b" " * 300_000, headers=json_type)
        assert (declared.status_code, declared.text) == (413, "413 Request Entity Too Large")
        assert declared.headers.get("strict-transport-security") == HSTS and "server" not in declared.headers
        # chunked: the app stops reading at 64 KiB, or the proxy at 128 KB, whichever is first.
        # When the app answers first, the proxy is still sending it the rest of the body; if it
        # then reaches its own limit, it drops the connection in the middle of the app's reply
        # (seen now and then under heavy load). Either way the body is refused, and never stored:
        # a 413, or a connection closed without a whole reply, as HTTP allows after a 413.
        try:
            chunked = session.post(ENDPOINT, content=iter([b" " * 100_000] * 3), headers=json_type).status_code
        except httpx.RemoteProtocolError:
            chunked = "closed without a whole reply"
        assert chunked in (413, "closed without a whole reply")
        assert post(session) == 201  # and the client is not punished for them
    assert stored_count(deployment.database) == before + 1
    assert "127.0.0.9" not in deployment.proxy.log.read_text()  # no client address in Caddy's log


def test_caddys_log_keeps_no_client_address(deployment):
    """The privacy statement promises that no IP address is stored: Caddy keeps no access
    log, logs no TLS handshake failures at its level, and its error log drops the client."""
    import socket

    port = urlsplit(deployment.proxy.https).port
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.12", 0), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # plain HTTP to the TLS port
        assert b"400 Bad Request" in plain.recv(200)
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.12", 0), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):  # a name the proxy has no certificate for
            ssl.create_default_context(cafile=None).wrap_socket(raw, server_hostname="other.example")
    with client(deployment.proxy, "127.0.0.12") as session:
        for path in ("/", "/healthz", "/no-such-page/"):
            session.get(path, headers={"X-Forwarded-For": "198.51.100.12"})
        session.post(ENDPOINT, content=b"{", headers={"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.12"})
    time.sleep(0.5)  # Caddy writes its log as it goes
    log = deployment.proxy.log.read_text()
    assert "127.0.0.12" not in log and "198.51.100.12" not in log


@pytest.fixture(scope="module")
def loose_deployment(site, tmp_path_factory):
    """Caddy in front of an app with its own guards loosened: no TRUSTED_PROXIES, and a
    body limit (1 MiB) above the proxy's, to show what the proxy and the unit add."""
    yield from _deploy(site, tmp_path_factory.mktemp("loose"), RATE_LIMIT="2/60", MAX_BODY_BYTES=str(1024 * 1024))


def test_the_proxy_stops_a_chunked_body_past_its_limit_that_the_app_would_read(loose_deployment):
    proxy = loose_deployment.proxy
    with client(proxy, "127.0.0.9") as session:
        # the app would take 1 MiB here; the proxy's max_size stops it at 128 KB
        refused = session.post(ENDPOINT, content=iter([b" " * 100_000] * 3), headers={"Content-Type": "application/json"})
        assert (refused.status_code, refused.text) == (413, "413 Request Entity Too Large")
        assert refused.headers.get("strict-transport-security") == HSTS and "server" not in refused.headers
        # under the proxy's limit, the app reads it (and finds it is no submission)
        assert session.post(ENDPOINT, content=iter([b" " * 50_000] * 2), headers={"Content-Type": "application/json"}).status_code == 422
    assert stored_count(loose_deployment.database) == 0
    assert "127.0.0.9" not in proxy.log.read_text()


def test_without_trusted_proxies_the_app_behind_the_proxy_sees_one_client_over_http(loose_deployment):
    """Why the unit sets TRUSTED_PROXIES: without it, the tests above fail. Every reader is
    127.0.0.1 to the app (one allowance for all) and the page's https:// origin is not its own."""
    proxy = loose_deployment.proxy
    with client(proxy, "127.0.0.2") as first, client(proxy, "127.0.0.3") as second:
        assert post(first, Origin=proxy.https, **{"Sec-Fetch-Site": "same-origin"}) == 403
        assert [post(first), post(first)] == [201, 201]
        assert post(second) == 429


# The app on its own: X-Forwarded-* only from TRUSTED_PROXIES


def test_without_trusted_proxies_the_app_ignores_forwarded_headers(site, tmp_path):
    server, url = start_server(site.site, tmp_path / "plain.sqlite3", RATE_LIMIT="2/60")
    try:
        with httpx.Client(base_url=url, timeout=10) as direct:
            assert [post(direct, **{"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)] == [201, 201, 429]
            https_origin = url.replace("http://", "https://")
            assert post(direct, Origin=https_origin, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}) == 403
    finally:
        server.stop()


def test_with_trusted_proxies_the_same_headers_are_believed_from_the_proxy_only(site, tmp_path):
    """The control of the test above: the same requests, now from a trusted proxy, are
    believed; from another loopback address, which is no proxy, they are not."""
    server, url = start_server(site.site, tmp_path / "proxied.sqlite3", RATE_LIMIT="2/60", TRUSTED_PROXIES="127.0.0.1")
    try:
        with httpx.Client(base_url=url, timeout=10) as proxy:  # connects from 127.0.0.1
            assert [post(proxy, **{"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)] == [201, 201, 201]
            https_origin = url.replace("http://", "https://")
            assert post(proxy, Origin=https_origin, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}) == 201
        with httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as stranger:
            assert [post(stranger, **{"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(3)] == [201, 201, 429]
    finally:
        server.stop()


# deploy/Caddyfile as installed


def _caddy(*args: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CADDY, *args], capture_output=True, text=True, env=caddy_environment(folder), cwd=folder, timeout=60, check=False)


def test_the_caddyfile_as_installed_is_valid_formatted_and_sets_the_limits(tmp_path):
    _needs_caddy()
    installed = str(DEPLOY / "Caddyfile")
    validated = _caddy("validate", "--config", installed, "--adapter", "caddyfile", folder=tmp_path)
    assert validated.returncode == 0 and "Valid configuration" in validated.stdout + validated.stderr, validated.stderr
    formatted = _caddy("fmt", installed, folder=tmp_path)
    assert formatted.stdout == (DEPLOY / "Caddyfile").read_text(encoding="utf-8"), "deploy/Caddyfile: run `caddy fmt --overwrite deploy/Caddyfile`"
    adapted = _caddy("adapt", "--config", installed, "--adapter", "caddyfile", folder=tmp_path)
    assert adapted.returncode == 0, adapted.stderr
    assert "warn" not in adapted.stderr.lower(), adapted.stderr
    config = json.loads(adapted.stdout)
    assert config["admin"] == {"disabled": True}
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"] and server["protocols"] == ["h1", "h2"]
    seconds = 1_000_000_000
    assert (server["read_header_timeout"], server["read_timeout"], server["write_timeout"], server["idle_timeout"]) == (
        10 * seconds,
        10 * seconds,
        30 * seconds,
        120 * seconds,
    )
    handlers = {}
    for handler in _handlers(server["routes"]):
        handlers.setdefault(handler["handler"], []).append(handler)
    assert "encode" not in handlers  # no compression at the proxy: the app's precompressed files pass
    assert [h["max_size"] for h in handlers["request_body"]] == [128_000]
    (proxy,) = handlers["reverse_proxy"]
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:8000"}]  # the port of kennisbank.service
    assert proxy["transport"]["compression"] is False and proxy["transport"]["keep_alive"]["idle_timeout"] == 3 * seconds
    assert "trusted_proxies" not in proxy  # so Caddy replaces a client's X-Forwarded-For
    assert config["logging"]["logs"]["default"]["encoder"]["fields"] == {
        f"request>{field}": {"filter": "delete"} for field in ("headers", "remote_ip", "remote_port")
    }


def _handlers(routes: list) -> list[dict]:
    """Every handler of Caddy's JSON routes, subroutes included."""
    found = []
    for route in routes:
        for handler in route.get("handle", []):
            found.append(handler)
            found += _handlers(handler.get("routes", []))
    return found


# The systemd units


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's settings by section; a key set more than once has every value, in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def environment_of(service: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in service["Environment"])


SANDBOX = {
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "PrivateMounts": "yes",
    "ProtectProc": "invisible",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
    "StateDirectoryMode": "0700",
    "User": "kennisbank",
}


def test_the_server_unit_runs_the_app_as_the_proxy_expects_in_its_sandbox():
    service = unit("kennisbank.service")["Service"]
    for key, value in SANDBOX.items():
        assert service.get(key) == [value], key
    assert service["ExecStart"] == ["/opt/kennisbank/venv/bin/kennisbank serve"]
    assert service["StateDirectory"] == ["kennisbank"]
    assert service["SystemCallFilter"] == ["@system-service", "~@privileged @resources", "setpriority"]  # the outbox worker's os.nice
    assert service["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert (service["IPAddressDeny"], service["IPAddressAllow"]) == (["any"], ["localhost"])
    # MAX_CONNECTIONS fits, with a socket and a file each (kennisbank.server.web.serving.connection_cap)
    assert int(service["LimitNOFILE"][0]) >= 2 * 1000 + 64
    env = environment_of(service)
    settings = Settings.from_env(env)  # every value is one the server takes
    assert settings.host == "127.0.0.1" and settings.trusted_proxies == ("127.0.0.1", "::1")
    assert env["DATABASE_URL"] == "sqlite:////var/lib/kennisbank/kennisbank.sqlite3"  # in the StateDirectory, the one writable place
    assert env["SITE_DIR"] == "/srv/kennisbank/site" and not env["SITE_DIR"].startswith(("/home", "/root", "/tmp"))  # ProtectHome, PrivateTmp
    assert f"127.0.0.1:{settings.port}" in (DEPLOY / "Caddyfile").read_text(encoding="utf-8")


def test_the_backup_unit_shares_the_database_and_has_no_network():
    units = {name: unit(name) for name in ("kennisbank.service", "kennisbank-backup.service", "kennisbank-backup.timer")}
    service, backup = units["kennisbank.service"]["Service"], units["kennisbank-backup.service"]["Service"]
    for key, value in SANDBOX.items():
        assert backup.get(key) == [value], key
    assert backup["Type"] == ["oneshot"] and backup["PrivateNetwork"] == ["yes"]
    assert backup["StateDirectory"] == ["kennisbank kennisbank-backup"]
    assert environment_of(backup)["DATABASE_URL"] == environment_of(service)["DATABASE_URL"]
    timer = units["kennisbank-backup.timer"]
    assert timer["Timer"]["OnCalendar"] == ["*-*-* 03:15:00"] and timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def test_systemd_analyze_verifies_the_units_without_a_warning(tmp_path):
    """``systemd-analyze verify`` exits 0 even for unknown keys and bad values: they are
    warnings on stderr, so there must be none. It also wants ExecStart's program to exist:
    the copies run the kennisbank of this checkout."""
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    installed = "/opt/kennisbank/venv/bin/kennisbank"
    here = shutil.which("kennisbank", path=str(Path(sys.executable).parent))
    assert here, "the kennisbank console script of this virtual environment"
    copies = []
    for name in ("kennisbank.service", "kennisbank-backup.service", "kennisbank-backup.timer"):
        text = (DEPLOY / name).read_text(encoding="utf-8")
        assert name.endswith(".timer") or installed in text, name
        (tmp_path / name).write_text(text.replace(installed, here), encoding="utf-8")
        copies.append(str(tmp_path / name))
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", *copies], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr + done.stdout
    # and it would have said so: a misspelt key is a warning
    service = tmp_path / "kennisbank.service"
    service.write_text(service.read_text(encoding="utf-8").replace("ProtectHome=", "ProtectHomes="), encoding="utf-8")
    broken = subprocess.run([SYSTEMD_ANALYZE, "verify", str(service)], capture_output=True, text=True, timeout=60, check=False)
    assert "Unknown key 'ProtectHomes'" in broken.stderr


@pytest.mark.parametrize("name, most", [("kennisbank.service", 1.0), ("kennisbank-backup.service", 0.5)])
def test_systemd_rates_the_sandbox_safe(name, most):
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    done = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=true", str(DEPLOY / name)], capture_output=True, text=True, timeout=60, check=False)
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert exposure, done.stdout + done.stderr
    assert float(exposure[1]) <= most, done.stdout


def systemd_command(line: str, paths: dict[str, str]) -> list[str]:
    """An Exec line's command as systemd runs it ($$ and %% unescaped), with paths replaced."""
    for old, new in paths.items():
        assert old in line, old
        line = line.replace(old, new)
    return shlex.split(line.replace("$$", "$").replace("%%", "%"))


def test_the_backup_units_commands_back_up_and_delete_only_old_backups(tmp_path):
    backup = unit("kennisbank-backup.service")["Service"]
    folder = tmp_path / "kennisbank-backup"
    folder.mkdir()
    database = tmp_path / "kennisbank" / "kennisbank.sqlite3"
    store = open_store(f"sqlite:///{database}", tmp_path)
    store.add(submission())
    store.close()
    kept_elsewhere = folder / "notes.txt"
    kept_elsewhere.write_text("not a backup")
    day = 24 * 60 * 60
    ages = {"kennisbank-20260101T031500Z.sqlite3": 9, "kennisbank-20260103T031500Z.sqlite3": 7, "kennisbank-20260104T031500Z.sqlite3": 6.5}
    for name, days in ages.items():
        (folder / name).write_bytes(b"old")
        os.utime(folder / name, (time.time() - days * day,) * 2)
    os.utime(kept_elsewhere, (time.time() - 30 * day,) * 2)
    paths = {"/opt/kennisbank/venv/bin/kennisbank": str(Path(sys.executable).parent / "kennisbank"), "/var/lib/kennisbank-backup": str(folder)}
    env = {**os.environ, **environment_of(backup)}
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("/var/lib/kennisbank/", f"{database.parent}/")
    made = subprocess.run(systemd_command(backup["ExecStart"][0], paths), capture_output=True, text=True, env=env, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    new = [p.name for p in folder.iterdir() if re.fullmatch(r"kennisbank-\d{8}T\d{6}Z\.sqlite3", p.name) and p.name not in ages]
    assert len(new) == 1 and f"backed up 1 submission(s) to {folder / new[0]}" in made.stdout
    pruned = subprocess.run(
        systemd_command(backup["ExecStartPost"][0], {"/var/lib/kennisbank-backup": str(folder)}), capture_output=True, text=True, timeout=60, check=False
    )
    assert pruned.returncode == 0, pruned.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted([new[0], "kennisbank-20260104T031500Z.sqlite3", "notes.txt"])


def test_the_readme_explains_every_setting_of_the_units_and_uses_their_paths():
    deploying = README.read_text(encoding="utf-8").split("\n## Deploying\n", 1)
    assert len(deploying) == 2, "README.md needs a '## Deploying' section"
    section = deploying[1].split("\n## ", 1)[0]
    for name in ("kennisbank.service", "kennisbank-backup.service"):
        for key in unit(name)["Service"]:
            assert f"`{key}" in section, f"README.md, Deploying: explain {key} of deploy/{name}"
    for path in (
        "/opt/kennisbank/venv",
        "/srv/kennisbank/site",
        "/var/lib/kennisbank/kennisbank.sqlite3",
        "/var/lib/kennisbank-backup",
        "/etc/caddy/Caddyfile",
    ):
        assert path in section, path
    assert "kennisbank backup --to" in README.read_text(encoding="utf-8").split("\n## Deploying\n", 1)[0]  # in the command list too


# Backups


@pytest.fixture
def database(tmp_path, monkeypatch) -> Path:
    """A database of three submissions, DATABASE_URL pointing at it and no other setting."""
    for name in ("DATABASE_URL", "SITE_DIR", "RETENTION_MONTHS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "live" / "kennisbank.sqlite3"
    store = open_store(f"sqlite:///{path}", tmp_path)
    for _ in range(3):
        store.add(submission())
    store.close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_backup_writes_one_checked_private_file_and_says_how_many(capsys, database, tmp_path):
    target = tmp_path / "backups" / "kennisbank-1.sqlite3"
    target.parent.mkdir()
    code, out, _ = run(capsys, "backup", "--to", str(target))
    assert code == 0 and out.startswith(f"backed up 3 submission(s) to {target} (") and "integrity checked" in out
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no -wal, -shm or temporary file beside it
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with sqlite3.connect(f"file:{target}?mode=ro", uri=True) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT count(*) FROM submissions").fetchone() == (3,)


def test_backup_never_overwrites_and_says_what_to_do(capsys, database, tmp_path):
    target = tmp_path / "kennisbank.sqlite3"
    target.write_bytes(b"yesterday's backup")
    code, _, err = run(capsys, "backup", "--to", str(target))
    assert code == 2 and f"--to {target}: the file exists" in err and "Fix:" in err
    assert target.read_bytes() == b"yesterday's backup"


def test_backup_of_a_missing_database_refuses_rather_than_back_up_an_empty_one(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'typo.sqlite3'}")
    code, _, err = run(capsys, "backup", "--to", str(tmp_path / "b.sqlite3"))
    assert code == 2 and "DATABASE_URL" in err and "does not exist" in err and "Fix:" in err
    assert list(tmp_path.iterdir()) == []  # not created, neither database nor backup


def test_backup_into_a_missing_folder_names_it(capsys, database, tmp_path):
    code, _, err = run(capsys, "backup", "--to", str(tmp_path / "nowhere" / "b.sqlite3"))
    assert code == 2 and f"the folder {tmp_path / 'nowhere'} does not exist" in err and "Fix:" in err


def test_a_failed_backup_leaves_nothing_behind(capsys, database, tmp_path, monkeypatch):
    target = tmp_path / "backups" / "b.sqlite3"
    target.parent.mkdir()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", full_disk)  # the last step: the copy is written and checked
    code, _, err = run(capsys, "backup", "--to", str(target))
    assert code == 2 and "No space left on device" in err and "Fix:" in err
    assert list(target.parent.iterdir()) == []


def _prefill(database: Path, count: int) -> None:
    """``count`` old submissions, inserted in one transaction (the server would take minutes)."""
    store = open_store(f"sqlite:///{database}", database.parent)
    store.close()
    row = submission()
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band, consent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            [
                (
                    f"prefill{i:09d}",
                    row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    row.assessment,
                    row.version,
                    row.lang,
                    json.dumps(dict(row.answers)),
                    row.score,
                    row.band,
                )
                for i in range(count)
            ],
        )


def test_restore_drill_backup_while_writing_restore_and_find_every_acknowledged_submission(site, tmp_path):
    """The drill as README.md describes it: back up while the server takes submissions,
    stop it, copy the backup to the database's place, start a server on it, and find
    every submission acknowledged before the backup began (and none acknowledged after it ended)."""
    live = tmp_path / "live" / "kennisbank.sqlite3"
    _prefill(live, 20_000)
    server, url = start_server(site.site, live)
    acknowledged: list[tuple[str, float]] = []
    failures: list[str] = []
    stop = threading.Event()

    def submit() -> None:
        with httpx.Client(base_url=url, timeout=10) as session:
            while not stop.is_set():
                response = session.post(ENDPOINT, json=payload())
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    return
                acknowledged.append((response.json()["id"], time.monotonic()))

    writers = [threading.Thread(target=submit) for _ in range(4)]
    backup = tmp_path / "backups" / "kennisbank-drill.sqlite3"
    backup.parent.mkdir()
    try:
        for writer in writers:
            writer.start()
        while len(acknowledged) < 100 and not failures:
            time.sleep(0.01)
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "kennisbank.cli", "backup", "--to", str(backup)],
            env={**os.environ, "DATABASE_URL": f"sqlite:///{live}"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        ended = time.monotonic()
        while not any(moment > ended for _, moment in list(acknowledged)) and not failures:
            time.sleep(0.01)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
        server.stop()
    assert failures == []  # the server took every submission while the backup ran
    assert done.returncode == 0, done.stderr
    before = {public_id for public_id, moment in acknowledged if moment < began}
    during = {public_id for public_id, moment in acknowledged if began <= moment <= ended}
    after = {public_id for public_id, moment in acknowledged if moment > ended}
    assert before and during and after
    count = int(re.match(r"backed up (\d+) submission\(s\)", done.stdout)[1])
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    # the restore, as README.md says: copy the file to where the server's database goes
    restored = tmp_path / "restored" / "kennisbank.sqlite3"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    server, url = start_server(site.site, restored)
    try:
        assert httpx.get(url + "/healthz", timeout=10).json()["status"] == "ok"
        found = {row["id"] for row in export_json(restored)}
        assert before <= found  # every submission acknowledged before the backup began
        assert not after & found  # and none acknowledged after it ended: one snapshot
        assert len(found) == count == 20_000 + len(before) + len(during & found)
        assert httpx.post(url + ENDPOINT, json=payload(), timeout=10).status_code == 201  # and it takes new ones
    finally:
        server.stop()


# The package as installed on the server: a wheel, not this editable checkout


def test_the_server_runs_from_the_built_wheel_with_its_migrations_and_templates(site, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / part, source / part)
    shutil.copytree(ROOT / "kennisbank", source / "kennisbank", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("kennisbank-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"kennisbank/server/db/migrations/env.py", "kennisbank/server/db/migrations/versions/0001_baseline.py"} <= set(names)
    assert any(name.startswith("kennisbank/templates/") for name in names)
    installed = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(installed)
    # the unpacked wheel first on the path, and not the current folder (this checkout)
    imports = {"PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import kennisbank; print(kennisbank.__file__)"], env={**os.environ, **imports}, capture_output=True, text=True, check=True
    )
    assert where.stdout.strip() == str(installed / "kennisbank" / "__init__.py")
    server, url = start_server(site.site, tmp_path / "db.sqlite3", **imports)
    try:
        assert httpx.get(url + "/healthz", timeout=10).json()["status"] == "ok"
        assert httpx.post(url + ENDPOINT, json=payload(), timeout=10).status_code == 201
    finally:
        server.stop()
