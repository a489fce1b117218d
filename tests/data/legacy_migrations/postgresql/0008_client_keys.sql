-- The client keys rotate (kennisbank.server.shared_state.database_secret): one per day, in an
-- UNLOGGED table (not in PostgreSQL's log, so on no replica or log archive; left out by
-- pg_dump --no-unlogged-table-data; emptied by a crash, after which a new key is made).
-- The key of an earlier day is deleted when the next day's is made, so a keyed hash stored
-- under it (rate_limit_hits, the address rows of login_failures) can no longer be tried
-- against every address. The one lasting key of 0007 goes.
CREATE UNLOGGED TABLE IF NOT EXISTS client_keys (
    period bigint PRIMARY KEY,
    secret bytea NOT NULL
);
DROP TABLE IF EXISTS shared_secrets;
