"""What an attack on the server found (issue 10), each finding as a test that failed before its fix."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from starlette.testclient import TestClient

from kennisbank.manifest import MANIFEST_PATH, load_manifest
from kennisbank.server.app import create_app
from kennisbank.server.settings import Settings

from local_server import LocalServer
from support import ARTICLE, start_server

ENDPOINT = "/api/assessments/contract-check/submissions"


@pytest.fixture
def app_for(site, tmp_path):
    """``app_for(**env)``: a TestClient on a fresh app over the session's site; the same database per test."""
    clients = []

    def make(**env: str) -> TestClient:
        environment = {"SITE_DIR": str(site.site), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "RATE_LIMIT": "off", **env}
        client = TestClient(create_app(Settings.from_env(environment)), base_url="http://127.0.0.1:8000")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _questions(site) -> list[str]:
    return [q.id for q in load_manifest(site.site).assessments["contract-check"].questions]


def _context(site) -> dict[str, str]:
    """The context question (who the contract is with) answered with its first option."""
    context = load_manifest(site.site).assessments["contract-check"].context
    return {context.id: context.options[0].id} if context else {}


def _json(site, **changes) -> dict:
    return {"answers": {**_context(site), **dict.fromkeys(_questions(site), 1)}, **changes}


def _form(site, **changes) -> dict:
    return {**{f"answer-{q}": str(v) for q, v in _context(site).items()}, **{f"answer-{q}": "1" for q in _questions(site)}, **changes}


def _stored(client) -> int:
    return len(client.app.state.store.all())


# 3. Cross-site form posts


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a foreign page with referrer: no-referrer
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},  # a sibling host is another origin
        {"Sec-Fetch-Site": "cross-site"},  # no Origin at all, but the browser says where from
        {"Origin": "http://127.0.0.1:8000.evil.example"},  # not an origin that can be parsed
        {"Origin": "http://evil.example"},
    ],
)
def test_cross_site_form_posts_are_refused(app_for, site, headers):
    client = app_for()
    response = client.post(ENDPOINT, data=_form(site, email="victim@example.org", consent="yes"), headers=headers)
    assert response.status_code == 403, response.text
    assert _stored(client) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # privacy settings on our own page
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
        {},  # no browser (curl): nobody can be made to post through it
    ],
)
def test_own_and_non_browser_posts_are_taken(app_for, site, headers):
    client = app_for()
    assert client.post(ENDPOINT, data=_form(site), headers=headers).status_code == 200
    assert _stored(client) == 1


def test_the_allowed_cross_origin_deployment_still_works(app_for, site):
    client = app_for(CORS_ORIGINS="https://static.example.nl")
    response = client.post(ENDPOINT, json=_json(site), headers={"Origin": "https://static.example.nl", "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "https://static.example.nl"


@pytest.mark.browser
def test_a_foreign_pages_self_submitting_form_is_refused_in_chromium(live_server, browser, tmp_path):
    """The attack as it was found: another site (localhost is another site than 127.0.0.1)
    with ``referrer: no-referrer`` makes Chromium send ``Origin: null``."""
    import http.server
    import threading

    base_url, database = live_server
    questions = json.loads(httpx.get(f"{base_url}/{ARTICLE}/", timeout=10).text.split("data-kb-data", 1)[1].split(">", 1)[1].split("</script>", 1)[0])[
        "questions"
    ]
    fields = "".join(f'<input name="answer-{q["id"]}" value="2">' for q in questions)
    context = json.loads(httpx.get(f"{base_url}/{ARTICLE}/", timeout=10).text.split("data-kb-data", 1)[1].split(">", 1)[1].split("</script>", 1)[0])["context"]
    fields += f'<input name="answer-{context["id"]}" value="{context["options"][0]}">' if context else ""
    evil = (
        '<!doctype html><html lang="en"><head><meta name="referrer" content="no-referrer"><title>evil</title></head><body>'
        f'<form method="post" action="{base_url}{ENDPOINT}">{fields}<input name="email" value="victim@example.org">'
        '<input name="consent" value="yes"></form><script>document.forms[0].submit()</script></body></html>'
    )
    (tmp_path / "index.html").write_text(evil, encoding="utf-8")
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path))
    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    before = httpx.get(f"{base_url}/healthz", timeout=10).status_code
    context = browser.new_context()
    seen = []
    try:
        page = context.new_page()
        page.on("request", lambda request: request.method == "POST" and seen.append(request.headers))
        with page.expect_navigation(url=f"{base_url}{ENDPOINT}") as navigation:
            page.goto(f"http://localhost:{foreign.server_address[1]}/")
        assert navigation.value.status == 403
    finally:
        context.close()
        foreign.shutdown()
    assert before == 200
    assert seen and seen[0].get("origin") == "null"  # the attack as found: Origin says nothing
    import sqlite3

    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM submissions WHERE email = 'victim@example.org'").fetchone()[0] == 0


