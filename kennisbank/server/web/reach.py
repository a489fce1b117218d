"""Reach without tracking: the server counts the pages it serves, and the scan's steps, and nothing else.

A page view is a ``GET`` of one of the build manifest's pages (``Manifest.pages``) answered
200 with HTML: not a ``HEAD``, not a 304 (a reader's browser revalidating), not an asset,
not the dashboard (mounted apart, and no page of the manifest), not a browser's prefetch
(``Sec-Purpose``/``Purpose: prefetch``), not a request without a ``User-Agent`` or with
one the maintained list of ``crawler-user-agents`` (PyPI) calls a bot. It counts per day
(UTC), page and language, with where the reader came from:

- the referrer's host only (``https://www.linkedin.com/feed/?x`` counts ``www.linkedin.com``;
  never its path or query), '' for none and for this site itself;
- the campaign tags of the page's address (``utm_source``, ``utm_medium``, ``utm_campaign``):
  each at most :data:`TAG_LENGTH` letters, digits, spaces and ``. _ ~ + -``, lowercased;
  any other value counts as ``other``.

A process counts at most :data:`MAX_SOURCES_PER_DAY` different sources a day; more count as
``other``. With only the manifest's pages and assessments counted, a flood of made-up paths,
hosts or tags cannot grow the tables.

Nothing identifying is kept, not even in memory beyond the request: no address, no user
agent (the bot verdicts are remembered under a keyed hash whose key lives only in this
process's memory, made anew at each start), no cookie, no identifier. Only the counts,
added up in memory (:class:`Tally`) and written every :data:`FLUSH_SECONDS` in one
transaction of upserts that add (:meth:`~kennisbank.server.db.store.SubmissionStore.add_reach`),
and once more at shutdown: a SIGKILL loses at most the last :data:`FLUSH_SECONDS` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

import anyio
import crawleruseragents
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kennisbank.server")

FLUSH_SECONDS = 10
"""Seconds between two writes of the counts: what a SIGKILL loses at most (the README says so)."""
MAX_SOURCES_PER_DAY = 500
"""Different referrer hosts, and different campaign tags, one process counts a day; more count as ``other``."""
TAG_LENGTH = 64
MAX_USER_AGENT = 512
"""A longer ``User-Agent`` is no browser's: not counted (and not run through the bot patterns)."""
VERDICTS = 4096
"""Bot verdicts remembered (under a keyed hash) before they are forgotten all at once."""
OTHER = "other"
STEPS = ("started", "completed")
TAGS = ("utm_source", "utm_medium", "utm_campaign")
_TAG = re.compile(rf"[a-z0-9 ._~+-]{{1,{TAG_LENGTH}}}")
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)*")
_HTML = b"text/html"


def today() -> str:
    """The day in UTC: the finest time reach keeps."""
    return time.strftime("%Y-%m-%d", time.gmtime())


