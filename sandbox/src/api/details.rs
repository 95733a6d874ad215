//! RFC 9396 authorization details in access tokens: what one step-up approved — one
//! payment, a few listed one by one, or a batch by its digest ([`bank_protocol::Approval`]).
//! The checks against the request are the protocol's (`Approval::check_transfer`,
//! `Approval::check_batch`), in `transfers` and `batches`.

use crate::error::ApiError;

/// The token's approval, if it carries `authorization_details`. Anything this API cannot
/// execute exactly as shown to the person (another type, a mix, two batches, a batch of
/// more than `max_batch` payments) makes the token invalid rather than guessed at.
pub(crate) fn approval_of(
    details: Option<serde_json::Value>,
    max_batch: usize,
) -> Result<Option<bank_protocol::Approval>, ApiError> {
    let Some(details) = details else {
        return Ok(None);
    };
    bank_protocol::parse_granted_details(details, max_batch)
        .map(Some)
        .map_err(|_| ApiError::InvalidToken("malformed authorization_details"))
}
