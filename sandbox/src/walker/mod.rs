//! A scripted person with a browser: walks the sandbox's login pages over HTTP.
//!
//! `bank demo` uses it where no real browser can be opened (no display, SSH, `--yes`), the
//! end-to-end tests' `bank-test-browser` wraps it, and the benchmark driver mints its tokens
//! with it, so there is exactly one copy of this logic, next to the pages it reads.
//! It does what a person does, over real HTTP with a cookie jar and without following
//! redirects on its own (each hop is observed): open the authorization URL, fill in the login
//! form (every hidden input — the CSRF token among them — plus `username`/`password`), wait on
//! the MFA page by polling its `data-mfa-status-url` and then follow its
//! `data-mfa-continue-url` (what the page's script does), and stop at the loopback callback.
//! [`Walker::walk_to_callback`] returns that callback URL without fetching it, so the caller
//! decides how to deliver it ([`Walker::deliver`]); the tests use that gap to tamper with
//! `state`. [`Walker::walk_device`] does the same for the device flow's pages: it enters the
//! user code (pre-filled from `verification_uri_complete`, or the one given), signs in, waits
//! out the MFA page, reads the approval page and presses Approve or Deny, and returns what
//! the final page says (`data-device-result`). It knows the sandbox's pages
//! (`templates/*.html`: the forms' shapes and `data-*` markers), not any provider's: a real
//! provider gets a real browser. The HTML scanning is in `html`.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};

use html::{element_text, find_tags, login_form};

mod html;

/// A password typed into the login form; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("invalid URL")]
    Url(#[from] url::ParseError),
    #[error("cannot set up HTTP")]
    Setup(#[source] reqwest::Error),
    #[error("request to {path} failed")]
    Http {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("redirect from {path} without a usable Location header")]
    NoLocation { path: String },
    #[error("the login form rejected the credentials")]
    LoginRejected,
    #[error("the MFA page has no continue URL")]
    NoContinueUrl,
    #[error("the MFA request was still pending after {}s", .0.as_secs())]
    MfaTimeout(Duration),
    #[error("stuck on {path} ({status}): no form, no MFA page, no redirect")]
    Stuck { path: String, status: StatusCode },
    #[error("too many steps without reaching the callback")]
    TooManySteps,
    #[error("the device page refused the user code")]
    UserCodeRejected,
    #[error("the device page asks for a user code and none was given")]
    NoUserCode,
    #[error("the walk ended on the device page ({result}), not at the callback")]
    EndedOnDevicePage { result: String },
    #[error("the walk reached the callback, not the end of a device authorization")]
    EndedAtCallback,
}

/// What the walker answers on the device page's approval form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve,
    Deny,
}

/// Where a walk ended.
enum End {
    /// The next hop is the loopback callback (not fetched).
    Callback(Url),
    /// A device authorization's page says how it ended (`data-device-result`).
    Device(String),
}

/// One thing the walker did, for a log or a narration. Paths only: query strings carry codes
/// and states, which are not for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Open {
        path: String,
    },
    Get {
        path: String,
        status: u16,
    },
    Post {
        path: String,
        status: u16,
    },
    SubmittingLogin,
    /// The waiting page: what it says is being approved ("Pay bob 25.00 USD", when the
    /// request is bound to a payment) and the number to type on the authenticator, read
    /// from the page as a person reads them.
    MfaWaiting {
        payment: Option<String>,
        code: Option<String>,
    },
    /// The MFA request's final status: `approved`, `denied` or `expired`.
    MfaDone {
        status: String,
    },
    Callback {
        status: u16,
    },
    /// The device page's user code, as entered (or found pre-filled).
    DeviceCode {
        code: String,
    },
    /// The device approval page: what it says is authorized, and the button pressed.
    DeviceConsent {
        what: Option<String>,
        pressed: String,
    },
    /// How the device authorization ended in the browser: `approved`, `denied`, ….
    DeviceDone {
        result: String,
    },
}

