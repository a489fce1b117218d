"""What a submission sends on: an email to the consultant and a signed webhook to a CRM.

The messages are built when they are sent, from the stored submission and the
definition that scored it (never from a copy kept in the outbox), so an erased
submission cannot be sent. Email is built with the standard library's ``email``
package and sent with ``smtplib`` (in a worker thread) or, without ``SMTP_URL``,
put in a Maildir that any mail client opens. The webhook follows the Standard
Webhooks convention (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``),
signed with the ``standardwebhooks`` library.
"""

from __future__ import annotations

import email.policy
import json
import mailbox
import smtplib
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

import httpx
import idna
from standardwebhooks import Webhook

from kennisbank.assessment import Assessment, score
from kennisbank.server.channels import NotifySettings, is_lead
from kennisbank.server.db.store import ContactRequest, Submission
from kennisbank.siteconfig import SiteConfig
from kennisbank.templating import templates

SEND_TIMEOUT = 30
#: how many of the weakest answers the email lists
WEAKEST = 5
#: the score an email shows for a result without a verdict (too many "don't know"): none
NO_SCORE = "–"


class _Headers(HeaderRegistry):
    """The standard registry, keeping the classes it makes.

    ``HeaderRegistry`` builds a new class (``type(...)``) for every header it parses;
    that alone was a sixth of the time to build a message. The classes hold no state,
    so one per header name serves every message."""

    def __init__(self):
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


#: the standard library's default policy (what ``EmailMessage()`` uses), with :class:`_Headers`
POLICY = email.policy.default.clone(header_factory=_Headers())
#: the same for a message whose headers hold an address with a non-ASCII local part
#: (``jürgen@…``): RFC 6532 puts it in the header as UTF-8, which only an SMTPUTF8 server takes
POLICY_UTF8 = POLICY.clone(utf8=True)


class NeedsSMTPUTF8(Exception):
    """The message names an address with a non-ASCII local part and the SMTP server does not offer SMTPUTF8."""


