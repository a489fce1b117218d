"""The schema, once for both databases: every table as SQLAlchemy Core declares it.

The migrations (:mod:`.migrate`, ``migrations/versions/``) make a database match this;
a test compares a migrated database with it (Alembic's ``compare_metadata``), so the two
cannot drift apart. The store's statements are written against these tables, and
``kennisbank db copy`` copies them in :data:`COPIED` order.

The same columns on both, so both run the same statements: times as fixed-width
ISO 8601 UTC text (text order is time order), ``consent`` and ``discuss`` as 0/1
integers. No IP address, user agent or other request data is in any table; contact
details only with consent (the CHECK of ``submissions``, whatever the code does).

What one database has alone is marked ``info={"only": dialect}`` (a table, or a column):
PostgreSQL's share of several server processes (the outbox's claims, ``peer_changes``,
the rate limit's hits, the client keys). SQLite is one process: its rate limit and its
key live in that process's memory, and one outbox worker per file holds a lock file.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import UserDefinedType


class Untyped(UserDefinedType):
    """A column without a type (SQLite): a value keeps the type it was written with, so an
    answer ``1`` and an answer ``"1"`` stay apart, as they are in the JSON."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return ""


Id = BigInteger().with_variant(Integer(), "sqlite")
"""A row id: SQLite's ``INTEGER PRIMARY KEY`` (the rowid), PostgreSQL's bigint identity."""
AnswerValue = JSONB().with_variant(Untyped(), "sqlite")
POSTGRESQL = {"only": "postgresql"}

metadata = MetaData()


def _id() -> Column:
    # BY DEFAULT, not ALWAYS: kennisbank db copy writes the ids it copies
    return Column("id", Id, Identity(always=False), primary_key=True)


definitions = Table(
    "definitions",
    metadata,
    Column("digest", Text, primary_key=True),  # kennisbank.assessment.digest() of the definition
    Column("assessment", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", Text, nullable=False),  # JSON, as the build manifest holds it
    Column("first_served", Text, nullable=False),
)
"""Every definition the server ever served: a page built before a rebuild is still scored with the questions its reader saw."""

submissions = Table(
    "submissions",
    metadata,
    _id(),
    Column("public_id", Text, nullable=False, unique=True),
    Column("created_at", Text, nullable=False),  # UTC, ISO 8601, fixed width: 2026-11-26T23:41:05Z
    Column("assessment", Text, nullable=False),  # the definition's id
    Column("version", Integer, nullable=False),  # the definition's version that scored it
    Column("lang", Text, nullable=False),
    Column("answers", Text, nullable=False),  # JSON object, as written: question id -> scale value
    Column("score", Integer, CheckConstraint("score BETWEEN 0 AND 100"), nullable=False),
    Column("band", Text, nullable=False),
    Column("consent", Integer, CheckConstraint("consent IN (0, 1)"), nullable=False),
    Column("name", Text),
    Column("email", Text),  # normalised: lowercase
    Column("organisation", Text),
    Column("message", Text),
    Column("discuss", Integer, CheckConstraint("discuss IN (0, 1)")),
    Column("definition", Text),  # the digest (definitions); NULL for those stored before definitions were kept
    Column("status", Text, CheckConstraint("status IN ('new', 'contacted', 'closed')"), nullable=False, server_default="new"),
    CheckConstraint("consent = 1 OR (name IS NULL AND email IS NULL AND organisation IS NULL AND message IS NULL AND discuss IS NULL)"),
    Index("submissions_created_at", "created_at"),
    Index("submissions_email", "email", sqlite_where=text("email IS NOT NULL"), postgresql_where=text("email IS NOT NULL")),
    # the dashboard's list, counts and charts: one index holding every column a filter reads, in time order
    Index("submissions_dashboard", "created_at", "status", "consent", "lang", "band", "assessment", "score", "email", "organisation"),
    # the search by email or organisation (a substring, LIKE) reads only the leads: the anonymous
    # three quarters hold neither. (Not FTS5: SQLite before 3.42 keeps an erased address's
    # trigrams in the index's segments until they are merged.)
    Index("submissions_search", "created_at", "id", "email", "organisation", sqlite_where=text("consent = 1"), postgresql_where=text("consent = 1")),
)
"""One row per acknowledged submission."""

requests = Table(
    "requests",
    metadata,
    _id(),
    Column("public_id", Text, nullable=False, unique=True),
    Column("created_at", Text, nullable=False),
    Column("lang", Text, nullable=False),
    Column("kind", Text, CheckConstraint("kind IN ('question', 'access', 'correction', 'erasure', 'withdraw')"), nullable=False),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),  # normalised: lowercase
    Column("message", Text, nullable=False),
    Index("requests_created_at", "created_at"),
    Index("requests_email", "email"),
)
"""A question or a privacy request from the contact form, without a self-assessment."""

