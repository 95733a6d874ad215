//! What travels down the stack ([`ApiRequest`]: an [`Operation`] and its [`Credential`]) and
//! what comes back ([`ApiResponse`]).

use std::fmt;

use bank_protocol::{IdempotencyKey, TransferBatchRequest, TransferRequest};
use oauth2::AccessToken;
use serde_json::Value;

use crate::dpop::DpopKey;
use crate::token_store::{Storage, TokenBundle};

/// What the bank is asked to do. Repeatable: a retry sends the same operation again, and a
/// transfer keeps its `Idempotency-Key`, so the bank can never carry it out twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Balance,
    History {
        limit: Option<u32>,
    },
    Transfer {
        body: TransferRequest,
        key: IdempotencyKey,
    },
    /// A batch: one key for all of it, all or nothing.
    TransferBatch {
        body: TransferBatchRequest,
        key: IdempotencyKey,
    },
}

impl Operation {
    pub fn method(&self) -> reqwest::Method {
        match self {
            Operation::Transfer { .. } | Operation::TransferBatch { .. } => reqwest::Method::POST,
            _ => reqwest::Method::GET,
        }
    }

    /// The `Idempotency-Key` of an operation that moves money.
    pub fn key(&self) -> Option<&IdempotencyKey> {
        match self {
            Operation::Transfer { key, .. } | Operation::TransferBatch { key, .. } => Some(key),
            Operation::Balance | Operation::History { .. } => None,
        }
    }

    pub fn path(&self) -> String {
        match self {
            Operation::Balance => "/v1/balance".into(),
            Operation::History { limit: Some(n) } => format!("/v1/transfers?limit={n}"),
            Operation::History { limit: None } | Operation::Transfer { .. } => {
                "/v1/transfers".into()
            }
            Operation::TransferBatch { .. } => "/v1/transfer-batches".into(),
        }
    }
}

/// The token a request carries.
pub enum Credential {
    /// `BANK_TOKEN`: the environment is in charge; never refreshed, never stepped up.
    Env(AccessToken),
    /// The stored login's everyday token (boxed: a bundle is far larger than a token).
    Stored {
        bundle: Box<TokenBundle>,
        storage: Storage,
    },
    /// A step-up token: for the one retry of the operation it was obtained for. It has no
    /// way into the token store, and is deliberately not `Clone`. `sender` is the DPoP key
    /// it is bound to, if the provider bound it.
    StepUp {
        token: AccessToken,
        sender: Option<DpopKey>,
    },
    /// A token given as it is, used without refresh or step-up (the demo replays a spent
    /// step-up token this way, as a thief would).
    Fixed(AccessToken),
}

impl Credential {
    pub fn access_token(&self) -> &AccessToken {
        match self {
            Credential::Env(t) | Credential::StepUp { token: t, .. } | Credential::Fixed(t) => t,
            Credential::Stored { bundle, .. } => &bundle.access_token,
        }
    }

    /// The DPoP key the token is bound to: every request with it carries a proof by this
    /// key (RFC 9449 §7). `BANK_TOKEN` and fixed tokens are bearer tokens.
    pub fn sender(&self) -> Option<&DpopKey> {
        match self {
            Credential::Stored { bundle, .. } => bundle.dpop_key.as_ref(),
            Credential::StepUp { sender, .. } => sender.as_ref(),
            Credential::Env(_) | Credential::Fixed(_) => None,
        }
    }

    /// The stored login, when this is it.
    pub fn stored_bundle(&self) -> Option<&TokenBundle> {
        match self {
            Credential::Stored { bundle, .. } => Some(bundle.as_ref()),
            _ => None,
        }
    }
}

impl Credential {
    /// The same credential for a second send of the same request (the DPoP layer's nonce
    /// retry). Not `Clone`: nothing outside the client keeps a step-up token around.
    pub(super) fn for_retry(&self) -> Credential {
        match self {
            Credential::Env(t) => Credential::Env(t.clone()),
            Credential::Stored { bundle, storage } => Credential::Stored {
                bundle: bundle.clone(),
                storage: storage.clone(),
            },
            Credential::StepUp { token, sender } => Credential::StepUp {
                token: token.clone(),
                sender: sender.clone(),
            },
            Credential::Fixed(t) => Credential::Fixed(t.clone()),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Env(_) => "Credential::Env([redacted])",
            Credential::Stored { .. } => "Credential::Stored([redacted])",
            Credential::StepUp { .. } => "Credential::StepUp([redacted])",
            Credential::Fixed(_) => "Credential::Fixed([redacted])",
        })
    }
}

/// One request on its way down the stack.
#[derive(Debug)]
pub struct ApiRequest {
    pub operation: Operation,
    /// Set by the credentials layer unless a layer above chose one (the step-up retry).
    pub credential: Option<Credential>,
    /// The DPoP proof for this one send, set by the DPoP layer when the token is bound.
    pub proof: Option<String>,
}

impl ApiRequest {
    pub fn new(operation: Operation) -> ApiRequest {
        ApiRequest {
            operation,
            credential: None,
            proof: None,
        }
    }

    /// The same request, unsigned, for a second send.
    pub(super) fn for_retry(&self) -> ApiRequest {
        ApiRequest {
            operation: self.operation.clone(),
            credential: self.credential.as_ref().map(Credential::for_retry),
            proof: None,
        }
    }

    pub fn with_credential(mut self, credential: Credential) -> ApiRequest {
        self.credential = Some(credential);
        self
    }

    /// A copy of the stored login this request carries, if it carries one: what a retry
    /// layer refreshes, or binds a step-up to, once the answer is in.
    pub fn stored_login(&self) -> Option<TokenBundle> {
        self.credential
            .as_ref()
            .and_then(Credential::stored_bundle)
            .cloned()
    }

    /// Whether the token is `BANK_TOKEN`'s, which is never refreshed or stepped up.
    pub fn is_from_env(&self) -> bool {
        matches!(self.credential, Some(Credential::Env(_)))
    }
}

/// A successful answer.
#[derive(Clone, Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    /// `Idempotent-Replayed: true`.
    pub replayed: bool,
    /// `DPoP-Nonce`: the nonce the API wants in the next proof (RFC 9449 §9).
    pub dpop_nonce: Option<String>,
    /// The answer to a resend after the first answer was lost (`resend::Resend`).
    pub recovered: bool,
}
