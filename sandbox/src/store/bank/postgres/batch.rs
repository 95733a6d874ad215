//! Batch payments on PostgreSQL (`store::bank::batch`): one call of `bank_payment_batch`
//! (migrations/bank/postgres/007_transfer_batches.sql) per attempt, one autocommit
//! statement, so the whole batch is one transaction whose locks are never held across a
//! round trip. Its rows arrive only after the commit; the batch's transfers are then read
//! back (they never change once written).

use std::collections::HashMap;

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use super::transfer::{backoff, commit_in_doubt, no_account, retryable};
use super::{MAX_ATTEMPTS, PgBank, TRANSFER_SELECT, transfer_from_row};
use crate::store::StoreError;
use crate::store::bank::batch::{
    BatchCommand, BatchError, BatchFacts, BatchOutcome, BatchRecord, PaymentRefusal, PlannedBatch,
    new_batch_id,
};
use crate::store::bank::replay::PaidRetry;
use crate::store::bank::{new_transfer_id, now_rfc3339};

const BATCH_SQL: &str = "SELECT * FROM bank_payment_batch($1, $2, $3, $4, $5, $6, $7, $8, $9,
    $10, $11, $12, $13, $14, $15, $16)";

impl PgBank {
    pub(in crate::store::bank) async fn batch_facts(
        &self,
        plan: &PlannedBatch,
    ) -> Result<BatchFacts, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT
                   (SELECT request_hash FROM idempotency_keys WHERE account_id = $1 AND key = $2),
                   s.balance_minor, s.currency
                 FROM (SELECT 1) AS one LEFT JOIN accounts s ON s.id = $1",
            )
            .await?;
        let row = client
            .query_one(&stmt, &[&plan.from_account, &plan.idempotency_key])
            .await?;
        let sender = match (
            row.get::<_, Option<i64>>(1),
            row.get::<_, Option<String>>(2),
        ) {
            (Some(balance), Some(currency)) => Some((balance, currency)),
            _ => None,
        };
        let handles: Vec<&str> = plan.payments.iter().map(|p| p.to_handle.as_str()).collect();
        let stmt = client
            .prepare_cached("SELECT handle, id, currency FROM accounts WHERE handle = ANY ($1)")
            .await?;
        let recipients: HashMap<String, (i64, String)> = client
            .query(&stmt, &[&handles])
            .await?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        Ok(BatchFacts {
            previous_hash: row.get(0),
            sender,
            recipients,
        })
    }

    pub(in crate::store::bank) async fn execute_batch(
        &self,
        cmd: &BatchCommand,
        now_unix: i64,
    ) -> Result<BatchOutcome, BatchError> {
        let client = self.client().await?;
        self.lanes.prune_if_due(&client, now_unix).await;
        for attempt in 1..=MAX_ATTEMPTS {
            match attempt_batch(&client, cmd, now_unix).await {
                Ok(outcome) => return outcome,
                Err(err) if no_account(&err) => return Err(StoreError::NotFound.into()),
                Err(err) if retryable(&err) && !commit_in_doubt(&err) => {
                    tracing::debug!(attempt, code = ?err.code(), "batch conflict, retrying");
                    backoff(attempt).await;
                }
                // In doubt or broken: the client's retry under the same key finds out.
                Err(err) => return Err(BatchError::Store(err.into())),
            }
        }
        Err(StoreError::Busy {
            attempts: MAX_ATTEMPTS,
        }
        .into())
    }

    pub(in crate::store::bank) async fn paid_batch(
        &self,
        retry: &PaidRetry,
    ) -> Result<Option<BatchRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id FROM transfer_batches
                 WHERE account_id = $1 AND idempotency_key = $2 AND request_hash = $3
                   AND paid_by_issuer = $4 AND paid_by_token_id = $5",
            )
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
        match row {
            Some(row) => Ok(Some(batch_record(&client, row.get(0)).await?)),
            None => Ok(None),
        }
    }
}

