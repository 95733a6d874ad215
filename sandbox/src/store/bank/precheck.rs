//! Would the bank make this transfer? The read-only look at the ledger the API takes before
//! it asks for strong authentication: a bank checks the payment, then asks the person to
//! approve it, so nobody is made to approve a transfer that would be refused.
//!
//! Nothing is locked or written here: the transfer itself decides again, atomically
//! (`consume_jti_and_transfer`), and a balance that changed in between is refused there.

use super::{BankStore, TransferError, blocking};
use crate::store::StoreError;

/// What the ledger says about one transfer before it is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precheck {
    /// It would be executed now.
    Executable,
    /// Its idempotency key already made this very transfer: the retry replays it.
    AlreadyMade,
}

/// The facts a precheck reads: the key's earlier request, the sender's balance and
/// currency, and the recipient.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub previous_hash: Option<Vec<u8>>,
    /// Balance and currency of the sending account.
    pub sender: Option<(i64, String)>,
    /// Id and currency of the account named by the handle.
    pub recipient: Option<(i64, String)>,
}

/// The transfer a precheck is about.
#[derive(Debug, Clone)]
pub struct PlannedTransfer {
    pub from_account: i64,
    pub to_handle: String,
    pub amount_minor: i64,
    pub currency: String,
    pub idempotency_key: String,
    pub request_hash: [u8; 32],
}

/// The transaction's own rules, in its order, on facts read without a transaction.
fn decide(plan: &PlannedTransfer, facts: Facts) -> Result<Precheck, TransferError> {
    if let Some(hash) = facts.previous_hash {
        return if hash.as_slice() == plan.request_hash.as_slice() {
            Ok(Precheck::AlreadyMade)
        } else {
            Err(TransferError::IdempotencyKeyReused)
        };
    }
    let Some((balance, sender_currency)) = facts.sender else {
        return Err(TransferError::Store(StoreError::NotFound));
    };
    let Some((recipient_id, recipient_currency)) = facts.recipient else {
        return Err(TransferError::UnknownRecipient);
    };
    if recipient_id == plan.from_account {
        return Err(TransferError::SameAccount);
    }
    if plan.currency != sender_currency || plan.currency != recipient_currency {
        return Err(TransferError::CurrencyMismatch);
    }
    if balance < plan.amount_minor {
        return Err(TransferError::InsufficientFunds);
    }
    Ok(Precheck::Executable)
}

impl BankStore {
    /// Whether `plan` would be executed, replayed or refused (and why), from the ledger as
    /// it is now.
    pub async fn precheck_transfer(
        &self,
        plan: &PlannedTransfer,
    ) -> Result<Precheck, TransferError> {
        let facts = match self {
            BankStore::Sqlite(s) => {
                let owned = plan.clone();
                blocking(s, move |s| s.transfer_facts(&owned)).await??
            }
            BankStore::Postgres(p) => p.transfer_facts(plan).await?,
        };
        decide(plan, facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PlannedTransfer {
        PlannedTransfer {
            from_account: 1,
            to_handle: "bob".into(),
            amount_minor: 500,
            currency: "USD".into(),
            idempotency_key: "k".into(),
            request_hash: [7; 32],
        }
    }

    fn facts(balance: i64, recipient: Option<i64>) -> Facts {
        Facts {
            previous_hash: None,
            sender: Some((balance, "USD".into())),
            recipient: recipient.map(|id| (id, "USD".into())),
        }
    }

    #[test]
    fn the_transactions_rules_in_its_order() {
        assert_eq!(
            decide(&plan(), facts(500, Some(2))).ok(),
            Some(Precheck::Executable)
        );
        assert!(matches!(
            decide(&plan(), facts(499, Some(2))),
            Err(TransferError::InsufficientFunds)
        ));
        assert!(matches!(
            decide(&plan(), facts(500, None)),
            Err(TransferError::UnknownRecipient)
        ));
        assert!(matches!(
            decide(&plan(), facts(500, Some(1))),
            Err(TransferError::SameAccount)
        ));
        let mut euro = facts(500, Some(2));
        euro.recipient = Some((2, "EUR".into()));
        assert!(matches!(
            decide(&plan(), euro),
            Err(TransferError::CurrencyMismatch)
        ));
        // The key decides first: the same request again is a replay whatever the balance.
        let mut again = facts(0, None);
        again.previous_hash = Some(vec![7; 32]);
        assert_eq!(decide(&plan(), again).ok(), Some(Precheck::AlreadyMade));
        let mut other = facts(500, Some(2));
        other.previous_hash = Some(vec![8; 32]);
        assert!(matches!(
            decide(&plan(), other),
            Err(TransferError::IdempotencyKeyReused)
        ));
    }
}