# 7. One rule for text in every field


@pytest.mark.parametrize("text", ["Ada\x85Lovelace", "Ada\u2028Lovelace", "Ada\u2029", "\u202eecalevoL adA", "Ada\u2066x\u2069", "Ada\x9b"])
@pytest.mark.parametrize("field", ["name", "organisation", "message"])
def test_c1_controls_separators_and_bidi_overrides_are_refused_in_every_field(app_for, site, text, field):
    client = app_for()
    as_json = client.post(ENDPOINT, json=_json(site, consent=True, contact={field: text}))
    assert as_json.status_code == 422 and set(as_json.json()["errors"]) == {f"contact.{field}"}
    as_form = client.post(ENDPOINT, data=_form(site, consent="yes", **{field: text}), headers={"Accept": "application/json"})
    assert as_form.status_code == 422
    assert _stored(client) == 0


# Issue 25, finding 9: marks, invisible and blank characters the rule let through (the
# Unicode format characters, category Cf, and the Hangul fillers)
INVISIBLE = ["Ada\u200fLovelace", "Ada\u200eLovelace", "Ada\u061cLovelace", "Ada\u200dLovelace", "\ufeffAda", "Ada\U000e0041", "\u3164", "Ada\ufff9x\ufffb"]


@pytest.mark.parametrize("text", INVISIBLE)
@pytest.mark.parametrize("field", ["name", "organisation"])
def test_invisible_and_direction_marks_are_refused_in_a_name(app_for, site, text, field):
    client = app_for()
    as_json = client.post(ENDPOINT, json=_json(site, consent=True, contact={field: text}))
    assert as_json.status_code == 422 and set(as_json.json()["errors"]) == {f"contact.{field}"}
    assert _stored(client) == 0


@pytest.mark.parametrize("text", [t for t in INVISIBLE if "\u200d" not in t])
def test_invisible_and_direction_marks_are_refused_in_a_message(app_for, site, text):
    client = app_for()
    assert client.post(ENDPOINT, json=_json(site, consent=True, contact={"message": text})).status_code == 422


def test_a_message_keeps_the_joiners_of_emoji_and_persian(app_for, site):
    client = app_for()
    message = "Groet van ons team \U0001f469\u200d\U0001f4bb, en \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert client.post(ENDPOINT, json=_json(site, consent=True, contact={"message": message})).status_code == 201
    assert client.app.state.store.all()[0].message == message


def test_ordinary_text_with_accents_and_lines_is_kept(app_for, site):
    client = app_for()
    message = "Graag een gesprek.\nMet vriendelijke groet, Zoë — ‘t Hart"
    assert client.post(ENDPOINT, json=_json(site, consent=True, contact={"name": "Zoë ’t Hart", "message": message})).status_code == 201
    assert client.app.state.store.all()[0].message == message


# 8. Smaller findings


def test_mistakes_do_not_count_against_the_rate_limit(app_for, site):
    client = app_for(RATE_LIMIT="2/60")
    for _ in range(5):
        assert client.post(ENDPOINT, data={"answer-nonsense": "1"}).status_code == 422
    assert client.post(ENDPOINT, data=_form(site)).status_code == 200
    assert client.post(ENDPOINT, data=_form(site)).status_code == 200
    assert client.post(ENDPOINT, data=_form(site)).status_code == 429
    assert _stored(client) == 2


