-- State the server processes share (kennisbank serve --workers N; kennisbank.server.shared_state).
-- Idempotent (IF NOT EXISTS, OR REPLACE): a database put back to an earlier version keeps its secret.

-- The database's own secrets, made by the first process that needs one.
-- client-key: the HMAC key of the rate limit's and the login lockout's client hashes.
CREATE TABLE IF NOT EXISTS shared_secrets (
    name text PRIMARY KEY,
    secret bytea NOT NULL
);

-- The rate limit's recent submissions: a keyed hash of the client (never its address) and
-- when, in seconds since the epoch on the database's clock. Deleted once outside the window.
-- UNLOGGED: not in PostgreSQL's log, so not on a replica or in a log archive; emptied by a crash.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_hits (
    client bytea NOT NULL,
    at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_limit_hits_client_at ON rate_limit_hits (client, at);
CREATE INDEX IF NOT EXISTS rate_limit_hits_at ON rate_limit_hits (at);

-- Seconds until `client` may submit again (NULL: now), with at most `most` per `window` seconds.
-- The `most`-th newest hit inside the window decides, as in the in-memory limiter.
CREATE OR REPLACE FUNCTION rate_limit_wait(client bytea, most integer, window_seconds double precision) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    now_at double precision := extract(epoch FROM clock_timestamp());
    nth double precision;
BEGIN
    SELECT h.at INTO nth FROM rate_limit_hits h
        WHERE h.client = rate_limit_wait.client AND h.at > now_at - window_seconds
        ORDER BY h.at DESC OFFSET most - 1 LIMIT 1;
    RETURN nth + window_seconds - now_at;
END
$$;

-- Record one submission from `client` unless it must wait: NULL if recorded, else the seconds to wait.
-- Callers recording the same client take turns (a transaction-scoped advisory lock on its hash),
-- so the limit holds exactly across processes. The client's hits outside the window go first.
CREATE OR REPLACE FUNCTION rate_limit_hit(client bytea, most integer, window_seconds double precision) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    now_at double precision;
    nth double precision;
BEGIN
    -- two int4 keys: a key space apart from the one-bigint locks (migrations, the outbox worker)
    PERFORM pg_advisory_xact_lock(1801613932, ('x' || encode(substr(rate_limit_hit.client, 1, 4), 'hex'))::bit(32)::integer);
    now_at := extract(epoch FROM clock_timestamp());
    DELETE FROM rate_limit_hits h WHERE h.client = rate_limit_hit.client AND h.at <= now_at - window_seconds;
    SELECT h.at INTO nth FROM rate_limit_hits h
        WHERE h.client = rate_limit_hit.client
        ORDER BY h.at DESC OFFSET most - 1 LIMIT 1;
    IF nth IS NOT NULL THEN
        RETURN nth + window_seconds - now_at;
    END IF;
    INSERT INTO rate_limit_hits (client, at) VALUES (rate_limit_hit.client, now_at);
    RETURN NULL;
END
$$;
