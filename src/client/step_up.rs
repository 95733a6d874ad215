//! Layer 2: step-up authentication — the whole path of a transfer that needs more than the
//! everyday token, in one place.
//!
//! 1. The operation goes down the stack with the everyday token (the layer below already
//!    refreshes an expired or revoked one).
//! 2. The API answers with a step-up challenge: `403 insufficient_scope` (RFC 6750 §3.1) or
//!    `401 insufficient_user_authentication` (RFC 9470 §3), naming the scope, `acr_values`
//!    or `max_age` it wants.
//! 3. If a person can approve it — not for `BANK_TOKEN`, where the environment is in charge,
//!    and not with `--no-input` when no browser can be opened — [`StepUp::authorize`] runs
//!    one interactive authorization for the operation's scope plus what the challenge
//!    named: loopback redirect, browser, and the authorization server's MFA rule.
//! 4. The step-up must be signed by the logged-in user: the request carries `login_hint`
//!    (OIDC Core §3.1.2.1), and the `sub` of the step-up's ID token must equal the `sub`
//!    stored at login. Otherwise someone else's approval (a second account in the same
//!    browser, a colleague at the keyboard) would move *their* money under a command the
//!    person ran as themselves. A login that recorded no `sub` cannot be bound, so the
//!    step-up is refused: there is no unbound step-up.
//! 5. A transfer's step-up asks for exactly that transfer when the provider can say so
//!    (RFC 9396 `authorization_details` of type `payment_initiation`, listed in its
//!    metadata): the detail is built from the very body that is retried — amount,
//!    currency, recipient, memo, and the API's identifier as `locations` — so what the person
//!    approves on the authenticator is what the bank executes, and the token is good for
//!    nothing else. A provider without RAR gets the scope alone, as before. A batch asks for
//!    exactly that batch ([`approval_for`]): its payments one by one when they are few, else
//!    one `payment_batch` bound by the batch's digest — which carries the whole list, so it
//!    only travels in a pushed request (RFC 9126) or a device authorization request, never
//!    in a browser's address bar. A batch is never approved by the scope alone: a provider
//!    that cannot bind it is refused before anything opens.
//! 6. The *same* operation is retried exactly once with the step-up token — a transfer
//!    keeps its `Idempotency-Key`, so it cannot happen twice — and whatever the API says
//!    then is final: no loop. The token is a [`Credential::StepUp`], which has no way into
//!    the token store: it lives for this one request and is dropped with it.

use std::time::Duration;

use bank_protocol::scopes::{OFFLINE_ACCESS, OPENID, TRANSFER_FUNDS};
use bank_protocol::{Approval, BatchOrder, PAYMENT_INITIATION, PaymentInitiation, TransferOrder};

use super::observer::Event;
use super::request::{ApiRequest, ApiResponse, Credential, Operation};
use super::session::Session;
use super::{ApiError, ClientError, NotPossible, StepUpError};
use super::{BoxFuture, Layer, Next};
use crate::challenge::StepUpChallenge;
use crate::oauth::device;
use crate::oauth::{self, AuthParams, Browser, Interaction, Person};
use crate::token_store::TokenBundle;

/// How a step-up reaches the person.
pub struct StepUpOptions<'p> {
    pub person: &'p dyn Person,
    pub browser: Browser,
    /// How long to wait for the authorization, MFA approval included.
    pub timeout: Duration,
    /// `--no-input`: a step-up that would wait for a browser nobody can open fails at once.
    pub no_input: bool,
}

pub struct StepUp<'s> {
    session: &'s Session,
    options: StepUpOptions<'s>,
}

