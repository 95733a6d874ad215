-- RFC 9126 pushed authorization requests: what a client pushed, kept until its request_uri
-- is used once or expires. The request_uri is stored only as a SHA-256 hash. The parameters
-- are kept as pushed (form-encoded) and validated again when the request_uri is used, so a
-- policy change in between applies to them (RFC 9126 §4, §7.4).
CREATE TABLE pushed_requests (
    uri_hash   BLOB    PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    params     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;

CREATE INDEX pushed_requests_expiry ON pushed_requests(expires_at);
