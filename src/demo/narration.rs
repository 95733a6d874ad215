//! How `bank demo` tells its story: the [`Narrator`]'s lines on stderr, and the
//! [`StoryObserver`], which watches the bank client's events — the very requests,
//! responses, challenges and step-up the CLI's own commands go through — and turns them
//! into the narration's exchanges and step headings. The demo has no second copy of the
//! transfer or step-up sequence: it only listens to the client.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use bank_protocol::group_thousands;
use oauth2::AccessToken;
use serde_json::Value;

use crate::challenge::StepUpReason;
use crate::client::{Credential, Event, Observer, Operation};
use crate::oauth;
use crate::ui::{Ui, status_line};

/// How many steps the story has.
pub const STEPS: usize = 7;

/// Narration on stderr.
#[derive(Clone, Copy)]
pub struct Narrator<'a> {
    pub ui: &'a Ui,
}

impl Narrator<'_> {
    pub fn title(&self, text: &str) {
        self.ui.status("");
        self.ui.status_painted(text, "1");
        self.ui.status("");
    }
    pub fn step(&self, number: usize, text: &str) {
        self.ui.status("");
        self.ui
            .status_painted(&format!("Step {number}/{STEPS}  {text}"), "1;36");
    }
    pub fn line(&self, text: &str) {
        self.ui.status(text);
    }
    pub fn item(&self, text: &str) {
        self.ui.status(&format!("  • {text}"));
    }
    pub fn say(&self, text: &str) {
        self.ui.status(&format!("  {text}"));
    }
    pub fn ok(&self, text: &str) {
        self.ui.success(text);
    }
}

/// Narrates the bank client's events, and remembers what the story checks afterwards.
pub struct StoryObserver<'a> {
    n: Narrator<'a>,
    /// The API's base URL, stripped from the narrated paths.
    base: String,
    /// The step-up challenge the API sent, if any.
    pub challenge: Cell<Option<StepUpReason>>,
    /// The step-up token, kept to replay it in step 6 as a thief would.
    pub step_up_token: RefCell<Option<AccessToken>>,
}

impl<'a> StoryObserver<'a> {
    pub fn new(n: Narrator<'a>, base: &str) -> StoryObserver<'a> {
        StoryObserver {
            n,
            base: base.trim_end_matches('/').to_owned(),
            challenge: Cell::new(None),
            step_up_token: RefCell::new(None),
        }
    }

    fn path<'u>(&self, url: &'u str) -> &'u str {
        url.strip_prefix(self.base.as_str()).unwrap_or(url)
    }
}