def test_json_that_names_a_key_twice_is_refused(app_for, site):
    client = app_for()
    body = json.dumps(_json(site))[:-1] + ', "consent": false, "consent": true}'
    response = client.post(ENDPOINT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert _stored(client) == 0


def test_invalid_utf8_in_a_multipart_form_is_refused_not_stored_as_latin1(app_for, site):
    client = app_for()
    fields = {key: (None, value.encode()) for key, value in _form(site, consent="yes").items()}
    fields["name"] = (None, b"Andr\xe9")  # Latin-1, not UTF-8
    response = client.post(ENDPOINT, files=fields, headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert _stored(client) == 0


def test_json_in_another_encoding_than_utf8_is_refused(app_for, site):
    client = app_for()
    response = client.post(ENDPOINT, content=json.dumps(_json(site)).encode("utf-16"), headers={"Content-Type": "application/json"})
    assert response.status_code == 422


# 2. and 6. The database under the server's feet


def test_submissions_after_the_database_file_was_deleted_are_kept(site, tmp_path):
    database = tmp_path / "var" / "kb.sqlite3"
    body = _json(site)
    server, base_url = start_server(site.site, database)
    try:
        assert httpx.post(base_url + ENDPOINT, json=body, timeout=10).status_code == 201
        for leftover in database.parent.glob("kb.sqlite3*"):
            leftover.unlink()  # `make clean` while `make serve` runs
        acknowledged = [httpx.post(base_url + ENDPOINT, json=body, timeout=10) for _ in range(10)]
    finally:
        server.stop()
    assert [reply.status_code for reply in acknowledged] == [201] * 10
    server, base_url = start_server(site.site, database)
    server.stop()
    import sqlite3

    with sqlite3.connect(database) as db:
        ids = {row[0] for row in db.execute("SELECT public_id FROM submissions")}
    assert {reply.json()["id"] for reply in acknowledged} <= ids


def test_a_connection_that_could_not_write_is_opened_again(app_for, site):
    """Stand-in: as root a file system cannot be made read-only here (no mount rights), so
    the connection is made read-only with SQLite's own ``query_only``, which fails
    writes the same way a read-only file does."""
    client = app_for()
    store = client.app.state.store
    store.run_sql("PRAGMA query_only = ON")
    assert client.post(ENDPOINT, json=_json(site)).status_code == 503
    assert client.post(ENDPOINT, json=_json(site)).status_code == 201  # the file is writable: no restart needed
    assert _stored(client) == 1


# The health check


def test_healthz_says_what_fails(app_for, site, tmp_path):
    client = app_for()
    client.app.state.health.fresh = 0  # each call checks anew (a result is answered again for HEALTH_FRESH seconds)
    ok = client.get("/healthz")
    assert ok.status_code == 200 and ok.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "manifest": "ok"}}
    assert ok.headers["cache-control"] == "no-store"
    manifest = site.site / MANIFEST_PATH
    moved = manifest.with_name("moved.json")
    manifest.rename(moved)
    try:
        failing = client.get("/healthz")
    finally:
        moved.rename(manifest)
    assert failing.status_code == 503
    assert failing.json()["checks"]["manifest"] == "failing"
    assert str(site.site) not in failing.text  # the reasons go to the log, not to the world


def test_a_database_that_cannot_be_written_is_reported_at_start(tmp_path):
    """Stand-in for a read-only file system (see above): SQLite's ``query_only``."""
    from kennisbank.server.db.store import StoreError, open_store

    store = open_store(f"sqlite:///{tmp_path / 'kb.sqlite3'}", tmp_path)
    store.check_writable()
    store.run_sql("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match=r"kb.sqlite3: the database cannot be written .*Fix: check the file system"):
        store.check_writable()
    store.check_writable()  # opened again: writable once more
    store.close()


# 1. Slow clients


def _slow_sockets(base_url: str, count: int, source: str = "127.0.0.1") -> list:
    """``count`` slowloris sockets from ``source``: each sends half a request line, and then nothing."""
    import socket

    host, port = base_url.removeprefix("http://").split(":")
    made = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5, source_address=(source, 0))
        sock.sendall(b"GET / HTT")
        made.append(sock)
    return made


def test_slow_clients_are_cut_off_and_cannot_take_the_server_down(site, tmp_path):
    """1,000 slowloris sockets against a server whose connection cap (150) is far below
    them: each is refused at once or cut off after REQUEST_TIMEOUT, a normal client
    still gets its page, and the log says so a few times, not thousands."""

    log_file = tmp_path / "server.log"
    with open(log_file, "w") as output:
        # every client's share as large as the whole: the cap on all connections is what is tested here
        server = LocalServer(site.site, tmp_path / "kb.sqlite3", output=output, REQUEST_TIMEOUT="2", MAX_CONNECTIONS="150", MAX_CLIENT_CONNECTIONS="100000")
        base_url = server.start()
        slow = []
        try:
            slow += _slow_sockets(base_url, 1000)
            deadline = time.monotonic() + 15
            served = None
            while time.monotonic() < deadline:
                try:
                    served = httpx.get(base_url + "/", timeout=3)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            assert served is not None and served.status_code == 200
            time.sleep(2.5)  # past REQUEST_TIMEOUT: every slow socket has been closed
            closed = 0
            for sock in slow:
                sock.settimeout(0.5)
                try:
                    data = sock.recv(200)  # b"" once the server closed it
                except ConnectionResetError:
                    data = b""  # refused by the cap: aborted
                except TimeoutError:
                    data = b"still open"
                closed += data == b"" or data.startswith(b"HTTP/1.1 408")
            assert closed == len(slow)
        finally:
            for sock in slow:
                sock.close()
            server.stop()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert any("REQUEST_TIMEOUT" in line for line in lines) and any("MAX_CONNECTIONS" in line for line in lines)
    assert len(lines) < 40, lines[:40]


