-- 0001: the submissions of a self-assessment.
--
-- One row per acknowledged submission. No IP address, user agent or other request
-- data. Contact details and `discuss` are filled only when the reader consented;
-- the CHECK below refuses them otherwise, whatever the code does.

CREATE TABLE submissions (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT    NOT NULL UNIQUE,
    created_at    TEXT    NOT NULL,   -- UTC, ISO 8601, fixed width: 2026-11-26T23:41:05Z
    assessment    TEXT    NOT NULL,   -- the definition's id
    version       INTEGER NOT NULL,   -- the definition's version that scored it
    lang          TEXT    NOT NULL,
    answers       TEXT    NOT NULL,   -- JSON object: question id -> scale value
    score         INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    band          TEXT    NOT NULL,
    consent       INTEGER NOT NULL CHECK (consent IN (0, 1)),
    name          TEXT,
    email         TEXT,               -- normalised: lowercase
    organisation  TEXT,
    message       TEXT,
    discuss       INTEGER CHECK (discuss IN (0, 1)),
    CHECK (
        consent = 1
        OR (name IS NULL AND email IS NULL AND organisation IS NULL AND message IS NULL AND discuss IS NULL)
    )
);

CREATE INDEX submissions_created_at ON submissions (created_at);
CREATE INDEX submissions_email ON submissions (email) WHERE email IS NOT NULL;
