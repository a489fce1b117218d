"""A submission reaches the consultant: email and webhook through an outbox that loses nothing.

Real parts: an SMTP server (aiosmtpd) and an HTTP receiver on loopback, the server
as ``kennisbank serve`` in a child process, SIGKILL for the crash."""

from __future__ import annotations

import asyncio
import email
import email.policy
import http.server
import mailbox
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from kennisbank.manifest import load_manifest
from kennisbank.server.channels import NotifySettings
from kennisbank.server.db.store import Submission, new_public_id, open_store, utc_now
from kennisbank.server.intake.definitions import Definitions
from kennisbank.server.outbox import notify
from kennisbank.server.outbox import worker as outbox_module
from kennisbank.server.outbox.notify import email_message
from kennisbank.server.outbox.worker import BATCH, NICE, Outbox

from local_server import LocalServer, children, free_port
from support import CONTEXT, ENDPOINT, QUESTIONS, payload
from support import answers as all_answers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEAD = {"name": "Ada Lovelace", "email": "Ada@Example.org", "organisation": "Analytical Engines BV", "message": "Bel me maar.\nGraag na 14:00."}


# Real peers


class Sink:
    """An aiosmtpd handler that keeps every message it accepted; ``hold`` makes it stall
    in DATA without ever answering (a mail server that hangs mid-transaction)."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.hold = False
        self.holding = threading.Event()
        self.release = threading.Event()  # set: a held DATA is answered after all
        self.dropped = threading.Event()  # a sender gave up on a held DATA (closed its connection)

    async def handle_DATA(self, server, session, envelope):
        if self.hold:
            self.holding.set()
            try:
                while not self.release.is_set():  # never answers unless released: the sender dies waiting
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client hangs up
                self.dropped.set()
                raise
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller
    sink.release.set()
    controller.stop()


class Receiver(http.server.BaseHTTPRequestHandler):
    statuses: list[int] = []
    seen: list[tuple[dict, bytes, int]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        status = self.statuses.pop(0) if self.statuses else 200
        self.seen.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver():
    handler = type("Handler", (Receiver,), {"statuses": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hooks/kennisbank"
    server.shutdown()


def _wait(condition, seconds: float = 15.0, what: str = "it") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds} s for {what}")


def _server(site, tmp_path, **env) -> LocalServer:
    log = open(tmp_path / "server.log", "a")
    return LocalServer(site.site, tmp_path / "kb.sqlite3", output=log, **env)


def _smtp_env(controller) -> dict[str, str]:
    return {"SMTP_URL": f"smtp://127.0.0.1:{controller.port}", "NOTIFY_TO": "advies@example.nl", "NOTIFY_FROM": "kennisbank@example.nl"}


def _mixed() -> dict[str, int]:
    return CONTEXT | {q: (2 if index % 3 else 0) for index, q in enumerate(QUESTIONS)}


# Email through a real SMTP server


def test_a_lead_arrives_as_a_message_with_the_right_fields(site, tmp_path, smtp):
    sink, controller = smtp
    server = _server(site, tmp_path, **_smtp_env(controller))
    base_url = server.start()
    try:
        reply = httpx.post(base_url + ENDPOINT, json=payload(answers=_mixed(), lang="en", contact=LEAD, consent=True, discuss=True), timeout=10).json()
        _wait(lambda: sink.messages, what="the email")
    finally:
        server.stop()
    assert reply["follow_up"] is True
    [message] = sink.messages
    manifest = load_manifest(site.site)
    assessment = manifest.assessments["contract-check"]
    assert message["Message-ID"] == f"<{reply['id']}.submission@example.nl>"
    assert message["To"] == "advies@example.nl" and message["From"] == "kennisbank@example.nl"
    assert message["Reply-To"].addresses[0].addr_spec == "ada@example.org"
    band = next(band for band in assessment.bands if band.id == reply["band"]["id"])
    assert message["Subject"] == f"Inzending met contactgegevens: Analytical Engines BV (score {reply['score']}, {band.title['nl']})"
    assert message.is_multipart() and [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"Score: {reply['score']} / 100" in text
    assert reply["id"] in text and "Ada Lovelace" in text and "Analytical Engines BV" in text
    assert "Wil de uitslag bespreken: ja" in text and "Bel me maar." in text
    for theme in assessment.themes:
        assert theme.title["nl"] in text
    weakest = [q for q in assessment.questions if _mixed()[q.id] < 2]
    assert weakest and all(q.text["nl"] in text for q in weakest[:1])
    assert "Ada Lovelace" in html and "<script" not in html


def test_html_and_formulas_from_a_reader_are_inert_in_the_email(site, tmp_path):
    manifest = load_manifest(site.site)
    evil = Submission(
        public_id=new_public_id(),
        created_at=utc_now(),
        assessment="contract-check",
        version=1,
        lang="nl",
        answers=all_answers(1),
        score=50,
        band="gemengd",
        consent=True,
        name="<script>alert(1)</script>",
        email="x@example.org",
        organisation='=HYPERLINK("http://evil")',
        message="<b>hi</b>",
        discuss=True,
    )
    message = email_message(evil, manifest.assessments["contract-check"], manifest.site, NotifySettings(to="a@example.nl", sender="b@example.nl"))
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>hi</b>" not in html


@pytest.mark.parametrize("lead", [True, False])
def test_not_enough_to_judge_is_named_by_its_title_and_pronounces_no_score_in_the_email(site, lead):
    """Issue 22: the email of a result with too many "don't know" said "0 / 100" beside it."""
    from kennisbank.assessment.model import NO_VERDICT, UNKNOWN

    manifest = load_manifest(site.site)
    assessment = manifest.assessments["contract-check"]
    anonymous = {} if lead else {"consent": False, "name": None, "email": None, "discuss": None}
    unsure = _lead(answers={**CONTEXT, **dict.fromkeys(QUESTIONS, UNKNOWN)}, score=0, band=NO_VERDICT, **anonymous)
    message = email_message(unsure, assessment, manifest.site, NotifySettings(to="a@example.nl", sender="b@example.nl"))
    title = assessment.verdict.insufficient.title["nl"]
    assert message["Subject"].endswith(f"(score –, {title})")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"Score: – ({title})" in text and f"<strong>–</strong> ({title})" in html
    assert "0 / 100" not in text.split("\n\n")[1] and NO_VERDICT not in text + html


def test_no_contact_data_without_consent_when_everything_is_sent(forwarding_site, tmp_path, smtp):
    sink, controller = smtp
    # a site whose privacy statement says every submission is passed on: the server serves no other with NOTIFY=all
    server = _server(forwarding_site, tmp_path, NOTIFY="all", **_smtp_env(controller))
    base_url = server.start()
    try:
        reply = httpx.post(base_url + ENDPOINT, json=payload(contact=LEAD, consent=False, discuss=True), timeout=10).json()
        _wait(lambda: sink.messages, what="the email")
    finally:
        server.stop()
    [message] = sink.messages
    assert message["Reply-To"] is None
    assert message["Subject"].startswith("Nieuwe anonieme inzending")
    everything = message.as_string()
    assert reply["id"] in everything
    for value in ("Ada", "ada@example.org", "Analytical", "Bel me"):
        assert value not in everything


def test_only_leads_by_default(site, tmp_path, smtp):
    sink, controller = smtp
    server = _server(site, tmp_path, **_smtp_env(controller))
    base_url = server.start()
    try:
        assert httpx.post(base_url + ENDPOINT, json=payload(), timeout=10).status_code == 201
        time.sleep(1.0)
    finally:
        server.stop()
    assert sink.messages == []
    with sqlite3.connect(tmp_path / "kb.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_without_smtp_url_mail_goes_into_a_maildir(site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as make serve in a fresh clone: var/ beside it
    server = _server(site, tmp_path)
    base_url = server.start()
    try:
        reply = httpx.post(base_url + ENDPOINT, json=payload(contact=LEAD, consent=True), timeout=10).json()
        _wait(lambda: list((tmp_path / "var" / "mail" / "new").glob("*")), what="the Maildir message")
    finally:
        server.stop()
    [stored] = list(mailbox.Maildir(tmp_path / "var" / "mail", create=False))
    assert reply["id"] in stored["Message-ID"]
    assert "Maildir" in (tmp_path / "server.log").read_text(encoding="utf-8")  # and it says so at start


# The outbox: retries, crashes, erasure


BACKENDS = ("sqlite", "postgresql")
"""The tests of the outbox in this process (``outbox_for``) run on both stores; those of the
worker process and its lock file on SQLite, the server's default."""


