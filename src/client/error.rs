//! What can go wrong with a call, by whose fault: the API's answer ([`ApiError`]), our own
//! credentials ([`SessionError`]), or the step-up ([`StepUpError`]).

use bank_protocol::Problem;

use crate::challenge::{StepUpChallenge, describe_requirement};
use crate::oauth::OAuthError;
use crate::token_store::StoreError;

/// What the bank API answered, when it was not a success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// RFC 6750 §3.1 `invalid_token` (or a 401 without a usable challenge).
    #[error("the bank API rejected the access token{}", suffix(.description))]
    InvalidToken { description: Option<String> },
    /// RFC 6750 §3.1 `insufficient_scope` or RFC 9470 `insufficient_user_authentication`:
    /// the step-up layer answers it by authorizing again with the challenge's parameters.
    #[error("the bank API requires a stronger authorization{}", suffix(&.0.description))]
    StepUpRequired(StepUpChallenge),
    /// RFC 9449 §9 `use_dpop_nonce`: send again with this nonce in the proof (the DPoP
    /// layer does, once).
    #[error("the bank API asks for a DPoP proof with its nonce")]
    UseDpopNonce { nonce: String },
    /// RFC 9449 §7.1 `invalid_dpop_proof`: the proof, not the token, was refused (a clock
    /// far off, or a token bound to another key).
    #[error("the bank API refused the DPoP proof{}", suffix(.description))]
    ProofRefused { description: Option<String> },
    /// A bearer token refused with a challenge in the DPoP scheme only (RFC 9449 §7.1): this
    /// operation takes only DPoP-bound tokens.
    #[error("the bank API takes only DPoP-bound tokens here{}", suffix(.description))]
    DpopRequired { description: Option<String> },
    #[error("the bank API refused: {problem}")]
    Forbidden { problem: Problem },
    #[error("the bank API rejected the request: {problem}")]
    BadRequest { problem: Problem },
    #[error("{}", server_words(.problem, *.retry_after))]
    Server {
        problem: Problem,
        /// `Retry-After` in seconds: the server says it is busy, not broken.
        retry_after: Option<u64>,
    },
    #[error("unexpected answer from the bank API ({status}): {what}")]
    UnexpectedResponse { status: u16, what: String },
    #[error("cannot reach the bank API at {url}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl ApiError {
    /// Whether a failed request may nevertheless have been carried out: the connection broke
    /// after the request was sent, or the server failed while answering. Only a failure to
    /// connect proves that nothing reached it.
    pub fn may_have_reached_server(&self) -> bool {
        match self {
            ApiError::Network { source, .. } => !source.is_connect(),
            ApiError::Server { .. } => true,
            // A success we could not read may well be a transfer; a 404 or 405 is not.
            ApiError::UnexpectedResponse { status, .. } => !(400..500).contains(status),
            _ => false,
        }
    }
}

fn server_words(problem: &Problem, retry_after: Option<u64>) -> String {
    match retry_after {
        Some(secs) => format!(
            "the bank API cannot do this right now: {problem}; try again in {}",
            crate::time_text::in_words(secs)
        ),
        None => format!("the bank API failed: {problem}"),
    }
}

fn suffix(description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(": {d}"),
        _ => String::new(),
    }
}

/// Why a call through the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API's answer (before any step-up).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Our own credentials: not logged in, refresh failed, rejected after the refresh.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Step-up was needed and could not run, or did not produce a token.
    #[error(transparent)]
    StepUp(#[from] StepUpError),
    /// The API's answer to the one retry with a step-up token: final. Kept apart because
    /// the same answer means something else then ("still not enough", or the step-up
    /// token itself refused).
    #[error(transparent)]
    AfterStepUp(ApiError),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not logged in to {issuer} (profile `{profile}`)")]
    NotLoggedIn { issuer: String, profile: String },
    /// No refresh token, or the provider refused it.
    #[error("the session has expired")]
    Expired(#[source] Option<OAuthError>),
    #[error("the bank API rejected the token in BANK_TOKEN{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    EnvTokenRejected { description: Option<String> },
    /// Still `401 invalid_token` right after a refresh.
    #[error("the bank API does not accept the stored credentials")]
    Rejected(#[source] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
}

/// Why step-up produced no token.
#[derive(Debug, thiserror::Error)]
pub enum StepUpError {
    /// Step-up is needed but nobody can approve it here.
    #[error("the bank requires {}", describe_requirement(.challenge, None))]
    NotPossible {
        challenge: StepUpChallenge,
        reason: NotPossible,
    },
    /// The authorization itself failed (denied, timed out, cancelled…).
    #[error(transparent)]
    Authorization(#[from] OAuthError),
    /// Someone other than the logged-in user signed the step-up.
    #[error(
        "the step-up sign-in was for {found}, but you are logged in as {expected}; nothing was sent"
    )]
    WrongUser { expected: String, found: String },
    /// The provider's answer does not say who signed in (no ID token).
    #[error(
        "the step-up sign-in did not say who signed in (no ID token), so it cannot be matched to your login; nothing was sent"
    )]
    UnknownUser,
    /// The provider cannot bind an approval to this batch (too many payments to list, no
    /// `payment_batch`, or no RFC 9396 payment details at all).
    #[error("this provider cannot approve this batch: {0}; nothing was sent")]
    NoBatchApproval(bank_protocol::NoBatchApproval),
    /// A `payment_batch` needs a pushed request (RFC 9126) or the device flow to carry its
    /// list, and neither is available here.
    #[error(
        "a batch approval carries the whole list of payments, so it is sent to the provider directly (a pushed authorization request, RFC 9126, or the device flow), never in a browser's address bar; {}; nothing was sent",
        if *.par_offered { "the profile's `par` setting forbids pushing" } else { "the provider offers neither" }
    )]
    BatchNeedsPush {
        par_offered: bool,
        max_inline: usize,
    },
    /// A batch body not in the canonical form cannot be bound (a bug: the CLI sends only
    /// canonical bodies).
    #[error("the batch is not in the canonical form an approval binds; nothing was sent")]
    BatchNotCanonical,
    /// The stored login does not record who signed in, so nothing can be compared.
    #[error(
        "the stored login does not record who signed in, so a step-up cannot be bound to it; nothing was sent"
    )]
    Unbound,
}

/// Not `#[from]`: the words are in the message already, and a source would print them again
/// as the cause.
impl From<bank_protocol::NoBatchApproval> for StepUpError {
    fn from(err: bank_protocol::NoBatchApproval) -> Self {
        StepUpError::NoBatchApproval(err)
    }
}

/// Why step-up cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotPossible {
    /// `BANK_TOKEN` supplies the credentials: the CLI does not start an interactive flow
    /// behind the environment's back.
    EnvToken,
    /// `--no-input` and no browser can be opened: nobody could approve the request.
    NoInputNoBrowser,
}
