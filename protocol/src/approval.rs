//! What one step-up approves (RFC 9396 `authorization_details`): one payment, a few
//! payments listed one by one, or a batch of any size bound by its digest.
//!
//! - **One `payment_initiation`** pays one transfer (`POST /v1/transfers`), or a batch of
//!   exactly that one payment.
//! - **Several `payment_initiation`s** (up to a handful: any RAR provider can show them)
//!   pay a batch of exactly those payments, in that order (`POST /v1/transfer-batches`),
//!   never a single transfer.
//! - **One `payment_batch`** pays the batch whose count, totals per currency and digest
//!   it names (see [`crate::batch`]). In the authorization request it also carries the full
//!   list (`payments`), which the authorization server checks against the count, totals
//!   and digest and shows to the person; the access token carries the detail without the
//!   list ([`Approval::for_token`]), so it stays small whatever the batch's size.
//!
//! Anything else — another type, a mix of types, two batches — is refused: a detail is
//! what the person approves, so nothing in it may go unshown or unchecked.

use serde::{Deserialize, Serialize};

use crate::batch::{self, BatchOrder, InvalidBatch};
use crate::details::{
    InstructedAmount, InvalidDetails, Mismatch, PAYMENT_INITIATION, PaymentInitiation,
};
use crate::money::Amount;
use crate::transfer::{TransferOrder, TransferRequest};

/// The authorization details type of a batch bound by its digest.
pub const PAYMENT_BATCH: &str = "payment_batch";

/// Most currencies in one `payment_batch`: its totals travel in the access token, which
/// must stay small whatever the batch holds.
pub const MAX_BATCH_CURRENCIES: usize = 8;

/// A `payment_batch` authorization detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PaymentBatch {
    #[serde(rename = "type")]
    pub kind: String,
    pub number_of_payments: usize,
    /// The total per currency, sorted by currency, two decimals.
    pub totals: Vec<InstructedAmount>,
    /// [`BatchOrder::digest`] of the batch.
    pub digest: String,
    /// The full list, in canonical form: in the authorization request only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payments: Option<Vec<TransferRequest>>,
    /// As for `payment_initiation` (RFC 9396 §2.2): the API's resource identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
}

impl PaymentBatch {
    /// The detail that asks for exactly `batch`, with its list, at the API known as
    /// `location`.
    pub fn for_batch(batch: &BatchOrder, location: Option<&str>) -> PaymentBatch {
        PaymentBatch {
            kind: PAYMENT_BATCH.to_owned(),
            number_of_payments: batch.len(),
            totals: batch.totals(),
            digest: batch.digest(),
            payments: Some(batch.to_request().payments),
            locations: location.map(|l| vec![l.to_owned()]),
        }
    }

    /// The batch the detail's list describes, checked strictly (every field already in
    /// canonical form, as it will be compared) and against the count, totals and digest
    /// it claims. For an authorization request, where the list is required.
    pub fn listed_batch(&self, limit_minor: i64, max: usize) -> Result<BatchOrder, InvalidDetails> {
        let payments = self
            .payments
            .as_ref()
            .ok_or(InvalidDetails::BatchWithoutPayments)?;
        let mut orders = Vec::with_capacity(payments.len());
        for (i, payment) in payments.iter().enumerate() {
            let canonical = |err: InvalidDetails| InvalidDetails::Payment(i + 1, Box::new(err));
            let currency = payment
                .currency
                .as_deref()
                .ok_or_else(|| canonical(InvalidDetails::BatchWithoutCurrency))?;
            let order = strict_order(
                &payment.to,
                &payment.amount,
                currency,
                payment.memo.as_deref(),
                limit_minor,
            )
            .map_err(canonical)?;
            orders.push(order);
        }
        let batch = BatchOrder::new(orders, max).map_err(InvalidDetails::Batch)?;
        if batch.totals_minor().len() > MAX_BATCH_CURRENCIES {
            return Err(InvalidDetails::TooManyCurrencies(MAX_BATCH_CURRENCIES));
        }
        self.check(&batch)
            .map_err(|_| InvalidDetails::BatchDoesNotAddUp)?;
        self.check_locations()?;
        Ok(batch)
    }

