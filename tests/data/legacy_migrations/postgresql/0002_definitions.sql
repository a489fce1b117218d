-- 0002: which definition scored each submission, and every definition ever served
-- (PostgreSQL; the meaning is migrations/sqlite/0002's).

CREATE TABLE definitions (
    digest        text    PRIMARY KEY,
    assessment    text    NOT NULL,
    version       integer NOT NULL,
    definition    text    NOT NULL,      -- JSON, as the build manifest holds it
    first_served  text    NOT NULL       -- UTC, ISO 8601
);

ALTER TABLE submissions ADD COLUMN definition text;  -- the digest; NULL before 0002
