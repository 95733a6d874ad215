-- Which step-up token paid for the transfer an idempotency key made, so that a retry of
-- that very transfer with that very token (its answer lost on the way) can be answered
-- with the receipt although the token is spent. Records made before this migration have
-- no payer: a retry of those needs a fresh token, as before.
ALTER TABLE idempotency_keys ADD COLUMN paid_by_issuer TEXT;
ALTER TABLE idempotency_keys ADD COLUMN paid_by_token_id TEXT;
