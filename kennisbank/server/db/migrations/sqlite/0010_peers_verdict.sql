-- 0010: a submission without a verdict is not counted in the comparison with peers.
--
-- When too many answers are "don't know", the result has no band: the submission is
-- stored with band '_insufficient' (kennisbank.assessment.model.NO_VERDICT; not a band
-- id a definition can use) and its theme scores as NULL. The total's triggers of 0006
-- counted every submission; these count every one but those, on insert and on delete
-- alike, so the counts cannot drift. A stored band never changes either.

DROP TRIGGER peer_counts_total_insert;
DROP TRIGGER peer_counts_total_delete;
DROP TRIGGER peer_counts_total_fixed;

CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions
WHEN NEW.definition IS NOT NULL AND NEW.band <> '_insufficient'
BEGIN
    INSERT INTO peer_counts (definition, measure, value, count) VALUES (NEW.definition, '', NEW.score, 1)
    ON CONFLICT (definition, measure, value) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions
WHEN OLD.definition IS NOT NULL AND OLD.band <> '_insufficient'
BEGIN
    UPDATE peer_counts SET count = count - 1 WHERE definition = OLD.definition AND measure = '' AND value = OLD.score;
END;

CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition, band ON submissions
WHEN OLD.score IS NOT NEW.score OR OLD.definition IS NOT NEW.definition OR OLD.band IS NOT NEW.band
BEGIN
    SELECT RAISE(ABORT, 'a submission''s score, band and definition are fixed once stored (peer_counts depends on them)');
END;
