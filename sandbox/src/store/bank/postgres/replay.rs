//! The transfer a spent token paid for, read from PostgreSQL (`store::bank::replay`).

use super::{PgBank, TRANSFER_SELECT, transfer_from_row};
use crate::store::StoreError;
use crate::store::bank::replay::PaidRetry;
use crate::store::bank::{ProofSpend, TransferRecord};

impl PgBank {
    pub(in crate::store::bank) async fn spend_retry_proof(
        &self,
        proof: &ProofSpend,
        now: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO dpop_proofs (proof_key, expires_at) VALUES ($1, $2)
                 ON CONFLICT (proof_key) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE dpop_proofs.expires_at < $3",
            )
            .await?;
        let changed = client
            .execute(&stmt, &[&&proof.key[..], &proof.expires_at, &now])
            .await?;
        Ok(changed == 1)
    }

    pub(in crate::store::bank) async fn paid_transfer(
        &self,
        retry: &PaidRetry,
    ) -> Result<Option<TransferRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{TRANSFER_SELECT}
                 JOIN idempotency_keys k ON k.transfer_id = t.id
                 WHERE k.account_id = $1 AND k.key = $2 AND k.request_hash = $3
                   AND k.paid_by_issuer = $4 AND k.paid_by_token_id = $5"
            ))
            .await?;
        let row = client
            .query_opt(
                &stmt,
                &[
                    &retry.from_account,
                    &retry.idempotency_key,
                    &retry.request_hash.as_slice(),
                    &retry.issuer,
                    &retry.token_id,
                ],
            )
            .await?;
        Ok(row.as_ref().map(transfer_from_row))
    }
}
