//! Step-up authentication (DESIGN.md "The step-up flow", STYLE rule 8): a retry layer around
//! one bank API call, and the one function that obtains the stronger token.
//!
//! [`call_with_step_up`] makes the call with the everyday token (via [`Ctx::try_call_api`],
//! which already handles an expired or revoked token with one refresh). When the API answers
//! with a step-up challenge — `403 insufficient_scope` (RFC 6750 §3.1) or
//! `401 insufficient_user_authentication` (RFC 9470 §3) — it runs [`authorize_step_up`] with
//! the challenge's parameters and retries the *same* call exactly once, so a transfer keeps
//! its `Idempotency-Key`. A second challenge is final: no loop. The step-up token is a
//! [`StepUpToken`], a type that has no way into the token store: it lives for this one
//! request and is dropped with it, so the keyring keeps holding the everyday token only.
//! The layer is generic over the call; the wording of failures is the command's business.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use oauth2::AccessToken;

use crate::api::ClientError;
use crate::challenge::{StepUpChallenge, StepUpReason};
use crate::error::CliError;
use crate::oauth::{self, AuthParams, Browser, Interaction, OAuthError};
use crate::session::{Credential, Ctx};

/// A token obtained by step-up: used for one request, never stored, never printed.
///
/// Deliberately neither `Clone` nor `Serialize`, and unrelated to `TokenBundle`, so it
/// cannot end up in the keyring or a file by accident.
pub struct StepUpToken(AccessToken);

impl StepUpToken {
    pub fn access_token(&self) -> &AccessToken {
        &self.0
    }
}

impl fmt::Debug for StepUpToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StepUpToken([redacted])")
    }
}

/// What the operation needs and how the person is reached.
pub struct StepUp<'a> {
    /// The scope the operation needs (`transfer:funds`); always requested.
    pub scope: &'a str,
    /// What the person is doing, for the message: "transfer funds".
    pub purpose: &'a str,
    pub browser: &'a Browser,
    /// How long to wait for the authorization (including MFA approval).
    pub timeout: Duration,
}

/// The authorization request parameters for a challenge: `openid`, the operation's scope
/// and any scope the challenge names (but never `offline_access`: a step-up token comes
/// without a refresh token), plus RFC 9470's `acr_values` and `max_age` when present.
pub fn step_up_params(challenge: &StepUpChallenge, required_scope: &str) -> AuthParams {
    let mut scopes = vec!["openid".to_owned(), required_scope.to_owned()];
    for s in &challenge.scope {
        if s != "offline_access" && !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    AuthParams {
        scopes,
        acr_values: challenge.acr_values.clone(),
        max_age: challenge.max_age,
        prompt_login: false,
    }
}

/// Runs the interactive authorization a step-up challenge asks for (loopback redirect,
/// browser, MFA approval on the authorization server) and returns the stronger token.
/// Nothing is written anywhere: a refresh token, should a provider send one, is dropped.
pub async fn authorize_step_up(
    ctx: &Ctx,
    challenge: &StepUpChallenge,
    step_up: &StepUp<'_>,
) -> Result<StepUpToken, OAuthError> {
    let params = step_up_params(challenge, step_up.scope);
    ctx.ui.status(&format!(
        "Step-up required to {} — approve the request on your authenticator",
        step_up.purpose
    ));
    ctx.ui.debug(&format!(
        "step-up: requesting scope `{}`{}{}",
        params.scopes.join(" "),
        if params.acr_values.is_empty() {
            String::new()
        } else {
            format!(", acr_values `{}`", params.acr_values.join(" "))
        },
        params
            .max_age
            .map(|m| format!(", max_age {m}"))
            .unwrap_or_default()
    ));
    let metadata = ctx.metadata().await?;
    let tokens = oauth::authorize(
        &ctx.http,
        &ctx.profile,
        &metadata,
        &params,
        Interaction {
            ui: &ctx.ui,
            browser: step_up.browser,
            timeout: step_up.timeout,
            callback_port: ctx.profile.callback_port,
            waiting_message: format!(
                "Waiting for approval to {} on your authenticator… (Ctrl-C to cancel)",
                step_up.purpose
            ),
        },
    )
    .await?;
    Ok(StepUpToken(tokens.access_token))
}

/// Why a call with step-up failed. The command turns these into messages and exit codes.
#[derive(Debug)]
pub enum Failure {
    /// Our own credentials: not logged in, refresh failed, rejected after refresh.
    Cli(CliError),
    /// Step-up is needed but cannot run here.
    NotPossible {
        challenge: StepUpChallenge,
        reason: NotPossible,
    },
    /// The step-up authorization did not produce a token (denied, timed out, cancelled…).
    Authorization(OAuthError),
    /// The API's answer to the call (after the step-up when `stepped_up`).
    Api {
        error: ClientError,
        stepped_up: bool,
    },
}

/// Why step-up cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotPossible {
    /// `BANK_TOKEN` supplies the credentials: the environment, not a person, is in charge,
    /// so the CLI does not start an interactive flow behind its back.
    EnvToken,
    /// `--no-input` and no browser can be opened: nobody could approve the request.
    NoInputNoBrowser,
}

/// A successful call.
#[derive(Debug)]
pub struct Outcome<T> {
    pub value: T,
    /// Whether a step-up was needed.
    pub stepped_up: bool,
}