    /// The shape of a granted detail (no list needed): a count within `max`, totals in
    /// canonical form, a digest of the right length.
    fn check_granted(&self, max: usize) -> Result<(), InvalidDetails> {
        if self.kind != PAYMENT_BATCH {
            return Err(InvalidDetails::UnknownType(self.kind.clone()));
        }
        if self.number_of_payments == 0 || self.number_of_payments > max {
            return Err(InvalidDetails::Batch(InvalidBatch::TooMany {
                count: self.number_of_payments,
                max,
            }));
        }
        let digest_ok = self.digest.len() == 43
            && self
                .digest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !digest_ok || self.totals.is_empty() {
            return Err(InvalidDetails::BatchDoesNotAddUp);
        }
        if self.totals.len() > MAX_BATCH_CURRENCIES {
            return Err(InvalidDetails::TooManyCurrencies(MAX_BATCH_CURRENCIES));
        }
        for total in &self.totals {
            // Totals have no per-transfer limit; only their form is checked.
            let amount = Amount::parse(&total.amount, i64::MAX / 100)
                .map_err(|e| InvalidDetails::Transfer(e.into()))?;
            if amount.to_string() != total.amount {
                return Err(InvalidDetails::NotTwoDecimals);
            }
        }
        self.check_locations()
    }

    fn check_locations(&self) -> Result<(), InvalidDetails> {
        for location in self.locations.iter().flatten() {
            if url::Url::parse(location).is_err() {
                return Err(InvalidDetails::Location(location.clone()));
            }
        }
        Ok(())
    }

    /// Whether `batch` is exactly the batch this detail authorized.
    pub fn check(&self, batch: &BatchOrder) -> Result<(), Mismatch> {
        if self.number_of_payments != batch.len() {
            return Err(Mismatch::Count);
        }
        if self.totals != batch.totals() {
            return Err(Mismatch::Payments);
        }
        if self.digest != batch.digest() {
            return Err(Mismatch::Payments);
        }
        Ok(())
    }

    /// The detail as an access token carries it: without the list.
    pub fn without_payments(&self) -> PaymentBatch {
        PaymentBatch {
            payments: None,
            ..self.clone()
        }
    }
}

/// A payment's fields checked the way a detail must carry them: the transfer rules, and
/// already in the form the bank compares.
fn strict_order(
    to: &str,
    amount: &str,
    currency: &str,
    memo: Option<&str>,
    limit_minor: i64,
) -> Result<TransferOrder, InvalidDetails> {
    let order = TransferOrder::new(to, amount, currency, memo, limit_minor)?;
    let two_decimals = amount
        .split_once('.')
        .is_some_and(|(_, cents)| cents.len() == 2);
    if !two_decimals {
        return Err(InvalidDetails::NotTwoDecimals);
    }
    for (given, canonical) in [(to, &order.to), (currency, &order.currency)] {
        if given != canonical {
            return Err(InvalidDetails::NotCanonical(
                given.to_owned(),
                canonical.clone(),
            ));
        }
    }
    Ok(order)
}

/// The limits an authorization server (or the API) applies to the details it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetailLimits {
    /// The per-transfer limit, in minor units.
    pub per_payment_minor: i64,
    /// Most `payment_initiation` details in one request.
    pub max_inline: usize,
    /// Most payments in a `payment_batch`; 0 = the type is not accepted.
    pub max_batch: usize,
}

/// What one authorization approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// One or more `payment_initiation`s, in order.
    Payments(Vec<PaymentInitiation>),
    /// One `payment_batch`.
    Batch(PaymentBatch),
}

/// Why no approval can be asked for a batch at this provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoBatchApproval {
    #[error(
        "the authorization server cannot bind an approval to a payment (it supports no RFC 9396 payment_initiation or payment_batch details), so it cannot approve a batch"
    )]
    NoPaymentDetails,
    #[error(
        "this batch has {count} payments; the authorization server approves at most {max_inline} payments at once (payment_initiation, listed one by one) and does not offer payment_batch"
    )]
    TooManyForProvider { count: usize, max_inline: usize },
}

impl Approval {
    /// The approval for one transfer.
    pub fn for_order(order: &TransferOrder, location: Option<&str>) -> Approval {
        Approval::Payments(vec![PaymentInitiation::for_order(order, location)])
    }

    /// The approval to ask for `batch` from a provider that supports `types` (its
    /// `authorization_details_types_supported`): one `payment_initiation` per payment up to
    /// `max_inline`, else one `payment_batch`.
    pub fn for_batch(
        batch: &BatchOrder,
        location: Option<&str>,
        types: &[String],
        max_inline: usize,
    ) -> Result<Approval, NoBatchApproval> {
        let supports = |t: &str| types.iter().any(|s| s == t);
        if supports(PAYMENT_INITIATION) && batch.len() <= max_inline {
            return Ok(Approval::Payments(
                batch
                    .orders()
                    .iter()
                    .map(|o| PaymentInitiation::for_order(o, location))
                    .collect(),
            ));
        }
        if supports(PAYMENT_BATCH) {
            return Ok(Approval::Batch(PaymentBatch::for_batch(batch, location)));
        }
        if supports(PAYMENT_INITIATION) {
            return Err(NoBatchApproval::TooManyForProvider {
                count: batch.len(),
                max_inline,
            });
        }
        Err(NoBatchApproval::NoPaymentDetails)
    }