/// The tests' browser log format (`tests/common`, `tests/test_login.rs` read these lines).
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Open { path } => write!(f, "open {path}"),
            Step::Get { path, status } => write!(f, "GET {path} -> {status}"),
            Step::Post { path, status } => write!(f, "POST {path} -> {status}"),
            Step::SubmittingLogin => f.write_str("login: submitting form"),
            Step::MfaWaiting { payment, code } => {
                f.write_str("mfa: waiting")?;
                if let Some(payment) = payment {
                    write!(f, "; the page says: {payment}")?;
                }
                if let Some(code) = code {
                    write!(f, "; number {code}")?;
                }
                Ok(())
            }
            Step::MfaDone { status } => write!(f, "mfa: {status}"),
            Step::Callback { status } => write!(f, "callback {status}"),
            Step::DeviceCode { code } => write!(f, "device: code {code}"),
            Step::DeviceConsent { what, pressed } => {
                f.write_str("device: consent")?;
                if let Some(what) = what {
                    write!(f, "; the page says: {what}")?;
                }
                write!(f, "; pressed {pressed}")
            }
            Step::DeviceDone { result } => write!(f, "device: {result}"),
        }
    }
}

/// Walks login pages as one user, with its own cookie jar (one browser profile). Clones
/// share the jar: the same profile, e.g. on several connections at once.
#[derive(Clone)]
pub struct Walker {
    http: reqwest::Client,
    username: String,
    password: Password,
    mfa_deadline: Duration,
    poll_every: Duration,
    user_code: Option<String>,
    device_decision: DeviceDecision,
}