/// One attempt: `Err` means nothing happened (unless the commit is in doubt).
async fn attempt_batch(
    client: &Object,
    cmd: &BatchCommand,
    now_unix: i64,
) -> Result<Result<BatchOutcome, BatchError>, tokio_postgres::Error> {
    let plan = &cmd.plan;
    let statement = client.prepare_cached(BATCH_SQL).await?;
    let batch_id = new_batch_id();
    let now = now_rfc3339();
    let hash = plan.request_hash.as_slice();
    let proof_key = cmd.dpop_proof.as_ref().map(|p| p.key.as_slice());
    let proof_expires_at = cmd.dpop_proof.map(|p| p.expires_at);
    let tos: Vec<&str> = plan.payments.iter().map(|p| p.to_handle.as_str()).collect();
    let amounts: Vec<i64> = plan.payments.iter().map(|p| p.amount_minor).collect();
    let currencies: Vec<&str> = plan.payments.iter().map(|p| p.currency.as_str()).collect();
    let memos: Vec<Option<&str>> = plan.payments.iter().map(|p| p.memo.as_deref()).collect();
    let ids: Vec<String> = plan.payments.iter().map(|_| new_transfer_id()).collect();
    let params: [&(dyn ToSql + Sync); 16] = [
        &cmd.issuer,
        &cmd.token_id,
        &cmd.token_expires_at,
        &plan.from_account,
        &plan.idempotency_key,
        &hash,
        &batch_id,
        &now,
        &proof_key,
        &proof_expires_at,
        &now_unix,
        &tos,
        &amounts,
        &currencies,
        &memos,
        &ids,
    ];
    let rows = client.query(&statement, &params).await?;
    let mut refused = Vec::new();
    for row in &rows {
        let outcome: &str = row.get(0);
        let index: Option<i32> = row.get(1);
        let batch: Option<String> = row.get(2);
        let refusal = match outcome {
            "created" | "replayed" => {
                let Some(batch) = batch else {
                    return Ok(Err(BatchError::IdempotencyKeyReused));
                };
                let record = batch_record(client, batch).await;
                return Ok(record.map_err(BatchError::Store).map(|record| {
                    if outcome == "created" {
                        BatchOutcome::Created(record)
                    } else {
                        BatchOutcome::Replayed(record)
                    }
                }));
            }
            "token_already_used" => return Ok(Err(BatchError::TokenAlreadyUsed)),
            "proof_already_used" => return Ok(Err(BatchError::ProofAlreadyUsed)),
            "idempotency_key_reused" => return Ok(Err(BatchError::IdempotencyKeyReused)),
            "insufficient_funds" => return Ok(Err(BatchError::InsufficientFunds)),
            "unknown_recipient" => PaymentRefusal::UnknownRecipient,
            "same_account" => PaymentRefusal::SameAccount,
            "currency_mismatch" => PaymentRefusal::CurrencyMismatch,
            other => {
                return Ok(Err(BatchError::Store(StoreError::Config(format!(
                    "bank_payment_batch answered {other:?}"
                )))));
            }
        };
        let index = index.and_then(|i| usize::try_from(i).ok()).unwrap_or(0);
        refused.push((index, refusal));
    }
    if refused.is_empty() {
        return Ok(Err(BatchError::Store(StoreError::Config(
            "bank_payment_batch answered nothing".into(),
        ))));
    }
    Ok(Err(BatchError::Payments(refused)))
}

async fn batch_record(client: &Object, id: String) -> Result<BatchRecord, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "{TRANSFER_SELECT} WHERE t.batch_id = $1 ORDER BY t.seq"
        ))
        .await?;
    let transfers: Vec<_> = client
        .query(&stmt, &[&id])
        .await?
        .iter()
        .map(transfer_from_row)
        .collect();
    let first = transfers.first().ok_or(StoreError::NotFound)?;
    Ok(BatchRecord {
        from: first.from.clone(),
        created_at: first.created_at.clone(),
        id,
        transfers,
    })
}
