-- The throttle no longer keeps what was typed as a username: it may be a mistyped
-- password. Rows are keyed by a keyed SHA-256 of it instead; the key lives in
-- server_secrets, so lockouts survive a restart. Existing rows (raw names) are dropped.
DROP TABLE login_throttle;

CREATE TABLE login_throttle (
    name_hash    BLOB    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
) WITHOUT ROWID;

-- Random per-installation secrets, created on first use.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
