//! OAuth 2.0 protocol errors of the authorization server, by their RFC names.
//!
//! [`OAuthError`]'s `Display` is the wire code (`invalid_grant`), so it can go straight into
//! a JSON body (token and revocation endpoints, RFC 6749 §5.2) or a redirect's `error=`
//! parameter (RFC 6749 §4.1.2.1). The description is meant for the client developer and
//! must never carry a secret: callers build it from fixed text and request parameters only.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, RFC 8707 §2,
/// OpenID Connect Core §3.1.2.6, RFC 9396 §5, RFC 9449 §5, §8 and RFC 8628 §3.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    InvalidTarget,
    InvalidAuthorizationDetails,
    InvalidDpopProof,
    UseDpopNonce,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    ServerError,
    TemporarilyUnavailable,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
}

impl OAuthErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::InvalidDpopProof => bank_protocol::dpop::ERR_INVALID_PROOF,
            Self::UseDpopNonce => bank_protocol::dpop::ERR_USE_NONCE,
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
        }
    }

    /// The HTTP status for a JSON answer (RFC 6749 §5.2: 400, except 401 for a failed
    /// client authentication).
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for OAuthErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// An OAuth error with a developer-facing description (never containing a secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct OAuthError {
    pub kind: OAuthErrorKind,
    pub description: String,
    /// The nonce to send in `DPoP-Nonce` (RFC 9449 §8): with `use_dpop_nonce`, and with any
    /// answer of a server that demands nonces.
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    pub fn new(kind: OAuthErrorKind, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
            dpop_nonce: None,
        }
    }
    /// The answer also hands out this DPoP nonce.
    pub fn with_dpop_nonce(mut self, nonce: Option<String>) -> Self {
        self.dpop_nonce = nonce.or(self.dpop_nonce);
        self
    }
    pub fn invalid_dpop_proof(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorKind::InvalidDpopProof, d)
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorKind::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorKind::InvalidGrant, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorKind::InvalidClient, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorKind::InvalidScope, d)
    }
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorKind::AccessDenied, d)
    }
    /// A server-side failure; the cause is logged by the caller, the client sees no detail.
    pub fn server_error() -> Self {
        Self::new(OAuthErrorKind::ServerError, "internal error")
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(err: crate::store::StoreError) -> Self {
        tracing::error!(error = %err, source = ?std::error::Error::source(&err).map(ToString::to_string), "store failure");
        OAuthError::server_error()
    }
}

impl IntoResponse for OAuthError {
    /// The RFC 6749 §5.2 JSON error. Token-endpoint answers must not be cached (§5.1).
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.kind.code() });
        if self.kind != OAuthErrorKind::ServerError {
            body["error_description"] = self.description.into();
        }
        let mut response = (self.kind.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(nonce) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            headers.insert(bank_protocol::dpop::NONCE_HEADER, nonce);
        }
        if self.kind == OAuthErrorKind::InvalidClient {
            // RFC 6749 §5.2: a 401 carries a challenge for the scheme the client may use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"bank-sandbox\""),
            );
        }
        response
    }
}
