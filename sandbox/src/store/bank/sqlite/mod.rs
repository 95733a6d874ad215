//! The ledger on SQLite: one connection behind a `std::sync::Mutex` (callers run these on
//! the blocking pool and never hold the lock across `.await`). Each transfer is one
//! `BEGIN IMMEDIATE` transaction, which keeps the invariants even if a second process (say
//! `bank-sandbox accounts open` while the API runs) opens the same file.

mod batch;
mod precheck;
mod replay;

use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    Account, DPOP_PRUNE_EVERY_SECS, DPOP_PRUNE_MARGIN_SECS, Durability, LedgerSummary, Opened,
    ProofSpend, SQLITE_MIGRATIONS, SeedError, TransferCommand, TransferError, TransferOutcome,
    TransferRecord, new_transfer_id, now_rfc3339, prune_due,
};
use crate::store::StoreError;

/// The SQLite ledger.
pub struct SqliteBank {
    conn: Mutex<Connection>,
    /// Unix time of the next prune of expired proof records.
    next_proof_prune_at: AtomicI64,
}

impl std::fmt::Debug for SqliteBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBank").finish_non_exhaustive()
    }
}

impl SqliteBank {
    /// Opens `path` (in memory when `None`), migrated, with the durability's
    /// `PRAGMA synchronous`.
    pub fn open(path: Option<&Path>, durability: Durability) -> Result<Self, StoreError> {
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        let conn = crate::store::open_with(path, SQLITE_MIGRATIONS, synchronous)?;
        Ok(SqliteBank::new(conn))
    }

    /// Wraps a connection opened with `store::open` and [`SQLITE_MIGRATIONS`].
    pub fn new(conn: Connection) -> Self {
        // Every statement of the request paths stays prepared (rusqlite's default is 16).
        conn.set_prepared_statement_cache_capacity(64);
        SqliteBank {
            conn: Mutex::new(conn),
            next_proof_prune_at: AtomicI64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind
        // (rusqlite rolls back on drop), so a poisoned lock is still safe to use.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `PRAGMA synchronous` as SQLite reports it: 2 = FULL, 1 = NORMAL.
    pub fn synchronous_setting(&self) -> Result<String, StoreError> {
        let level: i64 = self
            .lock()
            .pragma_query_value(None, "synchronous", |row| row.get(0))?;
        Ok(match level {
            0 => "OFF".into(),
            1 => "NORMAL".into(),
            2 => "FULL".into(),
            3 => "EXTRA".into(),
            other => other.to_string(),
        })
    }

    /// Opens the account for `sub` unless it exists (balances are never reset by a
    /// restart). Fails if `handle` belongs to a different `sub`.
    pub fn open_account(
        &self,
        sub: &str,
        handle: &str,
        currency: &str,
        opening_minor: i64,
    ) -> Result<Opened, SeedError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(existing) = account_by_sub(&tx, sub)? {
            return Ok(Opened::Existing {
                handle: existing.handle,
            });
        }
        let owner: Option<String> = tx
            .query_row(
                "SELECT sub FROM accounts WHERE handle = ?1",
                [handle],
                |row| row.get(0),
            )
            .optional()?;
        if owner.is_some() {
            return Err(SeedError::HandleTaken {
                handle: handle.to_owned(),
            });
        }
        insert_account(&tx, sub, handle, currency, opening_minor)?;
        tx.commit()?;
        Ok(Opened::New)
    }

    /// The account of `sub`, if any.
    pub fn account_by_sub(&self, sub: &str) -> Result<Option<Account>, StoreError> {
        Ok(account_by_sub(&self.lock(), sub)?)
    }

    pub fn transfer_exists(&self, transfer_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().query_row(
            "SELECT EXISTS (SELECT 1 FROM transfers WHERE id = ?1)",
            [transfer_id],
            |row| row.get(0),
        )?)
    }

