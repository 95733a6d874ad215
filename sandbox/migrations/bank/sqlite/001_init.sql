-- The bank API's ledger. Money is integer minor units; CHECK constraints are the last line
-- of defence behind the application's own checks (no negative balance, no zero transfer).

CREATE TABLE accounts (
    id                    INTEGER PRIMARY KEY,
    -- The token's `sub`: the only identity the API trusts.
    sub                   TEXT NOT NULL UNIQUE,
    -- The short name transfers use ("alice").
    handle                TEXT NOT NULL UNIQUE,
    currency              TEXT NOT NULL,
    balance_minor         INTEGER NOT NULL CHECK (balance_minor >= 0),
    -- Kept so that "the sum of all balances equals the sum of all openings" can be checked.
    opening_balance_minor INTEGER NOT NULL CHECK (opening_balance_minor >= 0),
    created_at            TEXT NOT NULL
) STRICT;

CREATE TABLE transfers (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    from_account        INTEGER NOT NULL REFERENCES accounts (id),
    to_account          INTEGER NOT NULL REFERENCES accounts (id),
    amount_minor        INTEGER NOT NULL CHECK (amount_minor > 0),
    currency            TEXT NOT NULL,
    memo                TEXT,
    from_balance_after  INTEGER NOT NULL CHECK (from_balance_after >= 0),
    to_balance_after    INTEGER NOT NULL CHECK (to_balance_after >= 0),
    created_at          TEXT NOT NULL,
    CHECK (from_account <> to_account)
) STRICT;

CREATE INDEX transfers_by_from ON transfers (from_account, seq);
CREATE INDEX transfers_by_to ON transfers (to_account, seq);

-- Step-up tokens already spent on a transfer (single use). Kept until the token could no
-- longer pass validation (exp + leeway), then pruned.
CREATE TABLE used_tokens (
    issuer      TEXT NOT NULL,
    token_id    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     TEXT NOT NULL,
    PRIMARY KEY (issuer, token_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX used_tokens_by_expiry ON used_tokens (expires_at);

-- Idempotency-Key → the transfer it created, scoped to the sending account.
CREATE TABLE idempotency_keys (
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    transfer_id   TEXT NOT NULL REFERENCES transfers (id),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;
