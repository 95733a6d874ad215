//! The receipt of a transfer whose answer was lost: a retry of the very transfer a step-up
//! token paid for (same token, same `Idempotency-Key`, same request) is answered with what
//! it made, although the token is spent. The token must be the one recorded as the payer
//! (`paid_by_*` of the idempotency record): a spent token proves nothing about any other
//! transfer, so any other retry still needs a fresh token.
//!
//! A read, no lock: the record it reads is never changed once written.

use super::{BankStore, ProofSpend, TransferRecord, blocking};
use crate::store::StoreError;

/// The retry a lost answer asks to be replayed.
#[derive(Debug, Clone)]
pub struct PaidRetry {
    pub from_account: i64,
    pub idempotency_key: String,
    pub request_hash: [u8; 32],
    pub issuer: String,
    pub token_id: String,
}

impl BankStore {
    /// The transfer `retry`'s token paid for under its key with its request, if any.
    pub async fn paid_transfer(
        &self,
        retry: &PaidRetry,
    ) -> Result<Option<TransferRecord>, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let owned = retry.clone();
                blocking(s, move |s| s.paid_transfer(&owned)).await?
            }
            BankStore::Postgres(p) => p.paid_transfer(retry).await,
        }
    }

    /// Spends the DPoP proof of a replayed retry, as a transfer's own transaction would:
    /// `false` when it was spent before, so a captured request cannot be sent again to
    /// read the receipt. A retry is signed anew (the client signs every send).
    pub async fn spend_retry_proof(&self, proof: ProofSpend, now: i64) -> Result<bool, StoreError> {
        match self {
            BankStore::Sqlite(s) => blocking(s, move |s| s.spend_retry_proof(&proof, now)).await?,
            BankStore::Postgres(p) => p.spend_retry_proof(&proof, now).await,
        }
    }
}