@pytest.fixture
def outbox_for(site, tmp_path, database_url):
    """``outbox_for(settings)``: a real store and the outbox worker's delivery step, in this process."""
    store = open_store(database_url, tmp_path)
    definitions = Definitions(store, site.site, load_manifest(site.site))
    yield lambda settings: (store, lambda: Outbox(store, definitions, settings))
    store.close()


def _lead(**changes) -> Submission:
    """A lead scored by the current definition (``definition=None``)."""
    fields = {
        "public_id": new_public_id(),
        "created_at": utc_now(),
        "assessment": "contract-check",
        "version": 1,
        "lang": "nl",
        "answers": all_answers(1),
        "score": 50,
        "band": "gemengd",
        "consent": True,
        "name": "Ada",
        "email": "ada@example.org",
        "discuss": True,
    }
    return Submission(**{**fields, **changes})


def _deliver_due(store, make_outbox, later: float = 0) -> int:
    """What the worker does when ``later`` seconds have passed: deliver what is due then."""
    due = store.due_deliveries(utc_now() + timedelta(seconds=later))
    if due:
        make_outbox().deliver_all(due)
    return len(due)


def test_with_the_mail_server_down_it_is_accepted_retried_and_delivered_once_it_is_up(outbox_for):
    port = free_port()
    settings = NotifySettings(smtp_url=f"smtp://127.0.0.1:{port}", to="advies@example.nl", sender="kennisbank@example.nl")
    store, outbox = outbox_for(settings)
    lead = _lead()
    store.add(lead, settings.channels(lead))
    assert _deliver_due(store, outbox) == 1  # refused: nothing listens
    [state] = store.deliveries()
    assert state.state == "pending" and state.attempts == 1 and "ConnectionRefused" in state.last_error
    assert timedelta(seconds=25) < state.next_attempt - utc_now() < timedelta(seconds=35)  # backoff, not a loop
    assert _deliver_due(store, outbox) == 0  # not due yet
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert _deliver_due(store, outbox, later=60) == 1
    finally:
        controller.stop()
    assert len(sink.messages) == 1 and lead.public_id in sink.messages[0]["Message-ID"]
    assert store.deliveries(("sent",))[0].attempts == 2
    assert _deliver_due(store, outbox, later=3600) == 0  # sent: never again