def test_one_clients_slow_sockets_leave_the_other_clients_their_connections(site, tmp_path):
    """Issue 25, finding 6: 1,000 slowloris sockets from one address (127.0.0.2) against a server
    reached directly. Before, they took every one of the 150 connections until REQUEST_TIMEOUT cut
    them off, and a normal client was refused. Now that address holds at most its share (10 still
    sending a request, half of MAX_CLIENT_CONNECTIONS), and every request of another (127.0.0.1)
    is served at the first try. The sockets connect before the normal client does, and the kernel
    hands them to the server in that order, so the test waits for no timer."""

    log_file = tmp_path / "server.log"
    with open(log_file, "w") as output:
        server = LocalServer(site.site, tmp_path / "kb.sqlite3", output=output, REQUEST_TIMEOUT="60", MAX_CONNECTIONS="150", MAX_CLIENT_CONNECTIONS="20")
        base_url = server.start()
        slow = []
        try:
            slow += _slow_sockets(base_url, 1000, source="127.0.0.2")
            with httpx.Client(base_url=base_url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
                statuses = [client.get("/").status_code for _ in range(10)]  # a new connection each, after every slow one
            assert statuses == [200] * 10
            held = 0
            for sock in slow:
                sock.settimeout(0.2)
                try:
                    held += sock.recv(200) != b""  # b"": closed by the server
                except ConnectionResetError:
                    pass  # refused: aborted at once
                except TimeoutError:
                    held += 1  # still open, waiting for the rest of its request
            assert held == 10
        finally:
            for sock in slow:
                sock.close()
            server.stop()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert any("MAX_CLIENT_CONNECTIONS / 2" in line for line in lines)
    assert len(lines) < 40, lines[:40]


def test_the_connection_cap_fits_the_open_file_limit(monkeypatch):
    import resource

    from kennisbank.server.web.serving import SPARE_FILES, connection_cap

    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    assert connection_cap(1000) == (1024 - SPARE_FILES) // 2 == 480  # a socket and a file each (issue 25, finding 7): 960 before
    assert connection_cap(100) == 100
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert connection_cap(5000) == 5000


def test_a_repeated_log_message_passes_once_per_interval_with_a_count():
    import logging

    from kennisbank.server.web.serving import RepeatFilter

    now = [0.0]
    repeat = RepeatFilter(10, clock=lambda: now[0])
    record = lambda: logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource", None, None)
    passed = [repeat.filter(record()) for _ in range(1000)]
    assert passed.count(True) == 1
    now[0] = 11.0
    later = record()
    assert repeat.filter(later) and "999 more like it" in later.getMessage()


# 5. and 8. Paths


def test_a_path_segment_over_255_characters_is_a_plain_404(app_for, caplog):
    client = app_for()
    for path in ("/" + "a" * 300, "/en/" + "b" * 256 + "/", "/artikelen/" + "c" * 4000 + ".html"):
        response = client.get(path)
        assert response.status_code == 404, path
    assert "Traceback" not in caplog.text and "a" * 300 not in caplog.text


def test_a_redirect_never_takes_its_location_from_the_host_or_a_line_break(app_for):
    client = app_for()
    for path in ("/artikelen%0a", "/artikelen%0a/", "/artikelen%0d%0aSet-Cookie:x=1", "//evil.example/artikelen"):
        response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        location = response.headers.get("location", "")
        assert "evil.example" not in location and "\n" not in location and "set-cookie" not in {k.lower() for k in response.headers}, (
            path,
            response.status_code,
            location,
        )


def test_forwarded_headers_are_ignored_without_trusted_proxies(site, tmp_path):
    """`kennisbank serve` itself (uvicorn's defaults would believe X-Forwarded-For from
    loopback): one client claiming other addresses keeps one allowance, and a claimed
    https does not make an https Origin its own."""
    server, base_url = start_server(site.site, tmp_path / "kb.sqlite3", RATE_LIMIT="1/60")
    try:
        first = httpx.post(base_url + ENDPOINT, data=_form(site), headers={"X-Forwarded-For": "203.0.113.1"}, timeout=10)
        second = httpx.post(base_url + ENDPOINT, data=_form(site), headers={"X-Forwarded-For": "203.0.113.2"}, timeout=10)
        host = base_url.removeprefix("http://")
        https = httpx.post(base_url + ENDPOINT, json=_json(site), headers={"X-Forwarded-Proto": "https", "Origin": f"https://{host}"}, timeout=10)
    finally:
        server.stop()
    assert (first.status_code, second.status_code) == (200, 429)
    assert https.status_code == 403
