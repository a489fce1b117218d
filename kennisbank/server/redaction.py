"""Secrets out of what is shown: URLs and messages without their passwords.

One rule for every URL the server names in a message or a log line (``DATABASE_URL``,
``SMTP_URL``, ``WEBHOOK_URL``): the settings' errors, the outbox's start-up line and the
store's errors all call :func:`url`, and the store's driver errors go through
:func:`message`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote


def _user_info_end(rest: str) -> int:
    """Where the user information of ``rest`` (a URL after ``://``) ends: -1 when it has none.

    Not ``urlsplit``: a password with an unencoded ``#`` or ``/`` (which libpq takes up to the
    ``@``) would end its netloc early and leave the password in the path or fragment. The user
    information ends at the last ``@`` before the query (or the last one at all)."""
    at = rest.rfind("@", 0, rest.find("?") if "?" in rest else len(rest))
    return at if at >= 0 else rest.rfind("@")


def url(text: str) -> str:
    """``text`` (a URL) without its password: the user is kept, ``password=`` in the query is ``***``."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return f"{scheme.partition(':')[0] or 'url'}://…"
    at = _user_info_end(rest)
    if at >= 0:
        rest = f"{rest[:at].partition(':')[0]}@{rest[at + 1 :]}"
    rest = re.sub(r"(?i)((?:^|[?&])password=)[^&]*", r"\1***", rest)
    return f"{scheme}://{rest}"


def passwords(text: str) -> list[str]:
    """The password in ``text`` (a URL) as written and decoded, from where a driver or a reader might take it."""
    rest = text.partition("://")[2]
    found = []
    at = _user_info_end(rest)
    if at >= 0 and ":" in rest[:at]:
        found.append(rest[:at].partition(":")[2])
    found += re.findall(r"(?i)(?:^|[?&])password=([^&]*)", rest)
    return [secret for password in found if password for secret in dict.fromkeys((password, unquote(password)))]


def message(text: str, about: str) -> str:
    """``text`` (a driver's message about the URL ``about``) with every quoted token that is, holds or is part of its password as ``***``."""
    secrets = passwords(about)

    def hide(match: re.Match) -> str:
        token = match[1]
        return '"***"' if any(secret in token or token in secret for secret in secrets) else match[0]

    text = re.sub(r'"([^"]*)"', hide, text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
