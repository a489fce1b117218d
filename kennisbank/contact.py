"""The contact and rights-request form: what a reader can ask without the self-assessment.

One place for the form's fields, kinds and limits, so that the page (rendered at
build time) and the server (``kennisbank.server.intake.contact``) never disagree.
"""

from __future__ import annotations

from kennisbank.assessment.contact import CONTACT_FIELDS
from kennisbank.siteconfig import SiteConfig
from kennisbank.templating import templates

KINDS = ("question", "access", "correction", "erasure", "withdraw")
#: field -> maximum length in characters
LIMITS = {field: CONTACT_FIELDS[field] for field in ("name", "email", "message")}
"""The same limits as the scan's contact details: one place for both."""
HONEYPOT = "website"
PRIVACY_KINDS = frozenset(KINDS) - {"question"}
"""The kinds that are privacy requests: verified before they are answered."""


def render_form(site: SiteConfig, locale: str, *, privacy_url: str, page: str) -> str:
    """The form for the page at absolute path ``page`` (where the server's reply leads back to)."""

    def s(key: str, **values: object) -> str:
        return site.string(key, locale, **values)

    return templates.get_template("contact/form.html").render(
        s=s,
        lang=locale,
        kinds=KINDS,
        limits=LIMITS,
        action=site.contact_endpoint,
        privacy_url=privacy_url,
        page=page,
        privacy_label=s("contact_privacy_link"),
    )
