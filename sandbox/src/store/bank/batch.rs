//! Batch payments in the ledger: many transfers of one sender, approved once, made in one
//! transaction, all or nothing.
//!
//! The rules are the single transfer's, applied to the whole batch before anything moves:
//! the proof and the token are spent first, then the idempotency key decides (the same
//! batch again is replayed, another request under the key refused), then every payment's
//! recipient and currency, then the batch's total against the balance. A refusal names
//! every payment it is about and moves nothing; the token stays spent, as for a transfer.
//! [`BankStore::precheck_batch`] applies the same rules without a lock, before the API asks
//! for strong authentication.

use std::collections::HashMap;

use rand::RngCore;

use super::precheck::Precheck;
use super::replay::PaidRetry;
use super::{BankStore, ProofSpend, TransferRecord, blocking};
use crate::store::StoreError;

/// One payment of a batch, validated by the API layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPayment {
    pub to_handle: String,
    pub amount_minor: i64,
    pub currency: String,
    pub memo: Option<String>,
}

/// A batch as the ledger checks it.
#[derive(Debug, Clone)]
pub struct PlannedBatch {
    pub from_account: i64,
    pub payments: Vec<PlannedPayment>,
    pub idempotency_key: String,
    /// SHA-256 of the batch's canonical form: same key + same digest = the same batch.
    pub request_hash: [u8; 32],
}

impl PlannedBatch {
    /// The sum of the amounts; `None` if it would overflow (then no balance covers it).
    pub fn total_minor(&self) -> Option<i64> {
        self.payments
            .iter()
            .try_fold(0i64, |sum, p| sum.checked_add(p.amount_minor))
    }
}

/// Everything the batch's transaction needs.
#[derive(Debug, Clone)]
pub struct BatchCommand {
    pub plan: PlannedBatch,
    pub issuer: String,
    pub token_id: String,
    /// exp + leeway: the spent-token record is kept until then.
    pub token_expires_at: i64,
    pub dpop_proof: Option<ProofSpend>,
}

/// A batch in the ledger: its transfers in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub id: String,
    pub from: String,
    pub created_at: String,
    pub transfers: Vec<TransferRecord>,
}

/// A batch made now, or the one its idempotency key made earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    Created(BatchRecord),
    Replayed(BatchRecord),
}

/// Why one payment of a batch cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentRefusal {
    UnknownRecipient,
    SameAccount,
    CurrencyMismatch,
}

/// Why a batch did not happen. Apart from `TokenAlreadyUsed`, `ProofAlreadyUsed`,
/// `TokenExpired` and `Store`, the token and the proof were spent by the attempt.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("token already used")]
    TokenAlreadyUsed,
    #[error("DPoP proof already used")]
    ProofAlreadyUsed,
    #[error("token expired")]
    TokenExpired,
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// Every payment that cannot be made, by 1-based position, in order.
    #[error("{} payments cannot be made", .0.len())]
    Payments(Vec<(usize, PaymentRefusal)>),
    /// The balance does not cover the batch's total.
    #[error("insufficient funds for the batch's total")]
    InsufficientFunds,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for BatchError {
    fn from(err: rusqlite::Error) -> Self {
        BatchError::Store(err.into())
    }
}

/// What the ledger says about a batch before it is decided.
#[derive(Debug, Default)]
pub(super) struct BatchFacts {
    /// The request hash recorded under the key, if the key was used.
    pub previous_hash: Option<Vec<u8>>,
    /// Balance and currency of the sender.
    pub sender: Option<(i64, String)>,
    /// Id and currency of every account named by a payment, by handle.
    pub recipients: HashMap<String, (i64, String)>,
}

/// The transaction's rules, in its order, on facts read under its locks (SQLite) or
/// without any (the precheck).
pub(super) fn decide(plan: &PlannedBatch, facts: &BatchFacts) -> Result<Precheck, BatchError> {
    if let Some(hash) = &facts.previous_hash {
        return if hash.as_slice() == plan.request_hash.as_slice() {
            Ok(Precheck::AlreadyMade)
        } else {
            Err(BatchError::IdempotencyKeyReused)
        };
    }
    let Some((balance, sender_currency)) = &facts.sender else {
        return Err(BatchError::Store(StoreError::NotFound));
    };
    let refused: Vec<(usize, PaymentRefusal)> = plan
        .payments
        .iter()
        .enumerate()
        .filter_map(|(i, payment)| {
            let refusal = match facts.recipients.get(&payment.to_handle) {
                None => PaymentRefusal::UnknownRecipient,
                Some((id, _)) if *id == plan.from_account => PaymentRefusal::SameAccount,
                Some((_, currency))
                    if payment.currency != *sender_currency || payment.currency != *currency =>
                {
                    PaymentRefusal::CurrencyMismatch
                }
                Some(_) => return None,
            };
            Some((i + 1, refusal))
        })
        .collect();
    if !refused.is_empty() {
        return Err(BatchError::Payments(refused));
    }
    match plan.total_minor() {
        Some(total) if total <= *balance => Ok(Precheck::Executable),
        _ => Err(BatchError::InsufficientFunds),
    }
}

