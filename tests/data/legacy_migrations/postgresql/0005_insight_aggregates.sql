-- 0005: the dashboard's insight figures, kept as counts per month (PostgreSQL; the
-- meaning is migrations/sqlite/0005's).
--
-- A PL/pgSQL trigger keeps them in the same transaction as every insert, delete and
-- change of a column they read, whoever writes. insight_answers.answer is jsonb: the
-- value as the JSON holds it, so 1 and '1' stay apart as in the JSON (and as SQLite's
-- untyped column keeps them).

CREATE TABLE insight_counts (
    month       text    NOT NULL,   -- YYYY-MM (UTC), substr(created_at, 1, 7)
    assessment  text    NOT NULL,
    version     integer NOT NULL,
    lang        text    NOT NULL,
    band        text    NOT NULL,
    consent     integer NOT NULL,
    status      text    NOT NULL,
    decile      integer NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (month, assessment, version, lang, band, consent, status, decile)
);

CREATE TABLE insight_answers (
    month       text    NOT NULL,
    assessment  text    NOT NULL,
    version     integer NOT NULL,
    lang        text    NOT NULL,
    band        text    NOT NULL,
    consent     integer NOT NULL,
    status      text    NOT NULL,
    question    text    NOT NULL,
    answer      jsonb   NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (month, assessment, version, lang, band, consent, status, question, answer)
);

-- how often each month's rows changed: the store keeps a month's figures until this moves
CREATE TABLE insight_changes (
    month       text    PRIMARY KEY,
    changes     bigint  NOT NULL
);

CREATE INDEX submissions_search ON submissions (created_at, id, email, organisation) WHERE consent = 1;

-- the backfill: every submission stored before this migration
INSERT INTO insight_counts (month, assessment, version, lang, band, consent, status, decile, n)
SELECT substr(created_at, 1, 7), assessment, version, lang, band, consent, status, least(score / 10, 9), count(*)
FROM submissions
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO insight_answers (month, assessment, version, lang, band, consent, status, question, answer, n)
SELECT substr(s.created_at, 1, 7), s.assessment, s.version, s.lang, s.band, s.consent, s.status, j.key, j.value, count(*)
FROM submissions s, jsonb_each(s.answers::jsonb) j
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

INSERT INTO insight_changes (month, changes) SELECT DISTINCT month, 0 FROM insight_counts;

-- one row counted in (delta 1, its values after the change) or out (delta -1, before)
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
$$;

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
$$;

CREATE TRIGGER insight_insert_delete AFTER INSERT OR DELETE ON submissions
FOR EACH ROW EXECUTE FUNCTION insight_trigger();

-- a change to any column the figures read (a status change, a correction)
CREATE TRIGGER insight_update AFTER UPDATE OF created_at, assessment, version, lang, band, consent, status, score, answers ON submissions
FOR EACH ROW EXECUTE FUNCTION insight_trigger();