def ascii_domain(domain: str) -> str:
    """``domain`` as it goes into a header: IDNA 2008 (punycode), ``bücher.example`` → ``xn--bcher-kva.example``.

    The standard library would write an internationalised domain as an encoded word
    (``=?utf-8?q?b=C3=BCcher?=``) inside the address, which no mail client can reply to."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain  # the receiver's checks let it through; the address stays in the body as written


def reply_to(name: str, address: str) -> tuple[str, bool]:
    """The ``Reply-To`` header for ``name`` at ``address``, and whether it needs SMTPUTF8 (a non-ASCII local part)."""
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=name, username=local, domain=ascii_domain(domain))), not local.isascii()


class PermanentFailure(Exception):
    """Trying again cannot help (a webhook answered 410 Gone): the delivery fails for good."""


# Email


def email_message(
    submission: Submission, assessment: Assessment, site: SiteConfig, settings: NotifySettings, dashboard_url: str = "", *, utf8: bool = True
) -> EmailMessage:
    """The consultant's message about ``submission``, in the site's default language.

    A lead's address is its ``Reply-To``. With ``utf8`` false (the SMTP server offers no
    SMTPUTF8) an address with a non-ASCII local part is left out of the headers, and the
    body says so: the address is in the body, where the consultant copies it from."""
    lang = site.default_language.locale
    answers = dict(submission.answers)  # scale values, and "unknown", "na" and the context as texts
    result = score(assessment, answers)
    lead = is_lead(submission)
    band = assessment.band_title(result.band.id, lang)
    # "not enough to judge" pronounces no score to the reader, so the email shows none either
    shown = result.score if result.judged else NO_SCORE

    def s(key: str, **values: object) -> str:
        return site.string(key, lang, **values)

    context = {
        "s": s,
        "submission": submission,
        "lead": lead,
        "band": band,
        "score": shown,
        "judged": result.judged,
        "themes": [(assessment.theme(item.theme).title[lang], item.score) for item in result.themes],
        "weakest": [(q.text[lang], assessment.label(answers[q.id], lang), q.advice[lang]) for q in result.weak[:WEAKEST]],
        "weak_count": len(result.weak),
        "title": assessment.title[lang],
        "reader_lang": site.language(submission.lang).name if submission.lang in site.locales else submission.lang,
        "received": format_datetime(submission.created_at.astimezone(UTC)),
        "dashboard_url": dashboard_url,
        "no_reply_to": False,
    }
    header, international = reply_to(submission.name or "", submission.email) if lead and submission.email else ("", False)
    if international and not utf8:
        header, context["no_reply_to"] = "", True
    message = EmailMessage(policy=POLICY_UTF8 if header and international else POLICY)
    subject_key = "notify_subject_lead" if lead else "notify_subject"
    who = submission.organisation or submission.name or submission.email or ""
    message["Subject"] = s(subject_key, who=who, score=shown, band=band).strip()
    message["From"] = settings.sender
    message["To"] = settings.to
    if header:
        message["Reply-To"] = header
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(submission.public_id, settings.sender)
    message["Content-Language"] = lang
    message.set_content(templates.get_template("notify/submission.txt").render(context))
    message.add_alternative(templates.get_template("notify/submission.html").render(context), subtype="html")
    return message


def request_message(request: ContactRequest, site: SiteConfig, settings: NotifySettings, *, utf8: bool = True) -> EmailMessage:
    """The consultant's message about a question or privacy request, in the site's default language
    (``utf8``: as :func:`email_message`)."""
    lang = site.default_language.locale
    kind = site.string(f"contact_kind_{request.kind}", lang)
    header, international = reply_to(request.name, request.email)
    left_out = international and not utf8
    message = EmailMessage(policy=POLICY_UTF8 if international and not left_out else POLICY)
    message["Subject"] = site.string("notify_request_subject", lang, kind=kind, who=request.name)
    message["From"] = settings.sender
    message["To"] = settings.to
    if not left_out:
        message["Reply-To"] = header
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(request.public_id, settings.sender, "request")
    message["Content-Language"] = lang
    lines = [
        *([site.string("notify_no_reply_to", lang), ""] if left_out else []),
        site.string("notify_request_intro", lang, kind=kind),
        "",
        f"{site.string('notify_reference', lang)}: {request.public_id}",
        f"{site.string('notify_received', lang)}: {format_datetime(request.created_at.astimezone(UTC))} ({site.language(request.lang).name if request.lang in site.locales else request.lang})",
        f"{site.string('notify_name', lang)}: {request.name}",
        f"{site.string('notify_email', lang)}: {request.email}",
        "",
        f"{site.string('notify_message', lang)}:",
        request.message,
    ]
    if request.kind in ("access", "correction", "erasure", "withdraw"):
        lines += ["", site.string("notify_request_verify", lang)]
    message.set_content("\n".join(lines) + "\n")
    return message


def prepare() -> None:
    """Compile the message's templates now: the worker does this before it lowers its
    CPU priority, so its first mail on a busy machine does not wait for it."""
    for name in ("notify/submission.txt", "notify/submission.html"):
        templates.get_template(name)


def message_id(public_id: str, sender: str, kind: str = "submission") -> str:
    """The same Message-ID for every attempt at the same submission, so a mail system
    (or the consultant's client) can drop a duplicate after a crash between send and mark."""
    domain = sender.rpartition("@")[2].strip("> ") or "kennisbank.invalid"
    return f"<{public_id}.{kind}@{domain}>"


class Mailer:
    """Sends email by SMTP (``smtp://``, ``smtp+starttls://``, ``smtps://``), or into the
    Maildir; one SMTP session for every message sent while it is open. A message with UTF-8
    headers goes into the Maildir as it is (RFC 6532: every current mail client reads it)
    and by SMTP only with SMTPUTF8 (:class:`NeedsSMTPUTF8` otherwise)."""

    def __init__(self, settings: NotifySettings):
        self.settings = settings
        self._client: smtplib.SMTP | None = None
        self._maildir: mailbox.Maildir | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._client = None

    def send(self, message: EmailMessage) -> None:
        if not self.settings.smtp_url:
            if self._maildir is None:
                self.settings.maildir.parent.mkdir(parents=True, exist_ok=True)  # Maildir creates only its own folder
                self._maildir = mailbox.Maildir(self.settings.maildir, create=True)
            self._maildir.add(message)  # written into tmp/, synced, then moved into new/
            return
        if self._client is None:
            self._client = self._connect()
        try:
            self._transmit(message)
        except smtplib.SMTPServerDisconnected:  # a session the server closed: one new one
            self._client = self._connect()
            self._transmit(message)
        except BaseException:
            self.__exit__()  # a failed transaction leaves the session in an unknown state
            raise

    def _transmit(self, message: EmailMessage) -> None:
        """Send ``message`` in the open session; one with UTF-8 headers (RFC 6532) only with SMTPUTF8."""
        if not message.policy.utf8:
            self._client.send_message(message)
            return
        self._client.ehlo_or_helo_if_needed()
        if not self._client.has_extn("smtputf8"):
            raise NeedsSMTPUTF8("the SMTP server does not offer SMTPUTF8, which an address with a non-ASCII local part needs")
        # send_message adds SMTPUTF8 by itself only for the envelope's addresses, not for a Reply-To
        self._client.send_message(message, mail_options=("SMTPUTF8", "BODY=8BITMIME"))

    def _connect(self) -> smtplib.SMTP:
        parts = urlsplit(self.settings.smtp_url)
        port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
        context = ssl.create_default_context()
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(parts.hostname, port, timeout=SEND_TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(parts.hostname, port, timeout=SEND_TIMEOUT)
        if parts.scheme == "smtp+starttls":
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        return client


def send_email(message: EmailMessage, settings: NotifySettings) -> None:
    """Send one message (a session of its own)."""
    with Mailer(settings) as mailer:
        mailer.send(message)


# Webhook


def webhook_payload(submission: Submission) -> str:
    """The same object as a row of ``kennisbank export --format json``."""
    return json.dumps(submission.as_dict(), ensure_ascii=False, separators=(",", ":"))


def send_webhook(submission: Submission, settings: NotifySettings, now: datetime | None = None) -> None:
    """POST the submission, signed; the submission's public id is the idempotency key (``webhook-id``)."""
    now = now or datetime.now(UTC)
    payload = webhook_payload(submission)
    signature = Webhook(settings.webhook_secret).sign(submission.public_id, now, payload)
    headers = {
        "content-type": "application/json",
        "webhook-id": submission.public_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "user-agent": "kennisbank-webhook/1",
    }
    response = httpx.post(settings.webhook_url, content=payload.encode("utf-8"), headers=headers, timeout=SEND_TIMEOUT, follow_redirects=False)
    if response.status_code == 410:
        raise PermanentFailure("the receiver answered 410 Gone: it wants no more deliveries")
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"the receiver answered {response.status_code}")
