"""0002: a submission without a verdict is not counted in the comparison with peers.

When too many answers are "don't know" the result has no band: the submission is stored
with band ``_insufficient`` (:data:`kennisbank.assessment.model.NO_VERDICT`, which no
definition can use as a band id) and NULL theme scores. The total's triggers of 0001 counted
every submission; these count every one but those, on insert and on delete alike, so the
counts cannot drift; and a stored band can no longer change, as a score could not.
"""

from alembic import op

revision = "0002"
down_revision = "0001"

DROPS = {
    "sqlite": ["DROP TRIGGER peer_counts_total_insert", "DROP TRIGGER peer_counts_total_delete", "DROP TRIGGER peer_counts_total_fixed"],
    "postgresql": [
        "DROP TRIGGER peer_counts_total_insert ON submissions",
        "DROP TRIGGER peer_counts_total_delete ON submissions",
        "DROP TRIGGER peer_counts_total_fixed ON submissions",
    ],
}

SQLITE = [
    """
CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions
WHEN NEW.definition IS NOT NULL AND NEW.band <> '_insufficient'
BEGIN
    INSERT INTO peer_counts (definition, measure, value, count) VALUES (NEW.definition, '', NEW.score, 1)
    ON CONFLICT (definition, measure, value) DO UPDATE SET count = count + 1;
END""",
    """
CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions
WHEN OLD.definition IS NOT NULL AND OLD.band <> '_insufficient'
BEGIN
    UPDATE peer_counts SET count = count - 1 WHERE definition = OLD.definition AND measure = '' AND value = OLD.score;
END""",
    """
CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition, band ON submissions
WHEN OLD.score IS NOT NEW.score OR OLD.definition IS NOT NEW.definition OR OLD.band IS NOT NEW.band
BEGIN
    SELECT RAISE(ABORT, 'a submission''s score, band and definition are fixed once stored (peer_counts depends on them)');
END""",
]

POSTGRESQL = [
    """
CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions
FOR EACH ROW WHEN (NEW.definition IS NOT NULL AND NEW.band <> '_insufficient') EXECUTE FUNCTION peer_counts_total()""",
    """
CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions
FOR EACH ROW WHEN (OLD.definition IS NOT NULL AND OLD.band <> '_insufficient') EXECUTE FUNCTION peer_counts_total()""",
    """
CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition, band ON submissions
FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score OR OLD.definition IS DISTINCT FROM NEW.definition OR OLD.band IS DISTINCT FROM NEW.band)
EXECUTE FUNCTION peer_counts_fixed('a submission''s score, band and definition are fixed once stored (peer_counts depends on them)')""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in [*DROPS[dialect], *{"sqlite": SQLITE, "postgresql": POSTGRESQL}[dialect]]:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("revisions go forward only: restore the backup taken before the upgrade")