    /// The account of `sub`, opening it (with `opening_minor`) on first sight. The handle
    /// is the first free one among `handle_candidates`, else one derived from `fallback`.
    pub fn account_for_sub(
        &self,
        sub: &str,
        handle_candidates: &[String],
        fallback_handle: &str,
        currency: &str,
        opening_minor: i64,
    ) -> Result<Account, StoreError> {
        let mut conn = self.lock();
        if let Some(account) = account_by_sub(&conn, sub)? {
            return Ok(account);
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(account) = account_by_sub(&tx, sub)? {
            return Ok(account);
        }
        let mut chosen = None;
        for candidate in handle_candidates
            .iter()
            .map(String::as_str)
            .chain([fallback_handle])
        {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE handle = ?1)",
                [candidate],
                |row| row.get(0),
            )?;
            if !taken {
                chosen = Some(candidate.to_owned());
                break;
            }
        }
        // The fallback is derived from a digest of `sub`, so it is only taken if this very
        // sub already has an account, which was checked above; still, never guess.
        let handle = chosen.ok_or(StoreError::NotFound)?;
        insert_account(&tx, sub, &handle, currency, opening_minor)?;
        let account = account_by_sub(&tx, sub)?.ok_or(StoreError::NotFound)?;
        tx.commit()?;
        Ok(account)
    }

    /// The account of `sub` if it exists, read on the caller's thread, or `None` when the
    /// connection is busy (a transfer is committing) and the caller should wait for it on
    /// the blocking pool instead. A point read by a unique key through a prepared
    /// statement takes microseconds, far less than handing it to another thread and back,
    /// so the bank API reads the caller's account this way; it never waits on the lock.
    pub fn try_account_by_sub(&self, sub: &str) -> Option<Result<Option<Account>, StoreError>> {
        let conn = match self.conn.try_lock() {
            Ok(conn) => conn,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(account_by_sub(&conn, sub).map_err(StoreError::from))
    }

    /// The balance of the account named `handle`, in minor units.
    pub fn balance_of(&self, handle: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT balance_minor FROM accounts WHERE handle = ?1",
                [handle],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// The account's transfers (sent and received), newest first.
    pub fn list_transfers(
        &self,
        account_id: i64,
        limit: u32,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "{TRANSFER_SELECT} WHERE t.from_account = ?1 OR t.to_account = ?1
             ORDER BY t.seq DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![account_id, limit], transfer_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn ledger_summary(&self) -> Result<LedgerSummary, StoreError> {
        let conn = self.lock();
        Ok(conn.query_row(
            "SELECT (SELECT COUNT(*) FROM accounts),
                    (SELECT COUNT(*) FROM transfers),
                    (SELECT COALESCE(SUM(balance_minor), 0) FROM accounts),
                    (SELECT COALESCE(SUM(opening_balance_minor), 0) FROM accounts)",
            [],
            |row| {
                Ok(LedgerSummary {
                    accounts: row.get(0)?,
                    transfers: row.get(1)?,
                    total_balance_minor: row.get(2)?,
                    total_opening_minor: row.get(3)?,
                })
            },
        )?)
    }

    /// The secret `name`: `candidate` if there was none, else the one stored first.
    pub fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO server_secrets (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            [name, candidate],
        )?;
        Ok(conn.query_row(
            "SELECT value FROM server_secrets WHERE name = ?1",
            [name],
            |row| row.get(0),
        )?)
    }

    /// Spends a step-up token without moving anything: it was presented for a transfer it
    /// does not authorize (RFC 9396 details), and whoever tried may not try again. Returns
    /// false when it had already been spent.
    pub fn spend_token(
        &self,
        issuer: &str,
        token_id: &str,
        token_expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self.lock().execute(
            "INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![issuer, token_id, token_expires_at, now_rfc3339()],
        )?;
        Ok(inserted == 1)
    }

    /// Spends the step-up token and performs the transfer, atomically.
    ///
    /// Order matters: the DPoP proof and the token are consumed first (a replay of either
    /// changes nothing), so a replayed token never even learns
    /// whether its idempotency key exists; then an earlier result for the same key and
    /// request is returned unchanged (no money moves), a different request under the same
    /// key is refused; only then are recipient and funds checked and the money moved.
    /// Business refusals commit the spent token (the attempt used it) but nothing else.
    pub fn consume_jti_and_transfer(
        &self,
        cmd: &TransferCommand<'_>,
        now_unix: i64,
    ) -> Result<TransferOutcome, TransferError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

        // The prune below forgets spent tokens that have expired by `now_unix`. A token that
        // was verified just before its expiry but reaches this point after it would find its
        // own record pruned and be spent a second time, so expiry is checked again here,
        // against the same clock as the prune.
        if cmd.token_expires_at < now_unix {
            return Err(TransferError::TokenExpired);
        }
        // Pruning here keeps the table bounded without a background task; the index on
        // expires_at makes it cheap.
        tx.prepare_cached("DELETE FROM used_tokens WHERE expires_at < ?1")?
            .execute([now_unix])?;
        if let Some(proof) = &cmd.dpop_proof
            && !spend_proof(&tx, proof, now_unix, &self.next_proof_prune_at)?
        {
            // Dropping `tx` rolls back the prune as well; nothing changes.
            return Err(TransferError::ProofAlreadyUsed);
        }
        let inserted = tx
            .prepare_cached(
                "INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                cmd.issuer,
                cmd.token_id,
                cmd.token_expires_at,
                now_rfc3339()
            ])?;
        if inserted == 0 {
            // Dropping `tx` rolls back the prune as well; nothing changes.
            return Err(TransferError::TokenAlreadyUsed);
        }

        let previous: Option<(Vec<u8>, String)> = tx
            .prepare_cached(
                "SELECT request_hash, transfer_id FROM idempotency_keys
                 WHERE account_id = ?1 AND key = ?2",
            )?
            .query_row(params![cmd.from_account, cmd.idempotency_key], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        if let Some((hash, transfer_id)) = previous {
            if hash.as_slice() != cmd.request_hash.as_slice() {
                tx.commit()?;
                return Err(TransferError::IdempotencyKeyReused);
            }
            let record = tx.query_row(
                &format!("{TRANSFER_SELECT} WHERE t.id = ?1"),
                [&transfer_id],
                transfer_from_row,
            )?;
            tx.commit()?;
            return Ok(TransferOutcome::Replayed(record));
        }

        let Some(sender) = account_by_id(&tx, cmd.from_account)? else {
            return Err(TransferError::Store(StoreError::NotFound));
        };
        let Some(recipient) = account_by_handle(&tx, cmd.to_handle)? else {
            return refuse(tx, TransferError::UnknownRecipient);
        };
        if recipient.id == sender.id {
            return refuse(tx, TransferError::SameAccount);
        }
        if cmd.currency != sender.currency || cmd.currency != recipient.currency {
            return refuse(tx, TransferError::CurrencyMismatch);
        }
        if sender.balance_minor < cmd.amount_minor {
            return refuse(tx, TransferError::InsufficientFunds);
        }
        let from_after = sender.balance_minor - cmd.amount_minor;
        let Some(to_after) = recipient.balance_minor.checked_add(cmd.amount_minor) else {
            // Unreachable with sane limits; refusing beats wrapping.
            return refuse(tx, TransferError::CurrencyMismatch);
        };

        {
            let mut update =
                tx.prepare_cached("UPDATE accounts SET balance_minor = ?2 WHERE id = ?1")?;
            update.execute(params![sender.id, from_after])?;
            update.execute(params![recipient.id, to_after])?;
        }
        let record = TransferRecord {
            id: new_transfer_id(),
            from: sender.handle,
            to: recipient.handle,
            amount_minor: cmd.amount_minor,
            currency: cmd.currency.to_owned(),
            memo: cmd.memo.map(str::to_owned),
            from_balance_after: from_after,
            created_at: now_rfc3339(),
            batch: None,
        };
        tx.prepare_cached(
            "INSERT INTO transfers (id, from_account, to_account, amount_minor, currency, memo,
                                    from_balance_after, to_balance_after, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            record.id,
            sender.id,
            recipient.id,
            record.amount_minor,
            record.currency,
            record.memo,
            from_after,
            to_after,
            record.created_at
        ])?;
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, transfer_id, created_at,
                                           paid_by_issuer, paid_by_token_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            sender.id,
            cmd.idempotency_key,
            cmd.request_hash.as_slice(),
            record.id,
            record.created_at,
            cmd.issuer,
            cmd.token_id
        ])?;
        tx.commit()?;
        Ok(TransferOutcome::Created(record))
    }
}

