//! `bank-test-browser`: a scripted person with a browser, for the end-to-end tests.
//!
//! `bank login` runs it (through `BANK_BROWSER`) with the authorization URL as its last
//! argument. It does what a person does, over real HTTP and with a cookie jar: open the URL,
//! follow redirects one by one, fill in the sandbox's login form (every hidden input, e.g. the
//! CSRF token, plus `username`/`password` from `BANK_TEST_USERNAME`/`BANK_TEST_PASSWORD`),
//! wait on the MFA page by polling its `data-mfa-status-url` and then following its
//! `data-mfa-continue-url`, and finally deliver the redirect to the CLI's loopback callback.
//! It appends one line per step to `BANK_TEST_BROWSER_LOG`, which the tests read (and use to
//! fail when the browser was expected but never ran). `BANK_TEST_BROWSER_MODE` scripts
//! misbehaviour: `idle` (never sign in: the login times out), `tamper-state` (deliver the
//! callback with a different `state`).

use std::collections::HashMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};

fn main() -> ExitCode {
    let log = Log(std::env::var("BANK_TEST_BROWSER_LOG").ok());
    let Some(url) = std::env::args().next_back() else {
        log.line("error: no URL argument");
        return ExitCode::from(2);
    };
    log.line("started");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log.line(&format!("error: runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(browse(&log, &url)) {
        Ok(()) => {
            log.line("done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log.line(&format!("error: {e}"));
            eprintln!("bank-test-browser: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Log(Option<String>);

impl Log {
    fn line(&self, text: &str) {
        if let Some(path) = &self.0
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(f, "{text}");
        }
    }
}

type Error = Box<dyn std::error::Error>;

async fn browse(log: &Log, start: &str) -> Result<(), Error> {
    let mode = std::env::var("BANK_TEST_BROWSER_MODE").unwrap_or_default();
    let mut url = Url::parse(start)?;
    log.line(&format!("open {}", url.path()));
    if mode == "idle" {
        log.line("idle: not signing in");
        return Ok(());
    }
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let username = std::env::var("BANK_TEST_USERNAME").unwrap_or_else(|_| "alice".into());
    let password = std::env::var("BANK_TEST_PASSWORD").unwrap_or_else(|_| "wonderland".into());
    let mut pending_post: Option<Vec<(String, String)>> = None;

    for _ in 0..30 {
        if url.path() == "/callback" {
            if mode == "tamper-state" {
                url = tamper_state(&url);
                log.line("tampered with state");
            }
            let response = http.get(url.clone()).send().await?;
            log.line(&format!("callback {}", response.status().as_u16()));
            return Ok(());
        }
        let response = match pending_post.take() {
            Some(form) => {
                let r = http.post(url.clone()).form(&form).send().await?;
                log.line(&format!("POST {} -> {}", url.path(), r.status().as_u16()));
                r
            }
            None => {
                let r = http.get(url.clone()).send().await?;
                log.line(&format!("GET {} -> {}", url.path(), r.status().as_u16()));
                r
            }
        };
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or("redirect without Location")?;
            url = url.join(location)?;
            continue;
        }
        let page_url = url.clone();
        let html = response.text().await?;
        if let Some(main) = find_tags(&html, "main")
            .into_iter()
            .find(|a| a.contains_key("data-mfa-status-url"))
        {
            let status_url = page_url.join(&main["data-mfa-status-url"])?;
            let continue_url =
                page_url.join(main.get("data-mfa-continue-url").ok_or("no continue URL")?)?;
            log.line("mfa: waiting");
            let outcome = poll_mfa(&http, &status_url).await?;
            log.line(&format!("mfa: {outcome}"));
            url = continue_url;
            continue;
        }
        if let Some(form) = login_form(&html) {
            if status == StatusCode::UNAUTHORIZED {
                log.line("login: rejected");
                return Err("the login form rejected the credentials".into());
            }
            let mut fields = form.hidden;
            fields.push(("username".into(), username.clone()));
            fields.push(("password".into(), password.clone()));
            log.line("login: submitting form");
            url = page_url.join(&form.action)?;
            pending_post = Some(fields);
            continue;
        }
        return Err(format!(
            "stuck on {} ({status}): no form, no MFA page, no redirect",
            page_url.path()
        )
        .into());
    }
    Err("too many steps".into())
}

async fn poll_mfa(http: &reqwest::Client, status_url: &Url) -> Result<String, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: serde_json::Value = http.get(status_url.clone()).send().await?.json().await?;
        let status = body
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_owned();
        if status != "pending" {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err("MFA still pending after 60s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tamper_state(url: &Url) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}-tampered")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
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

/// Attributes of every `<name …>` start tag (a small, forgiving tag scanner).
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

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
