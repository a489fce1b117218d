"""0001: the schema as the nine SQL migrations before Alembic left it (their version 9).

The tables are :mod:`~kennisbank.server.db.schema`'s. While this is the one revision it
creates them as that module declares them; the revision that first changes a table
freezes this one first (pastes the tables, as they stood, in here). A test upgrades a
database made by the old SQL files and compares it with ``schema.py``: drift fails it.

A database of the old SQL files is not run through this: :mod:`..migrate` stamps it at
this revision (it holds this schema already) and drops its ``schema_migrations``.

The triggers keep the aggregates (``insight_*``, ``peer_counts``) in the transaction of
every change, whoever writes: the server, ``kennisbank erase`` and ``purge``, the
dashboard. Each database writes them in its own language: SQLite's trigger bodies,
PostgreSQL's PL/pgSQL (and its rate limit's functions, for several server processes).
"""

from alembic import op

from kennisbank.server.db import schema

revision = "0001"
down_revision = None

SQLITE = [
    # a row counts in, with its values after the change
    """
CREATE TRIGGER insight_insert AFTER INSERT ON submissions
BEGIN
    INSERT INTO insight_changes (month, changes) VALUES (substr(NEW.created_at, 1, 7), 1) ON CONFLICT DO UPDATE SET changes = changes + 1;
    INSERT INTO insight_counts (month, assessment, version, lang, band, consent, status, decile, n)
    VALUES (substr(NEW.created_at, 1, 7), NEW.assessment, NEW.version, NEW.lang, NEW.band, NEW.consent, NEW.status, min(NEW.score / 10, 9), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO insight_answers (month, assessment, version, lang, band, consent, status, question, answer, n)
    SELECT substr(NEW.created_at, 1, 7), NEW.assessment, NEW.version, NEW.lang, NEW.band, NEW.consent, NEW.status, j.key, j.value, 1
    FROM json_each(NEW.answers) j WHERE true
    ON CONFLICT DO UPDATE SET n = n + 1;
END""",
    # a row counts out, with its values before the change (erasure, purge, the dashboard's erase)
    """
CREATE TRIGGER insight_delete AFTER DELETE ON submissions
BEGIN
    INSERT INTO insight_changes (month, changes) VALUES (substr(OLD.created_at, 1, 7), 1) ON CONFLICT DO UPDATE SET changes = changes + 1;
    UPDATE insight_counts SET n = n - 1
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status AND decile = min(OLD.score / 10, 9);
    DELETE FROM insight_counts
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status AND decile = min(OLD.score / 10, 9) AND n <= 0;
    UPDATE insight_answers SET n = n - 1
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status
      AND (question, answer) IN (SELECT key, value FROM json_each(OLD.answers));
    DELETE FROM insight_answers
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status AND n <= 0;
END""",
    # a change to any column the figures read (a status change, a correction): out with the old values, in with the new
    """
CREATE TRIGGER insight_update AFTER UPDATE OF created_at, assessment, version, lang, band, consent, status, score, answers ON submissions
BEGIN
    INSERT INTO insight_changes (month, changes) VALUES (substr(OLD.created_at, 1, 7), 1) ON CONFLICT DO UPDATE SET changes = changes + 1;
    INSERT INTO insight_changes (month, changes) VALUES (substr(NEW.created_at, 1, 7), 1) ON CONFLICT DO UPDATE SET changes = changes + 1;
    UPDATE insight_counts SET n = n - 1
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status AND decile = min(OLD.score / 10, 9);
    DELETE FROM insight_counts
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status AND decile = min(OLD.score / 10, 9) AND n <= 0;
    UPDATE insight_answers SET n = n - 1
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status
      AND (question, answer) IN (SELECT key, value FROM json_each(OLD.answers));
    DELETE FROM insight_answers
    WHERE month = substr(OLD.created_at, 1, 7) AND assessment = OLD.assessment AND version = OLD.version AND lang = OLD.lang
      AND band = OLD.band AND consent = OLD.consent AND status = OLD.status AND n <= 0;
    INSERT INTO insight_counts (month, assessment, version, lang, band, consent, status, decile, n)
    VALUES (substr(NEW.created_at, 1, 7), NEW.assessment, NEW.version, NEW.lang, NEW.band, NEW.consent, NEW.status, min(NEW.score / 10, 9), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO insight_answers (month, assessment, version, lang, band, consent, status, question, answer, n)
    SELECT substr(NEW.created_at, 1, 7), NEW.assessment, NEW.version, NEW.lang, NEW.band, NEW.consent, NEW.status, j.key, j.value, 1
    FROM json_each(NEW.answers) j WHERE true
    ON CONFLICT DO UPDATE SET n = n + 1;
END""",
    """
CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions WHEN NEW.definition IS NOT NULL
BEGIN
    INSERT INTO peer_counts (definition, measure, value, count) VALUES (NEW.definition, '', NEW.score, 1)
    ON CONFLICT (definition, measure, value) DO UPDATE SET count = count + 1;
END""",
    """
CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions WHEN OLD.definition IS NOT NULL
BEGIN
    UPDATE peer_counts SET count = count - 1 WHERE definition = OLD.definition AND measure = '' AND value = OLD.score;
END""",
    # a stored score or digest never changes; refuse a change rather than let the counts drift
    """
CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition ON submissions
WHEN OLD.score IS NOT NEW.score OR OLD.definition IS NOT NEW.definition
BEGIN
    SELECT RAISE(ABORT, 'a submission''s score and definition are fixed once stored (peer_counts depends on them)');
END""",
    """
CREATE TRIGGER peer_counts_theme_insert AFTER INSERT ON submission_themes WHEN NEW.score IS NOT NULL
BEGIN
    INSERT INTO peer_counts (definition, measure, value, count) VALUES (NEW.definition, NEW.theme, NEW.score, 1)
    ON CONFLICT (definition, measure, value) DO UPDATE SET count = count + 1;
END""",
    """
CREATE TRIGGER peer_counts_theme_delete AFTER DELETE ON submission_themes WHEN OLD.score IS NOT NULL
BEGIN
    UPDATE peer_counts SET count = count - 1 WHERE definition = OLD.definition AND measure = OLD.theme AND value = OLD.score;
END""",
    """
CREATE TRIGGER submission_themes_fixed BEFORE UPDATE ON submission_themes
BEGIN
    SELECT RAISE(ABORT, 'theme scores are fixed once stored (peer_counts depends on them)');
END""",
]

