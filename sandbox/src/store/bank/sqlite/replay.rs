//! The transfer a spent token paid for, read from SQLite (`store::bank::replay`).

use rusqlite::{OptionalExtension, params};

use super::{SqliteBank, TRANSFER_SELECT, transfer_from_row};
use crate::store::StoreError;
use crate::store::bank::replay::PaidRetry;
use crate::store::bank::{ProofSpend, TransferRecord};

impl SqliteBank {
    pub(in crate::store::bank) fn spend_retry_proof(
        &self,
        proof: &ProofSpend,
        now: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock();
        Ok(super::spend_proof(
            &conn,
            proof,
            now,
            &self.next_proof_prune_at,
        )?)
    }

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
