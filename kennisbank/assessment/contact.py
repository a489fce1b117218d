"""The optional contact part of a submission: its fields and their limits.

One place for both the form (``maxlength``) and the server (validation), so the two
never disagree.
"""

from __future__ import annotations

#: field name -> maximum length in characters
CONTACT_FIELDS: dict[str, int] = {
    "name": 200,
    "email": 254,
    "organisation": 200,
    "message": 5000,
}
#: The checkboxes of the contact part.
DISCUSS_FIELD = "discuss"
CONSENT_FIELD = "consent"
#: A field that people never see and bots fill in.
HONEYPOT_FIELD = "website"
#: Form field name of a question's answer.
ANSWER_PREFIX = "answer-"
#: Where the page's script tells the server that the scan was started or completed
#: (``navigator.sendBeacon``; kennisbank.server.intake.funnel): on the page's own origin.
BEACON_PATH = "/api/funnel"