impl Observer for StoryObserver<'_> {
    fn event(&self, event: &Event<'_>) {
        let n = self.n;
        match event {
            Event::Request {
                method,
                url,
                operation,
                credential,
                dpop_jkt,
            } => {
                // The retry of step 5; step 6's thief has taken the token by then.
                if matches!(credential, Some(Credential::StepUp { .. }))
                    && self.step_up_token.borrow().is_some()
                {
                    n.step(
                        5,
                        "Retry the transfer once: same Idempotency-Key, new token",
                    );
                }
                // The scheme as sent: a bound token travels as `DPoP`, with its proof.
                let token = credential
                    .map(|c| match dpop_jkt {
                        Some(jkt) => format!(
                            "  Authorization: DPoP {}  DPoP: proof by key {jkt}",
                            redact(c.access_token().secret())
                        ),
                        None => format!(
                            "  Authorization: Bearer {}",
                            redact(c.access_token().secret())
                        ),
                    })
                    .unwrap_or_default();
                let body = match operation {
                    Operation::Transfer { body, key } => format!(
                        "  {}  Idempotency-Key: {key}",
                        serde_json::to_string(body).unwrap_or_default()
                    ),
                    _ => String::new(),
                };
                n.say(&format!("→ {method} {}{body}{token}", self.path(url)));
            }
            Event::Response {
                method,
                url,
                status,
                www_authenticate,
            } => {
                n.say(&format!(
                    "← {method} {}: {}",
                    self.path(url),
                    status_line(*status)
                ));
                if let Some(challenge) = www_authenticate {
                    n.say(&format!("  WWW-Authenticate: {challenge}"));
                }
            }
            Event::Challenge(challenge) => {
                self.challenge.set(Some(challenge.reason));
                if challenge.reason == StepUpReason::InsufficientScope {
                    n.say(&format!(
                        "The API refuses (insufficient_scope): this token may read, not move money. \
                         The challenge names what is missing: {}.",
                        challenge.scope.join(" ")
                    ));
                }
            }
            Event::StepUpAuthorizing { params, .. } => {
                n.step(4, "Step up: authorize again for transfer:funds, with MFA");
                n.say(&format!(
                    "bank asks the authorization server for scope \"{}\" — a second authorization \
                     through the same browser. Its rule for transfer:funds: MFA, every time.",
                    params.scopes.join(" ")
                ));
                if let Some(payment) = &params.authorization_details {
                    n.say(&format!(
                        "It also asks for exactly this transfer (RFC 9396 authorization_details, \
                         payment_initiation): {}. The push will say so, the browser shows a \
                         number the phone must type, and the token will pay nothing else.",
                        payment.action()
                    ));
                }
            }
            Event::StepUpAuthorized { access_token } => {
                n.ok("Step-up token received.");
                n.say(&format!(
                    "access token {} — {}",
                    redact(access_token.secret()),
                    describe_claims(access_token.secret())
                ));
                n.say("No refresh token comes with it. It is kept in memory for this one request and never stored.");
                *self.step_up_token.borrow_mut() = Some((*access_token).clone());
            }
            Event::Refresh(_) | Event::AnswerLost { .. } => {}
        }
    }
}

/// A token shown as its first characters only: a JWT's first bytes are its (public) header.
pub fn redact(token: &str) -> String {
    let prefix: String = token.chars().take(10).collect();
    format!("{prefix}…")
}

/// A JWT's display-relevant claims, decoded WITHOUT verification: display only (the bank API
/// verifies every token it accepts).
pub fn describe_claims(jwt: &str) -> String {
    let Some(claims) = oauth::claims(jwt) else {
        return "an opaque token".into();
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("?");
    let amr = claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("+")
        })
        .unwrap_or_else(|| "?".into());
    let lifetime = match (
        claims.get("exp").and_then(Value::as_i64),
        claims.get("iat").and_then(Value::as_i64),
    ) {
        (Some(exp), Some(iat)) => crate::time_text::humanize(Duration::from_secs(
            u64::try_from(exp.saturating_sub(iat)).unwrap_or(0),
        )),
        _ => "?".into(),
    };
    format!(
        "scope \"{}\", amr {amr}, acr {}, lives {lifetime}",
        text("scope"),
        text("acr")
    )
}

/// `1000.00` + `USD` → `1,000.00 USD` (grouped, never a float).
pub fn money(amount: &str, currency: &str) -> String {
    format!("{} {currency}", group_thousands(amount))
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn money_formats_without_floats() {
        assert_eq!(money("975.00", "USD"), "975.00 USD");
        assert_eq!(money("1000.00", "USD"), "1,000.00 USD");
        assert_eq!(money("0.05", ""), "0.05");
    }

    #[test]
    fn tokens_show_a_prefix_only() {
        assert_eq!(redact("eyJhbGciOiJFUzI1NiJ9.payload.sig"), "eyJhbGciOi…");
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"scope": "openid transfer:funds", "amr": ["pwd", "mfa"], "acr": "x", "iat": 100, "exp": 400})
                .to_string(),
        );
        assert_eq!(
            describe_claims(&format!("h.{payload}.s")),
            "scope \"openid transfer:funds\", amr pwd+mfa, acr x, lives 5m"
        );
        assert_eq!(describe_claims("opaque"), "an opaque token");
    }
}
