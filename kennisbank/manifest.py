"""The build manifest: everything the server and the CLI need, written by the build.

The hooks write one JSON file into the built site once every language is built
(:data:`MANIFEST_PATH` under ``site/``). The server and the CLI read it and nothing
else of the build: not ``mkdocs.yml``, not ``assessments/``. A site built on one
machine is served from another by copying ``site/``, and answers are always scored
with the definition the reader's page was built from.

It holds:

- ``site``: the languages, their URL prefixes, the endpoint and the interface
  strings (``kennisbank.siteconfig.SiteConfig``);
- ``assessments``: every assessment exactly as built: its id, version, content
  hash (``digest``) and the checked definition;
- ``script_hashes``: the CSP hashes of every inline script in every built page;
- ``shells``: per language, the result page cut where the server's reply goes,
  with every URL already absolute;
- ``privacy``: what the privacy statement says the server passes on
  (``extra.operator.forwarding`` and whether ``extra.operator.crm`` names a CRM,
  :class:`kennisbank.operator.Statement`): the server refuses a ``NOTIFY`` or a
  ``WEBHOOK_URL`` that would pass on more.
- ``pages``: every page the site serves (its address, language and title): the
  pages whose views the server counts (``kennisbank.server.web.reach``); any other
  path counts nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kennisbank.assessment import Assessment, DefinitionError, from_data
from kennisbank.csp import script_hashes
from kennisbank.operator import FORWARDING, Operator, Statement
from kennisbank.shell import FIELD_END, FIELD_PAGE, FIELD_START, Shell, cut
from kennisbank.siteconfig import SiteConfig

MANIFEST_PATH = ".kennisbank/manifest.json"
"""Where the manifest lies under the built site. A dot folder: the server never serves it."""

FORMAT = 1
"""The manifest's format; a server refuses a manifest of another format and says why."""


@dataclass(frozen=True)
class Page:
    """A page of the built site: its language and its title."""

    lang: str
    title: str


def page_url(dest_uri: str) -> str:
    """The address a built file is served at: ``en/artikelen/x/index.html`` -> ``/en/artikelen/x/``."""
    path = "/" + dest_uri.lstrip("/")
    return path.removesuffix("index.html") if path.endswith("/index.html") or path == "/index.html" else path


class ManifestError(Exception):
    """The manifest is missing, unreadable or of another format; the message names the fix."""


@dataclass(frozen=True)
class Manifest:
    site: SiteConfig
    assessments: Mapping[str, Assessment]
    script_hashes: tuple[str, ...]
    shells: Mapping[str, Shell] = field(default_factory=dict)
    field_pages: Mapping[str, Shell] = field(default_factory=dict)
    """Per language, the page "how contracts in the field score" cut where the server puts its figures."""
    statement: Statement = Statement()
    """What the built privacy statement says the server passes on."""
    pages: Mapping[str, Page] = field(default_factory=dict)
    """Every page by its address (``/``, ``/en/artikelen/x/``): the pages whose views are counted."""
    source: Path | None = None

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "site": self.site.to_dict(),
            "assessments": {key: {"id": a.id, "version": a.version, "digest": a.digest, "definition": a.data} for key, a in sorted(self.assessments.items())},
            "script_hashes": sorted(set(self.script_hashes)),
            "shells": {
                locale: {"url": shell.url, "title": shell.title, "before": shell.before, "after": shell.after} for locale, shell in sorted(self.shells.items())
            },
            "field_pages": {
                locale: {"url": shell.url, "title": shell.title, "before": shell.before, "after": shell.after}
                for locale, shell in sorted(self.field_pages.items())
            },
            "privacy": {"forwarding": self.statement.forwarding, "crm": self.statement.crm},
            "pages": {url: {"lang": page.lang, "title": page.title} for url, page in sorted(self.pages.items())},
        }
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, source: Path | None = None) -> Manifest:
        where = source or "the manifest"
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc}). Fix: build the site again (make build)") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise ManifestError(
                f"{where}: manifest format {found!r}, this server reads format {FORMAT}. "
                "Fix: build the site with the same version of kennisbank as the server runs"
            )
        try:
            site = SiteConfig.from_dict(data["site"])
            assessments = {key: definition(record, site.locales, where) for key, record in data["assessments"].items()}
            shells = {locale: Shell(**shell) for locale, shell in data["shells"].items()}
            # optional: a site without the page (or built before it) serves no figures there
            field_pages = {locale: Shell(**shell) for locale, shell in data.get("field_pages", {}).items()}
            hashes = tuple(data["script_hashes"])
            # a build from before the key: its statement said what the default configuration says
            privacy = data.get("privacy", {"forwarding": Statement().forwarding, "crm": Statement().crm})
            statement = Statement(forwarding=privacy["forwarding"], crm=privacy["crm"])
            # optional: a site built before pages were listed has no page whose views are counted
            pages = {url: Page(str(page["lang"]), str(page["title"])) for url, page in data.get("pages", {}).items()}
        except (KeyError, TypeError) as exc:
            raise ManifestError(f"{where}: incomplete manifest ({exc!r} missing or malformed). Fix: build the site again (make build)") from None
        if statement.forwarding not in FORWARDING or not isinstance(statement.crm, bool):
            raise ManifestError(f"{where}: privacy: {privacy!r} is not what a build writes. Fix: build the site again (make build)")
        return cls(
            site=site, assessments=assessments, script_hashes=hashes, shells=shells, field_pages=field_pages, statement=statement, pages=pages, source=source
        )


