-- RFC 8628 device authorizations: a validated request from a device without a browser,
-- waiting for a person to enter its user code on /device, sign in, pass MFA when the rule
-- asks, and approve or deny it. Both codes are stored only as SHA-256 hashes (the user code
-- normalized: upper case, no dash). `txn_id` is the authorization transaction of the latest
-- browser that entered the code; once a person approved, `grant_id` names what the device
-- code redeems, once (`status` 'used').
CREATE TABLE device_authorizations (
    id                    TEXT    PRIMARY KEY,
    device_code_hash      BLOB    NOT NULL UNIQUE,
    user_code_hash        BLOB    NOT NULL UNIQUE,
    client_id             TEXT    NOT NULL,
    scope                 TEXT    NOT NULL,
    audience              TEXT    NOT NULL,
    acr_values            TEXT,
    max_age               INTEGER,
    prompt                TEXT,
    login_hint            TEXT,
    authorization_details TEXT,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    interval_secs         INTEGER NOT NULL,
    last_polled_at        INTEGER,
    status                TEXT    NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    txn_id                TEXT,
    user_id               INTEGER REFERENCES users(id) ON DELETE CASCADE,
    auth_time             INTEGER,
    amr                   TEXT,
    acr                   TEXT,
    grant_id              TEXT    REFERENCES grants(id) ON DELETE CASCADE,
    decided_at            INTEGER
);

CREATE INDEX device_authorizations_txn ON device_authorizations(txn_id);
CREATE INDEX device_authorizations_status ON device_authorizations(status, created_at);
