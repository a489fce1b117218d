-- 0006: where a reader stands among earlier submissions of the same definition.
--
-- submission_themes: the theme scores a submission was given, written in the same
-- transaction as the submission (score NULL: no question of the theme applied).
-- It belongs to its submission: erasure and purge delete it with it (CASCADE).
--
-- peer_counts: how many submissions scored `value` (0-100) on `measure` ('' the
-- total, otherwise a theme id), per definition digest. 101 buckets per measure give
-- exact percentiles and medians without reading the submissions. The triggers below
-- keep it in the same transaction as every insert and delete, whoever runs it (the
-- server, `kennisbank erase`, `kennisbank purge`, the dashboard), so it cannot drift.
-- Submissions without a definition digest (before 0002) are left out: they cannot be
-- matched to a definition version.

CREATE TABLE submission_themes (
    submission    INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    definition    TEXT    NOT NULL,   -- the submission's digest (copied: the delete trigger needs it)
    theme         TEXT    NOT NULL,
    score         INTEGER CHECK (score IS NULL OR score BETWEEN 0 AND 100),
    PRIMARY KEY (submission, theme)
) WITHOUT ROWID;

CREATE TABLE peer_counts (
    definition    TEXT    NOT NULL,
    measure       TEXT    NOT NULL,
    value         INTEGER NOT NULL CHECK (value BETWEEN 0 AND 100),
    count         INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (definition, measure, value)
) WITHOUT ROWID;

-- the totals of the submissions stored so far (their theme scores are filled in by
-- the server at start, which can score them: kennisbank.server.peers.backfill)
INSERT INTO peer_counts (definition, measure, value, count)
SELECT definition, '', score, count(*) FROM submissions WHERE definition IS NOT NULL GROUP BY definition, score;

CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions WHEN NEW.definition IS NOT NULL
BEGIN
    INSERT INTO peer_counts (definition, measure, value, count) VALUES (NEW.definition, '', NEW.score, 1)
    ON CONFLICT (definition, measure, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions WHEN OLD.definition IS NOT NULL
BEGIN
    UPDATE peer_counts SET count = count - 1 WHERE definition = OLD.definition AND measure = '' AND value = OLD.score;
END;

-- a stored score or digest never changes; refuse a change rather than let the counts drift
CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition ON submissions
WHEN OLD.score IS NOT NEW.score OR OLD.definition IS NOT NEW.definition
BEGIN
    SELECT RAISE(ABORT, 'a submission''s score and definition are fixed once stored (peer_counts depends on them)');
END;

CREATE TRIGGER peer_counts_theme_insert AFTER INSERT ON submission_themes WHEN NEW.score IS NOT NULL
BEGIN
    INSERT INTO peer_counts (definition, measure, value, count) VALUES (NEW.definition, NEW.theme, NEW.score, 1)
    ON CONFLICT (definition, measure, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER peer_counts_theme_delete AFTER DELETE ON submission_themes WHEN OLD.score IS NOT NULL
BEGIN
    UPDATE peer_counts SET count = count - 1 WHERE definition = OLD.definition AND measure = OLD.theme AND value = OLD.score;
END;

CREATE TRIGGER submission_themes_fixed BEFORE UPDATE ON submission_themes
BEGIN
    SELECT RAISE(ABORT, 'theme scores are fixed once stored (peer_counts depends on them)');
END;