    /// The `authorization_details` parameter of an authorization request: the JSON array.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_value()).unwrap_or_default()
    }

    /// The JSON array.
    pub fn to_value(&self) -> serde_json::Value {
        let value = match self {
            Approval::Payments(payments) => serde_json::to_value(payments),
            Approval::Batch(batch) => serde_json::to_value([batch]),
        };
        value.unwrap_or_default()
    }

    /// The approval as an access token carries it (a batch without its list).
    pub fn for_token(&self) -> Approval {
        match self {
            Approval::Payments(_) => self.clone(),
            Approval::Batch(batch) => Approval::Batch(batch.without_payments()),
        }
    }

    /// The one payment, when this approves exactly one.
    pub fn single(&self) -> Option<&PaymentInitiation> {
        match self {
            Approval::Payments(payments) if payments.len() == 1 => payments.first(),
            _ => None,
        }
    }

    /// The batch it approves, when the payments are listed (every `payment_initiation`
    /// form, and a `payment_batch` in a request); `None` for a granted `payment_batch`.
    pub fn listed(&self) -> Option<BatchOrder> {
        let orders: Vec<TransferOrder> = match self {
            Approval::Payments(payments) => payments
                .iter()
                .map(|p| p.order(i64::MAX / 100).ok())
                .collect::<Option<_>>()?,
            Approval::Batch(batch) => batch
                .payments
                .as_ref()?
                .iter()
                .map(|p| {
                    TransferOrder::new(
                        &p.to,
                        &p.amount,
                        p.currency.as_deref()?,
                        p.memo.as_deref(),
                        i64::MAX / 100,
                    )
                    .ok()
                })
                .collect::<Option<_>>()?,
        };
        BatchOrder::new(orders, usize::MAX).ok()
    }

    /// Whether `order`, a single transfer, is what this approves.
    pub fn check_transfer(&self, order: &TransferOrder) -> Result<(), Mismatch> {
        match self.single() {
            Some(payment) => payment.check(order),
            None => Err(Mismatch::NotATransfer),
        }
    }

    /// Whether `batch` is exactly the batch this approves: the same payments in the same
    /// order, or the count, totals and digest of a `payment_batch`.
    pub fn check_batch(&self, batch: &BatchOrder) -> Result<(), Mismatch> {
        match self {
            Approval::Payments(payments) => {
                if payments.len() != batch.len() {
                    return Err(Mismatch::Count);
                }
                // Which field of which payment differs is the batch's payments differing,
                // as a digest would say it.
                payments
                    .iter()
                    .zip(batch.orders())
                    .try_for_each(|(payment, order)| payment.check(order))
                    .map_err(|_| Mismatch::Payments)
            }
            Approval::Batch(detail) => detail.check(batch),
        }
    }

    /// Whether every detail is meant for the API known as `api_identifier` (RFC 9396
    /// §2.2).
    pub fn is_for(&self, api_identifier: &str) -> bool {
        let names = |locations: &Option<Vec<String>>| {
            locations
                .as_ref()
                .is_none_or(|names| names.iter().any(|name| name == api_identifier))
        };
        match self {
            Approval::Payments(payments) => payments.iter().all(|p| names(&p.locations)),
            Approval::Batch(batch) => names(&batch.locations),
        }
    }

    /// "Pay bob 25.00 USD" for one payment, "Pay 20 payments, 1,234.56 USD in total, to 7
    /// payees" for a batch: the words every approval surface shows.
    pub fn summary(&self) -> String {
        if let Some(payment) = self.single() {
            return payment.to_string();
        }
        if let Some(listed) = self.listed() {
            return listed.summary();
        }
        match self {
            Approval::Batch(b) => batch::summary(b.number_of_payments, &b.totals, None),
            Approval::Payments(_) => String::new(),
        }
    }

    /// The summary for the middle of a sentence ("pay bob 25.00 USD").
    pub fn action(&self) -> String {
        let summary = self.summary();
        match summary.strip_prefix("Pay ") {
            Some(rest) => format!("pay {rest}"),
            None => summary,
        }
    }

    /// How many payments it approves.
    pub fn count(&self) -> usize {
        match self {
            Approval::Payments(payments) => payments.len(),
            Approval::Batch(batch) => batch.number_of_payments,
        }
    }

    /// The total per currency, sorted by currency (empty for listed payments whose amounts
    /// do not parse, which a validated approval never has).
    pub fn totals(&self) -> Vec<InstructedAmount> {
        match self {
            Approval::Batch(batch) => batch.totals.clone(),
            Approval::Payments(_) => self.listed().map(|b| b.totals()).unwrap_or_default(),
        }
    }

    /// Every `locations` entry of every detail (RFC 9396 §2.2), in order.
    pub fn locations(&self) -> Vec<String> {
        let named = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
        let all: Vec<String> = match self {
            Approval::Payments(payments) => {
                payments.iter().flat_map(|p| named(&p.locations)).collect()
            }
            Approval::Batch(batch) => named(&batch.locations),
        };
        all
    }

    /// The batch's reference ([`BatchOrder::reference`]), for anything but one payment; the
    /// same for both forms of the same batch.
    pub fn reference(&self) -> Option<String> {
        if self.single().is_some() {
            return None;
        }
        match self {
            Approval::Batch(b) => Some(reference_of_digest(&b.digest)),
            Approval::Payments(_) => self.listed().map(|b| b.reference()),
        }
    }
}

