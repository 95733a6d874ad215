-- RFC 9396 authorization details (a validated `payment_initiation`, as JSON) travel from
-- the transaction to the grant to the access token. A push carries a two-digit number that
-- the browser shows and the approver must type (number matching); three wrong numbers deny it.
ALTER TABLE transactions ADD COLUMN authorization_details TEXT;
ALTER TABLE grants ADD COLUMN authorization_details TEXT;
ALTER TABLE mfa_requests ADD COLUMN binding_code TEXT NOT NULL DEFAULT '';
ALTER TABLE mfa_requests ADD COLUMN wrong_codes INTEGER NOT NULL DEFAULT 0;
