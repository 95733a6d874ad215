-- RFC 9449 (DPoP). `dpop_jkt` is the thumbprint of the key a client proved possession of:
-- named on /authorize (it binds the transaction and its code, RFC 9449 §10), and on a
-- grant the key its refresh-token family is bound to (§5). `dpop_proofs` remembers the
-- proofs the token endpoint accepted, by a hash of their key and `jti`, until they could no
-- longer pass the proof window: a replayed proof is refused, across restarts too.
ALTER TABLE transactions ADD COLUMN dpop_jkt TEXT;
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;

CREATE TABLE dpop_proofs (
    proof_key  BLOB    PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX dpop_proofs_by_expiry ON dpop_proofs (expires_at);
