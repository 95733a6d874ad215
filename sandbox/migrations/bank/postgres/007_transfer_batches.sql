-- Batch payments, the twin of ../sqlite/007_transfer_batches.sql: the same table and
-- column, and bank_payment_batch(), which makes a whole batch in one statement (one
-- transaction, one commit, no lock held across a round trip), with multi-row statements
-- over the batch's arrays rather than one statement per payment.
--
-- Its steps and their order are bank_transfer()'s (006):
--   1. lock the sender and every distinct recipient in id order, advisory locks first,
--      then the rows FOR UPDATE: the order of bank_transfer() and bank_transfer_batch(),
--      so a batch and concurrent single transfers cannot deadlock;
--   2. spend the DPoP proof, then the token (a second use waits on the sender's lock);
--   3. the idempotency key: the same batch again is replayed, another request refused;
--   4. every payment's recipient and currency, then the total against the balance: a
--      refusal names the payments (one row each) and moves nothing (the token stays spent);
--   5. every transfer, every balance, the idempotency record and the batch's row.
CREATE TABLE transfer_batches (
    id                TEXT NOT NULL PRIMARY KEY,
    account_id        BIGINT NOT NULL REFERENCES accounts (id),
    payment_count     INTEGER NOT NULL CHECK (payment_count > 0),
    idempotency_key   TEXT NOT NULL,
    request_hash      BYTEA NOT NULL,
    paid_by_issuer    TEXT NOT NULL,
    paid_by_token_id  TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (account_id, idempotency_key)
);

ALTER TABLE transfers ADD COLUMN batch_id TEXT REFERENCES transfer_batches (id);

CREATE INDEX transfers_by_batch ON transfers (batch_id, seq) WHERE batch_id IS NOT NULL;

CREATE OR REPLACE FUNCTION bank_payment_batch(
    p_issuer TEXT, p_token_id TEXT, p_token_expires_at BIGINT, p_from BIGINT, p_key TEXT,
    p_hash BYTEA, p_batch_id TEXT, p_now TEXT, p_proof_key BYTEA, p_proof_expires_at BIGINT,
    p_now_unix BIGINT, p_to_handle TEXT[], p_amount BIGINT[], p_currency TEXT[],
    p_memo TEXT[], p_transfer_id TEXT[])
RETURNS TABLE (r_outcome TEXT, r_index INT, r_batch_id TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    lock_id BIGINT;
    sender accounts%ROWTYPE;
    prev idempotency_keys%ROWTYPE;
    total BIGINT;
BEGIN
    FOR lock_id IN
        SELECT a.id FROM accounts a WHERE a.id = p_from OR a.handle = ANY (p_to_handle)
        ORDER BY a.id
    LOOP
        PERFORM pg_advisory_xact_lock(lock_id);
    END LOOP;
    PERFORM 1 FROM accounts a WHERE a.id = p_from OR a.handle = ANY (p_to_handle)
        ORDER BY a.id FOR UPDATE;
    SELECT * INTO sender FROM accounts a WHERE a.id = p_from;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', p_from USING ERRCODE = 'no_data_found';
    END IF;

    IF p_proof_key IS NOT NULL THEN
        INSERT INTO dpop_proofs (proof_key, expires_at)
            VALUES (p_proof_key, p_proof_expires_at)
            ON CONFLICT (proof_key) DO UPDATE SET expires_at = excluded.expires_at
            WHERE dpop_proofs.expires_at < p_now_unix;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'proof_already_used'::TEXT, NULL::INT, NULL::TEXT;
            RETURN;
        END IF;
    END IF;
    INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
        VALUES (p_issuer, p_token_id, p_token_expires_at, p_now)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'token_already_used'::TEXT, NULL::INT, NULL::TEXT;
        RETURN;
    END IF;

    SELECT * INTO prev FROM idempotency_keys k WHERE k.account_id = p_from AND k.key = p_key;
    IF FOUND THEN
        RETURN QUERY
            SELECT CASE WHEN prev.request_hash = p_hash AND t.batch_id IS NOT NULL
                        THEN 'replayed' ELSE 'idempotency_key_reused' END,
                   NULL::INT, t.batch_id
            FROM transfers t WHERE t.id = prev.transfer_id;
        RETURN;
    END IF;

    RETURN QUERY
        SELECT CASE WHEN a.id IS NULL THEN 'unknown_recipient'
                    WHEN a.id = p_from THEN 'same_account'
                    ELSE 'currency_mismatch' END,
               p.i::INT, NULL::TEXT
        FROM unnest(p_to_handle, p_currency) WITH ORDINALITY AS p (handle, currency, i)
        LEFT JOIN accounts a ON a.handle = p.handle
        WHERE a.id IS NULL OR a.id = p_from OR p.currency <> sender.currency
              OR p.currency <> a.currency
        ORDER BY p.i;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT sum(x) INTO total FROM unnest(p_amount) AS x;
    IF sender.balance_minor < total THEN
        RETURN QUERY SELECT 'insufficient_funds'::TEXT, NULL::INT, NULL::TEXT;
        RETURN;
    END IF;

    INSERT INTO transfer_batches (id, account_id, payment_count, idempotency_key, request_hash,
                                  paid_by_issuer, paid_by_token_id, created_at)
        VALUES (p_batch_id, p_from, cardinality(p_amount), p_key, p_hash, p_issuer,
                p_token_id, p_now);
    -- Each transfer records the balances right after it: running sums in input order.
    INSERT INTO transfers (id, from_account, to_account, amount_minor, currency, memo,
                           from_balance_after, to_balance_after, created_at, batch_id)
        SELECT p.tid, p_from, a.id, p.amount, p.currency, p.memo,
               sender.balance_minor - sum(p.amount) OVER (ORDER BY p.i),
               a.balance_minor + sum(p.amount) OVER (PARTITION BY a.id ORDER BY p.i),
               p_now, p_batch_id
        FROM unnest(p_to_handle, p_amount, p_currency, p_memo, p_transfer_id)
             WITH ORDINALITY AS p (handle, amount, currency, memo, tid, i)
        JOIN accounts a ON a.handle = p.handle
        ORDER BY p.i;
    UPDATE accounts a SET balance_minor = a.balance_minor + c.credit
        FROM (SELECT p.handle, sum(p.amount) AS credit
              FROM unnest(p_to_handle, p_amount) AS p (handle, amount)
              GROUP BY p.handle) c
        WHERE a.handle = c.handle;
    UPDATE accounts a SET balance_minor = a.balance_minor - total WHERE a.id = p_from;
    INSERT INTO idempotency_keys (account_id, key, request_hash, transfer_id, created_at,
                                  paid_by_issuer, paid_by_token_id)
        VALUES (p_from, p_key, p_hash, p_transfer_id[1], p_now, p_issuer, p_token_id);
    RETURN QUERY SELECT 'created'::TEXT, NULL::INT, p_batch_id;
END
$$;
