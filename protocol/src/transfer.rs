//! The bodies of `GET /v1/balance`, `GET /v1/transfers` and `POST /v1/transfers`, and the
//! validation of a transfer that both the CLI (before sending) and the API (before moving
//! money) run.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::{Amount, AmountError};
use crate::text::{self, MAX_MEMO_CHARS};

/// `GET /v1/balance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The account's handle.
    pub account: String,
    /// Two decimals, as a string.
    pub balance: String,
    pub currency: String,
}

/// The body of `POST /v1/transfers`. Unknown fields are refused, so a typo such as `"amout"`
/// cannot silently become a different request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub to: String,
    pub amount: String,
    /// The account's currency when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// The answer to a transfer (`201`): the transfer and the sender's balance right after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferReceipt {
    pub id: String,
    pub from: String,
    pub to: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    pub balance_after: String,
    pub created_at: String,
    /// The batch the transfer was part of (`bt_…`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
}

/// One transfer in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub id: String,
    pub from: String,
    pub to: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    pub created_at: String,
    /// The batch the transfer was part of (`bt_…`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
}

/// `GET /v1/transfers`: the account's transfers, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferList {
    pub account: String,
    pub transfers: Vec<TransferView>,
}

/// Why a transfer was refused before any money could move. The same words reach a person
/// from the CLI's local check and from the API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransfer {
    #[error(transparent)]
    Amount(#[from] AmountError),
    #[error("`{0}` is not an account handle: use 1-64 of a-z 0-9 . _ - + @")]
    Recipient(String),
    #[error("`{0}` is not a currency: use a three-letter ISO 4217 code such as USD")]
    Currency(String),
    #[error(
        "the memo must be at most {MAX_MEMO_CHARS} characters, without control, format or line-separator characters"
    )]
    Memo,
}

/// A transfer that passed every rule of the wire contract: a well-formed recipient handle,
/// a positive amount within the limit, an ISO 4217 code, an acceptable memo. Whether the
/// recipient exists or the money is there is the bank's business, not the contract's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferOrder {
    /// Lower-cased, as the bank compares handles.
    pub to: String,
    pub amount: Amount,
    /// Upper-case ISO 4217.
    pub currency: String,
    pub memo: Option<String>,
}

impl TransferOrder {
    /// Validates a transfer from its parts. `limit_minor` is the per-transfer limit. The
    /// amount is taken exactly as given: the wire grammar has no room for whitespace (a
    /// person's typing is trimmed by the CLI before it gets here).
    pub fn new(
        to: &str,
        amount: &str,
        currency: &str,
        memo: Option<&str>,
        limit_minor: i64,
    ) -> Result<TransferOrder, InvalidTransfer> {
        let to = text::normalize_handle(to).ok_or_else(|| InvalidTransfer::Recipient(to.into()))?;
        let amount = Amount::parse(amount, limit_minor)?;
        let currency = text::normalize_currency(currency)
            .ok_or_else(|| InvalidTransfer::Currency(currency.into()))?;
        if let Some(m) = memo
            && !text::is_valid_memo(m)
        {
            return Err(InvalidTransfer::Memo);
        }
        Ok(TransferOrder {
            to,
            amount,
            currency,
            memo: memo.map(str::to_owned),
        })
    }

    /// Validates a request body; a missing currency is `default_currency` (the account's).
    pub fn from_request(
        request: &TransferRequest,
        default_currency: &str,
        limit_minor: i64,
    ) -> Result<TransferOrder, InvalidTransfer> {
        TransferOrder::new(
            &request.to,
            &request.amount,
            request.currency.as_deref().unwrap_or(default_currency),
            request.memo.as_deref(),
            limit_minor,
        )
    }

    /// The body that asks the bank for exactly this transfer.
    pub fn to_request(&self) -> TransferRequest {
        TransferRequest {
            to: self.to.clone(),
            amount: self.amount.to_string(),
            currency: Some(self.currency.clone()),
            memo: self.memo.clone(),
        }
    }
}

