//! The bank API's error answers: one [`ApiError`] enum, one `IntoResponse`.
//!
//! Every failure becomes an RFC 9457 `application/problem+json` document that a person can
//! read, and, when the token was not good enough, the `WWW-Authenticate` challenge a client
//! needs to recover: RFC 6750 §3 (`invalid_token`, `insufficient_scope`, `invalid_request`,
//! and no `error` at all when no token was sent), RFC 9470 §3
//! (`insufficient_user_authentication` with `acr_values` / `max_age`) and RFC 9449 §7.1
//! (`invalid_dpop_proof`, `use_dpop_nonce` with a `DPoP-Nonce` header). The error goes in
//! the scheme the client used ([`challenges`]), beside an offer of the other one where it
//! is accepted. Keeping the mapping in one place is what keeps the status, the challenge
//! and the body consistent.
//! 5xx answers carry no internal detail; the cause is logged instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use bank_protocol::{PaymentProblem, Problem};

use super::challenge::{AuthChallenge, AuthScheme, challenge_header, challenges};
pub use bank_protocol::problem::{PROBLEM_BASE, PROBLEM_JSON};

/// Everything the bank API can answer with instead of a success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer credentials at all: RFC 6750 §3.1 says the challenge then carries no
    /// `error` attribute.
    #[error("authentication required")]
    MissingToken,
    /// The token is malformed, forged, expired, for someone else, or unverifiable.
    /// The description is a fixed, secret-free phrase.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// A step-up token that was already used for a transfer (single use).
    #[error("token already used")]
    TokenAlreadyUsed,
    /// The request carried credentials in a way RFC 6750 §3.1 calls `invalid_request`
    /// (e.g. two `Authorization` headers).
    #[error("invalid authorization request: {0}")]
    InvalidAuthRequest(&'static str),
    /// A valid token without the scope this endpoint needs (RFC 6750 §3.1).
    #[error("insufficient scope, {scope} required")]
    InsufficientScope { scope: &'static str },
    /// A valid token whose authentication was too weak or too old (RFC 9470 §3).
    #[error("insufficient user authentication: {detail}")]
    InsufficientUserAuthentication {
        detail: &'static str,
        acr_values: Option<String>,
        max_age: Option<u64>,
    },
    /// A transfer token not bound to its transfer by RFC 9396 `authorization_details`,
    /// where the API demands that (`require_authorization_details`).
    #[error("authorization details required")]
    AuthorizationDetailsRequired,
    /// A token bound to one transfer, presented for another: `field` differs from what the
    /// person approved (`approved`, "pay bob 25.00 USD"). The token is spent.
    #[error("the transfer is not the one that was approved")]
    AuthorizationDetailsMismatch {
        field: &'static str,
        approved: String,
    },
    /// The DPoP proof of a request with a bound token failed a check of RFC 9449 §4.3 (or
    /// its key is not the token's). The description is a fixed phrase.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(&'static str),
    /// The API demands a nonce in proofs and this one had none, or a stale one (§9).
    #[error("DPoP nonce required")]
    UseDpopNonce { nonce: String },
    /// An unbound token where this API demands a DPoP-bound one (`[api] dpop`).
    #[error("DPoP-bound token required: {0}")]
    DpopRequired(&'static str),
    /// The issuer's keys could not be obtained, so no token can be checked right now.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// A request the server cannot parse (syntax, headers, query).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A JSON body that parses but does not have the right shape or values.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// A batch that breaks the transfer contract (empty, too long, or bad payments, each
    /// named by its 1-based position): nothing to approve, so before any step-up.
    #[error("invalid batch: {detail}")]
    InvalidBatch {
        detail: String,
        payments: Vec<PaymentProblem>,
    },
    /// A batch the ledger refuses as a whole: the answer `refusal` (its status and type)
    /// with the batch's own detail and the payments it is about.
    #[error("batch refused: {refusal}")]
    BatchRefused {
        refusal: Box<ApiError>,
        detail: String,
        payments: Vec<PaymentProblem>,
    },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("Idempotency-Key header required")]
    MissingIdempotencyKey,
    #[error("Idempotency-Key reused with a different request")]
    IdempotencyKeyReused,
    #[error("insufficient funds")]
    InsufficientFunds,
    #[error("unknown recipient")]
    UnknownRecipient,
    #[error("cannot transfer to the same account")]
    SameAccount,
    #[error("currency not supported")]
    CurrencyMismatch,
    /// A valid token whose `sub` has no account, and the API opens none by itself
    /// (`open_accounts = "provisioned"`).
    #[error("no account for this identity")]
    AccountNotOpen,
    /// The ledger stayed contended (or unreachable) through every retry: the request
    /// changed nothing and can be sent again with the same `Idempotency-Key`.
    #[error("ledger busy")]
    Busy,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Anything unexpected. The source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    /// The HTTP status of this answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingToken
            | ApiError::InvalidToken(_)
            | ApiError::TokenAlreadyUsed
            | ApiError::InsufficientUserAuthentication { .. }
            | ApiError::InvalidDpopProof(_)
            | ApiError::UseDpopNonce { .. }
            | ApiError::DpopRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope { .. }
            | ApiError::AccountNotOpen
            | ApiError::AuthorizationDetailsRequired
            | ApiError::AuthorizationDetailsMismatch { .. } => StatusCode::FORBIDDEN,
            ApiError::InvalidAuthRequest(_)
            | ApiError::BadRequest(_)
            | ApiError::InvalidBatch { .. }
            | ApiError::MissingIdempotencyKey => StatusCode::BAD_REQUEST,
            ApiError::BatchRefused { refusal, .. } => refusal.status(),
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidBody(_)
            | ApiError::IdempotencyKeyReused
            | ApiError::InsufficientFunds
            | ApiError::UnknownRecipient
            | ApiError::SameAccount
            | ApiError::CurrencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::KeysUnavailable | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The challenge's auth-params, when the answer is about the credentials.
    pub fn auth_challenge(&self) -> Option<AuthChallenge> {
        let rfc6750 = |params: String| AuthChallenge {
            params,
            dpop_only: false,
        };
        let dpop = |params: String| AuthChallenge {
            params,
            dpop_only: true,
        };
        Some(match self {
            ApiError::MissingToken => rfc6750(String::new()),
            ApiError::InvalidToken(description) => {
                rfc6750(error_params("invalid_token", description))
            }
            ApiError::TokenAlreadyUsed => {
                rfc6750(error_params("invalid_token", "token already used"))
            }
            ApiError::InvalidAuthRequest(description) => {
                rfc6750(error_params("invalid_request", description))
            }
            ApiError::InsufficientScope { scope } => rfc6750(format!(
                r#"error="insufficient_scope", scope="{}""#,
                quoted(scope)
            )),
            ApiError::InsufficientUserAuthentication {
                acr_values,
                max_age,
                ..
            } => {
                let mut params = r#"error="insufficient_user_authentication""#.to_owned();
                if let Some(acr_values) = acr_values {
                    params.push_str(&format!(r#", acr_values="{}""#, quoted(acr_values)));
                }
                if let Some(max_age) = max_age {
                    params.push_str(&format!(", max_age={max_age}"));
                }
                rfc6750(params)
            }
            // No RFC defines this error code; the parameter says what the token lacks, so
            // that a client can ask for it (RFC 9396 §2: details of this type).
            ApiError::AuthorizationDetailsRequired => rfc6750(format!(
                r#"{}, authorization_details_types="{}""#,
                error_params(
                    "insufficient_authorization_details",
                    "transfers need a token bound to the transfer by authorization_details"
                ),
                bank_protocol::PAYMENT_INITIATION
            )),
            ApiError::InvalidDpopProof(description) => dpop(error_params(
                bank_protocol::dpop::ERR_INVALID_PROOF,
                description,
            )),
            ApiError::UseDpopNonce { .. } => dpop(error_params(
                bank_protocol::dpop::ERR_USE_NONCE,
                "the resource server requires a nonce in the DPoP proof",
            )),
            ApiError::DpopRequired(description) => dpop(error_params("invalid_token", description)),
            _ => return None,
        })
    }

    /// The challenge as a client that sent a bearer token (or nothing) gets it where bearer
    /// tokens are accepted: RFC 6750's `Bearer …`, or the DPoP challenge for what only
    /// DPoP can answer. The API's answers add the scheme offers ([`challenges`]).
    pub fn challenge(&self) -> Option<String> {
        self.auth_challenge()
            .map(|c| challenges(&c, AuthScheme::Bearer, true).remove(0))
    }

    /// `(type slug, title, detail)` of the problem document; slug `None` = `about:blank`.
    fn problem(&self) -> (Option<&'static str>, &'static str, String) {
        match self {
            ApiError::MissingToken => (
                Some("unauthenticated"),
                "Authentication required",
                "This endpoint needs a bearer access token for the bank API.".into(),
            ),
            ApiError::InvalidToken(description) => (
                Some("invalid-token"),
                "Invalid access token",
                format!("The access token was rejected: {description}."),
            ),
            ApiError::TokenAlreadyUsed => (
                Some("token-already-used"),
                "Access token already used",
                "This token already authorized a transfer; each step-up token is single-use. \
                 Authorize again to get a fresh one."
                    .into(),
            ),
            ApiError::InvalidAuthRequest(description) => (
                Some("invalid-request"),
                "Invalid authorization",
                format!("The request's credentials are malformed: {description}."),
            ),
            ApiError::InsufficientScope { scope } => (
                Some("insufficient-scope"),
                "Insufficient scope",
                format!("This operation needs a token with the \"{scope}\" scope."),
            ),
            ApiError::InsufficientUserAuthentication { detail, .. } => (
                Some("insufficient-user-authentication"),
                "Stronger or more recent authentication required",
                format!("{detail}; sign in again with multi-factor authentication."),
            ),
            ApiError::AuthorizationDetailsRequired => (
                Some("authorization-details-required"),
                "Transfer not bound to the token",
                "Transfers need a token whose authorization_details (type payment_initiation) \
                 name this transfer: amount, currency, recipient and memo."
                    .into(),
            ),
            ApiError::AuthorizationDetailsMismatch {
                field: "locations",
                approved,
            } => (
                Some("authorization-details-mismatch"),
                "Not approved for this bank",
                format!(
                    "This token was approved to {approved} at another API (its locations do \
                     not name this one). Nothing was moved, and the token is now spent."
                ),
            ),
            ApiError::AuthorizationDetailsMismatch {
                field: "authorization_details",
                approved,
            } => (
                Some("authorization-details-mismatch"),
                "Not the payment that was approved",
                format!(
                    "This token was approved to {approved}, not to make this single transfer. \
                     Nothing was moved, and the token is now spent."
                ),
            ),
            ApiError::AuthorizationDetailsMismatch {
                field: field @ ("count" | "payments"),
                approved,
            } => (
                Some("authorization-details-mismatch"),
                "Not the batch that was approved",
                format!(
                    "This token was approved to {approved}, but the batch's {} different. \
                     Nothing was moved, and the token is now spent.",
                    if *field == "count" {
                        "number of payments is"
                    } else {
                        "payments are"
                    }
                ),
            ),
            ApiError::AuthorizationDetailsMismatch { field, approved } => (
                Some("authorization-details-mismatch"),
                "Not the transfer that was approved",
                format!(
                    "This token was approved to {approved}, but the transfer's {field} is \
                     different. Nothing was moved, and the token is now spent."
                ),
            ),
            ApiError::InvalidDpopProof(description) => (
                Some("invalid-dpop-proof"),
                "Invalid DPoP proof",
                format!(
                    "The DPoP proof was rejected: {description}. Sign a new proof for this \
                     request with the key the token is bound to."
                ),
            ),
            ApiError::UseDpopNonce { .. } => (
                Some("use-dpop-nonce"),
                "DPoP nonce required",
                "Sign a new DPoP proof that carries the nonce of the DPoP-Nonce header.".into(),
            ),
            ApiError::DpopRequired(description) => (
                Some("dpop-required"),
                "DPoP-bound token required",
                format!(
                    "The access token was refused: {description}. Ask the authorization server \
                     for a token bound to a DPoP key (send a DPoP proof to its token endpoint)."
                ),
            ),
            ApiError::KeysUnavailable => (
                Some("keys-unavailable"),
                "Token keys unavailable",
                "The API cannot reach its authorization server's keys right now; try again later."
                    .into(),
            ),
            ApiError::BadRequest(detail) => (Some("bad-request"), "Bad request", detail.clone()),
            ApiError::InvalidBody(detail) => {
                (Some("invalid-body"), "Invalid request body", detail.clone())
            }
            ApiError::InvalidBatch { detail, .. } => {
                (Some("invalid-batch"), "Invalid batch", detail.clone())
            }
            ApiError::BatchRefused {
                refusal, detail, ..
            } => {
                let (slug, title, _) = refusal.problem();
                (slug, title, detail.clone())
            }
            ApiError::UnsupportedMediaType => (
                Some("unsupported-media-type"),
                "Unsupported media type",
                "Send the request body as Content-Type: application/json.".into(),
            ),
            ApiError::PayloadTooLarge => (
                Some("payload-too-large"),
                "Request body too large",
                "The request body is larger than this endpoint accepts (16 KiB; a batch: 2 KiB \
                 per payment allowed)."
                    .into(),
            ),
            ApiError::MissingIdempotencyKey => (
                Some("idempotency-key-required"),
                "Idempotency-Key required",
                "Transfers need an Idempotency-Key header (1 to 255 visible ASCII characters) \
                 so that a retry cannot move money twice."
                    .into(),
            ),
            ApiError::IdempotencyKeyReused => (
                Some("idempotency-key-reused"),
                "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different transfer; use a new key \
                 for a new transfer."
                    .into(),
            ),
            ApiError::InsufficientFunds => (
                Some("insufficient-funds"),
                "Insufficient funds",
                "The account balance does not cover this transfer.".into(),
            ),
            ApiError::UnknownRecipient => (
                Some("unknown-recipient"),
                "Unknown recipient",
                "No account has that handle.".into(),
            ),
            ApiError::SameAccount => (
                Some("same-account"),
                "Same account",
                "The recipient must be a different account.".into(),
            ),
            ApiError::CurrencyMismatch => (
                Some("currency-mismatch"),
                "Currency not supported",
                "Transfers must be in the account's currency.".into(),
            ),
            ApiError::AccountNotOpen => (
                Some("account-not-open"),
                "No account",
                "This bank has no account for your identity; the bank opens accounts for its \
                 customers (`bank-sandbox accounts open`)."
                    .into(),
            ),
            ApiError::Busy => (
                Some("busy"),
                "Try again",
                "The ledger is busy or unreachable right now. Retry with the same Idempotency-Key: \
                 a transfer is never made twice."
                    .into(),
            ),
            ApiError::NotFound => (None, "Not Found", "No such resource.".into()),
            ApiError::MethodNotAllowed => (
                None,
                "Method Not Allowed",
                "This resource does not support that method.".into(),
            ),
            ApiError::Internal(_) => (
                None,
                "Internal Server Error",
                "Something went wrong on our side.".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(source) = &self {
            // The only place the cause goes: the log, never the client.
            tracing::error!(error = %source, "bank API internal error");
        }
        let (slug, title, detail) = self.problem();
        let body = Problem {
            kind: Some(slug.map_or_else(
                || "about:blank".to_owned(),
                |s| format!("{PROBLEM_BASE}{s}"),
            )),
            title: Some(title.to_owned()),
            status: status.as_u16(),
            detail: Some(detail),
            payments: match &self {
                ApiError::InvalidBatch { payments, .. }
                | ApiError::BatchRefused { payments, .. } => payments.clone(),
                _ => Vec::new(),
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(challenge) = self.auth_challenge() {
            // The default rendering; the API's middleware renders it again for the scheme
            // the request used, from this extension.
            if let Some(value) =
                challenge_header(&challenges(&challenge, AuthScheme::Bearer, true)[0])
            {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
            response.extensions_mut().insert(challenge);
        }
        let headers = response.headers_mut();
        if let ApiError::UseDpopNonce { nonce } = &self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert(bank_protocol::dpop::NONCE_HEADER, value);
        }
        if matches!(self, ApiError::Busy) {
            // RFC 9110 §10.2.3: a short, explicit wait before the retry.
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::MethodNotAllowed) {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

fn error_params(code: &str, description: &str) -> String {
    format!(
        r#"error="{code}", error_description="{}""#,
        quoted(description)
    )
}

/// RFC 6750 §3: `error_description` and `scope` values are limited to %x20-21 / %x23-5B /
/// %x5D-7E, so a stray quote or backslash can never break the header's syntax.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| matches!(*c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750_and_9470() {
        assert_eq!(
            ApiError::MissingToken.challenge().as_deref(),
            Some("Bearer")
        );
        assert_eq!(
            ApiError::InvalidToken("token expired")
                .challenge()
                .as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="token expired""#)
        );
        assert_eq!(
            ApiError::InsufficientScope {
                scope: "transfer:funds"
            }
            .challenge()
            .as_deref(),
            Some(r#"Bearer error="insufficient_scope", scope="transfer:funds""#)
        );
        assert_eq!(
            ApiError::InsufficientUserAuthentication {
                detail: "x",
                acr_values: Some("urn:a".into()),
                max_age: Some(300),
            }
            .challenge()
            .as_deref(),
            Some(
                r#"Bearer error="insufficient_user_authentication", acr_values="urn:a", max_age=300"#
            )
        );
        assert_eq!(ApiError::InsufficientFunds.challenge(), None);
    }

    #[test]
    fn quoted_strips_characters_that_would_break_the_header() {
        assert_eq!(quoted("a\"b\\c\nd"), "abcd");
    }
}
