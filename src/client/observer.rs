//! What a caller may watch: every request, response, challenge and authorization step.
//!
//! The client never prints. A command passes an [`Observer`]: `-v` prints the exchange on
//! stderr, `bank demo` narrates its story from the same events, and [`Silent`] ignores them.
//! Events borrow what they describe; tokens are there so that a narrator can show a prefix
//! or decode the claims, and an observer must never print one whole.

use bank_protocol::IdempotencyKey;
use oauth2::AccessToken;

use super::request::{Credential, Operation};
use crate::challenge::StepUpChallenge;
use crate::oauth::AuthParams;

#[derive(Debug)]
pub enum Event<'a> {
    /// About to send.
    Request {
        method: &'a str,
        url: &'a str,
        operation: &'a Operation,
        credential: Option<&'a Credential>,
        /// The thumbprint of the DPoP key whose proof the request carries, if it carries one.
        dpop_jkt: Option<&'a str>,
    },
    /// The answer's status line and challenge, whatever the status.
    Response {
        method: &'a str,
        url: &'a str,
        status: u16,
        www_authenticate: Option<&'a str>,
    },
    /// The API asked for a stronger authorization.
    Challenge(&'a StepUpChallenge),
    /// The step-up layer starts an authorization with these parameters.
    StepUpAuthorizing {
        params: &'a AuthParams,
        purpose: &'a str,
    },
    /// The step-up produced its token (for the one retry that follows).
    StepUpAuthorized { access_token: &'a AccessToken },
    /// The stored login is being refreshed.
    Refresh(RefreshStep),
    /// The connection broke after a transfer (or a batch: `batch`) was sent: it is sent
    /// once more, the same request under this key.
    AnswerLost {
        key: &'a IdempotencyKey,
        batch: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshStep {
    /// Another `bank` process holds the refresh lock.
    WaitingForOtherProcess,
    /// The other process refreshed while we waited; its result is used.
    OtherProcessRefreshed,
    /// The refresh token is being spent, for this reason.
    Refreshing(RefreshReason),
}

/// Why the stored login is refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshReason {
    /// The access token has expired (or is about to).
    Expired,
    /// The API refused the token (`401 invalid_token`): revoked, or keys rotated.
    Rejected,
}

pub trait Observer {
    fn event(&self, event: &Event<'_>);
}

/// Sees nothing.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: &Event<'_>) {}
}
