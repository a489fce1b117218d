"""``kennisbank db copy``: every table from one database to another (SQLite to PostgreSQL and back).

For a site that outgrows SQLite (or moves back). The steps:

1. The source is opened read-only: it must exist, is never created or migrated, and must
   be at the current schema (``kennisbank db migrate`` brings it there); a source without
   rows is refused unless ``allow_empty``. The target is opened as the server opens it
   (created and migrated). The revision is not copied, it is compared.
2. The source is read in one snapshot (a read transaction), so a server that keeps
   writing to it meanwhile does not tear the copy.
3. The target must hold no data (``replace`` empties it first, in the same transaction).
4. Every table is copied in dependency order in one transaction on the target, with the
   aggregate triggers off: ``insight_*`` and ``peer_counts`` are copied as they are, not
   counted twice. PostgreSQL's id sequences are set past the copied ids.
5. Per table, the row count and a SHA-256 over the rows in a canonical form (each row as
   JSON, the rows sorted, so neither collation nor row order matters) are compared between
   the source snapshot and the target inside that transaction; on a difference the
   transaction is rolled back and the error names the table.

What one database has alone is not copied (:data:`~.schema.COPIED`): PostgreSQL's
``peer_changes`` (a cache counter, rebuilt from use), its rate limit's state, and a
worker's claim on a delivery (``outbox.claimed_until``, ``claimed_by``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kennisbank.server.db import migrate, schema
from kennisbank.server.db.store import StoreError, open_source, open_store

COPIED = schema.COPIED


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str


class CopyError(StoreError):
    """The copy could not be made or did not verify; nothing was changed in the target."""


def checksum(rows: Iterable[tuple]) -> tuple[int, str]:
    """The number of rows and a SHA-256 over them in a canonical form: each row as compact
    JSON (integers, text and null as the databases return them), the rows sorted."""
    lines = sorted(json.dumps(list(row), ensure_ascii=False, separators=(",", ":")) for row in rows)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return len(lines), digest.hexdigest()


def checksums(store) -> dict[str, tuple[int, str]]:
    """Every copied table's row count and checksum, from one snapshot of ``store``."""
    return {table: checksum(rows) for table, rows in store.read_tables({table: schema.columns(table) for table in COPIED}).items()}


def copy_database(source_url: str, target_url: str, base: Path, *, replace: bool = False, allow_empty: bool = False) -> list[TableCopy]:
    """Copy every table of ``source_url`` into ``target_url``, verified; what was copied, per table.

    The source is opened read-only: it must exist, is never migrated (one at another schema
    version is refused), and one without rows is refused unless ``allow_empty`` (a mistyped
    path with ``--replace`` would otherwise empty the target and report success)."""
    source = open_source(source_url, base)
    try:
        known = migrate.head()
        version = source.schema_version
        if version != known:
            newer = version > known
            raise CopyError(
                f"{source.target}: the source is at schema version {version}, this kennisbank's is {known}; "
                "a source is read as it is, never migrated, and nothing was changed. "
                + (
                    "Fix: run the newer version of kennisbank that wrote it"
                    if newer
                    else "Fix: check that --from names a kennisbank database; if so, bring it to the current schema first "
                    "with DATABASE_URL=<the --from URL> kennisbank db migrate, then copy again"
                )
            )
        columns = {table: schema.columns(table) for table in COPIED}
        data = source.read_tables(columns)
        expected = {table: checksum(rows) for table, rows in data.items()}
        if not allow_empty and not any(data.values()):
            raise CopyError(
                f"{source.target}: the source holds no rows in any table; nothing was changed. "
                "Fix: check that --from names the right database (the server's is DATABASE_URL), or give --allow-empty to copy an empty one"
            )
        target = open_store(target_url, base)
        try:
            if version != target.schema_version:
                raise CopyError(
                    f"the source is at schema version {version}, the target at {target.schema_version}. Fix: run the same version of kennisbank on both"
                )

            def refuse_data(filled: list[str]) -> None:
                if filled and not replace:
                    raise CopyError(
                        f"{target.target}: the target holds data (in {', '.join(filled)}); a copy never mixes two databases. "
                        "Fix: copy into a new, empty database, or give --replace to delete what the target holds first"
                    )

            def verify(read: Callable[[str, list[str]], list[tuple]]) -> list[TableCopy]:
                copied = []
                for table in COPIED:
                    found = checksum(read(table, columns[table]))
                    if found != expected[table]:
                        raise CopyError(
                            f"{target.target}: table {table} differs after the copy ({found[0]} rows, checksum {found[1][:12]}; "
                            f"the source has {expected[table][0]}, {expected[table][1][:12]}); the copy was rolled back. "
                            "Fix: check that both databases are at the same schema and that no other program writes to the target, then copy again"
                        )
                    copied.append(TableCopy(table, *found))
                return copied

            return target.load_tables({table: (columns[table], data[table]) for table in COPIED}, refuse_data, verify)
        finally:
            target.close()
    finally:
        source.close()
