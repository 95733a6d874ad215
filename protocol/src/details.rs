//! RFC 9396 Rich Authorization Requests: the `payment_initiation` authorization detail that
//! binds a step-up to one transfer, and the words every approval surface shows for it.
//!
//! The CLI builds it from the very transfer it is about to send, the authorization server
//! validates it and shows it to the person, and the bank API executes a token carrying it
//! only for that transfer. All three use this module, and its rules are the transfer's own
//! ([`TransferOrder`]): a detail the bank would refuse as a transfer is refused at
//! `/authorize` with the same words.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::transfer::{InvalidTransfer, TransferOrder};

/// The one authorization details type the bank understands (RFC 9396 §2).
pub const PAYMENT_INITIATION: &str = "payment_initiation";

/// `instructedAmount`: the amount as a string with exactly two decimals, and its currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstructedAmount {
    pub currency: String,
    pub amount: String,
}

/// `creditorAccount`: the payee, by account handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditorAccount {
    pub handle: String,
}

/// One `payment_initiation` authorization detail (RFC 9396 §2, the shape of its §1 payment
/// example). Unknown fields are refused: a detail is what the person approves, so nothing in
/// it may go unshown or unchecked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PaymentInitiation {
    #[serde(rename = "type")]
    pub kind: String,
    pub instructed_amount: InstructedAmount,
    pub creditor_account: CreditorAccount,
    /// The memo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remittance_information_unstructured: Option<String>,
    /// The resource servers the detail is meant for (RFC 9396 §2.2): the API's resource
    /// identifier, the audience both the provider and the API know it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
}

/// Why `authorization_details` was refused (`invalid_authorization_details`, RFC 9396 §5).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDetails {
    #[error("authorization_details must be a JSON array of objects: {0}")]
    Syntax(String),
    #[error("authorization_details is empty")]
    Empty,
    #[error("authorization details type `{0}` is not supported here")]
    UnknownType(String),
    #[error("authorization_details must be payment_initiation details only, or one payment_batch")]
    MoreThanOne,
    #[error("at most {0} payment_initiation details may be requested at once")]
    TooManyPayments(usize),
    #[error("a payment_batch in an authorization request must list its payments")]
    BatchWithoutPayments,
    #[error("each payment of a payment_batch must name its currency")]
    BatchWithoutCurrency,
    #[error("the payment_batch's numberOfPayments, totals or digest do not match its payments")]
    BatchDoesNotAddUp,
    #[error("a payment_batch may pay in at most {0} currencies")]
    TooManyCurrencies(usize),
    #[error("payment {0} of the batch: {1}")]
    Payment(usize, Box<InvalidDetails>),
    #[error(transparent)]
    Batch(#[from] crate::batch::InvalidBatch),
    #[error("the amount must have exactly two decimals, like 25.00")]
    NotTwoDecimals,
    #[error("`{0}` must be written in its canonical form `{1}`")]
    NotCanonical(String, String),
    #[error("`{0}` is not a URL")]
    Location(String),
    #[error("`{0}` is not an API this server issues tokens for (locations must name {1})")]
    UnknownLocation(String, String),
    #[error(transparent)]
    Transfer(#[from] InvalidTransfer),
}

/// The part of a transfer that differs from what a detail authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    Amount,
    Currency,
    Recipient,
    Memo,
    /// The detail names other resource servers (`locations`), not this API.
    Location,
    /// A batch approval offered for a single transfer.
    NotATransfer,
    /// A batch with another number of payments than approved.
    Count,
    /// A batch whose payments (payees, amounts, memos, order) differ from those approved.
    Payments,
}

impl Mismatch {
    /// The field's name as the problem body says it.
    pub fn field(self) -> &'static str {
        match self {
            Mismatch::Amount => "amount",
            Mismatch::Currency => "currency",
            Mismatch::Recipient => "recipient",
            Mismatch::Memo => "memo",
            Mismatch::Location => "locations",
            Mismatch::NotATransfer => "authorization_details",
            Mismatch::Count => "count",
            Mismatch::Payments => "payments",
        }
    }
}

impl PaymentInitiation {
    /// The detail that asks for exactly `order`, at the API whose resource identifier is
    /// `location`.
    pub fn for_order(order: &TransferOrder, location: Option<&str>) -> PaymentInitiation {
        PaymentInitiation {
            kind: PAYMENT_INITIATION.to_owned(),
            instructed_amount: InstructedAmount {
                currency: order.currency.clone(),
                amount: order.amount.to_string(),
            },
            creditor_account: CreditorAccount {
                handle: order.to.clone(),
            },
            remittance_information_unstructured: order.memo.clone(),
            locations: location.map(|l| vec![l.to_owned()]),
        }
    }

