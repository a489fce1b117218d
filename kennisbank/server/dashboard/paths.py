"""Where the dashboard lives: its prefix, its cookie's names and the link to a lead.

The dashboard owns these; the outbox (the link in a lead's mail) and the app (where
it is mounted) ask here rather than spell them out.
"""

from __future__ import annotations

PREFIX = "/beheer"
COOKIE = "kb-beheer"
# a cookie named __Host- is sent only over HTTPS, for the host that set it, for every path
SECURE_COOKIE = "__Host-" + COOKIE


def lead_url(site_url: str) -> str:
    """The link to a submission in the consultant's dashboard, ``{id}`` for its public id."""
    return f"{site_url}{PREFIX.strip('/')}/inzendingen/{{id}}"
