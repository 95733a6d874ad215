-- The authorization server's schema. Secrets handed to browsers or clients (session ids,
-- CSRF tokens, authorization codes, refresh tokens) are stored only as SHA-256 hashes, so
-- a copy of this file cannot be replayed against a running server. Signing keys are the
-- exception: they must be usable, so the data dir and this file are created 0700/0600.
-- Times are Unix seconds.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    sub           TEXT    NOT NULL UNIQUE,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Consecutive failed logins per submitted username (known or not, so the throttle does
-- not reveal which usernames exist).
CREATE TABLE login_throttle (
    username     TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT    PRIMARY KEY,
    pkcs8_der  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE sessions (
    id_hash    BLOB    PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    auth_time  INTEGER,
    csrf_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- One row per /authorize request that passed validation, until it ends in a code or an error.
CREATE TABLE transactions (
    id             TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    audience       TEXT    NOT NULL,
    state          TEXT,
    nonce          TEXT,
    code_challenge TEXT    NOT NULL,
    acr_values     TEXT,
    max_age        INTEGER,
    prompt         TEXT,
    session_hash   BLOB,
    user_id        INTEGER REFERENCES users(id) ON DELETE CASCADE,
    auth_time      INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    completed_at   INTEGER
);

CREATE TABLE mfa_requests (
    id         TEXT    PRIMARY KEY,
    txn_id     TEXT    NOT NULL UNIQUE REFERENCES transactions(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_at INTEGER
);

-- A grant: what one successful authorization produced. Codes, refresh tokens and access
-- tokens hang off it, so revoking the grant revokes the whole family (RFC 6749 §4.1.2,
-- RFC 6819 §5.2.2.3, RFC 7009 §2.1).
CREATE TABLE grants (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    audience   TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    amr        TEXT    NOT NULL,
    acr        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE auth_codes (
    code_hash      BLOB    PRIMARY KEY,
    grant_id       TEXT    NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    nonce          TEXT,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE refresh_tokens (
    token_hash BLOB    PRIMARY KEY,
    grant_id   TEXT    NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- Access tokens are self-contained JWTs; this records which grant each one came from so
-- that revoking a grant is visible (`AuthzState::is_access_token_revoked`).
CREATE TABLE access_tokens (
    jti        TEXT    PRIMARY KEY,
    grant_id   TEXT    NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id);
CREATE INDEX mfa_requests_status ON mfa_requests(status, created_at);