outbox = Table(
    "outbox",
    metadata,
    _id(),
    # a delivery goes with what it delivers (erasure, purge: CASCADE), so an erased person's never goes out
    Column("submission", Id, ForeignKey("submissions.id", ondelete="CASCADE")),
    Column("request", Id, ForeignKey("requests.id", ondelete="CASCADE")),
    Column("channel", Text, CheckConstraint("channel IN ('email', 'webhook')"), nullable=False),
    Column("state", Text, CheckConstraint("state IN ('pending', 'sent', 'failed')"), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt", Text, nullable=False),
    Column("last_error", Text),
    Column("created_at", Text, nullable=False),
    Column("sent_at", Text),
    # several workers share PostgreSQL's outbox: a claim (FOR UPDATE SKIP LOCKED) holds a row
    # until its lease ends, and only the claim's token records its outcome
    Column("claimed_until", Text, info=POSTGRESQL),
    Column("claimed_by", Text, info=POSTGRESQL),
    CheckConstraint("(submission IS NULL) <> (request IS NULL)"),
    UniqueConstraint("submission", "channel"),
    UniqueConstraint("request", "channel"),
    Index("outbox_due", "state", "next_attempt"),
    Index("outbox_submission", "submission"),
    Index("outbox_request", "request"),
)
"""The deliveries a submission or a request triggers, committed with it; no copy of what is delivered."""

notes = Table(
    "notes",
    metadata,
    _id(),
    Column("submission", Id, ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("text", Text, nullable=False),
    Index("notes_submission", "submission"),
)

admins = Table(
    "admins",
    metadata,
    _id(),
    Column("email", Text, nullable=False, unique=True),  # lowercase
    Column("password", Text, nullable=False),  # argon2id hash (PHC string)
    Column("totp_secret", Text),  # base32; NULL: TOTP off
    Column("totp_last", BigInteger().with_variant(Integer(), "sqlite")),  # the last TOTP time step used (no replay)
    Column("created_at", Text, nullable=False),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),  # SHA-256 (hex) of the cookie's value: a copy of the database opens no session
    Column("admin", Id, ForeignKey("admins.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", Text, nullable=False),
    Column("lang", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("last_seen", Text, nullable=False),
    Index("admin_sessions_admin", "admin"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", Text, nullable=False),  # 'account:<email>' or 'address:<keyed hash of the client address>'
    Column("at", Text, nullable=False),
    Index("login_failures_key", "key", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),  # the admin's email, never a reader's
    Column("action", Text, nullable=False),
    Column("subject", Text),  # a submission's public id, a format, a count
    Column("detail", Text),
    Index("audit_log_at", "at"),
)


def _dimensions() -> list[Column]:
    """The filter dimensions the insight aggregates are counted per (month: ``YYYY-MM``, UTC)."""
    return [
        Column("month", Text, nullable=False),
        Column("assessment", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("lang", Text, nullable=False),
        Column("band", Text, nullable=False),
        Column("consent", Integer, nullable=False),
        Column("status", Text, nullable=False),
    ]


DIMENSIONS = ("month", "assessment", "version", "lang", "band", "consent", "status")

# The dashboard's insight figures as counts per month and dimension, kept by triggers in the
# transaction of every change (triggers.py): a chart sums a few thousand rows, not every submission.
insight_counts = Table(
    "insight_counts",
    metadata,
    *_dimensions(),
    Column("decile", Integer, nullable=False),  # 0: 0-9 ... 9: 90-100
    Column("n", Integer, nullable=False),
    PrimaryKeyConstraint(*DIMENSIONS, "decile"),
    sqlite_with_rowid=False,
)

insight_answers = Table(
    "insight_answers",
    metadata,
    *_dimensions(),
    Column("question", Text, nullable=False),
    Column("answer", AnswerValue, nullable=False),  # as the JSON holds it: 1 and "1" stay apart
    Column("n", Integer, nullable=False),
    PrimaryKeyConstraint(*DIMENSIONS, "question", "answer"),
    sqlite_with_rowid=False,
)

insight_changes = Table(
    "insight_changes",
    metadata,
    Column("month", Text, primary_key=True),
    Column("changes", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),  # moves with every change of the month's rows
    sqlite_with_rowid=False,
)

# Where a reader stands among the earlier submissions of the same definition.
submission_themes = Table(
    "submission_themes",
    metadata,
    Column("submission", Id, ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False),
    Column("definition", Text, nullable=False),  # the submission's digest (copied: the delete trigger needs it)
    Column("theme", Text, nullable=False),
    Column("score", Integer, CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100")),  # NULL: no question of it applied
    PrimaryKeyConstraint("submission", "theme"),
    sqlite_with_rowid=False,
)

peer_counts = Table(
    "peer_counts",
    metadata,
    Column("definition", Text, nullable=False),
    Column("measure", Text, nullable=False),  # '' the total, else a theme id
    Column("value", Integer, CheckConstraint("value BETWEEN 0 AND 100"), nullable=False),
    Column("count", Integer, CheckConstraint("count >= 0"), nullable=False),
    PrimaryKeyConstraint("definition", "measure", "value"),
    sqlite_with_rowid=False,
)
"""How many submissions scored ``value`` on ``measure``, per definition: 101 buckets give exact percentiles."""

peer_changes = Table(
    "peer_changes",
    metadata,
    Column("definition", Text, primary_key=True),
    Column("changes", BigInteger, nullable=False),
    info=POSTGRESQL,
)
"""A counter per definition the triggers bump: a cached count is current while it stands (SQLite: ``PRAGMA data_version``)."""

rate_limit_hits = Table(
    "rate_limit_hits",
    metadata,
    Column("client", LargeBinary, nullable=False),  # a keyed hash of the client, never its address
    Column("at", Double, nullable=False),  # seconds since the epoch, on the database's clock
    Index("rate_limit_hits_client_at", "client", "at"),
    Index("rate_limit_hits_at", "at"),
    info=POSTGRESQL,
    prefixes=["UNLOGGED"],  # not in the log: on no replica or log archive; emptied by a crash
)

client_keys = Table(
    "client_keys",
    metadata,
    Column("period", BigInteger, primary_key=True),
    Column("secret", LargeBinary, nullable=False),
    info=POSTGRESQL,
    prefixes=["UNLOGGED"],
)
"""The keys client addresses are hashed with, one a day; an earlier day's is deleted (:mod:`.shared_state`)."""

# Reach: how many read each page and where they came from, and the scan's funnel; counts per
# day and nothing else: no address, no user agent, no identifier (kennisbank.server.web.reach).
# Only the build manifest's pages and assessments are counted, and a source's values are
# bounded (anything else is 'other'), so no request can add rows beyond those.
Count = Integer


def _day() -> Column:
    return Column("day", Text, nullable=False)  # YYYY-MM-DD, UTC: no finer time is kept


reach_views = Table(
    "reach_views",
    metadata,
    _day(),
    Column("page", Text, nullable=False),  # the page's address as the manifest lists it: /en/artikelen/x/
    Column("lang", Text, nullable=False),
    Column("n", Count, CheckConstraint("n >= 0"), nullable=False),
    PrimaryKeyConstraint("day", "page", "lang"),
    sqlite_with_rowid=False,
)
"""Page views (GET, 200, HTML, no bot) per day, page and language."""

reach_sources = Table(
    "reach_sources",
    metadata,
    _day(),
    Column("page", Text, nullable=False),
    Column("lang", Text, nullable=False),
    Column("referrer", Text, nullable=False),  # the referring site's host only ('': none or this site), or 'other'
    Column("source", Text, nullable=False),  # utm_source ('': none; 'other': out of bounds); likewise:
    Column("medium", Text, nullable=False),
    Column("campaign", Text, nullable=False),
    Column("n", Count, CheckConstraint("n >= 0"), nullable=False),
    PrimaryKeyConstraint("day", "page", "lang", "referrer", "source", "medium", "campaign"),
    sqlite_with_rowid=False,
)
"""The same views by where they came from."""

funnel_steps = Table(
    "funnel_steps",
    metadata,
    _day(),
    Column("assessment", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("lang", Text, nullable=False),
    Column("step", Text, CheckConstraint("step IN ('started', 'completed')"), nullable=False),
    Column("n", Count, CheckConstraint("n >= 0"), nullable=False),
    PrimaryKeyConstraint("day", "assessment", "version", "lang", "step"),
    sqlite_with_rowid=False,
)
"""The scan started (the first answer) and completed (every question answered), from the page's beacon;
sent and with contact details are the stored submissions themselves."""

REACH_TABLES = ("reach_views", "reach_sources", "funnel_steps")
"""The tables revision 0003 added; 0001 creates every other table."""

COPIED = (
    "definitions",
    "submissions",
    "requests",
    "outbox",
    "notes",
    "admins",
    "admin_sessions",
    "login_failures",
    "audit_log",
    "insight_counts",
    "insight_answers",
    "insight_changes",
    "submission_themes",
    "peer_counts",
    *REACH_TABLES,
)
"""The tables ``kennisbank db copy`` copies, each after those it refers to: every table both databases
have. Not PostgreSQL's own: a worker's claims, the peer counters (rebuilt from use), the rate limit's state."""


def on(dialect: str, item: Table | Column) -> bool:
    """Whether the table or column ``item`` exists on ``dialect`` (``sqlite``, ``postgresql``)."""
    return item.info.get("only", dialect) == dialect


def columns(table: str, dialect: str | None = None) -> list[str]:
    """The names of ``table``'s columns, in order: those both databases have (or those ``dialect`` has)."""
    return [column.name for column in metadata.tables[table].columns if (on(dialect, column) if dialect else "only" not in column.info)]
