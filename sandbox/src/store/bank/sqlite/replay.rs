//! The transfer a spent token paid for, read from SQLite (`store::bank::replay`).

use rusqlite::{OptionalExtension, params};

use super::{SqliteBank, TRANSFER_SELECT, transfer_from_row};
use crate::store::StoreError;
use crate::store::bank::TransferRecord;
use crate::store::bank::replay::PaidRetry;

impl SqliteBank {
    pub(in crate::store::bank) fn paid_transfer(
        &self,
        retry: &PaidRetry,
    ) -> Result<Option<TransferRecord>, StoreError> {
        let conn = self.lock();
        let record = conn
            .prepare_cached(&format!(
                "{TRANSFER_SELECT}
                 JOIN idempotency_keys k ON k.transfer_id = t.id
                 WHERE k.account_id = ?1 AND k.key = ?2 AND k.request_hash = ?3
                   AND k.paid_by_issuer = ?4 AND k.paid_by_token_id = ?5"
            ))?
            .query_row(
                params![
                    retry.from_account,
                    retry.idempotency_key,
                    retry.request_hash.as_slice(),
                    retry.issuer,
                    retry.token_id
                ],
                transfer_from_row,
            )
            .optional()?;
        Ok(record)
    }
}
