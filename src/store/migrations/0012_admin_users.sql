-- The admin dashboard's sign-in: the admin's password, their browser
-- sessions, and the failed sign-ins that lock an account or an address out.

-- The one admin account for now (id 1); `shopkeep admin set-password` writes
-- it. Only an argon2id hash of the password is kept.
CREATE TABLE admin_users (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;

-- Dashboard sessions. The cookie's token is a bearer secret: only its SHA-256
-- is stored. Sessions do not slide: they end at expires_at.
CREATE TABLE admin_sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL
) STRICT;

CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- Recent failed sign-ins, one row per scope: the user name tried ('user')
-- and the address it came from ('ip'). Rows older than the counting window
-- are swept as new ones arrive.
CREATE TABLE admin_login_failures (
    id        INTEGER PRIMARY KEY,
    scope     TEXT    NOT NULL CHECK (scope IN ('user', 'ip')),
    subject   TEXT    NOT NULL,
    failed_at TEXT    NOT NULL
) STRICT;

CREATE INDEX admin_login_failures_subject ON admin_login_failures (scope, subject, failed_at);
CREATE INDEX admin_login_failures_at ON admin_login_failures (failed_at);

-- User names and addresses refused until locked_until, kept here so that a
-- restart does not lift a lockout.
CREATE TABLE admin_lockouts (
    scope        TEXT NOT NULL CHECK (scope IN ('user', 'ip')),
    subject      TEXT NOT NULL,
    locked_until TEXT NOT NULL,
    PRIMARY KEY (scope, subject)
) STRICT, WITHOUT ROWID;
