//! One transfer transaction on PostgreSQL, as an attempt its caller retries: one call of
//! the `bank_transfer` function (migrations/bank/postgres/002_transfer_function.sql), run
//! as a single autocommit statement. Doing every step inside the server keeps the account
//! locks held only while the server works and commits, never across a round trip to this
//! process, which is what a hot account's throughput depends on.

use std::time::Duration;

use deadpool_postgres::Object;
use rand::Rng as _;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::store::StoreError;
use crate::store::bank::{
    TransferCommand, TransferError, TransferOutcome, TransferRecord, new_transfer_id, now_rfc3339,
};

/// How one attempt of a transaction ended.
pub(super) enum Attempt<T> {
    Done(T),
    /// A database error; retried when [`retryable`].
    Failed(tokio_postgres::Error),
}

pub(super) async fn transfer_attempt(
    client: &Object,
    cmd: &TransferCommand<'_>,
) -> Attempt<Result<TransferOutcome, TransferError>> {
    let stmt = match client
        .prepare_cached(
            "SELECT * FROM bank_transfer($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await
    {
        Ok(stmt) => stmt,
        Err(err) => return Attempt::Failed(err),
    };
    let (id, now) = (new_transfer_id(), now_rfc3339());
    let hash = cmd.request_hash.as_slice();
    let params: [&(dyn ToSql + Sync); 12] = [
        &cmd.issuer,
        &cmd.token_id,
        &cmd.token_expires_at,
        &cmd.from_account,
        &cmd.to_handle,
        &cmd.amount_minor,
        &cmd.currency,
        &cmd.memo,
        &cmd.idempotency_key,
        &hash,
        &id,
        &now,
    ];
    let row = match client.query_one(&stmt, &params).await {
        Ok(row) => row,
        Err(err) if err.code() == Some(&SqlState::NO_DATA_FOUND) => {
            // The sender's account is gone; the statement rolled back, token included.
            return Attempt::Done(Err(TransferError::Store(StoreError::NotFound)));
        }
        Err(err) => return Attempt::Failed(err),
    };
    let outcome: &str = row.get(0);
    Attempt::Done(match outcome {
        "created" => Ok(TransferOutcome::Created(record(&row))),
        "replayed" => Ok(TransferOutcome::Replayed(record(&row))),
        "token_already_used" => Err(TransferError::TokenAlreadyUsed),
        "idempotency_key_reused" => Err(TransferError::IdempotencyKeyReused),
        "unknown_recipient" => Err(TransferError::UnknownRecipient),
        "same_account" => Err(TransferError::SameAccount),
        "currency_mismatch" => Err(TransferError::CurrencyMismatch),
        "insufficient_funds" => Err(TransferError::InsufficientFunds),
        other => Err(TransferError::Store(StoreError::Config(format!(
            "bank_transfer answered {other:?}"
        )))),
    })
}

fn record(row: &Row) -> TransferRecord {
    TransferRecord {
        id: row.get(1),
        from: row.get(2),
        to: row.get(3),
        amount_minor: row.get(4),
        currency: row.get(5),
        memo: row.get(6),
        from_balance_after: row.get(7),
        created_at: row.get(8),
    }
}

/// Conflicts between concurrent transactions, which a fresh attempt resolves.
pub(super) fn retryable(err: &tokio_postgres::Error) -> bool {
    matches!(
        err.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::LOCK_NOT_AVAILABLE
    )
}

/// Exponential backoff with full jitter, capped, so that losers of one conflict do not
/// collide again in lockstep.
pub(super) async fn backoff(attempt: u32) {
    let cap_ms = (1u64 << attempt.min(6)).min(50);
    let wait = rand::thread_rng().gen_range(0..=cap_ms * 1000);
    tokio::time::sleep(Duration::from_micros(wait)).await;
}
