-- A transfer's DPoP proof is spent in the transfer's own transaction, as its step-up token
-- is: bank_transfer() and bank_transfer_batch() take the proof's replay key (a hash of the
-- proof's key and `jti`, NULL for a transfer without a proof) and the last second it could
-- pass the proof window, and record it in `dpop_proofs` under the account locks, before the
-- token. A proof recorded there is refused by every instance; the proofs of requests that
-- move no money are kept in each API instance's memory instead, never in this table.
--
-- These are new overloads: the functions of 004/005 stay, unchanged, for instances of the
-- previous version still running during an upgrade (they record their proofs themselves).

CREATE OR REPLACE FUNCTION bank_transfer_batch(
    p_issuer TEXT[], p_token_id TEXT[], p_token_expires_at BIGINT[], p_from BIGINT[],
    p_to_handle TEXT[], p_amount BIGINT[], p_currency TEXT[], p_memo TEXT[], p_key TEXT[],
    p_hash BYTEA[], p_transfer_id TEXT[], p_now TEXT, p_proof_key BYTEA[],
    p_proof_expires_at BIGINT[], p_now_unix BIGINT)
RETURNS TABLE (r_index INT, r_outcome TEXT, r_id TEXT, r_from TEXT, r_to TEXT,
               r_amount BIGINT, r_currency TEXT, r_memo TEXT, r_from_after BIGINT,
               r_created_at TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    account_id BIGINT;
    i INT;
BEGIN
    -- Every account of the batch first, in id order (see 004).
    IF coalesce(array_length(p_from, 1), 0) > 1 THEN
        FOR account_id IN
            SELECT id FROM (SELECT unnest(p_from) AS id
                            UNION
                            SELECT a.id FROM accounts a WHERE a.handle = ANY (p_to_handle)) ids
            ORDER BY id
        LOOP
            PERFORM pg_advisory_xact_lock(account_id);
        END LOOP;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_from, 1), 0) LOOP
        RETURN QUERY
            SELECT i, t.*
            FROM bank_transfer(p_issuer[i], p_token_id[i], p_token_expires_at[i], p_from[i],
                               p_to_handle[i], p_amount[i], p_currency[i], p_memo[i],
                               p_key[i], p_hash[i], p_transfer_id[i], p_now, p_proof_key[i],
                               p_proof_expires_at[i], p_now_unix) t;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION bank_transfer(
    p_issuer TEXT, p_token_id TEXT, p_token_expires_at BIGINT, p_from BIGINT,
    p_to_handle TEXT, p_amount BIGINT, p_currency TEXT, p_memo TEXT, p_key TEXT,
    p_hash BYTEA, p_transfer_id TEXT, p_now TEXT, p_proof_key BYTEA,
    p_proof_expires_at BIGINT, p_now_unix BIGINT)
