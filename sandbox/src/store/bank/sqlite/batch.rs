//! Batch payments on SQLite (`store::bank::batch`): one `BEGIN IMMEDIATE` transaction for
//! the whole batch, with the single transfer's steps in its order.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{SqliteBank, TRANSFER_SELECT, account_by_id, spend_proof, transfer_from_row};
use crate::store::StoreError;
use crate::store::bank::batch::{
    BatchCommand, BatchError, BatchFacts, BatchOutcome, BatchRecord, PlannedBatch, decide,
    new_batch_id,
};
use crate::store::bank::precheck::Precheck;
use crate::store::bank::replay::PaidRetry;
use crate::store::bank::{TransferRecord, new_transfer_id, now_rfc3339};

impl SqliteBank {
    pub(in crate::store::bank) fn batch_facts(
        &self,
        plan: &PlannedBatch,
    ) -> Result<BatchFacts, StoreError> {
        Ok(batch_facts(&self.lock(), plan)?)
    }

    pub(in crate::store::bank) fn execute_batch(
        &self,
        cmd: &BatchCommand,
        now_unix: i64,
    ) -> Result<BatchOutcome, BatchError> {
        let plan = &cmd.plan;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM used_tokens WHERE expires_at < ?1")?
            .execute([now_unix])?;
        if let Some(proof) = &cmd.dpop_proof
            && !spend_proof(&tx, proof, now_unix, &self.next_proof_prune_at)?
        {
            return Err(BatchError::ProofAlreadyUsed);
        }
        let now = now_rfc3339();
        let inserted = tx
            .prepare_cached(
                "INSERT INTO used_tokens (issuer, token_id, expires_at, used_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )?
            .execute(params![cmd.issuer, cmd.token_id, cmd.token_expires_at, now])?;
        if inserted == 0 {
            return Err(BatchError::TokenAlreadyUsed);
        }

        let facts = batch_facts(&tx, plan)?;
        match decide(plan, &facts) {
            Ok(Precheck::Executable) => {}
            Ok(Precheck::AlreadyMade) => {
                let record = batch_under_key(&tx, plan.from_account, &plan.idempotency_key)?;
                tx.commit()?;
                return record
                    .map(BatchOutcome::Replayed)
                    // The key made a single transfer whose hash equals this batch's: not
                    // possible with SHA-256, and never a reason to replay the wrong thing.
                    .ok_or(BatchError::IdempotencyKeyReused);
            }
            Err(refusal) => {
                // The attempt spent the token; nothing else is kept.
                tx.commit()?;
                return Err(refusal);
            }
        }

        let sender = account_by_id(&tx, plan.from_account)?.ok_or(StoreError::NotFound)?;
        let batch_id = new_batch_id();
        tx.prepare_cached(
            "INSERT INTO transfer_batches (id, account_id, payment_count, idempotency_key,
                 request_hash, paid_by_issuer, paid_by_token_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            batch_id,
            sender.id,
            plan.payments.len() as i64,
            plan.idempotency_key,
            plan.request_hash.as_slice(),
            cmd.issuer,
            cmd.token_id,
            now
        ])?;
        // Running balances, in input order, as each transfer records them.
        let mut balances: HashMap<i64, i64> = HashMap::new();
        balances.insert(sender.id, sender.balance_minor);
        let mut transfers = Vec::with_capacity(plan.payments.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO transfers (id, from_account, to_account, amount_minor, currency,
                     memo, from_balance_after, to_balance_after, created_at, batch_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut recipient_balance =
                tx.prepare_cached("SELECT balance_minor FROM accounts WHERE id = ?1")?;
            for payment in &plan.payments {
                let (to_id, _) = facts.recipients[&payment.to_handle];
                let to_before = match balances.get(&to_id) {
                    Some(balance) => *balance,
                    None => recipient_balance.query_row([to_id], |row| row.get(0))?,
                };
                let from_after = balances[&sender.id] - payment.amount_minor;
                let to_after = to_before
                    .checked_add(payment.amount_minor)
                    .ok_or(BatchError::InsufficientFunds)?;
                balances.insert(sender.id, from_after);
                balances.insert(to_id, to_after);
                let record = TransferRecord {
                    id: new_transfer_id(),
                    from: sender.handle.clone(),
                    to: payment.to_handle.clone(),
                    amount_minor: payment.amount_minor,
                    currency: payment.currency.clone(),
                    memo: payment.memo.clone(),
                    from_balance_after: from_after,
                    created_at: now.clone(),
                    batch: Some(batch_id.clone()),
                };
                insert.execute(params![
                    record.id,
                    sender.id,
                    to_id,
                    record.amount_minor,
                    record.currency,
                    record.memo,
                    from_after,
                    to_after,
                    now,
                    batch_id
                ])?;
                transfers.push(record);
            }
            let mut update =
                tx.prepare_cached("UPDATE accounts SET balance_minor = ?2 WHERE id = ?1")?;
            for (id, balance) in &balances {
                update.execute(params![id, balance])?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, transfer_id, created_at,
                                           paid_by_issuer, paid_by_token_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            sender.id,
            plan.idempotency_key,
            plan.request_hash.as_slice(),
            transfers[0].id,
            now,
            cmd.issuer,
            cmd.token_id
        ])?;
        tx.commit()?;
        Ok(BatchOutcome::Created(BatchRecord {
            id: batch_id,
            from: sender.handle,
            created_at: now,
            transfers,
        }))
    }

    pub(in crate::store::bank) fn paid_batch(
        &self,
        retry: &PaidRetry,
    ) -> Result<Option<BatchRecord>, StoreError> {
        let conn = self.lock();
        let id: Option<String> = conn
            .prepare_cached(
                "SELECT id FROM transfer_batches
                 WHERE account_id = ?1 AND idempotency_key = ?2 AND request_hash = ?3
                   AND paid_by_issuer = ?4 AND paid_by_token_id = ?5",
            )?
            .query_row(
                params![
                    retry.from_account,
                    retry.idempotency_key,
                    retry.request_hash.as_slice(),
                    retry.issuer,
                    retry.token_id
                ],
                |row| row.get(0),
            )
            .optional()?;
        match id {
            Some(id) => Ok(Some(batch_record(&conn, &id)?)),
            None => Ok(None),
        }
    }
}

/// The key's earlier request, the sender, and every account a payment names.
fn batch_facts(conn: &Connection, plan: &PlannedBatch) -> rusqlite::Result<BatchFacts> {
    let (previous_hash, sender) =
        super::precheck::key_and_sender(conn, plan.from_account, &plan.idempotency_key)?;
    let mut recipients = HashMap::new();
    let mut by_handle =
        conn.prepare_cached("SELECT id, currency FROM accounts WHERE handle = ?1")?;
    for payment in &plan.payments {
        if recipients.contains_key(&payment.to_handle) {
            continue;
        }
        if let Some(account) = by_handle
            .query_row([&payment.to_handle], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?
        {
            recipients.insert(payment.to_handle.clone(), account);
        }
    }
    Ok(BatchFacts {
        previous_hash,
        sender,
        recipients,
    })
}

/// The batch the key made, if it made one.
fn batch_under_key(
    conn: &Connection,
    account_id: i64,
    key: &str,
) -> Result<Option<BatchRecord>, StoreError> {
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT id FROM transfer_batches WHERE account_id = ?1 AND idempotency_key = ?2",
        )?
        .query_row(params![account_id, key], |row| row.get(0))
        .optional()?;
    match id {
        Some(id) => Ok(Some(batch_record(conn, &id)?)),
        None => Ok(None),
    }
}

fn batch_record(conn: &Connection, id: &str) -> Result<BatchRecord, StoreError> {
    let transfers: Vec<TransferRecord> = conn
        .prepare_cached(&format!(
            "{TRANSFER_SELECT} WHERE t.batch_id = ?1 ORDER BY t.seq"
        ))?
        .query_map([id], transfer_from_row)?
        .collect::<Result<_, _>>()?;
    let first = transfers.first().ok_or(StoreError::NotFound)?;
    Ok(BatchRecord {
        id: id.to_owned(),
        from: first.from.clone(),
        created_at: first.created_at.clone(),
        transfers,
    })
}
