"""What only the site's operator knows: processors, retention, reply time, forwarding.

The privacy statement and the replies state facts that differ per deployment: who
hosts the site and the mail, in which country and where they store data, how long
the hosting company keeps connection data, how long a backup is kept, how soon
questions are answered, whether submissions are sent on by email (``NOTIFY``) and
whether a CRM receives them (``WEBHOOK_URL``). They are configuration
(``extra.operator`` in ``mkdocs.yml``). Like the publisher (:mod:`kennisbank.publisher`),
a value still in ``[brackets]`` is a placeholder: a build for a public address
refuses it, naming the key and the fix; a local build shows it as it is.

Pages name a fact with ``<!-- md:operator KEY -->`` (``reply_time``,
``connection_log_retention``, ``backup_retention``, ``processors``, ``forwarding``);
site and definition strings with ``{reply_time}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

#: a per-language text and what it is, for the error that names it
TEXTS = {
    "reply_time": "how soon you answer a question or a request to discuss a result, e.g. nl: binnen twee werkdagen, en: within two working days",
    "connection_log_retention": "whether and how long the hosting company keeps connection data (IP addresses), as its processing agreement says",
    "backup_retention": "how long a backup is kept at most (eight days with deploy/kennisbank-backup.service as shipped)",
}
#: the processors, in the order the privacy statement lists them; ``crm`` only when one is connected
PROCESSORS = {
    "hosting": "the hosting company that runs the site and the submission server",
    "email": "the email provider that carries your mail and the server's notifications",
    "crm": "the CRM that receives submissions through WEBHOOK_URL (leave crm out when there is none)",
}
PROCESSOR_KEYS = {"name": "its legal name", "country": "the country where it is established", "storage": "where it stores the data (a country or the EU)"}
FORWARDING = ("leads", "all", "off")
"""``extra.operator.forwarding``: what the server's ``NOTIFY`` may be set to at most (it refuses to start otherwise)."""

_PLACEHOLDER = re.compile(r"\[[^\]]*\]|\bTODO\b|\bXXX\b|^\s*$", re.I)


class OperatorError(ValueError):
    """``extra.operator`` cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class Statement:
    """What the privacy statement of a build says the server passes on; the build manifest
    keeps it (``kennisbank.manifest``), and the server refuses to start when ``NOTIFY`` or
    ``WEBHOOK_URL`` would pass on more (``kennisbank.server.channels.check_statement``)."""

    forwarding: str = "leads"
    """``extra.operator.forwarding``: leads, all or off."""
    crm: bool = False
    """Whether ``extra.operator.crm`` names a CRM that receives submissions."""


@dataclass(frozen=True)
class Operator:
    data: Mapping[str, Any]
    locales: tuple[str, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, locales: tuple[str, ...]) -> Operator:
        data = dict(data or {})
        where = "mkdocs.yml: extra.operator"
        known = {*TEXTS, *PROCESSORS, "forwarding"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OperatorError(f"{where}.{unknown[0]}: unknown key. Fix: use {', '.join(sorted(known))}")
        for key in TEXTS:
            _text(data.get(key), f"{where}.{key}", locales, TEXTS[key])
        for role in PROCESSORS:
            if role == "crm" and data.get("crm") is None:
                continue
            processor = data.get(role)
            if not isinstance(processor, Mapping):
                raise OperatorError(f"{where}.{role}: is missing. Fix: set name, country and storage of {PROCESSORS[role]}")
            extra = sorted(set(processor) - set(PROCESSOR_KEYS))
            if extra:
                raise OperatorError(f"{where}.{role}.{extra[0]}: unknown key. Fix: use {', '.join(PROCESSOR_KEYS)}")
            if not isinstance(processor.get("name"), str):
                raise OperatorError(f"{where}.{role}.name: is missing. Fix: set {PROCESSOR_KEYS['name']}")
            for key in ("country", "storage"):
                _text(processor.get(key), f"{where}.{role}.{key}", locales, PROCESSOR_KEYS[key])
        forwarding = data.get("forwarding", "leads")
        if forwarding not in FORWARDING:
            raise OperatorError(f"{where}.forwarding: {forwarding!r} is not one of {', '.join(FORWARDING)}. Fix: set what the server's NOTIFY is set to")
        return cls(data, tuple(locales))

    @property
    def forwarding(self) -> str:
        return self.data.get("forwarding", "leads")

    @property
    def crm(self) -> bool:
        return self.data.get("crm") is not None

    @property
    def statement(self) -> Statement:
        return Statement(forwarding=self.forwarding, crm=self.crm)

    def text(self, key: str, locale: str) -> str:
        return self.data[key][locale]

    def processors(self) -> list[tuple[str, Mapping[str, Any]]]:
        return [(role, self.data[role]) for role in PROCESSORS if self.data.get(role) is not None]

    def facts(self, locale: str) -> dict[str, str]:
        """The texts that strings may name as ``{placeholders}``."""
        return {key: self.data[key][locale] for key in TEXTS}

    def problems(self) -> list[str]:
        """Every value still a placeholder, as 'mkdocs.yml: extra.operator.KEY is still a placeholder (…). Fix: …'."""
        found = []

        def check(value: str, where: str, what: str) -> None:
            if _PLACEHOLDER.search(value):
                state = "is missing" if not value.strip() else f"is still a placeholder ({value!r})"
                found.append(f"mkdocs.yml: extra.operator.{where} {state}. Fix: set {what}")

        for key, what in TEXTS.items():
            for locale in self.locales:
                check(self.data[key][locale], f"{key}.{locale}", what)
        for role, processor in self.processors():
            check(processor["name"], f"{role}.name", f"{PROCESSOR_KEYS['name']} ({PROCESSORS[role]})")
            for key in ("country", "storage"):
                for locale in self.locales:
                    check(processor[key][locale], f"{role}.{key}.{locale}", f"{PROCESSOR_KEYS[key]} ({PROCESSORS[role]})")
        return found

    def markup(self, key: str, locale: str, strings: Mapping[str, Mapping[str, str]]) -> Markup:
        """A fact as HTML for ``<!-- md:operator KEY -->``, everything escaped."""
        if key in TEXTS:
            return escape(self.text(key, locale))
        if key == "processors":
            items = []
            for role, processor in self.processors():
                line = strings[f"privacy_processor_{role}"][locale]
                values = {"name": Markup("<strong>{}</strong>").format(processor["name"]), **{k: escape(processor[k][locale]) for k in ("country", "storage")}}
                items.append(Markup("<li>{}</li>").format(escape(line).format(**values)))
            return Markup("<ul>\n{}\n</ul>").format(Markup("\n").join(items))
        if key == "forwarding":
            text = strings[f"privacy_forwarding_{self.forwarding}"][locale]
            if self.crm:
                text += " " + strings["privacy_forwarding_crm"][locale]
            return escape(text)
        raise OperatorError(f"unknown operator fact {key!r}. Fix: use {', '.join([*TEXTS, 'processors', 'forwarding'])}")


def _text(value: Any, where: str, locales: tuple[str, ...], what: str) -> None:
    if not isinstance(value, Mapping) or any(not isinstance(value.get(locale), str) for locale in locales):
        raise OperatorError(f"{where}: needs a text in every language ({', '.join(locales)}). Fix: set {what}, e.g. {{nl: ..., en: ...}}")