/// Makes `call` with the everyday token; on a step-up challenge, authorizes and retries it
/// once with the step-up token. `call` must be repeatable with the same effect (for a
/// transfer: the same body and `Idempotency-Key`).
pub async fn call_with_step_up<T, F, Fut>(
    ctx: &Ctx,
    step_up: &StepUp<'_>,
    call: F,
) -> Result<Outcome<T>, Failure>
where
    F: Fn(AccessToken) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let (first, credential) = ctx.try_call_api(&call).await.map_err(Failure::Cli)?;
    let challenge = match first {
        Ok(value) => {
            return Ok(Outcome {
                value,
                stepped_up: false,
            });
        }
        Err(ClientError::StepUpRequired(challenge)) => challenge,
        Err(error) => {
            return Err(Failure::Api {
                error,
                stepped_up: false,
            });
        }
    };
    ctx.ui.debug(&format!(
        "the bank API asked for step-up ({:?})",
        challenge.reason
    ));
    if matches!(credential, Credential::Env(_)) {
        return Err(Failure::NotPossible {
            challenge,
            reason: NotPossible::EnvToken,
        });
    }
    // `--no-input` forbids questions, not the browser: like `gh`, an authorization that a
    // browser can carry out (BANK_BROWSER, BROWSER, a desktop session) still runs. Only when
    // no browser can be opened would it wait for a person who was told not to be asked.
    if ctx.ui.no_input() && !can_open_browser(step_up.browser) {
        return Err(Failure::NotPossible {
            challenge,
            reason: NotPossible::NoInputNoBrowser,
        });
    }
    let token = authorize_step_up(ctx, &challenge, step_up)
        .await
        .map_err(Failure::Authorization)?;
    // Exactly one retry with the step-up token; whatever the API says now is final.
    match call(token.access_token().clone()).await {
        Ok(value) => Ok(Outcome {
            value,
            stepped_up: true,
        }),
        Err(error) => Err(Failure::Api {
            error,
            stepped_up: true,
        }),
    }
}

/// Whether `browser` can show the authorization page without a person copying the URL.
fn can_open_browser(browser: &Browser) -> bool {
    match browser {
        Browser::Command(_) | Browser::InProcess(_) => true,
        Browser::None => false,
        Browser::System => {
            cfg!(any(target_os = "macos", target_os = "windows"))
                || ["DISPLAY", "WAYLAND_DISPLAY"]
                    .iter()
                    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        }
    }
}

/// What the API wants, in words, naming the scope or the authentication it asked for.
pub fn describe_requirement(challenge: &StepUpChallenge, required_scope: &str) -> String {
    match challenge.reason {
        StepUpReason::InsufficientScope => {
            let scopes = if challenge.scope.is_empty() {
                required_scope.to_owned()
            } else {
                challenge.scope.join(" ")
            };
            format!("a token with the `{scopes}` scope")
        }
        StepUpReason::InsufficientUserAuthentication => {
            let mut what = "a stronger or more recent sign-in".to_owned();
            if !challenge.acr_values.is_empty() {
                what.push_str(&format!(
                    " (acr_values `{}`",
                    challenge.acr_values.join(" ")
                ));
                match challenge.max_age {
                    Some(m) => what.push_str(&format!(", max_age {m}s)")),
                    None => what.push(')'),
                }
            } else if let Some(m) = challenge.max_age {
                what.push_str(&format!(" (max_age {m}s)"));
            }
            what
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(
        reason: StepUpReason,
        scope: &[&str],
        acr: &[&str],
        max_age: Option<u64>,
    ) -> StepUpChallenge {
        StepUpChallenge {
            reason,
            scope: scope.iter().map(|s| s.to_string()).collect(),
            acr_values: acr.iter().map(|s| s.to_string()).collect(),
            max_age,
            description: None,
        }
    }

    #[test]
    fn params_follow_the_challenge() {
        let p = step_up_params(
            &challenge(
                StepUpReason::InsufficientScope,
                &["transfer:funds", "offline_access"],
                &[],
                None,
            ),
            "transfer:funds",
        );
        assert_eq!(p.scopes, ["openid", "transfer:funds"]);
        assert!(p.acr_values.is_empty());
        assert_eq!(p.max_age, None);

        let mfa = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
        let p = step_up_params(
            &challenge(
                StepUpReason::InsufficientUserAuthentication,
                &[],
                &[mfa],
                Some(300),
            ),
            "transfer:funds",
        );
        assert_eq!(p.scopes, ["openid", "transfer:funds"]);
        assert_eq!(p.acr_values, [mfa]);
        assert_eq!(p.max_age, Some(300));
        assert!(!p.prompt_login);
    }

    #[test]
    fn requirements_name_the_scope_or_the_authentication() {
        assert_eq!(
            describe_requirement(
                &challenge(StepUpReason::InsufficientScope, &[], &[], None),
                "transfer:funds"
            ),
            "a token with the `transfer:funds` scope"
        );
        assert_eq!(
            describe_requirement(
                &challenge(
                    StepUpReason::InsufficientUserAuthentication,
                    &[],
                    &["urn:mfa"],
                    Some(300)
                ),
                "transfer:funds"
            ),
            "a stronger or more recent sign-in (acr_values `urn:mfa`, max_age 300s)"
        );
    }

    #[test]
    fn step_up_tokens_do_not_print() {
        let t = StepUpToken(AccessToken::new("eyJ.secret.sig".into()));
        assert_eq!(format!("{t:?}"), "StepUpToken([redacted])");
    }
}
