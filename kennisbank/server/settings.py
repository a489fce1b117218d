"""The server's settings, read from the environment and nothing else.

Every variable has a default that works for ``make serve`` on a fresh checkout.
A value that cannot be used stops the start with :class:`SettingsError`, whose
message names the variable, the problem and the fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from .store import StoreURLError, parse_database_url

DEFAULT_DATABASE_URL = "sqlite:///var/kennisbank.sqlite3"


class SettingsError(Exception):
    """A setting that cannot be used; ``str()`` says which, why, and how to fix it."""

    def __init__(self, variable: str, problem: str, fix: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` submissions per ``seconds`` from one client address."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    database_url: str
    site_dir: Path
    project_dir: Path
    """The folder relative paths are relative to: the current one."""
    retention_months: int
    rate_limit: RateLimit | None
    cors_origins: tuple[str, ...]
    max_body_bytes: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from ``environ`` (default ``os.environ``); :class:`SettingsError` on a bad value."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            value = env.get(name)
            return default if value is None or value.strip() == "" else value.strip()

        project = Path.cwd()
        database_url = get("DATABASE_URL", DEFAULT_DATABASE_URL)
        try:
            parse_database_url(database_url, project)
        except StoreURLError as exc:
            raise SettingsError("DATABASE_URL", exc.problem, exc.fix) from None
        site_dir = Path(get("SITE_DIR", "site")).expanduser()
        return cls(
            host=_host(get("HOST", "127.0.0.1")),
            port=_integer("PORT", get("PORT", "8000"), 1, 65535, "a port number from 1 to 65535, e.g. PORT=8000"),
            database_url=database_url,
            site_dir=site_dir if site_dir.is_absolute() else (project / site_dir),
            project_dir=project,
            retention_months=_integer(
                "RETENTION_MONTHS", get("RETENTION_MONTHS", "12"), 1, 1200, "a whole number of months of 1 or more, e.g. RETENTION_MONTHS=12"
            ),
            rate_limit=_rate_limit(get("RATE_LIMIT", "5/60")),
            cors_origins=_origins(get("CORS_ORIGINS", "")),
            max_body_bytes=_integer(
                "MAX_BODY_BYTES", get("MAX_BODY_BYTES", "65536"), 4096, 16 * 1024 * 1024, "a size in bytes from 4096 to 16777216, e.g. MAX_BODY_BYTES=65536"
            ),
        )


# Helper functions


def _integer(name: str, value: str, low: int, high: int, fix: str) -> int:
    if not re.fullmatch(r"\d+", value):
        raise SettingsError(name, f"{value!r} is not a whole number", f"set {fix}")
    number = int(value)
    if not low <= number <= high:
        raise SettingsError(name, f"{number} is out of range ({low} to {high})", f"set {fix}")
    return number


def _host(value: str) -> str:
    if any(char.isspace() for char in value) or "/" in value:
        raise SettingsError("HOST", f"{value!r} is not a host name or IP address", "set e.g. HOST=127.0.0.1 (this machine only) or HOST=0.0.0.0 (every interface)")
    return value


def _rate_limit(value: str) -> RateLimit | None:
    if value.lower() == "off":
        return None
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise SettingsError(
            "RATE_LIMIT",
            f"{value!r} is not <submissions>/<seconds>",
            "set e.g. RATE_LIMIT=5/60 (5 submissions per 60 seconds per client address), or RATE_LIMIT=off to switch it off",
        )
    return RateLimit(int(match[1]), int(match[2]))


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lowercase without a default port; ``None`` if not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
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
            raise SettingsError("CORS_ORIGINS", "'*' would let every website post submissions", "list the origins that host the static site, e.g. CORS_ORIGINS=https://www.example.nl,https://example.nl")
        origin = normalise_origin(item)
        if origin is None:
            raise SettingsError(
                "CORS_ORIGINS",
                f"{item!r} is not an origin (scheme://host[:port], no path)",
                "list origins separated by commas, e.g. CORS_ORIGINS=https://www.example.nl,https://example.nl",
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))