def test_a_sigkill_between_commit_and_send_delivers_exactly_once_after_restart(site, tmp_path, smtp):
    sink, controller = smtp
    sink.hold = True  # the mail server takes the message but never confirms it
    server = _server(site, tmp_path, **_smtp_env(controller))
    base_url = server.start()
    reply = httpx.post(base_url + ENDPOINT, json=payload(contact=LEAD, consent=True), timeout=10)
    assert reply.status_code == 201
    assert sink.holding.wait(15), "the server began to send"
    server.kill()  # SIGKILL: no clean-up, the delivery is neither sent nor marked
    sink.hold = False
    server.start()  # the outbox takes every pending delivery at start
    try:
        _wait(lambda: sink.messages, what="the email after the restart")
        time.sleep(1.0)
    finally:
        server.stop()
    ids = [message["Message-ID"] for message in sink.messages]
    assert ids == [f"<{reply.json()['id']}.submission@example.nl>"]


def test_an_erased_persons_pending_delivery_never_goes_out(outbox_for):
    port = free_port()
    settings = NotifySettings(smtp_url=f"smtp://127.0.0.1:{port}", to="advies@example.nl", sender="kennisbank@example.nl")
    store, outbox = outbox_for(settings)
    lead, other = _lead(), _lead(email="bob@example.org")
    store.add(lead, settings.channels(lead))
    store.add(other, settings.channels(other))
    assert len(store.deliveries()) == 2
    assert store.erase_email("ADA@example.org") == 1
    assert [d.submission for d in store.deliveries()] == [other.public_id]  # erased with the submission
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _deliver_due(store, outbox, later=60)
    finally:
        controller.stop()
    assert [m["Reply-To"].addresses[0].addr_spec for m in sink.messages] == ["bob@example.org"]


