//! The facts of a transfer precheck, read from SQLite (`store::bank::precheck`).

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteBank;
use crate::store::StoreError;
use crate::store::bank::precheck::{Facts, PlannedTransfer};

impl SqliteBank {
    pub(in crate::store::bank) fn transfer_facts(
        &self,
        plan: &PlannedTransfer,
    ) -> Result<Facts, StoreError> {
        let conn = self.lock();
        let (previous_hash, sender) =
            key_and_sender(&conn, plan.from_account, &plan.idempotency_key)?;
        let recipient = conn
            .prepare_cached("SELECT id, currency FROM accounts WHERE handle = ?1")?
            .query_row([&plan.to_handle], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        Ok(Facts {
            previous_hash,
            sender,
            recipient,
        })
    }
}

/// The request hash the key was first used with, and the sender's balance and currency.
type KeyAndSender = (Option<Vec<u8>>, Option<(i64, String)>);

/// [`KeyAndSender`]: where every precheck, of a transfer or a batch, starts.
pub(super) fn key_and_sender(
    conn: &Connection,
    account_id: i64,
    key: &str,
) -> rusqlite::Result<KeyAndSender> {
    let previous_hash = conn
        .prepare_cached(
            "SELECT request_hash FROM idempotency_keys WHERE account_id = ?1 AND key = ?2",
        )?
        .query_row(params![account_id, key], |row| row.get(0))
        .optional()?;
    let sender = conn
        .prepare_cached("SELECT balance_minor, currency FROM accounts WHERE id = ?1")?
        .query_row([account_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok((previous_hash, sender))
}