    /// Checks the detail by the transfer rules, strictly: the amount with exactly two
    /// decimals, the handle and currency already in the form the bank compares (a detail is
    /// compared byte for byte later, so a lenient form here would be a mismatch there).
    pub fn order(&self, limit_minor: i64) -> Result<TransferOrder, InvalidDetails> {
        if self.kind != PAYMENT_INITIATION {
            return Err(InvalidDetails::UnknownType(self.kind.clone()));
        }
        let amount = &self.instructed_amount.amount;
        let two_decimals = amount
            .split_once('.')
            .is_some_and(|(_, cents)| cents.len() == 2);
        // The grammar and the limit are the transfer's; only the form is stricter.
        let order = TransferOrder::new(
            &self.creditor_account.handle,
            amount,
            &self.instructed_amount.currency,
            self.remittance_information_unstructured.as_deref(),
            limit_minor,
        )?;
        if !two_decimals {
            return Err(InvalidDetails::NotTwoDecimals);
        }
        for (given, canonical) in [
            (&self.creditor_account.handle, &order.to),
            (&self.instructed_amount.currency, &order.currency),
        ] {
            if given != canonical {
                return Err(InvalidDetails::NotCanonical(
                    given.clone(),
                    canonical.clone(),
                ));
            }
        }
        for location in self.locations.iter().flatten() {
            if url::Url::parse(location).is_err() {
                return Err(InvalidDetails::Location(location.clone()));
            }
        }
        Ok(order)
    }

    /// Whether the detail is meant for the API known as `api_identifier`: RFC 9396 §2.2's
    /// `locations`, when present, must name it (compared as exact strings, as `aud` is).
    pub fn is_for(&self, api_identifier: &str) -> bool {
        self.locations
            .as_ref()
            .is_none_or(|names| names.iter().any(|name| name == api_identifier))
    }

    /// Whether `order` is exactly the transfer this detail authorized; otherwise the first
    /// field that differs.
    pub fn check(&self, order: &TransferOrder) -> Result<(), Mismatch> {
        if order.to != self.creditor_account.handle {
            return Err(Mismatch::Recipient);
        }
        if order.amount.to_string() != self.instructed_amount.amount {
            return Err(Mismatch::Amount);
        }
        if order.currency != self.instructed_amount.currency {
            return Err(Mismatch::Currency);
        }
        if order.memo != self.remittance_information_unstructured {
            return Err(Mismatch::Memo);
        }
        Ok(())
    }

    /// "pay bob 25.00 USD", for the middle of a sentence.
    pub fn action(&self) -> String {
        format!(
            "pay {} {} {}",
            self.creditor_account.handle,
            self.instructed_amount.amount,
            self.instructed_amount.currency
        )
    }

    /// The memo, if any.
    pub fn memo(&self) -> Option<&str> {
        self.remittance_information_unstructured.as_deref()
    }
}