def test_failed_for_good_stays_visible_and_can_be_retried(outbox_for, webhook_receiver):
    handler, url = webhook_receiver
    handler.statuses.extend([410])
    settings = NotifySettings(webhook_url=url, webhook_secret=SECRET)
    store, outbox = outbox_for(settings)
    lead = _lead()
    store.add(lead, ["webhook"])
    _deliver_due(store, outbox)
    [state] = store.deliveries()
    assert state.state == "failed" and "410" in state.last_error
    assert _deliver_due(store, outbox, later=86400) == 0  # 410 stops retrying
    assert store.retry_deliveries() == 1
    _deliver_due(store, outbox)
    assert store.deliveries(("sent",))[0].submission == lead.public_id
    assert [status for _, _, status in handler.seen] == [410, 200]


# The worker: a process of its own, woken by commits


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _maildir_ids(folder: Path) -> list[str]:
    if not (folder / "new").is_dir():
        return []
    return sorted(message["Message-ID"] for message in mailbox.Maildir(folder, create=False))


def test_the_server_sends_from_a_worker_process_of_lower_priority_that_ends_with_it(site, tmp_path, smtp):
    sink, controller = smtp
    server = _server(site, tmp_path, **_smtp_env(controller))
    server.start()
    try:
        _wait(lambda: "the outbox worker delivers" in (tmp_path / "server.log").read_text(), seconds=60, what="the outbox worker")
        [worker] = children(server.process.pid)
        assert "outbox work" in Path(f"/proc/{worker}/cmdline").read_text().replace("\0", " ")
        assert os.getpriority(os.PRIO_PROCESS, worker) == min(19, os.getpriority(os.PRIO_PROCESS, server.process.pid) + NICE)  # 19: the lowest
        assert os.getpgid(worker) == worker  # a Ctrl+C in the terminal reaches the server only, which stops it
        reply = httpx.post(server.url + ENDPOINT, json=payload(contact=LEAD, consent=True), timeout=10).json()
        _wait(lambda: sink.messages, what="the email")
    finally:
        server.kill()  # SIGKILL: the server cannot stop it
    _wait(lambda: not _alive(worker), what="the worker to end with the server")
    assert [message["Message-ID"] for message in sink.messages] == [f"<{reply['id']}.submission@example.nl>"]


def test_the_worker_takes_a_backlog_batch_after_batch_and_wakes_at_a_commit_of_another_connection(outbox_for, tmp_path, database_url, monkeypatch):
    monkeypatch.setattr(outbox_module, "IDLE_LOOK", 3600.0)  # only a full batch or a commit may make it read again
    settings = NotifySettings(maildir=tmp_path / "mail", to="advies@example.nl", sender="kennisbank@example.nl")
    store, make_outbox = outbox_for(settings)
    backlog = [_lead() for _ in range(2 * BATCH + 3)]  # waiting when the worker starts
    for lead in backlog:
        store.add(lead, settings.channels(lead))
    stop = threading.Event()
    worker = threading.Thread(target=make_outbox().work, args=(stop,))
    worker.start()
    server = open_store(database_url, tmp_path)  # the server's own connection
    try:
        _wait(lambda: len(_maildir_ids(tmp_path / "mail")) == len(backlog), seconds=60, what="the whole backlog")
        late = _lead()
        server.add(late, settings.channels(late))
        _wait(lambda: len(_maildir_ids(tmp_path / "mail")) == len(backlog) + 1, what="the submission after the backlog")
    finally:
        stop.set()
        worker.join()
        server.close()
    expected = sorted(f"<{lead.public_id}.submission@example.nl>" for lead in [*backlog, late])
    assert _maildir_ids(tmp_path / "mail") == expected
    assert {state.state for state in store.deliveries(("pending", "sent", "failed"))} == {"sent"}


