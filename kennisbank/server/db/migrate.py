"""The one migration history of both databases: Alembic, configured here (no alembic.ini).

``open_store`` migrates on start, in one transaction that another process starting at
once waits for (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock); the revisions
are in ``migrations/versions/``, numbered 0001, 0002, ... once for both databases.

A database made by the SQL files before Alembic (the table ``schema_migrations`` at
version 9) holds revision 0001's schema already: it is stamped at 0001, keeping its
rows, and its ``schema_migrations`` dropped; the revisions after 0001 then run as on
any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from kennisbank.server.db import schema
from kennisbank.server.db.records import StoreError

FOLDER = Path(__file__).with_name("migrations")
LEGACY_VERSION = 9
"""The last version of the SQL files before Alembic; revision 0001 is its schema."""


def config(connection: Any = None) -> Config:
    """Alembic's configuration: the revisions in :data:`FOLDER` (read at each call: a test points it at its own)."""
    settings = Config()
    settings.set_main_option("script_location", str(FOLDER))
    settings.attributes["connection"] = connection
    return settings


def head() -> int:
    """The number of the newest revision this code knows."""
    return int(ScriptDirectory.from_config(config()).get_current_head())


def version(connection: Any) -> int:
    """The database's revision as a number; 0: none (never migrated, or made by the SQL files before Alembic)."""
    current = MigrationContext.configure(connection).get_current_revision()
    return int(current) if current else 0


def upgrade(connection: Any, label: str) -> list[str]:
    """Bring the database on ``connection`` (in a transaction) to the newest revision; the revisions applied."""
    script = ScriptDirectory.from_config(config())
    known = {revision.revision for revision in script.walk_revisions()}
    tables = set(inspect(connection).get_table_names())
    if "schema_migrations" in tables:
        _adopt_legacy(connection, label)
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and current not in known:
        raise StoreError(
            f"{label}: the database is at schema revision {current}, newer than this code knows ({script.get_current_head()}). "
            "Fix: run the newer version of kennisbank, or point DATABASE_URL at another database"
        )
    pending = [revision for revision in script.walk_revisions(base="base", head="heads") if current is None or int(revision.revision) > int(current)]
    try:
        command.upgrade(config(connection), "head")
    except StoreError:
        raise
    except Exception as error:
        raise StoreError(
            f"{label}: the upgrade to revision {script.get_current_head()} failed and was rolled back, the database stays at {current or 'no revision'} "
            f"({type(error).__name__}: {str(error).strip().splitlines()[0]}). Fix: report it with this message"
        ) from None
    return [revision.revision for revision in reversed(pending)]


def _adopt_legacy(connection: Any, label: str) -> None:
    found = connection.exec_driver_sql("SELECT coalesce(max(version), 0) FROM schema_migrations").scalar()
    if found != LEGACY_VERSION:
        raise StoreError(
            f"{label}: the database is at the old schema version {found}, which this kennisbank cannot upgrade (only version {LEGACY_VERSION}). "
            "Fix: start the kennisbank release before the switch to Alembic once on it (it migrates to version 9), then this one"
        )
    command.stamp(config(connection), "0001")
    connection.exec_driver_sql("DROP TABLE schema_migrations")


def differences(connection: Any) -> list:
    """What the database on ``connection`` lacks or has beyond :mod:`.schema` (Alembic's
    autogenerate comparison, types aside), on its own dialect: ``[]`` when they agree."""
    dialect = connection.dialect.name
    elsewhere = {table.name for table in schema.metadata.tables.values() if not schema.on(dialect, table)}
    elsewhere |= {(table.name, column.name) for table in schema.metadata.tables.values() for column in table.columns if not schema.on(dialect, column)}
    kept = []
    for change in compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), schema.metadata):
        change = change[0] if isinstance(change, list) else change
        kind = change[0]
        if kind == "add_table" and change[1].name in elsewhere:
            continue
        if kind == "add_column" and (change[2], change[3].name) in elsewhere:
            continue
        if kind == "add_index" and change[1].table.name in elsewhere:
            continue
        if kind == "remove_table" and change[1].name == "alembic_version":
            continue
        if dialect == "sqlite" and kind in ("remove_fk", "add_fk", "modify_nullable"):
            # SQLite's reflection reads no ON DELETE of a column's REFERENCES, and its text primary
            # keys take NULL unless NOT NULL is written: the tests compare the cascades and keys themselves
            continue
        kept.append(change)
    return kept
