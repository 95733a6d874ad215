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
    /// RFC 9126: a client pushed an authorization request (valid: it got a `request_uri`).
    AuthorizationPushed {
        client_id: String,
        scope: String,
        login_hint: Option<String>,
        /// RFC 9396 details as pushed (what the person will be asked to approve).
        authorization_details: Option<String>,
        /// The names of the pushed parameters, in order (values only as above).
        parameters: Vec<String>,
    },
    LoginSucceeded {
        username: String,
    },
    LoginFailed {
        username: LoginName,
    },
    /// A login attempt refused without checking the password: too many recent failures.
    LoginThrottled {
        username: LoginName,
    },
    MfaRequired {
        id: String,
        username: String,
        scope: String,
    },
    /// A sign-in that needed MFA was refused: the user had been sent too many pushes.
    MfaPushLimited {
        username: String,
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
        /// `authorization_code`, `refresh_token` or the device code grant's URN.
        grant: String,
        /// The thumbprint of the DPoP key the access token is bound to, if any.
        dpop_jkt: Option<String>,
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
    /// RFC 8628: a device asked for authorization and got its codes.
    DeviceAuthorizationRequested {
        id: String,
        client_id: String,
        scope: String,
    },
    /// A person entered a device's user code in a browser.
    DeviceCodeEntered {
        id: String,
    },
    /// A user code that names no pending device authorization was entered.
    UserCodeRejected,
    /// A user code was refused unchecked: too many wrong ones from that address.
    UserCodeThrottled,
    /// What a poll of the token endpoint with a device code was answered: an error code
    /// (`authorization_pending`, `slow_down`, …) or `tokens`.
    DevicePolled {
        answer: String,
    },
    DeviceApproved {
        id: String,
        username: String,
    },
    DeviceDenied {
        id: String,
    },
    /// A device code that had yielded its tokens was presented again; its grant was revoked.
    DeviceCodeReplayed {
        grant_id: String,
    },
}

/// The username a failed or throttled login named. People sometimes type their password
/// into the username field, so a name that is no account's is never recorded verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginName {
    /// An account's username (needed to diagnose throttling).
    Known(String),
    /// No account has this name. The fingerprint is a keyed hash, with a key that lives only
    /// in this server's memory: the same name gives the same fingerprint for as long as the
    /// server runs, so repeated attempts are visible, but a fingerprint in a log cannot be
    /// matched against guesses.
    Unknown { fingerprint: String },
}

impl LoginName {
    /// Shorthand for tests and log readers: the known username, if any.
    pub fn known(&self) -> Option<&str> {
        match self {
            LoginName::Known(name) => Some(name),
            LoginName::Unknown { .. } => None,
        }
    }
}