RETURNS TABLE (r_outcome TEXT, r_id TEXT, r_from TEXT, r_to TEXT, r_amount BIGINT,
               r_currency TEXT, r_memo TEXT, r_from_after BIGINT, r_created_at TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    acct accounts%ROWTYPE;
    sender accounts%ROWTYPE;
    recipient accounts%ROWTYPE;
    have_sender BOOLEAN := false;
    have_recipient BOOLEAN := false;
    recipient_id BIGINT;
    prev idempotency_keys%ROWTYPE;
BEGIN
    -- Transfers of one account queue on an advisory lock per account id (taken in id
    -- order, released at commit) before they touch its row: the lock manager hands an
    -- exclusive lock to one waiter at a time, where a row lock's release wakes every
    -- waiter at once to race for it again (a hot account would spend its time there).
    -- A handle never changes its id, so reading it unlocked first is safe.
    SELECT id INTO recipient_id FROM accounts WHERE handle = p_to_handle;
    PERFORM pg_advisory_xact_lock(LEAST(p_from, COALESCE(recipient_id, p_from)));
    IF recipient_id IS NOT NULL AND recipient_id <> p_from THEN
        PERFORM pg_advisory_xact_lock(GREATEST(p_from, recipient_id));
    END IF;
    FOR acct IN SELECT * FROM accounts WHERE id = p_from OR handle = p_to_handle
                ORDER BY id FOR UPDATE LOOP
        IF acct.id = p_from THEN
            sender := acct;
            have_sender := true;
        END IF;
        IF acct.handle = p_to_handle THEN
            recipient := acct;
            have_recipient := true;
        END IF;
    END LOOP;
    IF NOT have_sender THEN
        RAISE EXCEPTION 'no account %', p_from USING ERRCODE = 'no_data_found';
    END IF;

    -- The DPoP proof, then the token, spent under the account locks: a second transaction
    -- with the same proof or token (bound to it by `ath`: the same sender) waits for them,
    -- then records nothing. A record whose proof window has passed no longer counts.
    IF p_proof_key IS NOT NULL THEN
        INSERT INTO dpop_proofs (proof_key, expires_at)
            VALUES (p_proof_key, p_proof_expires_at)
            ON CONFLICT (proof_key) DO UPDATE SET expires_at = excluded.expires_at
            WHERE dpop_proofs.expires_at < p_now_unix;
        IF NOT FOUND THEN
            r_outcome := 'proof_already_used';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
        VALUES (p_issuer, p_token_id, p_token_expires_at, p_now)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        r_outcome := 'token_already_used';
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT * INTO prev FROM idempotency_keys WHERE account_id = p_from AND key = p_key;
    IF FOUND THEN
        IF prev.request_hash <> p_hash THEN
            r_outcome := 'idempotency_key_reused';
            RETURN NEXT;
            RETURN;
        END IF;
        RETURN QUERY
            SELECT 'replayed'::TEXT, t.id, f.handle, r.handle, t.amount_minor, t.currency,
                   t.memo, t.from_balance_after, t.created_at
            FROM transfers t
            JOIN accounts f ON f.id = t.from_account
            JOIN accounts r ON r.id = t.to_account
            WHERE t.id = prev.transfer_id;
        RETURN;
    END IF;

    IF NOT have_recipient THEN
        r_outcome := 'unknown_recipient';
    ELSIF recipient.id = sender.id THEN
        r_outcome := 'same_account';
    ELSIF p_currency <> sender.currency OR p_currency <> recipient.currency THEN
        r_outcome := 'currency_mismatch';
    ELSIF sender.balance_minor < p_amount THEN
        r_outcome := 'insufficient_funds';
    ELSIF recipient.balance_minor > 9223372036854775807 - p_amount THEN
        -- Unreachable with sane limits; refusing beats overflowing.
        r_outcome := 'currency_mismatch';
    END IF;
    IF r_outcome IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;

    UPDATE accounts SET balance_minor = sender.balance_minor - p_amount WHERE id = sender.id;
    UPDATE accounts SET balance_minor = recipient.balance_minor + p_amount
        WHERE id = recipient.id;
    INSERT INTO transfers (id, from_account, to_account, amount_minor, currency, memo,
                           from_balance_after, to_balance_after, created_at)
        VALUES (p_transfer_id, sender.id, recipient.id, p_amount, p_currency, p_memo,
                sender.balance_minor - p_amount, recipient.balance_minor + p_amount, p_now);
    -- The record names the token that paid (005), so its lost answer can be replayed.
    INSERT INTO idempotency_keys (account_id, key, request_hash, transfer_id, created_at,
                                  paid_by_issuer, paid_by_token_id)
        VALUES (sender.id, p_key, p_hash, p_transfer_id, p_now, p_issuer, p_token_id);
    r_outcome := 'created';
    r_id := p_transfer_id;
    r_from := sender.handle;
    r_to := recipient.handle;
    r_amount := p_amount;
    r_currency := p_currency;
    r_memo := p_memo;
    r_from_after := sender.balance_minor - p_amount;
    r_created_at := p_now;
    RETURN NEXT;
END
$$;
