//! One attempt of a batch of transfers on PostgreSQL: one call of the
//! `bank_transfer_batch` function (migrations/bank/postgres/006_dpop_in_transfer.sql), or of
//! `bank_transfer` for a transfer alone, run as a single autocommit statement: one
//! transaction, one commit. Doing every step inside the server keeps the account locks
//! held only while the server works and commits, never across a round trip to this
//! process, which is what a hot account's throughput depends on. tokio-postgres hands
//! over the rows only at `ReadyForQuery`, after the commit, so an outcome is never taken
//! from a transaction that did not commit.

use std::time::Duration;

use deadpool_postgres::Object;
use rand::Rng as _;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::store::StoreError;
use crate::store::bank::{
    OwnedTransferCommand, TransferError, TransferOutcome, TransferRecord, new_transfer_id,
    now_rfc3339,
};

const BATCH_SQL: &str = "SELECT * FROM bank_transfer_batch($1, $2, $3, $4, $5, $6, $7, $8, $9,
    $10, $11, $12, $13, $14, $15)";
/// A transfer alone, in the batch's columns: no arrays and no second function to go
/// through.
const SINGLE_SQL: &str = "SELECT 1::int, * FROM bank_transfer($1, $2, $3, $4, $5, $6, $7, $8,
    $9, $10, $11, $12, $13, $14, $15)";

/// Each transfer's outcome, in the order of the commands.
pub(super) type Outcomes = Vec<Result<TransferOutcome, TransferError>>;

/// Runs `cmds` as one transaction. `Err` means none of them happened, unless
/// [`commit_in_doubt`] says the connection broke on the way. `now_unix` is the API's clock,
/// against which a spent proof's record expires.
pub(super) async fn batch_attempt(
    client: &Object,
    cmds: &[&OwnedTransferCommand],
    now_unix: i64,
) -> Result<Outcomes, tokio_postgres::Error> {
    let now = now_rfc3339();
    let rows = if let [cmd] = cmds {
        let statement = client.prepare_cached(SINGLE_SQL).await?;
        let (id, hash) = (new_transfer_id(), cmd.request_hash.as_slice());
        let proof_key = cmd.dpop_proof.as_ref().map(|p| p.key.as_slice());
        let proof_expires_at = cmd.dpop_proof.map(|p| p.expires_at);
        let params: [&(dyn ToSql + Sync); 15] = [
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
            &proof_key,
            &proof_expires_at,
            &now_unix,
        ];
        client.query(&statement, &params).await?
    } else {
        let statement = client.prepare_cached(BATCH_SQL).await?;
        let ids: Vec<String> = cmds.iter().map(|_| new_transfer_id()).collect();
        let issuers: Vec<&str> = cmds.iter().map(|c| c.issuer.as_str()).collect();
        let token_ids: Vec<&str> = cmds.iter().map(|c| c.token_id.as_str()).collect();
        let expiries: Vec<i64> = cmds.iter().map(|c| c.token_expires_at).collect();
        let froms: Vec<i64> = cmds.iter().map(|c| c.from_account).collect();
        let tos: Vec<&str> = cmds.iter().map(|c| c.to_handle.as_str()).collect();
        let amounts: Vec<i64> = cmds.iter().map(|c| c.amount_minor).collect();
        let currencies: Vec<&str> = cmds.iter().map(|c| c.currency.as_str()).collect();
        let memos: Vec<Option<&str>> = cmds.iter().map(|c| c.memo.as_deref()).collect();
        let keys: Vec<&str> = cmds.iter().map(|c| c.idempotency_key.as_str()).collect();
        let hashes: Vec<&[u8]> = cmds.iter().map(|c| c.request_hash.as_slice()).collect();
        let proof_keys: Vec<Option<&[u8]>> = cmds
            .iter()
            .map(|c| c.dpop_proof.as_ref().map(|p| p.key.as_slice()))
            .collect();
        let proof_expiries: Vec<Option<i64>> = cmds
            .iter()
            .map(|c| c.dpop_proof.map(|p| p.expires_at))
            .collect();
        let params: [&(dyn ToSql + Sync); 15] = [
            &issuers,
            &token_ids,
            &expiries,
            &froms,
            &tos,
            &amounts,
            &currencies,
            &memos,
            &keys,
            &hashes,
            &ids,
            &now,
            &proof_keys,
            &proof_expiries,
            &now_unix,
        ];
        client.query(&statement, &params).await?
    };

    let mut outcomes: Vec<Option<Result<TransferOutcome, TransferError>>> =
        (0..cmds.len()).map(|_| None).collect();
    for row in &rows {
        let index: i32 = row.get(0);
        if let Some(slot) = usize::try_from(index - 1)
            .ok()
            .and_then(|i| outcomes.get_mut(i))
        {
            *slot = Some(outcome(row));
        }
    }
    Ok(outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            outcome.unwrap_or_else(|| {
                Err(TransferError::Store(StoreError::Config(format!(
                    "bank_transfer_batch answered nothing for transfer {}",
                    i + 1
                ))))
            })
        })
        .collect())
}

fn outcome(row: &Row) -> Result<TransferOutcome, TransferError> {
    let outcome: &str = row.get(1);
    match outcome {
        "created" => Ok(TransferOutcome::Created(record(row))),
        "replayed" => Ok(TransferOutcome::Replayed(record(row))),
        "token_already_used" => Err(TransferError::TokenAlreadyUsed),
        "proof_already_used" => Err(TransferError::ProofAlreadyUsed),
        "idempotency_key_reused" => Err(TransferError::IdempotencyKeyReused),
        "unknown_recipient" => Err(TransferError::UnknownRecipient),
        "same_account" => Err(TransferError::SameAccount),
        "currency_mismatch" => Err(TransferError::CurrencyMismatch),
        "insufficient_funds" => Err(TransferError::InsufficientFunds),
        other => Err(TransferError::Store(StoreError::Config(format!(
            "bank_transfer answered {other:?}"
        )))),
    }
}

fn record(row: &Row) -> TransferRecord {
    TransferRecord {
        id: row.get(2),
        from: row.get(3),
        to: row.get(4),
        amount_minor: row.get(5),
        currency: row.get(6),
        memo: row.get(7),
        from_balance_after: row.get(8),
        created_at: row.get(9),
        batch: None,
    }
}

/// No answer from the server, or the database became unreachable on the way: the
/// transaction may have committed or not.
pub(super) fn commit_in_doubt(err: &tokio_postgres::Error) -> bool {
    err.code().is_none() || crate::store::database_unreachable(err)
}

/// The sender's account is gone (`bank_transfer` raises this): the batch rolled back,
/// token included.
pub(super) fn no_account(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::NO_DATA_FOUND)
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
