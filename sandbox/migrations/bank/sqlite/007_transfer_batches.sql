-- Batch payments (POST /v1/transfer-batches): many transfers approved once and made in one
-- transaction, all or nothing. The batch's idempotency record is the ordinary one in
-- `idempotency_keys` (its `transfer_id` names the batch's first transfer), so batches and
-- single transfers share one key space per account; `transfer_batches` keeps the batch's
-- own facts, and each transfer names its batch.
CREATE TABLE transfer_batches (
    id                TEXT NOT NULL PRIMARY KEY,
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    payment_count     INTEGER NOT NULL CHECK (payment_count > 0),
    idempotency_key   TEXT NOT NULL,
    request_hash      BLOB NOT NULL,
    -- The step-up token that paid, so its lost answer can be replayed (as in 005).
    paid_by_issuer    TEXT NOT NULL,
    paid_by_token_id  TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (account_id, idempotency_key)
) STRICT;

ALTER TABLE transfers ADD COLUMN batch_id TEXT REFERENCES transfer_batches (id);

CREATE INDEX transfers_by_batch ON transfers (batch_id, seq) WHERE batch_id IS NOT NULL;
