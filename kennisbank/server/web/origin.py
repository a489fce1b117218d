"""The one rule for whether a state-changing request comes from where it may.

The receiver and the contact form (:mod:`kennisbank.server.intake`) and the dashboard's
POSTs (:mod:`kennisbank.server.dashboard`) all ask :func:`allowed`. A browser says where
a request comes from in ``Origin`` and, when that is ``null`` or absent, in
``Sec-Fetch-Site``; a page of another site can make a reader's browser post, but it
cannot make it lie in these headers.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import Request

from kennisbank.server.settings import normalise_origin


def allowed(request: Request, *, also: Collection[str] = (), strict: bool) -> bool:
    """Whether ``request`` may come from where it says.

    An ``Origin`` that is this site, or one of ``also`` (``CORS_ORIGINS``, normalised),
    is allowed; any other origin, and one that cannot be parsed, is refused. Where
    ``Origin`` says nothing (``null``: a page with ``referrer: no-referrer``, a sandboxed
    frame; or absent), the browser's ``Sec-Fetch-Site`` decides: only ``same-origin``
    and ``none`` (typed or bookmarked) pass, so a foreign page's self-submitting form is
    refused. A client that sends neither header is no browser, so no reader can be made
    to post through it; it passes (the form works with curl). ``Origin: null`` without
    ``Sec-Fetch-Site`` (an old browser) passes only when not ``strict``: a plain form may
    come from such a browser, a JSON ``fetch`` or a dashboard POST may not."""
    header = request.headers.get("origin")
    if header is not None and header.strip().lower() != "null":
        origin = normalise_origin(header)
        return origin is not None and (origin == _own_origin(request) or origin in also)
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site:
        return fetch_site in ("same-origin", "none")
    return header is None or not strict


def same_origin(request: Request) -> bool:
    """Whether ``request`` says it comes from this site's own pages, and nowhere else: an ``Origin``
    that is this site, or (``Origin`` null or absent) ``Sec-Fetch-Site: same-origin``. Stricter than
    :func:`allowed`: a client that says neither is refused, and so is every other origin
    (``CORS_ORIGINS`` too). The scan's beacon (:mod:`kennisbank.server.intake.funnel`) asks this:
    ``navigator.sendBeacon`` always sends ``Origin``, so only a page of this site is counted."""
    header = request.headers.get("origin")
    if header is not None and header.strip().lower() != "null":
        origin = normalise_origin(header)
        return origin is not None and origin == _own_origin(request)
    return request.headers.get("sec-fetch-site", "").strip().lower() == "same-origin"


def _own_origin(request: Request) -> str | None:
    """This site's origin as the request reached it (scheme and ``Host``)."""
    return normalise_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
