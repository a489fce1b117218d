"""Which definition scores a submission: the one the reader's page was built from.

The page carries its definition's content digest (``definition``) and version. The
server knows the definitions of the build manifest it serves, and every definition
it has served before: at start it records the manifest's in the database
(``definitions`` table), so a page loaded before a rebuild is scored with the
questions the reader saw, even after a restart. When the manifest changes while the
server runs (the site was rebuilt in place), a digest it does not know makes it read
the manifest again once.

A digest that is known nowhere cannot be scored honestly: the receiver answers 409
and the page's script offers a reload that keeps the answers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kennisbank.assessment import Assessment
from kennisbank.manifest import Manifest, ManifestError, definition, load_manifest, manifest_file
from kennisbank.server.db.store import StoredDefinition, SubmissionStore

log = logging.getLogger("kennisbank.server")


class Changed(Exception):
    """The page's definition is known neither in the manifest nor in the database."""


@dataclass
class Definitions:
    store: SubmissionStore
    site_dir: Path
    manifest: Manifest

    def __post_init__(self) -> None:
        self._older: dict[str, Assessment] = {}
        self._lock = threading.Lock()
        self._stamp = self._manifest_stamp()
        self.remember(self.manifest)

    @property
    def current(self) -> Mapping[str, Assessment]:
        return self.manifest.assessments

    def remember(self, manifest: Manifest) -> None:
        """Record the manifest's definitions in the database (already known ones stay as they are)."""
        added = self.store.remember_definitions(
            StoredDefinition(a.digest, a.id, a.version, json.dumps(a.data, ensure_ascii=False, sort_keys=True)) for a in manifest.assessments.values()
        )
        if added:
            log.info("recorded %d new assessment definition(s) from the build manifest", added)

    def resolve(self, assessment_id: str, digest: str | None, version: object) -> Assessment:
        """The definition to score with; :class:`Changed` when the page's is unknown.

        Without a digest (a client that is not the site's form) the current definition
        scores, unless the client names another version."""
        current = self.current[assessment_id]
        if digest is None:
            if version is None or str(version) == str(current.version):
                return current
            raise Changed
        if digest == current.digest:
            return current
        found = self._older.get(digest) or self._stored(digest)
        if found is not None and found.id == assessment_id:
            return found
        if self._reload():
            return self.resolve(assessment_id, digest, version)
        raise Changed

    def _stored(self, digest: str) -> Assessment | None:
        record = self.store.definition(digest)
        if record is None:
            return None
        data = {"id": record.assessment, "digest": record.digest, "definition": json.loads(record.definition)}
        try:
            assessment = definition(data, self.manifest.site.locales, "the database's definitions table")
        except ManifestError as exc:
            # e.g. a language was added since: that old page cannot be scored in it
            log.warning("a stored definition cannot be used: %s", exc)
            return None
        self._older[digest] = assessment
        return assessment

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = manifest_file(self.site_dir).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _reload(self) -> bool:
        """Read the manifest again if the site was rebuilt since; whether it changed."""
        with self._lock:
            stamp = self._manifest_stamp()
            if stamp is None or stamp == self._stamp:
                return False
            try:
                manifest = load_manifest(self.site_dir)
            except ManifestError as exc:
                log.warning("the site was rebuilt, but its manifest cannot be read: %s", exc)
                return False
            self._stamp = stamp
            if set(manifest.assessments) != set(self.manifest.assessments):
                log.warning("the rebuilt site has other assessments; restart the server to serve them")
                return False
            self.remember(manifest)
            self.manifest = manifest
            log.info("the site was rebuilt: read its manifest again")
            return True