def referrer_host(referer: str, own_hosts: Iterable[str]) -> str:
    """The host of a ``Referer`` (lowercase, no port), '' for none or one of ``own_hosts``, ``other`` if it is no host name."""
    if not referer:
        return ""
    try:
        host = urlsplit(referer.strip()).hostname or ""
    except ValueError:
        return OTHER
    if not host:
        return ""  # android-app://…, about:blank: no site to name
    host = host.rstrip(".")
    if host in own_hosts:
        return ""
    return host if _HOST.fullmatch(host) else OTHER


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port: ``example.nl:8000`` -> ``example.nl``, ``[::1]:80`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0].rstrip(".")


def campaign(query: bytes) -> tuple[str, str, str]:
    """``(utm_source, utm_medium, utm_campaign)`` of a query string: '' for none, ``other`` for a value out of bounds."""
    if b"utm_" not in query:
        return ("", "", "")
    found: dict[str, str] = {}
    for name, value in parse_qsl(query.decode("latin-1")[:4096], keep_blank_values=True):
        if name in TAGS and name not in found:
            value = value.strip().lower()
            found[name] = value if _TAG.fullmatch(value) else OTHER
    return tuple(found.get(name, "") for name in TAGS)  # type: ignore[return-value]


class Bots:
    """Whether a user agent is a bot's, by the patterns of ``crawler-user-agents``; the verdicts
    remembered under a keyed BLAKE2b of the user agent (the key made at start, never stored)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._verdicts: dict[bytes, bool] = {}

    def __call__(self, user_agent: str) -> bool:
        if not user_agent.strip() or len(user_agent) > MAX_USER_AGENT:
            return True
        digest = hashlib.blake2b(user_agent.encode("utf-8", "replace"), key=self._key, digest_size=16).digest()
        verdict = self._verdicts.get(digest)
        if verdict is None:
            if len(self._verdicts) >= VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[digest] = crawleruseragents.is_crawler(user_agent)
        return verdict


class Tally:
    """The counts since the last write, in memory; only the manifest's ``pages`` (``{url: lang}``)
    and ``assessments`` (``{id: versions}``) count. Safe to use from the event loop and a thread."""

    def __init__(
        self,
        pages: Mapping[str, str],
        assessments: Mapping[str, Iterable[int]],
        locales: Iterable[str],
        own_hosts: Iterable[str] = (),
        day: Callable[[], str] = today,
    ):
        self.pages = dict(pages)
        # /x/index.html is the page /x/ too
        self.pages.update({url + "index.html": lang for url, lang in pages.items() if url.endswith("/")})
        self.canonical = {url + "index.html": url for url in pages if url.endswith("/")}
        self.assessments = {key: frozenset(versions) for key, versions in assessments.items()}
        self.locales = frozenset(locales)
        self.own_hosts = frozenset(host.lower() for host in own_hosts if host)
        self.day = day
        self.bots = Bots()
        self.views: Counter = Counter()
        self.sources: Counter = Counter()
        self.steps: Counter = Counter()
        self._lock = threading.Lock()
        self._seen_day = ""
        self._seen: dict[str, set] = {"referrer": set(), "campaign": set()}

    def page_of(self, path: str) -> str | None:
        """The manifest's address of ``path`` if it is one of its pages, else ``None``."""
        if path not in self.pages:
            return None
        return self.canonical.get(path, path)

    def _bounded(self, kind: str, value, day: str):
        """``value``, or ``other`` once this process has counted :data:`MAX_SOURCES_PER_DAY` others today."""
        if day != self._seen_day:
            self._seen_day = day
            self._seen = {"referrer": set(), "campaign": set()}
        seen = self._seen[kind]
        if value in seen:
            return value
        if len(seen) >= MAX_SOURCES_PER_DAY:
            return OTHER if kind == "referrer" else (OTHER, OTHER, OTHER)
        seen.add(value)
        return value

    def view(self, page: str, user_agent: str, referer: str, host: str, query: bytes) -> bool:
        """Count one view of the manifest's ``page`` unless a bot's; whether it counted."""
        if self.bots(user_agent):
            return False
        referrer = referrer_host(referer, self.own_hosts | {host_name(host)} if host else self.own_hosts)
        tags = campaign(query)
        lang = self.pages[page]
        day = self.day()
        with self._lock:
            if referrer not in ("", OTHER):
                referrer = self._bounded("referrer", referrer, day)
            if tags != ("", "", ""):
                tags = self._bounded("campaign", tags, day)
            self.views[(day, page, lang)] += 1
            self.sources[(day, page, lang, referrer, *tags)] += 1
        return True

    def step(self, assessment: str, version: int, lang: str, step: str) -> bool:
        """Count one step of the scan if it names a known assessment, version, language and step."""
        if step not in STEPS or lang not in self.locales or version not in self.assessments.get(assessment, ()):
            return False
        with self._lock:
            self.steps[(self.day(), assessment, version, lang, step)] += 1
        return True

    def take(self) -> tuple[Counter, Counter, Counter]:
        """The counts so far, and start afresh."""
        with self._lock:
            taken = (self.views, self.sources, self.steps)
            self.views, self.sources, self.steps = Counter(), Counter(), Counter()
        return taken

    def put_back(self, taken: tuple[Counter, Counter, Counter]) -> None:
        """Counts a write could not store: kept for the next one."""
        with self._lock:
            self.views.update(taken[0])
            self.sources.update(taken[1])
            self.steps.update(taken[2])

    def flush(self, store) -> int:
        """Write the counts so far in one transaction; the views written. On failure they stay for the next write."""
        taken = self.take()
        if not any(taken):
            return 0
        try:
            store.add_reach(*taken)
        except Exception:
            self.put_back(taken)
            raise
        return sum(taken[0].values())

    async def flush_regularly(self, store, seconds: float = FLUSH_SECONDS, flushed: Callable[[], None] | None = None) -> None:
        """Write the counts every ``seconds`` while the server runs (the app's lifespan runs this)."""
        while True:
            await asyncio.sleep(seconds)
            await self.flush_now(store)
            if flushed is not None:
                flushed()

    async def flush_now(self, store) -> None:
        try:
            await anyio.to_thread.run_sync(self.flush, store)
        except Exception as exc:  # the database is away for a moment: the counts wait in memory
            log.warning("reach counts could not be written (%s); trying again in %g s", type(exc).__name__, FLUSH_SECONDS)


class CountViews:
    """ASGI middleware around the site: counts each page view in ``tally`` as its response starts."""

    def __init__(self, app: ASGIApp, tally: Tally):
        self.app = app
        self.tally = tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        page = self.tally.page_of(scope["path"])
        if page is None:
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                self._count(page, scope, message)
            await send(message)

        await self.app(scope, receive, counting)

    def _count(self, page: str, scope: Scope, message: Message) -> None:
        html = False
        for name, value in message.get("headers", ()):
            if name.lower() == b"content-type":
                html = value.lower().startswith(_HTML)
                break
        if not html:
            return
        user_agent = referer = host = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"referer":
                referer = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            elif name in (b"sec-purpose", b"purpose", b"x-moz") and b"prefetch" in value.lower():
                return  # a browser fetching ahead: nobody has read the page yet
        self.tally.view(page, user_agent, referer, host, scope.get("query_string", b""))
