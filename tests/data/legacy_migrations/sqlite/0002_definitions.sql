-- 0002: which definition scored each submission, and every definition ever served.
--
-- A page built before a rebuild still carries the definition it was built from
-- (its content digest). The server records every definition of the build manifest
-- it serves here, so after a rebuild and a restart it still scores such a page's
-- answers with the questions the reader saw, and an export can show them.

CREATE TABLE definitions (
    digest        TEXT    PRIMARY KEY,   -- kennisbank.assessment.digest() of the definition
    assessment    TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    definition    TEXT    NOT NULL,      -- JSON, as the build manifest holds it
    first_served  TEXT    NOT NULL       -- UTC, ISO 8601
);

ALTER TABLE submissions ADD COLUMN definition TEXT;  -- the digest; NULL before 0002
