"""Which deliveries a submission or a contact request triggers, and what the outbox sends them with.

The receiver and the contact desk decide the deliveries when they store (in the same
transaction); the outbox sends them later. Both ask here, so the rule is one, below both.
What the site's privacy statement says is passed on bounds it: :func:`check_statement`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kennisbank.operator import Statement
from kennisbank.server import redaction
from kennisbank.server.db.store import Submission
from kennisbank.server.settings import Settings, SettingsError

EMAIL, WEBHOOK = "email", "webhook"
#: how much each NOTIFY mode passes on, least first
REACH = {"off": 0, "leads": 1, "all": 2}
#: what each mode passes on, in the words of an error message
PASSES_ON = {
    "off": "no submission",
    "leads": "only submissions with consent and contact details",
    "all": "every submission, also those without contact details",
}


@dataclass(frozen=True)
class NotifySettings:
    mode: str = "leads"
    """``leads`` (consent and contact details), ``all`` or ``off``."""
    smtp_url: str = ""
    to: str = ""
    sender: str = ""
    maildir: Path = Path("var/mail")
    webhook_url: str = ""
    webhook_secret: str = ""

    @classmethod
    def of(cls, settings: Settings) -> NotifySettings:
        """What the server's ``settings`` say the outbox sends with."""
        return cls(
            mode=settings.notify,
            smtp_url=settings.smtp_url,
            to=settings.notify_to or "consultant@localhost",
            sender=settings.notify_from or "kennisbank@localhost",
            maildir=settings.maildir,
            webhook_url=settings.webhook_url,
            webhook_secret=settings.webhook_secret,
        )

    def request_channels(self) -> list[str]:
        """A reader's question or privacy request always goes to the consultant, unless NOTIFY=off."""
        return [] if self.mode == "off" else [EMAIL]

    def channels(self, submission: Submission) -> list[str]:
        """The deliveries ``submission`` triggers."""
        if self.mode == "off" or (self.mode == "leads" and not is_lead(submission)):
            return []
        return [EMAIL] + ([WEBHOOK] if self.webhook_url else [])

    @property
    def transport(self) -> str:
        return f"SMTP {redaction.url(self.smtp_url)}" if self.smtp_url else f"the Maildir {self.maildir}"


def is_lead(submission: Submission) -> bool:
    """A reader who consented and left a way to reach them, or asked to discuss the result."""
    return submission.consent and submission.has_contact


def check_statement(notify: NotifySettings, statement: Statement) -> None:
    """:class:`SettingsError` when ``notify`` would pass on more than the privacy statement
    the site was built with says (``statement``, from the build manifest): a ``NOTIFY`` that
    reaches further than ``extra.operator.forwarding``, or a ``WEBHOOK_URL`` while the
    statement names no CRM. Passing on less is always allowed: ``NOTIFY=off`` sends nothing."""
    if REACH[notify.mode] > REACH[statement.forwarding]:
        raise SettingsError(
            "NOTIFY",
            f"{notify.mode} passes on {PASSES_ON[notify.mode]}, but the privacy statement the site in SITE_DIR was built with "
            f"says the server passes on {PASSES_ON[statement.forwarding]} (extra.operator.forwarding: {statement.forwarding})",
            f"set NOTIFY={statement.forwarding} (or off), or set extra.operator.forwarding: {notify.mode} in mkdocs.yml "
            "and build the site again, so that the privacy statement says so",
        )
    if notify.webhook_url and notify.mode != "off" and not statement.crm:
        raise SettingsError(
            "WEBHOOK_URL",
            "is set, but the privacy statement the site in SITE_DIR was built with names no CRM that receives submissions (extra.operator.crm is not set)",
            "leave WEBHOOK_URL empty, or set extra.operator.crm (its name, country and storage) in mkdocs.yml "
            "and build the site again, so that the privacy statement names the CRM",
        )
