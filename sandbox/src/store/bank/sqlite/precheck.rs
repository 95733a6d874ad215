//! The facts of a transfer precheck, read from SQLite (`store::bank::precheck`).

use rusqlite::{OptionalExtension, params};

use super::SqliteBank;
use crate::store::StoreError;
use crate::store::bank::precheck::{Facts, PlannedTransfer};

impl SqliteBank {
    pub(in crate::store::bank) fn transfer_facts(
        &self,
        plan: &PlannedTransfer,
    ) -> Result<Facts, StoreError> {
        let conn = self.lock();
        let previous_hash = conn
            .prepare_cached(
                "SELECT request_hash FROM idempotency_keys WHERE account_id = ?1 AND key = ?2",
            )?
            .query_row(params![plan.from_account, plan.idempotency_key], |row| {
                row.get(0)
            })
            .optional()?;
        let sender = conn
            .prepare_cached("SELECT balance_minor, currency FROM accounts WHERE id = ?1")?
            .query_row([plan.from_account], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
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