impl Walker {
    pub fn new(username: &str, password: Password) -> Result<Walker, WalkError> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            // Every hop is taken by hand so it can be observed (and so a redirect to the
            // loopback callback is not fetched before the caller decides to deliver it).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(WalkError::Setup)?;
        Ok(Walker {
            http,
            username: username.to_owned(),
            password,
            mfa_deadline: Duration::from_secs(300),
            poll_every: Duration::from_millis(100),
            user_code: None,
            device_decision: DeviceDecision::Approve,
        })
    }

    /// How long to wait on the MFA page before giving up (default 5 minutes; the sandbox
    /// expires requests sooner, and an expired request ends the wait too).
    pub fn mfa_deadline(mut self, deadline: Duration) -> Walker {
        self.mfa_deadline = deadline;
        self
    }

    /// The user code to type on the device page (RFC 8628 `verification_uri`); without it
    /// the walker takes the one pre-filled from `verification_uri_complete`.
    pub fn user_code(mut self, code: &str) -> Walker {
        self.user_code = Some(code.to_owned());
        self
    }

    /// What to answer on the device approval page (default: approve).
    pub fn device_decision(mut self, decision: DeviceDecision) -> Walker {
        self.device_decision = decision;
        self
    }

    /// Follows `start` (an authorization URL) until the next hop is the loopback callback
    /// (`/callback`), and returns that URL without fetching it.
    pub async fn walk_to_callback(
        &self,
        start: &str,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<Url, WalkError> {
        match self.walk(start, observe).await? {
            End::Callback(url) => Ok(url),
            End::Device(result) => Err(WalkError::EndedOnDevicePage { result }),
        }
    }

    /// Follows `start` (a device's `verification_uri_complete` or `verification_uri`): enters
    /// the user code, signs in, waits out the MFA page, answers the approval page, and returns
    /// how the device page says it ended (`approved`, `denied`, …).
    pub async fn walk_device(
        &self,
        start: &str,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<String, WalkError> {
        match self.walk(start, observe).await? {
            End::Device(result) => Ok(result),
            End::Callback(_) => Err(WalkError::EndedAtCallback),
        }
    }

    async fn walk(
        &self,
        start: &str,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<End, WalkError> {
        let mut url = Url::parse(start)?;
        observe(&Step::Open {
            path: url.path().to_owned(),
        });
        let mut pending_post: Option<Vec<(String, String)>> = None;
        let mut submitted = 0;
        let mut codes_entered = 0;
        for _ in 0..30 {
            if url.path() == "/callback" {
                return Ok(End::Callback(url));
            }
            let path = url.path().to_owned();
            let http_err = |source| WalkError::Http {
                path: path.clone(),
                source: reqwest::Error::without_url(source),
            };
            let response = match pending_post.take() {
                Some(form) => {
                    let r = self
                        .http
                        .post(url.clone())
                        .form(&form)
                        .send()
                        .await
                        .map_err(http_err)?;
                    observe(&Step::Post {
                        path: path.clone(),
                        status: r.status().as_u16(),
                    });
                    r
                }
                None => {
                    let r = self.http.get(url.clone()).send().await.map_err(http_err)?;
                    observe(&Step::Get {
                        path: path.clone(),
                        status: r.status().as_u16(),
                    });
                    r
                }
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| WalkError::NoLocation { path: path.clone() })?;
                url = url.join(location)?;
                continue;
            }
            let page_url = url.clone();
            let html = response.text().await.map_err(http_err)?;
            if let Some(main) = find_tags(&html, "main")
                .into_iter()
                .find(|a| a.contains_key("data-mfa-status-url"))
            {
                let status_url = page_url.join(&main["data-mfa-status-url"])?;
                let continue_url = page_url.join(
                    main.get("data-mfa-continue-url")
                        .ok_or(WalkError::NoContinueUrl)?,
                )?;
                observe(&Step::MfaWaiting {
                    payment: element_text(&html, "data-payment"),
                    code: element_text(&html, "data-binding-code"),
                });
                let outcome = self.poll_mfa(&status_url).await?;
                observe(&Step::MfaDone { status: outcome });
                url = continue_url;
                continue;
            }
            if let Some(result) = html::marker_value(&html, "data-device-result") {
                observe(&Step::DeviceDone {
                    result: result.clone(),
                });
                return Ok(End::Device(result));
            }
            if let Some(form) = html::marked_form(&html, "data-device-entry") {
                // A code the page sent back was refused; typing it again will not help.
                if (codes_entered > 0 && status == StatusCode::BAD_REQUEST) || codes_entered >= 2 {
                    return Err(WalkError::UserCodeRejected);
                }
                codes_entered += 1;
                let code = match &self.user_code {
                    Some(code) => code.clone(),
                    None => form
                        .value("user_code")
                        .filter(|c| !c.is_empty())
                        .ok_or(WalkError::NoUserCode)?,
                };
                observe(&Step::DeviceCode { code: code.clone() });
                let mut fields = form.hidden;
                fields.push(("user_code".into(), code));
                url = page_url.join(&form.action)?;
                pending_post = Some(fields);
                continue;
            }
            if let Some(form) = html::marked_form(&html, "data-device-consent") {
                let (value, pressed) = match self.device_decision {
                    DeviceDecision::Approve => (
                        "approve",
                        element_text(&html, "data-approve").unwrap_or_else(|| "approve".into()),
                    ),
                    DeviceDecision::Deny => ("deny", "Deny".to_owned()),
                };
                observe(&Step::DeviceConsent {
                    what: element_text(&html, "data-payment"),
                    pressed,
                });
                let mut fields = form.hidden;
                fields.push(("decision".into(), value.into()));
                url = page_url.join(&form.action)?;
                pending_post = Some(fields);
                continue;
            }
            if let Some(form) = login_form(&html) {
                // A form that keeps coming back (wrong password; a sign-in bound to
                // another user) will not take these credentials. One retry covers a form
                // that had merely expired.
                if status == StatusCode::UNAUTHORIZED || submitted >= 2 {
                    return Err(WalkError::LoginRejected);
                }
                submitted += 1;
                let mut fields = form.hidden;
                fields.push(("username".into(), self.username.clone()));
                fields.push(("password".into(), self.password.0.clone()));
                observe(&Step::SubmittingLogin);
                url = page_url.join(&form.action)?;
                pending_post = Some(fields);
                continue;
            }
            return Err(WalkError::Stuck { path, status });
        }
        Err(WalkError::TooManySteps)
    }

    /// Delivers the callback to the CLI's loopback listener; returns the HTTP status.
    pub async fn deliver(
        &self,
        callback: &Url,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<u16, WalkError> {
        let response = self
            .http
            .get(callback.clone())
            .send()
            .await
            .map_err(|source| WalkError::Http {
                path: callback.path().to_owned(),
                source: source.without_url(),
            })?;
        let status = response.status().as_u16();
        observe(&Step::Callback { status });
        Ok(status)
    }

    /// Polls the waiting page's status URL, as its script does, until it is not `pending`.
    async fn poll_mfa(&self, status_url: &Url) -> Result<String, WalkError> {
        let deadline = Instant::now() + self.mfa_deadline;
        let http_err = |source: reqwest::Error| WalkError::Http {
            path: status_url.path().to_owned(),
            source: source.without_url(),
        };
        loop {
            let body: serde_json::Value = self
                .http
                .get(status_url.clone())
                .send()
                .await
                .map_err(http_err)?
                .json()
                .await
                .map_err(http_err)?;
            let status = body
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .to_owned();
            if status != "pending" {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(WalkError::MfaTimeout(self.mfa_deadline));
            }
            tokio::time::sleep(self.poll_every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_does_not_print() {
        assert_eq!(
            format!("{:?}", Password::new("wonderland")),
            "Password([redacted])"
        );
    }
}
