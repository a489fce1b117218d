"""Several server processes on one PostgreSQL database behave as one (issue 15).

Real parts only: ``kennisbank serve`` in child processes (two instances side by side, as
behind one proxy, or one with ``--workers 2``), a real PostgreSQL (the ``postgres``
fixture), a real SMTP server (aiosmtpd). And SQLite's refusal of ``--workers 2``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from kennisbank.server.dashboard.auth import hash_password
from kennisbank.server.db.dialects import OUTBOX_LOCK
from kennisbank.server.db.shared_state import SharedRateLimiter, Unavailable, check_connection_budget, database_secret
from kennisbank.server.db.store import open_store
from kennisbank.server.outbox.locks import LockLost, outbox_lock
from kennisbank.server.web.serving import nodelay

from local_server import LocalServer, children, free_port
from support import ENDPOINT, PostgresServer, payload

EMAIL = "consultant@example.org"
PASSWORD = "correct horse battery staple"


def serve(site, database_url: str, **env: str) -> LocalServer:
    """``kennisbank serve`` on ``database_url``, started; stopped by the caller."""
    server = LocalServer(site.site, Path("unused"), DATABASE_URL=database_url, **env)
    server.start()
    return server


@pytest.fixture
def two(site, postgres, request):
    """Two ``kennisbank serve`` instances on one fresh PostgreSQL database: ``(url, [base URLs])``."""
    url = postgres.fresh()
    servers = []
    try:
        for _ in range(2):
            servers.append(serve(site, url, **getattr(request, "param", {})))
        yield url, [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()


def post(base: str, **changes) -> httpx.Response:
    return httpx.post(base + ENDPOINT, json=payload(**changes), timeout=30)


# SQLite is single-process


def test_sqlite_refuses_several_workers_and_names_the_fix(site, tmp_path):
    environment = {**os.environ, "SITE_DIR": str(site.site), "DATABASE_URL": f"sqlite:///{tmp_path / 'kb.sqlite3'}", "PORT": str(free_port())}
    result = subprocess.run([sys.executable, "-m", "kennisbank.cli", "serve", "--workers", "2"], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "WORKERS: 2 server processes cannot share a SQLite database: SQLite mode is single-process" in result.stderr
    assert "DATABASE_URL=postgresql://" in result.stderr
    assert not (tmp_path / "kb.sqlite3").exists()  # refused before anything was opened


# Two instances on one PostgreSQL


@pytest.mark.parametrize("two", [{"RATE_LIMIT": "3/60"}], indirect=True)
def test_the_rate_limit_holds_across_two_instances(two):
    url, (first, second) = two
    statuses = [post(base).status_code for base in (first, second, first, second, first, second)]
    assert statuses[:3] == [201, 201, 201]
    assert statuses[3:] == [429, 429, 429]  # the second instance counts the first one's submissions
    refused = post(first)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    store = open_store(url, Path.cwd())
    try:
        assert store.stats().count == 3
        rows = store.run_sql("SELECT client, at FROM rate_limit_hits")
        key = database_secret(store)
    finally:
        store.close()
    assert len(rows) == 3 and len({client for client, _ in rows}) == 1
    # the keyed hash of the address under the database's key of the day, as computed here; not another address's
    assert {bytes(client) for client, _ in rows} == {hmac.new(key, b"127.0.0.1", hashlib.sha256).digest()}
    assert hmac.new(key, b"127.0.0.2", hashlib.sha256).digest() != bytes(rows[0][0])


@pytest.mark.parametrize("two", [{"LOGIN_ATTEMPTS": "3/900"}], indirect=True)
def test_the_login_lockout_and_sessions_hold_across_two_instances(two):
    url, (first, second) = two
    store = open_store(url, Path.cwd())
    store.add_admin(EMAIL, hash_password(PASSWORD))
    store.close()

    def login(base: str, address: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
        data = {"email": address, "password": password, "next": "/beheer/inzendingen"}
        return (client or httpx).post(base + "/beheer/login", data=data, follow_redirects=False, timeout=30)

    with httpx.Client() as client:
        assert login(first, EMAIL, PASSWORD, client).status_code == 303
        assert client.get(second + "/beheer/inzendingen").status_code == 200  # the session made by the first

    # per address: three failures with three accounts, spread over both, lock the address on both
    assert [login(base, f"nobody{i}@example.org", "wrong").status_code for i, base in enumerate((first, second, first))] == [401, 401, 401]
    assert login(second, "someone.else@example.org", "wrong").status_code == 429
    assert login(second, EMAIL, PASSWORD).status_code == 429  # the right password too: the address waits


def test_an_outbox_job_is_delivered_once_by_two_instances(forwarding_site, postgres):
    messages: list[email.message.EmailMessage] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    url = postgres.fresh()
    smtp = {"NOTIFY": "all", "SMTP_URL": f"smtp://127.0.0.1:{controller.port}", "NOTIFY_TO": "a@example.nl", "NOTIFY_FROM": "b@example.nl"}
    servers = []
    try:
        servers = [serve(forwarding_site, url, **smtp) for _ in range(2)]  # its privacy statement says NOTIFY=all
        ids = [post(servers[index % 2].url).json()["id"] for index in range(10)]
        deadline = time.monotonic() + 60
        while len(messages) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # time for a second delivery of any of them, were there one
    finally:
        for server in servers:
            server.stop()
        controller.stop()
    delivered = [message["Message-ID"].split("<", 1)[1].split(".", 1)[0] for message in messages]
    assert sorted(delivered) == sorted(ids)  # each one, once
    store = open_store(url, Path.cwd())
    try:
        states = store.deliveries(states=("pending", "failed", "sent"))
    finally:
        store.close()
    assert sorted((state.submission, state.state, state.attempts) for state in states) == sorted((i, "sent", 1) for i in ids)


# One instance with --workers 2


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under the server ``pid`` (not its resource tracker or outbox worker)."""
    found = []
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except OSError:
            pass
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_sigkill_of_one_worker_under_load_loses_no_acknowledged_submission(site, postgres):
    url = postgres.fresh()
    server = serve(site, url, WORKERS="2", NOTIFY="off")
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post(ENDPOINT, json=payload())
                except httpx.HTTPError as exc:  # the killed worker's connections
                    failures.append(type(exc).__name__)
                    continue
                if 200 <= response.status_code < 300:
                    acknowledged.append(response.json()["id"])

    try:
        deadline = time.monotonic() + 30
        while len(worker_pids(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = worker_pids(server.process.pid)
        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        # the worker serving most of the load dies (the kernel need not share connections out evenly)
        cpu = {pid: cpu_seconds(pid) for pid in workers}
        time.sleep(1)
        used = {pid: cpu_seconds(pid) - cpu[pid] for pid in workers}
        victim = max(workers, key=used.get)
        (survivor,) = set(workers) - {victim}
        assert used[victim] > 0  # it was serving
        before = len(acknowledged)
        os.kill(victim, signal.SIGKILL)
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join()
        # uvicorn's supervisor starts a worker in the killed one's place
        deadline = time.monotonic() + 30
        while len(worker_pids(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = worker_pids(server.process.pid)
        assert survivor in workers and victim not in workers and len(workers) == 2
        assert post(server.url).status_code == 201
    finally:
        stop.set()
        server.stop()
    assert before > 0 and len(acknowledged) > before  # the load ran before and after the kill

    store = open_store(url, Path.cwd())
    try:
        stored = store.all()
        peers = store.peer_counts(stored[0].definition)
    finally:
        store.close()
    found = {submission.public_id for submission in stored}
    assert set(acknowledged) <= found  # acknowledged equals found
    assert len(found) <= len(acknowledged) + len(failures) + 1  # the rest were cut off before their reply (and the one after)
    # nothing half-written: each stored submission is whole, and counted in the aggregates of the same transaction
    assert all(len(submission.answers) == len(stored[0].answers) and submission.band for submission in stored)
    assert sum(peers[""]) == len(stored)


# The shared rate limit itself


def test_the_shared_rate_limit_keeps_a_keyed_hash_and_forgets_it_after_the_window(postgres):
    store = open_store(postgres.fresh(), Path.cwd())
    limiter = SharedRateLimiter(store, 2, 1)  # 2 per second; its thread sweeps every second
    other = SharedRateLimiter(store, 2, 1, sweep=False)  # another process's: the same secret, the same counts

    def rows() -> list[tuple[bytes, float]]:
        return [(bytes(client), at) for client, at in store.run_sql("SELECT client, at FROM rate_limit_hits")]

    try:
        assert limiter.wait("192.0.2.1") is None
        assert limiter.hit("192.0.2.1") is None and other.hit("192.0.2.1") is None
        assert other.wait("192.0.2.1") == 1 and limiter.hit("192.0.2.1") == 1  # refused: the window is full
        assert limiter.hit("192.0.2.2") is None
        assert len(rows()) == 3 and len(limiter) == 2  # wait() and a refused hit() record nothing
        key = database_secret(store)
        expected = {hmac.new(key, address.encode(), hashlib.sha256).digest() for address in ("192.0.2.1", "192.0.2.2")}
        assert {client for client, _ in rows()} == expected  # keyed hashes computed here, one per address
        assert hmac.new(key, b"192.0.2.3", hashlib.sha256).digest() not in expected
        # a database restart, as the limiter's connection sees it
        store.run_sql("SELECT pg_terminate_backend(:pid)", {"pid": limiter._connection.connection.info.backend_pid})
        assert limiter.hit("192.0.2.1") == 1  # a new connection, the same counts
        time.sleep(2.5)  # past the window, and a sweep after it, with no submission in between
        assert rows() == [] and len(other) == 0
        assert limiter.hit("192.0.2.1") is None
    finally:
        limiter.close()
        store.close()


def test_connections_of_a_socket_bound_as_uvicorn_binds_it_for_workers_send_at_once():
    """uvicorn binds the workers' socket with ``proto`` 0, so asyncio leaves Nagle's algorithm on
    for its connections (a response then waits ~40 ms for the client's delayed ACK);
    :func:`~kennisbank.server.web.serving.nodelay`, called by the protocol, turns it off."""
    from uvicorn.config import Config

    config = Config(app=None, host="127.0.0.1", port=0, workers=2)
    listener = config.bind_socket()
    seen: list[tuple[int, int]] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            before = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            nodelay(transport)
            seen.append((before, sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
            transport.close()

    async def connect_once():
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        while not seen:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    # a thread of its own: another test may have left an event loop running in this one
    thread = threading.Thread(target=asyncio.run, args=(connect_once(),))
    thread.start()
    thread.join(30)
    assert seen == [(0, 1)]


# A database that is away or slow: the limit neither blocks the event loop nor turns into a 500 (review finding 5)


def test_the_shared_rate_limit_gives_up_with_unavailable_when_postgresql_is_stopped():
    server = PostgresServer()  # a server of this test's own, to stop
    stopped = False
    try:
        store = open_store(server.fresh(), Path.cwd())
        limiter = SharedRateLimiter(store, 2, 60, sweep=False)
        try:
            assert limiter.hit("192.0.2.1") is None
            server.stop()
            stopped = True
            for _ in range(2):  # the broken connection, then a new one that is refused
                with pytest.raises(Unavailable, match="could not be checked"):
                    limiter.wait("192.0.2.1")
        finally:
            limiter.close()
            store.close()
    finally:
        if not stopped:
            server.stop()


def test_a_submission_waiting_for_the_shared_limit_blocks_neither_other_requests_nor_for_long(site, postgres):
    url = postgres.fresh()
    server = serve(site, url, RATE_LIMIT="3/60")
    store = open_store(url, Path.cwd())
    try:
        client = hmac.new(database_secret(store), b"127.0.0.1", hashlib.sha256).digest()
        with psycopg.connect(url, autocommit=True) as holder:
            # the lock rate_limit_hit takes for this client, held by another session: the limit's query waits
            holder.execute("BEGIN")
            holder.execute("SELECT pg_advisory_xact_lock(1801613932, ('x' || encode(substr(%s::bytea, 1, 4), 'hex'))::bit(32)::integer)", (client,))
            replies: list[httpx.Response] = []
            sender = threading.Thread(target=lambda: replies.append(post(server.url)))
            sender.start()
            time.sleep(0.5)  # the submission now waits for the lock
            page = httpx.get(server.url + "/", timeout=5)  # served meanwhile: the event loop is not the one waiting
            assert page.status_code == 200
            sender.join(timeout=20)
            holder.execute("ROLLBACK")
        assert replies and replies[0].status_code == 503  # the statement timeout, not a 500 nor a wait without end
        assert post(server.url).status_code == 201  # the lock gone, submissions are taken again
    finally:
        store.close()
        server.stop()


# The login lockout: counted before the password is checked (review finding 6)


@pytest.mark.parametrize("two", [{"LOGIN_ATTEMPTS": "3/900"}], indirect=True)
def test_parallel_logins_across_two_instances_check_at_most_the_limit_of_passwords(two):
    url, (first, second) = two
    store = open_store(url, Path.cwd())
    store.add_admin(EMAIL, hash_password(PASSWORD))
    store.close()

    def login(base: str) -> int:
        data = {"email": EMAIL, "password": "wrong guess", "next": "/beheer/inzendingen"}
        return httpx.post(base + "/beheer/login", data=data, follow_redirects=False, timeout=60).status_code

    statuses: list[int] = []
    threads = [threading.Thread(target=lambda base=base: statuses.append(login(base))) for base in (first, second) * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 3 + [429] * 9  # 12 at once: 3 passwords checked, 9 refused unchecked


def test_the_lockout_counts_an_ipv6_network_as_the_rate_limit_does(postgres):
    from kennisbank.server.dashboard.auth import Lockout
    from kennisbank.server.settings import RateLimit

    store = open_store(postgres.fresh(), Path.cwd())
    try:
        lockout = Lockout(store, RateLimit(3, 900))
        one, same_network, other_network = (lockout.keys(EMAIL, host)[1] for host in ("2001:db8::1", "2001:db8::ffff:2", "2001:db8:0:1::1"))
        assert one == same_network != other_network
        assert one == "address:" + hmac.new(database_secret(store), b"2001:db8::/64", "sha256").hexdigest()[:32]
    finally:
        store.close()


# The client key: rotated, unlogged; address rows go after their window (review finding 7)


def test_the_client_key_is_unlogged_and_a_new_period_deletes_the_old_one(postgres):
    store = open_store(postgres.fresh(), Path.cwd())
    try:
        today = database_secret(store, 1000)
        tomorrow = database_secret(store, 1001)
        assert len(today) == len(tomorrow) == 32 and today != tomorrow
        assert database_secret(store, 1001) == tomorrow  # the same for every caller within the period
        assert [row[0] for row in store.run_sql("SELECT period FROM client_keys ORDER BY period")] == [1001]
        persistence = dict(store.run_sql("SELECT relname, relpersistence FROM pg_class WHERE relname IN ('client_keys', 'rate_limit_hits', 'shared_secrets')"))
        assert persistence == {"client_keys": "u", "rate_limit_hits": "u"}  # unlogged; the lasting key's table is gone
    finally:
        store.close()


def test_failed_logins_are_forgotten_once_outside_the_window(postgres):
    from kennisbank.server.dashboard.auth import Lockout
    from kennisbank.server.settings import RateLimit

    store = open_store(postgres.fresh(), Path.cwd())
    try:
        lockout = Lockout(store, RateLimit(3, 1))
        assert lockout.attempt(lockout.keys(EMAIL, "192.0.2.1"))[0] is None
        assert store.run_sql("SELECT count(*) FROM login_failures WHERE key = :key", {"key": lockout.keys(EMAIL, "192.0.2.1")[1]}) == [(1,)]
        time.sleep(2.1)
        assert lockout.forget() == 3  # the account's row, the address's and the pair's
        assert store.run_sql("SELECT count(*) FROM login_failures") == [(0,)]
    finally:
        store.close()


# The outbox worker's lock (review finding 2)


def test_an_outbox_worker_whose_lock_session_is_terminated_stops(postgres):
    store = open_store(postgres.fresh(), Path.cwd())
    stop = threading.Event()
    outcome: list[object] = []

    def work() -> None:
        try:
            with outbox_lock(store, stop) as locked:
                outcome.append(locked)
                stop.wait(30)  # as outbox.work does: until stopped
        except LockLost as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        for _ in range(50):
            if outcome:
                break
            time.sleep(0.1)
        assert outcome == [True]
        holders = store.run_sql(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = :lock", {"lock": OUTBOX_LOCK}
        )
        assert len(holders) == 1
        store.run_sql("SELECT pg_terminate_backend(:pid)", {"pid": holders[0][0]})  # a restart or an idle-session killer
        assert stop.wait(10)  # noticed: the worker stops before its next batch
        worker.join(timeout=10)
        assert isinstance(outcome[-1], LockLost)
    finally:
        stop.set()
        worker.join(timeout=10)
        store.close()


# Connections: the workers' pools must fit PostgreSQL's max_connections (review finding 8)


def test_serve_refuses_more_workers_than_postgresql_accepts_connections_and_names_the_fix(site, postgres):
    url = postgres.fresh()
    store = open_store(url, Path.cwd())
    try:
        check_connection_budget(store, 2)  # 27 of the test server's 200: accepted
        with pytest.raises(ValueError, match=r"max_connections is 200"):
            check_connection_budget(store, 64)
    finally:
        store.close()
    environment = {**os.environ, "SITE_DIR": str(site.site), "DATABASE_URL": url, "PORT": str(free_port())}
    result = subprocess.run([sys.executable, "-m", "kennisbank.cli", "serve", "--workers", "64"], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "WORKERS: 64 worker process(es) may open 585 connections to PostgreSQL" in result.stderr
    assert "Fix: run at most 20 worker(s) (--workers 20)" in result.stderr