impl BankStore {
    /// Whether `plan` would be made, replayed or refused (and why), from the ledger as it
    /// is now: no lock, no write.
    pub async fn precheck_batch(&self, plan: &PlannedBatch) -> Result<Precheck, BatchError> {
        let facts = match self {
            BankStore::Sqlite(s) => {
                let owned = plan.clone();
                blocking(s, move |s| s.batch_facts(&owned)).await??
            }
            BankStore::Postgres(p) => p.batch_facts(plan).await?,
        };
        decide(plan, &facts)
    }

    /// Spends the token and its proof and makes every transfer of the batch, in one
    /// transaction (see the module's documentation for the order of the checks).
    pub async fn execute_batch(
        &self,
        cmd: BatchCommand,
        now_unix: i64,
    ) -> Result<BatchOutcome, BatchError> {
        // As for a transfer: a token that expired on its way here might have had its
        // spent-token record pruned, so it is refused before it could be spent twice.
        if cmd.token_expires_at < now_unix {
            return Err(BatchError::TokenExpired);
        }
        match self {
            BankStore::Sqlite(s) => blocking(s, move |s| s.execute_batch(&cmd, now_unix))
                .await
                .map_err(BatchError::Store)?,
            BankStore::Postgres(p) => p.execute_batch(&cmd, now_unix).await,
        }
    }

    /// The batch `retry`'s token paid for under its key with its request, if any: the
    /// lost-answer path of a batch, as [`BankStore::paid_transfer`] is a transfer's.
    pub async fn paid_batch(&self, retry: &PaidRetry) -> Result<Option<BatchRecord>, StoreError> {
        match self {
            BankStore::Sqlite(s) => {
                let owned = retry.clone();
                blocking(s, move |s| s.paid_batch(&owned)).await?
            }
            BankStore::Postgres(p) => p.paid_batch(retry).await,
        }
    }
}

/// `bt_` + 24 hex characters of OS randomness, as a transfer's id.
pub(super) fn new_batch_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("bt_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(amounts: &[(&str, i64)]) -> PlannedBatch {
        PlannedBatch {
            from_account: 1,
            payments: amounts
                .iter()
                .map(|(to, amount)| PlannedPayment {
                    to_handle: (*to).into(),
                    amount_minor: *amount,
                    currency: "USD".into(),
                    memo: None,
                })
                .collect(),
            idempotency_key: "k".into(),
            request_hash: [7; 32],
        }
    }

    fn facts(balance: i64) -> BatchFacts {
        BatchFacts {
            previous_hash: None,
            sender: Some((balance, "USD".into())),
            recipients: [
                ("alice".to_owned(), (1, "USD".to_owned())),
                ("bob".to_owned(), (2, "USD".to_owned())),
                ("eve".to_owned(), (3, "EUR".to_owned())),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn every_refused_payment_is_named_and_the_total_decides_funds() {
        let ok = plan(&[("bob", 400), ("bob", 600)]);
        assert_eq!(decide(&ok, &facts(1000)).ok(), Some(Precheck::Executable));
        // Each payment alone is affordable; together they are not.
        assert!(matches!(
            decide(&ok, &facts(999)),
            Err(BatchError::InsufficientFunds)
        ));
        let bad = plan(&[("bob", 1), ("nobody", 1), ("alice", 1), ("eve", 1)]);
        match decide(&bad, &facts(1000)) {
            Err(BatchError::Payments(refused)) => assert_eq!(
                refused,
                vec![
                    (2, PaymentRefusal::UnknownRecipient),
                    (3, PaymentRefusal::SameAccount),
                    (4, PaymentRefusal::CurrencyMismatch)
                ]
            ),
            other => panic!("{other:?}"),
        }
        let mut again = facts(0);
        again.previous_hash = Some(vec![7; 32]);
        assert_eq!(decide(&bad, &again).ok(), Some(Precheck::AlreadyMade));
        again.previous_hash = Some(vec![8; 32]);
        assert!(matches!(
            decide(&bad, &again),
            Err(BatchError::IdempotencyKeyReused)
        ));
        let huge = plan(&[("bob", i64::MAX), ("bob", 1)]);
        assert!(matches!(
            decide(&huge, &facts(i64::MAX)),
            Err(BatchError::InsufficientFunds)
        ));
    }
}