def test_the_worker_holds_back_while_submissions_keep_arriving_but_never_longer_than_its_bound(outbox_for, tmp_path, database_url, monkeypatch):
    """On a 2-core machine a worker sending during a burst of submissions cost the receiver
    26-36 % of its throughput even at nice +19: it sends in the first quiet poll instead,
    or after LONGEST_DEFER regardless."""
    monkeypatch.setattr(outbox_module, "LONGEST_DEFER", 3.0)
    settings = NotifySettings(maildir=tmp_path / "mail", to="advies@example.nl", sender="kennisbank@example.nl")
    store, make_outbox = outbox_for(settings)
    stop, keep_committing = threading.Event(), threading.Event()
    worker = threading.Thread(target=make_outbox().work, args=(stop,))
    worker.start()
    server = open_store(database_url, tmp_path)  # the server's own connection, committing as submissions arrive
    sent = []

    def arrivals() -> None:  # a commit every 50 ms, well inside one poll (0.25 s), until told to stop
        while keep_committing.is_set():
            lead = _lead()
            server.add(lead, settings.channels(lead))
            sent.append(lead)
            time.sleep(0.05)

    keep_committing.set()
    burst = threading.Thread(target=arrivals)
    try:
        time.sleep(0.6)  # the worker has started and taken the (empty) outbox
        burst.start()
        time.sleep(1.5)
        assert _maildir_ids(tmp_path / "mail") == [], "mail was sent while submissions kept arriving"
        _wait(lambda: len(_maildir_ids(tmp_path / "mail")) > 0, seconds=10, what="mail after LONGEST_DEFER although submissions keep arriving")
        keep_committing.clear()
        burst.join()
        _wait(lambda: len(_maildir_ids(tmp_path / "mail")) == len(sent), seconds=10, what="every mail once it is quiet")
    finally:
        keep_committing.clear()
        if burst.is_alive():
            burst.join()
        stop.set()
        worker.join()
        server.close()
    assert _maildir_ids(tmp_path / "mail") == sorted(f"<{lead.public_id}.submission@example.nl>" for lead in sent)


def test_outbox_work_by_hand_one_worker_per_database_and_the_next_takes_over(site, tmp_path):
    database, mail = tmp_path / "kb.sqlite3", tmp_path / "mail"
    store = open_store(f"sqlite:///{database}", tmp_path)
    settings = NotifySettings(maildir=mail)
    first_lead, second_lead = _lead(), _lead()
    store.add(first_lead, settings.channels(first_lead))
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SITE_DIR": str(site.site), "MAILDIR": str(mail)}

    def work(log: Path) -> subprocess.Popen:
        output = log.open("w")
        return subprocess.Popen([sys.executable, "-m", "kennisbank.cli", "outbox", "work"], env=environment, stdout=output, stderr=output)

    first = work(tmp_path / "first.log")
    second = None
    try:
        _wait(lambda: len(_maildir_ids(mail)) == 1, seconds=60, what="the first worker's delivery")  # a start on a busy machine
        second = work(tmp_path / "second.log")
        _wait(lambda: "another outbox worker delivers from this database" in (tmp_path / "second.log").read_text(), seconds=60, what="the second to wait")
        first.send_signal(signal.SIGKILL)  # the lock goes with it
        first.wait()
        store.add(second_lead, settings.channels(second_lead))
        _wait(lambda: len(_maildir_ids(mail)) == 2, seconds=60, what="the second worker's delivery")
        second.terminate()
        assert second.wait(10) == 0  # SIGTERM: stops when its batch is done, not an error
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        store.close()
    assert _maildir_ids(mail) == sorted(f"<{lead.public_id}.submission@localhost>" for lead in (first_lead, second_lead))


def test_the_kept_header_classes_build_the_message_the_standard_policy_builds(site, monkeypatch):
    manifest = load_manifest(site.site)
    lead = _lead(name="Zoë van 't Hof", organisation="Ærø & Søn B.V.", message="Bel me,\nna 14:00.")
    settings = NotifySettings(to="advies@example.nl", sender="kennisbank@example.nl")

    def built() -> email.message.EmailMessage:
        message = email_message(lead, manifest.assessments["contract-check"], manifest.site, settings, "https://example.nl/beheer/x")
        del message["Date"]  # the time it was built
        return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)

    ours = built()
    monkeypatch.setattr(notify, "POLICY", email.policy.default)
    standard = built()
    assert ours.get_content_type() == standard.get_content_type() == "multipart/alternative"
    assert [item for item in ours.items() if item[0] != "Content-Type"] == [
        item for item in standard.items() if item[0] != "Content-Type"
    ]  # the boundary is random
    assert [(part.get_content_type(), part.get_content()) for part in ours.iter_parts()] == [
        (part.get_content_type(), part.get_content()) for part in standard.iter_parts()
    ]


# The webhook, to a real local receiver


