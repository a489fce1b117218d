-- 0006: where a reader stands among earlier submissions of the same definition
-- (PostgreSQL; the meaning is migrations/sqlite/0006's).
--
-- peer_changes is PostgreSQL's own: a counter per definition digest that the triggers
-- bump whenever its peer_counts change. The store caches the counts of a digest with
-- this number (one indexed row to read, whichever process wrote), and locks the row in
-- a submission's transaction before reading the counts, so concurrent submissions of
-- one digest take turns and each is compared with all committed before it.

CREATE TABLE submission_themes (
    submission    bigint  NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    definition    text    NOT NULL,
    theme         text    NOT NULL,
    score         integer CHECK (score IS NULL OR score BETWEEN 0 AND 100),
    PRIMARY KEY (submission, theme)
);

CREATE TABLE peer_counts (
    definition    text    NOT NULL,
    measure       text    NOT NULL,
    value         integer NOT NULL CHECK (value BETWEEN 0 AND 100),
    count         integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (definition, measure, value)
);

CREATE TABLE peer_changes (
    definition    text    PRIMARY KEY,
    changes       bigint  NOT NULL
);

INSERT INTO peer_counts (definition, measure, value, count)
SELECT definition, '', score, count(*) FROM submissions WHERE definition IS NOT NULL GROUP BY definition, score;

INSERT INTO peer_changes (definition, changes) SELECT DISTINCT definition, 0 FROM peer_counts;

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
$$;

CREATE FUNCTION peer_counts_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM peer_count(NEW.definition, '', NEW.score, 1);
    ELSE
        PERFORM peer_count(OLD.definition, '', OLD.score, -1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions
FOR EACH ROW WHEN (NEW.definition IS NOT NULL) EXECUTE FUNCTION peer_counts_total();

CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions
FOR EACH ROW WHEN (OLD.definition IS NOT NULL) EXECUTE FUNCTION peer_counts_total();

CREATE FUNCTION peer_counts_theme() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM peer_count(NEW.definition, NEW.theme, NEW.score, 1);
    ELSE
        PERFORM peer_count(OLD.definition, OLD.theme, OLD.score, -1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER peer_counts_theme_insert AFTER INSERT ON submission_themes
FOR EACH ROW WHEN (NEW.score IS NOT NULL) EXECUTE FUNCTION peer_counts_theme();

CREATE TRIGGER peer_counts_theme_delete AFTER DELETE ON submission_themes
FOR EACH ROW WHEN (OLD.score IS NOT NULL) EXECUTE FUNCTION peer_counts_theme();

-- a stored score, digest or theme score never changes; refuse a change rather than let the counts drift
CREATE FUNCTION peer_counts_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation', MESSAGE = TG_ARGV[0];
END
$$;

CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition ON submissions
FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score OR OLD.definition IS DISTINCT FROM NEW.definition)
EXECUTE FUNCTION peer_counts_fixed('a submission''s score and definition are fixed once stored (peer_counts depends on them)');

CREATE TRIGGER submission_themes_fixed BEFORE UPDATE ON submission_themes
FOR EACH ROW EXECUTE FUNCTION peer_counts_fixed('theme scores are fixed once stored (peer_counts depends on them)');
