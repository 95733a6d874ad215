//! Batch payments: many transfers, approved once, executed all or nothing.
//!
//! A batch is a list of transfers, each valid by the transfer contract
//! ([`TransferOrder`]), sent to `POST /v1/transfer-batches` under one `Idempotency-Key`.
//! The person approves it once, and the approval is bound to exactly that list: its payees
//! and amounts, their order and their count (PSD2 RTS art. 5(3)(b) binds a batch's
//! authentication to the total and the payees; UK Open Banking's file payments bind it to
//! the file's hash, count and control sum).
//!
//! The **canonical form** of a batch is the compact JSON array of its payments in input
//! order, each a [`TransferRequest`] with every field in canonical form — handle lower-case,
//! amount with two decimals, currency upper-case, memo as given and absent when there is
//! none — with the keys in the order `to`, `amount`, `currency`, `memo`. Its SHA-256,
//! base64url without padding, is the batch's **digest**; the first four bytes of it in hex
//! are the **reference** a person compares between the terminal and the approval.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::details::InstructedAmount;
use crate::money::{format_minor, group_thousands};
use crate::transfer::{InvalidTransfer, TransferOrder, TransferReceipt, TransferRequest};

/// Most payments in one batch, unless the bank's setting says otherwise.
pub const DEFAULT_MAX_BATCH_PAYMENTS: usize = 1000;

/// Most payments approved as one `payment_initiation` each (RFC 9396 allows several details
/// of one type in a request); past this, a batch needs the `payment_batch` type.
pub const DEFAULT_MAX_INLINE_PAYMENTS: usize = 5;

/// The body of `POST /v1/transfer-batches`. Unknown fields are refused, as for one
/// transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBatchRequest {
    pub payments: Vec<TransferRequest>,
}

/// The answer to a batch (`201`): every transfer's receipt in input order, and the
/// sender's balance after the last one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    /// `bt_` + random hex: the bank's id of the batch (each transfer names it).
    pub id: String,
    pub from: String,
    /// The batch's [`BatchOrder::reference`], as the approval showed it.
    pub reference: String,
    pub count: usize,
    /// The total per currency, sorted by currency.
    pub totals: Vec<InstructedAmount>,
    pub transfers: Vec<TransferReceipt>,
    pub balance_after: String,
    pub created_at: String,
}

/// A payment of a batch that the bank refused (or would refuse), named by its 1-based
/// position in the batch. Carried in the problem body (`payments`, an RFC 9457 extension
/// member), so the CLI can name the line of the file it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentProblem {
    pub index: usize,
    pub detail: String,
}

/// Why a batch was refused as a whole before any money could move.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBatch {
    #[error("the batch has no payments")]
    Empty,
    #[error("the batch has {count} payments; at most {max} are allowed in one batch")]
    TooMany { count: usize, max: usize },
    /// Every payment that broke a transfer rule, in order.
    #[error("{} of the batch's payments are invalid (the first: payment {}: {})", .0.len(), .0[0].index, .0[0].error)]
    Payments(Vec<InvalidPayment>),
}

/// One payment of a batch that broke a transfer rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPayment {
    /// 1-based position in the batch.
    pub index: usize,
    pub error: InvalidTransfer,
}