def test_the_webhook_is_signed_and_carries_the_export_row(forwarding_site, tmp_path, webhook_receiver):
    handler, url = webhook_receiver
    # a site whose privacy statement names the CRM: the server serves no other with a WEBHOOK_URL
    server = _server(forwarding_site, tmp_path, WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET, NOTIFY="all")
    base_url = server.start()
    try:
        reply = httpx.post(base_url + ENDPOINT, json=payload(contact=LEAD, consent=True), timeout=10).json()
        _wait(lambda: handler.seen, what="the webhook")
    finally:
        server.stop()
    [(headers, body, status)] = handler.seen
    assert status == 200 and headers["webhook-id"] == reply["id"]
    row = Webhook(SECRET).verify(body, headers)  # raises unless the signature is right
    assert row["id"] == reply["id"] and row["email"] == "ada@example.org" and row["score"] == reply["score"]
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b'"score":', b'"score":1'), headers)
    replayed = {**headers, "webhook-timestamp": str(int((datetime.now(UTC) - timedelta(hours=1)).timestamp()))}
    with pytest.raises(WebhookVerificationError):  # an old timestamp: a replay is detectable
        Webhook(SECRET).verify(body, replayed)


def test_the_webhook_500_then_200_delivers_once(outbox_for, webhook_receiver):
    handler, url = webhook_receiver
    handler.statuses.extend([500])
    store, outbox = outbox_for(NotifySettings(webhook_url=url, webhook_secret=SECRET))
    lead = _lead()
    store.add(lead, ["webhook"])
    _deliver_due(store, outbox)
    assert store.deliveries()[0].state == "pending"
    _deliver_due(store, outbox, later=60)
    assert _deliver_due(store, outbox, later=86400) == 0
    assert [status for _, _, status in handler.seen] == [500, 200]
    assert {headers["webhook-id"] for headers, _, _ in handler.seen} == {lead.public_id}


# What the reader is told


def test_a_mail_server_that_never_answers_delays_no_webhook(outbox_for, smtp, webhook_receiver):
    """Issue 25, finding 8: with an SMTP server that accepts and never answers, the webhooks
    arrived after 31, 61 and 91 s, each behind the 30 s timeout of every mail ahead of it in
    the batch. Each channel has a worker loop of its own now: the webhooks arrive while the
    first mail still hangs in DATA (the sink neither released it nor saw its sender give up)."""
    sink, controller = smtp
    handler, url = webhook_receiver
    sink.hold = True
    settings = NotifySettings(
        smtp_url=f"smtp://127.0.0.1:{controller.port}", to="advies@example.nl", sender="kennisbank@example.nl", webhook_url=url, webhook_secret=SECRET
    )
    store, make_outbox = outbox_for(settings)
    leads = [_lead() for _ in range(3)]
    for lead in leads:
        store.add(lead, settings.channels(lead))
    assert [sorted(settings.channels(lead)) for lead in leads] == [["email", "webhook"]] * 3
    stop = threading.Event()
    worker = threading.Thread(target=make_outbox().work, args=(stop,))
    worker.start()
    try:
        assert sink.holding.wait(30), "the first mail reached DATA"
        # whichever comes first: every webhook, or the mail's sender giving up (SEND_TIMEOUT)
        _wait(lambda: len(handler.seen) == 3 or sink.dropped.is_set(), seconds=120, what="the webhooks or the mail's timeout")
        assert not sink.dropped.is_set(), "the webhooks waited for the hung mail's timeout"
        assert {headers["webhook-id"] for headers, _, _ in handler.seen} == {lead.public_id for lead in leads}
        assert sink.messages == [] and sink.holding.is_set()  # the mail is still hanging
        sink.hold = False
        sink.release.set()  # the mail server answers at last: the mails go too, each once
        _wait(lambda: len(sink.messages) == 3, seconds=60, what="the mails once the server answers")
        _wait(lambda: {state.state for state in store.deliveries(("pending", "sent", "failed"))} == {"sent"}, what="every outcome recorded")
    finally:
        sink.release.set()
        stop.set()
        worker.join()
    assert sorted(message["Message-ID"] for message in sink.messages) == sorted(f"<{lead.public_id}.submission@example.nl>" for lead in leads)
    assert len(handler.seen) == 3 and not sink.dropped.is_set()
    assert [state.attempts for state in store.deliveries(("sent",))] == [1] * 6  # none sent or recorded twice


