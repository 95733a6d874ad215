//! What can go wrong in an OAuth flow, in words a person can act on.

use std::time::Duration;

use super::{BrowserError, LoopbackError, par};

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("cannot discover the authorization server at {issuer}: {reason}")]
    Discovery {
        issuer: String,
        reason: String,
        #[source]
        source: Option<reqwest::Error>,
    },
    #[error("the discovery document names issuer `{found}`, expected `{expected}`")]
    IssuerMismatch { expected: String, found: String },
    #[error("refusing to use {url}: endpoints must use https (plain http only on loopback)")]
    InsecureEndpoint { url: String },
    #[error("the authorization server does not support PKCE with S256")]
    NoS256,
    #[error("invalid URL from the authorization server")]
    BadUrl(#[source] url::ParseError),
    #[error("the login callback port {port} is already in use")]
    CallbackPortBusy {
        port: u16,
        #[source]
        source: LoopbackError,
    },
    #[error("cannot receive the login redirect")]
    Loopback(#[source] LoopbackError),
    #[error("cannot open the browser")]
    Browser(#[source] BrowserError),
    #[error("timed out after {} waiting for the login to finish in the browser", crate::time_text::humanize(*.0))]
    Timeout(Duration),
    #[error(
        "the provider does not offer the device flow (no device_authorization_endpoint in its metadata)"
    )]
    NoDeviceFlow,
    #[error("the code expired before the sign-in was approved{}", describe(.description))]
    DeviceCodeExpired { description: Option<String> },
    #[error("login cancelled")]
    Interrupted,
    #[error("the login response came from issuer {}, not {expected}; it was ignored", .found.as_deref().unwrap_or("(unnamed)"))]
    IssuerMixUp {
        expected: String,
        found: Option<String>,
    },
    #[error("access denied{}", describe(.description))]
    Denied { description: Option<String> },
    #[error("the authorization server refused: {error}{}", describe(.description))]
    Authorization {
        error: String,
        description: Option<String>,
    },
    #[error("the authorization server rejected the refresh token ({error})")]
    RefreshRejected { error: String },
    #[error("the token endpoint refused: {error}{}", describe(.description))]
    TokenEndpoint {
        error: String,
        description: Option<String>,
    },
    #[error("the revocation endpoint refused: {error}{}", describe(.description))]
    Revocation {
        error: String,
        description: Option<String>,
    },
    #[error(
        "the provider does not offer DPoP with ES256, and this profile requires it (dpop = always)"
    )]
    DpopUnsupported,
    #[error(
        "the provider answered with a bearer token, and this profile requires DPoP-bound tokens (dpop = always)"
    )]
    NotBound,
    #[error(
        "the provider requires DPoP-bound tokens, and this profile does not use DPoP (dpop = never)"
    )]
    DpopRequired,
    #[error("the token endpoint answered with a {token_type} token this login did not ask for")]
    UnexpectedTokenType { token_type: String },
    #[error("the ID token from the token endpoint is not valid for this login: {reason}")]
    InvalidIdToken { reason: &'static str },
    #[error(
        "the authorization server requires pushed authorization requests (RFC 9126), but this profile's `par` setting is `never`"
    )]
    ParRequired,
    #[error(
        "this profile's `par` setting is `always`, but {issuer} offers no pushed authorization requests (its metadata names no pushed_authorization_request_endpoint)"
    )]
    ParUnavailable { issuer: String },
    #[error("{}", par::refusal_words(.error, .description))]
    PushRefused {
        error: String,
        description: Option<String>,
    },
    #[error("request to the authorization server failed: {what}")]
    Http {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}