def definition(record: Mapping[str, Any], locales, where: object = "the manifest") -> Assessment:
    """An assessment from its manifest (or database) record, checked again, and its hash verified."""
    try:
        assessment = from_data(record["definition"], f"{where}: assessments.{record.get('id')}", locales)
    except DefinitionError as exc:
        raise ManifestError(f"{exc}. Fix: build the site again (make build)") from None
    if assessment.digest != record["digest"]:
        raise ManifestError(
            f"{where}: assessment {record['id']!r}: its definition does not match its digest "
            f"({assessment.digest} != {record['digest']}). Fix: build the site again instead of editing the manifest"
        )
    return assessment


def manifest_file(site_dir: Path | str) -> Path:
    return Path(site_dir) / MANIFEST_PATH


def load_manifest(site_dir: Path | str) -> Manifest:
    """The manifest of the site built into ``site_dir``; :class:`ManifestError` names the fix."""
    path = manifest_file(site_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{path} does not exist: {site_dir} is not a site built by this project. Fix: build it (make build), or set SITE_DIR to the folder the build wrote"
        ) from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror}). Fix: check the file's permissions") from None
    return Manifest.from_json(text, path)


def write_manifest(site_dir: Path | str, manifest: Manifest) -> Path:
    """Write the manifest atomically: a reader sees the old one or the new one, never half."""
    path = manifest_file(site_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=".manifest-", delete=False) as tmp:
        tmp.write(manifest.to_json())
        tmp.flush()
        os.fsync(tmp.fileno())
    os.chmod(tmp.name, 0o644)  # like every other built file: the server may run as another user
    os.replace(tmp.name, path)
    return path


class ManifestBuilder:
    """What one language's build adds to the manifest.

    The hooks hand it what MkDocs knows (the definitions, each page's output, the
    language's result page and field page); :meth:`merged` joins every built
    language's builder into the one manifest, once they are all built."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.assessments: dict[str, Assessment] = {}
        self.hashes: set[str] = set()
        self.shells: dict[str, Shell] = {}
        self.field_pages: dict[str, Shell] = {}
        self.pages: dict[str, Page] = {}

    def add_assessments(self, assessments: Mapping[str, Assessment]) -> None:
        self.assessments.update(assessments)

    def add_page(self, html: str) -> None:
        self.hashes |= script_hashes(html)

    def add_known_page(self, locale: str, dest_uri: str, title: str) -> None:
        """A page of ``locale`` written to ``dest_uri`` (``en/artikelen/x/index.html``): its views are counted."""
        self.pages[page_url(dest_uri)] = Page(locale, title)

    def add_result_page(self, locale: str, prefix: str, html: str, where: str) -> None:
        shell = cut(html, prefix, where)
        self.shells[locale] = shell
        self.hashes |= script_hashes(shell.html)

    def add_field_page(self, locale: str, prefix: str, html: str, where: str) -> None:
        """The page "how contracts in the field score" of a language (``kennisbank.server.intake.peers``)."""
        shell = cut(html, prefix, where, page=FIELD_PAGE, markers=(FIELD_START, FIELD_END))
        self.field_pages[locale] = shell
        self.hashes |= script_hashes(shell.html)

    @staticmethod
    def merged(site: SiteConfig, builders: Iterable[ManifestBuilder]) -> Manifest:
        """The manifest of the site whose built languages collected ``builders``: whichever
        languages were built, every definition any of them read is in it."""
        assessments: dict[str, Assessment] = {}
        hashes: set[str] = set()
        shells: dict[str, Shell] = {}
        field_pages: dict[str, Shell] = {}
        pages: dict[str, Page] = {}
        for builder in builders:
            assessments.update(builder.assessments)
            hashes |= builder.hashes
            shells.update(builder.shells)
            field_pages.update(builder.field_pages)
            pages.update(builder.pages)
        missing = [lang.locale for lang in site.languages if lang.locale not in shells]
        if missing:
            raise ManifestError(
                f"the result page was not built for {', '.join(missing)}. "
                "Fix: keep docs/uitslag.<lang>.md (or its fallback) in the site; the server answers plain form posts with it"
            )
        return Manifest(
            site=site,
            assessments=assessments,
            script_hashes=tuple(sorted(hashes)),
            shells=shells,
            field_pages=field_pages,
            statement=Operator(site.operator, site.locales).statement,
            pages=pages,
        )
