//! RFC 9396 authorization details in access tokens: the one `payment_initiation` a
//! transfer token may be bound to (the check against the transfer is
//! `bank_protocol::PaymentInitiation::check`, in `transfers`).

use crate::error::ApiError;

/// The token's `payment_initiation` detail (RFC 9396 §9.1), if it has one. Details of other
/// types are another API's business; two payments in one single-use token cannot both be
/// executed, so such a token is refused rather than guessed at.
pub(crate) fn payment_of(
    details: Option<serde_json::Value>,
) -> Result<Option<bank_protocol::PaymentInitiation>, ApiError> {
    let Some(details) = details else {
        return Ok(None);
    };
    let serde_json::Value::Array(details) = details else {
        return Err(ApiError::InvalidToken("malformed authorization_details"));
    };
    let mut payment = None;
    for detail in details {
        if detail.get("type").and_then(|t| t.as_str()) != Some(bank_protocol::PAYMENT_INITIATION) {
            continue;
        }
        if payment.is_some() {
            return Err(ApiError::InvalidToken("more than one payment_initiation"));
        }
        payment = Some(
            serde_json::from_value(detail)
                .map_err(|_| ApiError::InvalidToken("malformed authorization_details"))?,
        );
    }
    Ok(payment)
}
