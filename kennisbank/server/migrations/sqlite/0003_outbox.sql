-- 0003: the outbox. A submission and the deliveries it triggers (an email to the
-- consultant, a webhook to a CRM) are committed in one transaction; a worker in the
-- server delivers them, with retries, and marks them.
--
-- A row holds no copy of the submission: the message is built from the submission
-- when it is sent. Erasing or purging a submission deletes its deliveries with it
-- (ON DELETE CASCADE), so a pending delivery of an erased person never goes out.

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    submission    INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    channel       TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    state         TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT    NOT NULL,   -- UTC, ISO 8601
    last_error    TEXT,
    created_at    TEXT    NOT NULL,
    sent_at       TEXT,
    UNIQUE (submission, channel)
);

CREATE INDEX outbox_due ON outbox (state, next_attempt);
