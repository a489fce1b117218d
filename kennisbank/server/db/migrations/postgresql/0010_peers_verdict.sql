-- 0010: a submission without a verdict is not counted in the comparison with peers
-- (PostgreSQL; the meaning is migrations/sqlite/0010's).

DROP TRIGGER peer_counts_total_insert ON submissions;
DROP TRIGGER peer_counts_total_delete ON submissions;
DROP TRIGGER peer_counts_total_fixed ON submissions;

CREATE TRIGGER peer_counts_total_insert AFTER INSERT ON submissions
FOR EACH ROW WHEN (NEW.definition IS NOT NULL AND NEW.band <> '_insufficient') EXECUTE FUNCTION peer_counts_total();

CREATE TRIGGER peer_counts_total_delete AFTER DELETE ON submissions
FOR EACH ROW WHEN (OLD.definition IS NOT NULL AND OLD.band <> '_insufficient') EXECUTE FUNCTION peer_counts_total();

CREATE TRIGGER peer_counts_total_fixed BEFORE UPDATE OF score, definition, band ON submissions
FOR EACH ROW WHEN (OLD.score IS DISTINCT FROM NEW.score OR OLD.definition IS DISTINCT FROM NEW.definition OR OLD.band IS DISTINCT FROM NEW.band)
EXECUTE FUNCTION peer_counts_fixed('a submission''s score, band and definition are fixed once stored (peer_counts depends on them)');
