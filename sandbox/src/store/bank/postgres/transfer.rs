//! One transfer transaction on PostgreSQL, as an attempt its caller retries: spend the
//! token, lock both accounts in id order, look up the idempotency key under that lock, then
//! move the money. Statements of one step are pipelined (sent together, answered in order),
//! so the account locks are held for two round trips and the commit.

use std::time::Duration;

use deadpool_postgres::Object;
use rand::Rng as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::{ACCOUNT_COLUMNS, TRANSFER_SELECT, account_from_row, transfer_from_row};
use crate::store::StoreError;
use crate::store::bank::{
    Account, TransferCommand, TransferError, TransferOutcome, TransferRecord, new_transfer_id,
    now_rfc3339,
};

/// How one attempt of a transaction ended.
pub(super) enum Attempt<T> {
    Done(T),
    /// A database error; retried when [`retryable`].
    Failed(tokio_postgres::Error),
}

/// One attempt of the transfer transaction. Business refusals commit (the token is spent);
/// any database error is returned for the caller to roll back and maybe retry.
pub(super) async fn transfer_attempt(
    client: &Object,
    cmd: &TransferCommand<'_>,
) -> Attempt<Result<TransferOutcome, TransferError>> {
    macro_rules! db {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(err) => return Attempt::Failed(err),
            }
        };
    }
    let spend = db!(client
        .prepare_cached(
            "INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await);
    let lock = db!(client
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 OR handle = $2
                 ORDER BY id FOR UPDATE"
        ))
        .await);
    let previous = db!(client
        .prepare_cached(
            "SELECT request_hash, transfer_id FROM idempotency_keys
                 WHERE account_id = $1 AND key = $2",
        )
        .await);
    let used_at = now_rfc3339();
    // One round trip: the server runs them in this order.
    let spend_params: [&(dyn ToSql + Sync); 4] =
        [&cmd.issuer, &cmd.token_id, &cmd.token_expires_at, &used_at];
    let lock_params: [&(dyn ToSql + Sync); 2] = [&cmd.from_account, &cmd.to_handle];
    let key_params: [&(dyn ToSql + Sync); 2] = [&cmd.from_account, &cmd.idempotency_key];
    let (begin, spent, locked, previous) = tokio::join!(
        biased;
        client.batch_execute("BEGIN"),
        client.execute(&spend, &spend_params),
        client.query(&lock, &lock_params),
        client.query_opt(&previous, &key_params),
    );
    db!(begin);
    let spent = db!(spent);
    let locked = db!(locked);
    let previous = db!(previous);
    if spent == 0 {
        db!(client.batch_execute("ROLLBACK").await);
        return Attempt::Done(Err(TransferError::TokenAlreadyUsed));
    }
    let accounts: Vec<Account> = locked.iter().map(account_from_row).collect();
    let Some(sender) = accounts.iter().find(|a| a.id == cmd.from_account).cloned() else {
        db!(client.batch_execute("ROLLBACK").await);
        return Attempt::Done(Err(TransferError::Store(StoreError::NotFound)));
    };

    if let Some(previous) = previous {
        let hash: Vec<u8> = previous.get(0);
        let transfer_id: String = previous.get(1);
        if hash.as_slice() != cmd.request_hash.as_slice() {
            db!(client.batch_execute("COMMIT").await);
            return Attempt::Done(Err(TransferError::IdempotencyKeyReused));
        }
        let row = db!(client
            .query_one(
                &format!("{TRANSFER_SELECT} WHERE t.id = $1"),
                &[&transfer_id]
            )
            .await);
        db!(client.batch_execute("COMMIT").await);
        return Attempt::Done(Ok(TransferOutcome::Replayed(transfer_from_row(&row))));
    }

    let refusal = match accounts.iter().find(|a| a.handle == cmd.to_handle) {
        None => Err(TransferError::UnknownRecipient),
        Some(r) if r.id == sender.id => Err(TransferError::SameAccount),
        Some(r) if cmd.currency != sender.currency || cmd.currency != r.currency => {
            Err(TransferError::CurrencyMismatch)
        }
        Some(_) if sender.balance_minor < cmd.amount_minor => Err(TransferError::InsufficientFunds),
        // Unreachable with sane limits; refusing beats wrapping.
        Some(r) => match r.balance_minor.checked_add(cmd.amount_minor) {
            None => Err(TransferError::CurrencyMismatch),
            Some(to_after) => Ok((r.clone(), to_after)),
        },
    };
    let (recipient, to_after) = match refusal {
        Ok(ok) => ok,
        Err(refused) => {
            db!(client.batch_execute("COMMIT").await);
            return Attempt::Done(Err(refused));
        }
    };
    let from_after = sender.balance_minor - cmd.amount_minor;
    let record = TransferRecord {
        id: new_transfer_id(),
        from: sender.handle,
        to: recipient.handle,
        amount_minor: cmd.amount_minor,
        currency: cmd.currency.to_owned(),
        memo: cmd.memo.map(str::to_owned),
        from_balance_after: from_after,
        created_at: used_at,
    };
    let update = db!(client
        .prepare_cached("UPDATE accounts SET balance_minor = $2 WHERE id = $1")
        .await);
    let insert_transfer = db!(client
        .prepare_cached(
            "INSERT INTO transfers (id, from_account, to_account, amount_minor, currency,
                                        memo, from_balance_after, to_balance_after, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await);
    let insert_key = db!(client
        .prepare_cached(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, transfer_id,
                                               created_at)
                 VALUES ($1, $2, $3, $4, $5)",
        )
        .await);
    let hash = cmd.request_hash.as_slice();
    // One more round trip, ending in COMMIT. If any statement fails, the transaction is
    // aborted and the COMMIT only rolls it back, so an error anywhere means nothing moved.
    let debit_params: [&(dyn ToSql + Sync); 2] = [&sender.id, &from_after];
    let credit_params: [&(dyn ToSql + Sync); 2] = [&recipient.id, &to_after];
    let transfer_params: [&(dyn ToSql + Sync); 9] = [
        &record.id,
        &sender.id,
        &recipient.id,
        &record.amount_minor,
        &record.currency,
        &record.memo,
        &from_after,
        &to_after,
        &record.created_at,
    ];
    let key_params: [&(dyn ToSql + Sync); 5] = [
        &sender.id,
        &cmd.idempotency_key,
        &hash,
        &record.id,
        &record.created_at,
    ];
    let (debit, credit, ledger, key, commit) = tokio::join!(
        biased;
        client.execute(&update, &debit_params),
        client.execute(&update, &credit_params),
        client.execute(&insert_transfer, &transfer_params),
        client.execute(&insert_key, &key_params),
        client.batch_execute("COMMIT"),
    );
    db!(debit);
    db!(credit);
    db!(ledger);
    db!(key);
    db!(commit);
    Attempt::Done(Ok(TransferOutcome::Created(record)))
}

/// Ends whatever transaction an attempt left open; "no transaction in progress" is only a
/// warning, so this is safe after a COMMIT that already ended it.
pub(super) async fn rollback(client: &Object) {
    if let Err(err) = client.batch_execute("ROLLBACK").await {
        tracing::debug!(error = %err, "rollback failed");
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
