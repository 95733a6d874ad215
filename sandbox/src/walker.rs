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
//! `state`. It knows the sandbox's pages (`templates/*.html`: the login form's shape, the
//! waiting page's `data-mfa-*` attributes), not any provider's: a real provider gets a
//! real browser.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};

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
        })
    }

    /// How long to wait on the MFA page before giving up (default 5 minutes; the sandbox
    /// expires requests sooner, and an expired request ends the wait too).
    pub fn mfa_deadline(mut self, deadline: Duration) -> Walker {
        self.mfa_deadline = deadline;
        self
    }

    /// Follows `start` (an authorization URL) until the next hop is the loopback callback
    /// (`/callback`), and returns that URL without fetching it.
    pub async fn walk_to_callback(
        &self,
        start: &str,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<Url, WalkError> {
        let mut url = Url::parse(start)?;
        observe(&Step::Open {
            path: url.path().to_owned(),
        });
        let mut pending_post: Option<Vec<(String, String)>> = None;
        let mut submitted = 0;
        for _ in 0..30 {
            if url.path() == "/callback" {
                return Ok(url);
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

/// The text of the first element carrying attribute `marker`, up to the first closing tag
/// inside it (so `<p data-payment><strong>Pay bob</strong></p>` reads "Pay bob"), with
/// character references decoded and trimmed; `None` without one.
fn element_text(html: &str, marker: &str) -> Option<String> {
    let at = html.find(&format!(" {marker}"))?;
    let content = &html[at + find_tag_end(&html[at..])? + 1..];
    let content = &content[..content.find("</")?];
    let mut text = String::new();
    let mut in_tag = false;
    for c in content.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = unescape(text.trim());
    (!text.is_empty()).then_some(text)
}

struct LoginForm {
    action: String,
    hidden: Vec<(String, String)>,
}

/// The page's `<form method="post">` with a password input, if any.
fn login_form(html: &str) -> Option<LoginForm> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<form")?;
    let end = lower[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form_html = &html[start..end];
    let form = find_tags(form_html, "form").into_iter().next()?;
    if !form
        .get("method")
        .is_some_and(|m| m.eq_ignore_ascii_case("post"))
    {
        return None;
    }
    let inputs = find_tags(form_html, "input");
    if !inputs
        .iter()
        .any(|i| i.get("name").map(String::as_str) == Some("password"))
    {
        return None;
    }
    let hidden = inputs
        .iter()
        .filter(|i| {
            i.get("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
        })
        .filter_map(|i| {
            Some((
                i.get("name")?.clone(),
                i.get("value").cloned().unwrap_or_default(),
            ))
        })
        .collect();
    Some(LoginForm {
        action: form.get("action").cloned().unwrap_or_default(),
        hidden,
    })
}

/// Attributes of every `<name …>` start tag (a small, forgiving tag scanner: the pages are
/// the sandbox's own, so a full HTML parser would not earn its place).
fn find_tags(html: &str, name: &str) -> Vec<HashMap<String, String>> {
    let lower = html.to_ascii_lowercase();
    let needle = format!("<{name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let at = from + i + needle.len();
        from = at;
        if !lower[at..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let Some(close) = find_tag_end(&html[at..]) else {
            break;
        };
        out.push(attributes(&html[at..at + close]));
        from = at + close;
    }
    out
}

fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn attributes(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == '/') {
            i += 1;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' && chars[i] != '/' {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name: String = chars[start..i]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            if i < chars.len() && (chars[i] == '"' || chars[i] == '\'') {
                let q = chars[i];
                i += 1;
                let vs = i;
                while i < chars.len() && chars[i] != q {
                    i += 1;
                }
                value = chars[vs..i].iter().collect();
                i += 1;
            } else {
                let vs = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                value = chars[vs..i].iter().collect();
            }
        }
        out.insert(name, unescape(&value));
    }
    out
}

/// Decodes the character references an HTML escaper emits: `&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&apos;` and numeric ones (`&#34;`, `&#x27;`); anything else stays as is.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| Some((reference(&rest[1..end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_login_form_and_its_hidden_fields() {
        let html = r#"<html><body><form method="POST" action="/login">
            <input type="hidden" name="txn" value="t_1">
            <input type='hidden' name=csrf_token value="a&amp;b">
            <input name="username"><input type="password" name="password">
            </form></body></html>"#;
        let form = login_form(html).expect("a login form");
        assert_eq!(form.action, "/login");
        assert_eq!(
            form.hidden,
            vec![
                ("txn".to_owned(), "t_1".to_owned()),
                ("csrf_token".to_owned(), "a&b".to_owned())
            ]
        );
        assert!(login_form(r#"<form method="get"><input name="password"></form>"#).is_none());
        assert!(login_form(r#"<form method="post"><input name="q"></form>"#).is_none());
    }

    #[test]
    fn finds_the_mfa_page_urls() {
        let html = r#"<main class="x" data-mfa-status-url="/mfa/status?txn=1" data-mfa-continue-url="/mfa/continue?txn=1">"#;
        let main = find_tags(html, "main").into_iter().next().expect("main");
        assert_eq!(main["data-mfa-status-url"], "/mfa/status?txn=1");
        assert_eq!(main["data-mfa-continue-url"], "/mfa/continue?txn=1");
        assert!(find_tags("<mainly>", "main").is_empty());
    }

    #[test]
    fn reads_what_the_waiting_page_says_and_its_number() {
        let html = r#"<p class="payment" data-payment><strong>Pay bob 25.00 USD</strong></p>
            <p>Type <strong class="binding-code" data-binding-code>47</strong></p>"#;
        assert_eq!(
            element_text(html, "data-payment").as_deref(),
            Some("Pay bob 25.00 USD")
        );
        assert_eq!(
            element_text(html, "data-binding-code").as_deref(),
            Some("47")
        );
        assert_eq!(element_text(html, "data-nothing"), None);
        assert_eq!(
            element_text("<b data-payment>Pay o&amp;b</b>", "data-payment").as_deref(),
            Some("Pay o&b")
        );
    }

    #[test]
    fn attribute_values_are_unescaped() {
        let html =
            r#"<input name="a" value="x&#34;&#39;&#60;&#62;&#38;y&amp;&quot;&#x27;&nbsp;&">"#;
        let input = find_tags(html, "input").into_iter().next().expect("input");
        assert_eq!(input["value"], "x\"'<>&y&\"'&nbsp;&");
    }

    #[test]
    fn password_does_not_print() {
        assert_eq!(
            format!("{:?}", Password::new("wonderland")),
            "Password([redacted])"
        );
    }
}