POSTGRESQL = [
    # one row counted in (delta 1, its values after the change) or out (delta -1, before)
    """
CREATE FUNCTION insight_count(r submissions, delta integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m text := substr(r.created_at, 1, 7);
BEGIN
    INSERT INTO insight_changes AS c (month, changes) VALUES (m, 1)
    ON CONFLICT (month) DO UPDATE SET changes = c.changes + 1;
    INSERT INTO insight_counts AS c (month, assessment, version, lang, band, consent, status, decile, n)
    VALUES (m, r.assessment, r.version, r.lang, r.band, r.consent, r.status, least(r.score / 10, 9), delta)
    ON CONFLICT (month, assessment, version, lang, band, consent, status, decile) DO UPDATE SET n = c.n + delta;
    INSERT INTO insight_answers AS a (month, assessment, version, lang, band, consent, status, question, answer, n)
    SELECT m, r.assessment, r.version, r.lang, r.band, r.consent, r.status, j.key, j.value, delta
    FROM jsonb_each(r.answers::jsonb) j
    ON CONFLICT (month, assessment, version, lang, band, consent, status, question, answer) DO UPDATE SET n = a.n + delta;
    IF delta < 0 THEN
        DELETE FROM insight_counts
        WHERE month = m AND assessment = r.assessment AND version = r.version AND lang = r.lang
          AND band = r.band AND consent = r.consent AND status = r.status AND n <= 0;
        DELETE FROM insight_answers
        WHERE month = m AND assessment = r.assessment AND version = r.version AND lang = r.lang
          AND band = r.band AND consent = r.consent AND status = r.status AND n <= 0;
    END IF;
END
$$""",
    """
CREATE FUNCTION insight_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM insight_count(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM insight_count(NEW, 1);
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER insight_insert_delete AFTER INSERT OR DELETE ON submissions FOR EACH ROW EXECUTE FUNCTION insight_trigger()",
    # a change to any column the figures read (a status change, a correction)
    "CREATE TRIGGER insight_update AFTER UPDATE OF created_at, assessment, version, lang, band, consent, status, score, answers ON submissions "
    "FOR EACH ROW EXECUTE FUNCTION insight_trigger()",
    # every change of a digest's counts moves its peer_changes counter: a cached count is current while it stands
    """
CREATE FUNCTION peer_count(d text, m text, v integer, delta integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO peer_changes AS c (definition, changes) VALUES (d, 1)
    ON CONFLICT (definition) DO UPDATE SET changes = c.changes + 1;
    IF delta > 0 THEN
        INSERT INTO peer_counts AS p (definition, measure, value, count) VALUES (d, m, v, 1)
        ON CONFLICT (definition, measure, value) DO UPDATE SET count = p.count + 1;
    ELSE
        UPDATE peer_counts SET count = count - 1 WHERE definition = d AND measure = m AND value = v;
    END IF;
END
$$""",
    """
CREATE FUNCTION peer_counts_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM peer_count(NEW.definition, '', NEW.score, 1);
    ELSE
        PERFORM peer_count(OLD.definition, '', OLD.score, -1);
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions FOR EACH ROW WHEN (NEW.definition IS NOT NULL) EXECUTE FUNCTION peer_counts_total()",
    "CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions FOR EACH ROW WHEN (OLD.definition IS NOT NULL) EXECUTE FUNCTION peer_counts_total()",
    """
CREATE FUNCTION peer_counts_theme() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM peer_count(NEW.definition, NEW.theme, NEW.score, 1);
    ELSE
        PERFORM peer_count(OLD.definition, OLD.theme, OLD.score, -1);
    END IF;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER peer_counts_theme_insert AFTER INSERT ON submission_themes FOR EACH ROW WHEN (NEW.score IS NOT NULL) EXECUTE FUNCTION peer_counts_theme()",
    "CREATE TRIGGER peer_counts_theme_delete AFTER DELETE ON submission_themes FOR EACH ROW WHEN (OLD.score IS NOT NULL) EXECUTE FUNCTION peer_counts_theme()",
    # a stored score, digest or theme score never changes; refuse a change rather than let the counts drift
    """
CREATE FUNCTION peer_counts_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation', MESSAGE = TG_ARGV[0];
END
$$""",
    "CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition ON submissions "
    "FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score OR OLD.definition IS DISTINCT FROM NEW.definition) "
    "EXECUTE FUNCTION peer_counts_fixed('a submission''s score and definition are fixed once stored (peer_counts depends on them)')",
    "CREATE TRIGGER submission_themes_fixed BEFORE UPDATE ON submission_themes "
    "FOR EACH ROW EXECUTE FUNCTION peer_counts_fixed('theme scores are fixed once stored (peer_counts depends on them)')",
    # Seconds until `client` may submit again (NULL: now), at most `most` per `window_seconds`:
    # the `most`-th newest hit inside the window decides, as in the in-memory limiter.
    """
CREATE FUNCTION rate_limit_wait(client bytea, most integer, window_seconds double precision) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    now_at double precision := extract(epoch FROM clock_timestamp());
    nth double precision;
BEGIN
    SELECT h.at INTO nth FROM rate_limit_hits h
        WHERE h.client = rate_limit_wait.client AND h.at > now_at - window_seconds
        ORDER BY h.at DESC OFFSET most - 1 LIMIT 1;
    RETURN nth + window_seconds - now_at;
END
$$""",
    # Record one submission from `client` unless it must wait: NULL if recorded, else the seconds to
    # wait. Callers recording the same client take turns (a transaction-scoped advisory lock on its
    # hash), so the limit holds exactly across processes. The client's hits outside the window go first.
    """
CREATE FUNCTION rate_limit_hit(client bytea, most integer, window_seconds double precision) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    now_at double precision;
    nth double precision;
BEGIN
    -- two int4 keys: a key space apart from the one-bigint locks (migrations, the outbox worker)
    PERFORM pg_advisory_xact_lock(1801613932, ('x' || encode(substr(rate_limit_hit.client, 1, 4), 'hex'))::bit(32)::integer);
    now_at := extract(epoch FROM clock_timestamp());
    DELETE FROM rate_limit_hits h WHERE h.client = rate_limit_hit.client AND h.at <= now_at - window_seconds;
    SELECT h.at INTO nth FROM rate_limit_hits h
        WHERE h.client = rate_limit_hit.client
        ORDER BY h.at DESC OFFSET most - 1 LIMIT 1;
    IF nth IS NOT NULL THEN
        RETURN nth + window_seconds - now_at;
    END IF;
    INSERT INTO rate_limit_hits (client, at) VALUES (rate_limit_hit.client, now_at);
    RETURN NULL;
END
$$""",
]


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    # the tables of the schema as it stood: a later revision's own tables are that revision's to create
    later = set(schema.REACH_TABLES)
    baseline = [table for table in schema.metadata.sorted_tables if schema.on(dialect, table) and table.name not in later]
    schema.metadata.create_all(bind, tables=baseline)
    if dialect == "sqlite":  # no column is SQLite's alone: drop those that are PostgreSQL's
        for table in baseline:
            for column in table.columns:
                if not schema.on(dialect, column):
                    op.drop_column(table.name, column.name)
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRESQL}[dialect]:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("0001 is the first revision: to start again, make a new database")