def test_the_reader_is_told_that_the_consultancy_will_call(site, tmp_path):
    server = _server(site, tmp_path, NOTIFY="off")
    base_url = server.start()
    try:
        as_json = httpx.post(base_url + ENDPOINT, json=payload(contact=LEAD, consent=True, discuss=True), timeout=10).json()
        anonymous = httpx.post(base_url + ENDPOINT, json=payload(), timeout=10).json()
        fields = {f"answer-{q}": "1" for q in QUESTIONS} | {f"answer-{key}": option for key, option in CONTEXT.items()}
        page = httpx.post(base_url + ENDPOINT, data={**fields, "lang": "en", "email": "b@example.org", "consent": "yes", "discuss": "yes"}, timeout=10).text
    finally:
        server.stop()
    assert as_json["follow_up"] is True and anonymous["follow_up"] is False
    # the reply time is the operator's one setting (extra.operator.reply_time), here still its placeholder
    assert "we will be in touch [within two working days]" in page


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite: one worker per database, the test above
def test_outbox_work_by_hand_on_postgresql_two_workers_share_the_outbox_and_send_each_once(site, tmp_path, database_url):
    mail = tmp_path / "mail"
    store = open_store(database_url, tmp_path)
    settings = NotifySettings(maildir=mail)
    leads = [_lead() for _ in range(30)]
    for lead in leads:
        store.add(lead, settings.channels(lead))
    environment = {**os.environ, "DATABASE_URL": database_url, "SITE_DIR": str(site.site), "MAILDIR": str(mail)}
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    workers = [
        subprocess.Popen([sys.executable, "-m", "kennisbank.cli", "outbox", "work"], env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT)
        for log in logs
    ]
    try:
        _wait(lambda: len(_maildir_ids(mail)) >= len(leads), seconds=60, what="every delivery")
        late = _lead()
        store.add(late, settings.channels(late))  # a commit wakes a worker
        _wait(lambda: len(_maildir_ids(mail)) >= len(leads) + 1, seconds=30, what="the delivery after the backlog")
        time.sleep(1)  # time for a second, wrong send of anything, were a delivery given to both
        for worker in workers:
            worker.terminate()
            assert worker.wait(10) == 0, "SIGTERM: stops when its batch is done"
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert _maildir_ids(mail) == sorted(f"<{lead.public_id}.submission@localhost>" for lead in [*leads, late]), "each exactly once"
    assert {state.state for state in store.deliveries(("pending", "sent", "failed"))} == {"sent"}
    store.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has one worker per database (a lock file): no claims
def test_a_worker_stops_sending_before_its_claim_runs_out_and_the_next_claim_takes_the_rest(site, tmp_path, database_url, monkeypatch):
    """A webhook that never answers makes each send take SEND_TIMEOUT; a claim of more than fit
    in its lease is cut short by the worker, so none of its outcomes is sent after the lease."""
    import socket

    from kennisbank.server.outbox.worker import claim_size

    monkeypatch.setattr(notify, "SEND_TIMEOUT", 1)  # a hanging webhook costs 1 s a send here, not 30
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)  # the kernel accepts; nobody ever answers
    settings = NotifySettings(webhook_url=f"http://127.0.0.1:{hanging.getsockname()[1]}/hook", webhook_secret=SECRET)
    store = open_store(database_url, tmp_path, pool_size=2)
    lease = timedelta(seconds=4)
    assert claim_size(lease) == 2, "LEASE / (2 x SEND_TIMEOUT)"
    for _ in range(4):
        store.add(_lead(public_id=new_public_id()), ["webhook"])
    due = store.due_deliveries(utc_now(), 4, lease=lease)  # more than fit in the lease: the worker itself must stop in time
    assert len(due) == 4
    Outbox(store, Definitions(store, site.site, load_manifest(site.site)), settings).deliver_all(due)
    states = store.deliveries(("pending", "sent", "failed"))
    tried = [state for state in states if state.attempts == 1]
    assert 1 <= len(tried) <= 2 and all("Timeout" in state.last_error for state in tried), "recorded under its claim, not refused"
    untried = {state.id for state in states if state.attempts == 0}
    assert untried and len(tried) + len(untried) == 4
    assert store.due_deliveries(utc_now(), 4, lease=lease) == [], "the rest stays claimed until the lease ends"
    time.sleep(4.5)
    assert {delivery.id for delivery in store.due_deliveries(utc_now(), 4, lease=lease)} == untried
    hanging.close()
    store.close()


