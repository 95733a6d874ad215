//! The authorization server's audit trail: what happened, in protocol terms, for tests and
//! the demo to assert on. Events carry identifiers (usernames, `sub`, `jti`, grant ids,
//! MFA request ids), never secrets (passwords, codes, tokens, verifiers, cookies).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuthzEvent {
    AuthorizationRequested {
        client_id: String,
        scope: String,
        acr_values: Option<String>,
        max_age: Option<i64>,
        prompt: Option<String>,
    },
    LoginSucceeded {
        username: String,
    },
    LoginFailed {
        username: String,
    },
    /// A login attempt refused without checking the password: too many recent failures.
    LoginThrottled {
        username: String,
    },
    MfaRequired {
        id: String,
        username: String,
        scope: String,
    },
    MfaApproved {
        id: String,
    },
    MfaDenied {
        id: String,
    },
    MfaExpired {
        id: String,
    },
    TokenIssued {
        sub: String,
        scope: String,
        jti: String,
        amr: Vec<String>,
        /// `authorization_code` or `refresh_token`.
        grant: String,
    },
    /// An authorization code was presented twice; its grant was revoked.
    CodeReplayed {
        grant_id: String,
    },
    /// A rotated-away refresh token was presented; its family was revoked.
    RefreshTokenReused {
        grant_id: String,
    },
    /// RFC 7009 revocation of a refresh token's grant.
    TokenRevoked {
        grant_id: String,
    },
    KeyRotated {
        kid: String,
    },
}
