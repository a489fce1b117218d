"""Leads and requests from internationalised addresses reach the consultant (issue 25, finding 3).

A real SMTP server (aiosmtpd) with and without SMTPUTF8, a real store, and the outbox's
own delivery step. Before: ``jürgen@…`` failed six times with NonASCIILocalPartDefect
through SMTP and Maildir alike, and ``b@bücher.example`` went out as an encoded word
inside the address (``b@=?utf-8?q?b=C3=BCcher?=.example``), which no client can answer.
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox

import pytest
from aiosmtpd.controller import Controller

from kennisbank.manifest import load_manifest
from kennisbank.server.channels import NotifySettings
from kennisbank.server.db.store import ContactRequest, Submission, new_public_id, open_store, utc_now
from kennisbank.server.intake.definitions import Definitions
from kennisbank.server.outbox.notify import ascii_domain
from kennisbank.server.outbox.worker import Outbox

from local_server import free_port
from support import answers

# the store is only where the deliveries wait: SQLite alone (the PostgreSQL outbox is tested in test_notifications.py)
LOCAL = "jürgen@example.org"  # a non-ASCII local part: needs SMTPUTF8 (RFC 6531) in a header
DOMAIN = "b@bücher.example"  # an internationalised domain: punycode, on any server
PUNYCODE = "b@xn--bcher-kva.example"


def parse(raw: bytes) -> email.message.EmailMessage:
    """A message as a mail client reads it. Its headers may be UTF-8 (RFC 6532), which the standard
    library's bytes parser leaves as surrogate escapes: it is read as UTF-8 text instead."""
    return email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)


class Sink:
    """An aiosmtpd handler that keeps each message with the MAIL FROM options it came with."""

    def __init__(self):
        self.received: list[tuple[email.message.EmailMessage, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((parse(envelope.content), list(envelope.mail_options)))
        return "250 Message accepted for delivery"


@pytest.fixture(params=[True, False], ids=["smtputf8", "no-smtputf8"])
def smtp(request):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=request.param)
    controller.start()
    yield sink, controller, request.param
    controller.stop()


@pytest.fixture
def deliver(site, tmp_path, database_url):
    """``deliver(settings, submission_or_request)``: store it with its email, run the outbox's delivery step once; the store."""
    store = open_store(database_url, tmp_path)
    definitions = Definitions(store, site.site, load_manifest(site.site))

    def run(settings: NotifySettings, item: Submission | ContactRequest):
        if isinstance(item, Submission):
            store.add(item, ["email"])
        else:
            store.add_request(item, ["email"])
        due = store.due_deliveries(utc_now(), 10, all_pending=True)
        assert [delivery.public_id for delivery in due] == [item.public_id]
        Outbox(store, definitions, settings).deliver_all(due)
        return store

    yield run
    store.close()


def _lead(address: str) -> Submission:
    return Submission(
        public_id=new_public_id(),
        created_at=utc_now(),
        assessment="contract-check",
        version=1,
        lang="nl",
        answers=answers(1),
        score=50,
        band="gemengd",
        consent=True,
        name="Jürgen Müller",
        email=address,
        discuss=True,
    )


def _request(address: str) -> ContactRequest:
    return ContactRequest(
        public_id=new_public_id(), created_at=utc_now(), lang="nl", kind="erasure", name="Jürgen Müller", email=address, message="Wis mijn gegevens."
    )


def _settings(controller) -> NotifySettings:
    return NotifySettings(smtp_url=f"smtp://127.0.0.1:{controller.port}", to="advies@example.nl", sender="kennisbank@example.nl")


def test_an_internationalised_domain_goes_into_headers_as_punycode():
    assert ascii_domain("bücher.example") == "xn--bcher-kva.example"
    assert ascii_domain("example.org") == "example.org"


@pytest.mark.parametrize("make", [_lead, _request], ids=["lead", "privacy-request"])
def test_a_non_ascii_local_part_reaches_the_consultant_with_or_without_smtputf8(smtp, deliver, make, caplog):
    sink, controller, offered = smtp
    item = make(LOCAL)
    with caplog.at_level(logging.WARNING, logger="kennisbank"):
        store = deliver(_settings(controller), item)
    [(message, options)] = sink.received
    body = message.get_body(("plain",)).get_content()
    assert LOCAL in body  # where the consultant can always copy it from
    if offered:
        assert message["Reply-To"].addresses[0].addr_spec == LOCAL
        assert "SMTPUTF8" in options
        assert "SMTPUTF8" not in caplog.text
    else:
        assert message["Reply-To"] is None  # the server could not take it in a header
        assert "SMTPUTF8" in body  # and the mail says why replying will not reach the reader
        assert "sent without Reply-To" in caplog.text  # the failure is in the log, with the reference
        assert item.public_id in caplog.text
    # sent once, recorded as sent: no retry loop
    assert store.due_deliveries(utc_now(), 10, all_pending=True) == []


def test_an_internationalised_domain_is_a_reply_to_any_client_can_answer(smtp, deliver):
    sink, controller, offered = smtp
    deliver(_settings(controller), _lead(DOMAIN))
    [(message, options)] = sink.received
    assert message["Reply-To"].addresses[0].addr_spec == PUNYCODE
    assert "=?utf-8?" not in str(message["Reply-To"])
    assert "SMTPUTF8" not in options  # ASCII headers: no extension needed


def test_the_maildir_keeps_a_non_ascii_address_as_an_rfc_6532_message(deliver, tmp_path):
    settings = NotifySettings(maildir=tmp_path / "mail", to="advies@example.nl", sender="kennisbank@example.nl")
    store = deliver(settings, _lead(LOCAL))
    [raw] = [path.read_bytes() for path in (tmp_path / "mail" / "new").iterdir()]
    assert "Reply-To: Jürgen Müller <jürgen@example.org>".encode() in raw  # UTF-8 in the header itself
    assert parse(raw)["Reply-To"].addresses[0].addr_spec == LOCAL
    assert len(mailbox.Maildir(tmp_path / "mail", create=False)) == 1
    assert store.due_deliveries(utc_now(), 10, all_pending=True) == []
