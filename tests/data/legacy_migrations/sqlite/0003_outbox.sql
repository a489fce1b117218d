-- 0003: requests from readers, and the outbox.
--
-- A reader can ask a question or use a privacy right (access, correction, erasure,
-- withdrawing consent) without filling in the self-assessment: `requests`.
--
-- The outbox: a submission or a request and the deliveries it triggers (an email to
-- the consultant, a webhook to a CRM) are committed in one transaction; a worker in
-- the server delivers them, with retries, and marks them. A row holds no copy of
-- what it delivers: the message is built when it is sent. Erasing or purging a
-- submission or a request deletes its deliveries with it (ON DELETE CASCADE), so a
-- pending delivery of an erased person never goes out.

CREATE TABLE requests (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT    NOT NULL UNIQUE,
    created_at    TEXT    NOT NULL,   -- UTC, ISO 8601
    lang          TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('question', 'access', 'correction', 'erasure', 'withdraw')),
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL,   -- normalised: lowercase
    message       TEXT    NOT NULL
);

CREATE INDEX requests_created_at ON requests (created_at);
CREATE INDEX requests_email ON requests (email);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    submission    INTEGER REFERENCES submissions (id) ON DELETE CASCADE,
    request       INTEGER REFERENCES requests (id) ON DELETE CASCADE,
    channel       TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    state         TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT    NOT NULL,   -- UTC, ISO 8601
    last_error    TEXT,
    created_at    TEXT    NOT NULL,
    sent_at       TEXT,
    CHECK ((submission IS NULL) <> (request IS NULL)),
    UNIQUE (submission, channel),
    UNIQUE (request, channel)
);

CREATE INDEX outbox_due ON outbox (state, next_attempt);
CREATE INDEX outbox_submission ON outbox (submission);
CREATE INDEX outbox_request ON outbox (request);