/// Records a transfer's DPoP proof in its transaction: false when a live record has it (an
/// expired one awaiting the prune no longer counts).
fn spend_proof(
    tx: &Connection,
    proof: &ProofSpend,
    now: i64,
    next_prune_at: &AtomicI64,
) -> rusqlite::Result<bool> {
    if prune_due(next_prune_at, now, DPOP_PRUNE_EVERY_SECS) {
        tx.prepare_cached("DELETE FROM dpop_proofs WHERE expires_at < ?1")?
            .execute([now - DPOP_PRUNE_MARGIN_SECS])?;
    }
    let changed = tx
        .prepare_cached(
            "INSERT INTO dpop_proofs (proof_key, expires_at) VALUES (?1, ?2)
             ON CONFLICT (proof_key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE dpop_proofs.expires_at < ?3",
        )?
        .execute(params![&proof.key[..], proof.expires_at, now])?;
    Ok(changed == 1)
}

/// Commits what the transaction did so far (the spent token) and reports the refusal.
fn refuse(
    tx: rusqlite::Transaction<'_>,
    err: TransferError,
) -> Result<TransferOutcome, TransferError> {
    tx.commit()?;
    Err(err)
}

const TRANSFER_SELECT: &str = "SELECT t.id, f.handle, r.handle, t.amount_minor, t.currency,
        t.memo, t.from_balance_after, t.created_at, t.batch_id
    FROM transfers t
    JOIN accounts f ON f.id = t.from_account
    JOIN accounts r ON r.id = t.to_account";

fn transfer_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TransferRecord> {
    Ok(TransferRecord {
        id: row.get(0)?,
        from: row.get(1)?,
        to: row.get(2)?,
        amount_minor: row.get(3)?,
        currency: row.get(4)?,
        memo: row.get(5)?,
        from_balance_after: row.get(6)?,
        created_at: row.get(7)?,
        batch: row.get(8)?,
    })
}

const ACCOUNT_SELECT: &str = "SELECT id, sub, handle, currency, balance_minor FROM accounts";

fn account_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        sub: row.get(1)?,
        handle: row.get(2)?,
        currency: row.get(3)?,
        balance_minor: row.get(4)?,
    })
}

fn account_by_sub(conn: &Connection, sub: &str) -> rusqlite::Result<Option<Account>> {
    conn.prepare_cached(&format!("{ACCOUNT_SELECT} WHERE sub = ?1"))?
        .query_row([sub], account_from_row)
        .optional()
}

fn account_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Account>> {
    conn.prepare_cached(&format!("{ACCOUNT_SELECT} WHERE id = ?1"))?
        .query_row([id], account_from_row)
        .optional()
}

fn account_by_handle(conn: &Connection, handle: &str) -> rusqlite::Result<Option<Account>> {
    conn.prepare_cached(&format!("{ACCOUNT_SELECT} WHERE handle = ?1"))?
        .query_row([handle], account_from_row)
        .optional()
}

fn insert_account(
    conn: &Connection,
    sub: &str,
    handle: &str,
    currency: &str,
    opening_minor: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO accounts (sub, handle, currency, balance_minor, opening_balance_minor,
                               created_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![sub, handle, currency, opening_minor, now_rfc3339()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