impl InvalidBatch {
    /// The refusal as the problem body's `payments` member names it.
    pub fn problems(&self) -> Vec<PaymentProblem> {
        match self {
            InvalidBatch::Payments(invalid) => invalid
                .iter()
                .map(|p| PaymentProblem {
                    index: p.index,
                    detail: format!("{}.", p.error),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A batch whose every payment passed the transfer contract: 1 to `max` payments, in the
/// order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOrder {
    orders: Vec<TransferOrder>,
}

impl BatchOrder {
    /// A batch of already validated transfers.
    pub fn new(orders: Vec<TransferOrder>, max: usize) -> Result<BatchOrder, InvalidBatch> {
        match orders.len() {
            0 => Err(InvalidBatch::Empty),
            count if count > max => Err(InvalidBatch::TooMany { count, max }),
            _ => Ok(BatchOrder { orders }),
        }
    }

    /// Validates a request body: every payment by the transfer rules (a missing currency is
    /// `default_currency`), all failures named at once.
    pub fn from_request(
        request: &TransferBatchRequest,
        default_currency: &str,
        limit_minor: i64,
        max: usize,
    ) -> Result<BatchOrder, InvalidBatch> {
        if request.payments.len() > max {
            return Err(InvalidBatch::TooMany {
                count: request.payments.len(),
                max,
            });
        }
        let mut orders = Vec::with_capacity(request.payments.len());
        let mut invalid = Vec::new();
        for (i, payment) in request.payments.iter().enumerate() {
            match TransferOrder::from_request(payment, default_currency, limit_minor) {
                Ok(order) => orders.push(order),
                Err(error) => invalid.push(InvalidPayment {
                    index: i + 1,
                    error,
                }),
            }
        }
        if !invalid.is_empty() {
            return Err(InvalidBatch::Payments(invalid));
        }
        BatchOrder::new(orders, max)
    }

    pub fn orders(&self) -> &[TransferOrder] {
        &self.orders
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Never true: a batch has at least one payment.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The body that asks the bank for exactly this batch (every field canonical).
    pub fn to_request(&self) -> TransferBatchRequest {
        TransferBatchRequest {
            payments: self.orders.iter().map(TransferOrder::to_request).collect(),
        }
    }

    /// The canonical form (see the module's documentation).
    pub fn canonical_json(&self) -> Vec<u8> {
        let payments: Vec<TransferRequest> =
            self.orders.iter().map(TransferOrder::to_request).collect();
        // A Vec of plain structs of strings cannot fail to serialize.
        serde_json::to_vec(&payments).unwrap_or_default()
    }

    fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_json()).into()
    }

    /// SHA-256 of the canonical form, base64url without padding (43 characters).
    pub fn digest(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256())
    }

    /// The first four bytes of the digest as `3F9A-21C7`: short enough to compare by eye.
    pub fn reference(&self) -> String {
        let h = hex_upper(&self.sha256()[..4]);
        format!("{}-{}", &h[..4], &h[4..])
    }

    /// The total per currency, in minor units, sorted by currency.
    pub fn totals_minor(&self) -> Vec<(String, i64)> {
        let mut totals = BTreeMap::<&str, i64>::new();
        for order in &self.orders {
            let sum = totals.entry(order.currency.as_str()).or_default();
            *sum = sum.saturating_add(order.amount.minor_units());
        }
        totals
            .into_iter()
            .map(|(c, minor)| (c.to_owned(), minor))
            .collect()
    }

    /// The totals as `instructedAmount`s (two decimals).
    pub fn totals(&self) -> Vec<InstructedAmount> {
        self.totals_minor()
            .into_iter()
            .map(|(currency, minor)| InstructedAmount {
                currency,
                amount: format_minor(minor),
            })
            .collect()
    }

    /// How many different payees.
    pub fn payee_count(&self) -> usize {
        self.orders
            .iter()
            .map(|o| o.to.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// "Pay 20 payments, 1,234.56 USD in total, to 7 payees": the words every approval
    /// surface shows for a batch.
    pub fn summary(&self) -> String {
        summary(self.len(), &self.totals(), Some(self.payee_count()))
    }
}

/// The words for a batch of `count` payments with these totals (and payees, when known).
pub fn summary(count: usize, totals: &[InstructedAmount], payees: Option<usize>) -> String {
    let amounts: Vec<String> = totals
        .iter()
        .map(|t| format!("{} {}", group_thousands(&t.amount), t.currency))
        .collect();
    let mut text = format!(
        "Pay {count} {}, {} in total",
        plural(count, "payment", "payments"),
        amounts.join(" and ")
    );
    if let Some(payees) = payees {
        text.push_str(&format!(
            ", to {payees} {}",
            plural(payees, "payee", "payees")
        ));
    }
    text
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl fmt::Display for BatchOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::DEFAULT_TRANSFER_LIMIT_MINOR as LIMIT;

    fn request(rows: &[(&str, &str, Option<&str>)]) -> TransferBatchRequest {
        TransferBatchRequest {
            payments: rows
                .iter()
                .map(|(to, amount, memo)| TransferRequest {
                    to: (*to).into(),
                    amount: (*amount).into(),
                    currency: None,
                    memo: memo.map(str::to_owned),
                })
                .collect(),
        }
    }

    #[test]
    fn the_canonical_form_is_fixed_and_its_digest_follows() {
        let batch = BatchOrder::from_request(
            &request(&[("Bob", "25", Some("lunch")), ("carol", "10.5", None)]),
            "usd",
            LIMIT,
            10,
        )
        .expect("valid");
        assert_eq!(
            String::from_utf8(batch.canonical_json()).expect("utf-8"),
            r#"[{"to":"bob","amount":"25.00","currency":"USD","memo":"lunch"},{"to":"carol","amount":"10.50","currency":"USD"}]"#
        );
        // The same batch written differently is the same batch.
        let same = BatchOrder::from_request(
            &request(&[("bob", "25.00", Some("lunch")), ("CAROL", "10.50", None)]),
            "USD",
            LIMIT,
            10,
        )
        .expect("valid");
        assert_eq!(batch.digest(), same.digest());
        assert_eq!(batch.digest().len(), 43);
        assert_eq!(
            batch.digest(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(batch.canonical_json()))
        );
        let reference = batch.reference();
        assert_eq!(reference.len(), 9);
        assert_eq!(&reference[4..5], "-");
        // Order, memo, amount and count all change the digest.
        for other in [
            request(&[("carol", "10.50", None), ("bob", "25.00", Some("lunch"))]),
            request(&[("bob", "25.00", Some("lunch!")), ("carol", "10.50", None)]),
            request(&[("bob", "25.00", Some("lunch")), ("carol", "10.51", None)]),
            request(&[("bob", "25.00", Some("lunch"))]),
        ] {
            let other = BatchOrder::from_request(&other, "USD", LIMIT, 10).expect("valid");
            assert_ne!(other.digest(), batch.digest());
        }
        assert_eq!(
            BatchOrder::from_request(&batch.to_request(), "EUR", LIMIT, 10),
            Ok(batch)
        );
    }

    #[test]
    fn totals_payees_and_words() {
        let mut rows = vec![("bob", "1000.00", None); 2];
        rows.push(("carol", "234.56", Some("x")));
        let batch = BatchOrder::from_request(&request(&rows), "USD", LIMIT, 10).expect("valid");
        assert_eq!(batch.totals_minor(), vec![("USD".into(), 223_456)]);
        assert_eq!(batch.payee_count(), 2);
        assert_eq!(
            batch.summary(),
            "Pay 3 payments, 2,234.56 USD in total, to 2 payees"
        );
        let one = BatchOrder::from_request(&request(&[("bob", "5", None)]), "USD", LIMIT, 10)
            .expect("valid");
        assert_eq!(
            one.summary(),
            "Pay 1 payment, 5.00 USD in total, to 1 payee"
        );
        let totals = vec![
            InstructedAmount {
                currency: "EUR".into(),
                amount: "1.00".into(),
            },
            InstructedAmount {
                currency: "USD".into(),
                amount: "2.00".into(),
            },
        ];
        assert_eq!(
            summary(2, &totals, None),
            "Pay 2 payments, 1.00 EUR and 2.00 USD in total"
        );
    }

    #[test]
    fn every_bad_payment_is_named_and_sizes_are_bounded() {
        let err = BatchOrder::from_request(
            &request(&[
                ("bob", "1", None),
                ("bob smith", "1", None),
                ("bob", "0", None),
            ]),
            "USD",
            LIMIT,
            10,
        )
        .expect_err("invalid");
        let problems = err.problems();
        assert_eq!(
            problems.iter().map(|p| p.index).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(problems[0].detail.contains("not an account handle"));
        assert!(err.to_string().starts_with("2 of the batch's payments"));
        assert_eq!(
            BatchOrder::from_request(&request(&[]), "USD", LIMIT, 10),
            Err(InvalidBatch::Empty)
        );
        assert_eq!(
            BatchOrder::from_request(&request(&[("bob", "1", None); 3]), "USD", LIMIT, 2),
            Err(InvalidBatch::TooMany { count: 3, max: 2 })
        );
        let unknown = serde_json::from_str::<TransferBatchRequest>(r#"{"payments":[],"extra":1}"#);
        assert!(unknown.is_err());
    }
}