# What the privacy statement says is passed on bounds what the server passes on (issue 22)


@pytest.mark.parametrize(
    ("forwarding", "crm", "notify", "webhook", "refused"),
    [
        ("leads", False, "all", False, "NOTIFY"),
        ("off", False, "leads", False, "NOTIFY"),
        ("off", True, "all", True, "NOTIFY"),
        ("leads", False, "leads", True, "WEBHOOK_URL"),
        ("all", False, "all", True, "WEBHOOK_URL"),
        ("leads", False, "leads", False, None),
        ("all", True, "leads", True, None),  # less than the statement says
        ("leads", False, "off", True, None),  # NOTIFY=off passes nothing on, to the webhook neither
        ("off", False, "off", False, None),
        ("all", True, "all", True, None),
    ],
)
def test_notify_and_the_webhook_may_pass_on_no_more_than_the_privacy_statement_says(forwarding, crm, notify, webhook, refused):
    from kennisbank.operator import Statement
    from kennisbank.server.channels import check_statement
    from kennisbank.server.settings import SettingsError

    settings = NotifySettings(mode=notify, webhook_url="https://crm.example.nl/hook" if webhook else "", webhook_secret=SECRET if webhook else "")
    if refused is None:
        check_statement(settings, Statement(forwarding, crm))
    else:
        with pytest.raises(SettingsError) as error:
            check_statement(settings, Statement(forwarding, crm))
        assert error.value.variable == refused


def test_serve_refuses_notify_all_while_the_privacy_statement_says_leads(site, tmp_path):
    from local_server import LocalServerError

    server = _server(site, tmp_path, NOTIFY="all")
    with pytest.raises(LocalServerError) as error:
        server.start()
    server.stop()
    printed = (tmp_path / "server.log").read_text()
    assert "NOTIFY: all passes on every submission, also those without contact details, but the privacy statement" in printed
    assert "(extra.operator.forwarding: leads). Fix: set NOTIFY=leads (or off), or set extra.operator.forwarding: all in mkdocs.yml" in printed
    assert "Traceback" not in printed and "exited with 2" in str(error.value)
    assert not (tmp_path / "kb.sqlite3").exists(), "refused before the database is created"


def test_serve_refuses_a_webhook_while_the_privacy_statement_names_no_crm(site, tmp_path):
    from local_server import LocalServerError

    server = _server(site, tmp_path, WEBHOOK_URL="https://crm.example.nl/hooks/kennisbank?token=s3cret", WEBHOOK_SECRET=SECRET)
    with pytest.raises(LocalServerError):
        server.start()
    server.stop()
    printed = (tmp_path / "server.log").read_text()
    assert "WEBHOOK_URL: is set, but the privacy statement the site in SITE_DIR was built with names no CRM" in printed
    assert "Fix: leave WEBHOOK_URL empty, or set extra.operator.crm" in printed
    assert "s3cret" not in printed and "Traceback" not in printed


def test_a_site_whose_privacy_statement_says_so_serves_notify_all_and_a_webhook(forwarding_site, site, tmp_path):
    from kennisbank.server.app import create_app
    from kennisbank.server.settings import Settings, SettingsError

    from support import environment

    webhook = {"NOTIFY": "all", "WEBHOOK_URL": "https://crm.example.nl/hooks/kennisbank", "WEBHOOK_SECRET": SECRET}
    with pytest.raises(SettingsError):  # the default build's statement: leads, no CRM
        create_app(Settings.from_env(environment(site.site, tmp_path / "refused.sqlite3", **webhook)))
    app = create_app(Settings.from_env(environment(forwarding_site.site, tmp_path / "consistent.sqlite3", **webhook)))
    app.state.store.close()
    assert app.state.settings.notify == "all" and app.state.settings.webhook_url
    # passing on less than the statement says starts too: NOTIFY=off beside the default build, webhook or not
    app = create_app(Settings.from_env(environment(site.site, tmp_path / "less.sqlite3", **{**webhook, "NOTIFY": "off"})))
    app.state.store.close()
    assert app.state.settings.notify == "off"
