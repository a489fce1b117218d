"""0003: reach, counted without identifying anyone: page views, their sources and the scan's funnel.

Three tables of counts per day (:mod:`~kennisbank.server.db.schema`'s ``reach_views``,
``reach_sources``, ``funnel_steps``), written in batches by upserts that add
(``n = n + excluded.n``), so several server processes add up. No trigger: the sent and
with-contact steps of the funnel are read from the submissions themselves.
"""

from alembic import op

from kennisbank.server.db import schema

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    schema.metadata.create_all(op.get_bind(), tables=[schema.metadata.tables[name] for name in schema.REACH_TABLES])


def downgrade() -> None:
    raise NotImplementedError("revisions go forward only: restore the backup taken before the upgrade")
