-- 0004: the consultant's dashboard (/beheer/): a status and notes per submission,
-- the staff accounts, their sessions, failed logins and an audit log.
--
-- Notes belong to their submission: erasing or purging a submission deletes its
-- notes with it (ON DELETE CASCADE; the store turns foreign keys on). Sessions are
-- kept as the SHA-256 of the cookie's value, so a copy of the database opens no
-- session. The audit log names who did what to which submission id, never a
-- reader's email address, and is purged with the submissions (RETENTION_MONTHS).

ALTER TABLE submissions ADD COLUMN status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'contacted', 'closed'));

CREATE TABLE notes (
    id            INTEGER PRIMARY KEY,
    submission    INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    author        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,   -- UTC, ISO 8601
    text          TEXT    NOT NULL
);

CREATE INDEX notes_submission ON notes (submission);

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,   -- lowercase
    password      TEXT    NOT NULL,          -- argon2id hash (PHC string)
    totp_secret   TEXT,                      -- base32; NULL: TOTP off
    totp_last     INTEGER,                   -- the last TOTP time step used (no replay)
    created_at    TEXT    NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash    TEXT    PRIMARY KEY,       -- SHA-256 (hex) of the cookie's value
    admin         INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf          TEXT    NOT NULL,
    lang          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    last_seen     TEXT    NOT NULL
);

CREATE INDEX admin_sessions_admin ON admin_sessions (admin);

CREATE TABLE login_failures (
    key           TEXT    NOT NULL,          -- 'account:<email>' or 'address:<keyed hash of the client address>'
    at            TEXT    NOT NULL
);

CREATE INDEX login_failures_key ON login_failures (key, at);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            TEXT    NOT NULL,
    actor         TEXT    NOT NULL,          -- the admin's email
    action        TEXT    NOT NULL,          -- login, logout, status, note, export, export_person, erase, ...
    subject       TEXT,                      -- a submission's public id, a format, a count
    detail        TEXT
);

CREATE INDEX audit_log_at ON audit_log (at);

-- the dashboard's list, counts and charts: one index holding every column a filter
-- reads, in time order, so a filtered count or search reads the index, not the rows
CREATE INDEX submissions_dashboard ON submissions (created_at, status, consent, lang, band, assessment, score, email, organisation);
