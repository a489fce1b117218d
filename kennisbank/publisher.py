"""Who publishes the site: the controller a reader must be able to identify.

The GDPR (art. 13(1)(a)) and the Dutch information duty for online services
(art. 3:15d BW) ask for the legal entity, its address, its Chamber of Commerce
(KvK) number and a way to reach it by email. They are configuration
(``extra.publisher`` in ``mkdocs.yml``), shown in the footer, on the about page and
in the privacy statement. A build for a public address refuses to go out while
one is missing or still a placeholder; a local build shows a notice instead.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

#: what each key is, for the error that names it
KEYS = {
    "name": "the legal form and name, e.g. Voorbeeld Advies B.V.",
    "address": "the postal address, e.g. Voorbeeldstraat 1, 1234 AB Utrecht",
    "kvk": "the Chamber of Commerce (KvK) number, eight digits",
    "vat": "the VAT identification number (btw-id), e.g. NL123456789B01",
    "email": "the general contact email address",
    "privacy_email": "the email address for privacy questions and requests",
}

# "[Rechtsvorm en naam]", "example.nl", "TODO": text that was never filled in
_PLACEHOLDER = re.compile(r"\[.*\]|\bexample\.(?:nl|com|org|net)\b|\bTODO\b|\bXXX\b|^\s*$", re.I)
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class PublisherError(ValueError):
    """``extra.publisher`` cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class Publisher:
    name: str = ""
    address: str = ""
    kvk: str = ""
    vat: str = ""
    email: str = ""
    privacy_email: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Publisher:
        data = dict(data or {})
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise PublisherError(f"mkdocs.yml: extra.publisher.{unknown[0]}: unknown key. Fix: use {', '.join(KEYS)}")
        return cls(**{key: str(value if value is not None else "").strip() for key, value in data.items()})

    def problems(self) -> list[str]:
        """Every key that is missing, a placeholder or malformed, as 'key: problem. Fix: …'."""
        found = []
        for item in fields(self):
            value = getattr(self, item.name)
            where = f"mkdocs.yml: extra.publisher.{item.name}"
            if _PLACEHOLDER.search(value):
                state = "is missing" if not value else f"is still a placeholder ({value!r})"
                found.append(f"{where} {state}. Fix: set {KEYS[item.name]}")
            elif item.name.endswith("email") and not _EMAIL.match(value):
                found.append(f"{where}: {value!r} is not an email address. Fix: set {KEYS[item.name]}")
            elif item.name == "kvk" and not re.fullmatch(r"\d{8}", value.replace(" ", "")):
                found.append(f"{where}: {value!r} is not a KvK number. Fix: set {KEYS['kvk']}")
            elif item.name == "vat" and not re.fullmatch(r"[A-Z]{2}[0-9A-Z+*.]{2,13}", value.replace(" ", "")):
                found.append(f"{where}: {value!r} is not a VAT identification number. Fix: set {KEYS['vat']}")
        return found

    def markup(self, key: str) -> Markup:
        """The value of ``key`` as HTML: email addresses as ``mailto:`` links, everything escaped."""
        if key not in KEYS:
            raise PublisherError(f"unknown publisher key {key!r}. Fix: use {', '.join(KEYS)}")
        value = getattr(self, key)
        if key.endswith("email") and value:
            return Markup('<a href="mailto:{0}">{0}</a>').format(value)
        return escape(value)


def is_public(site_url: str) -> bool:
    """Whether ``site_url`` is an address the public reaches (not this machine or a test name)."""
    host = (urlsplit(site_url).hostname or "").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".test", ".invalid", ".example", ".local")):
        return False
    if host.removeprefix("www.") in ("example.com", "example.org", "example.net") or host.endswith((".example.com", ".example.org", ".example.net")):
        return False  # reserved for documentation and tests (RFC 2606)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified)