/// [`BatchOrder::reference`] from a digest alone.
fn reference_of_digest(digest: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(digest)
        .unwrap_or_default();
    let h: String = bytes.iter().take(4).map(|b| format!("{b:02X}")).collect();
    if h.len() == 8 {
        format!("{}-{}", &h[..4], &h[4..])
    } else {
        digest.chars().take(9).collect()
    }
}

/// Parses and validates the `authorization_details` of an authorization request: one or
/// more `payment_initiation`s (at most `max_inline`), or one `payment_batch` with its list
/// (when `max_batch` > 0), each payment by the transfer rules in canonical form.
pub fn parse_request_details(
    json: &str,
    limits: &DetailLimits,
) -> Result<Approval, InvalidDetails> {
    let value = serde_json::from_str(json).map_err(|e| InvalidDetails::Syntax(e.to_string()))?;
    let approval = parse_shape(value)?;
    match &approval {
        Approval::Payments(payments) => {
            if payments.len() > limits.max_inline {
                return Err(InvalidDetails::TooManyPayments(limits.max_inline));
            }
            for payment in payments {
                payment.order(limits.per_payment_minor)?;
            }
        }
        Approval::Batch(batch) => {
            if limits.max_batch == 0 {
                return Err(InvalidDetails::UnknownType(PAYMENT_BATCH.to_owned()));
            }
            batch.listed_batch(limits.per_payment_minor, limits.max_batch)?;
        }
    }
    Ok(approval)
}

/// Reads the `authorization_details` an access token carries (already issued, so the list
/// of a batch is not needed, and a `payment_batch` with one is refused: a token that big
/// was not issued by a server following this contract). `max_batch` bounds the count.
pub fn parse_granted_details(
    value: serde_json::Value,
    max_batch: usize,
) -> Result<Approval, InvalidDetails> {
    let approval = parse_shape(value)?;
    match &approval {
        Approval::Payments(payments) => {
            for payment in payments {
                payment.order(i64::MAX / 100)?;
            }
        }
        Approval::Batch(batch) => {
            if batch.payments.is_some() {
                return Err(InvalidDetails::Syntax(
                    "a granted payment_batch carries no list".into(),
                ));
            }
            batch.check_granted(max_batch)?;
        }
    }
    Ok(approval)
}

/// The array's shape: only our two types, not mixed, at most one batch.
fn parse_shape(value: serde_json::Value) -> Result<Approval, InvalidDetails> {
    let syntax = |e: serde_json::Error| InvalidDetails::Syntax(e.to_string());
    let values: Vec<serde_json::Value> = serde_json::from_value(value).map_err(syntax)?;
    let mut payments = Vec::new();
    let mut batches = Vec::new();
    for value in values {
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or_else(|| InvalidDetails::Syntax("each detail needs a string `type`".into()))?;
        match kind {
            PAYMENT_INITIATION => payments.push(serde_json::from_value(value).map_err(syntax)?),
            PAYMENT_BATCH => batches.push(serde_json::from_value(value).map_err(syntax)?),
            other => return Err(InvalidDetails::UnknownType(other.to_owned())),
        }
    }
    match (payments.is_empty(), batches.len()) {
        (true, 0) => Err(InvalidDetails::Empty),
        (false, 0) => Ok(Approval::Payments(payments)),
        (true, 1) => Ok(Approval::Batch(batches.remove(0))),
        _ => Err(InvalidDetails::MoreThanOne),
    }
}

/// The RFC 9396 array, as stored and shown (a batch with its list, when it has one).
impl Serialize for Approval {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

/// The array's shape only (our two types, not mixed, at most one batch): for details a
/// server already validated, read back to show them. Requests go through
/// [`parse_request_details`], tokens through [`parse_granted_details`].
impl<'de> Deserialize<'de> for Approval {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Approval, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        parse_shape(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
