"""What goes into the store and comes out of it: the values, the errors, and how times and
email addresses are written. Plain data: no database here (that is :mod:`.store`).

Contact details exist in a :class:`Submission` only with consent: the store refuses
one that has them without (and the schema does too).
"""

from __future__ import annotations

import calendar
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class StoreURLError(ValueError):
    """A ``DATABASE_URL`` that names no usable database."""

    def __init__(self, problem: str, fix: str):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. Fix: {fix}")


class StoreError(RuntimeError):
    """The database cannot be opened or migrated; the message says why and what to do."""


CONTACT_KEYS = ("name", "email", "organisation", "message")

PeerCounts = Mapping[str, tuple[int, ...]]
"""Measure (``""`` the total, else a theme id) -> 101 counts, one per score 0-100."""


@dataclass(frozen=True)
class Submission:
    public_id: str
    created_at: datetime
    """When it was received, timezone-aware UTC."""
    assessment: str
    version: int
    lang: str
    answers: Mapping[str, int]
    score: int
    band: str
    consent: bool = False
    name: str | None = None
    email: str | None = None
    organisation: str | None = None
    message: str | None = None
    discuss: bool | None = None
    definition: str | None = None
    """The digest of the definition that scored it (``definitions`` table); ``None`` for those stored before definitions were kept."""
    themes: Mapping[str, int | None] = field(default_factory=dict)
    """Theme id -> its score (``None``: no question of it applied); written with the submission
    for the comparison with peers. Not read back: empty when loaded."""

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware (UTC)")
        if not self.consent and (any(getattr(self, key) is not None for key in CONTACT_KEYS) or self.discuss is not None):
            raise ValueError("contact details without consent must not be stored")

    @property
    def has_contact(self) -> bool:
        return any(getattr(self, key) for key in CONTACT_KEYS) or bool(self.discuss)

    def as_dict(self) -> dict:
        """A plain, JSON-ready mapping (dates as ISO 8601 UTC)."""
        return {
            "id": self.public_id,
            "created_at": format_time(self.created_at),
            "assessment": self.assessment,
            "version": self.version,
            "lang": self.lang,
            "score": self.score,
            "band": self.band,
            "answers": dict(self.answers),
            "consent": self.consent,
            **{key: getattr(self, key) for key in CONTACT_KEYS},
            "discuss": self.discuss,
        }


@dataclass(frozen=True)
class AssessmentStats:
    count: int
    mean_score: float | None
    bands: dict[str, int] = field(default_factory=dict)
    with_contact: int = 0
    discuss: int = 0


@dataclass(frozen=True)
class Stats:
    count: int
    assessments: dict[str, AssessmentStats] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDefinition:
    """An assessment definition as served once: its digest, id, version and the JSON of the manifest."""

    digest: str
    assessment: str
    version: int
    definition: str


@dataclass(frozen=True)
class ContactRequest:
    """A question or a privacy request from the contact form; kept like a submission, purged with it."""

    public_id: str
    created_at: datetime
    lang: str
    kind: str
    name: str
    email: str
    message: str

    def as_dict(self) -> dict:
        return {
            "id": self.public_id,
            "created_at": format_time(self.created_at),
            "lang": self.lang,
            "kind": self.kind,
            "name": self.name,
            "email": self.email,
            "message": self.message,
        }


@dataclass(frozen=True)
class Delivery:
    """One pending delivery of the outbox, with the submission or the request it carries."""

    id: int
    channel: str
    attempts: int
    submission: Submission | None = None
    request: ContactRequest | None = None
    claim: str | None = None
    """The token of the claim that took it (PostgreSQL); its outcome is recorded under it."""
    claim_ends: float | None = None
    """When the claim's lease ends, on ``time.monotonic()``'s clock (``None``: no lease, SQLite)."""

    @property
    def public_id(self) -> str:
        return self.submission.public_id if self.submission else self.request.public_id


@dataclass(frozen=True)
class DeliveryState:
    """A delivery as ``kennisbank outbox`` and the dashboard show it."""

    id: int
    submission: str
    """The submission's public id."""
    channel: str
    state: str
    attempts: int
    next_attempt: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


SESSION_IDLE = timedelta(hours=8)
SESSION_LONGEST = timedelta(days=7)
"""A dashboard session ends after ``SESSION_IDLE`` without use, ``SESSION_LONGEST`` after the login at most."""

STATUSES = ("new", "contacted", "closed")
"""A submission's follow-up in the dashboard, in order."""


@dataclass(frozen=True)
class LeadFilter:
    """What the dashboard's list, charts and exports select; ``None`` or ``""``: any."""

    since: str | None = None
    """First day, ``YYYY-MM-DD`` (UTC), inclusive."""
    until: str | None = None
    """Last day, ``YYYY-MM-DD`` (UTC), inclusive."""
    assessment: str | None = None
    band: str | None = None
    lang: str | None = None
    kind: str | None = None
    """``lead`` (consent given) or ``anonymous``."""
    status: str | None = None
    search: str | None = None
    """Part of the email address or the organisation, case-insensitive."""


@dataclass(frozen=True)
class Lead:
    """A submission as the dashboard shows it: with its follow-up status."""

    submission: Submission
    status: str
    cursor: str
    """Where the next page starts after this one (keyset pagination)."""


@dataclass(frozen=True)
class Note:
    author: str
    created_at: datetime
    text: str


@dataclass(frozen=True)
class Admin:
    id: int
    email: str
    password: str
    """The argon2 hash."""
    totp_secret: str | None
    totp_last: int | None
    created_at: datetime


@dataclass(frozen=True)
class Session:
    admin: Admin
    csrf: str
    lang: str
    created_at: datetime
    last_seen: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: str | None


@dataclass(frozen=True)
class Insight:
    """The numbers behind the dashboard's charts, for the submissions a filter selects."""

    count: int
    scores: dict[int, int]
    """Submissions per score decile: 0 (0-9) ... 9 (90-100)."""
    bands_by_month: dict[str, dict[str, int]]
    """``{"2026-11": {band id: count}}``, months in order."""
    answers: dict[str, dict[int, int]]
    """``{question id: {answer value: count}}``."""


# Helpers


_ID_ALPHABET = string.ascii_letters + string.digits


def new_public_id() -> str:
    """A random reference for the reader: 16 letters and digits, about 95 bits.

    Letters and digits only: an id starting with "-" (possible in URL-safe base64)
    would be neutralised as a formula in the CSV export and no longer match the
    reference the reader was given."""
    # one draw from the operating system's source, written in base 62: 16 secrets.choice calls
    # cost 33 urandom reads a submission for the same 95 bits
    number = secrets.randbelow(len(_ID_ALPHABET) ** 16)
    digits = []
    for _ in range(16):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """``2026-11-26T23:41:05Z``: fixed width, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the last day if shorter)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def answer_ids(submissions: Iterable[Submission], order: Iterable[str] = ()) -> list[str]:
    """Every question id answered in ``submissions``: those in ``order`` first, then the rest sorted."""
    seen = {key for submission in submissions for key in submission.answers}
    ordered = [key for key in order if key in seen]
    return ordered + sorted(seen - set(ordered))