/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The `Idempotency-Key` of one transfer: the same key with the same request makes the bank
/// answer with the original transfer instead of moving money again. Not a secret (it is
/// printed so that a person can retry with it), but unguessable, so two transfers never
/// share one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A random UUIDv4 (RFC 9562 §5.4) from the thread's CSPRNG.
    pub fn generate() -> IdempotencyKey {
        let mut b: [u8; 16] = rand::random();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|b| format!("{b:02x}")).collect();
        IdempotencyKey(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// A key as a header carries it: 1-255 visible ASCII characters.
    pub fn parse(text: &str) -> Result<IdempotencyKey, InvalidIdempotencyKey> {
        if text.is_empty()
            || text.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(InvalidIdempotencyKey);
        }
        Ok(IdempotencyKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key is 1-255 visible ASCII characters (no spaces)")]
pub struct InvalidIdempotencyKey;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::DEFAULT_TRANSFER_LIMIT_MINOR as LIMIT;

    #[test]
    fn transfers_are_validated_by_the_contract() {
        let ok = TransferOrder::new(" Bob ", "25", "usd", Some("lunch"), LIMIT).expect("valid");
        assert!(matches!(
            TransferOrder::new("bob", " 25", "USD", None, LIMIT),
            Err(InvalidTransfer::Amount(AmountError::Syntax(_)))
        ));
        assert_eq!(ok.to, "bob");
        assert_eq!(ok.amount.to_string(), "25.00");
        assert_eq!(ok.currency, "USD");
        let body = ok.to_request();
        assert_eq!(body.amount, "25.00");
        assert_eq!(TransferOrder::from_request(&body, "EUR", LIMIT), Ok(ok));
        fn err(to: &str, amount: &str, currency: &str, memo: Option<&str>) -> InvalidTransfer {
            TransferOrder::new(to, amount, currency, memo, LIMIT).expect_err("refused")
        }
        assert!(matches!(
            err("bob smith", "25", "USD", None),
            InvalidTransfer::Recipient(_)
        ));
        assert!(matches!(
            err("", "25", "USD", None),
            InvalidTransfer::Recipient(_)
        ));
        assert!(matches!(
            err("bob", "25", "US", None),
            InvalidTransfer::Currency(_)
        ));
        assert_eq!(
            err("bob", "25", "USD", Some("a\u{7}b")),
            InvalidTransfer::Memo
        );
        assert_eq!(
            err("bob", "25", "USD", Some("pay\u{202e}x")),
            InvalidTransfer::Memo
        );
        assert_eq!(
            err("bob", "25", "USD", Some(&"m".repeat(141))),
            InvalidTransfer::Memo
        );
        assert_eq!(
            err("bob", "-5", "USD", None).to_string(),
            "`-5` is not an amount: use digits with at most two decimals, like 25 or 25.00"
        );
        assert_eq!(
            err("bob", "10000.01", "USD", None).to_string(),
            "the amount must be at most 10000.00 per transfer"
        );
    }

    #[test]
    fn bodies_refuse_unknown_fields_and_omit_absent_ones() {
        let typo = serde_json::from_str::<TransferRequest>(r#"{"to":"bob","amout":"1"}"#);
        assert!(typo.is_err());
        let body = TransferRequest {
            to: "bob".into(),
            amount: "1.00".into(),
            currency: None,
            memo: None,
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"to":"bob","amount":"1.00"}"#
        );
    }

    #[test]
    fn idempotency_keys_are_random_uuids_or_checked() {
        let a = IdempotencyKey::generate();
        assert_ne!(a, IdempotencyKey::generate());
        let text = a.as_str();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4", "version 4: {text}");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        assert!(IdempotencyKey::parse("retry-42").is_ok());
        for bad in ["", "has space", "caf\u{e9}", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
