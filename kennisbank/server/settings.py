"""The server's settings: declared once, in :class:`Settings`, read from the environment.

Each field is one environment variable (the field's name in capitals) with a
default that works for ``make serve`` on a fresh checkout, written as one would
set it, and a help text. That declaration validates the values, lists the
variables in each command's ``--help`` (:func:`variables`) and writes the table in
README.md (:func:`markdown_table`; ``tests/test_settings.py`` fails when the two
differ). An empty or blank variable means its default.

A value that cannot be used stops the start with :class:`SettingsError`, whose
message names the variable, the problem and the fix.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kennisbank.server import redaction
from kennisbank.server.db.store import StoreURLError, parse_database_url


class SettingsError(Exception):
    """A setting that cannot be used; ``str()`` says which, why, and how to fix it."""

    def __init__(self, variable: str, problem: str, fix: str):
        self.variable = variable
        self.problem = problem
        self.fix = fix
        super().__init__(f"{variable}: {problem}. Fix: {fix}")

    @classmethod
    def of(cls, error: ValidationError) -> SettingsError:
        """The first of pydantic's errors, as the variable, the problem and the fix."""
        first = error.errors()[0]
        variable = str(first["loc"][0]) if first["loc"] else "settings"
        if first["type"] == "setting":  # raised by a validator below
            return cls(first["ctx"].get("variable", variable), first["ctx"]["problem"], first["ctx"]["fix"])
        return cls(variable, first["msg"], f"see 'kennisbank serve --help' for what {variable} takes")


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` submissions per ``seconds`` from one client address."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


# Validators. Each takes the stripped text of the variable and raises the problem
# and the fix as a "setting" error, which Settings.from_env turns into SettingsError.


def _problem(problem: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("setting", "{problem}. Fix: {fix}", {"problem": problem, "fix": fix})


def _whole(low: int, high: int, what: str) -> BeforeValidator:
    """A whole number from ``low`` to ``high``.

    Not pydantic's ``int`` with ``ge``/``le``: it also takes '+5', '1_000' and
    '8000.0', and its messages name no fix."""

    def check(value: str, info: ValidationInfo) -> int:
        name = info.field_name.upper()
        fix = f"set {what} from {low} to {high}, e.g. {name}={Settings.model_fields[info.field_name].default}"
        if not re.fullmatch(r"\d+", value):
            raise _problem(f"{value!r} is not a whole number", fix)
        if not low <= int(value) <= high:
            raise _problem(f"{int(value)} is out of range ({low} to {high})", fix)
        return int(value)

    return BeforeValidator(check)


def _host(value: str) -> str:
    if any(char.isspace() for char in value) or "/" in value:
        raise _problem(f"{value!r} is not a host name or IP address", "set e.g. HOST=127.0.0.1 (this machine only) or HOST=0.0.0.0 (every interface)")
    return value


def _database_url(value: str) -> str:
    try:
        parse_database_url(value, Path.cwd())
    except StoreURLError as exc:
        raise _problem(exc.problem, exc.fix) from None
    return value


def _in_current_folder(value: str) -> Path:
    return Path.cwd() / Path(value).expanduser()  # an absolute path stays as it is


def _rate_limit(value: str) -> RateLimit | None:
    if value.lower() == "off":
        return None
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise _problem(
            f"{value!r} is not <submissions>/<seconds>",
            "set e.g. RATE_LIMIT=5/60 (5 submissions per 60 seconds per client address), or RATE_LIMIT=off to switch it off",
        )
    return RateLimit(int(match[1]), int(match[2]))


def _login_attempts(value: str) -> RateLimit:
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise _problem(
            f"{value!r} is not <failures>/<seconds>",
            "set e.g. LOGIN_ATTEMPTS=5/900 (after 5 failed logins in 900 seconds, per account and address pair and per address, logins from there wait)",
        )
    return RateLimit(int(match[1]), int(match[2]))


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lowercase without a default port; ``None`` if not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _origins(value: str) -> tuple[str, ...]:
    origins = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "*":
            raise _problem(
                "'*' would let every website post submissions",
                "list the origins that host the static site, e.g. CORS_ORIGINS=https://www.example.nl,https://example.nl",
            )
        origin = normalise_origin(item)
        if origin is None:
            raise _problem(
                f"{item!r} is not an origin (scheme://host[:port], no path)",
                "list origins separated by commas, e.g. CORS_ORIGINS=https://www.example.nl,https://example.nl",
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def _proxies(value: str) -> tuple[str, ...]:
    proxies = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "*":
            raise _problem(
                "'*' would let every client name its own address and scheme",
                "list the proxies in front of this server, e.g. TRUSTED_PROXIES=127.0.0.1 (a proxy on this machine) or 10.0.0.0/8",
            )
        if item != "unix":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise _problem(
                    f"{item!r} is not an IP address or network",
                    "list addresses or networks separated by commas, e.g. TRUSTED_PROXIES=127.0.0.1,::1 (or unix for a proxy on the Unix socket)",
                ) from None
        proxies.append(item)
    return tuple(dict.fromkeys(proxies))


def _problem_for(variable: str, problem: str, fix: str) -> PydanticCustomError:
    """A problem with one variable found while checking several together."""
    return PydanticCustomError("setting", "{variable}: {problem}. Fix: {fix}", {"variable": variable, "problem": problem, "fix": fix})


def _choice(*choices: str) -> BeforeValidator:
    def check(value: str, info: ValidationInfo) -> str:
        if value.lower() not in choices:
            raise _problem(f"{value!r} is not one of {', '.join(choices)}", f"set {info.field_name.upper()}={choices[0]} (or {', '.join(choices[1:])})")
        return value.lower()

    return BeforeValidator(check)


def _smtp_url(value: str) -> str:
    if not value:
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
        raise _problem(
            f"{redaction.url(value)!r} is not an SMTP URL",
            "set e.g. SMTP_URL=smtp+starttls://user:password@mail.example.nl:587 (or smtps://…:465, or smtp://localhost:25 for a local relay); "
            "leave it empty to deliver into the Maildir MAILDIR",
        )
    return value


def _address(value: str) -> str:
    if value and (not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value)):
        raise _problem(f"{value!r} is not an email address", "set a plain address, e.g. NOTIFY_TO=advies@example.nl")
    return value


def _webhook_url(value: str) -> str:
    if value and urlsplit(value).scheme not in ("http", "https"):
        raise _problem(f"{value!r} is not an http(s) URL", "set e.g. WEBHOOK_URL=https://crm.example.nl/hooks/kennisbank, or leave it empty")
    return value


def _webhook_secret(value: str) -> str:
    if not value:
        return value
    from standardwebhooks import Webhook

    try:
        Webhook(value)
        raw = base64.b64decode(value.removeprefix("whsec_") + "==")
    except Exception:
        raw = b""
    if len(raw) < 24:
        raise _problem(
            "not a webhook secret of at least 24 random bytes",
            "set WEBHOOK_SECRET=whsec_ followed by base64, e.g. from: python -c \"import base64, os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"",
        )
    return value


class Settings(BaseSettings):
    """The settings table: one field per environment variable, its default as text, its help."""

    model_config = SettingsConfigDict(
        alias_generator=str.upper,  # the field port is the variable PORT
        case_sensitive=True,  # PORT, not port or Port
        enable_decoding=False,  # CORS_ORIGINS is a comma-separated list, not JSON
        frozen=True,
    )

    host: Annotated[str, BeforeValidator(_host)] = Field(
        "127.0.0.1", description="the address the server listens on: 127.0.0.1 this machine only, 0.0.0.0 every interface"
    )
    port: Annotated[int, _whole(1, 65535, "a port number")] = Field("8000", description="the port the server listens on")
    workers: Annotated[int, _whole(1, 64, "a number of processes")] = Field(
        "1",
        description="server processes sharing the port (kennisbank serve --workers N sets it); more than 1 needs PostgreSQL "
        "in DATABASE_URL: SQLite is single-process. The rate limit, logins and the outbox are shared through the database",
    )
    database_url: Annotated[str, BeforeValidator(_database_url)] = Field(
        "sqlite:///var/kennisbank.sqlite3",
        description="where the submissions are kept; a relative path is relative to the current folder; "
        "the file and its folder are created and migrated on first use; or postgresql://user:password@host/database (Deploying)",
    )
    site_dir: Annotated[Path, BeforeValidator(_in_current_folder)] = Field(
        "site", description="the built site to serve (make build writes it), relative to the current folder"
    )
    retention_months: Annotated[int, _whole(1, 1200, "a number of months")] = Field(
        "12", description="submissions older than this many months are deleted at start, daily, and by kennisbank purge"
    )
    rate_limit: Annotated[RateLimit | None, BeforeValidator(_rate_limit)] = Field(
        "5/60", description="submissions per seconds per client address; off for benchmarks"
    )
    cors_origins: Annotated[tuple[str, ...], BeforeValidator(_origins)] = Field(
        "", description="comma-separated origins allowed to post from another host, e.g. https://www.example.nl"
    )
    max_body_bytes: Annotated[int, _whole(4096, 16 * 1024 * 1024, "a size in bytes")] = Field(
        "65536", description="the largest submission accepted, in bytes (413 beyond)"
    )
    trusted_proxies: Annotated[tuple[str, ...], BeforeValidator(_proxies)] = Field(
        "",
        description="comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (unix: the proxy on the Unix socket); none by default: the headers are ignored",
    )
    request_timeout: Annotated[int, _whole(1, 300, "a number of seconds")] = Field(
        "10", description="seconds a client has to send a whole request, headers and body (slow clients are cut off)"
    )
    max_connections: Annotated[int, _whole(1, 100000, "a number of connections")] = Field(
        "1000", description="open connections at most; more are closed at once (lowered to half the open-file limit: a response may hold a file too)"
    )
    max_client_connections: Annotated[int, _whole(2, 100000, "a number of connections")] = Field(
        "32",
        description="open connections from one client address (an IPv6 /64) at most, half of them still sending a request; "
        "more from it are closed at once. Connections from TRUSTED_PROXIES are not counted: the proxy shares them out",
    )
    notify: Annotated[str, _choice("leads", "all", "off")] = Field(
        "leads",
        description="which submissions are sent on by email and webhook: leads (consent and contact details), all, or off; "
        "no more than the privacy statement the site was built with says (extra.operator.forwarding)",
    )
    smtp_url: Annotated[str, BeforeValidator(_smtp_url)] = Field(
        "",
        description="the mail server, e.g. smtp+starttls://user:password@mail.example.nl:587 or smtps://…:465; empty: mail goes into the Maildir MAILDIR",
    )
    notify_to: Annotated[str, BeforeValidator(_address)] = Field("", description="who receives the email about a submission (required with SMTP_URL)")
    notify_from: Annotated[str, BeforeValidator(_address)] = Field("", description="the sender of that email (required with SMTP_URL)")
    maildir: Annotated[Path, BeforeValidator(_in_current_folder)] = Field(
        "var/mail", description="where mail goes without SMTP_URL: a Maildir any mail client opens (new mail in its new/ folder)"
    )
    webhook_url: Annotated[str, BeforeValidator(_webhook_url)] = Field(
        "",
        description="a CRM's URL that receives each submission sent on as a signed JSON POST (Standard Webhooks); empty: none. "
        "Only beside a site whose privacy statement names the CRM (extra.operator.crm)",
    )
    webhook_secret: Annotated[str, BeforeValidator(_webhook_secret)] = Field(
        "", description="the webhook's signing secret, whsec_ and base64 (required with WEBHOOK_URL)"
    )
    login_attempts: Annotated[RateLimit, BeforeValidator(_login_attempts)] = Field(
        "5/900",
        description="failed dashboard logins per seconds, per account and client address pair and per client address, "
        "before further logins from there are refused (429) until the window has passed; from this many failures of "
        "an account on, addresses that have failed wait a delay doubling from 1 s to 60 s (an address with no "
        "failures is never delayed)",
    )
    benchmark_min: Annotated[int, _whole(1, 1000000, "a number of submissions")] = Field(
        "20",
        description="earlier submissions of the same definition needed before a reader is shown where they stand among them "
        "(and the public comparison page shows figures); fewer: only how many more are needed",
    )
    benchmark_step: Annotated[int, _whole(1, 1000000, "a number of submissions")] = Field(
        "10",
        description="the comparison's figures (the reply's and the public page's) are worked out again only once this many "
        "submissions of a definition have come in or been removed since they last were, so that none moves with a single "
        "submission; 1: after every one",
    )
    reach: Annotated[str, _choice("on", "off")] = Field(
        "on",
        description="count page views per day, page and language, where readers came from (the referrer's host, campaign tags) "
        "and the scan's steps, for the dashboard's Reach page; nothing that identifies a reader (no address, user agent or cookie): on, or off",
    )
    _project_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def project_dir(self) -> Path:
        """The folder relative paths are relative to: the current one."""
        return self._project_dir

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); :class:`SettingsError` on a bad value."""
        try:
            if environ is None:
                return cls()  # pydantic-settings reads os.environ
            # pydantic-settings reads no other mapping (pydantic/pydantic-settings#653). The values
            # go in as init arguments, which outrank os.environ; '' (the default) for each one missing.
            return cls(**{name: environ.get(name, "") for name in names()})
        except ValidationError as exc:
            raise SettingsError.of(exc) from None

    @model_validator(mode="after")
    def _together(self) -> Settings:
        """Settings that only make sense together."""
        if self.smtp_url and self.notify != "off":
            for name in ("notify_to", "notify_from"):
                if not getattr(self, name):
                    raise _problem_for(name.upper(), "is required when SMTP_URL is set", f"set {name.upper()}=advies@example.nl, or NOTIFY=off")
        if self.workers > 1 and self.database_url.partition("://")[0].lower() == "sqlite":
            raise _problem_for(
                "WORKERS",
                f"{self.workers} server processes cannot share a SQLite database: SQLite mode is single-process "
                "(its rate limit lives in the process's memory, and its commits go one at a time anyway)",
                "run one process (WORKERS=1, no --workers), or move to PostgreSQL: kennisbank db copy --from "
                "sqlite:///var/kennisbank.sqlite3 --to postgresql://user@host/kennisbank, then DATABASE_URL=postgresql://user@host/kennisbank",
            )
        if self.webhook_url and not self.webhook_secret:
            raise _problem_for(
                "WEBHOOK_SECRET", "is required when WEBHOOK_URL is set", "set WEBHOOK_SECRET=whsec_… (the receiver verifies every delivery with it)"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _blank_is_default(cls, values: Any) -> Any:
        """Drop empty and blank values (their default applies); strip the others."""
        if not isinstance(values, dict):
            return values
        return {key: value.strip() if isinstance(value, str) else value for key, value in values.items() if not isinstance(value, str) or value.strip()}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        **others: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment and nothing else: no .env file, no secrets folder."""
        return init_settings, env_settings


# The table, for --help and README.md


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    help: str


def names() -> list[str]:
    """Every variable, in the order of the table."""
    return [field.alias for field in Settings.model_fields.values()]


def variables(*only: str) -> list[Variable]:
    """The variables named in ``only`` (all if none), in the order of the table; ``KeyError`` for an unknown one."""
    fields = {field.alias: field for field in Settings.model_fields.values()}
    for name in only:
        if name not in fields:
            raise KeyError(f"{name} is not a setting; the settings are {', '.join(fields)}")
    return [Variable(name, field.default, field.description) for name, field in fields.items() if not only or name in only]


def markdown_table() -> str:
    """The table of README.md, between its ``<!-- settings -->`` markers."""
    rows = [f"| `{v.name}` | {f'`{v.default}`' if v.default else 'none'} | {v.help} |" for v in variables()]
    return "\n".join(["| variable | default | what |", "|---|---|---|", *rows]) + "\n"
