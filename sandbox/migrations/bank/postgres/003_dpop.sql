-- RFC 9449 (DPoP) at the bank API, the twin of ../sqlite/003_dpop.sql. `dpop_proofs` is
-- the replay cache every API instance shares: a proof accepted by one instance is refused
-- by all of them, and by a restarted one, while it could still pass the proof window.
-- `server_secrets` holds the key of the DPoP nonces, so every instance issues and accepts
-- the same nonces.
CREATE TABLE dpop_proofs (
    proof_key   BYTEA NOT NULL PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX dpop_proofs_by_expiry ON dpop_proofs (expires_at);

CREATE TABLE server_secrets (
    name   TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
);