impl<'s> StepUp<'s> {
    pub fn new(session: &'s Session, options: StepUpOptions<'s>) -> StepUp<'s> {
        StepUp { session, options }
    }

    /// Runs the interactive authorization `challenge` asks for and returns the token for the
    /// retry, after checking it was signed by `everyday`'s user. Nothing is written: a
    /// refresh token, should a provider send one, is dropped.
    pub async fn authorize(
        &self,
        challenge: &StepUpChallenge,
        operation: &Operation,
        everyday: &TokenBundle,
        next: &Next<'_>,
    ) -> Result<Credential, StepUpError> {
        if everyday.sub.is_none() {
            return Err(StepUpError::Unbound);
        }
        let metadata = self.session.metadata().await?;
        let profile = &self.session.profile;
        let mut params = step_up_params(challenge, required_scope(operation));
        params.login_hint = everyday.login_hint.clone();
        params.authorization_details = approval_for(
            operation,
            &profile.audience,
            &metadata.authorization_details_types_supported,
            profile.max_inline_payments,
        )?;
        // Decided before anything opens: a batch's list must have a way to travel.
        let flow = device::choose(false, &self.options.browser, &metadata)?;
        check_carrier(&params, flow, profile, &metadata)?;
        // The login's key when it has one; a fresh key binds the step-up token alone.
        let sender = match &everyday.dpop_key {
            Some(key) => Some(key.clone()),
            None => oauth::dpop_key_for(&self.session.profile, &metadata)?,
        };
        let purpose = purpose(operation);
        next.observe(Event::StepUpAuthorizing {
            params: &params,
            purpose,
        });
        let person = self.options.person;
        // The provider decides how the person approves (a push, a code, a number to match):
        // its page says so, so the terminal names only what is being approved.
        person.notice(&notice(params.authorization_details.as_ref(), purpose));
        // Where no browser can be opened, the device flow (when offered), as `bank login`
        // would: the same scope and details, the payment shown on the page.
        let tokens = device::sign_in(
            flow,
            &self.session.http,
            &self.session.profile,
            &metadata,
            &params,
            Interaction {
                person,
                browser: &self.options.browser,
                timeout: self.options.timeout,
                callback_port: self.session.profile.callback_port,
                waiting_message: format!("Waiting for approval to {purpose}… (Ctrl-C to cancel)"),
            },
            sender.as_ref(),
        )
        .await?;
        check_same_user(everyday, &tokens)?;
        next.observe(Event::StepUpAuthorized {
            access_token: &tokens.access_token,
        });
        Ok(Credential::StepUp {
            sender: sender.filter(|_| tokens.bound),
            token: tokens.access_token,
        })
    }
}

impl Layer for StepUp<'_> {
    fn handle<'a>(
        &'a self,
        request: ApiRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<ApiResponse, ClientError>> {
        Box::pin(async move {
            let operation = request.operation.clone();
            let everyday = request.stored_login();
            let from_env = request.is_from_env();
            let challenge = match next.run(request).await {
                Err(ClientError::Api(ApiError::StepUpRequired(challenge))) => challenge,
                other => return other,
            };
            next.observe(Event::Challenge(&challenge));
            if from_env {
                return Err(StepUpError::NotPossible {
                    challenge,
                    reason: NotPossible::EnvToken,
                }
                .into());
            }
            let Some(everyday) = everyday else {
                // A step-up or fixed token was given: it is what it is.
                return Err(ApiError::StepUpRequired(challenge).into());
            };
            // `--no-input` forbids questions, not the browser: like `gh`, an authorization a
            // browser can carry out (BANK_BROWSER, BROWSER, a desktop session) still runs.
            if self.options.no_input && !self.options.browser.can_open() {
                return Err(StepUpError::NotPossible {
                    challenge,
                    reason: NotPossible::NoInputNoBrowser,
                }
                .into());
            }
            let token = self
                .authorize(&challenge, &operation, &everyday, &next)
                .await?;
            // Exactly one retry with the step-up token; whatever the API says now is final.
            next.run(ApiRequest::new(operation).with_credential(token))
                .await
                .map_err(|e| match e {
                    ClientError::Api(e) => ClientError::AfterStepUp(e),
                    other => other,
                })
        })
    }
}

/// What the terminal says before a step-up opens anything.
fn notice(approval: Option<&Approval>, purpose: &str) -> String {
    match approval {
        Some(approval) => match approval.reference() {
            Some(reference) => format!(
                "To {} (reference {reference}), sign in again and approve the payments as your provider asks",
                approval.action()
            ),
            None => format!(
                "To {}, sign in again and approve the payment as your provider asks",
                approval.action()
            ),
        },
        None => {
            format!("Step-up required to {purpose} — approve the request on your authenticator")
        }
    }
}

