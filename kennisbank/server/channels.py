"""Which deliveries a submission or a contact request triggers, and what the outbox sends them with.

The receiver and the contact desk decide the deliveries when they store (in the same
transaction); the outbox sends them later. Both ask here, so the rule is one, below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kennisbank.server import redaction
from kennisbank.server.db.store import Submission
from kennisbank.server.settings import Settings

EMAIL, WEBHOOK = "email", "webhook"


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
