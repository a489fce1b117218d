-- PostgreSQL's 0009 gives an outbox claim a token (claimed_by), for several workers sharing
-- the outbox. SQLite has one worker per database (a lock file) and no claims: nothing is
-- added here. This migration keeps the two dialects' versions equal, which kennisbank db
-- copy compares.
SELECT 1;
