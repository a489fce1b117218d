-- PostgreSQL's 0007 adds the state several server processes share (the rate limit's keyed
-- hashes and the database's secret; kennisbank.server.shared_state). SQLite is single-process
-- (kennisbank serve refuses --workers above 1): its rate limit stays in the process's memory,
-- and nothing is added here. This migration keeps the two dialects' versions equal, which
-- kennisbank db copy compares.
SELECT 1;