/// "Pay bob 25.00 USD": the words every approval surface shows.
impl fmt::Display for PaymentInitiation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pay {} {} {}",
            self.creditor_account.handle,
            self.instructed_amount.amount,
            self.instructed_amount.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::AmountError;
    use crate::money::DEFAULT_TRANSFER_LIMIT_MINOR as LIMIT;

    /// One payment's details, as an authorization server with room for one reads them.
    fn parse_authorization_details(
        json: &str,
        limit_minor: i64,
    ) -> Result<PaymentInitiation, InvalidDetails> {
        let limits = crate::DetailLimits {
            per_payment_minor: limit_minor,
            max_inline: 1,
            max_batch: 0,
        };
        match crate::parse_request_details(json, &limits)? {
            crate::Approval::Payments(mut payments) if payments.len() == 1 => {
                Ok(payments.remove(0))
            }
            other => panic!("not one payment: {other:?}"),
        }
    }

    const BOB: &str = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"USD","amount":"25.00"},"creditorAccount":{"handle":"bob"},"remittanceInformationUnstructured":"lunch","locations":["http://127.0.0.1:8080"]}]"#;

    #[test]
    fn a_detail_round_trips_and_says_what_it_pays() {
        let detail = parse_authorization_details(BOB, LIMIT).expect("valid");
        assert_eq!(detail.to_string(), "Pay bob 25.00 USD");
        assert_eq!(detail.action(), "pay bob 25.00 USD");
        assert_eq!(detail.memo(), Some("lunch"));
        let order = TransferOrder::new("bob", "25", "USD", Some("lunch"), LIMIT).expect("order");
        let built = PaymentInitiation::for_order(&order, Some("http://127.0.0.1:8080"));
        assert_eq!(built, detail);
        assert_eq!(
            serde_json::to_string(&[&built]).expect("json"),
            BOB,
            "the wire form is RFC 9396's camelCase"
        );
        assert_eq!(detail.check(&order), Ok(()));
    }

    #[test]
    fn anything_but_one_strict_payment_is_refused() {
        let refuse = |json: &str| parse_authorization_details(json, LIMIT).expect_err(json);
        let with = |amount: &str, currency: &str, handle: &str, extra: &str| {
            format!(
                r#"[{{"type":"payment_initiation","instructedAmount":{{"currency":"{currency}","amount":"{amount}"}},"creditorAccount":{{"handle":"{handle}"}}{extra}}}]"#
            )
        };
        assert_eq!(refuse("[]"), InvalidDetails::Empty);
        assert!(matches!(refuse("{}"), InvalidDetails::Syntax(_)));
        assert!(matches!(refuse("[1]"), InvalidDetails::Syntax(_)));
        assert_eq!(
            refuse(r#"[{"type":"account_information"}]"#),
            InvalidDetails::UnknownType("account_information".into())
        );
        let one = with("25.00", "USD", "bob", "");
        assert_eq!(
            refuse(&format!(
                "[{},{}]",
                &one[1..one.len() - 1],
                &one[1..one.len() - 1]
            )),
            InvalidDetails::TooManyPayments(1)
        );
        assert_eq!(
            refuse(&with("25", "USD", "bob", "")),
            InvalidDetails::NotTwoDecimals
        );
        assert_eq!(
            refuse(&with("25.5", "USD", "bob", "")),
            InvalidDetails::NotTwoDecimals
        );
        assert!(matches!(
            refuse(&with("0.00", "USD", "bob", "")),
            InvalidDetails::Transfer(InvalidTransfer::Amount(AmountError::NotPositive))
        ));
        assert!(matches!(
            refuse(&with("10000.01", "USD", "bob", "")),
            InvalidDetails::Transfer(InvalidTransfer::Amount(AmountError::TooLarge { .. }))
        ));
        assert!(matches!(
            refuse(&with("1e3", "USD", "bob", "")),
            InvalidDetails::Transfer(InvalidTransfer::Amount(_))
        ));
        assert!(matches!(
            refuse(&with("25.00", "US", "bob", "")),
            InvalidDetails::Transfer(InvalidTransfer::Currency(_))
        ));
        assert!(matches!(
            refuse(&with("25.00", "usd", "bob", "")),
            InvalidDetails::NotCanonical(..)
        ));
        assert!(matches!(
            refuse(&with("25.00", "USD", "Bob", "")),
            InvalidDetails::NotCanonical(..)
        ));
        assert!(matches!(
            refuse(&with("25.00", "USD", "bob smith", "")),
            InvalidDetails::Transfer(InvalidTransfer::Recipient(_))
        ));
        assert_eq!(
            refuse(&with(
                "25.00",
                "USD",
                "bob",
                r#","remittanceInformationUnstructured":"pay\u202ex""#
            )),
            InvalidDetails::Transfer(InvalidTransfer::Memo)
        );
        assert!(matches!(
            refuse(&with("25.00", "USD", "bob", r#","actions":["pay"]"#)),
            InvalidDetails::Syntax(_)
        ));
        assert!(matches!(
            refuse(&with(
                "25.00",
                "USD",
                "bob",
                r#","locations":["not a url"]"#
            )),
            InvalidDetails::Location(_)
        ));
    }

    #[test]
    fn a_transfer_matches_only_exactly() {
        let detail = parse_authorization_details(BOB, LIMIT).expect("valid");
        let order =
            |to, amount, memo| TransferOrder::new(to, amount, "USD", memo, LIMIT).expect("order");
        assert_eq!(detail.check(&order("bob", "25.00", Some("lunch"))), Ok(()));
        assert_eq!(
            detail.check(&order("bob", "26.00", Some("lunch"))),
            Err(Mismatch::Amount)
        );
        assert_eq!(
            detail.check(&order("carol", "25.00", Some("lunch"))),
            Err(Mismatch::Recipient)
        );
        assert_eq!(
            detail.check(&order("bob", "25.00", Some("dinner"))),
            Err(Mismatch::Memo)
        );
        assert_eq!(
            detail.check(&order("bob", "25.00", None)),
            Err(Mismatch::Memo)
        );
        let eur = TransferOrder::new("bob", "25.00", "EUR", Some("lunch"), LIMIT).expect("eur");
        assert_eq!(detail.check(&eur), Err(Mismatch::Currency));
    }
}