/// What a step-up for `operation` asks the provider to approve (RFC 9396), given the types
/// it supports: exactly the transfer when it can say so (else the scope alone, as before
/// RAR), and exactly the batch — or an error, since a batch is never approved unbound.
pub fn approval_for(
    operation: &Operation,
    api: &str,
    types: &[String],
    max_inline: usize,
) -> Result<Option<Approval>, StepUpError> {
    match operation {
        Operation::Transfer { .. } => {
            let rar = types.iter().any(|t| t == PAYMENT_INITIATION);
            Ok(payment_for(operation, api)
                .filter(|_| rar)
                .map(|p| Approval::Payments(vec![p])))
        }
        Operation::TransferBatch { body, .. } => {
            let batch = BatchOrder::from_request(body, "", i64::MAX / 100, usize::MAX)
                .ok()
                // Only a body already in the canonical form binds: the bank compares it.
                .filter(|b| b.to_request() == *body)
                .ok_or(StepUpError::BatchNotCanonical)?;
            Ok(Some(Approval::for_batch(
                &batch,
                Some(api),
                types,
                max_inline,
            )?))
        }
        Operation::Balance | Operation::History { .. } => Ok(None),
    }
}

/// A `payment_batch` carries the whole list of payments: far too long for a browser's
/// address bar (and not for its history or a proxy's log), so it travels only in a pushed
/// request or a device authorization request. Checked before anything opens.
fn check_carrier(
    params: &AuthParams,
    flow: device::Flow,
    profile: &crate::config::Profile,
    metadata: &oauth::Metadata,
) -> Result<(), StepUpError> {
    if !matches!(params.authorization_details, Some(Approval::Batch(_)))
        || flow == device::Flow::Device
    {
        return Ok(());
    }
    match oauth::par::endpoint(profile.par, metadata)? {
        Some(_) => Ok(()),
        None => Err(StepUpError::BatchNeedsPush {
            par_offered: metadata.pushed_authorization_request_endpoint.is_some(),
            max_inline: profile.max_inline_payments,
        }),
    }
}

/// The scope an operation needs beyond the everyday token, if any.
pub fn required_scope(operation: &Operation) -> Option<&'static str> {
    match operation {
        Operation::Transfer { .. } | Operation::TransferBatch { .. } => Some(TRANSFER_FUNDS),
        Operation::Balance | Operation::History { .. } => None,
    }
}

/// The RFC 9396 detail for exactly this operation's transfer, for the API whose resource
/// identifier (the token's audience, which the provider and the API both know) is `api`.
/// The body is what is retried, and what the bank will compare with the token; one the
/// contract would refuse (or without a currency, which only the account knows) gets none.
pub fn payment_for(operation: &Operation, api: &str) -> Option<PaymentInitiation> {
    let Operation::Transfer { body, .. } = operation else {
        return None;
    };
    let order = TransferOrder::new(
        &body.to,
        &body.amount,
        body.currency.as_deref()?,
        body.memo.as_deref(),
        i64::MAX,
    )
    .ok()?;
    // Only a body already in the canonical form binds: the bank compares it as sent.
    (order.to_request() == *body).then(|| PaymentInitiation::for_order(&order, Some(api)))
}

/// What the person is doing, for the messages.
fn purpose(operation: &Operation) -> &'static str {
    match operation {
        Operation::Transfer { .. } => "transfer funds",
        Operation::TransferBatch { .. } => "pay the batch",
        Operation::Balance => "read the balance",
        Operation::History { .. } => "read the history",
    }
}

/// The authorization request for a challenge: `openid` (for the binding), the operation's
/// scope and any scope the challenge names — never `offline_access`: a step-up token comes
/// without a refresh token — plus RFC 9470's `acr_values` and `max_age` when present.
pub fn step_up_params(challenge: &StepUpChallenge, required_scope: Option<&str>) -> AuthParams {
    let mut scopes = vec![OPENID.to_owned()];
    scopes.extend(required_scope.map(str::to_owned));
    for s in &challenge.scope {
        if s != OFFLINE_ACCESS && !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    AuthParams {
        scopes,
        acr_values: challenge.acr_values.clone(),
        max_age: challenge.max_age,
        prompt_login: false,
        login_hint: None,
        authorization_details: None,
    }
}

/// The step-up's user must be the everyday login's user (see the module docs).
fn check_same_user(everyday: &TokenBundle, step_up: &oauth::TokenSet) -> Result<(), StepUpError> {
    let Some(expected) = &everyday.sub else {
        return Err(StepUpError::Unbound);
    };
    let Some(found) = &step_up.subject else {
        return Err(StepUpError::UnknownUser);
    };
    if found == expected {
        return Ok(());
    }
    Err(StepUpError::WrongUser {
        expected: everyday
            .username
            .clone()
            .unwrap_or_else(|| expected.clone()),
        found: step_up.username.clone().unwrap_or_else(|| found.clone()),
    })
}

#[cfg(test)]
mod tests;
