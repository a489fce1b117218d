-- 0005: the dashboard's insight figures, kept as counts per month.
--
-- The insight page (/beheer/inzicht) showed counts it grouped from every row's
-- answers: 0.7-2 s at 100,000 submissions on the first load after new data. These
-- two tables hold the same counts per calendar month and per filter dimension
-- (assessment, definition version, language, band, lead or anonymous, status), so
-- a chart sums a few thousand rows instead of reading every submission.
--
-- Triggers keep them, in the same transaction as the change: an insert, an erasure,
-- a retention purge, a status change or any other write to those columns. No code
-- path can forget them. A period that does not start or end on a month's edge takes
-- the whole months from here and the partial months from the rows (the store).
--
-- insight_counts: submissions per score decile (0: 0-9 ... 9: 90-100).
-- insight_answers: per question and answer value (as the JSON holds it: a scale
-- value as an integer, "unknown", "na", or a context option's id). The column has
-- no type, so 1 and '1' stay apart as they do in the JSON.

CREATE TABLE insight_counts (
    month       TEXT    NOT NULL,   -- YYYY-MM (UTC), substr(created_at, 1, 7)
    assessment  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    lang        TEXT    NOT NULL,
    band        TEXT    NOT NULL,
    consent     INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    decile      INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (month, assessment, version, lang, band, consent, status, decile)
) WITHOUT ROWID;

CREATE TABLE insight_answers (
    month       TEXT    NOT NULL,
    assessment  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    lang        TEXT    NOT NULL,
    band        TEXT    NOT NULL,
    consent     INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    answer              NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (month, assessment, version, lang, band, consent, status, question, answer)
) WITHOUT ROWID;

-- how often each month's rows changed: the store keeps the figures of a partial month
-- (read from the rows) until this number moves
CREATE TABLE insight_changes (
    month       TEXT    PRIMARY KEY,
    changes     INTEGER NOT NULL
) WITHOUT ROWID;

-- the search by email or organisation (a substring, LIKE) reads only the leads: the
-- anonymous three quarters hold neither. (Not FTS5: SQLite before 3.42 keeps an erased
-- address's trigrams in the index's segments until they are merged.)
CREATE INDEX submissions_search ON submissions (created_at, id, email, organisation) WHERE consent = 1;

-- the backfill: every submission stored before this migration
INSERT INTO insight_counts (month, assessment, version, lang, band, consent, status, decile, n)
SELECT substr(created_at, 1, 7), assessment, version, lang, band, consent, status, min(score / 10, 9), count(*)
FROM submissions
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO insight_answers (month, assessment, version, lang, band, consent, status, question, answer, n)
SELECT substr(s.created_at, 1, 7), s.assessment, s.version, s.lang, s.band, s.consent, s.status, j.key, j.value, count(*)
FROM submissions s, json_each(s.answers) j
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

INSERT INTO insight_changes (month, changes) SELECT DISTINCT month, 0 FROM insight_counts;

-- a row counts in, with its values after the change
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
END;

-- a row counts out, with its values before the change (erasure, purge, the dashboard's erase)
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
END;

-- a change to any column the figures read (a status change, a correction): out with
-- the old values, in with the new
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
END;
