"""The receiver's replies: JSON for ``fetch``, a page in the site's look for a plain form.

:class:`Replies` turns what the receiver decided (:mod:`kennisbank.server.intake.receiver`)
into responses. The HTML is rendered from the package's templates
(``templates/server/``, autoescaped) into the shell of the built result page that the
build manifest holds; nothing here decides whether a submission is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from kennisbank.assessment import Assessment, render_result
from kennisbank.manifest import Shell
from kennisbank.server.intake.bodies import Accepted, Problem, message, messages
from kennisbank.server.intake.peers import number
from kennisbank.siteconfig import SiteConfig
from kennisbank.templating import templates

NO_STORE = {"Cache-Control": "no-store"}
PEER_LABELS = ("heading",)
"""The site strings ``peers_<label>`` the comparison's heading is written with."""


def article_url(site: SiteConfig, assessment: Assessment, lang: str) -> str:
    """The absolute path of the assessment's article in ``lang`` (the server serves the site at /):
    the way back from a reply, and the base of the result's links, here and in the dashboard."""
    page = assessment.article.removesuffix(".md")
    page = "" if page == "index" else page.removesuffix("/index") + "/"
    return "/" + site.language(lang).prefix + page


@dataclass(frozen=True)
class Replies:
    site: SiteConfig
    shells: Callable[[], Mapping[str, Shell]]
    """The current manifest's shells (a rebuilt site has new asset names)."""
    not_found_page: Callable[[str], str | None]
    """``not_found_page(path) -> str | None``: the built 404 page of the path's language."""

    # Pieces

    def _page(self, lang: str, template: str, *, title_prefix: str = "", **context) -> str:
        content = templates.get_template(f"server/{template}").render(format_number=number, lang=lang, **context)
        return self.shells()[lang].render(content, title_prefix=title_prefix)

    def _back(self, assessment: Assessment, lang: str) -> dict[str, str]:
        return {"back_url": article_url(self.site, assessment, lang) + "#" + assessment.id, "back_text": assessment.string("back", lang)}

    # Replies

    def stored(self, assessment: Assessment, accepted: Accepted, public_id: str, as_json: bool, peers: Mapping[str, Any] | None = None) -> Response:
        """``peers``: where the reader stands among earlier submissions (:func:`.peers.standing`)."""
        lang = accepted.lang
        if peers is not None:
            peers = {**peers, "labels": {key: self.site.string(f"peers_{key}", lang) for key in PEER_LABELS}}
        if as_json:
            reply = {
                "id": public_id,
                "score": accepted.result.score,
                "band": {"id": accepted.result.band.id, "title": accepted.result.band.title[lang]},
                "contact_stored": accepted.contact_stored,
                "follow_up": accepted.follow_up,
                **({"peers": peers} if peers is not None else {}),
            }
            return JSONResponse(reply, status_code=201, headers=NO_STORE)
        html = self._page(
            lang,
            "result.html",
            sent=assessment.string("sent", lang, id=public_id),
            follow_up=assessment.string("follow_up", lang, **self.site.facts(lang)) if accepted.follow_up else "",
            consent_notice=assessment.string("error_consent", lang) if accepted.contact_given and not accepted.consent else "",
            result=render_result(assessment, lang, accepted.result, accepted.answers, article_url=article_url(self.site, assessment, lang), heading_level=2),
            peers=peers,
            **self._back(assessment, lang),
        )
        return HTMLResponse(html, status_code=200, headers=NO_STORE)

    def problems(self, assessment: Assessment, lang: str, as_json: bool, problems: Mapping[str, Problem]) -> Response:
        texts = messages(assessment, problems, lang, self.site.strings)
        if as_json:
            return JSONResponse({"errors": texts}, status_code=422, headers=NO_STORE)
        article = article_url(self.site, assessment, lang)
        known = {question.id for question in assessment.questions}
        items = []
        for field, text in texts.items():
            question = field.removeprefix("answers.")
            href = f"{article}#{assessment.id}-q-{question}" if question in known else ""
            items.append({"text": text, "href": href})
        heading = assessment.string("error_heading", lang)
        html = self._page(lang, "problems.html", title_prefix=heading, heading=heading, problems=items, **self._back(assessment, lang))
        return HTMLResponse(html, status_code=422, headers=NO_STORE)

    def failure(
        self, assessment: Assessment, lang: str, as_json: bool, status: int, key: str, headers: Mapping[str, str] | None = None, **values: str
    ) -> Response:
        """A refusal in words: ``key`` is a definition string or a site string (``extra.strings``)."""
        text = message(assessment, key, lang, self.site.strings, **values)
        headers = {**NO_STORE, **(headers or {})}
        if as_json:
            return JSONResponse({"error": text}, status_code=status, headers=headers)
        html = self._page(lang, "failure.html", title_prefix=text.split(". ")[0], text=text, **self._back(assessment, lang))
        return HTMLResponse(html, status_code=status, headers=headers)

    def unknown_assessment(self, path: str, as_json: bool, assessment_id: str) -> Response:
        if as_json:
            return JSONResponse({"error": f"unknown assessment {assessment_id[:80]!r}"}, status_code=404, headers=NO_STORE)
        page = self.not_found_page(path)
        return HTMLResponse(page or "Not Found", status_code=404, headers=NO_STORE)

    @staticmethod
    def disconnected() -> Response:
        return Response(status_code=400, headers=NO_STORE)
