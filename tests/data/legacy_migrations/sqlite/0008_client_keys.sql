-- PostgreSQL's 0008 makes the client keys of several server processes rotate daily in an
-- UNLOGGED table. SQLite is single-process: its key lives in the process's memory only
-- (kennisbank.server.dashboard.auth), and nothing is added here. This migration keeps the two
-- dialects' versions equal, which kennisbank db copy compares.
SELECT 1;
