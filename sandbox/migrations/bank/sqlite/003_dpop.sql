-- RFC 9449 (DPoP) at the bank API. `dpop_proofs` is the replay cache of the proofs that
-- came with bound tokens: a hash of each proof's key and `jti`, kept until the proof could
-- no longer pass the proof window, so a proof is accepted once, also across a restart.
-- `server_secrets` holds the key of the API's DPoP nonces, so that every process on this
-- database issues and accepts the same nonces.
CREATE TABLE dpop_proofs (
    proof_key   BLOB NOT NULL PRIMARY KEY,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX dpop_proofs_by_expiry ON dpop_proofs (expires_at);

CREATE TABLE server_secrets (
    name   TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
